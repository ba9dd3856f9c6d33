"""Page context: the sidebar's choices, the loaded model and the chosen course."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from dsrsd import datasets
from dsrsd.app import state
from dsrsd.app.sidebar import Selection, course_ui, sidebar_ui
from dsrsd.checkpoint import Checkpoint
from dsrsd.data import DataError


@dataclass(frozen=True)
class PageContext:
    selection: Selection
    checkpoint: Checkpoint
    cohorts: state.Cohorts
    course: str
    rows: np.ndarray          # positions of the course's registrations in cohorts.encoded
    data_dir: str

    @property
    def perturbation_key(self) -> tuple:
        return state.perturbation_key(self.selection.perturbation)

    def predictions(self, perturbed: bool = True, keep_codes: bool = False):
        key = self.perturbation_key if perturbed else state.perturbation_key(state.Perturbation())
        return state.cached_predictions(self.selection.checkpoint, self.selection.device, self.data_dir,
                                        self.course, key, keep_codes)


def _modalities(path: str, device: str) -> list[str]:
    return state.cached_checkpoint(path, device).modalities


def synthetic_banner(checkpoint: Checkpoint) -> None:
    """Say that the data is synthetic, and how to switch to OULAD, when the checkpoint was trained on it."""
    if datasets.dataset_of(checkpoint.config) == "synthetic":
        st.info(datasets.SYNTHETIC_BANNER, icon=":material/science:")


def model_ui(what_if: bool = True) -> tuple[Selection, Checkpoint] | None:
    """Draw the sidebar and load the chosen checkpoint; None (after a message) when that fails."""
    selection = sidebar_ui(_modalities, what_if)
    if selection is None:
        return None
    return selection, state.cached_checkpoint(selection.checkpoint, selection.device)


def page_context() -> PageContext:
    """Return the page's context, or draw a message saying what is missing and stop the page."""
    picked = model_ui()
    if picked is None:
        st.stop()
    selection, checkpoint = picked
    message = state.checkpoint_data_message(checkpoint)
    if message:
        st.info(message)
        st.stop()
    synthetic_banner(checkpoint)
    data_dir = state.checkpoint_data_dir(checkpoint)
    try:
        cohorts = state.cached_cohorts(selection.checkpoint, selection.device, data_dir)
    except DataError as error:
        st.error(f"The data in `{data_dir}` cannot be used with this checkpoint: {error}")
        st.stop()
    if datasets.dataset_of(checkpoint.config) == "assistments":
        course = course_ui(cohorts.courses, "Students (test fold)",
                           "The test fold's students, all of them or those of one teacher: the teacher of most of "
                           "a student's answers")
    else:
        course = course_ui(cohorts.courses)
    return PageContext(selection, checkpoint, cohorts, course, state.course_rows(cohorts, course), data_dir)
