"""What-if perturbations of model inputs: knockout and Gaussian noise per modality.

Both act on copies of the inputs; neither touches the model or the arrays it was given.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from dsrsd.data.encoding import Encoded


@dataclass(frozen=True)
class Perturbation:
    """Modalities to hide, and the standard deviation of noise per modality in normalised units."""

    knockout: tuple[str, ...] = ()
    noise: dict[str, float] = field(default_factory=dict)
    seed: int = 0   # noise draws are reproducible, so a redraw of the app shows the same numbers

    def validate(self, modalities: list[str]) -> None:
        for name in list(self.knockout) + list(self.noise):
            if name not in modalities:
                raise ValueError(f"unknown modality {name!r}; the model's modalities are {modalities}")
        for name, std in self.noise.items():
            if not np.isfinite(std) or std < 0:
                raise ValueError(f"invalid noise level {std!r} for {name}: use a standard deviation of 0 or more")

    def describe(self) -> str:
        """Return the perturbation as CLI options, for example `--knockout profile --noise engagement=0.5`."""
        parts = []
        if self.knockout:
            parts.append("--knockout " + " ".join(self.knockout))
        if self.noise:
            parts.append("--noise " + " ".join(f"{name}={std:g}" for name, std in self.noise.items()))
        return " ".join(parts) or "no perturbation"

    @property
    def is_identity(self) -> bool:
        return not self.knockout and not any(std > 0 for std in self.noise.values())


def parse_noise(options: list[str] | None) -> dict[str, float]:
    """Parse CLI options `MODALITY=STD` into a dict."""
    noise = {}
    for option in options or []:
        name, sep, value = option.partition("=")
        try:
            std = float(value) if sep else float("nan")
        except ValueError:
            std = float("nan")
        if not sep or not name or not np.isfinite(std) or std < 0:
            raise ValueError(f"invalid --noise {option!r}: use MODALITY=STD with STD a number of 0 or more, e.g. engagement=0.5")
        if name in noise:
            raise ValueError(f"invalid --noise {option!r}: {name} already has noise {noise[name]}; give each modality once")
        noise[name] = std
    return noise


def knockout_mask(modalities: list[str], rows: int, knockout: tuple[str, ...]) -> np.ndarray:
    """Return a rows x M bool array, True in the columns of knocked-out modalities."""
    mask = np.zeros((rows, len(modalities)), dtype=bool)
    for name in knockout:
        mask[:, modalities.index(name)] = True
    return mask


def _row_seeds(encoded: Encoded, seed: int, modality_index: int) -> np.ndarray:
    """Derive one seed per learner from its registration key, or per row from its keys when they are not OULAD's.

    A learner's noise draw is then the same whether it is perturbed alone or inside a cohort.
    """
    keys = encoded.keys
    if "code_module" not in keys.columns:
        # Keys of another form (ASSISTments: user_id, order_id, ...): the CRC-32 of a row's key text.
        text = keys.astype(str).agg(" ".join, axis=1)
        row_keys = np.array([zlib.crc32(line.encode()) for line in text], dtype=np.int64)
        return np.stack([np.full(len(keys), seed), row_keys, np.full(len(keys), modality_index)], axis=1)
    course = [zlib.crc32(f"{m} {p}".encode()) for m, p in zip(keys["code_module"], keys["code_presentation"])]
    return np.stack([np.full(len(keys), seed), np.asarray(course, dtype=np.int64),
                     keys["id_student"].to_numpy(np.int64), np.full(len(keys), modality_index)], axis=1)


def add_noise(encoded: Encoded, perturbation: Perturbation) -> Encoded:
    """Return a copy of `encoded` with Gaussian noise added to the real steps of each noisy modality.

    The draw for a learner depends only on the seed, the learner's registration key and the
    modality, not on which other learners are in `encoded`.
    """
    perturbation.validate(encoded.modalities)
    if not any(std > 0 for std in perturbation.noise.values()):
        return encoded
    inputs = dict(encoded.inputs)
    for index, name in enumerate(encoded.modalities):
        std = perturbation.noise.get(name, 0.0)
        if std <= 0:
            continue
        values = inputs[name]
        noise = np.empty(values.shape, dtype=values.dtype)
        for row, row_seed in enumerate(_row_seeds(encoded, perturbation.seed, index)):
            noise[row] = np.random.default_rng(row_seed.tolist()).standard_normal(values.shape[1:], dtype=np.float32)
        noise *= std
        if name in encoded.masks:
            noise *= encoded.masks[name][..., None]
        # A learner with no data in the modality has nothing to be noisy.
        noise *= encoded.present[:, index].reshape((-1,) + (1,) * (values.ndim - 1))
        inputs[name] = values + noise
    return Encoded(encoded.modalities, inputs, encoded.masks, encoded.present, encoded.labels, encoded.keys)
