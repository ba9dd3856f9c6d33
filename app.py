"""DSRSD Lab: inspect a DSRSD-Net trained on OULAD. Run with `streamlit run app.py`."""

import streamlit as st

from dsrsd.app.state import warm_numba_in_background

st.set_page_config(page_title="DSRSD Lab", layout="wide")
st.navigation([
    st.Page("pages/0_Home.py", title="Home", default=True),
    st.Page("pages/1_Students.py", title="Students"),
    st.Page("pages/2_Representations.py", title="Representations"),
    st.Page("pages/3_Covariance.py", title="Covariance"),
    st.Page("pages/7_Gates.py", title="Gates"),
    st.Page("pages/4_Model_card.py", title="Model card"),
    st.Page("pages/5_Truth.py", title="Does it explain the truth?"),
]).run()
# After the page is drawn, so that compiling UMAP's kernels does not slow the first page down.
warm_numba_in_background()
