"""Cached model, data and predictions for the Streamlit app.

The model and encoded arrays are `st.cache_resource` objects shared by every session, so they
must never change: arrays are made read-only, and knockout and noise act on copies of the inputs
(`dsrsd.perturb`). Derived results are `st.cache_data`, keyed on hashable values.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

from dsrsd import datasets
from dsrsd.checkpoint import Checkpoint, load_checkpoint
from dsrsd.data import OUTCOME_CLASSES, Encoded
from dsrsd.data.tables import find_table
from dsrsd.inference import Predictions, predict
from dsrsd.perturb import Perturbation
from dsrsd.settings import data_root

# One intra-op thread: the app's batches are small, and with two OpenMP threads on a 2-core machine
# that runs anything else, a knockout redraw took seconds instead of a fraction of one.
torch.set_num_threads(1)

MAX_MAP_LEARNERS = 1000   # keeps each UMAP below 4,096 points, where it stays on its exact path


def oulad_dir() -> Path:
    return data_root() / "oulad"


def checkpoint_data_dir(checkpoint: Checkpoint) -> str:
    """Return the folder of the tables a checkpoint reads; the synthetic course is generated on first use."""
    return str(datasets.data_dir_for(checkpoint.config, data_root()))


def checkpoint_data_message(checkpoint: Checkpoint) -> str | None:
    """Say what data a checkpoint lacks and how to get it, or return None when its data is in place."""
    return datasets.missing_data_message(checkpoint.config, data_root())


def oulad_missing_message() -> str | None:
    """Say what to download and where, or return None when the OULAD tables are in place."""
    folder = oulad_dir()
    missing = [name for name in ("studentInfo", "studentRegistration", "courses", "assessments", "studentAssessment")
               if find_table(folder, name) is None]
    if not missing:
        return None
    return (
        f"The OULAD tables are not in `{folder}` (missing: {', '.join(missing)}). Download the Open University "
        "Learning Analytics Dataset from https://analyse.kmi.open.ac.uk/open_dataset, unpack its CSV files "
        f"into `{folder}`, or set the `DSRSD_DATA_DIR` environment variable to a folder that holds an `oulad/` "
        "folder, then reload this page."
    )


@st.cache_resource(show_spinner="Loading the model...")
def cached_checkpoint(path: str, device: str) -> Checkpoint:
    checkpoint = load_checkpoint(path, device)
    for parameter in checkpoint.model.parameters():
        parameter.requires_grad_(False)
    return checkpoint


@dataclass(frozen=True)
class Cohorts:
    """Every registration encoded for one checkpoint, with its split and recorded outcome."""

    encoded: Encoded
    split: np.ndarray
    courses: list[str]    # "MODULE PRESENTATION", test presentations first


def _read_only(encoded: Encoded) -> Encoded:
    for array in list(encoded.inputs.values()) + list(encoded.masks.values()) + [encoded.present, encoded.labels]:
        array.flags.writeable = False
    return encoded


@st.cache_resource(show_spinner="Loading and encoding OULAD...")
def cached_cohorts(checkpoint_path: str, device: str, data_dir: str) -> Cohorts:
    checkpoint = cached_checkpoint(checkpoint_path, device)
    encoded, split = datasets.encoded_cohorts(checkpoint, data_dir)
    encoded = _read_only(encoded)
    labels = (encoded.keys["code_module"] + " " + encoded.keys["code_presentation"])
    test_courses = set(labels[split == "test"])
    test_first = sorted(labels.unique(), key=lambda name: (name not in test_courses, name))
    return Cohorts(encoded, split, test_first)


ALL_MODULES = "*"


def presentation_cohort(course: str) -> str:
    """Return the cohort of every module of the course's presentation, such as "* 2014J"."""
    return f"{ALL_MODULES} {course.split(' ')[1]}"


def course_rows(cohorts: Cohorts, course: str) -> np.ndarray:
    """Return the positions of a cohort's registrations: "MODULE PRESENTATION", or "* PRESENTATION"."""
    module, presentation = course.split(" ")
    keys = cohorts.encoded.keys
    chosen = (keys["code_presentation"] == presentation).to_numpy()
    if module != ALL_MODULES:
        chosen = chosen & (keys["code_module"] == module).to_numpy()
    return np.flatnonzero(chosen)


def perturbation_key(perturbation: Perturbation) -> tuple:
    return (tuple(sorted(perturbation.knockout)), tuple(sorted(perturbation.noise.items())), perturbation.seed)


@st.cache_data(max_entries=64, show_spinner=False)
def cached_predictions(checkpoint_path: str, device: str, data_dir: str, course: str, key: tuple,
                       keep_codes: bool = False) -> Predictions:
    checkpoint = cached_checkpoint(checkpoint_path, device)
    cohorts = cached_cohorts(checkpoint_path, device, data_dir)
    rows = course_rows(cohorts, course)
    knockout, noise, seed = key
    return predict(checkpoint.model, cohorts.encoded.subset(rows), Perturbation(knockout, dict(noise), seed),
                   keep_codes=keep_codes)


def outcome_names(labels: np.ndarray) -> list[str]:
    return [OUTCOME_CLASSES[index] for index in labels]


def student_table(cohorts: Cohorts, rows: np.ndarray, predictions: Predictions) -> pd.DataFrame:
    from dsrsd.metrics import at_risk_probability

    table = cohorts.encoded.keys.iloc[rows].reset_index(drop=True)
    table["at_risk"] = at_risk_probability(predictions.probabilities)
    table["recorded_outcome"] = outcome_names(cohorts.encoded.labels[rows])
    present = cohorts.encoded.present[rows]
    from dsrsd.app.sidebar import MODALITY_LABELS

    labels = [MODALITY_LABELS.get(m, m) for m in cohorts.encoded.modalities]
    table["no_data_in"] = [", ".join(label for label, has in zip(labels, flags) if not has) for flags in present]
    table["position"] = np.arange(len(rows))
    return table


def warm_numba_in_background() -> None:
    """Compile UMAP's numba kernels in a thread once per server, so the first map does not wait as long."""
    _start_warmup()


@st.cache_resource(show_spinner=False)
def _start_warmup() -> threading.Thread:
    def work() -> None:
        import warnings

        from sklearn.metrics import pairwise_distances

        from dsrsd.projection import import_umap

        umap = import_umap()

        codes = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
        reducer = umap.UMAP(n_neighbors=10, n_epochs=20, random_state=0, metric="precomputed", n_jobs=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reducer.fit(pairwise_distances(codes))
            reducer.transform(pairwise_distances(codes[:8], codes))

    thread = threading.Thread(target=work, name="umap-warmup", daemon=True)
    thread.start()
    return thread
