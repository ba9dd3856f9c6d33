"""Gradient-boosting reference: scikit-learn's `HistGradientBoostingClassifier` on hand-built features.

Letters: N registrations, T steps, F features, K raw outputs (one per class).

Features per modality: a static modality's encoded vector as it is. A sequence modality gives its
number of real steps, the mean, maximum and last value of each feature over the real steps, and,
when T x F is at most `MAX_FLAT_FEATURES`, every step's values too. Each modality's state follows
(available, truly missing), as DSRSD-Net's head reads it. A knocked-out modality has every feature
NaN and both state bits 0, so the trees see neither its values nor its presence.

The fitted trees are kept as plain node arrays (`TreeArrays`), saved with safetensors, and
prediction walks them in numpy, so a checkpoint never needs pickle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

from dsrsd.config import GBDTConfig
from dsrsd.data.encoding import Encoded
from dsrsd.metrics import outcome_metrics

if TYPE_CHECKING:
    # scikit-learn takes about a second to import. Loading a checkpoint needs only the numpy prediction.
    from sklearn.ensemble import HistGradientBoostingClassifier

MAX_FLAT_FEATURES = 256
NODE_FIELDS = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "is_leaf")


def _sequence_features(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Summaries of an N x T x F sequence with an N x T mask: N x (1 + 3F [+ TF])."""
    weights = mask.astype(np.float32)[..., None]                                     # N x T x 1
    count = mask.sum(axis=1)                                                         # N
    mean = (values * weights).sum(axis=1) / np.maximum(count, 1)[:, None]
    maximum = np.where(mask[..., None], values, -np.inf).max(axis=1)
    maximum[count == 0] = 0.0
    last = values[np.arange(len(values)), np.maximum(count - 1, 0)] * (count > 0)[:, None]
    parts = [count[:, None].astype(np.float32), mean, maximum, last]
    if values.shape[1] * values.shape[2] <= MAX_FLAT_FEATURES:
        parts.append((values * weights).reshape(len(values), -1))
    return np.concatenate(parts, axis=1)


def gbdt_features(encoded: Encoded, knockout: np.ndarray | None = None) -> np.ndarray:
    """Build the N x features float64 matrix; `knockout` (N x M bool) hides modalities per row."""
    if knockout is None:
        knockout = np.zeros_like(encoded.present)
    blocks = []
    for index, m in enumerate(encoded.modalities):
        values = encoded.inputs[m]
        block = values if values.ndim == 2 else _sequence_features(values, encoded.masks[m])
        block = block.astype(np.float64)
        block[knockout[:, index]] = np.nan
        blocks.append(block)
    available = encoded.present & ~knockout
    truly_missing = ~encoded.present & ~knockout
    blocks += [available.astype(np.float64), truly_missing.astype(np.float64)]
    return np.concatenate(blocks, axis=1)


def random_knockout(present: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Knock out each present modality with probability `rate`, keeping one available per row.

    It mirrors `dsrsd.training.modality_dropout`, which the neural models train with.
    """
    drop = (rng.random(present.shape) < rate) & present
    all_dropped = np.flatnonzero((present & ~drop).sum(axis=1) == 0)
    scores = rng.random(present.shape) * present
    drop[all_dropped, scores[all_dropped].argmax(axis=1)] = False
    return drop


@dataclass
class TreeArrays:
    """Every tree of a fitted model as flat node arrays; tree t's nodes are offsets[t]:offsets[t + 1]."""

    nodes: dict[str, np.ndarray]     # NODE_FIELDS -> nodes (left/right are indices within the tree)
    offsets: np.ndarray              # trees + 1
    output: np.ndarray               # trees: the raw output column k each tree adds to
    baseline: np.ndarray             # K: the raw prediction before any tree
    classes: np.ndarray              # K' class indices the model was fitted on (K' = K, or 2 when K = 1)


class GradientBoostedTrees:
    """A fitted gradient-boosting model that predicts from its node arrays, without scikit-learn objects."""

    def __init__(self, modalities: list[str], trees: TreeArrays, num_classes: int = 4):
        self.modalities = list(modalities)
        self.trees = trees
        self.num_classes = num_classes

    @classmethod
    def from_sklearn(cls, modalities: list[str], estimator: HistGradientBoostingClassifier,
                     iterations: int | None = None, num_classes: int = 4) -> "GradientBoostedTrees":
        """Copy the first `iterations` boosting iterations (all by default) of a fitted estimator."""
        predictors = estimator._predictors[:iterations]
        node_lists = [tree.nodes for iteration in predictors for tree in iteration]
        if any(tree.nodes["is_categorical"].any() for iteration in predictors for tree in iteration):
            raise ValueError("categorical splits are not supported; the features here are all numeric")
        output = [k for iteration in predictors for k in range(len(iteration))]
        sizes = [len(nodes) for nodes in node_lists]
        joined = np.concatenate(node_lists) if node_lists else np.zeros(0, dtype=estimator._predictors[0][0].nodes.dtype)
        trees = TreeArrays(
            nodes={name: np.ascontiguousarray(joined[name]).astype(np.float64 if name in ("value", "num_threshold") else np.int64)
                   for name in NODE_FIELDS},
            offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            output=np.asarray(output, dtype=np.int64),
            baseline=np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(-1),
            classes=np.asarray(estimator.classes_, dtype=np.int64),
        )
        return cls(modalities, trees, num_classes)

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"node.{name}": values for name, values in self.trees.nodes.items()}
        arrays.update(offsets=self.trees.offsets, output=self.trees.output, baseline=self.trees.baseline,
                      classes=self.trees.classes)
        return arrays

    @classmethod
    def from_arrays(cls, modalities: list[str], arrays: dict[str, np.ndarray], num_classes: int = 4) -> "GradientBoostedTrees":
        expected = {f"node.{name}" for name in NODE_FIELDS} | {"offsets", "output", "baseline", "classes"}
        missing = sorted(expected - set(arrays))
        if missing:
            raise ValueError(f"missing tree arrays {missing}")
        trees = TreeArrays({name: arrays[f"node.{name}"] for name in NODE_FIELDS}, arrays["offsets"],
                           arrays["output"], arrays["baseline"], arrays["classes"])
        return cls(modalities, trees, num_classes)

    def raw_predict(self, features: np.ndarray, chunk: int = 2048) -> np.ndarray:
        """Return the N x K raw scores: the baseline plus the leaf value of every tree."""
        trees = self.trees
        raw = np.tile(trees.baseline, (len(features), 1))
        starts = trees.offsets[:-1]                                                  # trees
        nodes = trees.nodes
        for begin in range(0, len(features), chunk):
            x = features[begin:begin + chunk]
            position = np.tile(starts, (len(x), 1))                                  # rows x trees, global node index
            rows = np.arange(len(x))[:, None]
            while True:
                inner = nodes["is_leaf"][position] == 0
                if not inner.any():
                    break
                value = x[rows, nodes["feature_idx"][position]]
                go_left = np.where(np.isnan(value), nodes["missing_go_to_left"][position] == 1,
                                   value <= nodes["num_threshold"][position])
                child = np.where(go_left, nodes["left"][position], nodes["right"][position]) + starts
                position = np.where(inner, child, position)
            leaves = nodes["value"][position]                                        # rows x trees
            for k in range(raw.shape[1]):
                raw[begin:begin + len(x), k] += leaves[:, trees.output == k].sum(axis=1)
        return raw

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Return N x num_classes probabilities; classes absent from training get probability 0."""
        raw = self.raw_predict(features)
        if raw.shape[1] == 1:
            positive = 1.0 / (1.0 + np.exp(-raw[:, 0]))
            fitted = np.stack([1.0 - positive, positive], axis=1)
        else:
            shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
            fitted = shifted / shifted.sum(axis=1, keepdims=True)
        probabilities = np.zeros((len(raw), self.num_classes))
        probabilities[:, self.trees.classes] = fitted
        return probabilities


@dataclass
class GBDTFit:
    model: GradientBoostedTrees                  # the first `best_iteration` iterations
    estimator: HistGradientBoostingClassifier    # every fitted iteration
    best_iteration: int
    validation_aucs: list[float]                 # validation at-risk AUC after each iteration


def fit_gbdt(train: Encoded, validation: Encoded, config: GBDTConfig, seed: int = 0,
             modality_dropout: float = 0.25) -> GBDTFit:
    """Fit on `train` plus a copy of it with random knockouts, and keep the iteration with the best
    validation at-risk AUC.

    The knocked-out copy teaches the trees what a hidden modality looks like, as modality dropout does
    for the neural models.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(seed)
    clean = gbdt_features(train)
    knocked = gbdt_features(train, random_knockout(train.present, modality_dropout, rng)) if modality_dropout > 0 else clean[:0]
    features = np.concatenate([clean, knocked])
    labels = np.concatenate([train.labels, train.labels[:len(knocked)]])
    estimator = HistGradientBoostingClassifier(
        max_iter=config.max_iter, learning_rate=config.learning_rate, max_leaf_nodes=config.max_leaf_nodes,
        min_samples_leaf=config.min_samples_leaf, l2_regularization=config.l2_regularization,
        early_stopping=False, random_state=seed,
    )
    # One OpenMP thread: on a shared 2-core machine, spinning workers slow everything else down.
    with threadpool_limits(limits=1):
        estimator.fit(features, labels)
        validation_features = gbdt_features(validation)
        aucs = []
        for staged in estimator.staged_predict_proba(validation_features):
            probabilities = np.zeros((len(validation), 4))
            probabilities[:, estimator.classes_] = staged
            aucs.append(outcome_metrics(validation.labels, probabilities)["at_risk_auc"])
    best = int(np.nanargmax(aucs)) + 1 if np.isfinite(aucs).any() else len(aucs)
    model = GradientBoostedTrees.from_sklearn(train.modalities, estimator, best)
    return GBDTFit(model, estimator, best, aucs)
