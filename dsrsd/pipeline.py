"""Glue between data, encodings and checkpoints, shared by the CLIs and the app."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsrsd.checkpoint import Checkpoint
from dsrsd.data import BEFORE_DUE, DataError, Encoded, OuladEncoder, OuladRaw, default_split, load_oulad
from dsrsd.data.spec import Spec, spec_from_dict
from dsrsd.data.spec_encoding import SpecEncoder
from dsrsd.data.spec_table import SpecRaw, load_spec_table
from dsrsd.data.assistments import AssistmentsRaw
from dsrsd.datasets import assistments_split, data_dir_for, dataset_of, load_assistments_for
from dsrsd.metrics import AT_RISK_INDEX, FINAL_OUTCOME, NEXT_STEP
from dsrsd.settings import data_root

SPLITS = ("train", "validation", "test", "all")
MODULES = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG")
DEFAULT_PROTOCOL = "test 2014J; train and validation 2013B, 2013J, 2014B, validation held out by student"


def transfer_split(keys, train_modules: list[str], validation_fraction: float = 0.15, seed: int = 0) -> np.ndarray:
    """Split by course: every presentation of `train_modules` is train or validation (held out by
    student), and every presentation of the other modules is test."""
    unknown = sorted(set(train_modules) - set(MODULES))
    if unknown or not train_modules or set(train_modules) == set(MODULES):
        raise ValueError(f"invalid training modules {list(train_modules)}: use a non-empty proper subset of {list(MODULES)}")
    split = np.full(len(keys), "test", dtype=object)
    trainable = keys["code_module"].isin(train_modules).to_numpy()
    students = np.unique(keys.loc[trainable, "id_student"].to_numpy())
    held_out = np.random.default_rng(seed).choice(students, size=int(round(validation_fraction * len(students))), replace=False)
    in_validation = np.isin(keys["id_student"].to_numpy(), held_out)
    split[trainable & in_validation] = "validation"
    split[trainable & ~in_validation] = "train"
    # A student of a test module who also studied a training module is still tested: the test
    # modules are unseen courses, which is what transfer measures.
    return split.astype(str)


def split_for(keys, data_info: dict) -> np.ndarray:
    """Assign the registrations to splits as the checkpoint's `data` section records."""
    seed = data_info.get("validation_seed", 0)
    if data_info.get("train_modules"):
        return transfer_split(keys, data_info["train_modules"], seed=seed)
    return default_split(keys, seed=seed)


def protocol_info(train_modules: list[str] | None, validation_seed: int = 0) -> dict:
    """Describe the split for a checkpoint's `data` section."""
    if not train_modules:
        return {"protocol": DEFAULT_PROTOCOL, "validation_seed": validation_seed}
    return {
        "protocol": f"transfer: train and validation {', '.join(train_modules)} (validation held out by student); "
                    "test every presentation of the other modules",
        "validation_seed": validation_seed, "train_modules": list(train_modules),
    }


@dataclass
class PreparedData:
    raw: OuladRaw | SpecRaw | AssistmentsRaw
    split: np.ndarray      # N, one of "train", "validation", "test", "unused"
    encoder: OuladEncoder | SpecEncoder
    encoded: Encoded       # every registration (or next-step row), encoded

    @property
    def task(self) -> str:
        """`next_step` for rows built before each due day or each ASSISTments answer, else `final_outcome`."""
        if isinstance(self.raw, AssistmentsRaw):
            return NEXT_STEP
        return NEXT_STEP if getattr(self.raw, "cutoff", None) == BEFORE_DUE else FINAL_OUTCOME


def check_both_labels(data: PreparedData) -> None:
    """Raise DataError when the training or validation rows all fall on one side of the at-risk split,
    because no model can learn from them or be selected by ROC AUC on them."""
    for name in ("train", "validation"):
        labels = data.encoded.labels[data.split == name]
        at_risk = np.isin(labels, AT_RISK_INDEX)
        if len(labels) and (at_risk.all() or not at_risk.any()):
            side = ("at risk (Fail or Withdrawn; for next-step rows, not passed)" if at_risk.all()
                    else "not at risk (Distinction or Pass)")
            raise DataError(
                f"all {len(labels):,} {name} rows are {side}, so no model can be trained or selected on them; "
                "check the table the labels come from (studentInfo final_result, studentAssessment for next-step "
                "rows, the ASSISTments correct column, or a spec's target column)"
            )


def prepare_training_data(data_dir: str | Path, cutoff, validation_seed: int = 0,
                          train_modules: list[str] | None = None) -> PreparedData:
    """Load OULAD, assign the split and fit the encoder on the training part only.

    The split is the default protocol, or the transfer protocol when `train_modules` is given.
    """
    raw = load_oulad(data_dir, cutoff)
    split = split_for(raw.keys, protocol_info(train_modules, validation_seed))
    if train_modules and not (split == "train").any():
        raise DataError(f"{data_dir}: no registration of the training modules {list(train_modules)}")
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

    For a checkpoint trained from a spec, `data_dir` is the folder the spec's table paths start from;
    for ASSISTments, the skill-builder file, its folder or the data root. None picks the checkpoint's own source under `dsrsd.settings.data_root()` (`dsrsd.datasets.data_dir_for`).
    """
    if split not in SPLITS:
        raise ValueError(f"invalid split {split!r}: use one of {', '.join(SPLITS)}")
    if data_dir is None:
        data_dir = data_dir_for(checkpoint.config, data_root())
    if dataset_of(checkpoint.config) == "assistments":
        raw = load_assistments_for(checkpoint.config, data_dir)
        if split != "all":
            raw = raw.subset(assistments_split(checkpoint.config, raw) == split)
        return checkpoint.encoder.transform(raw)
    if checkpoint.config.get("data", {}).get("dataset") == "spec":
        spec = spec_from_dict(checkpoint.config["data"]["spec"])
        raw = load_spec_table(spec, data_dir)
        rows = np.ones(len(raw), dtype=bool) if split == "all" else raw.split == split
        if not rows.any():
            raise DataError(f"{data_dir}: no learner of the spec {spec.name!r} is in the {split!r} split")
        return checkpoint.encoder.transform(raw.subset(rows))
    raw = load_oulad(data_dir, checkpoint.cutoff)
    if split != "all":
        raw = raw.subset(split_for(raw.keys, checkpoint.config["data"]) == split)
    if len(raw) == 0:
        raise DataError(f"{data_dir}: no registration in the {split!r} split of the checkpoint's protocol "
                        f"({checkpoint.config['data'].get('protocol')})")
    return checkpoint.encoder.transform(raw)
