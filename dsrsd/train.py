"""Train DSRSD-Net or a baseline on OULAD, the synthetic course, a spec table or ASSISTments, and save a checkpoint.

    python -m dsrsd.train --dataset oulad --data-dir data/oulad --task final_outcome --cutoff end --out checkpoints/my-model
    python -m dsrsd.train --model single:assessments --data-dir data/oulad --out checkpoints/baselines/single-assessments
    python -m dsrsd.train --task next_step --data-dir data/oulad --out checkpoints/my-next-step-model
    python -m dsrsd.train --dataset assistments --task next_step --fold 0 --out /tmp/assistments-model
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from dataclasses import fields
from pathlib import Path

from tqdm import tqdm

from dsrsd.cli import set_threads, show_warnings_plainly
from dsrsd.config import ORTHOGONALITY_FORMS, SHARED_SPLITS, GBDTConfig, LossConfig, ModelConfig, TrainConfig
from dsrsd.data import BEFORE_DUE, DataError, parse_cutoff
from dsrsd.data.assistments import (
    BEFORE_ANSWER, FOLDS, MAX_HISTORY, assistments_data_info, find_assistments_file, prepare_assistments_data,
)
from dsrsd.data.spec import read_spec
from dsrsd.data.synthetic import synthetic_course
from dsrsd.fit import RunConfig, fit_model, save_fitted
from dsrsd.metrics import FINAL_OUTCOME, NEXT_STEP, TASKS
from dsrsd.model import GBDT, architecture_for
from dsrsd.pipeline import check_both_labels, prepare_spec_data, prepare_training_data
from dsrsd.settings import data_root
from dsrsd.training import EpochLog, resolve_device

MODEL_HELP = ("model kind: dsrsd (DSRSD-Net), single:MODALITY (one modality alone), early (early fusion), late "
              "(late fusion), coattention (cross-modal attention) or gbdt (gradient boosting on hand-built features)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dsrsd.train", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="oulad", choices=["oulad", "synthetic", "assistments"],
                        help="oulad reads --data-dir; synthetic generates a course with planted factors into the "
                             "cache; assistments reads the ASSISTments 2009 skill-builder file and needs "
                             "--task next_step (default: oulad)")
    parser.add_argument("--data-dir", help="folder holding the OULAD CSV tables (required for --dataset oulad); for "
                                           "--dataset assistments the skill-builder file or its folder (default: "
                                           "found under $DSRSD_DATA_DIR)")
    parser.add_argument("--spec", help="modality spec (TOML) of a per-learner table; replaces --dataset and --data-dir, "
                                       "and reads the table relative to DSRSD_DATA_DIR")
    parser.add_argument("--learners", type=int, default=4000,
                        help="learners of the synthetic course, spread over four presentations (default: %(default)s)")
    parser.add_argument("--data-seed", type=int, default=0,
                        help="seed of the synthetic course, or of the ASSISTments student folds (default: %(default)s)")
    parser.add_argument("--fold", type=int, default=0,
                        help="assistments only: the student fold that is the test set (default: %(default)s)")
    parser.add_argument("--folds", type=int, default=FOLDS,
                        help="assistments only: number of student folds (default: %(default)s)")
    parser.add_argument("--max-history", type=int, default=MAX_HISTORY,
                        help="assistments only: earlier answers each row sees, at most (default: %(default)s)")
    parser.add_argument("--task", default="final_outcome", choices=list(TASKS),
                        help="final_outcome: one row per registration, the outcome at the end of the course; "
                             "next_step: one row per registration and assessment after the first, whether the learner "
                             "submits it and scores at least 40, from what is known the day before it is due "
                             "(default: final_outcome)")
    parser.add_argument("--cutoff", default="end",
                        help="final_outcome only: 'end' or a course day; nothing dated later is used (default: end)")
    parser.add_argument("--out", required=True, help="checkpoint directory to write")
    parser.add_argument("--model", default="dsrsd", help=MODEL_HELP + " (default: %(default)s)")
    parser.add_argument("--train-modules", nargs="+", metavar="MODULE",
                        help="transfer protocol: train on every presentation of these modules and test on the others "
                             "(default: train 2013B, 2013J, 2014B and test 2014J)")
    parser.add_argument("--seed", type=int, default=TrainConfig.seed, help="random seed (default: %(default)s)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="training device (default: auto)")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs, help="maximum epochs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size, help="default: %(default)s")
    parser.add_argument("--learning-rate", type=float, default=TrainConfig.learning_rate, help="peak learning rate (default: %(default)s)")
    parser.add_argument("--patience", type=int, default=TrainConfig.patience,
                        help="epochs without a better validation at-risk AUC before stopping (default: %(default)s)")
    parser.add_argument("--modality-dropout", type=float, default=None,
                        help=f"chance of knocking out each modality of a training row (default: {TrainConfig.modality_dropout}, "
                             "and 0 for single:MODALITY)")
    parser.add_argument("--hidden-size", type=int, default=ModelConfig.hidden_size, help="code width (default: %(default)s)")
    parser.add_argument("--shared-rank", type=int, default=ModelConfig.shared_rank,
                        help="rank of each shared projection; 0 keeps it full rank (default: %(default)s)")
    parser.add_argument("--shared-split", default=ModelConfig.shared_split, choices=list(SHARED_SPLITS),
                        help="shared code from the encoding: a learned linear map, or the orthogonal projection onto a "
                             "learned --shared-rank subspace (default: %(default)s)")
    parser.add_argument("--dropout", type=float, default=ModelConfig.dropout,
                        help="dropout probability inside the encoders and the task head (default: %(default)s)")
    parser.add_argument("--fusion", default=ModelConfig.fusion, choices=["gated", "mean"],
                        help="fusion of the modalities: learned gates, or an equal-weight mean (default: %(default)s)")
    for field in fields(LossConfig):
        if field.name == "orthogonality_form":
            parser.add_argument("--orthogonality-form", default=field.default, choices=list(ORTHOGONALITY_FORMS),
                                help="penalty between shared and private codes: covariance of row-normalised codes, "
                                     "or squared canonical correlations (default: %(default)s)")
            continue
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=float, default=field.default,
                            help=f"loss config {field.name} (default: %(default)s)")
    parser.add_argument("--gbdt-max-iter", type=int, default=GBDTConfig.max_iter,
                        help="gbdt only: boosting iterations, of which the best on validation is kept (default: %(default)s)")
    # The model is small: on 2 cores, 3 epochs took 7.2 s with one thread and 11.5 s with two, and
    # with other work on the machine two OpenMP threads spin and an epoch can take a minute.
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for torch; one is fastest for this small model (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace the checkpoint at --out if it exists")
    parser.add_argument("--quiet", action="store_true", help="hide the progress bar")
    return parser


def option_names(message: str) -> str:
    """Name config fields in `message` as the options that set them (`TrainConfig.batch_size` -> `--batch-size`)."""
    return re.sub(r"\b(?:Model|Loss|Train)Config\.(\w+)", lambda match: "--" + match.group(1).replace("_", "-"), message)


def cutoff_for_task(task: str, cutoff: str) -> str | int:
    """Return the build cutoff of `task`: the --cutoff value for the final outcome, BEFORE_DUE for the next step."""
    if task == NEXT_STEP:
        if str(cutoff).strip().lower() != "end":
            raise ValueError(f"invalid --cutoff {cutoff!r} for --task next_step: every next-step row is cut before "
                             "its own step (the day before an OULAD assessment's due day, or before an ASSISTments "
                             "answer), so leave --cutoff out")
        return BEFORE_DUE
    return parse_cutoff(cutoff)


def check_dataset_options(args: argparse.Namespace) -> None:
    """Raise ValueError for options that do not fit `--dataset`."""
    if args.dataset != "assistments":
        return
    if args.task != NEXT_STEP:
        raise ValueError(f"invalid --task {args.task} for --dataset assistments: the ASSISTments rows predict whether "
                         "each answer is correct from the earlier ones, so pass --task next_step")
    if args.spec or args.train_modules:
        raise ValueError("--spec and --train-modules do not apply to --dataset assistments, which splits by student folds")


def prepare_assistments(args: argparse.Namespace):
    """Load the ASSISTments file of `--data-dir` (or under DSRSD_DATA_DIR) split for `--fold`; return (data, source)."""
    path = find_assistments_file(args.data_dir or data_root())
    data = prepare_assistments_data(path, args.fold, args.folds, args.data_seed, args.max_history)
    return data, assistments_data_info(data.raw, args.fold, args.folds, args.data_seed)


def resolve_data_dir(args: argparse.Namespace) -> tuple[Path, dict]:
    """Return the folder of OULAD-format tables to train on, and what the checkpoint records about it."""
    if args.dataset == "synthetic":
        course = synthetic_course(args.data_seed, args.learners)
        return course.path, {"synthetic": {"seed": args.data_seed, "learners": args.learners}}
    if not args.data_dir:
        raise ValueError("missing --data-dir: name the folder holding the OULAD tables, or use --dataset synthetic")
    return Path(args.data_dir), {}


def format_epoch(entry: EpochLog) -> str:
    losses = " ".join(f"{name}={value:.4f}" for name, value in entry.losses.items())
    validation = entry.validation
    return (f"epoch {entry.epoch:3d} | {losses} | val auc={validation['at_risk_auc']:.4f} "
            f"acc={validation['accuracy']:.4f} f1={validation['macro_f1']:.4f} | {entry.seconds:.1f}s")


def run_config_from_args(args, modalities: list[str] | None) -> RunConfig:
    """Build the run's configs from the parsed options and the data's modalities (None before loading).

    Raises ValueError naming a bad value.
    """
    architecture = architecture_for(args.model, modalities)
    dropout = args.modality_dropout
    if dropout is None:
        # A single-modality model has nothing to fall back on when its modality is dropped.
        dropout = 0.0 if architecture.startswith("single:") else TrainConfig.modality_dropout
    return RunConfig(
        architecture=architecture,
        model=ModelConfig(hidden_size=args.hidden_size, shared_rank=args.shared_rank, shared_split=args.shared_split,
                          dropout=args.dropout, fusion=args.fusion),
        loss=LossConfig(**{f.name: getattr(args, f.name) for f in fields(LossConfig)}),
        train=TrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                          modality_dropout=dropout, patience=args.patience, seed=args.seed),
        gbdt=GBDTConfig(max_iter=args.gbdt_max_iter),
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not set_threads(args.threads):
        return 2
    show_warnings_plainly()
    if Path(args.out).exists() and not args.overwrite:
        print(f"error: {args.out} already exists; pass --overwrite to replace it, or choose another --out",
              file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        check_dataset_options(args)
        cutoff = cutoff_for_task(args.task, args.cutoff)
        if args.dataset == "assistments":
            cutoff = BEFORE_ANSWER
        device = resolve_device(args.device)
        run_config_from_args(args, None)   # rejects invalid options before the data is loaded
        started = time.perf_counter()
        if args.spec and args.task != FINAL_OUTCOME:
            raise ValueError(f"--task {args.task} needs OULAD-format data (--dataset oulad or synthetic); a spec "
                             "describes one row per learner, so it trains the final outcome only")
        if args.spec and args.train_modules:
            raise ValueError("--train-modules applies to OULAD-format data; a spec keeps its own seeded split")
        if args.dataset == "assistments":
            data, source = prepare_assistments(args)
        elif args.spec:
            spec = read_spec(args.spec)
            data = prepare_spec_data(spec, data_root())
            source = {"dataset": "spec", "spec": spec.to_dict(), "spec_file": str(args.spec),
                      "protocol": f"seeded stratified split: test {spec.test_fraction:.0%}, validation "
                                  f"{spec.validation_fraction:.0%}, seed {spec.seed}"}
        else:
            data_dir, source = resolve_data_dir(args)
            data = prepare_training_data(data_dir, cutoff, train_modules=args.train_modules)
        check_both_labels(data)
        run = run_config_from_args(args, data.encoded.modalities)
    except (DataError, ValueError) as error:
        print(f"error: {option_names(str(error))}", file=sys.stderr)
        return 2
    if args.dataset == "assistments":
        stats = data.raw.stats
        print(f"data: {len(data.encoded)} next-attempt rows of {stats.students} students in {stats.file}, test fold "
              f"{args.fold} of {args.folds}; loaded in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    elif args.spec:
        print(f"data: {len(data.encoded)} learners of spec {args.spec}; loaded in {time.perf_counter() - started:.1f}s",
              file=sys.stderr)
    else:
        rows = "next-step rows" if args.task == NEXT_STEP else "registrations"
        print(f"data: {len(data.encoded)} {rows}, engagement form {data.encoder.state['engagement_form']}, "
              f"cutoff {cutoff}; loaded in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    print("data: modalities " + ", ".join(f"{m} ({data.encoder.state['kinds'][m]}, {size} features)"
                                        for m, size in data.encoder.input_sizes().items()), file=sys.stderr)
    present = data.encoded.present.sum(axis=0)
    print("data: rows with a record in each modality: " + ", ".join(
        f"{m} {int(count):,}" for m, count in zip(data.encoded.modalities, present)), file=sys.stderr)

    bar = None
    if not args.quiet and run.architecture != GBDT:
        bar = tqdm(total=run.train.epochs, desc="training", unit="epoch", file=sys.stderr)

    def on_epoch(entry: EpochLog) -> None:
        # Progress goes to stderr, so stdout carries only the JSON summary.
        (bar.write if bar else print)(format_epoch(entry), file=sys.stderr)
        if bar:
            bar.update(1)

    fitted = fit_model(data, run, device, on_epoch=on_epoch)
    if bar:
        bar.close()
    metrics = fitted.metrics
    metrics["train_seconds"] = round(time.perf_counter() - started, 1)
    path = save_fitted(args.out, fitted, data, run, cutoff, args.train_modules, args.dataset, args.task, source)
    print(json.dumps({"checkpoint": str(path), **{k: metrics[k] for k in ("validation", "test") if k in metrics}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
