"""UMAP maps of the shared (or aligned) and private streams, fitted on clean codes and reused for perturbed ones.

A fitted map is kept as plain arrays (`StreamMap`): the clean codes, their 2-D embedding and UMAP's
curve parameters. New codes are placed with umap-learn's own transform steps, so a map stored beside
a checkpoint (`dsrsd.map_store`) needs no pickled reducer and behaves exactly like the fitted one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dsrsd.inference import Predictions

# The maps use a precomputed distance matrix on purpose (see `fit_stream_map`), so umap-learn's notes
# about it carry no news. The filters are process-wide because `warnings.catch_warnings` is not
# thread-safe, and the app fits a map in a start-up thread.
warnings.filterwarnings("ignore", message="using precomputed metric; inverse_transform will be unavailable")
warnings.filterwarnings("ignore", message="Transforming new data with precomputed metric")
# umap-learn warns on import that its optional TensorFlow-based parametric UMAP is missing; it is not used.
warnings.filterwarnings("ignore", message="The umap.parametric_umap package requires Tensorflow")

# Below this many points UMAP's spectral start and neighbour graph are unreliable.
MIN_POINTS = 5
# umap-learn's default seed for placing new points; kept so a stored map places codes as UMAP.transform does.
TRANSFORM_SEED = 42


@dataclass
class StreamMap:
    """One stream's 2-D UMAP over (learner, modality) points, as arrays."""

    stream: str
    codes: np.ndarray        # N x D clean codes the map was fitted on
    embedding: np.ndarray    # N x 2 float32
    learner: np.ndarray      # N, row of each point in the fitted learners
    modality: np.ndarray     # N, index of each point's modality
    a: float                 # UMAP's curve parameters, fitted from min_dist and spread
    b: float
    n_neighbors: int
    n_epochs: int


@dataclass
class StreamMaps:
    """The maps of several streams over the same learners."""

    modalities: list[str]
    maps: dict[str, StreamMap]

    @property
    def points(self) -> pd.DataFrame:
        """One row per (learner, modality, stream): learner, modality, stream, x, y."""
        return pd.concat([_frame(stream_map, self.modalities, stream_map.embedding) for stream_map in self.maps.values()],
                         ignore_index=True)


def _frame(stream_map: StreamMap, modalities: list[str], xy: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"learner": stream_map.learner, "modality": np.asarray(modalities)[stream_map.modality],
                         "stream": stream_map.stream, "x": xy[:, 0], "y": xy[:, 1]})


def import_umap():
    """Import umap-learn lazily, because its import takes about 2 s and only the maps need it."""
    import umap

    return umap


def stream_points(predictions: Predictions, modalities: list[str], stream: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack the available codes of one stream: (rows x D codes, learner of each row, modality index of each row)."""
    codes = getattr(predictions, stream)
    blocks, learners, kinds = [], [], []
    for column, modality in enumerate(modalities):
        rows = np.flatnonzero(predictions.available[:, column])
        blocks.append(codes[modality][rows])
        learners.append(rows)
        kinds.append(np.full(len(rows), column))
    if not blocks:
        return np.zeros((0, 0), np.float32), np.zeros(0, int), np.zeros(0, int)
    return (np.concatenate(blocks).astype(np.float32), np.concatenate(learners), np.concatenate(kinds))


def _check_finite(codes: np.ndarray, stream: str, prefix: str) -> None:
    if not np.isfinite(codes).all():
        raise ValueError(f"the {prefix}{stream} codes contain NaN or infinite values; check the inputs and lower the noise level")


def fit_stream_map(predictions: Predictions, modalities: list[str], stream: str, seed: int = 0,
                   n_neighbors: int = 15, n_epochs: int = 200) -> StreamMap:
    """Fit a 2-D UMAP over the codes of one stream for the available modalities.

    Streams are fields of `Predictions`: "shared" (each modality's shared code), "aligned" (the
    shared code after the alignment head, the space where the modalities are compared) or "private".

    Raises:
        ValueError: fewer than MIN_POINTS codes, codes that are not finite, or all codes identical.
    """
    codes, learner, modality = stream_points(predictions, modalities, stream)
    if len(codes) < MIN_POINTS:
        raise ValueError(f"only {len(codes)} {stream} code(s) to project; a map needs at least {MIN_POINTS}")
    _check_finite(codes, stream, "")
    if np.ptp(codes, axis=0).max() <= 1e-9:
        raise ValueError(f"every {stream} code is identical, so a map would show one point")
    from sklearn.metrics import pairwise_distances

    umap = import_umap()
    # A precomputed distance matrix keeps UMAP off its NN-descent index, whose numba compilation
    # took about 40 s in every new process. It also avoids the Python-loop distances of the
    # small-data transform, about 20 s for 3,000 points. Both were measured with umap-learn 0.5.12.
    reducer = umap.UMAP(n_neighbors=min(n_neighbors, len(codes) - 1), n_epochs=n_epochs, random_state=seed,
                        metric="precomputed", n_jobs=1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(n_jobs|precomputed).*")
        embedding = reducer.fit_transform(pairwise_distances(codes)).astype(np.float32)
    if not np.isfinite(embedding).all():
        raise ValueError(f"UMAP returned NaN positions for the {stream} codes; the codes are too degenerate for a map")
    return StreamMap(stream, codes, embedding, learner, modality, float(reducer._a), float(reducer._b),
                     int(reducer._n_neighbors), int(n_epochs))


def fit_stream_maps(predictions: Predictions, modalities: list[str], streams: tuple[str, ...] = ("aligned", "private"),
                    seed: int = 0, n_neighbors: int = 15, n_epochs: int = 200) -> StreamMaps:
    """Fit one map per stream; see `fit_stream_map`."""
    return StreamMaps(list(modalities), {
        stream: fit_stream_map(predictions, modalities, stream, seed, n_neighbors, n_epochs) for stream in streams
    })


def _nearest(codes: np.ndarray, fitted: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the indices (int32) and Euclidean distances (float32) of each code's k nearest fitted codes, nearest first."""
    import torch
    from sklearn.metrics import pairwise_distances
    from threadpoolctl import threadpool_limits

    # The distances are scikit-learn's, as UMAP.transform is given them, because the layout magnifies
    # even rounding differences into visibly different positions. One BLAS thread, because idle
    # BLAS threads spun for about a second per call on a busy 2-core machine.
    with threadpool_limits(limits=1, user_api="blas"):
        distances = pairwise_distances(codes, fitted).astype(np.float32)
    near, indices = torch.topk(torch.from_numpy(distances), k, dim=1, largest=False, sorted=True)
    return indices.numpy().astype(np.int32), np.ascontiguousarray(near.numpy())


def _weighted_start(weights: np.ndarray, indices: np.ndarray, embedding: np.ndarray) -> np.ndarray:
    """Start each new point where umap-learn's `init_graph_transform` does, without its per-row Python loop.

    A point with a neighbour of weight 1 starts on the lowest-index such neighbour. Any other point
    starts at the weighted mean of its neighbours, and a point without neighbours at NaN. The float32 sums run in
    the same order as umap-learn's, because the layout that follows magnifies even rounding differences.
    """
    # umap-learn walks each row of a CSR graph, so in the order of the fitted points' indices.
    order = np.argsort(indices, axis=1)
    indices = np.take_along_axis(indices, order, axis=1)
    weights = np.take_along_axis(weights.astype(np.float32), order, axis=1)
    totals = weights.sum(axis=1)
    start = np.zeros((len(weights), embedding.shape[1]), dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        for column in range(weights.shape[1]):
            start += (weights[:, column] / totals)[:, None] * embedding[indices[:, column]]
    exact = weights == 1
    has_exact = exact.any(axis=1)
    first = exact.argmax(axis=1)
    start[has_exact] = embedding[indices[has_exact, first[has_exact]]]
    start[totals == 0] = np.nan
    return start


def transform(stream_map: StreamMap, codes: np.ndarray, epochs: int | None = None) -> np.ndarray:
    """Place new codes (rows x D) in a fitted map without moving it; returns rows x 2.

    These are the steps of umap-learn 0.5's `UMAP.transform` for a precomputed metric: fuzzy
    neighbour weights to the k nearest fitted codes, a start at their weighted mean, then layout
    epochs with the fitted points held still. It runs `epochs` layout epochs, by default a third of
    the fitting epochs as umap-learn does.
    """
    import numba

    # umap-learn's parallel kernels woke idle numba threads for every small call, about 50 ms each on
    # a busy 2-core machine. The setting is local to this thread, so the rest of the process keeps its own.
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return _transform(stream_map, codes, epochs)
    finally:
        numba.set_num_threads(threads)


def _transform(stream_map: StreamMap, codes: np.ndarray, epochs: int | None) -> np.ndarray:
    from scipy import sparse
    from umap.layouts import optimize_layout_euclidean
    from umap.umap_ import compute_membership_strengths, make_epochs_per_sample, smooth_knn_dist

    k = stream_map.n_neighbors
    indices, near = _nearest(codes, stream_map.codes, k)
    sigmas, rhos = smooth_knn_dist(near, float(k), local_connectivity=0.0)
    rows, cols, values, _ = compute_membership_strengths(indices, near, sigmas, rhos, bipartite=True)
    start = _weighted_start(values.reshape(len(codes), k), indices, stream_map.embedding)
    graph = sparse.coo_matrix((values, (rows, cols)), shape=(len(codes), len(stream_map.codes)))

    epochs = epochs or stream_map.n_epochs // 3
    graph.data[graph.data < graph.data.max() / float(epochs)] = 0.0
    graph.eliminate_zeros()
    rng_state = np.random.RandomState(TRANSFORM_SEED).randint(np.iinfo(np.int32).min + 1, np.iinfo(np.int32).max - 1,
                                                              3).astype(np.int64)
    # Arguments as UMAP.transform passes them: repulsion 1, learning rate 1/4, 5 negative samples, no parallelism.
    placed = optimize_layout_euclidean(
        start, stream_map.embedding.astype(np.float32, copy=True), graph.row, graph.col, epochs, graph.shape[1],
        make_epochs_per_sample(graph.data, epochs), stream_map.a, stream_map.b, rng_state, 1.0, 0.25, 5, False,
    )
    return placed.astype(np.float32)


def place_in_maps(maps: StreamMaps, predictions: Predictions, reference: Predictions | None = None,
                  epochs: int | None = None) -> pd.DataFrame:
    """Transform (for example perturbed) codes into the fitted maps without refitting them.

    With `reference` (the clean predictions of the same learners), only codes that differ from their
    clean version are placed: the others keep their fitted position, and placing them again would only
    add UMAP's transform jitter. `epochs` is passed to `transform`. Returns one row per placed code:
    learner, modality, stream, x, y.
    """
    frames = []
    for stream, stream_map in maps.maps.items():
        codes, learner, modality = stream_points(predictions, maps.modalities, stream)
        if reference is not None and len(codes):
            changed = np.zeros(len(codes), bool)
            for index, name in enumerate(maps.modalities):
                rows = modality == index
                before = getattr(reference, stream)[name][learner[rows]]
                changed[rows] = np.abs(codes[rows] - before).max(axis=1, initial=0.0) > 1e-6
            codes, learner, modality = codes[changed], learner[changed], modality[changed]
        if len(codes) == 0:
            continue
        _check_finite(codes, stream, "perturbed ")
        placed = StreamMap(stream, codes, transform(stream_map, codes, epochs), learner, modality, stream_map.a, stream_map.b,
                           stream_map.n_neighbors, stream_map.n_epochs)
        frames.append(_frame(placed, maps.modalities, placed.embedding))
    if not frames:
        return pd.DataFrame(columns=["learner", "modality", "stream", "x", "y"])
    return pd.concat(frames, ignore_index=True)
