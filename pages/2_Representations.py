"""Representations: linked UMAP maps of the shared and private streams of a cohort's learners."""

import streamlit as st

from dsrsd import datasets
from dsrsd.app import figures, maps as app_maps
from dsrsd.app.context import page_context
from dsrsd.app.sidebar import MODALITY_LABELS, persistent_key, remember
from dsrsd.app.state import course_rows, presentation_cohort
from dsrsd.diagnostics import modality_gap
from dsrsd.metrics import NEXT_STEP
from dsrsd.projection import MIN_POINTS

st.title("Representations")
st.caption("Each point is one learner's code in one modality. Shared codes of one learner should sit close "
           "together across modalities; private codes keep what only that modality knows. Select learners with "
           "the lasso or a click in either map to highlight them in both.")

COLOURS = {"Recorded outcome": "recorded_outcome", "Modality": "modality", "Module": "code_module",
           "Predicted risk": "at_risk"}
SHARED_STREAMS = {
    "aligned": "Shared stream, aligned space (after the alignment head)",
    "shared": "Shared stream, each modality's shared code (before the alignment head)",
}


def choices_ui(context) -> tuple[str, str, str]:
    left, right = st.columns(2)
    presentation = context.course.split(" ")[1]
    scope_names = {"course": context.course, "presentation": f"All modules of {presentation}"}
    scope = left.radio("Learners", list(scope_names), format_func=scope_names.get, horizontal=True,
                       key=persistent_key("representations.scope", "course", list(scope_names)),
                       on_change=remember, args=("representations.scope",))
    colour = right.radio("Colour by", list(COLOURS), horizontal=True,
                         key=persistent_key("representations.colour", "Recorded outcome", list(COLOURS)),
                         on_change=remember, args=("representations.colour",))
    shared_stream = st.radio("Shared map", list(SHARED_STREAMS), format_func=SHARED_STREAMS.get, horizontal=True,
                             key=persistent_key("representations.shared", "aligned", list(SHARED_STREAMS)),
                             on_change=remember, args=("representations.shared",),
                             help="The contrastive and alignment losses act on the aligned space, so that is where "
                             "one learner's modalities should meet.")
    cohort = context.course if scope == "course" else presentation_cohort(context.course)
    return cohort, COLOURS[colour], shared_stream


def gap_ui(view: app_maps.MapView, shared_stream: str) -> None:
    try:
        gap = modality_gap(view.clean, view.modalities, shared_stream)
    except ValueError as error:
        st.caption(f"No modality gap: {error}.")
        return
    columns = st.columns(3)
    columns[0].metric("Mean modality gap, same learner", f"{gap.same_learner:.3f}",
                      help="Mean distance between two modalities' codes of the same learner, in the code space "
                      "of the shared map (not in the 2-D map).")
    columns[1].metric("Same, between different learners", f"{gap.different_learners:.3f}",
                      help="The same distance for codes of two different learners, paired at random: the baseline.")
    columns[2].metric("Ratio", f"{gap.ratio:.2f}",
                      help="Near 0: a learner's modalities meet in the shared space. Near 1: they are no closer "
                      "than any two learners' codes.")
    centroids = ", ".join(f"{pair} {distance:.2f}" for pair, distance in gap.centroid_distance.items())
    st.caption(f"Modality gap of the clean codes, whatever the what-if settings. Distance between the modalities' "
               f"mean codes: {centroids}. Over {gap.learners} learners with at least "
               "two modalities.")


def missing_ui(view: app_maps.MapView, knockout: tuple) -> None:
    notes = []
    for index, modality in enumerate(view.modalities):
        label = MODALITY_LABELS.get(modality, modality)
        truly = int((~view.present[:, index]).sum())
        if truly:
            notes.append(f"{truly} learner(s) truly have no {label.lower()} record, so they have no point for it "
                         "(marked \"no record in\" when hovered)")
        if modality in knockout:
            notes.append(f"{label} is knocked out (what-if): its perturbed codes are not drawn, and knocking it out "
                         "moves no other modality's codes, because every modality has its own encoder")
    for note in notes:
        st.caption(note + ".")


context = page_context()
if datasets.dataset_of(context.checkpoint.config) == "assistments":
    st.info("The maps place one point per learner and modality, coloured by course and outcome. An ASSISTments "
            "checkpoint has one row per answer and no courses, so this page does not apply to it; the Students, "
            "Covariance and Gates pages do.")
    st.stop()
if context.checkpoint.task == NEXT_STEP:
    st.caption("This is a next-step checkpoint: each learner appears once per assessment, so a \"learner\" below "
               "is one learner before one assessment's due day, and the recorded outcome is that assessment's "
               "result (Pass: passed; Fail: not submitted or below 40).")
cohort, colour, shared_stream = choices_ui(context)
rows = course_rows(context.cohorts, cohort)
if len(rows) < MIN_POINTS:
    st.info(f"{cohort} has {len(rows)} learner(s); a map needs at least {MIN_POINTS}. Pick another course.")
    st.stop()
selection = context.selection
if len(selection.perturbation.knockout) == len(context.cohorts.encoded.modalities):
    st.info("Every modality is knocked out, so no learner has a code to draw. Turn a knockout off in the sidebar.")
    st.stop()
try:
    view = app_maps.map_view(context, cohort, shared_stream)
except ValueError as error:
    st.warning(f"No map can be drawn for these learners: {error}")
    st.stop()
st.caption(view.note)

moved = None
if not selection.perturbation.is_identity:
    try:
        moved = app_maps.placed_codes(context, cohort, shared_stream)
    except ValueError as error:
        st.warning(f"The perturbed codes cannot be placed: {error}")
    if moved is not None and len(moved):
        st.caption(f"Arrows run from a code's clean position to its position under {selection.perturbation.describe()}, "
                   "placed in the maps fitted on clean codes. Only codes the what-if changes move.")
        largest = int(moved.groupby("stream").size().max())
        if largest > figures.MAX_ARROWS:
            st.caption(f"{largest} codes move in a map; arrows are drawn for {figures.MAX_ARROWS} of them. Select "
                       "learners to see the arrows of exactly those.")
    elif moved is not None:
        st.caption("The what-if settings change no drawn code: knockout acts on the fusion, not on the other "
                   "modalities' codes. See the Gates page for how the fusion shifts.")
missing_ui(view, selection.perturbation.knockout)

selected = app_maps.selected_learners(view)
if selected:
    left, right = st.columns([4, 1])
    left.caption(f"{len(selected)} learner(s) selected and highlighted in both maps; lines join each one's codes "
                 f"in the shared map (up to {figures.MAX_LINKED}).")
    right.button("Clear selection", on_click=app_maps.clear_selection, key="representations.clear")

labels = [MODALITY_LABELS.get(m, m) for m in view.modalities]
symbols = ", ".join(f"{figures.MODALITY_SYMBOLS[i]} {label.lower()}" for i, label in enumerate(labels))
st.caption(f"Symbols: {symbols}.")
left, right = st.columns(2)
titles = {shared_stream: SHARED_STREAMS[shared_stream].split(", ")[1].capitalize(), "private": "Private stream"}
for column, stream in ((left, shared_stream), (right, "private")):
    stream_moved = None if moved is None else moved[moved["stream"] == stream]
    figure = figures.stream_map(view.points[view.points["stream"] == stream], colour, titles[stream], labels,
                                selected, stream_moved, link_selected=stream == shared_stream)
    key = f"representations.map.{stream}"
    column.plotly_chart(figure, key=key, on_select=app_maps.selection_callback(key),
                        selection_mode=("points", "box", "lasso"))
gap_ui(view, shared_stream)
