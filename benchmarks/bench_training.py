"""Time training of the shipped checkpoint with the exact CLI command, and report its metrics.

    python benchmarks/bench_training.py --data-dir data/oulad [--out /tmp/bench-checkpoint]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="folder holding the OULAD tables")
    parser.add_argument("--out", default=None, help="checkpoint directory (default: a temporary folder)")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="dsrsd-bench-")) / "oulad-final-outcome"
    # A fresh cache folder, so the timing includes building the arrays from the CSV files.
    env = {**os.environ, "DSRSD_CACHE_DIR": tempfile.mkdtemp(prefix="dsrsd-cache-")}
    command = [sys.executable, "-m", "dsrsd.train", "--dataset", "oulad", "--data-dir", args.data_dir,
               "--task", "final_outcome", "--cutoff", "end", "--seed", "0", "--out", str(out), "--quiet"]
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    metrics = json.loads((out / "config.json").read_text())["metrics"]
    print(json.dumps({
        "command": " ".join(command[1:]),
        "wall_seconds": round(seconds, 1),
        "best_epoch": metrics["best_epoch"],
        "test": metrics["test"],
        "test_knockout_auc": {m: v["at_risk_auc"] for m, v in metrics["test_knockout"].items()},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
