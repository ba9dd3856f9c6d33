"""Encode spec-table learners as model inputs, with encodings fitted on the training split only.

Static modality: one-hot categories, then standardised numbers, then one missing flag per number.
Sequence modality: standardised numbers, then one missing flag per number, at every step.
The fitted state is plain JSON, stored in the checkpoint like `OuladEncoder`'s.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from dsrsd.data.encoding import MISSING, Encoded, _mean_std
from dsrsd.data.spec import Spec
from dsrsd.data.spec_table import SpecRaw
from dsrsd.data.tables import DataError

ENCODER_KIND = "spec"


class SpecEncoder:
    """Encoder of `SpecRaw` arrays, fitted on training learners; `state` is JSON-ready."""

    def __init__(self, state: dict):
        self.state = state

    @classmethod
    def fit(cls, raw: SpecRaw, spec: Spec) -> "SpecEncoder":
        kinds, feature_names, categories, numeric, steps = {}, {}, {}, {}, {}
        for modality in spec.modalities:
            name = modality.name
            kinds[name] = modality.kind
            if modality.kind == "static":
                frame = raw.static[name]
                categories[name] = {
                    column: sorted(frame[column].fillna(MISSING).astype(str).unique().tolist())
                    for column in modality.categorical
                }
                values = frame[modality.numeric].to_numpy(np.float64) if modality.numeric else np.zeros((len(frame), 0))
                names = [f"{column}={value}" for column in modality.categorical for value in categories[name][column]]
            else:
                values = raw.sequences[name][raw.sequence_masks[name]]
                steps[name] = int(raw.sequences[name].shape[1])
                names = []
            mean, std = _mean_std(values)
            numeric[name] = {"mean": mean, "std": std}
            feature_names[name] = names + modality.numeric + [f"{column} missing" for column in modality.numeric]
        return cls({
            "kind": ENCODER_KIND,
            "modalities": [modality.name for modality in spec.modalities],
            "kinds": kinds,
            "feature_names": feature_names,
            "engagement_form": None,
            "categories": categories,
            "numeric": numeric,
            "steps": steps,
            "columns": {m.name: {"categorical": m.categorical, "numeric": m.numeric} for m in spec.modalities},
        })

    @property
    def modalities(self) -> list[str]:
        return self.state["modalities"]

    def input_sizes(self) -> dict[str, int]:
        return {m: len(names) for m, names in self.state["feature_names"].items()}

    def transform(self, raw: SpecRaw) -> Encoded:
        """Encode `raw`; categories unseen in training become all-zero one-hot blocks, with a warning."""
        inputs, masks = {}, {}
        for name in self.modalities:
            if self.state["kinds"][name] == "static":
                inputs[name] = self._static(name, raw.static[name])
            else:
                inputs[name], masks[name] = self._sequence(name, raw.sequences[name], raw.sequence_masks[name])
        return Encoded(self.modalities, inputs, masks, raw.present.copy(), raw.labels.copy(), raw.keys.copy())

    def _scaled(self, name: str, values: np.ndarray) -> np.ndarray:
        """Standardise numbers and append a missing flag per column; a missing value becomes 0."""
        mean = np.asarray(self.state["numeric"][name]["mean"])
        std = np.asarray(self.state["numeric"][name]["std"])
        missing = np.isnan(values)
        scaled = np.where(missing, 0.0, (values - mean) / std)
        return np.concatenate([scaled, missing.astype(np.float64)], axis=-1).astype(np.float32)

    def _static(self, name: str, frame: pd.DataFrame) -> np.ndarray:
        blocks = []
        for column, known in self.state["categories"][name].items():
            values = frame[column].fillna(MISSING).astype(str)
            codes = pd.Index(known).get_indexer(values)
            unknown = codes < 0
            if unknown.any():
                warnings.warn(
                    f"modality {name}: column {column} has {int(unknown.sum())} row(s) with categories unseen in "
                    f"training {sorted(values[unknown].unique().tolist())[:3]}; they are encoded as unknown", stacklevel=3,
                )
            block = np.zeros((len(values), len(known)), dtype=np.float32)
            block[np.flatnonzero(~unknown), codes[~unknown]] = 1.0
            blocks.append(block)
        numeric = self.state["columns"][name]["numeric"]
        values = frame[numeric].to_numpy(np.float64) if numeric else np.zeros((len(frame), 0))
        blocks.append(self._scaled(name, values))
        return np.concatenate(blocks, axis=1)

    def _sequence(self, name: str, values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        width = self.state["steps"][name]
        if values.shape[1] > width:
            raise DataError(f"modality {name}: a learner has {values.shape[1]} steps, more than the {width} "
                            "the model was trained with")
        padding = width - values.shape[1]
        values = np.pad(values, ((0, 0), (0, padding), (0, 0)), constant_values=np.nan)
        mask = np.pad(mask, ((0, 0), (0, padding)))
        encoded = self._scaled(name, values)
        encoded[~mask] = 0.0
        return encoded, mask


def encoder_from_state(state: dict):
    """Rebuild the encoder a checkpoint's schema describes: `SpecEncoder`, `AssistmentsEncoder` or `OuladEncoder`."""
    from dsrsd.data import assistments_encoding
    from dsrsd.data.encoding import OuladEncoder

    if state.get("kind") == ENCODER_KIND:
        return SpecEncoder(state)
    if state.get("kind") == assistments_encoding.ENCODER_KIND:
        return assistments_encoding.AssistmentsEncoder(state)
    return OuladEncoder(state)
