"""Explain one learner's at-risk probability: per modality (Shapley) and per feature (Integrated Gradients).

Letters: B batch, M modalities, T steps, F features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import IntegratedGradients, ShapleyValues

from dsrsd.data.encoding import Encoded
from dsrsd.inference import batch_tensors
from dsrsd.metrics import AT_RISK_INDEX
from dsrsd.model import DSRSDNet
from dsrsd.perturb import Perturbation, add_noise, knockout_mask


@dataclass
class ModalityAttribution:
    """Shapley values of each modality for the at-risk probability of N learners."""

    values: np.ndarray       # N x M
    full: np.ndarray         # N, at-risk probability with every available modality
    empty: np.ndarray        # N, at-risk probability with none

    @property
    def completeness_gap(self) -> np.ndarray:
        """|sum of Shapley values - (full - empty)| per learner; exact Shapley values make it ~0."""
        return np.abs(self.values.sum(axis=1) - (self.full - self.empty))


@dataclass
class FeatureAttribution:
    """Integrated Gradients of the at-risk probability over one modality's input features."""

    modality: str
    per_feature: np.ndarray          # F, summed over steps for a sequence modality
    per_step: np.ndarray | None      # T x F for a sequence modality
    feature_names: list[str]
    convergence_delta: float         # Captum's completeness error of the path integral


def _at_risk(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits, dim=-1)[:, AT_RISK_INDEX].sum(dim=-1)


def modality_shapley(model: DSRSDNet, encoded: Encoded, rows: np.ndarray,
                     perturbation: Perturbation | None = None) -> ModalityAttribution:
    """Exact Shapley values of each modality, with knocking a modality out as its removal.

    With three modalities all 3! orderings are enumerated, so the values are exact and sum to the
    difference between the full and the empty prediction. A truly missing modality can get a nonzero
    value, because the model reads the absence itself (for example no assessment submitted) as
    evidence, and removing the modality hides that fact too. Modalities knocked out by
    `perturbation` get 0.
    """
    perturbation = perturbation or Perturbation()
    perturbed = add_noise(encoded, perturbation)
    device = next(model.parameters()).device
    inputs, masks, present, _ = batch_tensors(perturbed, rows, device)
    forced_out = torch.as_tensor(knockout_mask(encoded.modalities, len(rows), perturbation.knockout), device=device)

    def forward(included: torch.Tensor) -> torch.Tensor:
        # Captum stacks several coalitions along the batch: repeat the learners to match.
        repeats = included.shape[0] // len(rows)
        expand = {m: v.repeat((repeats,) + (1,) * (v.ndim - 1)) for m, v in inputs.items()}
        expand_masks = {m: v.repeat(repeats, 1) for m, v in masks.items()}
        knockout = (included < 0.5) | forced_out.repeat(repeats, 1)
        return _at_risk(model(expand, expand_masks, present.repeat(repeats, 1), knockout).logits)

    ones = torch.ones(len(rows), len(encoded.modalities), device=device)
    zeros = torch.zeros_like(ones)
    with torch.no_grad():
        values = ShapleyValues(forward).attribute(ones, baselines=zeros, perturbations_per_eval=8)
        full = forward(ones)
        empty = forward(zeros)
    return ModalityAttribution(values.cpu().numpy(), full.cpu().numpy(), empty.cpu().numpy())


def feature_integrated_gradients(model: DSRSDNet, encoded: Encoded, row: int, modality: str,
                                 feature_names: list[str], perturbation: Perturbation | None = None,
                                 steps: int = 32) -> FeatureAttribution:
    """Integrated Gradients of one learner's at-risk probability over one modality's inputs.

    The baseline is all zeros: the training mean of every standardised feature, no category for
    one-hot columns, and an all-zero step. Other modalities stay at their real values.
    """
    perturbation = perturbation or Perturbation()
    perturbed = add_noise(encoded, perturbation)
    device = next(model.parameters()).device
    rows = np.array([row])
    inputs, masks, present, _ = batch_tensors(perturbed, rows, device)
    knockout = torch.as_tensor(knockout_mask(encoded.modalities, 1, perturbation.knockout), device=device)

    def forward(values: torch.Tensor) -> torch.Tensor:
        count = values.shape[0]
        batch = {m: (values if m == modality else v.expand((count,) + v.shape[1:])) for m, v in inputs.items()}
        batch_masks = {m: v.expand(count, -1) for m, v in masks.items()}
        return _at_risk(model(batch, batch_masks, present.expand(count, -1), knockout.expand(count, -1)).logits)

    target = inputs[modality]
    # cuDNN's GRU backward only runs in training mode; the native kernel has no such limit.
    with torch.backends.cudnn.flags(enabled=False):
        attributions, delta = IntegratedGradients(forward).attribute(
            target, baselines=torch.zeros_like(target), n_steps=steps, return_convergence_delta=True,
        )
    values = attributions[0].detach().cpu().numpy()
    per_step = values if values.ndim == 2 else None
    per_feature = values.sum(axis=0) if values.ndim == 2 else values
    return FeatureAttribution(modality, per_feature, per_step, list(feature_names), float(delta.abs().max()))


STREAMS = ("shared", "private")


@dataclass
class StreamAttribution:
    """Shapley values of every (modality, stream) pair for the at-risk probability of N learners."""

    values: np.ndarray       # N x M x 2, streams ordered as STREAMS
    full: np.ndarray         # N, at-risk probability with every stream as encoded
    baseline: np.ndarray     # N, at-risk probability with every stream replaced by its baseline code

    @property
    def completeness_gap(self) -> np.ndarray:
        """|sum of the values - (full - baseline)| per learner; exact enumeration makes it float error."""
        return np.abs(self.values.sum(axis=(1, 2)) - (self.full - self.baseline))


def stream_baseline(shared: dict[str, np.ndarray], private: dict[str, np.ndarray], available: np.ndarray,
                    modalities: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Mean shared and private code of each modality over the learners that have it (zeros if none)."""
    baseline = {}
    for index, modality in enumerate(modalities):
        rows = available[:, index]
        width = shared[modality].shape[1]
        if rows.any():
            baseline[modality] = (shared[modality][rows].mean(axis=0), private[modality][rows].mean(axis=0))
        else:
            baseline[modality] = (np.zeros(width, np.float32), np.zeros(width, np.float32))
    return baseline


def _coalitions(players: int) -> np.ndarray:
    """Enumerate every subset of `players` as a 2^P x P bool matrix: row r includes player p if bit p of r is set."""
    return (np.arange(2 ** players)[:, None] >> np.arange(players)[None, :]) & 1 == 1


def _shapley_from_coalitions(values: np.ndarray, coalitions: np.ndarray) -> np.ndarray:
    """Exact Shapley values from the value of every coalition: values is 2^P x N, returns N x P."""
    players = coalitions.shape[1]
    sizes = coalitions.sum(axis=1)
    weights = np.array([math.factorial(s) * math.factorial(players - s - 1) / math.factorial(players)
                        if s < players else 0.0 for s in sizes])
    result = np.zeros((values.shape[1], players))
    for player in range(players):
        without = np.flatnonzero(~coalitions[:, player])
        with_player = without + (1 << player)
        result[:, player] = (weights[without, None] * (values[with_player] - values[without])).sum(axis=0)
    return result


def stream_shapley(model: DSRSDNet, encoded: Encoded, rows: np.ndarray,
                   baseline: dict[str, tuple[np.ndarray, np.ndarray]],
                   perturbation: Perturbation | None = None) -> StreamAttribution:
    """Exact Shapley values of the shared and the private stream of every modality.

    A stream leaves a coalition by being replaced with its baseline code (see `stream_baseline`), so
    each value measures how much this learner's own stream moves the at-risk probability compared with
    an average learner's. All 2^(2M) coalitions are evaluated in one batch per learner, so the values
    are exact and sum to full - baseline. Streams of a modality that is knocked out or truly missing
    have zero gate and get 0.
    """
    perturbation = perturbation or Perturbation()
    perturbed = add_noise(encoded, perturbation)
    modalities = encoded.modalities
    device = next(model.parameters()).device
    coalitions = _coalitions(2 * len(modalities))                                   # C x 2M
    include = torch.as_tensor(coalitions, device=device).unsqueeze(-1)              # C x 2M x 1
    knockout_all = knockout_mask(modalities, len(rows), perturbation.knockout)
    values, full, empty = [], [], []
    with torch.no_grad():
        for position, row in enumerate(rows):
            inputs, masks, present, _ = batch_tensors(perturbed, np.array([row]), device)
            shared, private, _ = model.encode(inputs, masks)
            mixed = {}
            for index, modality in enumerate(modalities):
                for stream, codes in enumerate((shared, private)):
                    base = torch.as_tensor(baseline[modality][stream], device=device)
                    chosen = include[:, 2 * index + stream]
                    mixed[(modality, stream)] = torch.where(chosen, codes[modality].expand(len(coalitions), -1), base)
            knockout = torch.as_tensor(knockout_all[position:position + 1], device=device).expand(len(coalitions), -1)
            logits, _, _ = model.fuse({m: mixed[(m, 0)] for m in modalities}, {m: mixed[(m, 1)] for m in modalities},
                                      present.expand(len(coalitions), -1), knockout)
            at_risk = _at_risk(logits).cpu().numpy().astype(np.float64)                # C
            values.append(at_risk)
            full.append(at_risk[-1])
            empty.append(at_risk[0])
    shapley = _shapley_from_coalitions(np.stack(values, axis=1), coalitions)       # N x 2M
    return StreamAttribution(shapley.reshape(len(rows), len(modalities), 2), np.array(full), np.array(empty))


def describe_driver(attribution: ModalityAttribution, modalities: list[str], index: int = 0) -> str:
    """Describe in plain words which modality moves this learner's at-risk probability most."""
    values = attribution.values[index]
    if not np.any(np.abs(values) > 1e-6):
        return "No modality changes this prediction: every modality is knocked out, or none moves it."
    top = int(np.argmax(np.abs(values)))
    direction = "raises" if values[top] > 0 else "lowers"
    labels = {"profile": "The profile", "assessments": "Assessment history", "engagement": "Learning-platform engagement"}
    name = labels.get(modalities[top], modalities[top].replace("_", " ").capitalize())
    return (f"{name} drives this prediction: it {direction} the at-risk probability by "
            f"{abs(values[top]) * 100:.1f} percentage points.")
