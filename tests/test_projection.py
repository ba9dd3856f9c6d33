"""UMAP maps of the streams: fitting, placing perturbed codes, storing maps, and refusing unusable input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dsrsd.inference import Predictions
import warnings

from sklearn.metrics import pairwise_distances

from dsrsd.map_store import StoredMapMismatch, load_maps, read_index, save_maps, stored_sample
from dsrsd.projection import fit_stream_maps, import_umap, place_in_maps, transform

MODALITIES = ["profile", "engagement"]


def clustered_predictions(rows: int = 60, seed: int = 0, shift: float = 0.0) -> Predictions:
    """Two groups of learners whose codes lie 20 units apart in every stream."""
    rng = np.random.default_rng(seed)
    group = np.arange(rows) % 2
    codes = {m: rng.normal(size=(rows, 8)) + 20.0 * group[:, None] + shift for m in MODALITIES}
    return Predictions(np.full((rows, 4), 0.25), np.full((rows, 2), 0.5), np.ones((rows, 2), bool),
                       codes, {m: v * -1 for m, v in codes.items()}, codes)


@pytest.fixture(scope="module")
def maps():
    return fit_stream_maps(clustered_predictions(), MODALITIES, n_epochs=100)


def separation(points) -> float:
    """Distance between the two groups' centres over the mean spread inside a group."""
    group = points["learner"].to_numpy() % 2
    xy = points[["x", "y"]].to_numpy()
    centres = [xy[group == g].mean(axis=0) for g in (0, 1)]
    spread = np.mean([np.linalg.norm(xy[group == g] - centres[g], axis=1).mean() for g in (0, 1)])
    return float(np.linalg.norm(centres[0] - centres[1]) / spread)


def test_maps_separate_groups(maps):
    for stream in ("aligned", "private"):
        points = maps.points[maps.points["stream"] == stream]
        assert len(points) == 120
        assert separation(points) > 3


def test_same_codes_land_close(maps):
    placed = place_in_maps(maps, clustered_predictions())
    merged = placed.merge(maps.points, on=["learner", "modality", "stream"], suffixes=("_placed", "_fitted"))
    moved = np.hypot(merged["x_placed"] - merged["x_fitted"], merged["y_placed"] - merged["y_fitted"])
    extent = np.ptp(maps.points[["x", "y"]].to_numpy(), axis=0).max()
    assert moved.median() < 0.1 * extent


def test_unavailable_codes_not_placed(maps):
    predictions = clustered_predictions()
    predictions.available[:, 1] = False
    placed = place_in_maps(maps, predictions)
    assert set(placed["modality"]) == {"profile"}


def test_too_few_codes():
    predictions = clustered_predictions(rows=2)
    with pytest.raises(ValueError, match="a map needs at least 5"):
        fit_stream_maps(predictions, MODALITIES)


def test_nan_codes_rejected(maps):
    predictions = clustered_predictions()
    predictions.private["engagement"][0, 0] = np.nan
    with pytest.raises(ValueError, match="private codes contain NaN"):
        place_in_maps(maps, predictions)


def test_transform_equals_umap_transform():
    """The array-only transform reproduces umap-learn's own UMAP.transform for a precomputed metric."""
    codes = np.random.default_rng(0).normal(size=(80, 5)).astype(np.float32)
    umap = import_umap()
    reducer = umap.UMAP(n_neighbors=10, n_epochs=60, random_state=0, metric="precomputed", n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer.fit(pairwise_distances(codes))
        new = codes[:20] + 0.05
        expected = reducer.transform(pairwise_distances(new, codes))
    from dsrsd.projection import StreamMap

    stream_map = StreamMap("aligned", codes, reducer.embedding_.astype(np.float32), np.arange(80), np.zeros(80, int),
                           reducer._a, reducer._b, reducer._n_neighbors, 60)
    np.testing.assert_allclose(transform(stream_map, new), expected, atol=1e-4)


def test_reference_places_only_changed_codes(maps):
    clean = clustered_predictions()
    noisy = clustered_predictions()
    noisy.aligned = {m: v.copy() for m, v in clean.aligned.items()}
    noisy.aligned["engagement"] = noisy.aligned["engagement"] + 0.5
    placed = place_in_maps(maps, noisy, reference=clean)
    assert set(placed["modality"]) == {"engagement"}
    assert set(placed["stream"]) == {"aligned"}
    assert len(placed) == 60


def registration_keys(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"code_module": "AAA", "code_presentation": "2014J", "id_student": np.arange(rows) + 100})


def test_stored_map_reloads_and_transforms(maps, tmp_path):
    sample = np.arange(60)
    save_maps(tmp_path, "AAA 2014J", maps, sample, registration_keys(60))
    assert read_index(tmp_path)["cohorts"]["AAA 2014J"]["learners"] == 60
    np.testing.assert_array_equal(stored_sample(tmp_path, "AAA 2014J"), sample)

    loaded = load_maps(tmp_path, "AAA 2014J", ("aligned", "private"), clustered_predictions(), registration_keys(60))
    pd.testing.assert_frame_equal(loaded.points, maps.points, check_dtype=False)
    moved = clustered_predictions(shift=0.3)
    np.testing.assert_allclose(place_in_maps(loaded, moved)[["x", "y"]].to_numpy(),
                               place_in_maps(maps, moved)[["x", "y"]].to_numpy(), atol=1e-6)


def test_stored_map_absent_or_other_stream(maps, tmp_path):
    assert load_maps(tmp_path, "AAA 2014J", ("aligned",), clustered_predictions(), registration_keys(60)) is None
    save_maps(tmp_path, "AAA 2014J", maps, np.arange(60), registration_keys(60))
    assert load_maps(tmp_path, "AAA 2014J", ("shared",), clustered_predictions(), registration_keys(60)) is None
    assert load_maps(tmp_path, "BBB 2014J", ("aligned",), clustered_predictions(), registration_keys(60)) is None


def test_stored_map_refuses_other_data(maps, tmp_path):
    save_maps(tmp_path, "AAA 2014J", maps, np.arange(60), registration_keys(60))
    other_keys = registration_keys(60).assign(id_student=lambda keys: keys["id_student"] + 1)
    with pytest.raises(StoredMapMismatch, match="other registrations"):
        load_maps(tmp_path, "AAA 2014J", ("aligned",), clustered_predictions(), other_keys)
    with pytest.raises(StoredMapMismatch, match="differ from those"):
        load_maps(tmp_path, "AAA 2014J", ("aligned",), clustered_predictions(shift=1.0), registration_keys(60))
    fewer = clustered_predictions()
    fewer.available[0, 0] = False
    with pytest.raises(StoredMapMismatch, match="other learners"):
        load_maps(tmp_path, "AAA 2014J", ("aligned",), fewer, registration_keys(60))


def test_identical_codes_rejected():
    predictions = clustered_predictions()
    for stream in ("aligned", "private"):
        for m in MODALITIES:
            getattr(predictions, stream)[m][:] = 1.0
    with pytest.raises(ValueError, match="identical"):
        fit_stream_maps(predictions, MODALITIES)


def test_nan_embedding_rejected(monkeypatch):
    """A UMAP fit that returns NaN positions raises a ValueError that the page shows, not a crash."""
    umap = import_umap()
    monkeypatch.setattr(umap.UMAP, "fit_transform", lambda self, distances: np.full((len(distances), 2), np.nan))
    with pytest.raises(ValueError, match="UMAP returned NaN positions"):
        fit_stream_maps(clustered_predictions(), MODALITIES)


@pytest.mark.parametrize("damage", ["weights as map file", "no keys hash", "no file", "entry is a number",
                                    "short fingerprint", "file outside maps"])
def test_damaged_stored_map_raises_mismatch(maps, tmp_path, damage):
    """Every damaged index entry or map file raises StoredMapMismatch, so the page falls back to a fit."""
    import json

    save_maps(tmp_path, "AAA 2014J", maps, np.arange(60), registration_keys(60))
    index_path = tmp_path / "maps" / "index.json"
    index = json.loads(index_path.read_text())
    entry = index["cohorts"]["AAA 2014J"]
    if damage == "weights as map file":
        from safetensors.numpy import save_file

        save_file({"weight": np.zeros((2, 2), np.float32)}, str(tmp_path / "maps" / entry["file"]))
    elif damage == "no keys hash":
        del entry["keys_sha256"]
    elif damage == "no file":
        del entry["file"]
    elif damage == "entry is a number":
        index["cohorts"]["AAA 2014J"] = 5
    elif damage == "short fingerprint":
        entry["streams"]["aligned"]["fingerprint"] = [1.0, 2.0]
    else:
        entry["file"] = "../outside.safetensors"
    index_path.write_text(json.dumps(index))
    with pytest.raises(StoredMapMismatch):
        load_maps(tmp_path, "AAA 2014J", ("aligned", "private"), clustered_predictions(), registration_keys(60))


def test_unreadable_index_named(maps, tmp_path):
    from dsrsd.map_store import index_problem

    assert index_problem(tmp_path) is None
    save_maps(tmp_path, "AAA 2014J", maps, np.arange(60), registration_keys(60))
    assert index_problem(tmp_path) is None
    index_path = tmp_path / "maps" / "index.json"
    index_path.write_text(index_path.read_text()[:40])
    assert "cannot be read" in index_problem(tmp_path)
    assert load_maps(tmp_path, "AAA 2014J", ("aligned",), clustered_predictions(), registration_keys(60)) is None
