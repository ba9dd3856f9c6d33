"""Compare next-assessment models on OULAD's 2014J rows: the shipped DSRSD-Net against gradient boosting
on hand-built history features.

    DSRSD_DATA_DIR=data python benchmarks/bench_next_step.py [--checkpoint checkpoints/oulad-next-step]

The reference is scikit-learn's `HistGradientBoostingClassifier` on one feature row per next-step row.
The row describes the target assessment (type, weight, due day, position), the profile and the
pre-course clicks. It also summarises the assessments due before the target: count, submitted share,
mean, last and lowest score, scores below 40, mean days late, missed assessments in a row, and the
weighted score so far. It trains on the
training rows and picks its iteration count on the validation rows, on the same split as the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score

# Run as a script, only benchmarks/ is on sys.path; the package is one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsrsd.checkpoint import load_checkpoint
from dsrsd.data import BEFORE_DUE, default_split, load_oulad
from dsrsd.data.next_step import NEXT_STEP_FEATURES, PASSED
from dsrsd.data.oulad import PROFILE_CATEGORICAL
from dsrsd.inference import predict
from dsrsd.metrics import pass_probability
from dsrsd.perturb import Perturbation
from dsrsd.pipeline import encode_for_checkpoint
from dsrsd.settings import CHECKPOINTS_DIR, data_root


def history_features(raw) -> pd.DataFrame:
    """Build the reference's hand-built features: one row per next-step row."""
    index = {name: NEXT_STEP_FEATURES.index(name) for name in NEXT_STEP_FEATURES}
    steps = raw.assessments
    history = raw.assessment_mask & (steps[..., index["is_target"]] == 0)
    count = history.sum(axis=1)
    submitted = (steps[..., index["submitted"]] == 1) & history
    score = np.where(submitted, steps[..., index["score"]], np.nan)
    late = np.where(submitted, steps[..., index["days_late"]], np.nan)
    weight = np.where(history, steps[..., index["weight"]], 0.0)

    # Rows without a submitted step give empty slices, whose NaN summaries the trees treat as missing.
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        last = np.take_along_axis(np.where(history, steps[..., index["submitted"]], np.nan),
                                  np.maximum(count - 1, 0)[:, None], axis=1)[:, 0]
        last_score = np.take_along_axis(score, np.maximum(count - 1, 0)[:, None], axis=1)[:, 0]
        features = {
            "history_count": count,
            "submitted_count": submitted.sum(axis=1),
            "submitted_share": np.where(count > 0, submitted.sum(axis=1) / np.maximum(count, 1), np.nan),
            "mean_score": np.nanmean(score, axis=1),
            "min_score": np.nanmin(np.where(np.isnan(score), np.inf, score), axis=1),
            "last_submitted": np.where(count > 0, last, np.nan),
            "last_score": last_score,
            "below_40": ((score < 40) & submitted).sum(axis=1),
            "mean_days_late": np.nanmean(late, axis=1),
            "missed_in_a_row": _missed_in_a_row(history, submitted),
            "weighted_score": np.nansum(score * weight, axis=1) / np.maximum(weight.sum(axis=1), 1e-9),
        }
    features["min_score"] = np.where(np.isinf(features["min_score"]), np.nan, features["min_score"])

    # The query step, last of each row, describes the target assessment.
    query = steps[np.arange(len(steps)), raw.assessment_mask.sum(axis=1) - 1]
    features.update({
        "target_is_tma": query[:, index["is_tma"]], "target_weight": query[:, index["weight"]],
        "target_due_day": query[:, index["due_day"]], "target_step": raw.keys["step"].to_numpy(),
        "prev_attempts": raw.profile_numeric[:, 0], "studied_credits": raw.profile_numeric[:, 1],
        "date_registration": raw.profile_numeric[:, 2],
    })

    for column, values in zip(raw.engagement.feature_names, raw.engagement.values.reshape(len(raw), -1).T):
        features[f"clicks_{column}"] = values
    table = pd.DataFrame(features)
    for column in PROFILE_CATEGORICAL:
        table[column] = raw.profile_categorical[column].fillna("(missing)").astype("category")
    return table


def _missed_in_a_row(history: np.ndarray, submitted: np.ndarray) -> np.ndarray:
    """Count the history steps at the end of each row that were not submitted."""
    missed = history & ~submitted
    run = np.zeros(len(history), dtype=np.int64)
    counting = np.ones(len(history), dtype=bool)
    for position in range(history.shape[1] - 1, -1, -1):
        real = history[:, position]
        counting &= ~real | missed[:, position]
        run += (counting & real).astype(np.int64)
    return run


def reference_metrics(raw, split: np.ndarray, seed: int = 0) -> dict:
    table = history_features(raw)
    passed = raw.labels == PASSED
    train, validation, test = (split == name for name in ("train", "validation", "test"))
    best = None
    for iterations in (100, 200, 400):
        model = HistGradientBoostingClassifier(max_iter=iterations, learning_rate=0.1, categorical_features="from_dtype",
                                               random_state=seed)
        model.fit(table[train], passed[train])
        auc = roc_auc_score(passed[validation], model.predict_proba(table[validation])[:, 1])
        if best is None or auc > best[0]:
            best = (auc, iterations, model)
    _, iterations, model = best
    probability = model.predict_proba(table[test])[:, 1]
    return {"auc": roc_auc_score(passed[test], probability),
            "accuracy": accuracy_score(passed[test], probability >= 0.5), "iterations": iterations,
            "rows": int(test.sum())}


def checkpoint_metrics(path, data_dir) -> dict:
    checkpoint = load_checkpoint(path)
    encoded = encode_for_checkpoint(checkpoint, data_dir, "test")
    passed = encoded.labels == PASSED
    results = {}
    for name, perturbation in [("clean", Perturbation())] + [
            (f"{m} knocked out", Perturbation(knockout=(m,))) for m in encoded.modalities]:
        probability = pass_probability(predict(checkpoint.model, encoded, perturbation).probabilities)
        results[name] = {"auc": roc_auc_score(passed, probability), "accuracy": accuracy_score(passed, probability >= 0.5)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(CHECKPOINTS_DIR / "oulad-next-step"))
    args = parser.parse_args()
    data_dir = data_root() / "oulad"
    started = time.perf_counter()
    raw = load_oulad(data_dir, BEFORE_DUE)
    split = default_split(raw.keys)
    report = {
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "reference_gbdt": reference_metrics(raw, split),
        "checkpoint": checkpoint_metrics(args.checkpoint, data_dir),
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
