"""UMAP maps stored beside a checkpoint, so the app opens its maps without fitting them.

Layout inside the checkpoint directory:

    maps/index.json             cohort -> file, learner count, sampled registrations' hash, per-stream
                                UMAP parameters and a fingerprint of the clean codes
    maps/<cohort>.safetensors   per stream: the 2-D embedding, each point's learner and modality;
                                and the sampled positions in the cohort

The clean codes themselves are not stored: the model recomputes them in a fraction of a second. A
stored map is only used when the recomputed codes match its fingerprint, so a map never describes
other data than it was fitted on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dsrsd.inference import Predictions
from dsrsd.projection import StreamMap, StreamMaps, stream_points

MAPS_DIR = "maps"
INDEX_FILE = "index.json"
MAP_FORMAT = 1
STREAMS = ("aligned", "shared", "private")
# Codes recomputed on another device or library build differ only in the last digits. A different data
# folder or model moves the fingerprint by orders of magnitude more.
FINGERPRINT_TOLERANCE = 1e-3


class StoredMapMismatch(ValueError):
    """The stored map was fitted on other learners or codes than the ones given."""


def keys_hash(keys: pd.DataFrame) -> str:
    """SHA-256 of the registrations' (module, presentation, student) keys, in order."""
    text = "\n".join(keys["code_module"].astype(str) + " " + keys["code_presentation"].astype(str) + " "
                     + keys["id_student"].astype(str))
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(codes: np.ndarray) -> list[float]:
    """Mean and standard deviation of every code dimension: 2 x D numbers."""
    codes = np.asarray(codes, dtype=np.float64)
    return [round(float(value), 6) for value in np.concatenate([codes.mean(axis=0), codes.std(axis=0)])]


def cohort_file_name(cohort: str) -> str:
    """File-safe name of a cohort: "* 2014J" -> "all-2014J.safetensors"."""
    return re.sub(r"[^A-Za-z0-9]+", "-", cohort.replace("*", "all")).strip("-") + ".safetensors"


def _write_atomically(path: Path, write) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, 0o644)    # mkstemp creates owner-only files; maps are as public as the checkpoint
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def read_index(checkpoint_dir: str | Path) -> dict:
    """Read the maps index of a checkpoint; return an empty one when no map is stored or the index is unreadable."""
    path = Path(checkpoint_dir) / MAPS_DIR / INDEX_FILE
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"format": MAP_FORMAT, "cohorts": {}}
    if not isinstance(index, dict) or index.get("format") != MAP_FORMAT or not isinstance(index.get("cohorts"), dict):
        return {"format": MAP_FORMAT, "cohorts": {}}
    return index


def index_problem(checkpoint_dir: str | Path) -> str | None:
    """Say why a checkpoint's maps index exists but cannot be used, or return None."""
    path = Path(checkpoint_dir) / MAPS_DIR / INDEX_FILE
    if not path.exists():
        return None
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return f"{path} cannot be read ({error})"
    if not isinstance(index, dict) or index.get("format") != MAP_FORMAT or not isinstance(index.get("cohorts"), dict):
        return f"{path} is not a maps index of format {MAP_FORMAT}"
    return None


def save_maps(checkpoint_dir: str | Path, cohort: str, maps: StreamMaps, sample: np.ndarray, keys: pd.DataFrame) -> Path:
    """Store one cohort's maps beside the checkpoint; `keys` are the sampled learners' registration keys."""
    folder = Path(checkpoint_dir) / MAPS_DIR
    folder.mkdir(exist_ok=True)
    tensors = {"sample": torch.as_tensor(np.asarray(sample, dtype=np.int64))}
    streams = {}
    for stream, stream_map in maps.maps.items():
        tensors[f"{stream}.embedding"] = torch.as_tensor(stream_map.embedding.astype(np.float32))
        tensors[f"{stream}.learner"] = torch.as_tensor(stream_map.learner.astype(np.int32))
        tensors[f"{stream}.modality"] = torch.as_tensor(stream_map.modality.astype(np.int8))
        streams[stream] = {"a": stream_map.a, "b": stream_map.b, "n_neighbors": stream_map.n_neighbors,
                           "n_epochs": stream_map.n_epochs, "fingerprint": fingerprint(stream_map.codes)}
    path = folder / cohort_file_name(cohort)
    _write_atomically(path, lambda temporary: save_file(tensors, temporary))
    index = read_index(checkpoint_dir)
    index["cohorts"][cohort] = {"file": path.name, "modalities": maps.modalities, "learners": int(len(sample)),
                                "keys_sha256": keys_hash(keys), "streams": streams}
    _write_atomically(folder / INDEX_FILE, lambda temporary: Path(temporary).write_text(json.dumps(index, indent=1)))
    return path


def _map_file(checkpoint_dir: str | Path, entry) -> Path:
    """Return the path of an index entry's map file; raise StoredMapMismatch for a malformed entry."""
    name = entry.get("file") if isinstance(entry, dict) else None
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(".safetensors"):
        raise StoredMapMismatch(f"the maps index entry names no valid file ({name!r})")
    return Path(checkpoint_dir) / MAPS_DIR / name


def stored_sample(checkpoint_dir: str | Path, cohort: str) -> np.ndarray | None:
    """Return the positions in the cohort that the stored maps were fitted on, or None when none is stored."""
    entry = read_index(checkpoint_dir)["cohorts"].get(cohort)
    if entry is None:
        return None
    try:
        return load_file(str(_map_file(checkpoint_dir, entry)))["sample"].numpy()
    except (SafetensorError, OSError, KeyError, ValueError):
        return None


def load_maps(checkpoint_dir: str | Path, cohort: str, streams: tuple[str, ...], clean: Predictions,
              keys: pd.DataFrame) -> StreamMaps | None:
    """Load the stored maps of `cohort` and attach the clean codes of its sampled learners.

    Args:
        clean: clean predictions with codes of exactly the sampled learners, in `stored_sample` order.
        keys: the same learners' registration keys.

    Returns None when the checkpoint has no stored map of these streams for the cohort.

    Raises:
        StoredMapMismatch: the learners or their codes differ from those the map was fitted on.
    """
    entry = read_index(checkpoint_dir)["cohorts"].get(cohort)
    if entry is None:
        return None
    try:
        return _load_entry(checkpoint_dir, cohort, entry, streams, clean, keys)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        if isinstance(error, StoredMapMismatch):
            raise
        raise StoredMapMismatch(f"the stored map of {cohort} is malformed ({type(error).__name__}: {error})") from error


def _load_entry(checkpoint_dir: str | Path, cohort: str, entry: dict, streams: tuple[str, ...], clean: Predictions,
                keys: pd.DataFrame) -> StreamMaps | None:
    if any(stream not in entry["streams"] for stream in streams):
        return None
    try:
        tensors = load_file(str(_map_file(checkpoint_dir, entry)))
    except (SafetensorError, OSError) as error:
        raise StoredMapMismatch(f"the stored map file of {cohort} cannot be read ({error})") from error
    if keys_hash(keys) != entry["keys_sha256"]:
        raise StoredMapMismatch(f"the stored map of {cohort} was fitted on other registrations than this data contains; run python -m dsrsd.project again")
    modalities = list(entry["modalities"])
    maps = {}
    for stream in streams:
        meta = entry["streams"][stream]
        codes, learner, modality = stream_points(clean, modalities, stream)
        stored_learner = tensors[f"{stream}.learner"].numpy().astype(int)
        stored_modality = tensors[f"{stream}.modality"].numpy().astype(int)
        if not (np.array_equal(learner, stored_learner) and np.array_equal(modality, stored_modality)):
            raise StoredMapMismatch(f"the stored {stream} map of {cohort} has other learners' codes than this data gives")
        expected = np.asarray(meta["fingerprint"], dtype=float)
        if expected.shape != (2 * codes.shape[1],) or not np.allclose(fingerprint(codes), expected, atol=FINGERPRINT_TOLERANCE * max(1.0, np.abs(expected).max())):
            raise StoredMapMismatch(f"the {stream} codes of {cohort} differ from those the stored map was fitted on")
        maps[stream] = StreamMap(stream, codes, tensors[f"{stream}.embedding"].numpy(), learner, modality,
                                 float(meta["a"]), float(meta["b"]), int(meta["n_neighbors"]), int(meta["n_epochs"]))
    return StreamMaps(modalities, maps)

