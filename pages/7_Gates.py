"""Gates: how the gated fusion weighs the modalities, for one learner and over a cohort, and under a what-if."""

import numpy as np
import pandas as pd
import streamlit as st

from dsrsd.app import figures
from dsrsd.app.context import page_context
from dsrsd.app.sidebar import MODALITY_LABELS
from dsrsd.diagnostics import gate_summary
from dsrsd.metrics import NEXT_STEP, at_risk_probability
from dsrsd.projection import MIN_POINTS

st.title("Gates")
st.caption("The fusion gives each available modality a weight; the weights of a learner sum to 1 over the "
           "modalities it has and that are not knocked out. A modality that is truly missing or knocked out "
           "gets weight 0.")

context = page_context()
if context.checkpoint.task == NEXT_STEP:
    st.caption("This is a next-step checkpoint: a learner appears once per step (assessment or answer), so every "
               "count and picker below is over steps, not distinct learners.")
clean = context.predictions(perturbed=False)
perturbation = context.selection.perturbation
what_if = None if perturbation.is_identity else context.predictions()
modalities = context.cohorts.encoded.modalities
names = figures.labelled(modalities)
if len(context.rows) < MIN_POINTS:
    st.info(f"{context.course} has {len(context.rows)} learner(s); a gate distribution needs at least {MIN_POINTS}. "
            "Pick another course.")
    st.stop()

summary = pd.DataFrame(gate_summary(clean, what_if if what_if is not None else clean, modalities))
summary["modality"] = summary["modality"].map(lambda m: MODALITY_LABELS.get(m, m))
if len(perturbation.knockout) == len(modalities):
    st.info("Every modality is knocked out, so every gate is 0 under the what-if and the fusion passes nothing to "
            "the head. The plots show the clean gates beside them.")
else:
    for modality in perturbation.knockout:
        st.caption(f"{MODALITY_LABELS.get(modality, modality)} is knocked out (what-if), so its gate is 0 for every "
                   "learner under the what-if; the other modalities share its weight.")
st.plotly_chart(figures.gate_distribution(clean.gates, None if what_if is None else what_if.gates, clean.available,
                                          names), key="gates.distribution")
columns = ["modality", "learners_with_data", "truly_missing", "mean_gate"]
if what_if is not None:
    columns += ["mean_gate_what_if", "mean_shift"]
st.dataframe(summary[columns].round(3), hide_index=True, column_config={
    "modality": "Modality", "learners_with_data": "Learners with data",
    "truly_missing": st.column_config.NumberColumn("Truly missing", help="Learners with no record in the modality "
                                                   "up to the cutoff: real absence, not a what-if"),
    "mean_gate": "Mean gate", "mean_gate_what_if": f"Mean gate under {perturbation.describe()}",
    "mean_shift": "Mean shift"})
st.caption("Means are over the learners that truly have the modality.")

st.subheader("One learner")
risk = at_risk_probability(clean.probabilities)
order = np.argsort(-risk)
keys = context.cohorts.encoded.keys.iloc[context.rows]
if "user_id" in keys.columns:
    # ASSISTments rows are answers: name each by its student and answer number.
    row_names = [f"{user}, answer {step}" for user, step in zip(keys["user_id"], keys["step"])]
elif "id_assessment" in keys.columns:
    row_names = [f"{student}, assessment {assessment}" for student, assessment in zip(keys["id_student"], keys["id_assessment"])]
else:
    row_names = [str(student) for student in keys["id_student"]]
labels = {int(i): f"{row_names[i]}  (at-risk {risk[i]:.2f})" for i in order}
position = st.selectbox("Student", list(labels), format_func=labels.get, key="gates.student")
series = {"clean": clean.gates[position]}
if what_if is not None:
    series["what-if"] = what_if.gates[position]
st.plotly_chart(figures.grouped_bar(series, names, "Fusion gate weights of this learner"), key="gates.learner")
for index, modality in enumerate(modalities):
    label = MODALITY_LABELS.get(modality, modality)
    if not clean.available[position, index]:
        st.caption(f"{label}: truly missing for this learner (no record up to the cutoff), so its gate is 0.")
    elif modality in perturbation.knockout:
        st.caption(f"{label}: knocked out (what-if), so its gate is 0 under the what-if.")
