"""Time generating and training on the synthetic course, and check the demo checkpoint against the truth.

    python benchmarks/bench_synthetic.py [--learners 4000] [--checkpoint checkpoints/synthetic-demo]

Generation and training run the exact CLI command in a fresh cache folder. The truth checks run on
the test presentation (2014J) of the course the checkpoint was trained on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

# Run as a script, only benchmarks/ is on sys.path; the package is one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsrsd import truth
from dsrsd.checkpoint import load_checkpoint
from dsrsd.data.synthetic import synthetic_course
from dsrsd.pipeline import encode_for_checkpoint

# Options of `checkpoints/synthetic-demo` beyond the defaults: an orthogonal-projection split of rank 1
# and the cross-modal penalty, so the shared and private streams separate the planted factors.
DEMO_OPTIONS = ["--shared-split", "projection", "--shared-rank", "1", "--dropout", "0", "--cross-private-weight", "5",
                "--shared-agreement-weight", "10", "--shared-variance-weight", "1"]


def time_training(learners: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix="dsrsd-bench-")) / "synthetic"
    # A fresh cache folder, so the timing includes generating the course and building its arrays.
    env = {**os.environ, "DSRSD_CACHE_DIR": tempfile.mkdtemp(prefix="dsrsd-cache-")}
    command = [sys.executable, "-m", "dsrsd.train", "--dataset", "synthetic", "--learners", str(learners),
               "--patience", "10", "--seed", "0", *DEMO_OPTIONS, "--out", str(out), "--quiet"]
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    metrics = json.loads((out / "config.json").read_text())["metrics"]
    return {"command": " ".join(command[1:]), "wall_seconds": round(seconds, 1), "best_epoch": metrics["best_epoch"],
            "test": metrics["test"]}


def check_truth(checkpoint_dir: str) -> dict:
    checkpoint = load_checkpoint(checkpoint_dir)
    settings = checkpoint.config["data"]["synthetic"]
    course = synthetic_course(settings["seed"], settings["learners"])
    encoded = encode_for_checkpoint(checkpoint, course.path, "test")
    ranking = truth.decider_ranking(checkpoint.model, encoded, course.truth)
    return {
        "ranked_first_rate": truth.ranking_rates(ranking).round(4).to_dict(),
        "probe_r2": truth.probe_r2(checkpoint.model, encoded, course.truth).round(3).to_dict(orient="index"),
        "knockout_shift": truth.knockout_shifts(checkpoint.model, encoded, course.truth).round(3).to_dict(orient="index"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=4000, help="learners of the timed course (default: %(default)s)")
    parser.add_argument("--checkpoint", default="checkpoints/synthetic-demo", help="checkpoint to check against the truth")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(json.dumps({
        "training": time_training(args.learners),
        "truth": check_truth(args.checkpoint),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
