"""Shapley values per (modality, stream): exact, complete, and equal to Captum's enumeration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from captum.attr import ShapleyValues

from dsrsd.attribution import STREAMS, _at_risk, stream_baseline, stream_shapley
from dsrsd.checkpoint import load_checkpoint
from dsrsd.config import ModelConfig
from dsrsd.data import OuladEncoder
from dsrsd.inference import batch_tensors, predict
from dsrsd.metrics import at_risk_probability
from dsrsd.model import DSRSDNet
from dsrsd.perturb import Perturbation
from dsrsd.pipeline import encode_for_checkpoint

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "oulad-final-outcome"


@pytest.fixture(scope="module")
def encoded(toy_raw):
    return OuladEncoder.fit(toy_raw).transform(toy_raw)


@pytest.fixture(scope="module")
def model(encoded):
    torch.manual_seed(1)
    sizes = {m: encoded.inputs[m].shape[-1] for m in encoded.modalities}
    kinds = {"profile": "static", "assessments": "sequence", "engagement": "sequence"}
    return DSRSDNet(encoded.modalities, sizes, kinds, ModelConfig(hidden_size=8, align_size=4)).eval()


@pytest.fixture(scope="module")
def baseline(model, encoded):
    clean = predict(model, encoded, keep_codes=True)
    return stream_baseline(clean.shared, clean.private, clean.available, encoded.modalities)


def test_forward_equals_encode_then_fuse(model, encoded):
    inputs, masks, present, knockout = batch_tensors(encoded, np.arange(10), torch.device("cpu"))
    with torch.no_grad():
        output = model(inputs, masks, present, knockout)
        shared, private, _ = model.encode(inputs, masks)
        logits, gates, _ = model.fuse(shared, private, present, knockout)
    torch.testing.assert_close(output.logits, logits)
    torch.testing.assert_close(output.gates, gates)


def test_stream_values_complete_and_match_predict(model, encoded, baseline):
    rows = np.arange(8)
    attribution = stream_shapley(model, encoded, rows, baseline)
    assert attribution.values.shape == (8, 3, len(STREAMS))
    assert attribution.completeness_gap.max() < 1e-5
    expected = at_risk_probability(predict(model, encoded.subset(rows)).probabilities)
    np.testing.assert_allclose(attribution.full, expected, rtol=1e-5, atol=1e-6)


def test_stream_values_equal_captum_enumeration(model, encoded, baseline):
    """Captum's ShapleyValues over all 6! orderings gives the same values as the coalition enumeration."""
    row = 3
    ours = stream_shapley(model, encoded, np.array([row]), baseline).values[0].reshape(-1)

    inputs, masks, present, knockout = batch_tensors(encoded, np.array([row]), torch.device("cpu"))
    with torch.no_grad():
        shared, private, _ = model.encode(inputs, masks)
    modalities = encoded.modalities

    def forward(included: torch.Tensor) -> torch.Tensor:
        count = included.shape[0]
        mixed_shared, mixed_private = {}, {}
        for index, m in enumerate(modalities):
            for stream, (codes, target) in enumerate(((shared, mixed_shared), (private, mixed_private))):
                keep = included[:, 2 * index + stream: 2 * index + stream + 1] > 0.5
                base = torch.as_tensor(baseline[m][stream])
                target[m] = torch.where(keep, codes[m].expand(count, -1), base)
        logits, _, _ = model.fuse(mixed_shared, mixed_private, present.expand(count, -1), knockout.expand(count, -1))
        return _at_risk(logits)

    players = torch.ones(1, 2 * len(modalities))
    with torch.no_grad():
        reference = ShapleyValues(forward).attribute(players, baselines=torch.zeros_like(players),
                                                     perturbations_per_eval=64)[0].numpy()
    np.testing.assert_allclose(ours, reference, atol=1e-6)


def test_knocked_out_modality_streams_get_zero(model, encoded, baseline):
    attribution = stream_shapley(model, encoded, np.arange(6), baseline, Perturbation(knockout=("engagement",)))
    np.testing.assert_allclose(attribution.values[:, 2, :], 0.0, atol=1e-7)
    assert attribution.completeness_gap.max() < 1e-5


def test_learner_at_baseline_gets_zero(model, encoded):
    """A learner whose streams equal the baseline codes differs from the average learner in nothing."""
    rows = np.array([5])
    clean = predict(model, encoded.subset(rows), keep_codes=True)
    own = stream_baseline(clean.shared, clean.private, clean.available, encoded.modalities)
    attribution = stream_shapley(model, encoded, rows, own)
    np.testing.assert_allclose(attribution.values, 0.0, atol=1e-7)


def test_shipped_model_stream_completeness(oulad_dir):
    checkpoint = load_checkpoint(SHIPPED)
    encoded = encode_for_checkpoint(checkpoint, oulad_dir, "test")
    clean = predict(checkpoint.model, encoded, keep_codes=True)
    baseline = stream_baseline(clean.shared, clean.private, clean.available, encoded.modalities)
    rows = np.arange(0, len(encoded), 1499)
    for perturbation in (Perturbation(), Perturbation(knockout=("assessments",), noise={"engagement": 0.5})):
        attribution = stream_shapley(checkpoint.model, encoded, rows, baseline, perturbation)
        assert attribution.completeness_gap.max() < 1e-5
        expected = at_risk_probability(predict(checkpoint.model, encoded, perturbation).probabilities[rows])
        np.testing.assert_allclose(attribution.full, expected, atol=1e-5)
