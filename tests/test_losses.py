"""DSRSD-Net's loss terms on codes built by hand, whose loss values are known in advance."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from scipy.linalg import hadamard

from dsrsd.config import LossConfig
from dsrsd.losses import (
    CANONICAL_RIDGE, alignment_loss, canonical_correlation_loss, canonical_orthogonality_loss, contrastive_loss,
    cross_fitted_r2, cross_private_loss, decorrelation_loss, dsrsd_losses, orthogonality_loss, shared_agreement_loss,
    shared_variance_loss, variance_loss,
)
from dsrsd.model import DSRSDOutput

MODALITIES = ["profile", "assessments", "engagement"]


def make_output(aligned: dict[str, torch.Tensor], available: torch.Tensor | None = None, seed: int = 0) -> DSRSDOutput:
    """Wrap aligned codes in a model output whose logits and other codes are random."""
    generator = torch.Generator().manual_seed(seed)
    batch = len(next(iter(aligned.values())))
    if available is None:
        available = torch.ones(batch, len(aligned), dtype=torch.bool)
    return DSRSDOutput(
        logits=torch.randn(batch, 4, generator=generator),
        shared={m: torch.randn(batch, 6, generator=generator) for m in aligned},
        private={m: torch.randn(batch, 6, generator=generator) for m in aligned},
        aligned=aligned,
        gates=torch.full((batch, len(aligned)), 1.0 / len(aligned)),
        available=available,
    )


def orthogonal_rows(rows: int, columns: int, seed: int) -> torch.Tensor:
    """Return a rows x columns matrix with orthonormal rows, so it keeps the length of a row vector."""
    generator = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(columns, rows, generator=generator, dtype=torch.float64))
    return q.T


def test_orthogonality_zero_for_orthogonal():
    # Columns 1-7 of an 8 x 8 Hadamard matrix are +-1, zero-mean and mutually orthogonal over the
    # batch. Shared codes built from columns 1-3 and private codes from 4-6 span orthogonal
    # subspaces of the batch space, and every row has the same length, so row normalisation
    # keeps them orthogonal.
    basis = torch.as_tensor(hadamard(8), dtype=torch.float64)
    shared = 5.0 * basis[:, 1:4] @ orthogonal_rows(3, 6, seed=1) + 2.0
    private = basis[:, 4:7] @ orthogonal_rows(3, 6, seed=2) - 1.0
    assert float(orthogonality_loss(shared, private)) < 1e-12


def test_orthogonality_positive_for_identical():
    codes = torch.randn(8, 6, generator=torch.Generator().manual_seed(0))
    assert float(orthogonality_loss(codes, codes)) > 0.1
    assert float(orthogonality_loss(codes, 3.0 * codes)) == pytest.approx(float(orthogonality_loss(codes, codes)))


def test_orthogonality_single_row():
    codes = torch.randn(1, 6, requires_grad=True)
    loss = orthogonality_loss(codes, codes)
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert codes.grad is not None


def test_canonical_zero_for_orthogonal():
    # Hadamard columns 1-3 and 4-6 are zero-mean and orthogonal over the batch, so their
    # cross-covariance, and with it every canonical correlation, is zero.
    basis = torch.as_tensor(hadamard(8), dtype=torch.float64)
    shared = 5.0 * basis[:, 1:4] @ orthogonal_rows(3, 6, seed=1) + 2.0
    private = basis[:, 4:7] @ orthogonal_rows(3, 6, seed=2) - 1.0
    assert float(canonical_correlation_loss(shared, private)) < 1e-12


def test_canonical_scale_invariant():
    # The private code adds one shared column to each of its columns of independent noise. Along
    # the all-ones direction the copy has variance 36 and the noise 6. One squared canonical
    # correlation is then near 36 / 42, whatever the scale of either code.
    generator = torch.Generator().manual_seed(0)
    shared = torch.randn(512, 6, generator=generator, dtype=torch.float64)
    noise = torch.randn(512, 6, generator=generator, dtype=torch.float64)
    private = noise + shared[:, :1] @ torch.ones(1, 6, dtype=torch.float64)
    loss = float(canonical_correlation_loss(shared, private))
    assert loss == pytest.approx(36 / 42, abs=0.05)
    assert float(canonical_correlation_loss(100.0 * shared, 1e-3 * private)) == pytest.approx(loss, rel=1e-6)
    assert float(canonical_correlation_loss(shared, noise)) < 0.15


def test_canonical_full_for_linear_map():
    # An invertible map of 4 columns of equal variance makes all 4 canonical correlations 1, each
    # shrunk to 1 / (1 + ridge) by the ridge on both covariances.
    generator = torch.Generator().manual_seed(0)
    shared = torch.randn(4096, 4, generator=generator, dtype=torch.float64)
    mixed = 3.0 * shared @ orthogonal_rows(4, 4, seed=1)
    expected = 4 / (1 + CANONICAL_RIDGE) ** 2
    assert float(canonical_correlation_loss(shared, mixed)) == pytest.approx(expected, rel=0.02)
    assert float(canonical_correlation_loss(shared[:1], mixed[:1])) == 0.0


def test_canonical_pairs_private_with_every_shared():
    # Each private code is the next modality's shared code, so only the pairs across modalities
    # correlate: three of the nine pairs, each with 6 canonical correlations near 1.
    generator = torch.Generator().manual_seed(0)
    output = make_output({m: torch.randn(256, 4, generator=generator) for m in MODALITIES})
    output.shared = {m: torch.randn(256, 6, generator=generator, dtype=torch.float64) for m in MODALITIES}
    output.private = {m: output.shared[MODALITIES[(i + 1) % 3]] for i, m in enumerate(MODALITIES)}
    assert float(canonical_orthogonality_loss(output)) == pytest.approx(3 * 6 / (1 + CANONICAL_RIDGE) ** 2 / 9, rel=0.05)


def test_shared_agreement_rewards_common_code():
    # Shared codes that are linear maps of one another agree in all 6 canonical directions;
    # independent ones only by chance.
    generator = torch.Generator().manual_seed(0)
    output = make_output({m: torch.randn(256, 4, generator=generator) for m in MODALITIES})
    common = torch.randn(256, 6, generator=generator, dtype=torch.float64)
    output.shared = {m: common @ orthogonal_rows(6, 6, seed=i) for i, m in enumerate(MODALITIES)}
    assert float(shared_agreement_loss(output)) == pytest.approx(-6 / (1 + CANONICAL_RIDGE) ** 2, rel=0.05)
    output.shared = {m: torch.randn(256, 6, generator=generator, dtype=torch.float64) for m in MODALITIES}
    assert float(shared_agreement_loss(output)) > -0.5


def test_orthogonality_form_selects_penalty():
    output = make_output(paired_codes(shuffle=True, batch=16))
    labels = torch.tensor([0, 1, 2, 3] * 4)
    covariance = dsrsd_losses(output, labels, LossConfig())["orthogonality"]
    canonical = dsrsd_losses(output, labels, LossConfig(orthogonality_form="canonical"))["orthogonality"]
    assert float(canonical) == pytest.approx(float(canonical_orthogonality_loss(output)))
    assert float(canonical) != pytest.approx(float(covariance))


def test_cross_fitted_near_zero_independent():
    # An in-sample ridge fit of 16 random columns to an independent target reaches R² near 16 / rows.
    # Fitted on other rows, the probe finds nothing.
    generator = torch.Generator().manual_seed(0)
    codes, target = torch.randn(512, 16, generator=generator), torch.randn(512, 1, generator=generator)
    assert float(cross_fitted_r2(codes, target)) < 0.03


def test_cross_fitted_reads_weak_direction():
    # One column carries the target at 1% of the others' scale; standardising brings it back.
    generator = torch.Generator().manual_seed(0)
    target = torch.randn(512, 1, generator=generator)
    codes = torch.cat([torch.randn(512, 15, generator=generator),
                       0.01 * target + 0.001 * torch.randn(512, 1, generator=generator)], dim=1)
    assert float(cross_fitted_r2(codes, target)) > 0.95
    assert float(cross_fitted_r2(codes[:1], target[:1])) == 0.0


def test_cross_private_skips_own_modality():
    generator = torch.Generator().manual_seed(0)
    output = make_output({m: torch.randn(256, 4, generator=generator) for m in MODALITIES})
    output.shared = {m: torch.randn(256, 6, generator=generator, requires_grad=True) for m in MODALITIES}

    # A private code equal to its own shared code is not compared with it.
    output.private = {m: output.shared[m].detach().clone() for m in MODALITIES}
    assert float(cross_private_loss(output)) < 0.05

    # A private code that copies the next modality's shared code is read in one pair of its two.
    output.private = {m: output.shared[MODALITIES[(i + 1) % 3]].detach().clone().requires_grad_()
                      for i, m in enumerate(MODALITIES)}
    loss = cross_private_loss(output)
    assert float(loss.detach()) == pytest.approx(0.5, abs=0.05)
    loss.backward()
    assert all(output.shared[m].grad is None for m in MODALITIES)
    assert all(float(output.private[m].grad.abs().sum()) > 0 for m in MODALITIES)


def test_shared_variance_hinge():
    output = make_output({m: torch.randn(64, 4) for m in MODALITIES})
    generator = torch.Generator().manual_seed(0)
    output.shared = {m: 0.1 * torch.randn(4096, 1, generator=generator) @ torch.ones(1, 6) for m in MODALITIES}
    output.available = torch.ones(4096, 3, dtype=torch.bool)
    # Total standard deviation sqrt(6 * 0.01) = 0.245, so the hinge at 1 is 0.755.
    assert float(shared_variance_loss(output)) == pytest.approx(1 - math.sqrt(0.06), abs=0.01)
    output.shared = {m: 10 * codes for m, codes in output.shared.items()}
    assert float(shared_variance_loss(output)) == 0.0


def test_added_terms_only_when_weighted():
    output = make_output(paired_codes(shuffle=True, batch=16))
    output.shared = {m: 0.1 * codes for m, codes in output.shared.items()}   # below the variance hinge
    labels = torch.tensor([0, 1, 2, 3] * 4)
    assert not {"cross_private", "shared_variance"} & set(dsrsd_losses(output, labels, LossConfig()))
    off = dsrsd_losses(output, labels, LossConfig())["total"]
    terms = dsrsd_losses(output, labels, LossConfig(cross_private_weight=2.0, shared_variance_weight=3.0))
    expected = off + 2.0 * terms["cross_private"] + 3.0 * terms["shared_variance"]
    assert float(terms["total"]) == pytest.approx(float(expected), rel=1e-6)
    assert float(terms["cross_private"]) > 0.0
    assert float(terms["shared_variance"]) > 0.0


def test_decorrelation_zero_for_qr_codes():
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(64, 5, generator=generator, dtype=torch.float64)
    # QR of centred columns gives orthonormal columns with zero mean, so the covariance is diagonal.
    q, _ = torch.linalg.qr(values - values.mean(dim=0))
    codes = q * torch.tensor([1.0, 3.0, 0.5, 2.0, 7.0], dtype=torch.float64) + 4.0
    assert float(decorrelation_loss(codes)) < 1e-20


def test_decorrelation_positive_correlated():
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(64, 1, generator=generator)
    codes = torch.cat([base, base + 0.1 * torch.randn(64, 1, generator=generator), -base], dim=1)
    assert float(decorrelation_loss(codes)) > 0.5


def test_decorrelation_hand_value():
    # The covariance (divisor n - 1 = 1) is [[2, 2], [2, 2]], so the loss is (2^2 + 2^2) / width 2 = 4.
    codes = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
    assert float(decorrelation_loss(codes)) == pytest.approx(4.0)


def test_variance_hinge():
    spread = torch.tensor([[2.0, -3.0], [-2.0, 3.0], [2.0, 3.0], [-2.0, -3.0]])
    assert float(variance_loss(spread)) == 0.0
    constant = torch.ones(4, 2)
    assert float(variance_loss(constant)) == pytest.approx(1.0 - math.sqrt(1e-4))


def paired_codes(shuffle: bool, batch: int = 32, width: int = 8) -> dict[str, torch.Tensor]:
    """Return aligned codes whose rows match across modalities, or are shuffled when `shuffle`."""
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(batch, width, generator=generator)
    codes = {}
    for index, modality in enumerate(MODALITIES):
        noisy = base + 0.05 * torch.randn(batch, width, generator=generator)
        if shuffle and index > 0:
            noisy = noisy[torch.randperm(batch, generator=generator)]
        codes[modality] = noisy
    return codes


def test_contrastive_aligned_below_shuffled():
    aligned = float(contrastive_loss(make_output(paired_codes(shuffle=False)), temperature=0.2))
    shuffled = float(contrastive_loss(make_output(paired_codes(shuffle=True)), temperature=0.2))
    # With random positives InfoNCE is about log(batch) or more. Matched rows bring it well below.
    assert shuffled > math.log(32)
    assert aligned < 1.0


def test_contrastive_ignores_unavailable_rows():
    codes = paired_codes(shuffle=False)
    available = torch.ones(32, 3, dtype=torch.bool)
    available[16:, 1:] = False
    garbage = {m: value.clone() for m, value in codes.items()}
    for modality in MODALITIES[1:]:
        garbage[modality][16:] = torch.randn(16, 8)
    first_half = {m: value[:16] for m, value in codes.items()}

    partial = contrastive_loss(make_output(garbage, available), temperature=0.2)
    expected = contrastive_loss(make_output(first_half), temperature=0.2)
    assert float(partial) == pytest.approx(float(expected), rel=1e-6)


def test_contrastive_without_pairs():
    available = torch.zeros(8, 3, dtype=torch.bool)
    available[:, 0] = True
    loss = contrastive_loss(make_output(paired_codes(shuffle=False, batch=8), available), temperature=0.2)
    assert float(loss) == 0.0


def test_alignment_scale_invariant():
    base = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
    same = make_output({"profile": base, "assessments": 3.0 * base})
    assert float(alignment_loss(same)) == pytest.approx(0.0, abs=1e-6)
    # Unit vectors pointing opposite ways are 2 apart, so the squared distance is 4.
    opposite = make_output({"profile": base, "assessments": -base})
    assert float(alignment_loss(opposite)) == pytest.approx(4.0, rel=1e-6)


def test_total_is_weighted_sum():
    config = LossConfig(task_weight=0.7, contrastive_weight=0.3, alignment_weight=0.11, decorrelation_weight=0.05,
                        variance_weight=0.13, orthogonality_weight=0.4, shared_agreement_weight=0.17, temperature=0.3)
    output = make_output(paired_codes(shuffle=True, batch=16))
    labels = torch.tensor([0, 1, 2, 3] * 4)
    terms = dsrsd_losses(output, labels, config)

    names = ["task", "contrastive", "alignment", "decorrelation", "variance", "orthogonality", "shared_agreement"]
    assert set(terms) == set(names) | {"total"}
    for name in names[:-1]:
        assert float(terms[name]) > 0.0, name
    assert float(terms["shared_agreement"]) < 0.0
    expected = sum(getattr(config, f"{name}_weight") * terms[name] for name in names)
    assert float(terms["total"]) == pytest.approx(float(expected), rel=1e-6)
    assert float(terms["task"]) == pytest.approx(float(F.cross_entropy(output.logits, labels)))
