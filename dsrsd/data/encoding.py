"""Turn raw OULAD arrays into model inputs, with encodings fitted on the training split only.

The fitted state is plain JSON (category lists, means, standard deviations), stored in the
checkpoint so that prediction encodes new data exactly as training did.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dsrsd.data.oulad import (
    ASSESSMENT_FEATURES, MODALITIES, PROFILE_CATEGORICAL, PROFILE_NUMERIC, OuladRaw,
)

MISSING = "(missing)"
# Assessment features that are standardised; the others are 0/1 flags and stay as they are.
ASSESSMENT_SCALED = ["weight", "due_day", "days_late", "score"]


@dataclass
class Encoded:
    """Model inputs of N registrations.

    `inputs[m]` is N x F for a static modality and N x T x F for a sequence modality, whose
    `masks[m]` (N x T) marks real steps. `present` (N x M) marks learners who truly have data
    in a modality, in the order of `modalities`.
    """

    modalities: list[str]
    inputs: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    present: np.ndarray
    labels: np.ndarray
    keys: pd.DataFrame

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows: np.ndarray) -> "Encoded":
        positions = np.flatnonzero(rows) if rows.dtype == bool else rows
        return Encoded(
            modalities=self.modalities,
            inputs={m: v[positions] for m, v in self.inputs.items()},
            masks={m: v[positions] for m, v in self.masks.items()},
            present=self.present[positions],
            labels=self.labels[positions],
            keys=self.keys.iloc[positions].reset_index(drop=True),
        )


def _mean_std(values: np.ndarray) -> tuple[list[float], list[float]]:
    mean = np.nanmean(values, axis=0) if len(values) else np.zeros(values.shape[1:])
    std = np.nanstd(values, axis=0) if len(values) else np.ones(values.shape[1:])
    mean = np.nan_to_num(mean)
    std = np.where(np.isfinite(std) & (std > 1e-6), std, 1.0)
    return mean.tolist(), std.tolist()


class OuladEncoder:
    """Encoder of raw OULAD arrays, fitted on training registrations; `state` is JSON-ready."""

    def __init__(self, state: dict):
        self.state = state

    @classmethod
    def fit(cls, raw: OuladRaw) -> "OuladEncoder":
        categories = {}
        for column in PROFILE_CATEGORICAL:
            values = raw.profile_categorical[column].fillna(MISSING).astype(str)
            categories[column] = sorted(values.unique().tolist())
        numeric_mean, numeric_std = _mean_std(raw.profile_numeric)

        valid_steps = raw.assessments[raw.assessment_mask]
        scaled = [ASSESSMENT_FEATURES.index(name) for name in ASSESSMENT_SCALED]
        step_mean, step_std = _mean_std(valid_steps[:, scaled])

        engagement = raw.engagement
        clicks = np.log1p(engagement.values[engagement.mask] if engagement.mask is not None else engagement.values)
        click_mean, click_std = _mean_std(clicks)

        profile_names = [f"{column}={value}" for column in PROFILE_CATEGORICAL for value in categories[column]]
        profile_names += PROFILE_NUMERIC + [f"{column} missing" for column in PROFILE_NUMERIC]
        return cls({
            "modalities": list(MODALITIES),
            "kinds": {
                "profile": "static",
                "assessments": "sequence",
                "engagement": "sequence" if engagement.mask is not None else "static",
            },
            "feature_names": {
                "profile": profile_names,
                "assessments": list(raw.assessment_features),
                "engagement": [f"log clicks: {name}" for name in engagement.feature_names],
            },
            "engagement_form": engagement.form,
            "engagement_columns": list(engagement.feature_names),
            "steps": {"assessments": int(raw.assessments.shape[1]),
                      "engagement": int(engagement.values.shape[1]) if engagement.mask is not None else 0},
            "profile_categories": categories,
            "profile_numeric": {"mean": numeric_mean, "std": numeric_std},
            "assessment_scaled": {"mean": step_mean, "std": step_std},
            "engagement_log": {"mean": click_mean, "std": click_std},
        })

    @property
    def modalities(self) -> list[str]:
        return self.state["modalities"]

    def input_sizes(self) -> dict[str, int]:
        return {m: len(names) for m, names in self.state["feature_names"].items()}

    def transform(self, raw: OuladRaw) -> Encoded:
        """Encode `raw`; categories unseen in training become all-zero one-hot blocks, with a warning."""
        self._check_compatible(raw)
        # Pad to the trained width: a subset of presentations may have fewer assessments.
        missing_steps = self.state["steps"]["assessments"] - raw.assessments.shape[1]
        assessment_mask = np.pad(raw.assessment_mask, ((0, 0), (0, missing_steps)))
        masks = {"assessments": assessment_mask}
        if raw.engagement.mask is not None:
            masks["engagement"] = raw.engagement.mask.copy()
        return Encoded(
            modalities=self.modalities,
            inputs={
                "profile": self._profile(raw),
                "assessments": self._assessments(raw, assessment_mask),
                "engagement": self._engagement(raw),
            },
            masks=masks,
            present=raw.present.copy(),
            labels=raw.labels.copy(),
            keys=raw.keys.copy(),
        )

    def _check_compatible(self, raw: OuladRaw) -> None:
        from dsrsd.data.tables import DataError

        form = raw.engagement.form
        if form != self.state["engagement_form"]:
            raise DataError(
                f"this model was trained on engagement form {self.state['engagement_form']!r} but the data "
                f"folder gives {form!r}; use data with the same click source and cutoff as training"
            )
        if list(raw.engagement.feature_names) != self.state["engagement_columns"]:
            raise DataError(
                f"the click data has activity types {raw.engagement.feature_names}, but the model was trained "
                f"on {self.state['engagement_columns']}"
            )
        trained_features = self.state["feature_names"]["assessments"]
        if list(raw.assessment_features) != trained_features:
            raise DataError(
                f"the assessment steps have features {raw.assessment_features}, but the model was trained on "
                f"{trained_features}; a next-step model predicts next-step rows and a final-outcome model "
                "predicts registrations"
            )
        if raw.assessments.shape[1] > self.state["steps"]["assessments"]:
            raise DataError(
                f"a presentation has {raw.assessments.shape[1]} non-exam assessments, more than the "
                f"{self.state['steps']['assessments']} the model was trained with"
            )

    def _profile(self, raw: OuladRaw) -> np.ndarray:
        blocks = []
        for column in PROFILE_CATEGORICAL:
            known = self.state["profile_categories"][column]
            values = raw.profile_categorical[column].fillna(MISSING).astype(str)
            # get_indexer gives -1 for an unseen value. pd.Categorical warns on one (Pandas4Warning in pandas 3.1).
            codes = pd.Index(known).get_indexer(values)
            unknown = codes < 0
            if unknown.any():
                examples = sorted(values[unknown].unique().tolist())[:3]
                warnings.warn(
                    f"studentInfo: column {column} has {int(unknown.sum())} row(s) with categories unseen in "
                    f"training {examples}; they are encoded as unknown (no category set)", stacklevel=3,
                )
            block = np.zeros((len(values), len(known)), dtype=np.float32)
            block[np.flatnonzero(~unknown), codes[~unknown]] = 1.0
            blocks.append(block)

        numeric = raw.profile_numeric
        mean = np.asarray(self.state["profile_numeric"]["mean"])
        std = np.asarray(self.state["profile_numeric"]["std"])
        missing = np.isnan(numeric)
        scaled = np.where(missing, 0.0, (numeric - mean) / std)
        blocks += [scaled.astype(np.float32), missing.astype(np.float32)]
        return np.concatenate(blocks, axis=1)

    def _assessments(self, raw: OuladRaw, mask: np.ndarray) -> np.ndarray:
        width = self.state["steps"]["assessments"]
        steps = np.pad(raw.assessments.astype(np.float32), ((0, 0), (0, width - raw.assessments.shape[1]), (0, 0)))
        scaled = [ASSESSMENT_FEATURES.index(name) for name in ASSESSMENT_SCALED]
        mean = np.asarray(self.state["assessment_scaled"]["mean"], dtype=np.float32)
        std = np.asarray(self.state["assessment_scaled"]["std"], dtype=np.float32)
        steps[..., scaled] = (steps[..., scaled] - mean) / std
        steps[~mask] = 0.0
        return steps

    def _engagement(self, raw: OuladRaw) -> np.ndarray:
        engagement = raw.engagement
        mean = np.asarray(self.state["engagement_log"]["mean"], dtype=np.float32)
        std = np.asarray(self.state["engagement_log"]["std"], dtype=np.float32)
        values = (np.log1p(engagement.values) - mean) / std
        if engagement.mask is not None:
            values[~engagement.mask] = 0.0
        return values.astype(np.float32)
