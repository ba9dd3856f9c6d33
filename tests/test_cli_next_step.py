"""`--task next_step` in the train, predict and evaluate command lines, on the real data, with a one-epoch model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from dsrsd import evaluate, predict, train
from dsrsd.data import BEFORE_DUE, load_oulad
from dsrsd.data.next_step import CLICK_WINDOWS, PASSED

TEST_ROWS = 72_700
ROW_KEY = ["code_module", "code_presentation", "id_student", "id_assessment"]


@pytest.fixture(scope="module")
def trained(oulad_dir, tmp_path_factory):
    """Train a small next-step model for one epoch and return (checkpoint folder, JSON summary)."""
    out = tmp_path_factory.mktemp("next-step") / "checkpoint"
    argv = ["--task", "next_step", "--data-dir", str(oulad_dir), "--out", str(out), "--epochs", "1",
            "--hidden-size", "8", "--batch-size", "1024", "--device", "cpu", "--quiet"]
    assert train.main(argv) == 0
    return out


@pytest.fixture(scope="module")
def test_rows(oulad_dir) -> pd.DataFrame:
    """Keys and pass flag of the 2014J next-step rows."""
    raw = load_oulad(oulad_dir, BEFORE_DUE)
    rows = (raw.keys["code_presentation"] == "2014J").to_numpy()
    return raw.keys[rows].assign(passed=raw.labels[rows] == PASSED)


def test_train_records_task(trained):
    config = json.loads((trained / "config.json").read_text())
    assert config["task"] == "next_step"
    assert config["data"]["cutoff"] == BEFORE_DUE
    assert config["data"]["rows"]["test"] == TEST_ROWS
    assert config["schema"]["feature_names"]["assessments"][-1] == "is_target"
    assert config["metrics"]["test"]["auc"] == config["metrics"]["test"]["at_risk_auc"]
    assert config["metrics"]["test"]["auc"] > 0.8


def test_predict_one_row_per_assessment(trained, oulad_dir, tmp_path, test_rows):
    out = tmp_path / "next.csv"
    assert predict.main(["--checkpoint", str(trained), "--data-dir", str(oulad_dir), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ROW_KEY + ["due_day", "step", "prob_pass_next"]
    assert len(table) == TEST_ROWS
    assert not table.duplicated(ROW_KEY).any()
    assert table["prob_pass_next"].between(0, 1).all()

    joined = table.merge(test_rows, on=ROW_KEY + ["due_day", "step"], validate="one_to_one")
    assert len(joined) == TEST_ROWS
    auc = roc_auc_score(joined["passed"], joined["prob_pass_next"])
    assert auc > 0.8


def test_evaluate_matches_predict(trained, oulad_dir, tmp_path, capsys, test_rows):
    assert evaluate.main(["--checkpoint", str(trained), "--data-dir", str(oulad_dir), "--knockout", "engagement"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics) == {"auc", "accuracy", "rows"}
    assert metrics["rows"] == TEST_ROWS

    out = tmp_path / "next.csv"
    assert predict.main(["--checkpoint", str(trained), "--data-dir", str(oulad_dir), "--out", str(out),
                         "--knockout", "engagement"]) == 0
    joined = pd.read_csv(out).merge(test_rows, on=ROW_KEY + ["due_day", "step"], validate="one_to_one")
    assert metrics["auc"] == pytest.approx(roc_auc_score(joined["passed"], joined["prob_pass_next"]), abs=1e-6)
    expected_accuracy = np.mean((joined["prob_pass_next"] >= 0.5) == joined["passed"])
    assert metrics["accuracy"] == pytest.approx(expected_accuracy, abs=1e-6)


def test_next_step_with_cutoff_exits_2(tmp_path, capsys):
    argv = ["--task", "next_step", "--cutoff", "60", "--data-dir", str(tmp_path), "--out", str(tmp_path / "model")]
    assert train.main(argv) == 2
    assert "invalid --cutoff '60' for --task next_step" in capsys.readouterr().err


def test_next_step_with_spec_exits_2(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text('name = "x"\ntable = "t.csv"\n')
    assert train.main(["--task", "next_step", "--spec", str(spec), "--out", str(tmp_path / "model")]) == 2
    assert "--task next_step needs OULAD-format data" in capsys.readouterr().err


def test_synthetic_next_step_uses_click_windows(tmp_path, capsys):
    """The synthetic course has a full click log, so next-step rows read the weekly windows before each due day."""
    out = tmp_path / "model"
    argv = ["--dataset", "synthetic", "--learners", "400", "--task", "next_step", "--epochs", "1",
            "--hidden-size", "8", "--out", str(out), "--quiet"]
    assert train.main(argv) == 0, capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "next_step"
    assert config["data"]["engagement_form"] == "clicks_before_due"
    assert config["schema"]["kinds"]["engagement"] == "sequence"
    assert config["schema"]["steps"]["engagement"] == CLICK_WINDOWS
    assert config["data"]["rows"]["test"] > 0


def test_predict_out_folder_exits_2(trained, tmp_path, capsys):
    assert predict.main(["--checkpoint", str(trained), "--out", str(tmp_path)]) == 2
    assert f"--out {tmp_path} is a folder" in capsys.readouterr().err


def test_predict_unwritable_out_exits_2(trained, oulad_dir, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = blocker / "predictions.csv"
    assert predict.main(["--checkpoint", str(trained), "--data-dir", str(oulad_dir), "--out", str(out)]) == 2
    assert f"cannot write --out {out}" in capsys.readouterr().err


@pytest.fixture
def unsubmitted_dir(mini_oulad_dir, oulad_dir, tmp_path):
    """The small AAA 2013J folder with every submission removed."""
    path = mini_oulad_dir / "studentAssessment.csv"
    header = path.read_text().splitlines()[0]
    path.write_text(header + "\n")
    return mini_oulad_dir


def test_train_one_label_exits_2(unsubmitted_dir, tmp_path, capsys):
    """Without any submission every next-step row is not passed, which no model can learn from."""
    argv = ["--task", "next_step", "--data-dir", str(unsubmitted_dir), "--epochs", "1", "--out", str(tmp_path / "m")]
    assert train.main(argv) == 2
    assert "train rows are at risk (Fail or Withdrawn; for next-step rows, not passed)" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
