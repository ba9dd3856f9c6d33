"""The ASSISTments checkpoint the app trains on first use: cache key, training once, loading after, failures."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from dsrsd import first_use
from dsrsd.checkpoint import load_checkpoint
from dsrsd.data import DataError
from dsrsd.datasets import missing_assistments_message
from dsrsd.first_use import (
    EPOCHS_VARIABLE, FirstUseSettings, file_sha256, first_use_dir, first_use_settings, is_trained, train_first_use,
)

pytestmark = pytest.mark.filterwarnings("ignore:column .* categories unseen in training")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("DSRSD_CACHE_DIR", str(path))
    return path


def test_settings_epochs_from_environment(monkeypatch):
    monkeypatch.delenv(EPOCHS_VARIABLE, raising=False)
    assert first_use_settings() == FirstUseSettings()
    monkeypatch.setenv(EPOCHS_VARIABLE, "2")
    assert first_use_settings().epochs == 2
    for value in ["0", "two"]:
        monkeypatch.setenv(EPOCHS_VARIABLE, value)
        with pytest.raises(ValueError, match=rf"invalid {EPOCHS_VARIABLE}='{value}'"):
            first_use_settings()


def test_folder_keyed_on_data_and_settings(cache):
    settings = FirstUseSettings()
    folder = first_use_dir("a" * 64, settings)
    assert folder.parent == cache / "first-use"
    assert first_use_dir("a" * 64, FirstUseSettings()) == folder
    assert first_use_dir("b" * 64, settings) != folder
    assert first_use_dir("a" * 64, replace(settings, epochs=1)) != folder
    assert first_use_dir("a" * 64, replace(settings, fold=1)) != folder


def test_trains_once_then_loads(assistments_file, cache):
    settings = FirstUseSettings(epochs=1)
    folder = first_use_dir(file_sha256(assistments_file), settings)
    epochs = []
    assert train_first_use(assistments_file, folder, settings, on_epoch=epochs.append)
    assert [entry.epoch for entry in epochs] == [1]
    assert is_trained(folder)
    written = (folder / "model.safetensors").stat().st_mtime_ns

    assert not train_first_use(assistments_file, folder, settings, on_epoch=epochs.append)
    assert len(epochs) == 1
    assert (folder / "model.safetensors").stat().st_mtime_ns == written

    config = json.loads((folder / "config.json").read_text())
    assert config["data"]["dataset"] == "assistments"
    assert config["data"]["fold"] == 0
    assert config["data"]["trained_on_first_use"]["epochs"] == 1
    assert config["model"]["hidden_size"] == settings.hidden_size
    assert 0.5 < config["metrics"]["test"]["auc"] < 1.0
    assert load_checkpoint(folder).modalities == ["history", "behaviour", "context"]


def test_failed_training_writes_nothing(tmp_path, cache):
    bad = tmp_path / "skill_builder.csv"
    bad.write_text("user_id,order_id\n1,2\n")
    folder = first_use_dir(file_sha256(bad), FirstUseSettings(epochs=1))
    with pytest.raises(DataError, match=r"missing required column"):
        train_first_use(bad, folder, FirstUseSettings(epochs=1))
    assert not folder.exists()
    assert not folder.parent.exists() or not list(folder.parent.iterdir())


def test_interrupted_training_writes_nothing(assistments_file, cache):
    settings = FirstUseSettings(epochs=1)
    folder = first_use_dir(file_sha256(assistments_file), settings)

    def stop(entry):
        raise RuntimeError("stopped after an epoch")

    with pytest.raises(RuntimeError, match="stopped after an epoch"):
        train_first_use(assistments_file, folder, settings, on_epoch=stop)
    assert not folder.exists()
    assert not folder.parent.exists() or not list(folder.parent.iterdir())
    assert first_use._TRAINING_LOCK.acquire(blocking=False), "a failed training must release the lock"
    first_use._TRAINING_LOCK.release()


def test_missing_data_message(tmp_path):
    message = missing_assistments_message(tmp_path)
    assert str(tmp_path / "assistments2009") in message
    assert "sites.google.com/site/assistmentsdata" in message
    assert "DSRSD_DATA_DIR" in message
    (tmp_path / "assistments2009").mkdir()
    (tmp_path / "assistments2009" / "skill_builder.csv").write_text("user_id\n1\n")
    assert missing_assistments_message(tmp_path) is None
