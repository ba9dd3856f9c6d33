"""Every model kind trains for a step on synthetic data and round-trips through its checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dsrsd.checkpoint import load_checkpoint, save_checkpoint
from dsrsd.config import GBDTConfig, LossConfig, ModelConfig, TrainConfig
from dsrsd.data import OuladEncoder
from dsrsd.inference import predict
from dsrsd.model import architecture_for, build_model
from dsrsd.model.gbdt import GradientBoostedTrees, fit_gbdt, gbdt_features
from dsrsd.perturb import Perturbation
from dsrsd.training import train_model

SMALL = ModelConfig(hidden_size=16, align_size=8)
NEURAL = ["dsrsd-net", "single:profile", "single:assessments", "single:engagement", "early-fusion", "late-fusion",
          "co-attention"]
DATA_INFO = {"dataset": "oulad", "task": "final_outcome", "cutoff": "end", "validation_seed": 0}


@pytest.fixture(scope="module")
def toy(toy_raw):
    """Return (encoder, encoded) of the synthetic registrations, whose engagement is a weekly sequence."""
    encoder = OuladEncoder.fit(toy_raw)
    return encoder, encoder.transform(toy_raw)


@pytest.mark.parametrize("architecture", NEURAL)
def test_neural_kind_round_trips(architecture, toy, tmp_path):
    encoder, encoded = toy
    result = train_model(encoded, encoded, encoder.state["kinds"], SMALL, LossConfig(), TrainConfig(epochs=1, batch_size=16),
                         torch.device("cpu"), architecture=architecture)
    assert len(result.history) == 1
    assert np.isfinite(result.history[0].losses["total"])
    knockout = Perturbation(knockout=("assessments",))
    before = predict(result.model, encoded, knockout).probabilities

    path = save_checkpoint(tmp_path / "model", result.model, encoder, SMALL, LossConfig(), TrainConfig(), DATA_INFO, {},
                           architecture=architecture)
    loaded = load_checkpoint(path)
    assert loaded.architecture == architecture
    assert type(loaded.model) is type(result.model)
    np.testing.assert_allclose(predict(loaded.model, encoded, knockout).probabilities, before, atol=1e-6)
    np.testing.assert_allclose(before.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("architecture", NEURAL[1:])
def test_baseline_gates_cover_available(architecture, toy):
    encoder, encoded = toy
    steps = {m: encoded.inputs[m].shape[1] if encoded.inputs[m].ndim == 3 else 0 for m in encoded.modalities}
    sizes = {m: encoded.inputs[m].shape[-1] for m in encoded.modalities}
    model = build_model(architecture, encoded.modalities, sizes, encoder.state["kinds"], steps, SMALL)
    output = predict(model, encoded, Perturbation(knockout=("engagement",)))
    engagement = encoded.modalities.index("engagement")
    assert not output.available[:, engagement].any()
    assert (output.gates[:, engagement] == 0).all()
    assert output.shared == {}


def test_single_model_ignores_other_modalities(toy):
    encoder, encoded = toy
    sizes = {m: encoded.inputs[m].shape[-1] for m in encoded.modalities}
    model = build_model("single:profile", encoded.modalities, sizes, encoder.state["kinds"], {}, SMALL)
    clean = predict(model, encoded).probabilities
    others_out = predict(model, encoded, Perturbation(knockout=("assessments", "engagement"))).probabilities
    np.testing.assert_array_equal(clean, others_out)


def test_architecture_names():
    modalities = ["profile", "assessments", "engagement"]
    assert architecture_for("early", modalities) == "early-fusion"
    assert architecture_for("single:engagement", modalities) == "single:engagement"
    with pytest.raises(ValueError, match="single:clicks"):
        architecture_for("single:clicks", modalities)
    with pytest.raises(ValueError, match="use one of"):
        architecture_for("transformer", modalities)


@pytest.fixture(scope="module")
def gbdt_fit(toy):
    _, encoded = toy
    return fit_gbdt(encoded, encoded, GBDTConfig(max_iter=15, min_samples_leaf=3), seed=0)


def test_gbdt_trees_match_sklearn(gbdt_fit, toy):
    _, encoded = toy
    features = gbdt_features(encoded)
    expected = list(gbdt_fit.estimator.staged_predict_proba(features))[gbdt_fit.best_iteration - 1]
    ours = gbdt_fit.model.predict_proba(features)[:, gbdt_fit.estimator.classes_]
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)

    every_iteration = GradientBoostedTrees.from_sklearn(encoded.modalities, gbdt_fit.estimator)
    assert len(every_iteration.trees.output) == 15 * len(gbdt_fit.estimator.classes_)
    ours = every_iteration.predict_proba(features)[:, gbdt_fit.estimator.classes_]
    np.testing.assert_allclose(ours, gbdt_fit.estimator.predict_proba(features), rtol=1e-9, atol=1e-12)


def test_gbdt_round_trips_without_pickle(gbdt_fit, toy, tmp_path):
    encoder, encoded = toy
    path = save_checkpoint(tmp_path / "gbdt", gbdt_fit.model, encoder, GBDTConfig(max_iter=15), None, TrainConfig(),
                           DATA_INFO, {}, architecture="gbdt")
    assert (path / "model.safetensors").read_bytes()[:1] != b"\x80"
    loaded = load_checkpoint(path)
    assert isinstance(loaded.model, GradientBoostedTrees)
    for perturbation in (Perturbation(), Perturbation(knockout=("profile", "engagement"))):
        np.testing.assert_array_equal(predict(loaded.model, encoded, perturbation).probabilities,
                                      predict(gbdt_fit.model, encoded, perturbation).probabilities)


def test_gbdt_features_hide_knocked_out(toy):
    _, encoded = toy
    knockout = np.zeros_like(encoded.present)
    knockout[:, encoded.modalities.index("profile")] = True
    features = gbdt_features(encoded, knockout)
    profile_width = encoded.inputs["profile"].shape[1]
    assert np.isnan(features[:, :profile_width]).all()
    assert not np.isnan(features[:, profile_width:]).any()
    # State columns: available then truly missing, both 0 for the knocked-out profile.
    state = features[:, -2 * len(encoded.modalities):]
    assert (state[:, 0] == 0).all()
    assert (state[:, len(encoded.modalities)] == 0).all()
