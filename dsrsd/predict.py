"""Write per-registration outcome probabilities from a checkpoint to a CSV file.

A next-step checkpoint writes one row per registration and assessment, with `id_assessment` and
`prob_pass_next`. An ASSISTments checkpoint writes one row per answer after a student's first, with
the keys (user_id, order_id, step, problem_id, skill_id, skill) and `prob_correct_next`.

    python -m dsrsd.predict --checkpoint checkpoints/oulad-final-outcome --data-dir data/oulad --out predictions.csv
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

from dsrsd.checkpoint import CheckpointError, load_checkpoint
from dsrsd.cli import show_warnings_plainly
from dsrsd.data import OUTCOME_CLASSES, DataError
from dsrsd.datasets import dataset_of
from dsrsd.inference import predict
from dsrsd.metrics import FINAL_OUTCOME, NEXT_STEP, at_risk_probability, pass_probability
from dsrsd.perturb import Perturbation, parse_noise
from dsrsd.pipeline import SPLITS, encode_for_checkpoint
from dsrsd.training import resolve_device


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint directory (model.safetensors + config.json)")
    parser.add_argument("--data-dir",
                        help="folder holding the OULAD CSV tables; for a checkpoint trained from a spec, the folder "
                             "the spec's table paths start from; for ASSISTments, the skill-builder file or its folder "
                             "(default: the checkpoint's own source: $DSRSD_DATA_DIR/oulad, the generated synthetic "
                             "course, or $DSRSD_DATA_DIR for a spec and ASSISTments)")
    parser.add_argument("--knockout", nargs="+", action="extend", default=[], metavar="MODALITY",
                        help="modalities to hide from the model")
    parser.add_argument("--noise", nargs="+", action="extend", default=[], metavar="MODALITY=STD",
                        help="Gaussian noise with this standard deviation, in the modality's normalised units")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise draws (default: 0)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="device to run the model on; auto picks cuda when available (default: auto)")


def perturbation_from_args(args, modalities: list[str]) -> Perturbation:
    if args.seed < 0:
        raise ValueError(f"invalid --seed {args.seed}: use 0 or more")
    knockout = tuple(dict.fromkeys(args.knockout))   # a modality named twice is knocked out once
    perturbation = Perturbation(knockout=knockout, noise=parse_noise(args.noise), seed=args.seed)
    perturbation.validate(modalities)
    if set(knockout) == set(modalities):
        warnings.warn("every modality is knocked out, so every learner gets the same prediction", stacklevel=2)
    ignored = sorted(set(knockout) & {name for name, std in perturbation.noise.items() if std > 0})
    if ignored:
        warnings.warn(f"noise on {', '.join(ignored)} has no effect, because the modality is knocked out", stacklevel=2)
    return perturbation


def prediction_table(encoded, probabilities, task: str = FINAL_OUTCOME, dataset: str = "oulad") -> pd.DataFrame:
    """Return the keys with the class probabilities and at-risk probability, or for the next step
    one row per registration and assessment with `prob_pass_next` (ASSISTments: per answer, `prob_correct_next`)."""
    table = encoded.keys.copy()
    if task == NEXT_STEP:
        # A correct answer is stored as the Pass class, so P(correct) is the probability to pass.
        column = "prob_correct_next" if dataset == "assistments" else "prob_pass_next"
        table[column] = pass_probability(probabilities)
        return table
    for index, name in enumerate(OUTCOME_CLASSES):
        table[f"prob_{name}"] = probabilities[:, index]
    table["at_risk"] = at_risk_probability(probabilities)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dsrsd.predict", description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--split", default="test", choices=SPLITS, help="registrations (or next-step rows) to predict (default: test)")
    parser.add_argument("--out", required=True, help="CSV file to write")
    args = parser.parse_args(argv)
    show_warnings_plainly()
    out = Path(args.out)
    if out.is_dir():
        print(f"error: --out {out} is a folder; name a CSV file, such as {out / 'predictions.csv'}", file=sys.stderr)
        return 2
    try:
        checkpoint = load_checkpoint(args.checkpoint, resolve_device(args.device))
        perturbation = perturbation_from_args(args, checkpoint.modalities)
        encoded = encode_for_checkpoint(checkpoint, args.data_dir, args.split)
        probabilities = predict(checkpoint.model, encoded, perturbation).probabilities
    except (CheckpointError, DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table = prediction_table(encoded, probabilities, checkpoint.task, dataset_of(checkpoint.config))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
    except OSError as error:
        print(f"error: cannot write --out {out} ({error.strerror or error}); choose a writable path", file=sys.stderr)
        return 2
    print(f"wrote {len(table)} rows to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
