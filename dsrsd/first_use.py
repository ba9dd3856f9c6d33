"""Train a small ASSISTments checkpoint on first use and keep it in the cache.

No ASSISTments checkpoint ships, because the data's terms of use forbid passing the data on, and a
checkpoint stores the problem and skill success rates fitted on it. When the skill-builder file is
under the data root, the app trains a small DSRSD-Net on fold 0 here instead. The checkpoint goes
under `dsrsd.settings.cache_dir()`, keyed on the file's SHA-256 and the settings, so a later run loads
it instead of training again, in this server or after a restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from dsrsd.checkpoint import CONFIG_FILE, WEIGHTS_FILE
from dsrsd.config import LossConfig, ModelConfig, TrainConfig
from dsrsd.data.assistments import (
    BEFORE_ANSWER, FOLDS, MAX_HISTORY, assistments_data_info, prepare_assistments_data,
)
from dsrsd.fit import RunConfig, fit_model, save_fitted
from dsrsd.metrics import NEXT_STEP
from dsrsd.settings import cache_dir
from dsrsd.training import EpochLog

# Sets the number of epochs, so a test can run the first-use path in seconds.
EPOCHS_VARIABLE = "DSRSD_FIRST_USE_EPOCHS"
CACHE_FOLDER = "first-use"
# One training at a time per process: a second session waits for the first and then loads its checkpoint.
_TRAINING_LOCK = threading.Lock()


@dataclass(frozen=True)
class FirstUseSettings:
    """Settings of the first-use model: small enough to train in well under a minute on 2 CPU cores.

    NOTE: timed on the two-skill file only (benchmarks/bench_first_use.py). The full skill-builder file
    has many times more rows, and its first use takes correspondingly longer.
    """

    fold: int = 0
    folds: int = FOLDS
    split_seed: int = 0
    max_history: int = MAX_HISTORY
    epochs: int = 8               # 13 s of the 15 s first use on the two-skill file (docs/BENCHMARKS.md)
    patience: int = 3
    hidden_size: int = 32         # half the default width
    batch_size: int = 256
    # The best of nine settings on fold 0's validation students in benchmarks/bench_assistments.py.
    modality_dropout: float = 0.1
    seed: int = 0

    def run_config(self) -> RunConfig:
        return RunConfig(
            architecture="dsrsd-net",
            model=ModelConfig(hidden_size=self.hidden_size),
            loss=LossConfig(),
            train=TrainConfig(epochs=self.epochs, batch_size=self.batch_size, patience=self.patience,
                              modality_dropout=self.modality_dropout, seed=self.seed),
        )

    def describe(self) -> str:
        return (f"DSRSD-Net, test fold {self.fold} of {self.folds}, at most {self.epochs} epochs (patience "
                f"{self.patience}), hidden size {self.hidden_size}, batch size {self.batch_size}, modality dropout "
                f"{self.modality_dropout}, seed {self.seed}, on one CPU thread")


def first_use_settings() -> FirstUseSettings:
    """Return the default settings, with the epochs from `DSRSD_FIRST_USE_EPOCHS` when it is set."""
    value = os.environ.get(EPOCHS_VARIABLE)
    if not value:
        return FirstUseSettings()
    try:
        epochs = int(value)
    except ValueError:
        epochs = 0
    if epochs < 1:
        raise ValueError(f"invalid {EPOCHS_VARIABLE}={value!r}: use a whole number of 1 or more, or unset it")
    return FirstUseSettings(epochs=epochs)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def first_use_dir(data_hash: str, settings: FirstUseSettings) -> Path:
    """Return the cache folder of the checkpoint trained on the file with SHA-256 `data_hash` with `settings`."""
    settings_hash = hashlib.sha256(json.dumps(asdict(settings), sort_keys=True).encode()).hexdigest()
    return cache_dir() / CACHE_FOLDER / f"assistments-{data_hash[:16]}-{settings_hash[:12]}"


def is_trained(directory: str | Path) -> bool:
    """Check that the checkpoint folder exists with both files. `save_checkpoint` renames a finished folder into
    place, so an existing folder is complete."""
    directory = Path(directory)
    return (directory / CONFIG_FILE).is_file() and (directory / WEIGHTS_FILE).is_file()


def train_first_use(data_file: str | Path, directory: str | Path, settings: FirstUseSettings,
                    on_epoch: Callable[[EpochLog], None] | None = None,
                    on_wait: Callable[[], None] | None = None) -> bool:
    """Train and save the first-use checkpoint into `directory` unless it exists; return whether it trained.

    Only one training runs at a time in this process. A call that finds another training running
    calls `on_wait`, waits for it, and then trains only if the checkpoint is still missing. A failed
    training raises and writes nothing.
    """
    directory = Path(directory)
    if is_trained(directory):
        return False
    if not _TRAINING_LOCK.acquire(blocking=False):
        if on_wait is not None:
            on_wait()
        _TRAINING_LOCK.acquire()
    try:
        if is_trained(directory):
            return False
        started = time.perf_counter()
        data = prepare_assistments_data(data_file, settings.fold, settings.folds, settings.split_seed,
                                        settings.max_history)
        run = settings.run_config()
        fitted = fit_model(data, run, torch.device("cpu"), on_epoch=on_epoch)
        fitted.metrics["train_seconds"] = round(time.perf_counter() - started, 1)
        source = {**assistments_data_info(data.raw, settings.fold, settings.folds, settings.split_seed),
                  "trained_on_first_use": asdict(settings)}
        save_fitted(directory, fitted, data, run, BEFORE_ANSWER, None, "assistments", NEXT_STEP, source)
        return True
    finally:
        _TRAINING_LOCK.release()
