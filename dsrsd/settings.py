"""Locations of the data root, the cache and the shipped checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"


def data_root() -> Path:
    """Return the folder that contains one folder per dataset (`oulad/`, ...).

    `DSRSD_DATA_DIR` sets it; the default is `data/` in the repository.
    """
    value = os.environ.get("DSRSD_DATA_DIR")
    return Path(value).expanduser() if value else REPO_ROOT / "data"


def cache_dir() -> Path:
    """Return the folder for preprocessed arrays.

    `DSRSD_CACHE_DIR` sets it; the default is `~/.cache/dsrsd`. The cache never lives
    beside the data, which may be read-only.
    """
    value = os.environ.get("DSRSD_CACHE_DIR")
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dsrsd"


def uploaded_checkpoints_dir() -> Path:
    """Return the folder for checkpoints uploaded in the app.

    `DSRSD_UPLOAD_DIR` sets it; the default is `$XDG_DATA_HOME/dsrsd/checkpoints`
    (`~/.local/share/dsrsd/checkpoints`). It is kept apart from the shipped `checkpoints/`, so the
    repository may be read-only and an upload never replaces a shipped checkpoint.
    """
    value = os.environ.get("DSRSD_UPLOAD_DIR")
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "dsrsd" / "checkpoints"
