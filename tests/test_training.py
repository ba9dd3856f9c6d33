"""A short training run on a sample of the real registrations, early stopping and modality dropout."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dsrsd.config import LossConfig, ModelConfig, TrainConfig
from dsrsd.data import OuladEncoder, default_split
from dsrsd.inference import predict
from dsrsd.metrics import outcome_metrics
from dsrsd.training import modality_dropout, resolve_device, train_model

SMALL_MODEL = ModelConfig(hidden_size=16, align_size=8)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def samples(raw_end):
    """Return (train, validation, kinds): 2,000 training and 800 validation registrations, encoded."""
    split = default_split(raw_end.keys)
    encoder = OuladEncoder.fit(raw_end.subset(split == "train"))
    encoded = encoder.transform(raw_end)
    rng = np.random.default_rng(0)
    train_rows = rng.choice(np.flatnonzero(split == "train"), 2_000, replace=False)
    validation_rows = rng.choice(np.flatnonzero(split == "validation"), 800, replace=False)
    return encoded.subset(train_rows), encoded.subset(validation_rows), encoder.state["kinds"]


@pytest.fixture(scope="module")
def two_epoch_run(samples):
    """Train for two epochs and return (result, epoch logs, batch progress calls)."""
    train, validation, kinds = samples
    epochs, batches = [], []
    result = train_model(
        train, validation, kinds, SMALL_MODEL, LossConfig(), TrainConfig(epochs=2, batch_size=128), CPU,
        on_epoch=epochs.append, on_batch=lambda done, total: batches.append((done, total)),
    )
    return result, epochs, batches


def test_history_finite(two_epoch_run):
    result, _, _ = two_epoch_run
    assert [entry.epoch for entry in result.history] == [1, 2]
    for entry in result.history:
        assert {"total", "task", "contrastive", "alignment", "decorrelation", "variance", "orthogonality"} <= set(entry.losses)
        for name, value in entry.losses.items():
            assert math.isfinite(value), name
        assert math.isfinite(entry.validation["at_risk_auc"])
        assert entry.seconds > 0


def test_validation_auc_above_chance(two_epoch_run, samples):
    result, _, _ = two_epoch_run
    _, validation, _ = samples
    metrics = outcome_metrics(validation.labels, predict(result.model, validation).probabilities)
    assert metrics["at_risk_auc"] > 0.5
    assert metrics["rows"] == 800


def test_best_weights_restored(two_epoch_run, samples):
    result, _, _ = two_epoch_run
    _, validation, _ = samples
    assert not result.model.training
    best = result.history[result.best_epoch - 1].validation
    metrics = outcome_metrics(validation.labels, predict(result.model, validation).probabilities)
    assert metrics["at_risk_auc"] == pytest.approx(best["at_risk_auc"], abs=1e-9)
    assert best["at_risk_auc"] == max(entry.validation["at_risk_auc"] for entry in result.history)


def test_callbacks_report_progress(two_epoch_run):
    result, epochs, batches = two_epoch_run
    assert epochs == result.history
    # 2,000 rows in batches of 128 make 16 batches per epoch.
    assert batches[:16] == [(done, 16) for done in range(1, 17)]
    assert len(batches) == 32


def test_early_stop_without_progress(samples):
    train, validation, kinds = samples
    # A learning rate of 0 keeps the validation AUC fixed, so epoch 2 is not better than epoch 1.
    config = TrainConfig(epochs=5, batch_size=256, learning_rate=0.0, patience=1)
    result = train_model(train.subset(np.arange(500)), validation, kinds, SMALL_MODEL, LossConfig(), config, CPU)
    assert len(result.history) == 2
    assert result.best_epoch == 1


def test_seeded_runs_repeat(samples):
    train, validation, kinds = samples
    small = train.subset(np.arange(600))
    config = TrainConfig(epochs=1, batch_size=200, seed=3)
    first = train_model(small, validation, kinds, SMALL_MODEL, LossConfig(), config, CPU)
    second = train_model(small, validation, kinds, SMALL_MODEL, LossConfig(), config, CPU)
    assert first.history[0].losses == second.history[0].losses
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[name]), name


def test_modality_dropout_keeps_one():
    generator = torch.Generator().manual_seed(0)
    present = torch.rand(2_000, 3, generator=generator) < 0.7
    present[0] = False
    drop = modality_dropout(present, 0.6, generator)
    assert not (drop & ~present).any()
    available_count = (present & ~drop).sum(dim=1)
    assert (available_count[present.any(dim=1)] >= 1).all()
    assert drop.any()


def test_modality_dropout_extremes():
    generator = torch.Generator().manual_seed(0)
    present = torch.ones(50, 3, dtype=torch.bool)
    assert not modality_dropout(present, 0.0, generator).any()
    available_count = (present & ~modality_dropout(present, 1.0, generator)).sum(dim=1)
    assert (available_count == 1).all()


def test_resolve_device():
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="invalid device 'tpu'"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
def test_resolve_cuda_without_gpu():
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        resolve_device("cuda")
