"""The train, predict and evaluate command lines on the real data, with a one-epoch model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dsrsd import evaluate, predict, train
from dsrsd.data.tables import REGISTRATION_KEY
from dsrsd.metrics import outcome_metrics

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_ROWS = 11_260
PREDICTION_COLUMNS = [
    "code_module", "code_presentation", "id_student",
    "prob_Distinction", "prob_Pass", "prob_Fail", "prob_Withdrawn", "at_risk",
]


def run_module(module: str, *args: str) -> subprocess.CompletedProcess:
    """Run `python -m module args` from the repository root, on one torch thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def trained(oulad_dir, tmp_path_factory):
    """Train for one epoch with `python -m dsrsd.train` and return (checkpoint folder, completed process)."""
    out = tmp_path_factory.mktemp("cli") / "checkpoint"
    result = run_module("dsrsd.train", "--data-dir", str(oulad_dir), "--out", str(out), "--epochs", "1",
                        "--hidden-size", "16", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    return out, result


@pytest.fixture(scope="module")
def labels_2014j(raw_end) -> pd.DataFrame:
    """Keys and label index of the 2014J registrations."""
    test = raw_end.subset((raw_end.keys["code_presentation"] == "2014J").to_numpy())
    return test.keys.assign(label=test.labels)


def run_predict(trained, oulad_dir, tmp_path, *extra: str) -> pd.DataFrame:
    checkpoint, _ = trained
    out = tmp_path / "predictions.csv"
    code = predict.main(["--checkpoint", str(checkpoint), "--data-dir", str(oulad_dir), "--out", str(out),
                         "--device", "cpu", *extra])
    assert code == 0
    return pd.read_csv(out)


def run_evaluate(trained, oulad_dir, capsys, *extra: str) -> dict:
    checkpoint, _ = trained
    code = evaluate.main(["--checkpoint", str(checkpoint), "--data-dir", str(oulad_dir), "--device", "cpu", *extra])
    assert code == 0
    return json.loads(capsys.readouterr().out)


def test_train_writes_checkpoint(trained):
    checkpoint, result = trained
    assert (checkpoint / "model.safetensors").is_file()
    # Progress and epoch lines go to stderr, so stdout is the JSON summary alone.
    summary = json.loads(result.stdout)
    assert "epoch   1 | task=" in result.stderr
    assert summary["checkpoint"] == str(checkpoint)
    assert summary["test"]["rows"] == TEST_ROWS
    assert "engagement form course_totals, cutoff end" in result.stderr

    config = json.loads((checkpoint / "config.json").read_text())
    rows = config["data"]["rows"]
    assert rows["test"] == TEST_ROWS
    assert rows["train"] + rows["validation"] == 32_593 - TEST_ROWS
    assert len(config["history"]) == 1
    assert set(config["metrics"]["test_knockout"]) == {"profile", "assessments", "engagement"}


def test_predict_csv(trained, oulad_dir, tmp_path):
    table = run_predict(trained, oulad_dir, tmp_path)
    assert list(table.columns) == PREDICTION_COLUMNS
    assert len(table) == TEST_ROWS
    assert set(table["code_presentation"]) == {"2014J"}
    assert not table.duplicated(REGISTRATION_KEY).any()

    probabilities = table[PREDICTION_COLUMNS[3:7]].to_numpy()
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(table["at_risk"], table["prob_Fail"] + table["prob_Withdrawn"], atol=1e-6)


def test_predict_perturbed(trained, oulad_dir, tmp_path):
    plain = run_predict(trained, oulad_dir, tmp_path)
    perturbed = run_predict(trained, oulad_dir, tmp_path, "--knockout", "engagement", "--noise", "assessments=0.5")
    assert len(perturbed) == TEST_ROWS
    pd.testing.assert_frame_equal(perturbed[REGISTRATION_KEY], plain[REGISTRATION_KEY])
    probabilities = perturbed[PREDICTION_COLUMNS[3:7]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert (perturbed["at_risk"] - plain["at_risk"]).abs().max() > 1e-3


def test_predict_all_split(trained, oulad_dir, tmp_path):
    table = run_predict(trained, oulad_dir, tmp_path, "--split", "all")
    assert len(table) == 32_593


def test_evaluate_json(trained, oulad_dir, capsys):
    metrics = run_evaluate(trained, oulad_dir, capsys)
    assert set(metrics) == {"accuracy", "macro_f1", "at_risk_auc", "rows"}
    assert metrics["rows"] == TEST_ROWS
    for name in ["accuracy", "macro_f1", "at_risk_auc"]:
        assert 0.0 <= metrics[name] <= 1.0, name
    assert metrics["at_risk_auc"] > 0.5


def test_evaluate_matches_predict(trained, oulad_dir, tmp_path, capsys, labels_2014j):
    metrics = run_evaluate(trained, oulad_dir, capsys, "--knockout", "assessments")
    table = run_predict(trained, oulad_dir, tmp_path, "--knockout", "assessments")
    joined = table.merge(labels_2014j, on=REGISTRATION_KEY, validate="one_to_one")
    assert len(joined) == TEST_ROWS
    expected = outcome_metrics(joined["label"].to_numpy(), joined[PREDICTION_COLUMNS[3:7]].to_numpy())
    assert metrics["accuracy"] == pytest.approx(expected["accuracy"])
    assert metrics["at_risk_auc"] == pytest.approx(expected["at_risk_auc"], abs=1e-6)


def test_evaluate_perturbed(trained, oulad_dir, capsys):
    plain = run_evaluate(trained, oulad_dir, capsys)
    perturbed = run_evaluate(trained, oulad_dir, capsys, "--knockout", "assessments", "--noise", "engagement=1.0")
    assert perturbed["rows"] == TEST_ROWS
    assert perturbed["at_risk_auc"] != plain["at_risk_auc"]


def test_bad_noise_exits_2(trained, oulad_dir):
    checkpoint, _ = trained
    result = run_module("dsrsd.evaluate", "--checkpoint", str(checkpoint), "--data-dir", str(oulad_dir),
                        "--noise", "engagement=loud")
    assert result.returncode == 2
    assert "error: invalid --noise 'engagement=loud': use MODALITY=STD" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", [predict, evaluate])
@pytest.mark.parametrize("option", ["--knockout", "--noise"])
def test_unknown_modality_exits_2(trained, oulad_dir, tmp_path, capsys, command, option):
    checkpoint, _ = trained
    value = "clicks" if option == "--knockout" else "clicks=0.5"
    argv = ["--checkpoint", str(checkpoint), "--data-dir", str(oulad_dir), option, value]
    if command is predict:
        argv += ["--out", str(tmp_path / "predictions.csv")]
    assert command.main(argv) == 2
    assert "error: unknown modality 'clicks'; the model's modalities are" in capsys.readouterr().err
    assert not (tmp_path / "predictions.csv").exists()


def test_missing_checkpoint_exits_2(oulad_dir, tmp_path, capsys):
    argv = ["--checkpoint", str(tmp_path / "none"), "--data-dir", str(oulad_dir)]
    assert evaluate.main(argv) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_train_bad_cutoff_exits_2(tmp_path, capsys):
    argv = ["--data-dir", str(tmp_path), "--out", str(tmp_path / "model"), "--cutoff", "soon"]
    assert train.main(argv) == 2
    assert "error: invalid cutoff 'soon'" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


def test_train_missing_data_exits_2(tmp_path, capsys):
    argv = ["--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "model")]
    assert train.main(argv) == 2
    assert "does not exist" in capsys.readouterr().err


def test_predict_bad_split_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        predict.main(["--checkpoint", str(tmp_path), "--data-dir", str(tmp_path), "--out", "x.csv", "--split", "dev"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'dev'" in capsys.readouterr().err


def test_train_bad_threads_exits_2(tmp_path, capsys):
    argv = ["--data-dir", str(tmp_path), "--out", str(tmp_path / "model"), "--threads", "0"]
    assert train.main(argv) == 2
    assert "invalid --threads 0" in capsys.readouterr().err


def test_train_existing_out_exits_2(trained, oulad_dir, capsys):
    checkpoint, _ = trained
    before = (checkpoint / "model.safetensors").read_bytes()
    assert train.main(["--data-dir", str(oulad_dir), "--out", str(checkpoint), "--epochs", "1"]) == 2
    assert "pass --overwrite to replace it" in capsys.readouterr().err
    assert (checkpoint / "model.safetensors").read_bytes() == before


def test_train_invalid_epochs_exits_2(tmp_path, capsys):
    argv = ["--data-dir", str(tmp_path), "--out", str(tmp_path / "model"), "--epochs", "0"]
    assert train.main(argv) == 2
    assert "error: invalid --epochs 0: use 1 or more" in capsys.readouterr().err


@pytest.mark.parametrize("command", [predict, evaluate])
def test_overflowing_noise_exits_2(trained, oulad_dir, tmp_path, capsys, command):
    checkpoint, _ = trained
    argv = ["--checkpoint", str(checkpoint), "--data-dir", str(oulad_dir), "--noise", "profile=1e30"]
    if command is predict:
        argv += ["--out", str(tmp_path / "nan.csv")]
    assert command.main(argv) == 2
    message = capsys.readouterr().err
    assert "non-finite probabilities" in message
    assert "under --noise profile=1e+30" in message
    assert not (tmp_path / "nan.csv").exists()


def test_noise_twice_exits_2(trained, oulad_dir, capsys):
    checkpoint, _ = trained
    argv = ["--checkpoint", str(checkpoint), "--data-dir", str(oulad_dir), "--noise", "engagement=0.5", "engagement=1"]
    assert evaluate.main(argv) == 2
    assert "engagement already has noise 0.5" in capsys.readouterr().err


def test_all_knocked_out_warns(trained, oulad_dir, capsys):
    checkpoint, _ = trained
    argv = ["--checkpoint", str(checkpoint), "--data-dir", str(oulad_dir), "--knockout", "profile", "assessments",
            "engagement"]
    assert evaluate.main(argv) == 0
    output = capsys.readouterr()
    assert json.loads(output.out)["at_risk_auc"] == 0.5
    assert "warning: every modality is knocked out" in output.err


def test_repeated_flags_extend(trained, oulad_dir, capsys):
    both = run_evaluate(trained, oulad_dir, capsys, "--knockout", "profile", "--knockout", "assessments")
    together = run_evaluate(trained, oulad_dir, capsys, "--knockout", "profile", "assessments")
    assessments_only = run_evaluate(trained, oulad_dir, capsys, "--knockout", "assessments")
    assert both == together
    assert both != assessments_only


def test_negative_seed_exits_2(trained, oulad_dir, capsys):
    checkpoint, _ = trained
    argv = ["--checkpoint", str(checkpoint), "--data-dir", str(oulad_dir), "--seed", "-1"]
    assert evaluate.main(argv) == 2
    assert "error: invalid --seed -1: use 0 or more" in capsys.readouterr().err


def test_noise_on_knocked_out_warns(trained, oulad_dir, capsys):
    checkpoint, _ = trained
    argv = ["--checkpoint", str(checkpoint), "--data-dir", str(oulad_dir), "--knockout", "engagement",
            "--noise", "engagement=0.5"]
    assert evaluate.main(argv) == 0
    assert "warning: noise on engagement has no effect" in capsys.readouterr().err


def test_train_synthetic_records_dataset(tmp_path, capsys):
    out = tmp_path / "model"
    argv = ["--dataset", "synthetic", "--learners", "120", "--data-seed", "5", "--epochs", "1",
            "--hidden-size", "8", "--out", str(out), "--quiet"]
    assert train.main(argv) == 0, capsys.readouterr().err
    data = json.loads((out / "config.json").read_text())["data"]
    assert data["dataset"] == "synthetic"
    assert data["synthetic"] == {"seed": 5, "learners": 120}
    assert data["engagement_form"] == "weekly_clicks"
    assert data["rows"]["test"] == 30


def test_train_oulad_without_data_dir_exits_2(tmp_path, capsys):
    assert train.main(["--out", str(tmp_path / "model")]) == 2
    assert "missing --data-dir" in capsys.readouterr().err


def test_train_spec_and_evaluate(oulad_dir, tmp_path, capsys):
    out = tmp_path / "model"
    spec = REPO_ROOT / "specs" / "student_performance.toml"
    argv = ["--spec", str(spec), "--epochs", "2", "--hidden-size", "8", "--out", str(out), "--quiet"]
    assert train.main(argv) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["test"]["rows"] == 130
    data = json.loads((out / "config.json").read_text())["data"]
    assert data["dataset"] == "spec"
    assert data["spec"]["target"] == "G3"
    assert data["rows"] == {"train": 422, "validation": 97, "test": 130}

    assert evaluate.main(["--checkpoint", str(out), "--data-dir", str(oulad_dir.parent)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["rows"] == 130
    assert metrics["at_risk_auc"] == pytest.approx(summary["test"]["at_risk_auc"])


def test_train_bad_spec_exits_2(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text('name = "x"\ntable = "t.csv"\n[modalities.a]\nnumeric = ["x"]\n')
    assert train.main(["--spec", str(spec), "--out", str(tmp_path / "model")]) == 2
    assert "missing [target] section" in capsys.readouterr().err


def test_evaluate_demo_without_data_dir(capsys):
    demo = REPO_ROOT / "checkpoints" / "synthetic-demo"
    assert evaluate.main(["--checkpoint", str(demo)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    recorded = json.loads((demo / "config.json").read_text())["metrics"]["test"]
    assert metrics["rows"] == 1000
    assert metrics["at_risk_auc"] == pytest.approx(recorded["at_risk_auc"], abs=1e-6)
