"""Load the tables a modality spec names into raw per-learner arrays.

Letters: N learners, T steps, F features.

Every row of the learner table becomes one learner, or loading raises `SpecError`: nothing is
dropped silently. Learners get a seeded split, stratified by class, into train, validation and test.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dsrsd.data.oulad import OUTCOME_CLASSES
from dsrsd.data.spec import ModalitySpec, Spec, SpecError

SPLIT_NAMES = ("train", "validation", "test")
MISSING_VALUES = ["", "?", "NA", "N/A", "NaN", "nan", "null"]


@dataclass
class SpecRaw:
    """Raw inputs of N learners before encoding; every array has N rows in `keys` order."""

    keys: pd.DataFrame                         # N x [code_module, code_presentation, id_student]
    labels: np.ndarray                         # N, index into OUTCOME_CLASSES
    static: dict[str, pd.DataFrame]            # static modality -> N x its columns
    sequences: dict[str, np.ndarray]           # sequence modality -> N x T x F, NaN where missing
    sequence_masks: dict[str, np.ndarray]      # sequence modality -> N x T, True for a real step
    present: np.ndarray                        # N x M bool, in spec modality order
    split: np.ndarray                          # N, one of SPLIT_NAMES

    def __len__(self) -> int:
        return len(self.keys)

    def subset(self, rows: np.ndarray) -> "SpecRaw":
        positions = np.flatnonzero(rows) if rows.dtype == bool else rows
        return SpecRaw(
            keys=self.keys.iloc[positions].reset_index(drop=True),
            labels=self.labels[positions],
            static={m: frame.iloc[positions].reset_index(drop=True) for m, frame in self.static.items()},
            sequences={m: values[positions] for m, values in self.sequences.items()},
            sequence_masks={m: mask[positions] for m, mask in self.sequence_masks.items()},
            present=self.present[positions],
            split=self.split[positions],
        )


def read_csv(path: Path, separator: str, description: str) -> pd.DataFrame:
    """Read a CSV file (plain or compressed) with every value as text, or raise `SpecError`."""
    if not path.is_file():
        raise SpecError(f"{description} {path} does not exist; fix the path in the spec (relative to the data folder)")
    try:
        return pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False, na_values=MISSING_VALUES)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise SpecError(f"{description} {path} cannot be read as CSV with separator {separator!r} ({error})") from error


def load_spec_table(spec: Spec, data_root: str | Path) -> SpecRaw:
    """Load the learner table of `spec` (its path relative to `data_root`) and every long table.

    Raises:
        SpecError: a file is missing or unreadable, a named column is not in its table, a numeric
            column contains text, the target is missing or outside its classes, or a key repeats.
    """
    data_root = Path(data_root)
    path = data_root / spec.table
    table = read_csv(path, spec.separator, "learner table")
    if len(table) == 0:
        raise SpecError(f"learner table {path} has no rows")
    _require_columns(table, [spec.target] + ([spec.key] if spec.key else []) +
                     [c for m in spec.modalities if m.kind == "static" for c in m.columns], path)

    ids = _learner_ids(table, spec, path)
    labels = _labels(table[spec.target], spec, path)
    split = stratified_split(labels, spec.test_fraction, spec.validation_fraction, spec.seed)
    keys = pd.DataFrame({"code_module": spec.name, "code_presentation": split, "id_student": ids})

    static, sequences, masks, present = {}, {}, {}, []
    for modality in spec.modalities:
        if modality.kind == "static":
            static[modality.name] = _static_columns(table, modality, path)
            present.append(static[modality.name].notna().any(axis=1).to_numpy())
        else:
            sequences[modality.name], masks[modality.name] = _sequence(modality, spec, ids, data_root)
            present.append(masks[modality.name].any(axis=1))
    return SpecRaw(keys, labels, static, sequences, masks, np.stack(present, axis=1), split)


def _require_columns(table: pd.DataFrame, columns: list[str], path: Path) -> None:
    for column in columns:
        if column not in table.columns:
            raise SpecError(
                f"unknown column {column!r}: {path} has no such column; its columns are {list(table.columns)}"
            )


def _numbers(values: pd.Series, column: str, path: Path) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        raise SpecError(
            f"{path}: column {column!r} is listed as numeric, but {int(bad.sum())} value(s) are not numbers, for "
            f"example {values[bad].iloc[0]!r} in data row {int(np.flatnonzero(bad.to_numpy())[0]) + 1}; "
            "list it under categorical instead, or fix the values"
        )
    return numbers.astype("float64")


def _learner_ids(table: pd.DataFrame, spec: Spec, path: Path) -> np.ndarray:
    if spec.key is None:
        return np.arange(1, len(table) + 1, dtype=np.int64)
    values = table[spec.key]
    if values.isna().any():
        raise SpecError(f"{path}: key column {spec.key!r} is empty in data row {int(np.flatnonzero(values.isna())[0]) + 1}")
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any() or (numbers != numbers.round()).any():
        bad = values[numbers.isna() | (numbers != numbers.round())].iloc[0]
        raise SpecError(f"{path}: key column {spec.key!r} must contain whole numbers, but contains {bad!r}; "
                        "number the learners, or leave out key to use the row number")
    repeated = numbers[numbers.duplicated()]
    if len(repeated):
        raise SpecError(f"{path}: key {int(repeated.iloc[0])} appears more than once in column {spec.key!r}; "
                        "each learner needs one row")
    return numbers.to_numpy(np.int64)


def _labels(values: pd.Series, spec: Spec, path: Path) -> np.ndarray:
    missing = values.isna()
    if missing.any():
        raise SpecError(f"{path}: target column {spec.target!r} is empty in {int(missing.sum())} row(s), for "
                        f"example data row {int(np.flatnonzero(missing.to_numpy())[0]) + 1}; every learner needs an outcome")
    if spec.pass_at_least is not None:
        passed = _numbers(values, spec.target, path) >= spec.pass_at_least
        outcomes = np.where(passed, "Pass", "Fail")
    else:
        unknown = ~values.isin(list(spec.classes))
        if unknown.any():
            raise SpecError(f"{path}: target column {spec.target!r} contains {values[unknown].iloc[0]!r}, which "
                            f"[target] classes does not map; add it to classes {sorted(spec.classes)}")
        outcomes = values.map(spec.classes).to_numpy()
    index = {name: position for position, name in enumerate(OUTCOME_CLASSES)}
    return np.array([index[name] for name in outcomes], dtype=np.int64)


def stratified_split(labels: np.ndarray, test_fraction: float, validation_fraction: float, seed: int) -> np.ndarray:
    """Assign each learner to train, validation or test, keeping each class's share in every part."""
    split = np.full(len(labels), "train", dtype=object)
    rng = np.random.default_rng(seed)
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        test = int(round(test_fraction * len(rows)))
        validation = int(round(validation_fraction * len(rows)))
        split[rows[:test]] = "test"
        split[rows[test:test + validation]] = "validation"
    return split.astype(str)


def _static_columns(table: pd.DataFrame, modality: ModalitySpec, path: Path) -> pd.DataFrame:
    columns = {}
    for column in modality.categorical:
        values = table[column].str.strip()
        columns[column] = values.astype(object).where(values.notna(), None)
    for column in modality.numeric:
        columns[column] = _numbers(table[column], column, path)
    return pd.DataFrame(columns)


def _sequence(modality: ModalitySpec, spec: Spec, ids: np.ndarray, data_root: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return the N x T x F steps (NaN where a value is missing) and the N x T mask of a long table."""
    path = data_root / modality.table
    key = modality.key or spec.key
    if key is None:
        raise SpecError(f"sequence modality {modality.name!r} needs a key to join {path} to the learners; "
                        "set key in the spec or in its [modalities] table")
    long = read_csv(path, modality.separator, f"table of modality {modality.name!r}")
    _require_columns(long, [key, modality.time] + modality.numeric, path)
    learner = _numbers(long[key], key, path)
    time = _numbers(long[modality.time], modality.time, path)
    values = np.stack([_numbers(long[column], column, path).to_numpy() for column in modality.numeric], axis=1)

    row_of = pd.Series(np.arange(len(ids)), index=ids)
    rows = row_of.reindex(learner.to_numpy()).to_numpy()
    unknown = np.isnan(rows) | time.isna().to_numpy()
    if unknown.any():
        warnings.warn(f"{path}: {int(unknown.sum())} row(s) have no time or belong to no learner of {spec.table}; "
                      "they are ignored", stacklevel=3)
    frame = pd.DataFrame({"row": rows, "time": time.to_numpy()})[~unknown]
    if frame.duplicated().any():
        example = frame[frame.duplicated()].iloc[0]
        raise SpecError(f"{path}: learner {int(ids[int(example['row'])])} has two rows at {modality.time} "
                        f"{example['time']:g}; keep one row per learner and step")
    frame["step"] = frame.sort_values("time").groupby("row").cumcount()
    steps = int(frame["step"].max()) + 1 if len(frame) else 1
    sequence = np.full((len(ids), steps, len(modality.numeric)), np.nan, dtype=np.float64)
    mask = np.zeros((len(ids), steps), dtype=bool)
    positions = (frame["row"].to_numpy(np.int64), frame["step"].to_numpy(np.int64))
    sequence[positions] = values[~unknown]
    mask[positions] = True
    return sequence, mask
