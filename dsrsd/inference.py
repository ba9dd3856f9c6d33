"""Batched inference with a perturbation, returning numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dsrsd.data.encoding import Encoded
from dsrsd.model.gbdt import GradientBoostedTrees, gbdt_features
from dsrsd.perturb import Perturbation, add_noise, knockout_mask


@dataclass
class Predictions:
    """Model outputs for N learners; codes are dicts keyed by modality, N x D each."""

    probabilities: np.ndarray   # N x C
    gates: np.ndarray           # N x M
    available: np.ndarray       # N x M bool
    shared: dict[str, np.ndarray]
    private: dict[str, np.ndarray]
    aligned: dict[str, np.ndarray]

    def subset(self, rows: np.ndarray) -> "Predictions":
        """Return the predictions of the learners at `rows`, in that order."""
        return Predictions(self.probabilities[rows], self.gates[rows], self.available[rows],
                           {m: v[rows] for m, v in self.shared.items()}, {m: v[rows] for m, v in self.private.items()},
                           {m: v[rows] for m, v in self.aligned.items()})


def batch_tensors(encoded: Encoded, rows: np.ndarray, device: torch.device, knockout: np.ndarray | None = None):
    """Return (inputs, masks, present, knockout) tensors for the given rows."""
    inputs = {m: torch.as_tensor(encoded.inputs[m][rows], device=device) for m in encoded.modalities}
    masks = {m: torch.as_tensor(v[rows], device=device) for m, v in encoded.masks.items()}
    present = torch.as_tensor(encoded.present[rows], device=device)
    knocked = torch.as_tensor(knockout[rows], device=device) if knockout is not None else torch.zeros_like(present)
    return inputs, masks, present, knocked


def _predict_trees(model: GradientBoostedTrees, encoded: Encoded, knockout: np.ndarray) -> Predictions:
    """Predict with gradient-boosted trees; the gates weigh the available modalities equally."""
    available = encoded.present & ~knockout
    gates = available / np.maximum(available.sum(axis=1, keepdims=True), 1)
    probabilities = model.predict_proba(gbdt_features(encoded, knockout)).astype(np.float32)
    return Predictions(probabilities, gates.astype(np.float32), available, {}, {}, {})


@torch.no_grad()
def predict(model: torch.nn.Module | GradientBoostedTrees, encoded: Encoded, perturbation: Perturbation | None = None,
            batch_size: int = 2048, keep_codes: bool = False) -> Predictions:
    """Run `model` in eval mode on every row of `encoded` under `perturbation`.

    Codes are kept only for DSRSD-Net; the baselines have no shared or private streams.
    """
    perturbation = perturbation or Perturbation()
    perturbed = add_noise(encoded, perturbation)
    knockout = knockout_mask(encoded.modalities, len(encoded), perturbation.knockout)
    if isinstance(model, GradientBoostedTrees):
        return _predict_trees(model, perturbed, knockout)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    parts: dict[str, list] = {"probabilities": [], "gates": [], "available": []}
    codes = {kind: {m: [] for m in encoded.modalities} for kind in ("shared", "private", "aligned")}
    try:
        for start in range(0, len(encoded), batch_size):
            rows = np.arange(start, min(start + batch_size, len(encoded)))
            output = model(*batch_tensors(perturbed, rows, device, knockout))
            parts["probabilities"].append(torch.softmax(output.logits, dim=-1).cpu().numpy())
            parts["gates"].append(output.gates.cpu().numpy())
            parts["available"].append(output.available.cpu().numpy())
            if keep_codes:
                for kind in codes:
                    for m, value in getattr(output, kind).items():
                        codes[kind][m].append(value.cpu().numpy())
    finally:
        model.train(was_training)

    def join(chunks, width):
        return np.concatenate(chunks) if chunks else np.zeros((0, width), dtype=np.float32)

    num_classes = model.config.num_classes
    probabilities = join(parts["probabilities"], num_classes)
    if not np.isfinite(probabilities).all():
        raise ValueError(
            f"the model returned non-finite probabilities for {int((~np.isfinite(probabilities)).any(axis=1).sum())} "
            f"learner(s) under {perturbation.describe()}; the inputs overflow, so lower the noise level"
        )
    return Predictions(
        probabilities=probabilities,
        gates=join(parts["gates"], len(encoded.modalities)),
        available=join(parts["available"], len(encoded.modalities)).astype(bool),
        shared={m: np.concatenate(v) for m, v in codes["shared"].items() if v},
        private={m: np.concatenate(v) for m, v in codes["private"].items() if v},
        aligned={m: np.concatenate(v) for m, v in codes["aligned"].items() if v},
    )
