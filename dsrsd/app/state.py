"""Cached model, data and predictions for the Streamlit app.

The model and encoded arrays are `st.cache_resource` objects shared by every session, so they
must never change: arrays are made read-only, and knockout and noise act on copies of the inputs
(`dsrsd.perturb`). Derived results are `st.cache_data`, keyed on hashable values.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

from dsrsd import datasets
from dsrsd.checkpoint import Checkpoint, load_checkpoint
from dsrsd.cohorts import MAX_MAP_LEARNERS, Cohorts, build_cohorts, course_rows, presentation_cohort, sample_rows
from dsrsd.data import OUTCOME_CLASSES
from dsrsd.data.tables import find_table
from dsrsd.inference import Predictions, predict
from dsrsd.perturb import Perturbation
from dsrsd.settings import data_root

# One intra-op thread: the app's batches are small, and with two OpenMP threads on a 2-core machine
# that runs anything else, a knockout redraw took seconds instead of a fraction of one.
torch.set_num_threads(1)

# Pages import the cohort helpers from here, beside the cached objects they index.
__all__ = ["MAX_MAP_LEARNERS", "Cohorts", "course_rows", "presentation_cohort", "sample_rows"]


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


@st.cache_resource(show_spinner="Loading and encoding the data...")
def cached_cohorts(checkpoint_path: str, device: str, data_dir: str) -> Cohorts:
    return build_cohorts(cached_checkpoint(checkpoint_path, device), data_dir)


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


WARMUP_DELAY_SECONDS = 3.0


def warm_numba_in_background() -> None:
    """Compile UMAP's numba kernels in a thread once per server, so the first placement or fit does not wait for them."""
    _start_warmup()


@st.cache_resource(show_spinner=False)
def _start_warmup() -> threading.Thread:
    def work() -> None:
        import time

        from dsrsd.projection import fit_stream_map, transform

        # The thread starts when the first page's script ends, while the browser still draws that page's
        # figures. On 2 cores, compiling at once slowed the drawing down.
        time.sleep(WARMUP_DELAY_SECONDS)
        # A small fit and transform compile every numba kernel that placing codes in a stored map uses.
        rng = np.random.default_rng(0)
        codes = {"warm-up": rng.normal(size=(64, 8)).astype(np.float32)}
        predictions = Predictions(np.zeros((64, 1)), np.ones((64, 1)), np.ones((64, 1), bool), codes, codes, codes)
        stream_map = fit_stream_map(predictions, ["warm-up"], "aligned", n_neighbors=10, n_epochs=30)
        transform(stream_map, codes["warm-up"][:8] + 0.1)
        # Compiling leaves many objects behind. Collecting them here keeps that pause out of the next
        # page run, where it made the first what-if change take 0.55 s instead of about 0.2 s.
        gc.collect()

    thread = threading.Thread(target=work, name="umap-warmup", daemon=True)
    thread.start()
    return thread
