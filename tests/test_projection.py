"""UMAP maps of the streams: fitting, placing perturbed codes, and refusing unusable input."""

from __future__ import annotations

import numpy as np
import pytest

from dsrsd.inference import Predictions
from dsrsd.projection import fit_stream_maps, place_in_maps

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
    placed = place_in_maps(maps, clustered_predictions(), MODALITIES)
    merged = placed.merge(maps.points, on=["learner", "modality", "stream"], suffixes=("_placed", "_fitted"))
    moved = np.hypot(merged["x_placed"] - merged["x_fitted"], merged["y_placed"] - merged["y_fitted"])
    extent = np.ptp(maps.points[["x", "y"]].to_numpy(), axis=0).max()
    assert moved.median() < 0.1 * extent


def test_unavailable_codes_not_placed(maps):
    predictions = clustered_predictions()
    predictions.available[:, 1] = False
    placed = place_in_maps(maps, predictions, MODALITIES)
    assert set(placed["modality"]) == {"profile"}


def test_too_few_codes():
    predictions = clustered_predictions(rows=2)
    with pytest.raises(ValueError, match="a map needs at least 5"):
        fit_stream_maps(predictions, MODALITIES)


def test_nan_codes_rejected(maps):
    predictions = clustered_predictions()
    predictions.private["engagement"][0, 0] = np.nan
    with pytest.raises(ValueError, match="private codes contain NaN"):
        place_in_maps(maps, predictions, MODALITIES)
