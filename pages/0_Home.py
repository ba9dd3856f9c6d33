"""Home: what the app shows, and the test metrics of the chosen checkpoint."""

import streamlit as st

from dsrsd import datasets
from dsrsd.app import state
from dsrsd.app.context import model_ui, synthetic_banner
from dsrsd.metrics import NEXT_STEP

st.title("DSRSD Lab")
st.markdown(
    "DSRSD-Net predicts each learner's final outcome (Distinction, Pass, Fail, Withdrawn), or with a next-step "
    "checkpoint whether the learner passes each next assessment, from three modalities: the **profile**, the **assessment history** and **platform engagement**. It splits each "
    "modality into a *shared* stream (what the modalities have in common) and a *private* stream (what only "
    "that modality knows), and fuses them with gates. An ASSISTments checkpoint, trained here on first use when "
    "the data is present, predicts whether each answer of a student is correct from the earlier answers.\n\n"
    "- **Students**: who is at risk in a course, and which modality drives each prediction; for a next-step "
    "checkpoint, each student's timeline over the assessments.\n"
    "- **Representations**: UMAP maps of the shared and private streams.\n"
    "- **Covariance**: how decorrelated the shared space is, and how orthogonal shared and private streams are.\n"
    "- **Model card**: metrics, configuration and versions of the checkpoint.\n"
    "- **Does it explain the truth?**: on the synthetic course, whose factors were planted, checks that the "
    "attributions, codes and knockouts find them.\n"
    "- **Robustness**: DSRSD-Net against the baselines with modalities missing or noisy.\n\n"
    "On the Students, Representations and Covariance pages, the sidebar's *What if...* controls knock a "
    "modality out or make it noisy, and the page updates. The settings stay as you switch pages."
)

picked = model_ui(what_if=False)
message = state.checkpoint_data_message(picked[1]) if picked is not None else None
if message:
    st.info(message)
elif picked is not None:
    selection, checkpoint = picked
    synthetic_banner(checkpoint)
    metrics = checkpoint.config.get("metrics", {}).get("test", {})
    columns = st.columns(3)
    if datasets.dataset_of(checkpoint.config) == "assistments":
        columns[0].metric("Test AUC, correct next answer", f"{metrics.get('auc', float('nan')):.3f}")
        columns[2].metric("Cutoff", "the answers before each one")
        st.caption(f"ASSISTments 2009, {checkpoint.config['data'].get('protocol')}. The modalities are the answer "
                   "history, answer behaviour and class context.")
    elif checkpoint.task == NEXT_STEP:
        columns[0].metric("Test AUC, pass next assessment", f"{metrics.get('auc', float('nan')):.3f}")
        columns[2].metric("Cutoff", "the day before each due day")
    else:
        columns[0].metric("Test at-risk AUC", f"{metrics.get('at_risk_auc', float('nan')):.3f}")
        columns[2].metric("Cutoff", str(checkpoint.cutoff))
    columns[1].metric("Test accuracy", f"{metrics.get('accuracy', float('nan')):.3f}")
    st.caption(f"Data: `{state.checkpoint_data_dir(checkpoint)}`. Open a page in the sidebar to start.")
