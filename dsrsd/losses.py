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


# Ridge added to each code's covariance, as a share of its largest eigenvalue. Without it the
# inverse blows up along directions of near-zero variance, such as those outside a low-rank
# shared code, and with 64-wide codes a batch of 256 rows shows sizeable canonical correlations
# by chance alone.
CANONICAL_RIDGE = 0.01


def _ridged_covariance(centered: torch.Tensor) -> torch.Tensor:
    cov = centered.T @ centered / (len(centered) - 1)
    ridge = CANONICAL_RIDGE * torch.linalg.eigvalsh(cov.detach())[-1].clamp(min=1e-8)
    return cov + ridge * torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)


def canonical_correlation_loss(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Sum of squared canonical correlations between two codes of the same rows: rows x D1 and rows x D2.

    This is tr(C11^-1 C12 C22^-1 C21), with ridge-regularised covariances C11 and C22. It lies in
    [0, min(D1, D2)]. It is 0 when no linear combination of one code correlates with one of the
    other. Each pair of directions in which the codes agree adds up to 1, however wide the codes
    are, so one copy of a factor costs as much in 64-wide codes as in one-dimensional ones.
    Rescaling either code does not change it.
    """
    if len(first) < 2:
        return first.sum() * 0.0
    a = first - first.mean(dim=0, keepdim=True)
    b = second - second.mean(dim=0, keepdim=True)
    cross = a.T @ b / (len(a) - 1)                                          # D1 x D2
    a_solved = torch.linalg.solve(_ridged_covariance(a), cross)             # C11^-1 C12
    b_solved = torch.linalg.solve(_ridged_covariance(b), cross.T)           # C22^-1 C21
    return torch.trace(a_solved @ b_solved)


def canonical_orthogonality_loss(output: DSRSDOutput) -> torch.Tensor:
    """Compute the mean canonical correlation loss between each private code and every modality's shared code.

    Pairing a private code with the shared codes of the other modalities too keeps the shared
    factor out of it even while its own shared code does not carry that factor.
    """
    names = list(output.shared)
    terms = []
    for i, private_name in enumerate(names):
        for j, shared_name in enumerate(names):
            rows = output.available[:, i] & output.available[:, j]
            if int(rows.sum()) >= 2:
                terms.append(canonical_correlation_loss(output.shared[shared_name][rows], output.private[private_name][rows]))
    return torch.stack(terms).mean() if terms else _zero(output)


def shared_agreement_loss(output: DSRSDOutput) -> torch.Tensor:
    """Negative mean, over modality pairs, of the sum of squared canonical correlations between their shared codes.

    Minimising it makes each shared code linearly predictable from the others, so it must carry
    what the modalities have in common. Collapse does not help, unlike for the cosine-based
    `alignment_loss`, because a constant code correlates with nothing.
    """
    names = list(output.shared)
    terms = []
    for a, b in combinations(range(len(names)), 2):
        rows = output.available[:, a] & output.available[:, b]
        if int(rows.sum()) >= 2:
            terms.append(-canonical_correlation_loss(output.shared[names[a]][rows], output.shared[names[b]][rows]))
    return torch.stack(terms).mean() if terms else _zero(output)


# Ridge of the cross-fitted probes in `cross_private_loss`, on standardised codes. It is the strength
# that `dsrsd.truth.probe_from_codes` uses, so the penalty detects directions of the private code as
# weak as those the truth probe reads.
CROSS_FIT_RIDGE = 1.0
CROSS_FIT_FOLDS = 4


def cross_fitted_r2(codes: torch.Tensor, target: torch.Tensor, folds: int = CROSS_FIT_FOLDS) -> torch.Tensor:
    """Return the out-of-fold squared correlation between `target` (rows x K) and a ridge probe of it on `codes`.

    Each fold's probe is fitted, without gradient, on the other folds' rows of the standardised
    codes. Its predictions on the held-out rows keep their gradient, so minimising the result moves
    the codes away from what the probe reads. Fitting and scoring on different rows keeps the
    result near 0 for codes that carry nothing of the target, where an in-sample R² would stay near
    (code width / rows). Columns of a wider target count in proportion to their variance.
    """
    rows = torch.arange(len(codes), device=codes.device)
    scores = []
    for fold in range(folds):
        held_out = rows % folds == fold
        fit_codes, fit_target = codes[~held_out].detach(), target[~held_out]
        if int(held_out.sum()) < 2 or len(fit_codes) < 2:
            continue
        mean, std = fit_codes.mean(dim=0), fit_codes.std(dim=0).clamp(min=1e-6)
        x = (fit_codes - mean) / std
        y = fit_target - fit_target.mean(dim=0)
        gram = x.T @ x + CROSS_FIT_RIDGE * torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
        weights = torch.linalg.solve(gram, x.T @ y)                                     # D x K
        predicted = ((codes[held_out] - mean) / std) @ weights                          # rows x K
        actual = target[held_out] - target[held_out].mean(dim=0)
        predicted = predicted - predicted.mean(dim=0)
        correlation = (predicted * actual).sum(dim=0) / (predicted.norm(dim=0) * actual.norm(dim=0) + 1e-8)
        variance = actual.pow(2).sum(dim=0)
        scores.append((correlation.pow(2) * variance).sum() / variance.sum().clamp(min=1e-12))
    return torch.stack(scores).mean() if scores else codes.sum() * 0.0


def cross_private_loss(output: DSRSDOutput) -> torch.Tensor:
    """Compute the mean `cross_fitted_r2` of every other modality's shared code from each private code.

    The shared codes are detached, so the gradient only moves the private codes. Rows count wherever
    both modalities are present: a knocked-out modality is still encoded from its real inputs.
    """
    names = list(output.shared)
    present = output.present if output.present is not None else output.available
    terms = []
    for i, private_name in enumerate(names):
        for j, target_name in enumerate(names):
            rows = present[:, i] & present[:, j]
            if i != j and int(rows.sum()) >= 2 * CROSS_FIT_FOLDS:
                target = output.shared[target_name][rows].detach()
                terms.append(cross_fitted_r2(output.private[private_name][rows], target))
    return torch.stack(terms).mean() if terms else _zero(output)


def shared_variance_loss(output: DSRSDOutput, target_std: float = 1.0) -> torch.Tensor:
    """Compute the mean hinge on each available shared code's total standard deviation, sqrt(tr Cov(s))."""
    terms = []
    for i, m in enumerate(output.shared):
        codes = output.shared[m][output.available[:, i]]
        if len(codes) >= 2:
            terms.append(F.relu(target_std - torch.sqrt(codes.var(dim=0).sum() + 1e-4)))
    return torch.stack(terms).mean() if terms else _zero(output)


def _zero(output: DSRSDOutput) -> torch.Tensor:
    return output.logits.sum() * 0.0


def _orthogonality(output: DSRSDOutput, form: str) -> torch.Tensor:
    if form == "canonical":
        return canonical_orthogonality_loss(output)
    terms = [
        orthogonality_loss(output.shared[m][output.available[:, i]], output.private[m][output.available[:, i]])
        for i, m in enumerate(output.shared)
    ]
    return torch.stack(terms).mean()


def dsrsd_losses(output: DSRSDOutput, labels: torch.Tensor, config: LossConfig) -> dict[str, torch.Tensor]:
    """Compute every loss term and their weighted sum under the key "total"."""
    codes = _available_aligned(output)
    terms = {
        "task": task_loss(output.logits, labels),
        "contrastive": contrastive_loss(output, config.temperature),
        "alignment": alignment_loss(output),
        "decorrelation": decorrelation_loss(codes),
        "variance": variance_loss(codes),
        "orthogonality": _orthogonality(output, config.orthogonality_form),
        "shared_agreement": shared_agreement_loss(output),
    }
    # Terms added after the first checkpoints are computed only when weighted, so runs that leave
    # them off log and train exactly as before.
    if config.cross_private_weight > 0:
        terms["cross_private"] = cross_private_loss(output)
    if config.shared_variance_weight > 0:
        terms["shared_variance"] = shared_variance_loss(output)
    total = (
        config.task_weight * terms["task"]
        + config.contrastive_weight * terms["contrastive"]
        + config.alignment_weight * terms["alignment"]
        + config.decorrelation_weight * terms["decorrelation"]
        + config.variance_weight * terms["variance"]
        + config.orthogonality_weight * terms["orthogonality"]
        + config.shared_agreement_weight * terms["shared_agreement"]
    )
    for name in ("cross_private", "shared_variance"):
        if name in terms:
            total = total + getattr(config, f"{name}_weight") * terms[name]
    terms["total"] = total
    return terms
