"""Statistics of the shared and private streams: covariance, correlation, decorrelation, orthogonality."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsrsd.inference import Predictions


@dataclass
class StreamStatistics:
    shared_covariance: np.ndarray          # K x K, aligned shared codes of every available modality
    shared_correlation: np.ndarray         # K x K
    off_diagonal_energy: float             # sum of squared off-diagonal covariances / K (the decorrelation loss)
    mean_abs_correlation: float            # mean |off-diagonal correlation|
    cross_covariance: dict[str, np.ndarray]  # modality -> D x D covariance of shared (rows) vs private (columns)
    mean_abs_cosine: dict[str, float]      # modality -> mean |cos(shared, private)| per learner
    orthogonality: dict[str, float]        # modality -> ||S^T P / N||_F^2 (the orthogonality loss, in [0, 1])
    rows: int


def _covariance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    return a.T @ b / max(len(a) - 1, 1)


def _unit_rows(values: np.ndarray) -> np.ndarray:
    return values / np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-12)


def stream_statistics(predictions: Predictions, modalities: list[str]) -> StreamStatistics:
    """Compute the numbers behind the covariance page from codes returned with `keep_codes=True`.

    Raises:
        ValueError: fewer than two available codes, so no covariance can be estimated.
    """
    aligned = np.concatenate([predictions.aligned[m][predictions.available[:, i]] for i, m in enumerate(modalities)])
    if len(aligned) < 2:
        raise ValueError(f"{len(aligned)} available code(s): a covariance needs at least 2 learners")
    covariance = _covariance(aligned, aligned)
    std = np.sqrt(np.clip(np.diag(covariance), 1e-12, None))
    correlation = covariance / np.outer(std, std)
    off = ~np.eye(len(covariance), dtype=bool)

    cross, cosine, orthogonality = {}, {}, {}
    for i, m in enumerate(modalities):
        rows = predictions.available[:, i]
        shared, private = predictions.shared[m][rows], predictions.private[m][rows]
        if len(shared) < 2:
            continue
        cross[m] = _covariance(shared, private)
        cosine[m] = float(np.abs((_unit_rows(shared) * _unit_rows(private)).sum(axis=1)).mean())
        centred_s = _unit_rows(shared - shared.mean(axis=0))
        centred_p = _unit_rows(private - private.mean(axis=0))
        orthogonality[m] = float(((centred_s.T @ centred_p / len(shared)) ** 2).sum())
    return StreamStatistics(
        shared_covariance=covariance,
        shared_correlation=correlation,
        off_diagonal_energy=float((covariance[off] ** 2).sum() / len(covariance)),
        mean_abs_correlation=float(np.abs(correlation[off]).mean()),
        cross_covariance=cross,
        mean_abs_cosine=cosine,
        orthogonality=orthogonality,
        rows=len(aligned),
    )
