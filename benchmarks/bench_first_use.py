"""Time the app's first-use training of the ASSISTments model, and loading it afterwards.

    DSRSD_DATA_DIR=data nice -n 10 python benchmarks/bench_first_use.py

Trains with the app's settings (`dsrsd.first_use.FirstUseSettings`, `DSRSD_FIRST_USE_EPOCHS` applies)
into a temporary cache folder on one torch thread, as the app does, then calls the training again,
which finds the checkpoint and returns, and loads it. Prints one JSON document; writes nothing else.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

# Run as a script, only benchmarks/ is on sys.path; the package is one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="column .* categories unseen in training")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["DSRSD_CACHE_DIR"] = cache
        from dsrsd.checkpoint import load_checkpoint
        from dsrsd.data.assistments import find_assistments_file
        from dsrsd.first_use import file_sha256, first_use_dir, first_use_settings, train_first_use
        from dsrsd.settings import data_root

        data_file = find_assistments_file(data_root())
        settings = first_use_settings()
        started = time.perf_counter()
        folder = first_use_dir(file_sha256(data_file), settings)
        epochs = []
        train_first_use(data_file, folder, settings, on_epoch=epochs.append)
        trained = time.perf_counter() - started

        started = time.perf_counter()
        retrained = train_first_use(data_file, folder, settings)
        checkpoint = load_checkpoint(folder)
        loaded = time.perf_counter() - started
        metrics = checkpoint.config["metrics"]

    print(json.dumps({
        "file": data_file.name, "settings": settings.describe(), "epochs_run": len(epochs),
        "best_epoch": metrics["best_epoch"], "test_auc": round(metrics["test"]["auc"], 4),
        "test_accuracy": round(metrics["test"]["accuracy"], 4), "first_use_seconds": round(trained, 1),
        "epoch_seconds": [round(entry.seconds, 1) for entry in epochs], "second_call_retrained": retrained,
        "second_call_and_load_seconds": round(loaded, 2), "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "torch": torch.__version__,
    }, indent=2))


if __name__ == "__main__":
    main()
