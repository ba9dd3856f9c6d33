"""Training loop for DSRSD-Net and the neural baselines, with modality dropout and early stopping on
validation at-risk AUC."""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from dsrsd.config import LossConfig, ModelConfig, TrainConfig
from dsrsd.data.encoding import Encoded
from dsrsd.inference import batch_tensors, predict
from dsrsd.losses import dsrsd_losses, task_loss
from dsrsd.metrics import FINAL_OUTCOME, task_metrics
from dsrsd.model import DSRSDOutput, build_model

log = logging.getLogger(__name__)


@dataclass
class EpochLog:
    epoch: int
    losses: dict[str, float]        # mean of each loss term over the epoch's batches
    validation: dict[str, float]    # outcome metrics on the validation split
    seconds: float


@dataclass
class TrainResult:
    model: torch.nn.Module
    history: list[EpochLog] = field(default_factory=list)
    best_epoch: int = 0


def resolve_device(name: str) -> torch.device:
    """Map `auto`, `cpu` or `cuda` to a device; `cuda` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA GPU is available; use --device cpu or auto")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"invalid device {name!r}: use auto, cpu or cuda")
    return torch.device(name)


def modality_dropout(present: torch.Tensor, rate: float, generator: torch.Generator) -> torch.Tensor:
    """Knock out each present modality with probability `rate`, keeping at least one available per row."""
    drop = (torch.rand(present.shape, generator=generator) < rate).to(present.device) & present
    all_dropped = (present & ~drop).sum(dim=1) == 0
    if all_dropped.any():
        # Give back one randomly chosen present modality to each row that lost all of them.
        scores = torch.rand(present.shape, generator=generator).to(present.device) * present
        keep = scores[all_dropped].argmax(dim=1)
        drop[all_dropped.nonzero().squeeze(1), keep] = False
    return drop


def model_losses(architecture: str, output: DSRSDOutput, labels: torch.Tensor,
                 config: LossConfig) -> dict[str, torch.Tensor]:
    """Return DSRSD-Net's loss terms, or the task loss alone for a baseline (which has no streams to align)."""
    if architecture == "dsrsd-net":
        return dsrsd_losses(output, labels, config)
    task = task_loss(output.logits, labels)
    return {"task": task, "total": config.task_weight * task}


def train_model(
    train: Encoded,
    validation: Encoded,
    kinds: dict[str, str],
    model_config: ModelConfig,
    loss_config: LossConfig,
    train_config: TrainConfig,
    device: torch.device,
    on_epoch: Callable[[EpochLog], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    architecture: str = "dsrsd-net",
    task: str = FINAL_OUTCOME,
) -> TrainResult:
    """Train the network of `architecture` and return the weights of the epoch with the best validation
    at-risk AUC.

    `on_epoch` receives each epoch's log; `on_batch(done, total)` reports progress within an epoch.
    """
    torch.manual_seed(train_config.seed)
    generator = torch.Generator().manual_seed(train_config.seed)
    rng = np.random.default_rng(train_config.seed)
    input_sizes = {m: train.inputs[m].shape[-1] for m in train.modalities}
    steps = {m: train.inputs[m].shape[1] if train.inputs[m].ndim == 3 else 0 for m in train.modalities}
    model = build_model(architecture, train.modalities, input_sizes, kinds, steps, model_config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_config.learning_rate, weight_decay=train_config.weight_decay)
    batches_per_epoch = int(np.ceil(len(train) / train_config.batch_size))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=train_config.learning_rate, total_steps=train_config.epochs * batches_per_epoch,
    )
    labels = torch.as_tensor(train.labels, device=device)

    result = TrainResult(model=model)
    best_auc, best_state, stale = -np.inf, None, 0
    for epoch in range(1, train_config.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = rng.permutation(len(train))
        sums: dict[str, float] = {}
        for index, start in enumerate(range(0, len(order), train_config.batch_size)):
            rows = order[start:start + train_config.batch_size]
            inputs, masks, present, _ = batch_tensors(train, rows, device)
            knockout = modality_dropout(present, train_config.modality_dropout, generator)
            output = model(inputs, masks, present, knockout)
            terms = model_losses(architecture, output, labels[rows], loss_config)
            optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            scheduler.step()
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
            if on_batch is not None:
                on_batch(index + 1, batches_per_epoch)

        metrics = task_metrics(task, validation.labels, predict(model, validation).probabilities)
        entry = EpochLog(epoch, {k: v / batches_per_epoch for k, v in sums.items()}, metrics, time.perf_counter() - started)
        result.history.append(entry)
        if on_epoch is not None:
            on_epoch(entry)

        if metrics["at_risk_auc"] > best_auc:
            best_auc, best_state, stale = metrics["at_risk_auc"], copy.deepcopy(model.state_dict()), 0
            result.best_epoch = epoch
        else:
            stale += 1
            if stale >= train_config.patience:
                log.info("early stop at epoch %d; best epoch %d", epoch, result.best_epoch)
                break

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result
