"""UMAP maps of the shared (or aligned) and private streams, fitted on clean codes and reused for perturbed ones."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import pairwise_distances

from dsrsd.inference import Predictions

# The maps use a precomputed distance matrix on purpose (see `fit_stream_maps`), so umap-learn's notes
# about it carry no news. The filters are process-wide because `warnings.catch_warnings` is not
# thread-safe, and the app fits a map in a start-up thread.
warnings.filterwarnings("ignore", message="using precomputed metric; inverse_transform will be unavailable")
warnings.filterwarnings("ignore", message="Transforming new data with precomputed metric")
# umap-learn warns on import that its optional TensorFlow-based parametric UMAP is missing; it is not used.
warnings.filterwarnings("ignore", message="The umap.parametric_umap package requires Tensorflow")

# Below this many points UMAP's spectral start and neighbour graph are unreliable.
MIN_POINTS = 5


@dataclass
class StreamMaps:
    """One fitted UMAP per stream (for example "aligned" and "private") over (learner, modality) points."""

    reducers: dict
    codes: dict[str, np.ndarray]   # stream -> the clean codes each map was fitted on
    points: pd.DataFrame     # one row per (learner, modality): learner, modality, stream, x, y


def import_umap():
    """Import umap-learn lazily, because its import takes about 2 s and only the maps need it."""
    import umap

    return umap


def stream_points(predictions: Predictions, modalities: list[str], stream: str) -> tuple[np.ndarray, pd.DataFrame]:
    """Stack the available codes of one stream: rows x D codes and their (learner, modality) index."""
    codes = getattr(predictions, stream)
    blocks, index = [], []
    for column, modality in enumerate(modalities):
        learners = np.flatnonzero(predictions.available[:, column])
        blocks.append(codes[modality][learners])
        index.append(pd.DataFrame({"learner": learners, "modality": modality}))
    stacked = np.concatenate(blocks) if blocks else np.zeros((0, 0), dtype=np.float32)
    return stacked, pd.concat(index, ignore_index=True)


def fit_stream_maps(predictions: Predictions, modalities: list[str], streams: tuple[str, ...] = ("aligned", "private"),
                    seed: int = 0, n_neighbors: int = 15, n_epochs: int = 200) -> StreamMaps:
    """Fit a 2-D UMAP per stream over the codes of the available modalities.

    Streams are fields of `Predictions`: "shared" (each modality's shared code), "aligned" (the
    shared code after the alignment head, the space where the modalities are compared) or "private".

    Raises:
        ValueError: fewer than MIN_POINTS codes, or codes that are not finite.
    """
    umap = import_umap()
    reducers, fitted_codes, frames = {}, {}, []
    for stream in streams:
        codes, index = stream_points(predictions, modalities, stream)
        if len(codes) < MIN_POINTS:
            raise ValueError(f"only {len(codes)} {stream} code(s) to project; a map needs at least {MIN_POINTS}")
        if not np.isfinite(codes).all():
            raise ValueError(f"the {stream} codes contain NaN or infinite values; check the inputs and the noise level")
        # A precomputed distance matrix keeps UMAP off its NN-descent index, whose numba compilation
        # took about 40 s in every new process. It also avoids the Python-loop distances of the
        # small-data transform, about 20 s for 3,000 points. Both were measured with umap-learn 0.5.12.
        reducer = umap.UMAP(n_neighbors=min(n_neighbors, len(codes) - 1), n_epochs=n_epochs, random_state=seed,
                            metric="precomputed", n_jobs=1)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(n_jobs|precomputed).*")
            embedding = reducer.fit_transform(pairwise_distances(codes))
        reducers[stream] = reducer
        fitted_codes[stream] = codes
        frames.append(index.assign(stream=stream, x=embedding[:, 0], y=embedding[:, 1]))
    return StreamMaps(reducers, fitted_codes, pd.concat(frames, ignore_index=True))


def place_in_maps(maps: StreamMaps, predictions: Predictions, modalities: list[str]) -> pd.DataFrame:
    """Transform (for example perturbed) codes into the fitted maps without refitting them."""
    frames = []
    for stream, reducer in maps.reducers.items():
        codes, index = stream_points(predictions, modalities, stream)
        if len(codes) == 0:
            continue
        if not np.isfinite(codes).all():
            raise ValueError(f"the perturbed {stream} codes contain NaN or infinite values; lower the noise level")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*precomputed.*")
            embedding = reducer.transform(pairwise_distances(codes, maps.codes[stream]))
        frames.append(index.assign(stream=stream, x=embedding[:, 0], y=embedding[:, 1]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["learner", "modality", "stream", "x", "y"])
