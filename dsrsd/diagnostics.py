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
    private_covariance: dict[str, np.ndarray]  # modality -> D x D covariance of the private codes
    mean_abs_cosine: dict[str, float]      # modality -> mean |cos(shared, private)| per learner
    orthogonality: dict[str, float]        # modality -> ||S^T P / N||_F^2 (the orthogonality loss, in [0, 1])
    rows: int


def _covariance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    return a.T @ b / max(len(a) - 1, 1)


def _unit_rows(values: np.ndarray) -> np.ndarray:
    return values / np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-12)


def correlation_from_covariance(covariance: np.ndarray) -> np.ndarray:
    """Scale a covariance matrix to correlations; a constant dimension gets correlation 0 off the diagonal."""
    std = np.sqrt(np.clip(np.diag(covariance), 1e-12, None))
    return covariance / np.outer(std, std)


def stream_statistics(predictions: Predictions, modalities: list[str]) -> StreamStatistics:
    """Compute the numbers behind the covariance page from codes returned with `keep_codes=True`.

    Raises:
        ValueError: fewer than two available codes, so no covariance can be estimated.
    """
    aligned = np.concatenate([predictions.aligned[m][predictions.available[:, i]] for i, m in enumerate(modalities)])
    if len(aligned) < 2:
        raise ValueError(f"{len(aligned)} available code(s): a covariance needs at least 2 learners")
    covariance = _covariance(aligned, aligned)
    correlation = correlation_from_covariance(covariance)
    off = ~np.eye(len(covariance), dtype=bool)

    cross, private_covariance, cosine, orthogonality = {}, {}, {}, {}
    for i, m in enumerate(modalities):
        rows = predictions.available[:, i]
        shared, private = predictions.shared[m][rows], predictions.private[m][rows]
        if len(shared) < 2:
            continue
        cross[m] = _covariance(shared, private)
        private_covariance[m] = _covariance(private, private)
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
        private_covariance=private_covariance,
        mean_abs_cosine=cosine,
        orthogonality=orthogonality,
        rows=len(aligned),
    )


def effective_rank(codes: np.ndarray) -> float:
    """Effective rank of rows x D codes: exp of the entropy of the normalised singular values.

    Roy and Vetterli, "The effective rank: a measure of effective dimensionality" (EUSIPCO 2007).
    It is 1 for codes on one line through their mean and D for isotropic codes; 0 for constant codes.
    """
    centred = codes - codes.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    total = singular.sum()
    if total <= 1e-12:
        return 0.0
    share = singular[singular > 1e-12 * total] / total
    return float(np.exp(-(share * np.log(share)).sum()))


def linear_cka(a: np.ndarray, b: np.ndarray) -> float:
    """Linear centred kernel alignment of two codes of the same rows (Kornblith et al., ICML 2019).

    1 for codes that are rotations or scalings of each other, near 0 for independent codes when the
    rows far outnumber the widths.
    """
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    cross = np.linalg.norm(b.T @ a) ** 2
    norms = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    return float(cross / norms) if norms > 1e-12 else 0.0


def cka_matrix(predictions: Predictions, modalities: list[str]) -> tuple[list[str], np.ndarray]:
    """Linear CKA between every (modality, stream) pair, over the learners available in both.

    Returns the labels ("profile shared", ...) and a symmetric matrix; a pair with fewer than two
    learners in common gets NaN.
    """
    labels, codes, rows = [], [], []
    for index, modality in enumerate(modalities):
        for stream in ("shared", "private"):
            labels.append(f"{modality} {stream}")
            codes.append(getattr(predictions, stream)[modality])
            rows.append(predictions.available[:, index])
    matrix = np.full((len(labels), len(labels)), np.nan)
    for i in range(len(labels)):
        for j in range(i, len(labels)):
            both = rows[i] & rows[j]
            if both.sum() >= 2:
                matrix[i, j] = matrix[j, i] = linear_cka(codes[i][both], codes[j][both])
    return labels, matrix


def stream_health(predictions: Predictions, modalities: list[str]) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Effective rank per (modality, stream) and plain-language warnings about collapse or small samples.

    Returns ({modality: {stream: effective rank}}, warnings).
    """
    ranks: dict[str, dict[str, float]] = {}
    warnings: list[str] = []
    for index, modality in enumerate(modalities):
        rows = predictions.available[:, index]
        ranks[modality] = {}
        for stream in ("shared", "private"):
            codes = getattr(predictions, stream)[modality][rows]
            if len(codes) < 2:
                continue
            rank = effective_rank(codes)
            ranks[modality][stream] = rank
            width = codes.shape[1]
            if codes.var(axis=0).sum() < 1e-8:
                warnings.append(f"The {stream} stream of {modality} has collapsed: its codes barely vary.")
            elif rank < 1.5:
                warnings.append(f"The {stream} stream of {modality} has collapsed to about one direction "
                                f"(effective rank {rank:.2f} of {width}).")
            if len(codes) < 2 * width:
                warnings.append(f"Only {len(codes)} learners have {modality} codes, fewer than twice the code "
                                f"width ({width}), so its covariance estimates mean little.")
    return ranks, warnings


@dataclass
class ModalityGap:
    """How far apart one learner's modalities sit in a stream, against a baseline of different learners."""

    same_learner: float           # mean distance between two modalities' codes of the same learner
    different_learners: float     # mean distance between two modalities' codes of different learners
    centroid_distance: dict[str, float]   # "a / b" -> distance between the two modalities' mean codes
    learners: int                 # learners with at least two available modalities

    @property
    def ratio(self) -> float:
        """same_learner / different_learners: near 0 when aligned, near 1 when a learner's modalities do not meet."""
        return self.same_learner / self.different_learners if self.different_learners > 0 else float("nan")


def modality_gap(predictions: Predictions, modalities: list[str], stream: str = "aligned", seed: int = 0) -> ModalityGap:
    """Measure the gap between modalities in `stream` ("aligned" or "shared") over the available codes.

    The baseline pairs each learner's code in one modality with another learner's code in the other,
    by a fixed random permutation, so the ratio compares like with like.

    Raises:
        ValueError: no two modalities are available together for at least two learners.
    """
    codes = getattr(predictions, stream)
    available = predictions.available
    rng = np.random.default_rng(seed)
    same, different, centroids, learners = [], [], {}, np.zeros(len(available), bool)
    for i, first in enumerate(modalities):
        for j in range(i + 1, len(modalities)):
            second = modalities[j]
            both = np.flatnonzero(available[:, i] & available[:, j])
            if len(both) < 2:
                continue
            learners[both] = True
            a, b = codes[first][both], codes[second][both]
            same.append(np.linalg.norm(a - b, axis=1))
            order = rng.permutation(len(both))    # pairs learner order[k] with learner order[k + 1]
            different.append(np.linalg.norm(a[order] - b[np.roll(order, -1)], axis=1))
            centroids[f"{first} / {second}"] = float(np.linalg.norm(a.mean(axis=0) - b.mean(axis=0)))
    if not same:
        raise ValueError("no two modalities are available together for two or more learners")
    return ModalityGap(float(np.concatenate(same).mean()), float(np.concatenate(different).mean()), centroids,
                       int(learners.sum()))


def gate_summary(clean: Predictions, perturbed: Predictions, modalities: list[str]) -> list[dict]:
    """Per modality: learners with data, mean fusion gate clean and under a what-if, and the mean shift.

    `clean` must have no knockout, so that its `available` marks the learners that truly have data.
    Means are over those learners; a learner without the modality always has gate 0.
    """
    rows = []
    for index, modality in enumerate(modalities):
        present = clean.available[:, index]
        before = clean.gates[present, index]
        after = perturbed.gates[present, index]
        rows.append({
            "modality": modality,
            "learners_with_data": int(present.sum()),
            "truly_missing": int((~present).sum()),
            "mean_gate": float(before.mean()) if len(before) else float("nan"),
            "mean_gate_what_if": float(after.mean()) if len(after) else float("nan"),
            "mean_shift": float((after - before).mean()) if len(before) else float("nan"),
        })
    return rows
