"""One learner's explanation: class probabilities, modality Shapley values and feature attributions."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dsrsd.attribution import (
    FeatureAttribution, StreamAttribution, describe_driver, feature_integrated_gradients, modality_shapley,
    stream_shapley,
)
from dsrsd.checkpoint import Checkpoint
from dsrsd.data import OUTCOME_CLASSES, Encoded
from dsrsd.perturb import Perturbation


@dataclass
class StudentExplanation:
    checkpoint: Checkpoint
    encoded: Encoded
    row: int
    perturbation: Perturbation
    modality_values: np.ndarray       # M Shapley values of the at-risk probability
    completeness_gap: float
    summary: str
    classes: list[str] = field(default_factory=lambda: list(OUTCOME_CLASSES))

    def features(self, modality: str) -> FeatureAttribution:
        names = self.checkpoint.encoder.state["feature_names"][modality]
        return feature_integrated_gradients(self.checkpoint.model, self.encoded, self.row, modality, names,
                                            self.perturbation)

    def streams(self, baseline: dict[str, tuple[np.ndarray, np.ndarray]]) -> StreamAttribution:
        """Shapley values of the shared and private stream of every modality against `baseline` codes."""
        return stream_shapley(self.checkpoint.model, self.encoded, np.array([self.row]), baseline, self.perturbation)


def explain_student(checkpoint: Checkpoint, encoded: Encoded, row: int, perturbation: Perturbation) -> StudentExplanation:
    """Explain the at-risk probability of the learner at position `row` of `encoded`."""
    single = encoded.subset(np.array([row]))
    shapley = modality_shapley(checkpoint.model, single, np.array([0]), perturbation)
    return StudentExplanation(
        checkpoint=checkpoint, encoded=single, row=0, perturbation=perturbation,
        modality_values=shapley.values[0], completeness_gap=float(shapley.completeness_gap[0]),
        summary=describe_driver(shapley, encoded.modalities),
    )
