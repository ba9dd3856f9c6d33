"""The sidebar's ASSISTments entry: a checkpoint trained here on first use (`dsrsd.first_use`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from dsrsd.data import DataError
from dsrsd.data.assistments import DATA_FOLDERS, find_assistments_file
from dsrsd.first_use import CACHE_FOLDER, EPOCHS_VARIABLE, file_sha256, first_use_dir, first_use_settings, is_trained, train_first_use
from dsrsd.settings import cache_dir, data_root
from dsrsd.training import EpochLog

ENTRY_LABEL = "assistments-2009 (trained here on first use)"


@dataclass(frozen=True)
class FirstUseEntry:
    path: str            # the checkpoint folder in the cache, trained or not yet
    data_file: str
    settings_text: str


@st.cache_data(show_spinner=False)
def _hash_of(path: str, size: int, modified: float) -> str:
    # Keyed on size and modification time as well, so an edited file is hashed again.
    return file_sha256(path)


def first_use_entry() -> FirstUseEntry | None:
    """Return the ASSISTments entry when the skill-builder file is under the data root, else None."""
    try:
        data_file = find_assistments_file(data_root())
        settings = first_use_settings()
    except (DataError, ValueError):
        return None
    status = data_file.stat()
    directory = first_use_dir(_hash_of(str(data_file), status.st_size, status.st_mtime), settings)
    return FirstUseEntry(str(directory), str(data_file), settings.describe())


def first_use_problem() -> str | None:
    """Say why the ASSISTments entry is absent although its data folder or epoch setting is there, else None."""
    root = data_root()
    configured = os.environ.get(EPOCHS_VARIABLE) is not None or any((root / name).is_dir() for name in DATA_FOLDERS)
    if not configured:
        return None
    try:
        find_assistments_file(root)
        first_use_settings()
    except (DataError, ValueError) as error:
        return f"The ASSISTments model is not offered: {error}"
    return None


def is_first_use_path(path: str) -> bool:
    return Path(path).parent == cache_dir() / CACHE_FOLDER


def settings_caption(entry: FirstUseEntry) -> None:
    st.sidebar.caption(f"Trained on this machine from `{Path(entry.data_file).name}`: {entry.settings_text}. "
                       f"Kept in `{entry.path}`; no ASSISTments checkpoint ships, because the data's terms forbid "
                       "passing it on.")


def ensure_trained_ui(entry: FirstUseEntry) -> bool:
    """Train the entry's checkpoint with a progress bar unless it exists; return False after an error message."""
    if is_trained(entry.path):
        return True
    settings = first_use_settings()
    st.caption(f"Training an ASSISTments model on first use from `{entry.data_file}`: {entry.settings_text}. "
               "It is saved in the cache and loaded from there next time, also after a restart.")
    progress = st.progress(0.0, text="Loading and encoding the answers...")

    def on_epoch(log: EpochLog) -> None:
        progress.progress(min(log.epoch / settings.epochs, 1.0),
                          text=f"Epoch {log.epoch} of at most {settings.epochs}: validation AUC "
                               f"{log.validation['at_risk_auc']:.3f} ({log.seconds:.1f} s)")

    def on_wait() -> None:
        progress.progress(0.0, text="Another session is training this model; waiting for it to finish...")

    try:
        train_first_use(entry.data_file, entry.path, settings, on_epoch=on_epoch, on_wait=on_wait)
    except (DataError, ValueError) as error:
        progress.empty()
        st.error(f"Training the ASSISTments model failed, and nothing was saved: {error}")
        return False
    progress.empty()
    return True
