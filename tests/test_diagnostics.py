"""Stream statistics on hand-built codes whose covariances are known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import hadamard

from dsrsd.diagnostics import (
    cka_matrix, effective_rank, gate_summary, linear_cka, modality_gap, stream_health, stream_statistics,
)
from dsrsd.inference import Predictions

MODALITIES = ["profile", "assessments"]


def decorrelated(rows: int, width: int, seed: int) -> np.ndarray:
    """Codes with exactly zero sample covariance between columns: centred, orthogonal columns."""
    values = np.random.default_rng(seed).normal(size=(rows, width))
    values -= values.mean(axis=0)
    basis, _ = np.linalg.qr(values)
    return basis * np.sqrt(rows - 1)


def predictions_from(shared: dict, private: dict, aligned: dict, available: np.ndarray) -> Predictions:
    rows = len(available)
    return Predictions(np.full((rows, 4), 0.25), np.full((rows, 2), 0.5), available, shared, private, aligned)


def test_decorrelated_shared_space():
    rows = 64
    codes = decorrelated(2 * rows, 4, seed=0)
    aligned = {"profile": codes[:rows], "assessments": codes[rows:]}
    shared = {m: decorrelated(rows, 6, seed=i) for i, m in enumerate(MODALITIES)}
    statistics = stream_statistics(predictions_from(shared, shared, aligned, np.ones((rows, 2), bool)), MODALITIES)
    assert statistics.off_diagonal_energy == pytest.approx(0.0, abs=1e-10)
    np.testing.assert_allclose(np.diag(statistics.shared_correlation), 1.0)
    assert statistics.rows == 2 * rows


def test_correlated_shared_space():
    rows = 64
    base = np.random.default_rng(1).normal(size=(rows, 1))
    codes = np.hstack([base, base * 2 + 0.01, -base])
    aligned = {m: codes for m in MODALITIES}
    shared = {m: codes for m in MODALITIES}
    statistics = stream_statistics(predictions_from(shared, shared, aligned, np.ones((rows, 2), bool)), MODALITIES)
    assert statistics.mean_abs_correlation > 0.99
    assert statistics.off_diagonal_energy > 1.0


def test_orthogonal_streams():
    # Hadamard columns after the first are centred and mutually orthogonal, and every row of a block of
    # them has the same norm, so S^T P stays zero after the rows are scaled to unit length.
    codes = hadamard(16).astype(float)
    rows = len(codes)
    shared = {m: np.hstack([codes[:, 1:8], np.zeros((rows, 8))]) for m in MODALITIES}
    private = {m: np.hstack([np.zeros((rows, 7)), codes[:, 8:16]]) for m in MODALITIES}
    statistics = stream_statistics(predictions_from(shared, private, shared, np.ones((rows, 2), bool)), MODALITIES)
    for modality in MODALITIES:
        assert statistics.orthogonality[modality] == pytest.approx(0.0, abs=1e-10)
        assert statistics.mean_abs_cosine[modality] == pytest.approx(0.0, abs=1e-10)


def test_identical_streams():
    rows = 64
    codes = np.random.default_rng(3).normal(size=(rows, 6))
    shared = {m: codes for m in MODALITIES}
    statistics = stream_statistics(predictions_from(shared, shared, shared, np.ones((rows, 2), bool)), MODALITIES)
    for modality in MODALITIES:
        assert statistics.mean_abs_cosine[modality] == pytest.approx(1.0)
        assert statistics.orthogonality[modality] > 0.1


def test_unavailable_rows_excluded():
    rows = 10
    codes = np.random.default_rng(4).normal(size=(rows, 3))
    available = np.ones((rows, 2), bool)
    available[:, 1] = False
    shared = {m: codes for m in MODALITIES}
    statistics = stream_statistics(predictions_from(shared, shared, shared, available), MODALITIES)
    assert statistics.rows == rows
    assert list(statistics.cross_covariance) == ["profile"]


def test_too_few_codes():
    codes = np.ones((1, 3))
    shared = {m: codes for m in MODALITIES}
    with pytest.raises(ValueError, match="a covariance needs at least 2 learners"):
        stream_statistics(predictions_from(shared, shared, shared, np.array([[True, False]])), MODALITIES)


def test_effective_rank_rank_one():
    direction = np.random.default_rng(5).normal(size=(1, 6))
    codes = np.random.default_rng(6).normal(size=(50, 1)) @ direction
    assert effective_rank(codes) == pytest.approx(1.0, abs=1e-6)


def test_effective_rank_isotropic():
    codes = decorrelated(200, 5, seed=7)
    assert effective_rank(codes) == pytest.approx(5.0, abs=1e-6)


def test_effective_rank_constant():
    assert effective_rank(np.ones((10, 3))) == 0.0


def test_cka_self_and_rotation():
    codes = np.random.default_rng(8).normal(size=(300, 6))
    rotation, _ = np.linalg.qr(np.random.default_rng(9).normal(size=(6, 6)))
    assert linear_cka(codes, codes) == pytest.approx(1.0)
    assert linear_cka(codes, 3.0 * codes @ rotation) == pytest.approx(1.0)


def test_cka_independent_near_zero():
    rng = np.random.default_rng(10)
    assert linear_cka(rng.normal(size=(5000, 4)), rng.normal(size=(5000, 4))) < 0.01


def test_cka_matrix_labels_and_diagonal():
    rows = 40
    rng = np.random.default_rng(11)
    shared = {m: rng.normal(size=(rows, 3)) for m in MODALITIES}
    private = {m: rng.normal(size=(rows, 3)) for m in MODALITIES}
    labels, matrix = cka_matrix(predictions_from(shared, private, shared, np.ones((rows, 2), bool)), MODALITIES)
    assert labels == ["profile shared", "profile private", "assessments shared", "assessments private"]
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    np.testing.assert_allclose(matrix, matrix.T)


def test_health_warns_on_collapse():
    rows = 40
    line = np.random.default_rng(12).normal(size=(rows, 1)) @ np.ones((1, 4))
    healthy = decorrelated(rows, 4, seed=13)
    shared = {"profile": line, "assessments": healthy}
    ranks, warnings = stream_health(predictions_from(shared, shared, shared, np.ones((rows, 2), bool)), MODALITIES)
    assert ranks["profile"]["shared"] == pytest.approx(1.0, abs=1e-6)
    assert any("shared stream of profile has collapsed to about one direction" in text for text in warnings)
    assert not any("assessments has collapsed" in text for text in warnings)


def test_health_warns_on_small_sample():
    rows = 5
    codes = np.random.default_rng(14).normal(size=(rows, 8))
    shared = {m: codes for m in MODALITIES}
    _, warnings = stream_health(predictions_from(shared, shared, shared, np.ones((rows, 2), bool)), MODALITIES)
    assert any("Only 5 learners have profile codes" in text for text in warnings)


def test_modality_gap_zero_when_modalities_coincide():
    codes = np.random.default_rng(3).normal(size=(50, 6))
    available = np.ones((50, 2), bool)
    gap = modality_gap(predictions_from({}, {}, {"profile": codes, "assessments": codes.copy()}, available), MODALITIES)
    assert gap.same_learner == pytest.approx(0.0, abs=1e-12)
    assert gap.ratio == pytest.approx(0.0, abs=1e-12)
    assert gap.different_learners > 1.0
    assert gap.learners == 50


def test_modality_gap_near_one_for_independent_modalities():
    rng = np.random.default_rng(4)
    aligned = {"profile": rng.normal(size=(4000, 6)), "assessments": rng.normal(size=(4000, 6))}
    gap = modality_gap(predictions_from({}, {}, aligned, np.ones((4000, 2), bool)), MODALITIES)
    assert gap.ratio == pytest.approx(1.0, abs=0.05)


def test_modality_gap_centroid_and_missing_learners():
    rng = np.random.default_rng(5)
    base = rng.normal(size=(40, 3))
    aligned = {"profile": base, "assessments": base + np.array([3.0, 4.0, 0.0])}
    available = np.ones((40, 2), bool)
    available[:10, 1] = False
    gap = modality_gap(predictions_from({}, {}, aligned, available), MODALITIES)
    assert gap.centroid_distance["profile / assessments"] == pytest.approx(5.0)
    assert gap.same_learner == pytest.approx(5.0)
    assert gap.learners == 30


def test_modality_gap_needs_two_modalities_together():
    available = np.array([[True, False]] * 5 + [[False, True]] * 5)
    codes = {m: np.zeros((10, 2)) for m in MODALITIES}
    with pytest.raises(ValueError, match="no two modalities"):
        modality_gap(predictions_from({}, {}, codes, available), MODALITIES)


def test_gate_summary_means_over_learners_with_data():
    available = np.array([[True, True], [True, False], [True, True], [True, True]])
    gates = np.array([[0.5, 0.5], [1.0, 0.0], [0.2, 0.8], [0.6, 0.4]])
    clean = Predictions(np.full((4, 4), 0.25), gates, available, {}, {}, {})
    knocked = available.copy()
    knocked[:, 1] = False
    perturbed = Predictions(np.full((4, 4), 0.25), np.where(knocked, 1.0, 0.0), knocked, {}, {}, {})
    rows = {row["modality"]: row for row in gate_summary(clean, perturbed, MODALITIES)}
    assert rows["assessments"]["learners_with_data"] == 3
    assert rows["assessments"]["truly_missing"] == 1
    assert rows["assessments"]["mean_gate"] == pytest.approx((0.5 + 0.8 + 0.4) / 3)
    assert rows["assessments"]["mean_gate_what_if"] == pytest.approx(0.0)
    assert rows["profile"]["mean_gate"] == pytest.approx((0.5 + 1.0 + 0.2 + 0.6) / 4)
    assert rows["profile"]["mean_shift"] == pytest.approx(1.0 - 0.575)
