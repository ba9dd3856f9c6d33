"""`python -m dsrsd.project`: maps stored beside a checkpoint reload, match the data and place new codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dsrsd import project
from dsrsd.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_checkpoint
from dsrsd.cohorts import build_cohorts, course_rows
from dsrsd.inference import predict
from dsrsd.map_store import STREAMS, StoredMapMismatch, load_maps, read_index, stored_sample
from dsrsd.perturb import Perturbation
from dsrsd.projection import place_in_maps

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "oulad-final-outcome"


@pytest.fixture
def bare_checkpoint(tmp_path) -> Path:
    """A copy of the shipped checkpoint without stored maps."""
    target = tmp_path / "checkpoint"
    target.mkdir()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        shutil.copy(SHIPPED / name, target / name)
    return target


def test_project_stores_maps_that_reload(bare_checkpoint, mini_oulad_dir, capsys):
    code = project.main(["--checkpoint", str(bare_checkpoint), "--data-dir", str(mini_oulad_dir),
                         "--cohorts", "AAA 2013J"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["stored"] == ["AAA 2013J"]
    entry = read_index(bare_checkpoint)["cohorts"]["AAA 2013J"]
    assert entry["learners"] == 383
    assert set(entry["streams"]) == set(STREAMS)

    checkpoint = load_checkpoint(bare_checkpoint)
    cohorts = build_cohorts(checkpoint, mini_oulad_dir)
    rows = course_rows(cohorts, "AAA 2013J")
    sample = stored_sample(bare_checkpoint, "AAA 2013J")
    np.testing.assert_array_equal(sample, np.arange(383))
    encoded = cohorts.encoded.subset(rows[sample])
    clean = predict(checkpoint.model, encoded, keep_codes=True)
    maps = load_maps(bare_checkpoint, "AAA 2013J", ("aligned", "private"), clean, encoded.keys)
    assert len(maps.points) == 2 * int(clean.available.sum())

    noisy = predict(checkpoint.model, encoded, Perturbation(noise={"engagement": 1.0}), keep_codes=True)
    placed = place_in_maps(maps, noisy, reference=clean)
    assert set(placed["modality"]) == {"engagement"}
    assert np.isfinite(placed[["x", "y"]].to_numpy()).all()

    # Codes of other inputs do not match the stored fingerprint.
    other = predict(checkpoint.model, encoded, Perturbation(noise={m: 0.5 for m in checkpoint.modalities}),
                    keep_codes=True)
    with pytest.raises(StoredMapMismatch):
        load_maps(bare_checkpoint, "AAA 2013J", ("aligned",), other, encoded.keys)


def test_project_unknown_cohort_exits_2(bare_checkpoint, mini_oulad_dir, capsys):
    code = project.main(["--checkpoint", str(bare_checkpoint), "--data-dir", str(mini_oulad_dir), "--cohorts", "ZZZ 2099J"])
    assert code == 2
    error = capsys.readouterr().err
    assert "unknown cohort(s) 'ZZZ 2099J'" in error
    assert "AAA 2013J" in error
    assert not (bare_checkpoint / "maps").exists()


def test_project_missing_checkpoint_exits_2(tmp_path, capsys):
    code = project.main(["--checkpoint", str(tmp_path / "nowhere"), "--data-dir", str(tmp_path)])
    assert code == 2
    assert "is not a directory" in capsys.readouterr().err
