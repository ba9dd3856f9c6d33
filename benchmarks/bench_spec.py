"""Train on a spec table and compare with logistic regression on the same columns and split.

    DSRSD_DATA_DIR=data python benchmarks/bench_spec.py [--spec specs/student_performance.toml]

Both models train on the spec's training split and are scored on its test split. DSRSD-Net also
uses the validation split for early stopping; logistic regression has no setting to choose.
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

import numpy as np
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

# Run as a script, only benchmarks/ is on sys.path; the package is one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsrsd.data.oulad import OUTCOME_CLASSES
from dsrsd.data.spec import read_spec
from dsrsd.data.spec_table import load_spec_table
from dsrsd.metrics import outcome_metrics
from dsrsd.settings import data_root


def logistic_baseline(spec, raw, modalities: list[str]) -> dict:
    """Fit logistic regression on the static columns of `modalities`; return its test metrics."""
    frames = [raw.static[m.name].add_prefix(f"{m.name}.") for m in spec.modalities if m.name in modalities]
    table = frames[0].join(frames[1:]) if len(frames) > 1 else frames[0]
    categorical = [f"{m.name}.{c}" for m in spec.modalities if m.name in modalities for c in m.categorical]
    numeric = [f"{m.name}.{c}" for m in spec.modalities if m.name in modalities for c in m.numeric]
    for column in categorical:
        table[column] = table[column].fillna("(missing)").astype(str)
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), categorical),
            (make_pipeline(SimpleImputer(), StandardScaler()), numeric),
        ),
        LogisticRegression(max_iter=2000),
    )
    train, test = raw.split == "train", raw.split == "test"
    model.fit(table[train], raw.labels[train])
    probabilities = np.zeros((int(test.sum()), len(OUTCOME_CLASSES)))
    probabilities[:, model.classes_] = model.predict_proba(table[test])
    return outcome_metrics(raw.labels[test], probabilities)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="specs/student_performance.toml", help="spec file (default: %(default)s)")
    args = parser.parse_args()
    spec = read_spec(args.spec)
    raw = load_spec_table(spec, data_root())

    out = Path(tempfile.mkdtemp(prefix="dsrsd-bench-")) / "spec"
    command = [sys.executable, "-m", "dsrsd.train", "--spec", args.spec, "--seed", "0", "--out", str(out), "--quiet"]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    metrics = json.loads((out / "config.json").read_text())["metrics"]

    names = [m.name for m in spec.modalities]
    baselines = {"all modalities": logistic_baseline(spec, raw, names)}
    for name in names:
        baselines[f"without {name}"] = logistic_baseline(spec, raw, [m for m in names if m != name])
    print(json.dumps({
        "command": " ".join(command[1:]),
        "wall_seconds": round(seconds, 1),
        "rows": {name: int((raw.split == name).sum()) for name in ("train", "validation", "test")},
        "dsrsd_test": metrics["test"],
        "dsrsd_test_knockout": metrics["test_knockout"],
        "logistic_regression_test": baselines,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
