"""DSRSD-Net's loss terms, each a plain function of the model output and the batch.

Letters: B batch, M modalities, D code width, K alignment width.
"""

from __future__ import annotations

from itertools import combinations

import torch
import torch.nn.functional as F

from dsrsd.config import LossConfig
from dsrsd.model import DSRSDOutput


def task_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels)


def _pairs(output: DSRSDOutput):
    """Yield (z_a, z_b) for every pair of modalities, restricted to rows where both are available."""
    names = list(output.aligned)
    for a, b in combinations(range(len(names)), 2):
        rows = output.available[:, a] & output.available[:, b]
        if int(rows.sum()) >= 2:
            yield output.aligned[names[a]][rows], output.aligned[names[b]][rows]


def contrastive_loss(output: DSRSDOutput, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE between modality pairs: one learner's modalities are positives, others negatives."""
    terms = []
    for z_a, z_b in _pairs(output):
        z_a, z_b = F.normalize(z_a, dim=-1), F.normalize(z_b, dim=-1)
        similarity = z_a @ z_b.T / temperature                       # rows x rows
        targets = torch.arange(len(z_a), device=z_a.device)
        terms.append(0.5 * (F.cross_entropy(similarity, targets) + F.cross_entropy(similarity.T, targets)))
    return torch.stack(terms).mean() if terms else _zero(output)


def alignment_loss(output: DSRSDOutput) -> torch.Tensor:
    """Regression-style loss: mean squared distance between a learner's unit-norm aligned codes."""
    terms = [
        (F.normalize(z_a, dim=-1) - F.normalize(z_b, dim=-1)).pow(2).sum(dim=-1).mean()
        for z_a, z_b in _pairs(output)
    ]
    return torch.stack(terms).mean() if terms else _zero(output)


def _available_aligned(output: DSRSDOutput) -> torch.Tensor:
    """Stack every available aligned code of the batch: rows x K."""
    return torch.cat([output.aligned[m][output.available[:, i]] for i, m in enumerate(output.aligned)], dim=0)


def covariance(codes: torch.Tensor) -> torch.Tensor:
    """Sample covariance of rows x K codes: K x K."""
    centered = codes - codes.mean(dim=0, keepdim=True)
    return centered.T @ centered / max(len(codes) - 1, 1)


def decorrelation_loss(codes: torch.Tensor) -> torch.Tensor:
    """Sum of squared off-diagonal covariances of the shared space, divided by its width K.

    It is zero exactly when the K dimensions are uncorrelated over the batch.
    """
    if len(codes) < 2:
        return codes.sum() * 0.0
    cov = covariance(codes)
    off_diagonal = cov - torch.diag(torch.diagonal(cov))
    return off_diagonal.pow(2).sum() / cov.shape[0]


def variance_loss(codes: torch.Tensor, target_std: float = 1.0) -> torch.Tensor:
    """Hinge on each dimension's standard deviation (as in VICReg), against a collapsed shared space."""
    if len(codes) < 2:
        return codes.sum() * 0.0
    std = torch.sqrt(codes.var(dim=0) + 1e-4)
    return F.relu(target_std - std).mean()


def orthogonality_loss(shared: torch.Tensor, private: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius norm of S^T P / B over centred, row-normalised codes.

    This is MISA's difference loss scaled to lie in [0, 1] whatever the batch size B: 0 when
    the shared and private codes span orthogonal subspaces, 1 when both collapse onto one direction.
    """
    if len(shared) < 2:
        return shared.sum() * 0.0
    s = F.normalize(shared - shared.mean(dim=0, keepdim=True), dim=-1)
    p = F.normalize(private - private.mean(dim=0, keepdim=True), dim=-1)
    return (s.T @ p / len(s)).pow(2).sum()


def _zero(output: DSRSDOutput) -> torch.Tensor:
    return output.logits.sum() * 0.0


def dsrsd_losses(output: DSRSDOutput, labels: torch.Tensor, config: LossConfig) -> dict[str, torch.Tensor]:
    """Compute every loss term and their weighted sum under the key "total"."""
    codes = _available_aligned(output)
    orthogonality = [
        orthogonality_loss(output.shared[m][output.available[:, i]], output.private[m][output.available[:, i]])
        for i, m in enumerate(output.shared)
    ]
    terms = {
        "task": task_loss(output.logits, labels),
        "contrastive": contrastive_loss(output, config.temperature),
        "alignment": alignment_loss(output),
        "decorrelation": decorrelation_loss(codes),
        "variance": variance_loss(codes),
        "orthogonality": torch.stack(orthogonality).mean(),
    }
    terms["total"] = (
        config.task_weight * terms["task"]
        + config.contrastive_weight * terms["contrastive"]
        + config.alignment_weight * terms["alignment"]
        + config.decorrelation_weight * terms["decorrelation"]
        + config.variance_weight * terms["variance"]
        + config.orthogonality_weight * terms["orthogonality"]
    )
    return terms
