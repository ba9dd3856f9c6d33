"""Streamlit helpers shared by `app.py` and the pages: cached loaders, the sidebar, figures."""
