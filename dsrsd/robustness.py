"""Robustness sweeps: test metrics with modalities knocked out or made noisy, and their retention.

Retention of a metric is its value under the perturbation divided by its value on the full, clean
input, so 1.0 means nothing was lost. The summary number `knockout_retention` is the mean, over the
modalities, of the at-risk AUC retention with that one modality knocked out.
"""

from __future__ import annotations

from itertools import combinations
from typing import Callable

import numpy as np

from dsrsd.data.encoding import Encoded
from dsrsd.inference import predict
from dsrsd.metrics import outcome_metrics
from dsrsd.perturb import Perturbation

METRICS = ("at_risk_auc", "accuracy", "macro_f1")


def knockout_subsets(modalities: list[str]) -> list[tuple[str, ...]]:
    """List every non-empty proper subset of the modalities, smallest first."""
    return [subset for size in range(1, len(modalities)) for subset in combinations(modalities, size)]


def sweep_perturbations(modalities: list[str], noise_levels: list[float], seed: int = 0) -> list[Perturbation]:
    """List the clean input, every knockout subset, then each modality's noise at each level."""
    for level in noise_levels:
        if not np.isfinite(level) or level <= 0:
            raise ValueError(f"invalid noise level {level!r}: use standard deviations above 0")
    perturbations = [Perturbation(seed=seed)]
    perturbations += [Perturbation(knockout=subset, seed=seed) for subset in knockout_subsets(modalities)]
    perturbations += [Perturbation(noise={m: float(level)}, seed=seed) for m in modalities for level in noise_levels]
    return perturbations


def describe_row(perturbation: Perturbation, modalities: list[str]) -> dict:
    """Name a perturbation as table columns: kind, present modalities, noisy modality and level."""
    if perturbation.knockout:
        kind = "knockout"
    elif perturbation.noise:
        kind = "noise"
    else:
        kind = "none"
    noisy = next(iter(perturbation.noise), "")
    return {
        "perturbation": kind,
        "present": "+".join(m for m in modalities if m not in perturbation.knockout),
        "knocked_out": "+".join(perturbation.knockout),
        "noise_modality": noisy,
        "noise_std": float(perturbation.noise.get(noisy, 0.0)),
    }


def robustness_sweep(model, encoded: Encoded, noise_levels: list[float], seed: int = 0,
                     on_step: Callable[[int, int], None] | None = None) -> list[dict]:
    """Evaluate `model` on `encoded` under every sweep perturbation, and return one dict per perturbation.

    Each row contains the metrics and, for each, `*_retention` relative to the clean row (NaN when the
    clean value is 0 or undefined). `on_step(done, total)` reports progress.
    """
    perturbations = sweep_perturbations(encoded.modalities, noise_levels, seed)
    rows = []
    for index, perturbation in enumerate(perturbations):
        metrics = outcome_metrics(encoded.labels, predict(model, encoded, perturbation).probabilities)
        rows.append({**describe_row(perturbation, encoded.modalities), **{name: metrics[name] for name in METRICS}})
        if on_step is not None:
            on_step(index + 1, len(perturbations))
    clean = rows[0]
    for row in rows:
        for name in METRICS:
            reference = clean[name]
            row[f"{name}_retention"] = row[name] / reference if np.isfinite(reference) and reference > 0 else float("nan")
    return rows


def knockout_retention(rows: list[dict], modalities: list[str]) -> float:
    """Mean at-risk AUC retention over the single-modality knockouts of one sweep."""
    values = [row["at_risk_auc_retention"] for row in rows
              if row["perturbation"] == "knockout" and row["knocked_out"] in modalities]
    return float(np.mean(values)) if values else float("nan")
