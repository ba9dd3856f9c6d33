"""Stream statistics on hand-built codes whose covariances are known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import hadamard

from dsrsd.diagnostics import stream_statistics
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
