"""Configuration of the model, its losses and training; each is plain data stored in checkpoints."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


SHARED_SPLITS = ("residual", "projection")


@dataclass(frozen=True)
class ModelConfig:
    hidden_size: int = 64        # width D of every encoding, shared and private code
    align_size: int = 32         # width of the alignment space where modalities are compared
    # Rank of each modality's shared projection W (s = W h); 0 keeps the full D x D map. A low rank
    # leaves the shared code room for what the modalities have in common and little else.
    shared_rank: int = 0
    # How the shared code s is made from the encoding h. "residual" learns any linear map W, and
    # "projection" uses the orthogonal projection onto a learned rank-`shared_rank` subspace, so the
    # private code h - s has no component along the shared one.
    shared_split: str = "residual"
    sequence_encoder: str = "gru"
    dropout: float = 0.1
    fusion: str = "gated"        # "gated", or "mean" to weigh present modalities equally
    num_classes: int = 4         # Distinction, Pass, Fail, Withdrawn

    def __post_init__(self):
        for name in ("hidden_size", "align_size"):
            _require(self, name, getattr(self, name) >= 1, "use 1 or more")
        _require(self, "shared_rank", 0 <= self.shared_rank <= self.hidden_size,
                 f"use 0 (full rank) or a rank from 1 to hidden_size {self.hidden_size}")
        if self.shared_split not in SHARED_SPLITS:
            raise ValueError(f"invalid shared_split {self.shared_split!r}: use 'residual' or 'projection'")
        _require(self, "shared_rank", self.shared_split != "projection" or self.shared_rank >= 1,
                 "use a rank of 1 or more with shared_split 'projection'")
        _require(self, "dropout", 0 <= self.dropout < 1, "use a value in [0, 1)")
        if self.sequence_encoder != "gru":
            raise ValueError(f"invalid sequence_encoder {self.sequence_encoder!r}: only 'gru' is implemented")
        if self.fusion not in ("gated", "mean"):
            raise ValueError(f"invalid fusion {self.fusion!r}: use 'gated' or 'mean'")


ORTHOGONALITY_FORMS = ("covariance", "canonical")


@dataclass(frozen=True)
class LossConfig:
    task_weight: float = 1.0
    contrastive_weight: float = 0.1
    alignment_weight: float = 0.1      # regression-style loss between modalities' aligned codes
    decorrelation_weight: float = 0.05
    variance_weight: float = 0.05      # keeps each shared dimension from collapsing to a constant
    orthogonality_weight: float = 1.0
    # "covariance": cross-covariance of row-normalised codes (MISA's difference loss), which a
    # factor copied into both streams barely raises when its share of each code's variance is small.
    # "canonical": squared canonical correlations between each private code and every shared code,
    # so any linear map from one stream to the other is penalised whatever its scale.
    orthogonality_form: str = "covariance"
    shared_agreement_weight: float = 0.0   # rewards canonical correlation between modalities' shared codes
    # Penalises how well a ridge probe, fitted on other rows of the batch, predicts the other
    # modalities' shared codes from each private code. The shared codes get no gradient from it.
    # Only the shared factor links two modalities, so the penalty drives that factor alone out of
    # the private codes. Encoder dropout hides weak directions from it (docs/BENCHMARKS.md).
    cross_private_weight: float = 0.0
    # Hinge on the total standard deviation of each shared code, against a constant shared stream.
    shared_variance_weight: float = 0.0
    temperature: float = 0.2           # InfoNCE temperature; 0.1-0.5 is the usual range

    def __post_init__(self):
        for name in ("task_weight", "contrastive_weight", "alignment_weight", "decorrelation_weight",
                     "variance_weight", "orthogonality_weight", "shared_agreement_weight",
                     "cross_private_weight", "shared_variance_weight"):
            value = getattr(self, name)
            _require(self, name, math.isfinite(value) and value >= 0, "use a finite weight of 0 or more")
        if self.orthogonality_form not in ORTHOGONALITY_FORMS:
            raise ValueError(f"invalid orthogonality_form {self.orthogonality_form!r}: use 'covariance' or 'canonical'")
        _require(self, "temperature", math.isfinite(self.temperature) and self.temperature > 0, "use a value above 0")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    modality_dropout: float = 0.25     # chance of knocking out each present modality of a training row
    patience: int = 5                  # epochs without a better validation at-risk AUC before stopping
    seed: int = 0

    def __post_init__(self):
        _require(self, "epochs", self.epochs >= 1, "use 1 or more")
        _require(self, "batch_size", self.batch_size >= 2, "use 2 or more, because the alignment losses compare rows")
        _require(self, "learning_rate", math.isfinite(self.learning_rate) and self.learning_rate >= 0, "use 0 or more")
        _require(self, "weight_decay", math.isfinite(self.weight_decay) and self.weight_decay >= 0, "use 0 or more")
        _require(self, "modality_dropout", 0 <= self.modality_dropout < 1, "use a probability in [0, 1)")
        _require(self, "patience", self.patience >= 1, "use 1 or more")
        _require(self, "seed", self.seed >= 0, "use 0 or more")


@dataclass(frozen=True)
class GBDTConfig:
    """scikit-learn `HistGradientBoostingClassifier` settings of the gradient-boosting reference."""

    max_iter: int = 120                # boosting iterations; the best on validation is kept (36 of 300 at the end cutoff)
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 20
    l2_regularization: float = 0.0

    def __post_init__(self):
        for name in ("max_iter", "max_leaf_nodes", "min_samples_leaf"):
            _require(self, name, getattr(self, name) >= (2 if name == "max_leaf_nodes" else 1),
                     "use 2 or more" if name == "max_leaf_nodes" else "use 1 or more")
        _require(self, "learning_rate", math.isfinite(self.learning_rate) and self.learning_rate > 0, "use a value above 0")
        _require(self, "l2_regularization", math.isfinite(self.l2_regularization) and self.l2_regularization >= 0,
                 "use 0 or more")


def _require(config, name: str, valid: bool, fix: str) -> None:
    if not valid:
        raise ValueError(f"invalid {type(config).__name__}.{name} {getattr(config, name)!r}: {fix}")


def config_from_dict(cls, values: dict):
    """Build dataclass `cls` from a dict, rejecting unknown fields by name."""
    names = {field.name for field in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; known fields are {sorted(names)}")
    return cls(**values)


__all__ = ["GBDTConfig", "LossConfig", "ModelConfig", "TrainConfig", "asdict", "config_from_dict"]
