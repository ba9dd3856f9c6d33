"""Representations: UMAP maps of the shared and private streams of a course's learners."""

import numpy as np
import streamlit as st

from dsrsd.app import figures
from dsrsd.app.context import page_context
from dsrsd.app.state import MAX_MAP_LEARNERS, cached_predictions, course_rows, presentation_cohort, student_table
from dsrsd.app.sidebar import MODALITY_LABELS, persistent_key, remember
from dsrsd.projection import fit_stream_maps, place_in_maps

st.title("Representations")
st.caption("Each point is one learner's code in one modality. Shared codes of one learner should sit close "
           "together across modalities; private codes keep what only that modality knows.")

COLOURS = {"Recorded outcome": "recorded_outcome", "Module": "code_module", "Predicted risk": "at_risk"}
SHARED_STREAMS = {
    "aligned": "Shared stream, aligned space (after the alignment head)",
    "shared": "Shared stream, each modality's shared code (before the alignment head)",
}


@st.cache_resource(max_entries=8, show_spinner="Fitting the UMAP maps...")
def cached_maps(checkpoint: str, device: str, data_dir: str, course: str, shared_stream: str):
    """Fit the maps on the clean codes of the course; shared read-only by every session."""
    predictions = cached_predictions(checkpoint, device, data_dir, course, ((), (), 0), True)
    sample = sample_rows(len(predictions.probabilities))
    streams = (shared_stream, "private")
    return fit_stream_maps(subset(predictions, sample), modalities_of(predictions), streams), sample


def modalities_of(predictions) -> list[str]:
    return list(predictions.shared)


def sample_rows(count: int) -> np.ndarray:
    if count <= MAX_MAP_LEARNERS:
        return np.arange(count)
    return np.sort(np.random.default_rng(0).choice(count, MAX_MAP_LEARNERS, replace=False))


def subset(predictions, rows: np.ndarray):
    from dsrsd.inference import Predictions

    return Predictions(
        predictions.probabilities[rows], predictions.gates[rows], predictions.available[rows],
        {m: v[rows] for m, v in predictions.shared.items()}, {m: v[rows] for m, v in predictions.private.items()},
        {m: v[rows] for m, v in predictions.aligned.items()},
    )


context = page_context()
left, right = st.columns(2)
presentation = context.course.split(" ")[1]
scope_names = {"course": context.course, "presentation": f"All modules of {presentation}"}
scope = left.radio("Learners", list(scope_names), format_func=scope_names.get, horizontal=True,
                   key=persistent_key("representations.scope", "course", list(scope_names)),
                   on_change=remember, args=("representations.scope",))
cohort = context.course if scope == "course" else presentation_cohort(context.course)
colour = COLOURS[right.radio("Colour by", list(COLOURS), horizontal=True,
                             key=persistent_key("representations.colour", "Recorded outcome", list(COLOURS)),
                             on_change=remember, args=("representations.colour",))]
shared_stream = st.radio("Shared map", list(SHARED_STREAMS), format_func=SHARED_STREAMS.get, horizontal=True,
                         key=persistent_key("representations.shared", "aligned", list(SHARED_STREAMS)),
                         on_change=remember, args=("representations.shared",),
                         help="The contrastive and alignment losses act on the aligned space, so that is where one "
                         "learner's modalities should meet.")
rows = course_rows(context.cohorts, cohort)
if len(rows) < 5:
    st.info(f"{cohort} has {len(rows)} learner(s); a map needs at least 5. Pick another course.")
    st.stop()

selection = context.selection
if len(selection.perturbation.knockout) == len(context.cohorts.encoded.modalities):
    st.info("Every modality is knocked out, so no learner has a code to draw. Turn a knockout off in the sidebar.")
    st.stop()
try:
    maps, sample = cached_maps(selection.checkpoint, selection.device, context.data_dir, cohort, shared_stream)
except ValueError as error:
    st.warning(f"No map can be drawn for these learners: {error}")
    st.stop()
if len(rows) > len(sample):
    st.caption(f"Showing a random sample of {len(sample)} of {len(rows)} learners to keep the maps responsive.")

clean = cached_predictions(selection.checkpoint, selection.device, context.data_dir, cohort, ((), (), 0), True)
table = student_table(context.cohorts, rows, clean).iloc[sample].reset_index(drop=True)
points = maps.points.merge(table.assign(learner=np.arange(len(table))), on="learner")
points["modality"] = points["modality"].map(lambda m: MODALITY_LABELS.get(m, m))

moved = None
perturbation = selection.perturbation
if not perturbation.is_identity:
    perturbed_all = cached_predictions(selection.checkpoint, selection.device, context.data_dir, cohort,
                                       context.perturbation_key, True)
    perturbed = subset(perturbed_all, sample)
    try:
        moved = place_in_maps(maps, perturbed, list(clean.shared)).merge(
            table.assign(learner=np.arange(len(table))), on="learner")
    except ValueError as error:
        st.warning(f"The perturbed codes cannot be placed: {error}")
    for modality in perturbation.knockout:
        st.caption(f"{MODALITY_LABELS.get(modality, modality)} is knocked out: its perturbed codes are not drawn.")
    if moved is not None and len(moved):
        st.caption("Black crosses: the learners' codes under the what-if settings, placed in the maps fitted on "
                   "clean codes.")

truly_missing = {m: int((~clean.available[sample, i]).sum()) for i, m in enumerate(clean.shared)}
missing_text = ", ".join(f"{count} in {MODALITY_LABELS.get(m, m).lower()}" for m, count in truly_missing.items() if count)
if missing_text:
    st.caption(f"Learners with no record in a modality have no point for it ({missing_text}).")

left, right = st.columns(2)
titles = {shared_stream: SHARED_STREAMS[shared_stream].split(", ")[1].capitalize(), "private": "Private stream"}
for column, stream in ((left, shared_stream), (right, "private")):
    stream_points = points[points["stream"] == stream]
    stream_moved = None if moved is None else moved[moved["stream"] == stream]
    column.plotly_chart(figures.stream_map(stream_points, stream_moved, colour, titles[stream]),
                        key=f"representations.map.{stream}")
