"""The sidebar every page shares: checkpoint, device, course and the what-if controls.

Widget values are copied to plain session-state keys (prefix `dsrsd.`), because Streamlit drops
a widget's state when a page that does not draw it runs. The copies keep choices across pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch

from dsrsd.app import first_use
from dsrsd.checkpoint import CheckpointError, list_checkpoints
from dsrsd.perturb import Perturbation
from dsrsd.datasets import default_checkpoint
from dsrsd.settings import CHECKPOINTS_DIR, data_root, uploaded_checkpoints_dir

class ModalityLabels(dict):
    """Display labels of modalities; a modality without one (named in a spec) shows its own name."""

    def __missing__(self, name: str) -> str:
        return str(name).replace("_", " ").capitalize()

    def get(self, name, default=None):
        # Pages call .get(name) as a format_func, so an unlabelled name must not become None.
        return self[name]


MODALITY_LABELS = ModalityLabels(profile="Profile", assessments="Assessment history", engagement="Platform engagement")
MAX_NOISE = 3.0


@dataclass(frozen=True)
class Selection:
    checkpoint: str
    device: str
    perturbation: Perturbation


def persistent_key(name: str, default, options: list | None = None):
    """Return the widget key for `name`, set from its persistent copy.

    The key is set on every run, not only when missing. After a page switch, the old page's widget
    state is still in session state but is discarded when the new page draws its widget. Only a
    value set through the session-state API carries over.
    """
    stored = f"dsrsd.{name}"
    widget = f"widget.{name}"
    if stored not in st.session_state or (options is not None and st.session_state[stored] not in options):
        st.session_state[stored] = default
    st.session_state[widget] = st.session_state[stored]
    return widget


def remember(name: str) -> None:
    """Copy widget `name`'s value to its persistent key; pass as the widget's `on_change`."""
    st.session_state[f"dsrsd.{name}"] = st.session_state[f"widget.{name}"]


def device_options() -> list[str]:
    return ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def resolved_device(choice: str) -> str:
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice


def available_checkpoints() -> list[str]:
    """Return the shipped checkpoints, those uploaded in the app (`uploaded_checkpoints_dir`), then the
    ASSISTments checkpoint trained on first use when its data is under the data root."""
    paths = [str(path) for path in list_checkpoints(CHECKPOINTS_DIR) + list_checkpoints(uploaded_checkpoints_dir())]
    entry = first_use.first_use_entry()
    return paths + ([entry.path] if entry is not None else [])


def checkpoint_label(path: str) -> str:
    folder = Path(path)
    if first_use.is_first_use_path(path):
        return first_use.ENTRY_LABEL
    return f"{folder.name} (uploaded)" if folder.parent == uploaded_checkpoints_dir() else folder.name


def checkpoint_ui() -> tuple[str, str] | None:
    """Draw the checkpoint and device pickers; return (path, device) or None when there is no checkpoint."""
    paths = available_checkpoints()
    if not paths:
        st.sidebar.error(f"No checkpoint found in `{CHECKPOINTS_DIR}`. "
                         f"Train one with `python -m dsrsd.train ... --out {CHECKPOINTS_DIR}/NAME`.")
        return None
    key = persistent_key("checkpoint", default_checkpoint(paths, data_root()), paths)
    path = st.sidebar.selectbox("Checkpoint", paths, key=key, format_func=checkpoint_label,
                                on_change=remember, args=("checkpoint",))
    problem = first_use.first_use_problem()
    if problem:
        st.sidebar.caption(problem)
    if first_use.is_first_use_path(path):
        entry = first_use.first_use_entry()
        first_use.settings_caption(entry)
        if not first_use.ensure_trained_ui(entry):
            return None
    key = persistent_key("device", "auto", device_options())
    device = st.sidebar.selectbox("Device", device_options(), key=key, on_change=remember, args=("device",),
                                  help="auto uses a CUDA GPU when one is available")
    return path, resolved_device(device)


def what_if_ui(modalities: list[str]) -> Perturbation:
    """Draw a knockout toggle and a noise slider per modality; return the perturbation they set."""
    st.sidebar.subheader("What if...")
    knockout, noise = [], {}
    for modality in modalities:
        label = MODALITY_LABELS.get(modality, modality)
        key = persistent_key(f"knockout.{modality}", False)
        if st.sidebar.toggle(f"Knock out {label.lower()}", key=key, on_change=remember, args=(f"knockout.{modality}",)):
            knockout.append(modality)
        key = persistent_key(f"noise.{modality}", 0.0)
        level = st.sidebar.slider(f"Noise on {label.lower()} (std)", 0.0, MAX_NOISE, step=0.1, key=key,
                                  on_change=remember, args=(f"noise.{modality}",),
                                  help="Gaussian noise with this standard deviation, in the modality's normalised units")
        if level > 0:
            noise[modality] = float(level)
    return Perturbation(knockout=tuple(knockout), noise=noise, seed=0)


COURSE_LABEL = "Course (module and presentation)"
COURSE_HELP = "2014J presentations are the held-out test set; the others were used for training"


def course_ui(courses: list[str], label: str = COURSE_LABEL, help: str = COURSE_HELP) -> str:
    key = persistent_key("course", courses[0], courses)
    return st.sidebar.selectbox(label, courses, key=key, on_change=remember, args=("course",), help=help)


def sidebar_ui(modalities_of, what_if: bool = True) -> Selection | None:
    """Draw the shared sidebar; `modalities_of(path, device)` returns a checkpoint's modalities.

    Pages that ignore the what-if settings pass `what_if=False`; the settings are kept for the others.
    """
    picked = checkpoint_ui()
    if picked is None:
        return None
    path, device = picked
    try:
        modalities = modalities_of(path, device)
    except CheckpointError as error:
        st.error(f"This checkpoint cannot be loaded: {error}. Pick another one in the sidebar.")
        return None
    return Selection(path, device, what_if_ui(modalities) if what_if else Perturbation())
