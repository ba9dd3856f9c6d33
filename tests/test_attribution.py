"""Shapley values per modality and Integrated Gradients per feature, on a toy model and the shipped one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dsrsd.attribution import describe_driver, feature_integrated_gradients, modality_shapley
from dsrsd.checkpoint import load_checkpoint
from dsrsd.config import ModelConfig
from dsrsd.data import OuladEncoder
from dsrsd.data.encoding import Encoded
from dsrsd.inference import predict
from dsrsd.metrics import at_risk_probability
from dsrsd.model import DSRSDNet
from dsrsd.perturb import Perturbation
from dsrsd.pipeline import encode_for_checkpoint

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "oulad-final-outcome"


@pytest.fixture(scope="module")
def encoder(toy_raw):
    return OuladEncoder.fit(toy_raw)


@pytest.fixture(scope="module")
def encoded(encoder, toy_raw):
    return encoder.transform(toy_raw)


@pytest.fixture(scope="module")
def model(encoded):
    torch.manual_seed(0)
    sizes = {m: encoded.inputs[m].shape[-1] for m in encoded.modalities}
    kinds = {"profile": "static", "assessments": "sequence", "engagement": "sequence"}
    return DSRSDNet(encoded.modalities, sizes, kinds, ModelConfig(hidden_size=8, align_size=4)).eval()


def test_shapley_complete(model, encoded):
    rows = np.arange(12)
    attribution = modality_shapley(model, encoded, rows)
    assert attribution.values.shape == (12, 3)
    assert attribution.completeness_gap.max() < 1e-5


def test_shapley_full_matches_predict(model, encoded):
    rows = np.arange(12)
    attribution = modality_shapley(model, encoded, rows)
    expected = at_risk_probability(predict(model, encoded.subset(rows)).probabilities)
    np.testing.assert_allclose(attribution.full, expected, rtol=1e-5, atol=1e-6)


def test_shapley_knocked_out_zero(model, encoded):
    rows = np.arange(12)
    attribution = modality_shapley(model, encoded, rows, Perturbation(knockout=("engagement",)))
    np.testing.assert_allclose(attribution.values[:, 2], 0.0, atol=1e-7)
    assert attribution.completeness_gap.max() < 1e-5


def test_shapley_noise_matches_predict(model, encoded):
    rows = np.arange(12)
    noisy = Perturbation(noise={"assessments": 1.0}, seed=3)
    attribution = modality_shapley(model, encoded, rows, noisy)
    expected = at_risk_probability(predict(model, encoded, noisy).probabilities[rows])
    np.testing.assert_allclose(attribution.full, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("modality", ["profile", "assessments", "engagement"])
def test_integrated_gradients_complete(model, encoder, encoded, modality):
    row = 1
    names = encoder.state["feature_names"][modality]
    attribution = feature_integrated_gradients(model, encoded, row, modality, names, steps=64)
    assert attribution.per_feature.shape == (len(names),)

    single = encoded.subset(np.array([row]))
    baseline = dict(single.inputs)
    baseline[modality] = np.zeros_like(baseline[modality])
    zeroed = Encoded(single.modalities, baseline, single.masks, single.present, single.labels, single.keys)
    actual = at_risk_probability(predict(model, single).probabilities)[0]
    at_baseline = at_risk_probability(predict(model, zeroed).probabilities)[0]
    change = actual - at_baseline
    assert attribution.per_feature.sum() == pytest.approx(change, abs=0.01)
    assert attribution.convergence_delta < 0.01


def test_integrated_gradients_steps_shape(model, encoder, encoded):
    names = encoder.state["feature_names"]["assessments"]
    attribution = feature_integrated_gradients(model, encoded, 0, "assessments", names)
    assert attribution.per_step.shape == (encoded.inputs["assessments"].shape[1], len(names))
    np.testing.assert_allclose(attribution.per_step.sum(axis=0), attribution.per_feature, rtol=1e-5)


def test_describe_driver_names_top(model, encoded):
    attribution = modality_shapley(model, encoded, np.arange(3))
    top = int(np.argmax(np.abs(attribution.values[0])))
    labels = ["The profile", "Assessment history", "Learning-platform engagement"]
    assert describe_driver(attribution, encoded.modalities).startswith(labels[top])


def test_describe_driver_all_knocked_out(model, encoded):
    everything = Perturbation(knockout=("profile", "assessments", "engagement"))
    attribution = modality_shapley(model, encoded, np.arange(3), everything)
    assert describe_driver(attribution, encoded.modalities).startswith("No modality changes this prediction")


def test_shipped_model_shapley(oulad_dir):
    checkpoint = load_checkpoint(SHIPPED)
    encoded = encode_for_checkpoint(checkpoint, oulad_dir, "test")
    rows = np.arange(0, len(encoded), 997)
    attribution = modality_shapley(checkpoint.model, encoded, rows)
    assert attribution.completeness_gap.max() < 1e-5
    # Assessment history carries the most information at the end of the course.
    mean_share = np.abs(attribution.values).mean(axis=0)
    assert int(np.argmax(mean_share)) == encoded.modalities.index("assessments")
