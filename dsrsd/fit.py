"""Fit any model kind on prepared data and save it: the part of training the CLI and the benchmark share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from dsrsd.checkpoint import save_checkpoint
from dsrsd.config import GBDTConfig, LossConfig, ModelConfig, TrainConfig
from dsrsd.inference import predict
from dsrsd.metrics import task_metrics
from dsrsd.model import GBDT
from dsrsd.model.gbdt import fit_gbdt
from dsrsd.perturb import Perturbation
from dsrsd.pipeline import PreparedData, protocol_info
from dsrsd.training import EpochLog, train_model


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run besides the data."""

    architecture: str
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    gbdt: GBDTConfig = field(default_factory=GBDTConfig)


@dataclass
class FittedModel:
    architecture: str
    model: object                 # a torch module, or `GradientBoostedTrees`
    metrics: dict                 # validation, test, test_knockout, best_epoch
    history: list[dict]


def fit_model(data: PreparedData, run: RunConfig, device: torch.device,
              on_epoch: Callable[[EpochLog], None] | None = None) -> FittedModel:
    """Train `run.architecture` on the training split, select on validation, and evaluate on test."""
    train = data.encoded.subset(data.split == "train")
    validation = data.encoded.subset(data.split == "validation")
    test = data.encoded.subset(data.split == "test")
    if run.architecture == GBDT:
        fitted = fit_gbdt(train, validation, run.gbdt, seed=run.train.seed, modality_dropout=run.train.modality_dropout)
        model, best = fitted.model, fitted.best_iteration
        history = [{"iteration": i + 1, "validation": {"at_risk_auc": auc}} for i, auc in enumerate(fitted.validation_aucs)]
    else:
        result = train_model(train, validation, data.encoder.state["kinds"], run.model, run.loss, run.train, device,
                             on_epoch=on_epoch, architecture=run.architecture, task=data.task)
        model, best = result.model, result.best_epoch
        history = [{"epoch": e.epoch, "losses": e.losses, "validation": e.validation, "seconds": e.seconds}
                   for e in result.history]

    task = data.task
    metrics = {"validation": task_metrics(task, validation.labels, predict(model, validation).probabilities)}
    if len(test):
        metrics["test"] = task_metrics(task, test.labels, predict(model, test).probabilities)
        metrics["test_knockout"] = {
            m: task_metrics(task, test.labels, predict(model, test, Perturbation(knockout=(m,))).probabilities)
            for m in test.modalities
        }
    metrics["best_epoch" if run.architecture != GBDT else "best_iteration"] = best
    return FittedModel(run.architecture, model, metrics, history)


def save_fitted(directory: str | Path, fitted: FittedModel, data: PreparedData, run: RunConfig, cutoff,
                train_modules: list[str] | None = None, dataset: str = "oulad", task: str = "final_outcome",
                source: dict | None = None) -> Path:
    """Save a fitted model as a checkpoint with its configs, split protocol and metrics.

    `source` describes where the data came from (a spec or a synthetic course) and may replace the protocol.
    """
    data_info = {
        "dataset": dataset, "task": task, "cutoff": cutoff, **protocol_info(train_modules), **(source or {}),
        "rows": {name: int((data.split == name).sum()) for name in ("train", "validation", "test")},
    }
    model = fitted.model.cpu() if isinstance(fitted.model, torch.nn.Module) else fitted.model
    if fitted.architecture == GBDT:
        return save_checkpoint(directory, model, data.encoder, run.gbdt, None, run.train, data_info, fitted.metrics,
                               fitted.history, architecture=GBDT)
    return save_checkpoint(directory, model, data.encoder, run.model, run.loss, run.train, data_info, fitted.metrics,
                           fitted.history, architecture=fitted.architecture)
