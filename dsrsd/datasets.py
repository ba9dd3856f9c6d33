"""Data sources of checkpoints: OULAD under the data root, the synthetic course, a spec table or ASSISTments.

A checkpoint names its source in `config.json` under `data.dataset`. Checkpoints written before
that field existed were all trained on OULAD, so a missing field means `oulad`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dsrsd.data import DataError, Encoded, default_split, load_oulad
from dsrsd.data.assistments import (
    DATA_FOLDERS as ASSISTMENTS_FOLDERS, DOWNLOAD_URL as ASSISTMENTS_URL, FOLDS, MAX_HISTORY, find_assistments_file,
    fold_split, load_assistments, students_fingerprint,
)
from dsrsd.data.spec import spec_from_dict
from dsrsd.data.spec_table import load_spec_table
from dsrsd.data.synthetic import synthetic_course
from dsrsd.data.tables import find_table

OULAD_TABLES = ("studentInfo", "studentRegistration", "courses", "assessments", "studentAssessment")
DEMO_CHECKPOINT = "synthetic-demo"


def dataset_of(config: dict) -> str:
    """Return the data source a checkpoint config was trained on: `oulad`, `synthetic`, `spec` or `assistments`."""
    return (config.get("data") or {}).get("dataset") or "oulad"


def data_dir_for(config: dict, root: Path) -> Path:
    """Return the folder of a checkpoint's data, generating the synthetic course if needed.

    That is the folder of the OULAD-format tables, or for a spec and ASSISTments the data root
    (`dsrsd.data.assistments.find_assistments_file` finds the file under it).
    """
    if dataset_of(config) in ("spec", "assistments"):
        return Path(root)
    if dataset_of(config) == "synthetic":
        settings = config["data"].get("synthetic", {})
        return synthetic_course(settings.get("seed", 0), settings.get("learners", 4000)).path
    return Path(root) / "oulad"


def missing_oulad_tables(root: Path) -> list[str]:
    """Return the required OULAD tables that are not in `root/oulad`."""
    return [name for name in OULAD_TABLES if find_table(Path(root) / "oulad", name) is None]


def missing_data_message(config: dict, root: Path) -> str | None:
    """Say what to download and where for a checkpoint's data, or return None when it is in place."""
    if dataset_of(config) == "synthetic":
        return None
    if dataset_of(config) == "assistments":
        return missing_assistments_message(root)
    if dataset_of(config) == "spec":
        spec = spec_from_dict(config["data"]["spec"])
        absent = [path for path in [spec.table] + [m.table for m in spec.modalities if m.table]
                  if not (Path(root) / path).is_file()]
        if not absent:
            return None
        return (f"This checkpoint was trained on the table(s) {', '.join(f'`{path}`' for path in absent)} of the "
                f"spec `{spec.name}`, which are not under `{root}`. Set the `DSRSD_DATA_DIR` environment variable "
                "to the folder the spec's paths start from, then reload this page.")
    missing = missing_oulad_tables(root)
    if not missing:
        return None
    folder = Path(root) / "oulad"
    return (
        f"The OULAD tables are not in `{folder}` (missing: {', '.join(missing)}). Download the Open University "
        "Learning Analytics Dataset from https://analyse.kmi.open.ac.uk/open_dataset, unpack its CSV files "
        f"into `{folder}`, or set the `DSRSD_DATA_DIR` environment variable to a folder that holds an `oulad/` "
        f"folder, then reload this page. The `{DEMO_CHECKPOINT}` checkpoint runs without it, on a synthetic course."
    )


def missing_assistments_message(root: Path) -> str | None:
    """Say where to get and put the ASSISTments skill-builder file, or return None when it is found under `root`."""
    try:
        find_assistments_file(root)
    except DataError as error:
        return (
            f"The ASSISTments 2009 skill-builder file is not usable under `{root}` ({error}). Download the CSV from "
            f"{ASSISTMENTS_URL} (the README's section *Getting ASSISTments 2009*), put it as the only CSV file into "
            f"`{Path(root) / ASSISTMENTS_FOLDERS[0]}`, or set the `DSRSD_DATA_DIR` environment variable to the "
            "folder that holds your `assistments2009/` folder, then reload this page."
        )
    return None


def assistments_split(config: dict, raw) -> np.ndarray:
    """Rebuild the student-fold split an ASSISTments checkpoint's `data` section records."""
    data = config["data"]
    return fold_split(raw, data.get("fold", 0), data.get("folds", FOLDS), data.get("validation_seed", 0))


def load_assistments_for(config: dict, data_dir: str | Path):
    """Load the ASSISTments rows of `data_dir` (the file, its folder or the data root) with the checkpoint's history cap.

    Raises DataError when the file's students differ from those the checkpoint was trained on, because
    the folds would then put some training students into the test split.
    """
    data = config["data"]
    path = find_assistments_file(data_dir)
    raw = load_assistments(path, data.get("max_history", MAX_HISTORY))
    recorded = data.get("students_sha256")
    if recorded is not None and recorded != students_fingerprint(raw):
        trained_on = (data.get("load") or {}).get("students", "?")
        raise DataError(
            f"{path} has {raw.stats.students} students, not the {trained_on} students of the file this checkpoint was "
            f"trained on ({data.get('file')}), so its student folds would put training students into the test split; "
            "use that file, or train a new checkpoint on this one"
        )
    return raw


def default_checkpoint(paths: list[str], root: Path) -> str:
    """Return the checkpoint the app opens on: the first one, or the synthetic demo when OULAD is missing."""
    if missing_oulad_tables(root):
        for path in paths:
            if Path(path).name == DEMO_CHECKPOINT:
                return path
    return paths[0]


def encoded_cohorts(checkpoint, data_dir: str | Path) -> tuple[Encoded, np.ndarray]:
    """Load and encode every learner of a checkpoint's data; return the encoding and each learner's split.

    `data_dir` is the folder `data_dir_for` returns for the checkpoint.
    """
    config = checkpoint.config
    if dataset_of(config) == "assistments":
        raw = load_assistments_for(config, data_dir)
        return checkpoint.encoder.transform(raw), assistments_split(config, raw)
    if dataset_of(config) == "spec":
        raw = load_spec_table(spec_from_dict(config["data"]["spec"]), data_dir)
        return checkpoint.encoder.transform(raw), raw.split
    raw = load_oulad(data_dir, checkpoint.cutoff)
    split = default_split(raw.keys, seed=config["data"].get("validation_seed", 0))
    return checkpoint.encoder.transform(raw), split


SYNTHETIC_BANNER = (
    "This checkpoint was trained on a **synthetic course** whose latent factors were planted, so the "
    "learners are not real. To analyse real learners, download OULAD from "
    "https://analyse.kmi.open.ac.uk/open_dataset, unpack its CSV files into an `oulad/` folder, set the "
    "`DSRSD_DATA_DIR` environment variable to the folder that contains it, restart the app, and pick "
    "the `oulad-final-outcome` checkpoint in the sidebar."
)
