"""Covariance: decorrelation of the shared space and orthogonality of shared and private streams."""

import streamlit as st

from dsrsd.app import figures
from dsrsd.app.context import page_context
from dsrsd.app.sidebar import MODALITY_LABELS
from dsrsd.diagnostics import cka_matrix, correlation_from_covariance, stream_health, stream_statistics
from dsrsd.projection import MIN_POINTS

st.title("Covariance")
st.caption("The decorrelation loss drives the off-diagonal of the shared covariance to zero; the orthogonality "
           "loss drives the cross-covariance between a modality's shared and private codes to zero.")

context = page_context()
if len(context.rows) < MIN_POINTS:
    st.info(f"{context.course} has {len(context.rows)} learner(s); covariance estimates need at least {MIN_POINTS}. "
            "Pick another course.")
    st.stop()
predictions = context.predictions(keep_codes=True)
modalities = context.cohorts.encoded.modalities
if not predictions.available.any():
    st.info("No modality is available under the current what-if settings, so there are no codes to compare. "
            "Turn a knockout off in the sidebar.")
    st.stop()
try:
    statistics = stream_statistics(predictions, modalities)
except ValueError as error:
    st.info(f"{context.course} has too few learners for a covariance: {error}.")
    st.stop()

notes = []
for index, modality in enumerate(modalities):
    truly = int((~context.cohorts.encoded.present[context.rows, index]).sum())
    label = MODALITY_LABELS.get(modality, modality)
    if modality in context.selection.perturbation.knockout:
        notes.append(f"{label} is knocked out (what-if), so none of its codes enter")
    elif truly:
        notes.append(f"{truly} learner(s) truly have no {label.lower()} record, so their {label.lower()} codes do not enter")
if notes:
    st.caption("; ".join(notes) + ".")
columns = st.columns(3)
columns[0].metric("Off-diagonal energy (decorrelation loss)", f"{statistics.off_diagonal_energy:.4f}")
columns[1].metric("Mean |correlation| off the diagonal", f"{statistics.mean_abs_correlation:.3f}")
columns[2].metric("Codes used", statistics.rows)

kind = st.radio("Shared space", ["Correlation", "Covariance"], horizontal=True, key="covariance.kind")
matrix = statistics.shared_correlation if kind == "Correlation" else statistics.shared_covariance
left, right = st.columns(2)
left.plotly_chart(figures.heatmap(matrix, f"Shared space {kind.lower()} (aligned codes)", "dimension", "dimension"),
                  key="covariance.shared")

available = list(statistics.cross_covariance)
if not available:
    right.info("No modality has two or more available learners under the current what-if settings.")
    st.stop()
modality = right.selectbox("Modality", available, format_func=MODALITY_LABELS.get, key="covariance.modality")
view = right.radio("Per-modality view", ["Shared vs private", "Private space"], horizontal=True, key="covariance.view")
label = MODALITY_LABELS[modality].lower()
if view == "Shared vs private":
    right.plotly_chart(figures.heatmap(statistics.cross_covariance[modality], f"Shared vs private cross-covariance: {label}",
                                       "private dimension", "shared dimension"), key="covariance.cross")
else:
    private = statistics.private_covariance[modality]
    if kind == "Correlation":
        private = correlation_from_covariance(private)
    right.plotly_chart(figures.heatmap(private, f"Private space {kind.lower()}: {label}", "dimension", "dimension"),
                       key="covariance.private")

st.subheader("Orthogonality per modality")
st.dataframe(
    [{"Modality": MODALITY_LABELS.get(m, m), "‖SᵀP/N‖² (orthogonality loss)": round(statistics.orthogonality[m], 4),
      "Mean |cos(shared, private)|": round(statistics.mean_abs_cosine[m], 4)} for m in available],
    hide_index=True,
)

st.subheader("Health of the streams")
ranks, health_warnings = stream_health(predictions, modalities)
for text in health_warnings:
    st.warning(text)
st.dataframe(
    [{"Modality": MODALITY_LABELS.get(m, m), "Effective rank, shared": round(r.get("shared", float("nan")), 2),
      "Effective rank, private": round(r.get("private", float("nan")), 2)} for m, r in ranks.items() if r],
    hide_index=True,
)
st.caption("Effective rank is the exponential of the entropy of the codes' singular values: 1 means the stream "
           "has collapsed onto one direction, the code width means every direction is used.")
labels, cka = cka_matrix(predictions, modalities)
names = [f"{MODALITY_LABELS.get(label.rsplit(' ', 1)[0], label)} {label.rsplit(' ', 1)[1]}" for label in labels]
figure = figures.heatmap(cka, "Linear CKA between streams (1 = same information up to rotation and scale)", "", "",
                         symmetric_scale=False)
figure.update_traces(x=names, y=names, zmin=0, zmax=1, colorscale="Viridis")
st.plotly_chart(figure, key="covariance.cka")
