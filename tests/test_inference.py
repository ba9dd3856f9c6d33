"""Batched inference and the outcome metrics computed from its probabilities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dsrsd.config import ModelConfig
from dsrsd.data import OuladEncoder
from dsrsd.inference import predict
from dsrsd.metrics import at_risk_probability, outcome_metrics
from dsrsd.model import DSRSDNet
from dsrsd.perturb import Perturbation


@pytest.fixture(scope="module")
def encoded(toy_raw):
    return OuladEncoder.fit(toy_raw).transform(toy_raw)


@pytest.fixture(scope="module")
def model(encoded):
    torch.manual_seed(0)
    sizes = {m: encoded.inputs[m].shape[-1] for m in encoded.modalities}
    kinds = {"profile": "static", "assessments": "sequence", "engagement": "sequence"}
    return DSRSDNet(encoded.modalities, sizes, kinds, ModelConfig(hidden_size=8, align_size=4))


def test_batch_size_invariant(model, encoded):
    whole = predict(model, encoded, batch_size=4096)
    batched = predict(model, encoded, batch_size=5)
    np.testing.assert_allclose(batched.probabilities, whole.probabilities, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(batched.available, whole.available)


def test_probabilities_and_gates(model, encoded):
    predictions = predict(model, encoded)
    assert predictions.probabilities.shape == (len(encoded), 4)
    np.testing.assert_allclose(predictions.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(predictions.available, encoded.present)
    assert predictions.shared == {}


def test_training_mode_restored(model, encoded):
    model.train()
    predict(model, encoded)
    assert model.training
    model.eval()
    predict(model, encoded)
    assert not model.training


def test_knockout_marks_unavailable(model, encoded):
    predictions = predict(model, encoded, Perturbation(knockout=("engagement",)))
    assert not predictions.available[:, 2].any()
    assert (predictions.gates[:, 2] == 0).all()


def test_keep_codes_shapes(model, encoded):
    predictions = predict(model, encoded, keep_codes=True, batch_size=7)
    for codes, width in [(predictions.shared, 8), (predictions.private, 8), (predictions.aligned, 4)]:
        assert set(codes) == set(encoded.modalities)
        for value in codes.values():
            assert value.shape == (len(encoded), width)


def test_outcome_metrics_hand_case():
    # The classes are 0 Distinction, 1 Pass, 2 Fail and 3 Withdrawn, and the last two are at risk.
    labels = np.array([0, 1, 2, 3])
    probabilities = np.array([
        [0.7, 0.1, 0.1, 0.1],
        [0.1, 0.6, 0.2, 0.1],
        [0.1, 0.2, 0.3, 0.4],
        [0.1, 0.1, 0.1, 0.7],
    ])
    np.testing.assert_allclose(at_risk_probability(probabilities), [0.2, 0.3, 0.7, 0.8])
    metrics = outcome_metrics(labels, probabilities)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["at_risk_auc"] == pytest.approx(1.0)
    assert metrics["rows"] == 4
    # Per-class F1 is 1, 1, 0 and 2/3, so the macro mean is (8/3) / 4.
    assert metrics["macro_f1"] == pytest.approx(2.0 / 3.0)


def test_macro_f1_skips_absent_classes():
    # Only Pass (1) and Fail (2) occur or are predicted, so Distinction and Withdrawn add nothing.
    labels = np.array([1, 1, 2, 2])
    probabilities = np.array([
        [0.0, 0.9, 0.1, 0.0],
        [0.0, 0.2, 0.8, 0.0],
        [0.0, 0.1, 0.9, 0.0],
        [0.0, 0.3, 0.7, 0.0],
    ])
    # Pass: precision 1, recall 1/2, F1 2/3. Fail: precision 2/3, recall 1, F1 4/5.
    assert outcome_metrics(labels, probabilities)["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)


def test_auc_undefined_single_group():
    metrics = outcome_metrics(np.array([0, 1, 1]), np.full((3, 4), 0.25))
    assert math.isnan(metrics["at_risk_auc"])
