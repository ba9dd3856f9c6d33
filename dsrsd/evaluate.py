"""Print a checkpoint's test metrics as JSON: accuracy, macro-F1, at-risk ROC AUC and row count.

For a next-step checkpoint: the ROC AUC of P(pass next), accuracy at 0.5 and row count; for an
ASSISTments checkpoint the same for P(correct) on the test fold's students.

    python -m dsrsd.evaluate --checkpoint checkpoints/oulad-final-outcome --data-dir data/oulad --knockout assessments
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from dsrsd.checkpoint import CheckpointError, load_checkpoint
from dsrsd.cli import show_warnings_plainly
from dsrsd.data import DataError
from dsrsd.inference import predict
from dsrsd.metrics import NEXT_STEP, task_metrics
from dsrsd.pipeline import encode_for_checkpoint
from dsrsd.predict import add_common_arguments, perturbation_from_args
from dsrsd.training import resolve_device


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dsrsd.evaluate", description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    show_warnings_plainly()
    try:
        checkpoint = load_checkpoint(args.checkpoint, resolve_device(args.device))
        perturbation = perturbation_from_args(args, checkpoint.modalities)
        encoded = encode_for_checkpoint(checkpoint, args.data_dir, "test")
        probabilities = predict(checkpoint.model, encoded, perturbation).probabilities
    except (CheckpointError, DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    metrics = task_metrics(checkpoint.task, encoded.labels, probabilities)
    if checkpoint.task == NEXT_STEP:
        metrics = {name: metrics[name] for name in ("auc", "accuracy", "rows")}
    undefined = sorted(name for name, value in metrics.items() if isinstance(value, float) and not math.isfinite(value))
    if undefined:
        print(f"warning: {', '.join(undefined)} undefined, because every test row has the same label; printed as null",
              file=sys.stderr)
    # Strict JSON has no NaN, so an undefined metric is null.
    print(json.dumps({name: None if name in undefined else value for name, value in metrics.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
