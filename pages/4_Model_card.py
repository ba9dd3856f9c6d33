"""Model card: metrics, configuration, data form, seed and library versions of a checkpoint.

The page also adds uploaded checkpoints (`dsrsd.upload`). Its upload section runs before the sidebar
is drawn, so a new checkpoint is listed there at once.
"""

import pandas as pd
import plotly.express as px
import streamlit as st

from dsrsd.app.context import model_ui, synthetic_banner
from dsrsd.app.sidebar import MODALITY_LABELS
from dsrsd.checkpoint import CONFIG_FILE, WEIGHTS_FILE, CheckpointError, list_checkpoints
from dsrsd.settings import CHECKPOINTS_DIR, uploaded_checkpoints_dir
from dsrsd.upload import MAX_UPLOAD_BYTES, UploadError, install_checkpoint

st.title("Model card")


def upload_ui() -> None:
    folder = uploaded_checkpoints_dir()
    with st.expander("Add a checkpoint"):
        st.caption(
            f"Upload a zip of a checkpoint folder: {CONFIG_FILE} and {WEIGHTS_FILE}, nothing else, at most "
            f"{MAX_UPLOAD_BYTES // 2**20} MB. The checkpoint is loaded as a test before it is listed in the sidebar, "
            f"and it is kept in `{folder}`. Pickle files (.pt, .pth, .pkl) are rejected."
        )
        upload = st.file_uploader("Checkpoint archive (.zip)", type="zip", key="card.upload")
        if upload is None or not st.button("Add checkpoint", key="card.add"):
            return
        shipped = {path.name for path in list_checkpoints(CHECKPOINTS_DIR)}
        try:
            path = install_checkpoint(upload.getvalue(), upload.name, folder, taken=shipped)
        except (UploadError, CheckpointError) as error:
            st.error(f"The checkpoint was not added: {error}")
            return
        st.success(f"Added {path.name}. Pick it in the sidebar's Checkpoint list.")


upload_ui()
picked = model_ui(what_if=False)
if picked is None:
    st.stop()
_, checkpoint = picked
synthetic_banner(checkpoint)
config = checkpoint.config
metrics = config.get("metrics", {})
TASK_DESCRIPTIONS = {
    "final_outcome": "final_outcome (Distinction, Pass, Fail, Withdrawn; at risk = Fail + Withdrawn)",
    "next_step": "next_step (one row per step; Pass: the assessment passed or the answer correct, Fail: not; "
                 "at risk = Fail)",
}
data = config.get("data", {})

st.subheader(checkpoint.path.name)
st.markdown(
    f"- **Task**: {TASK_DESCRIPTIONS.get(checkpoint.task, checkpoint.task)}\n"
    f"- **Dataset**: {data.get('dataset')}, cutoff **{data.get('cutoff')}**, engagement form "
    f"**{data.get('engagement_form')}**\n"
    f"- **Protocol**: {data.get('protocol')}\n"
    f"- **Rows**: {', '.join(f'{name} {count:,}' for name, count in data.get('rows', {}).items())}\n"
    f"- **Seed**: {config.get('train', {}).get('seed')}; best epoch {metrics.get('best_epoch')}, "
    f"trained in {metrics.get('train_seconds')} s"
)

rows = []
for split in ("validation", "test"):
    if split in metrics:
        rows.append({"evaluation": split, **metrics[split]})
for modality, values in metrics.get("test_knockout", {}).items():
    rows.append({"evaluation": f"test, {MODALITY_LABELS.get(modality, modality).lower()} knocked out", **values})
st.subheader("Metrics")
st.dataframe(pd.DataFrame(rows), hide_index=True)

history = config.get("history", [])
if history:
    st.subheader("Training history")
    frame = pd.DataFrame([{"epoch": h["epoch"], **{f"loss: {k}": v for k, v in h["losses"].items()},
                           "validation at-risk AUC": h["validation"]["at_risk_auc"]} for h in history])
    left, right = st.columns(2)
    left.plotly_chart(px.line(frame, x="epoch", y="validation at-risk AUC", markers=True,
                              title="Validation at-risk AUC").update_layout(height=420), key="card.auc")
    losses = frame.melt(id_vars="epoch", value_vars=[c for c in frame if c.startswith("loss: ")],
                        var_name="term", value_name="value")
    right.plotly_chart(px.line(losses, x="epoch", y="value", color="term", log_y=True,
                               title="Training loss terms (log scale)").update_layout(
                                   height=420, legend=dict(orientation="h", yanchor="top", y=-0.2)), key="card.losses")
    st.dataframe(frame, hide_index=True)

left, right = st.columns(2)
left.subheader("Model and loss config")
left.json({"model": config.get("model"), "loss": config.get("loss"), "train": config.get("train")})
right.subheader("Library versions")
right.json(config.get("versions", {}))
