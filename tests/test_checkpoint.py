"""Checkpoints: a round trip that keeps predictions, and rejection of pickles and damaged files."""

from __future__ import annotations

import copy
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dsrsd.checkpoint import CheckpointError, list_checkpoints, load_checkpoint, save_checkpoint
from dsrsd.config import LossConfig, ModelConfig, TrainConfig, config_from_dict
from dsrsd.data import OuladEncoder
from dsrsd.inference import predict
from dsrsd.model import DSRSDNet
from dsrsd.perturb import Perturbation
from dsrsd.settings import CHECKPOINTS_DIR

MODEL_CONFIG = ModelConfig(hidden_size=8, align_size=4, dropout=0.0)
DATA = {"dataset": "oulad", "task": "final_outcome", "cutoff": 60, "validation_seed": 0}


class CreatesMarker:
    """Pickle payload whose unpickling creates the file `path`, in place of the code a pickle can run."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


@pytest.fixture(scope="module")
def encoder(toy_raw) -> OuladEncoder:
    return OuladEncoder.fit(toy_raw)


@pytest.fixture(scope="module")
def model(encoder) -> DSRSDNet:
    torch.manual_seed(0)
    return DSRSDNet(encoder.modalities, encoder.input_sizes(), encoder.state["kinds"], MODEL_CONFIG).eval()


@pytest.fixture
def saved(tmp_path, model, encoder) -> Path:
    metrics = {"test": {"accuracy": 0.5, "at_risk_auc": float("nan")}}
    return save_checkpoint(tmp_path / "model", model, encoder, MODEL_CONFIG, LossConfig(), TrainConfig(epochs=3),
                           DATA, metrics, history=[{"epoch": 1}])


def test_round_trip_predictions(saved, model, encoder, toy_raw):
    loaded = load_checkpoint(saved)
    encoded = loaded.encoder.transform(toy_raw)
    np.testing.assert_array_equal(encoded.inputs["profile"], encoder.transform(toy_raw).inputs["profile"])
    for perturbation in [Perturbation(), Perturbation(knockout=("engagement",), noise={"assessments": 0.5})]:
        expected = predict(model, encoded, perturbation).probabilities
        np.testing.assert_array_equal(predict(loaded.model, encoded, perturbation).probabilities, expected)


def test_loads_on_cpu(saved):
    loaded = load_checkpoint(saved, device="cpu")
    assert {parameter.device.type for parameter in loaded.model.parameters()} == {"cpu"}
    assert not loaded.model.training
    assert loaded.modalities == ["profile", "assessments", "engagement"]
    assert loaded.cutoff == 60


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU to save from")
def test_cuda_saved_loads_on_cpu(tmp_path, model, encoder, toy_raw):
    # NOTE: this test has not yet run on a machine with a GPU.
    cuda_model = copy.deepcopy(model).cuda()
    path = save_checkpoint(tmp_path / "cuda", cuda_model, encoder, MODEL_CONFIG, LossConfig(), TrainConfig(), DATA, {})
    loaded = load_checkpoint(path, device="cpu")
    encoded = encoder.transform(toy_raw)
    np.testing.assert_allclose(predict(loaded.model, encoded).probabilities, predict(model, encoded).probabilities,
                               rtol=1e-6, atol=1e-7)


def test_config_contents(saved, encoder):
    config = json.loads((saved / "config.json").read_text())
    assert config["format_version"] == 1
    assert config["architecture"] == "dsrsd-net"
    assert config["schema"] == encoder.state
    assert config["data"]["cutoff"] == 60
    assert config["data"]["engagement_form"] == "weekly_clicks"
    assert config["model"]["hidden_size"] == 8
    assert config["train"]["epochs"] == 3
    assert {"python", "torch", "numpy", "pandas", "safetensors", "scikit-learn"} <= set(config["versions"])
    assert config["versions"]["torch"] == torch.__version__
    # Strict JSON has no NaN, so an undefined metric is stored as null.
    assert config["metrics"]["test"]["at_risk_auc"] is None


def test_save_replaces_existing(saved, model, encoder):
    save_checkpoint(saved, model, encoder, MODEL_CONFIG, LossConfig(), TrainConfig(epochs=9), DATA, {})
    assert json.loads((saved / "config.json").read_text())["train"]["epochs"] == 9
    assert sorted(path.name for path in saved.parent.iterdir()) == ["model"]


def test_list_checkpoints(saved, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / ".staging").mkdir()
    assert list_checkpoints(tmp_path) == [saved]
    assert list_checkpoints(tmp_path / "absent") == []


def test_marker_payload_works(tmp_path):
    # Unpickling the payload does create the marker, so the rejection tests below can fail.
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(CreatesMarker(marker)))
    assert marker.exists()


def write_pickle(path: Path, marker: Path, kind: str) -> None:
    if kind == "torch.save":
        torch.save({"weights": CreatesMarker(marker)}, path)
    else:
        protocol = int(kind.removeprefix("protocol "))
        path.write_bytes(pickle.dumps({"weights": CreatesMarker(marker)}, protocol=protocol))


@pytest.mark.parametrize("kind", ["protocol 0", "protocol 2", "protocol 5", "torch.save"])
def test_pickle_weights_rejected(saved, tmp_path, kind):
    marker = tmp_path / "marker"
    write_pickle(saved / "model.safetensors", marker, kind)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_checkpoint(saved)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["model.pt", "weights.pkl", "pytorch_model.bin"])
def test_pickle_file_beside_rejected(saved, tmp_path, name):
    marker = tmp_path / "marker"
    write_pickle(saved / name, marker, "protocol 2")
    with pytest.raises(CheckpointError, match=f"{name}: pickle-based model files are not loaded"):
        load_checkpoint(saved)
    assert not marker.exists()


def test_truncated_weights(saved):
    weights = saved / "model.safetensors"
    content = weights.read_bytes()
    weights.write_bytes(content[: len(content) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors is corrupt or truncated"):
        load_checkpoint(saved)


def test_missing_config(saved):
    (saved / "config.json").unlink()
    with pytest.raises(CheckpointError, match="missing config.json"):
        load_checkpoint(saved)


def test_missing_weights(saved):
    (saved / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing model.safetensors"):
        load_checkpoint(saved)


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="is not a directory"):
        load_checkpoint(tmp_path / "nothing")


def rewrite_config(directory: Path, change) -> None:
    path = directory / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))


def test_future_format_version(saved):
    rewrite_config(saved, lambda config: config.update(format_version=2))
    with pytest.raises(CheckpointError, match="format_version 2 is newer than this dsrsd supports \\(1\\)"):
        load_checkpoint(saved)


@pytest.mark.parametrize("version", [None, "1", 1.5])
def test_invalid_format_version(saved, version):
    rewrite_config(saved, lambda config: config.update(format_version=version))
    with pytest.raises(CheckpointError, match="missing or invalid format_version"):
        load_checkpoint(saved)


def test_unknown_architecture(saved):
    rewrite_config(saved, lambda config: config.update(architecture="transformer"))
    with pytest.raises(CheckpointError, match="unknown architecture 'transformer'"):
        load_checkpoint(saved)


def test_config_not_json(saved):
    (saved / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json is not valid JSON"):
        load_checkpoint(saved)


def test_weights_mismatch_config(saved):
    rewrite_config(saved, lambda config: config["model"].update(hidden_size=16))
    with pytest.raises(CheckpointError, match="does not match the architecture in config.json"):
        load_checkpoint(saved)


def test_unknown_model_field(saved):
    rewrite_config(saved, lambda config: config["model"].update(depth=3))
    with pytest.raises(CheckpointError, match="invalid model or schema section .*unknown ModelConfig field"):
        load_checkpoint(saved)


def test_config_without_new_fields_loads(saved):
    """A checkpoint written before `shared_rank` and `orthogonality_form` existed loads with the defaults."""
    def drop_new_fields(config):
        del config["model"]["shared_rank"]
        del config["loss"]["orthogonality_form"]

    rewrite_config(saved, drop_new_fields)
    checkpoint = load_checkpoint(saved)
    assert checkpoint.model.config.shared_rank == 0
    assert config_from_dict(LossConfig, checkpoint.config["loss"]).orthogonality_form == "covariance"


def test_mismatch_detail_named(saved):
    rewrite_config(saved, lambda config: config["model"].update(hidden_size=16))
    with pytest.raises(CheckpointError, match="size mismatch for"):
        load_checkpoint(saved)


def test_edited_engagement_form(saved):
    rewrite_config(saved, lambda config: config["data"].update(engagement_form="course_totals"))
    with pytest.raises(CheckpointError, match="data.engagement_form 'course_totals' differs from schema"):
        load_checkpoint(saved)


def test_edited_task(saved):
    rewrite_config(saved, lambda config: config.update(task="next_step"))
    with pytest.raises(CheckpointError, match="task 'next_step' does not match data.cutoff"):
        load_checkpoint(saved)


def test_edited_next_step_task(tmp_path):
    copy = Path(shutil.copytree(CHECKPOINTS_DIR / "oulad-next-step", tmp_path / "copy"))
    rewrite_config(copy, lambda config: config.update(task="final_outcome"))
    with pytest.raises(CheckpointError, match="task 'final_outcome' does not match data.cutoff 'before_due'"):
        load_checkpoint(copy)


def test_empty_weights(saved):
    (saved / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="model.safetensors is corrupt or truncated"):
        load_checkpoint(saved)


def test_empty_config(saved):
    (saved / "config.json").write_text("")
    with pytest.raises(CheckpointError, match="config.json is not valid JSON"):
        load_checkpoint(saved)


def test_renamed_pickle_never_unpickled(saved, tmp_path):
    # A .pth file renamed to model.safetensors: torch.save's zip archive, whose payload would create the marker.
    marker = tmp_path / "marker"
    torch.save(CreatesMarker(marker), tmp_path / "weights.pth")
    (tmp_path / "weights.pth").rename(saved / "model.safetensors")
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(saved)
    assert "not safetensors; it was not loaded, because unpickling can run arbitrary code" in str(error.value)
    assert not marker.exists()
