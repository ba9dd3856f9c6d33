"""Fit the UMAP maps of a checkpoint's cohorts and store them beside it, so the app opens them at once.

    python -m dsrsd.project --checkpoint checkpoints/oulad-final-outcome --data-dir data/oulad
    python -m dsrsd.project --checkpoint checkpoints/synthetic-demo
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from tqdm import tqdm

from dsrsd.checkpoint import CheckpointError, load_checkpoint
from dsrsd.cli import set_threads, show_warnings_plainly
from dsrsd.cohorts import build_cohorts, cohort_names, course_rows, sample_rows
from dsrsd.data import DataError
from dsrsd.datasets import data_dir_for, dataset_of
from dsrsd.inference import predict
from dsrsd.map_store import STREAMS, index_problem, save_maps
from dsrsd.projection import MIN_POINTS, fit_stream_maps
from dsrsd.settings import data_root


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dsrsd.project", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="checkpoint directory; the maps go to its maps/ folder")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding the OULAD CSV tables the app will read; for a checkpoint trained from a "
                        "spec file, the data root its paths start from (default: the checkpoint's own data under "
                        "DSRSD_DATA_DIR, or the synthetic course it was trained on)")
    parser.add_argument("--cohorts", nargs="+", default=None, metavar="COHORT",
                        help='cohorts to map, such as "AAA 2014J" or "* 2014J" for every module of a presentation '
                        "(default: every course and every presentation)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not set_threads(args.threads):
        return 2
    show_warnings_plainly()
    try:
        checkpoint = load_checkpoint(args.checkpoint)
        if dataset_of(checkpoint.config) == "assistments":
            raise ValueError(f"{args.checkpoint} is an ASSISTments checkpoint, whose rows are answers, not learners "
                             "of a course; maps are stored for OULAD-format and spec checkpoints only")
        data_dir = args.data_dir or data_dir_for(checkpoint.config, data_root())
        cohorts = build_cohorts(checkpoint, data_dir)
    except (CheckpointError, DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    known = cohort_names(cohorts)
    chosen = args.cohorts or known
    unknown = [name for name in chosen if name not in known]
    if unknown:
        print(f"error: unknown cohort(s) {', '.join(map(repr, unknown))}; choose among {', '.join(known)}",
              file=sys.stderr)
        return 2

    problem = index_problem(checkpoint.path)
    if problem:
        print(f"warning: {problem}; it is rewritten with the cohorts of this run only", file=sys.stderr)
    started, stored, skipped = time.perf_counter(), [], {}
    for cohort in tqdm(chosen, desc="maps", unit="cohort", file=sys.stderr):
        rows = course_rows(cohorts, cohort)
        sample = sample_rows(len(rows))
        encoded = cohorts.encoded.subset(rows[sample])
        clean = predict(checkpoint.model, encoded, keep_codes=True)
        if clean.available.sum() < MIN_POINTS:
            skipped[cohort] = f"{len(rows)} learner(s), too few for a map"
            continue
        try:
            maps = fit_stream_maps(clean, checkpoint.modalities, STREAMS)
        except ValueError as error:
            skipped[cohort] = str(error)
            continue
        save_maps(checkpoint.path, cohort, maps, sample, encoded.keys)
        stored.append(cohort)
    for cohort, reason in skipped.items():
        print(f"warning: no map for {cohort}: {reason}", file=sys.stderr)
    print(json.dumps({"checkpoint": str(checkpoint.path), "stored": stored, "skipped": skipped,
                      "seconds": round(time.perf_counter() - started, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
