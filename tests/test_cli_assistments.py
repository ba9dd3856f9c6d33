"""`--dataset assistments` in the train, predict and evaluate command lines, on the two-skill subset, with a one-epoch model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from dsrsd import evaluate, predict, project, train
from dsrsd.data.assistments import CORRECT_LABEL, fold_split, load_assistments

FOLD = 1
KEYS = ["user_id", "order_id", "step", "problem_id", "skill_id", "skill"]
# Some schools and teachers of the two-skill file have test students only; their warning is expected.
pytestmark = pytest.mark.filterwarnings("ignore:column .* categories unseen in training")


@pytest.fixture(scope="module")
def trained(assistments_file, tmp_path_factory):
    """Train a tiny model on fold 1 for one epoch, reading the file from its folder; return the checkpoint folder."""
    out = tmp_path_factory.mktemp("assistments") / "checkpoint"
    argv = ["--dataset", "assistments", "--task", "next_step", "--fold", str(FOLD), "--data-dir",
            str(assistments_file.parent), "--out", str(out), "--epochs", "1", "--hidden-size", "8", "--device", "cpu",
            "--quiet"]
    assert train.main(argv) == 0
    return out


@pytest.fixture(scope="module")
def test_rows(assistments_file) -> pd.DataFrame:
    """Keys and correct flag of fold 1's test rows, split here independently of the checkpoint."""
    raw = load_assistments(assistments_file)
    test = raw.subset(fold_split(raw, FOLD) == "test")
    return test.keys.assign(correct=test.labels == CORRECT_LABEL)


def test_train_records_split(trained, test_rows):
    config = json.loads((trained / "config.json").read_text())
    assert config["task"] == "next_step"
    data = config["data"]
    assert data["dataset"] == "assistments"
    assert (data["fold"], data["folds"], data["validation_seed"], data["max_history"]) == (FOLD, 5, 0, 50)
    assert data["rows"]["test"] == len(test_rows)
    assert sum(data["rows"].values()) == 9_889
    assert config["metrics"]["test"]["auc"] == config["metrics"]["test"]["at_risk_auc"]


def test_predict_one_row_per_answer(trained, tmp_path, test_rows):
    out = tmp_path / "answers.csv"
    assert predict.main(["--checkpoint", str(trained), "--out", str(out)]) == 0
    table = pd.read_csv(out, dtype={"skill_id": str})
    assert list(table.columns) == KEYS + ["prob_correct_next"]
    assert len(table) == len(test_rows)
    assert not table.duplicated(["user_id", "order_id"]).any()
    assert table["prob_correct_next"].between(0, 1).all()
    assert (table["step"] >= 2).all()

    joined = table.merge(test_rows, on=["user_id", "order_id"], validate="one_to_one")
    assert len(joined) == len(test_rows)
    auc = roc_auc_score(joined["correct"], joined["prob_correct_next"])
    # One epoch of a width-8 model ranks answers only a little better than chance, so the check is that
    # the written probabilities reproduce the test AUC that training measured on its own split.
    assert auc > 0.5
    recorded = json.loads((trained / "config.json").read_text())["metrics"]["test"]["auc"]
    assert auc == pytest.approx(recorded, abs=1e-4)


def test_evaluate_matches_predict(trained, assistments_file, tmp_path, capsys, test_rows):
    argv = ["--checkpoint", str(trained), "--data-dir", str(assistments_file), "--knockout", "context"]
    assert evaluate.main(argv) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics) == {"auc", "accuracy", "rows"}
    assert metrics["rows"] == len(test_rows)

    out = tmp_path / "answers.csv"
    assert predict.main(argv + ["--out", str(out)]) == 0
    joined = pd.read_csv(out).merge(test_rows[["user_id", "order_id", "correct"]], on=["user_id", "order_id"])
    # The CSV rounds the probabilities, which after one epoch lie close together, so ties may differ slightly.
    assert metrics["auc"] == pytest.approx(roc_auc_score(joined["correct"], joined["prob_correct_next"]), abs=1e-4)
    expected_accuracy = np.mean((joined["prob_correct_next"] >= 0.5) == joined["correct"])
    assert metrics["accuracy"] == pytest.approx(expected_accuracy, abs=1e-6)


def test_noise_changes_predictions(trained, tmp_path):
    clean, noisy = tmp_path / "clean.csv", tmp_path / "noisy.csv"
    assert predict.main(["--checkpoint", str(trained), "--out", str(clean)]) == 0
    assert predict.main(["--checkpoint", str(trained), "--out", str(noisy), "--noise", "history=1.0"]) == 0
    change = (pd.read_csv(clean)["prob_correct_next"] - pd.read_csv(noisy)["prob_correct_next"]).abs()
    assert change.max() > 0.01


def test_assistments_without_next_step_exits_2(tmp_path, capsys):
    assert train.main(["--dataset", "assistments", "--out", str(tmp_path / "model")]) == 2
    assert "invalid --task final_outcome for --dataset assistments" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


def test_missing_file_names_folder_and_source(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DSRSD_DATA_DIR", str(tmp_path))
    argv = ["--dataset", "assistments", "--task", "next_step", "--out", str(tmp_path / "model")]
    assert train.main(argv) == 2
    error = capsys.readouterr().err
    assert f"put it into {tmp_path / 'assistments2009'}/" in error
    assert "sites.google.com/site/assistmentsdata" in error
    assert "Getting ASSISTments 2009" in error
    assert not (tmp_path / "model").exists()


def test_predict_without_data_exits_2(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DSRSD_DATA_DIR", str(tmp_path))
    assert evaluate.main(["--checkpoint", str(trained)]) == 2
    assert f"no ASSISTments folder under {tmp_path}" in capsys.readouterr().err


def test_project_rejects_assistments(trained, capsys):
    assert project.main(["--checkpoint", str(trained)]) == 2
    assert "is an ASSISTments checkpoint" in capsys.readouterr().err


def test_other_students_file_exits_2(trained, assistments_file, tmp_path, capsys):
    """A file with other students would shift the folds, so evaluating on it is rejected, naming both files."""
    table = pd.read_csv(assistments_file)
    dropped = table["user_id"].drop_duplicates().iloc[:20]
    edited = tmp_path / "fewer_students.csv"
    table[~table["user_id"].isin(dropped)].to_csv(edited, index=False)
    assert evaluate.main(["--checkpoint", str(trained), "--data-dir", str(edited)]) == 2
    message = capsys.readouterr().err
    assert f"{edited} has 882 students, not the 902 students" in message
    assert "would put training students into the test split" in message
