"""Glue between data, encodings and checkpoints, shared by the CLIs and the app."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsrsd.checkpoint import Checkpoint
from dsrsd.data import DataError, Encoded, OuladEncoder, OuladRaw, default_split, load_oulad
from dsrsd.data.spec import Spec, spec_from_dict
from dsrsd.data.spec_encoding import SpecEncoder
from dsrsd.data.spec_table import SpecRaw, load_spec_table
from dsrsd.datasets import data_dir_for
from dsrsd.settings import data_root

SPLITS = ("train", "validation", "test", "all")


@dataclass
class PreparedData:
    raw: OuladRaw | SpecRaw
    split: np.ndarray      # N, one of "train", "validation", "test", "unused"
    encoder: OuladEncoder | SpecEncoder
    encoded: Encoded       # every registration, encoded


def prepare_training_data(data_dir: str | Path, cutoff, validation_seed: int = 0) -> PreparedData:
    """Load OULAD, assign the default split and fit the encoder on the training part only."""
    raw = load_oulad(data_dir, cutoff)
    split = default_split(raw.keys, seed=validation_seed)
    if not (split == "train").any():
        raise DataError(
            f"{data_dir}: no registration of the training presentations 2013B, 2013J or 2014B; the default "
            "protocol trains on those and tests on 2014J"
        )
    encoder = OuladEncoder.fit(raw.subset(split == "train"))
    return PreparedData(raw, split, encoder, encoder.transform(raw))


def prepare_spec_data(spec: Spec, data_root: str | Path) -> PreparedData:
    """Load a spec's tables, keep its seeded stratified split and fit the encoder on the training part only."""
    raw = load_spec_table(spec, data_root)
    if not (raw.split == "train").any():
        raise DataError(f"{spec.table}: the split leaves no learner for training; lower the test and validation fractions")
    encoder = SpecEncoder.fit(raw.subset(raw.split == "train"), spec)
    return PreparedData(raw, raw.split, encoder, encoder.transform(raw))


def encode_for_checkpoint(checkpoint: Checkpoint, data_dir: str | Path | None, split: str = "test") -> Encoded:
    """Encode the registrations of `split` with the checkpoint's fitted encoder and cutoff.

    For a checkpoint trained from a spec, `data_dir` is the folder the spec's table paths start from.
    None picks the checkpoint's own source under `dsrsd.settings.data_root()` (`dsrsd.datasets.data_dir_for`).
    """
    if split not in SPLITS:
        raise ValueError(f"invalid split {split!r}: use one of {', '.join(SPLITS)}")
    if data_dir is None:
        data_dir = data_dir_for(checkpoint.config, data_root())
    if checkpoint.config.get("data", {}).get("dataset") == "spec":
        spec = spec_from_dict(checkpoint.config["data"]["spec"])
        raw = load_spec_table(spec, data_dir)
        rows = np.ones(len(raw), dtype=bool) if split == "all" else raw.split == split
        if not rows.any():
            raise DataError(f"{data_dir}: no learner of the spec {spec.name!r} is in the {split!r} split")
        return checkpoint.encoder.transform(raw.subset(rows))
    raw = load_oulad(data_dir, checkpoint.cutoff)
    if split != "all":
        seed = checkpoint.config["data"].get("validation_seed", 0)
        raw = raw.subset(default_split(raw.keys, seed=seed) == split)
    if len(raw) == 0:
        raise DataError(f"{data_dir}: no registration in the {split!r} split; the test split is the 2014J presentations")
    return checkpoint.encoder.transform(raw)
