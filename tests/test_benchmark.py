"""The benchmark CLI on a small slice of the real data: tables, report, shipped checkpoints and resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from dsrsd import benchmark, evaluate, predict
from dsrsd.report import SECTION_END, SECTION_START

REPO_ROOT = Path(__file__).resolve().parents[1]
# Three models, one seed, one cutoff, 1,500 training rows and three epochs keep this run short; the full
# grid is benchmarks/oulad.toml.
TINY_CONFIG = """
ship_checkpoints = "{ship}"

[protocol]
cutoffs = ["end"]
seeds = [0]
epochs = 3
patience = 3
noise_levels = [1.0]
bootstrap = 20
max_train_rows = 1500

[transfer]
cutoff = "end"
train_modules = ["AAA", "BBB", "CCC", "DDD"]
models = ["early"]

[models.dsrsd]
kind = "dsrsd"
model = {{ hidden_size = 16, align_size = 8 }}

[models.early]
kind = "early"
ship = true

[models.gbdt]
kind = "gbdt"
gbdt = {{ max_iter = 5 }}
ship = true
"""
RUNS = ["main-end-dsrsd-seed0", "main-end-early-seed0", "main-end-gbdt-seed0", "transfer-end-early-seed0"]


@pytest.fixture(scope="module")
def tiny_grid(oulad_dir, tmp_path_factory):
    """Run the tiny grid once; return (config path, output folder, docs file, ship folder)."""
    folder = tmp_path_factory.mktemp("benchmark")
    config = folder / "tiny.toml"
    config.write_text(TINY_CONFIG.format(ship=folder / "ship"))
    docs = folder / "BENCHMARKS.md"
    docs.write_text("# Benchmarks\n\nText before.\n")
    arguments = ["--config", str(config), "--data-dir", str(oulad_dir), "--out", str(folder / "out"), "--docs", str(docs),
                 "--quiet"]
    assert benchmark.main(arguments) == 0
    return arguments, folder / "out", docs, folder / "ship"


def test_grid_writes_tables(tiny_grid):
    _, out, _, _ = tiny_grid
    results = pd.read_csv(out / "results.csv")
    assert sorted(results["id"].unique()) == sorted(RUNS)
    # Clean input, six knockout subsets and one noise level on each of three modalities.
    assert (results.groupby("id").size() == 1 + 6 + 3).all()
    clean = results[results["perturbation"] == "none"]
    assert (clean["at_risk_auc"] > 0.6).all()
    assert (clean["at_risk_auc_retention"] == 1.0).all()
    summary = json.loads((out / "results.json").read_text())
    assert summary["comparisons"][0]["baseline"] in ("early", "gbdt")
    comparison = summary["comparisons"][0]
    assert comparison["low"] <= comparison["difference"] <= comparison["high"]
    assert {path.name for path in (out / "figures").iterdir()} == {
        "auc_by_cutoff.html", "missing_modalities_end.html", "noise_end.html"}


def test_grid_writes_docs_section(tiny_grid):
    arguments, _, docs, _ = tiny_grid
    text = docs.read_text()
    assert text.startswith("# Benchmarks\n\nText before.")
    assert text.count(SECTION_START) == 1
    assert text.count(SECTION_END) == 1
    assert "| early | 1 |" in text
    assert "Transfer across courses" in text


def test_grid_resumes(tiny_grid, capsys):
    arguments, out, docs, _ = tiny_grid
    kept = out / "runs" / f"{RUNS[0]}.json"
    removed = out / "runs" / f"{RUNS[1]}.json"
    kept_time = kept.stat().st_mtime_ns
    removed.unlink()
    capsys.readouterr()
    assert benchmark.main(arguments) == 0
    assert f"{len(RUNS)} runs, {len(RUNS) - 1} already done, 1 to run" in capsys.readouterr().err
    assert kept.stat().st_mtime_ns == kept_time
    assert removed.is_file()
    assert docs.read_text().count(SECTION_START) == 1


@pytest.mark.parametrize("name", ["early", "gbdt"])
def test_shipped_checkpoint_evaluates(tiny_grid, oulad_dir, name, capsys, tmp_path):
    _, _, _, ship = tiny_grid
    capsys.readouterr()
    assert evaluate.main(["--checkpoint", str(ship / name), "--data-dir", str(oulad_dir), "--device", "cpu",
                          "--knockout", "engagement"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["rows"] == 11_260
    assert metrics["at_risk_auc"] > 0.7
    out = tmp_path / "predictions.csv"
    assert predict.main(["--checkpoint", str(ship / name), "--data-dir", str(oulad_dir), "--out", str(out),
                         "--device", "cpu"]) == 0
    assert len(pd.read_csv(out)) == 11_260


def test_quick_config_is_small():
    config = benchmark.load_config(REPO_ROOT / "benchmarks" / "oulad.toml", quick=True)
    specs = benchmark.grid(config)
    assert {spec.cutoff for spec in specs} == {"end"}
    assert {spec.seed for spec in specs} == {0}
    assert {spec.group for spec in specs} == {"main"}
    assert not config["ship_checkpoints"]
    assert not config["docs"]
    full = benchmark.grid(benchmark.load_config(REPO_ROOT / "benchmarks" / "oulad.toml", quick=False))
    assert {spec.cutoff for spec in full} == {"end", 120, 60}
    assert len({spec.run_id for spec in full}) == len(full)


def test_config_without_kind_rejected(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text('[protocol]\ncutoffs = ["end"]\nseeds = [0]\n[models.x]\nmodel = {}\n')
    assert benchmark.main(["--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert "model entry 'x' has no kind" in capsys.readouterr().err
