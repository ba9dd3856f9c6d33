"""The Representations page's data: stored or fitted maps, placed what-if codes and the linked selection."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from dsrsd.app import figures, state
from dsrsd.app.sidebar import MODALITY_LABELS
from dsrsd.inference import Predictions
from dsrsd.map_store import StoredMapMismatch, index_problem, load_maps, stored_sample
from dsrsd.projection import StreamMaps, fit_stream_maps, place_in_maps

SELECTION_KEY = "representations.selected"
# Layout epochs when placing what-if codes; umap-learn would run 66 for maps fitted with 200. New points
# start at their neighbours' weighted mean, so 20 epochs place 90% of them within 2% of the map's width
# of their 66-epoch position (AAA 2014J, noise on engagement), and keep a redraw under 0.3 s.
PLACEMENT_EPOCHS = 20
CLEAN = ((), (), 0)


@dataclass(frozen=True)
class MapView:
    """Everything the page draws for one cohort and shared stream; shared by sessions, never changed."""

    maps: StreamMaps
    modalities: list[str]
    sample: np.ndarray        # positions of the drawn learners in the cohort
    clean: Predictions        # clean predictions with codes of the drawn learners
    present: np.ndarray       # drawn learners x M, True where the learner truly has data
    points: pd.DataFrame      # map points with the learners' table columns; modality as its label
    note: str                 # where the maps come from and how the learners were sampled


def _clean(context, cohort: str) -> Predictions:
    return state.cached_predictions(context.selection.checkpoint, context.selection.device, context.data_dir, cohort,
                                    CLEAN, True)


@st.cache_resource(max_entries=16, show_spinner="Loading the UMAP maps (fitting them if none is stored)...")
def _cached_view(checkpoint: str, device: str, data_dir: str, cohort: str, shared_stream: str) -> MapView:
    cohorts = state.cached_cohorts(checkpoint, device, data_dir)
    rows = state.course_rows(cohorts, cohort)
    clean_all = state.cached_predictions(checkpoint, device, data_dir, cohort, CLEAN, True)
    modalities = list(cohorts.encoded.modalities)
    streams = (shared_stream, "private")

    sample = stored_sample(checkpoint, cohort)
    if sample is None or len(sample) > len(rows) or (len(sample) and sample.max() >= len(rows)):
        sample = state.sample_rows(len(rows))
    clean = clean_all.subset(sample)
    keys = cohorts.encoded.keys.iloc[rows[sample]]
    try:
        maps = load_maps(checkpoint, cohort, streams, clean, keys)
        source = f"Maps stored with the checkpoint in {Path(checkpoint).name}/maps."
    except StoredMapMismatch as error:
        maps, source = None, f"The stored map was not used ({error}), so the maps were fitted now."
    else:
        if maps is None:
            reason = index_problem(checkpoint) or "none is stored for this cohort"
            source = (f"These maps were fitted now, because {reason}; "
                      "`python -m dsrsd.project` stores them with the checkpoint.")
    if maps is None:
        sample = state.sample_rows(len(rows))
        clean = clean_all.subset(sample)
        maps = fit_stream_maps(clean, modalities, streams)
    if len(sample) < len(rows):
        source += f" Showing a random sample of {len(sample)} of {len(rows)} learners to keep the maps responsive."

    table = state.student_table(cohorts, rows, clean_all).iloc[sample].reset_index(drop=True)
    points = maps.points.merge(table.assign(learner=np.arange(len(table))), on="learner")
    points["modality"] = points["modality"].map(lambda m: MODALITY_LABELS.get(m, m))
    points["hover"] = figures.hover_text(points)
    present = cohorts.encoded.present[rows[sample]]
    return MapView(maps, modalities, sample, clean, present, points, source)


def map_view(context, cohort: str, shared_stream: str) -> MapView:
    """Return the maps of `cohort`: stored beside the checkpoint when they match the data, otherwise fitted now.

    Raises:
        ValueError: the codes cannot be mapped (too few, not finite, or all identical).
    """
    st.session_state["representations.cohort"] = cohort
    return _cached_view(context.selection.checkpoint, context.selection.device, context.data_dir, cohort, shared_stream)


@st.cache_data(max_entries=32, show_spinner="Placing the what-if codes in the maps...")
def _cached_placement(checkpoint: str, device: str, data_dir: str, cohort: str, shared_stream: str,
                      key: tuple) -> pd.DataFrame:
    view = _cached_view(checkpoint, device, data_dir, cohort, shared_stream)
    perturbed = state.cached_predictions(checkpoint, device, data_dir, cohort, key, True).subset(view.sample)
    placed = place_in_maps(view.maps, perturbed, reference=view.clean, epochs=PLACEMENT_EPOCHS)
    placed["modality"] = placed["modality"].map(lambda m: MODALITY_LABELS.get(m, m))
    return placed


def placed_codes(context, cohort: str, shared_stream: str) -> pd.DataFrame:
    """Positions of the codes that the what-if settings change: learner, modality (label), stream, x, y."""
    return _cached_placement(context.selection.checkpoint, context.selection.device, context.data_dir, cohort,
                             shared_stream, context.perturbation_key)


def _learners(points: list[dict]) -> set[int]:
    chosen = set()
    for point in points:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if isinstance(data, (int, float)):
            chosen.add(int(data))
    return chosen


def remember_selection(chart_key: str) -> None:
    """Keep the learners selected in one map, so both maps highlight them on the next run."""
    event = st.session_state.get(chart_key)
    points = list(getattr(getattr(event, "selection", None), "points", None) or [])
    chosen = _learners(points)
    if chosen:   # an emptied selection (a redrawn chart) keeps the last one; the button clears it
        st.session_state[SELECTION_KEY] = {"cohort": st.session_state.get("representations.cohort"),
                                           "learners": sorted(chosen)}


def selection_callback(chart_key: str):
    return partial(remember_selection, chart_key)


def clear_selection() -> None:
    st.session_state.pop(SELECTION_KEY, None)


def selected_learners(view: MapView) -> frozenset:
    """Return the learners selected in either map, if the selection was made on this cohort."""
    saved = st.session_state.get(SELECTION_KEY)
    if not saved or saved.get("cohort") != st.session_state.get("representations.cohort"):
        return frozenset()
    return frozenset(learner for learner in saved["learners"] if learner < len(view.sample))
