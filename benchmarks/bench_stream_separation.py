"""Train DSRSD-Net on the synthetic course with one loss and shared-rank setting, and probe its streams.

    python benchmarks/bench_stream_separation.py --shared-split projection --shared-rank 1 --dropout 0 \
        --cross-private-weight 5 --shared-agreement-weight 10 --shared-variance-weight 1

It prints the best epoch's validation at-risk AUC and loss terms, then the linear-probe R² of every
planted factor from the shared and private codes of the validation learners (`dsrsd.truth.probe_r2`).
Settings are compared on the validation split only, so the test split stays unseen.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import fields

import torch

from dsrsd import truth
from dsrsd.config import ORTHOGONALITY_FORMS, SHARED_SPLITS, LossConfig, ModelConfig, TrainConfig
from dsrsd.data.synthetic import synthetic_course
from dsrsd.pipeline import prepare_training_data
from dsrsd.training import train_model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=4000, help="learners of the course (default: %(default)s)")
    parser.add_argument("--shared-rank", type=int, default=0, help="rank of the shared projections; 0 is full (default: 0)")
    parser.add_argument("--shared-split", default=ModelConfig.shared_split, choices=list(SHARED_SPLITS),
                        help="residual linear map or orthogonal projection (default: %(default)s)")
    parser.add_argument("--dropout", type=float, default=ModelConfig.dropout, help="encoder dropout (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=TrainConfig.seed, help="training seed (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size, help="default: %(default)s")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs, help="default: %(default)s")
    for field in fields(LossConfig):
        if field.name == "orthogonality_form":
            parser.add_argument("--orthogonality-form", default=field.default, choices=list(ORTHOGONALITY_FORMS))
        else:
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=float, default=field.default)
    return parser


def main() -> int:
    args = build_parser().parse_args()
    torch.set_num_threads(1)
    course = synthetic_course(0, args.learners)
    data = prepare_training_data(course.path, "end")
    train = data.encoded.subset(data.split == "train")
    validation = data.encoded.subset(data.split == "validation")

    loss_config = LossConfig(**{f.name: getattr(args, f.name) for f in fields(LossConfig)})
    train_config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, patience=10, seed=args.seed)
    started = time.perf_counter()
    result = train_model(train, validation, data.encoder.state["kinds"],
                         ModelConfig(shared_rank=args.shared_rank, shared_split=args.shared_split, dropout=args.dropout),
                         loss_config, train_config, torch.device("cpu"))
    best = result.history[result.best_epoch - 1]
    losses = " ".join(f"{name}={value:.4f}" for name, value in best.losses.items())
    print(f"best epoch {result.best_epoch}, validation at-risk AUC {best.validation['at_risk_auc']:.4f}, "
          f"{time.perf_counter() - started:.0f} s | {losses}")
    print(truth.probe_r2(result.model, validation, course.truth).round(3).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
