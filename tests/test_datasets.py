"""Data sources of checkpoints, and the checkpoint the app opens on."""

from __future__ import annotations

from dsrsd import datasets
from dsrsd.data.synthetic import synthetic_dir

PATHS = ["/c/oulad-final-outcome", "/c/synthetic-demo"]


def test_missing_dataset_field_means_oulad():
    assert datasets.dataset_of({"data": {"cutoff": "end"}}) == "oulad"
    assert datasets.dataset_of({}) == "oulad"


def test_oulad_dir_under_root(tmp_path):
    assert datasets.data_dir_for({"data": {"dataset": "oulad"}}, tmp_path) == tmp_path / "oulad"


def test_synthetic_dir_in_cache(tmp_path):
    config = {"data": {"dataset": "synthetic", "synthetic": {"seed": 7, "learners": 60}}}
    path = datasets.data_dir_for(config, tmp_path)
    assert path == synthetic_dir(7, 60)
    assert not path.is_relative_to(tmp_path)
    assert (path / "studentVle.csv.gz").is_file()
    assert datasets.missing_data_message(config, tmp_path) is None


def test_missing_oulad_message_names_folder(tmp_path):
    message = datasets.missing_data_message({"data": {"dataset": "oulad"}}, tmp_path)
    assert str(tmp_path / "oulad") in message
    assert "studentInfo" in message


def test_default_checkpoint_without_oulad(tmp_path):
    assert datasets.default_checkpoint(PATHS, tmp_path) == "/c/synthetic-demo"
    assert datasets.default_checkpoint(PATHS[:1], tmp_path) == "/c/oulad-final-outcome"


def test_default_checkpoint_with_oulad(oulad_dir):
    assert datasets.default_checkpoint(PATHS, oulad_dir.parent) == "/c/oulad-final-outcome"
