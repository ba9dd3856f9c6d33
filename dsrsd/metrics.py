"""Outcome metrics: accuracy, macro-F1 over the classes that occur, and at-risk ROC AUC.

Next-step rows use the same outcome classes (Pass or Fail), so the at-risk AUC of a next-step model
equals the AUC of its probability to pass the next step.
"""

from __future__ import annotations

import numpy as np

from dsrsd.data.oulad import AT_RISK_CLASSES, OUTCOME_CLASSES

AT_RISK_INDEX = [OUTCOME_CLASSES.index(name) for name in AT_RISK_CLASSES]
FINAL_OUTCOME, NEXT_STEP = "final_outcome", "next_step"
TASKS = (FINAL_OUTCOME, NEXT_STEP)


def at_risk_probability(probabilities: np.ndarray) -> np.ndarray:
    """P(Fail) + P(Withdrawn) from N x 4 class probabilities."""
    return probabilities[:, AT_RISK_INDEX].sum(axis=1)


def outcome_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    # Imported here: scikit-learn takes about a second to import, and the app's pages need only
    # `at_risk_probability` from this module.
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    at_risk = np.isin(labels, AT_RISK_INDEX)
    predicted = probabilities.argmax(axis=1)
    # Classes that neither occur nor are predicted (no Distinction in a pass/fail course) would add
    # an F1 of 0 each, so the macro average runs over the classes that appear on either side.
    observed = np.union1d(labels, predicted)
    auc = roc_auc_score(at_risk, at_risk_probability(probabilities)) if 0 < at_risk.sum() < len(at_risk) else float("nan")
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_f1": float(f1_score(labels, predicted, average="macro", labels=observed, zero_division=0)),
        "at_risk_auc": float(auc),
        "rows": int(len(labels)),
    }


def pass_probability(probabilities: np.ndarray) -> np.ndarray:
    """P(Distinction) + P(Pass): for a next-step row, the probability to pass the next step."""
    return 1.0 - at_risk_probability(probabilities)


def task_metrics(task: str, labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Return `outcome_metrics`; for the next step, also `auc` of P(pass), and accuracy and macro-F1 of the
    decision P(pass) >= 0.5."""
    metrics = outcome_metrics(labels, probabilities)
    if task == NEXT_STEP:
        from sklearn.metrics import f1_score

        passed = ~np.isin(labels, AT_RISK_INDEX)
        predicted = pass_probability(probabilities) >= 0.5
        metrics["auc"] = metrics["at_risk_auc"]
        metrics["accuracy"] = float(np.mean(predicted == passed)) if len(labels) else float("nan")
        # Over the two decisions, passed and not passed, that accuracy also scores.
        metrics["macro_f1"] = float(f1_score(passed, predicted, average="macro", labels=[False, True], zero_division=0))
    return metrics
