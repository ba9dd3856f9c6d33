"""Validation of the model, loss and training configs: each invalid value is named in the error."""

from __future__ import annotations

import pytest

from dsrsd.config import LossConfig, ModelConfig, TrainConfig, config_from_dict

INVALID = [
    (ModelConfig, {"hidden_size": 0}, "ModelConfig.hidden_size 0"),
    (ModelConfig, {"dropout": 1.0}, "ModelConfig.dropout 1.0"),
    (ModelConfig, {"fusion": "sum"}, "invalid fusion 'sum'"),
    (ModelConfig, {"shared_rank": 65}, "ModelConfig.shared_rank 65"),
    (ModelConfig, {"shared_rank": -1}, "ModelConfig.shared_rank -1"),
    (ModelConfig, {"shared_split": "sum"}, "invalid shared_split 'sum'"),
    (ModelConfig, {"shared_split": "projection"}, "ModelConfig.shared_rank 0"),
    (LossConfig, {"orthogonality_form": "cosine"}, "invalid orthogonality_form 'cosine'"),
    (LossConfig, {"temperature": 0.0}, "LossConfig.temperature 0.0"),
    (LossConfig, {"contrastive_weight": float("nan")}, "LossConfig.contrastive_weight nan"),
    (LossConfig, {"orthogonality_weight": -1.0}, "LossConfig.orthogonality_weight -1.0"),
    (LossConfig, {"cross_private_weight": -1.0}, "LossConfig.cross_private_weight -1.0"),
    (LossConfig, {"shared_variance_weight": float("inf")}, "LossConfig.shared_variance_weight inf"),
    (TrainConfig, {"epochs": 0}, "TrainConfig.epochs 0"),
    (TrainConfig, {"batch_size": 1}, "TrainConfig.batch_size 1"),
    (TrainConfig, {"learning_rate": -1.0}, "TrainConfig.learning_rate -1.0"),
    (TrainConfig, {"modality_dropout": 1.0}, "TrainConfig.modality_dropout 1.0"),
    (TrainConfig, {"patience": 0}, "TrainConfig.patience 0"),
    (TrainConfig, {"seed": -1}, "TrainConfig.seed -1"),
]


@pytest.mark.parametrize("cls, values, message", INVALID)
def test_invalid_value_named(cls, values, message):
    with pytest.raises(ValueError, match=message.replace(".", "\\.")):
        cls(**values)


@pytest.mark.parametrize("cls", [ModelConfig, LossConfig, TrainConfig])
def test_defaults_valid(cls):
    assert cls() == config_from_dict(cls, {})


def test_unknown_field_rejected():
    with pytest.raises(ValueError, match="unknown TrainConfig field\\(s\\) \\['epoch'\\]"):
        config_from_dict(TrainConfig, {"epoch": 3})
