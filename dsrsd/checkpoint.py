"""Checkpoints: a directory with `model.safetensors` (weights) and `config.json` (everything else).

`config.json` contains the model and loss configs, the data schema with the fitted encodings and
normalisation, the cutoff and engagement form, metrics, seed and library versions, so a checkpoint
rebuilds its model and encodes new data alone. `architecture` names the model kind: DSRSD-Net, a
neural baseline, or the gradient-boosting reference, whose trees are stored as node arrays. Loading
never unpickles anything: safetensors stores raw tensors, and files that look like pickles are
rejected before any parsing.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file as load_numpy_file
from safetensors.numpy import save_file as save_numpy_file
from safetensors.torch import load_file, save_file
from torch import nn

from dsrsd.config import GBDTConfig, LossConfig, ModelConfig, TrainConfig, config_from_dict
from dsrsd.data.encoding import OuladEncoder
from dsrsd.data.next_step import BEFORE_DUE
from dsrsd.data.spec_encoding import SpecEncoder, encoder_from_state
from dsrsd.model import GBDT, build_model, is_known_architecture
from dsrsd.model.gbdt import GradientBoostedTrees

FORMAT_VERSION = 1
ARCHITECTURE = "dsrsd-net"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
# Pickle protocol 2+ starts with 0x80; torch.save writes a zip archive ("PK").
PICKLE_SIGNATURES = (b"\x80", b"PK\x03\x04")


class CheckpointError(ValueError):
    """Raised when a checkpoint cannot be loaded; the message names the wrong file and the fix."""


@dataclass
class Checkpoint:
    model: nn.Module | GradientBoostedTrees
    encoder: OuladEncoder | SpecEncoder
    config: dict          # the whole config.json
    path: Path

    @property
    def modalities(self) -> list[str]:
        return self.model.modalities

    @property
    def cutoff(self):
        return self.config["data"]["cutoff"]

    @property
    def task(self) -> str:
        """`final_outcome` or `next_step`; checkpoints that predate the field predict the final outcome."""
        return self.config.get("task", "final_outcome")

    @property
    def architecture(self) -> str:
        return self.config["architecture"]


def library_versions() -> dict[str, str]:
    import captum
    import numpy
    import pandas
    import safetensors
    import sklearn

    return {
        "python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
        "pandas": pandas.__version__, "scikit-learn": sklearn.__version__, "safetensors": safetensors.__version__,
        "captum": captum.__version__,
    }


def save_checkpoint(
    directory: str | Path,
    model: nn.Module | GradientBoostedTrees,
    encoder: OuladEncoder | SpecEncoder,
    model_config: ModelConfig | GBDTConfig,
    loss_config: LossConfig | None,
    train_config: TrainConfig,
    data: dict,
    metrics: dict,
    history: list[dict] | None = None,
    architecture: str = ARCHITECTURE,
) -> Path:
    """Write the checkpoint directory atomically: a half-written checkpoint never appears.

    `data` describes the training data: dataset, cutoff, task, split protocol and row counts.
    A gradient-boosting model (`architecture` "gbdt") takes a `GBDTConfig` and no loss config.
    """
    directory = Path(directory)
    if not is_known_architecture(architecture):
        raise ValueError(f"unknown architecture {architecture!r}")
    config = {
        "format_version": FORMAT_VERSION,
        "architecture": architecture,
        "task": data.get("task", "final_outcome"),
        "model": asdict(model_config),
        "loss": asdict(loss_config) if loss_config is not None else {},
        "train": asdict(train_config),
        "data": {**data, "engagement_form": encoder.state["engagement_form"]},
        "schema": encoder.state,
        "metrics": metrics,
        "history": history or [],
        "versions": library_versions(),
    }
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        staging.chmod(0o755)  # mkdtemp creates 0700; a checkpoint is meant to be shared
        metadata = {"format_version": str(FORMAT_VERSION)}
        if isinstance(model, GradientBoostedTrees):
            save_numpy_file(model.to_arrays(), str(staging / WEIGHTS_FILE), metadata=metadata)
        else:
            weights = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
            save_file(weights, str(staging / WEIGHTS_FILE), metadata=metadata)
        (staging / CONFIG_FILE).write_text(json.dumps(_finite(config), indent=2, allow_nan=False) + "\n")
        (staging / WEIGHTS_FILE).chmod(0o644)
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def _finite(value):
    """Replace NaN and infinities, which strict JSON lacks, by None (for example an undefined AUC)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def load_checkpoint(directory: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint onto `device`, whatever device saved it.

    Raises:
        CheckpointError: the directory, `config.json` or `model.safetensors` is missing, corrupt,
            a pickle, from a newer format, of another architecture, or does not match its config.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint {directory} is not a directory; pass a folder holding {WEIGHTS_FILE} and {CONFIG_FILE}")
    for stray in sorted(directory.glob("*")):
        if stray.suffix in (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt"):
            raise CheckpointError(
                f"{stray}: pickle-based model files are not loaded, because unpickling can run arbitrary code; "
                f"convert the weights to {WEIGHTS_FILE} with safetensors in a trusted environment"
            )
    config = _read_config(directory)
    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        raise CheckpointError(f"{directory}: missing {WEIGHTS_FILE}; a checkpoint needs its weights file")
    with open(weights_path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(PICKLE_SIGNATURES):
        raise CheckpointError(
            f"{weights_path} is a pickle or torch.save archive, not safetensors; it was not loaded, because "
            "unpickling can run arbitrary code. Re-export the weights with safetensors.torch.save_file"
        )
    architecture = config["architecture"]
    try:
        if architecture == GBDT:
            weights = load_numpy_file(str(weights_path))
        else:
            weights = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{weights_path} is corrupt or truncated ({error}); retrain or copy the file again") from error

    try:
        encoder = encoder_from_state(config["schema"])
        if architecture == GBDT:
            config_from_dict(GBDTConfig, config["model"])
            model = GradientBoostedTrees.from_arrays(encoder.modalities, weights)
            return Checkpoint(model=model, encoder=encoder, config=config, path=directory)
        model_config = config_from_dict(ModelConfig, config["model"])
        model = build_model(architecture, encoder.modalities, encoder.input_sizes(), config["schema"]["kinds"],
                            config["schema"].get("steps", {}), model_config)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{directory / CONFIG_FILE}: invalid model or schema section ({error})") from error
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        details = [line.strip() for line in str(error).splitlines()[1:] if line.strip()]
        raise CheckpointError(
            f"{weights_path} does not match the architecture in {CONFIG_FILE} ({details[0] if details else error}); "
            "the two files come from different trainings"
        ) from error
    model.to(device).eval()
    return Checkpoint(model=model, encoder=encoder, config=config, path=directory)


def _read_config(directory: Path) -> dict:
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory}: missing {CONFIG_FILE}; a checkpoint needs it to rebuild the model")
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON ({error})") from error
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} must hold a JSON object")
    version = config.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError(f"{path}: missing or invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format_version {version} is newer than this dsrsd supports ({FORMAT_VERSION}); upgrade dsrsd"
        )
    data_form = config.get("data", {}).get("engagement_form") if isinstance(config.get("data"), dict) else None
    schema_form = config.get("schema", {}).get("engagement_form") if isinstance(config.get("schema"), dict) else None
    if data_form != schema_form:
        raise CheckpointError(
            f"{path}: data.engagement_form {data_form!r} differs from schema.engagement_form {schema_form!r}; "
            "the file was edited by hand, so restore it or retrain"
        )
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    if data.get("dataset", "oulad") in ("oulad", "synthetic"):
        # OULAD-format rows are next-step rows exactly when built before each due day.
        next_step_rows = data.get("cutoff") == BEFORE_DUE
        if (config.get("task", "final_outcome") == "next_step") != next_step_rows:
            raise CheckpointError(
                f"{path}: task {config.get('task')!r} does not match data.cutoff {data.get('cutoff')!r} (next_step "
                f"goes with {BEFORE_DUE!r}); the file was edited by hand, so restore it or retrain"
            )
    architecture = config.get("architecture")
    if not isinstance(architecture, str) or not is_known_architecture(architecture):
        raise CheckpointError(
            f"{path}: unknown architecture {architecture!r}; this version loads dsrsd-net, single:MODALITY, "
            "early-fusion, late-fusion, co-attention and gbdt"
        )
    return config


def list_checkpoints(root: str | Path) -> list[Path]:
    """Return the checkpoint directories directly under `root` (those holding both files), sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(
        path for path in root.iterdir()
        if path.is_dir() and not path.name.startswith(".") and (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()
    )


__all__ = ["Checkpoint", "CheckpointError", "TrainConfig", "list_checkpoints", "load_checkpoint", "save_checkpoint"]
