"""Data sources of checkpoints: OULAD under the data root, or the synthetic course.

A checkpoint names its source in `config.json` under `data.dataset`. Checkpoints written before
that field existed were all trained on OULAD, so a missing field means `oulad`.
"""

from __future__ import annotations

from pathlib import Path

from dsrsd.data.synthetic import synthetic_course
from dsrsd.data.tables import find_table

OULAD_TABLES = ("studentInfo", "studentRegistration", "courses", "assessments", "studentAssessment")
DEMO_CHECKPOINT = "synthetic-demo"


def dataset_of(config: dict) -> str:
    """Return the data source a checkpoint config was trained on: `oulad` or `synthetic`."""
    return (config.get("data") or {}).get("dataset") or "oulad"


def data_dir_for(config: dict, root: Path) -> Path:
    """Return the folder of OULAD-format tables for a checkpoint, generating the synthetic course if needed."""
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


def default_checkpoint(paths: list[str], root: Path) -> str:
    """Return the checkpoint the app opens on: the first one, or the synthetic demo when OULAD is missing."""
    if missing_oulad_tables(root):
        for path in paths:
            if Path(path).name == DEMO_CHECKPOINT:
                return path
    return paths[0]


SYNTHETIC_BANNER = (
    "This checkpoint was trained on a **synthetic course** whose latent factors were planted, so the "
    "learners are not real. To analyse real learners, download OULAD from "
    "https://analyse.kmi.open.ac.uk/open_dataset, unpack its CSV files into an `oulad/` folder, set the "
    "`DSRSD_DATA_DIR` environment variable to the folder that contains it, restart the app, and pick "
    "the `oulad-final-outcome` checkpoint in the sidebar."
)
