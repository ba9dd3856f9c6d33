"""Model card: metrics, configuration, data form, seed and library versions of a checkpoint."""

import pandas as pd
import streamlit as st

from dsrsd.app.context import model_ui
from dsrsd.app.sidebar import MODALITY_LABELS

st.title("Model card")

picked = model_ui()
if picked is None:
    st.stop()
_, checkpoint = picked
config = checkpoint.config
metrics = config.get("metrics", {})
data = config.get("data", {})

st.subheader(checkpoint.path.name)
st.markdown(
    f"- **Task**: {config.get('task')} (Distinction, Pass, Fail, Withdrawn; at risk = Fail + Withdrawn)\n"
    f"- **Dataset**: {data.get('dataset')}, cutoff **{data.get('cutoff')}**, engagement form "
    f"**{data.get('engagement_form')}**\n"
    f"- **Protocol**: {data.get('protocol')}\n"
    f"- **Rows**: {data.get('rows')}\n"
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
    st.line_chart(frame.set_index("epoch")[["validation at-risk AUC"]], height=220)
    st.dataframe(frame, hide_index=True)

left, right = st.columns(2)
left.subheader("Model and loss config")
left.json({"model": config.get("model"), "loss": config.get("loss"), "train": config.get("train")})
right.subheader("Library versions")
right.json(config.get("versions", {}))
