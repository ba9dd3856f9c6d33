"""What-if perturbations: seeded Gaussian noise on copies of the inputs, knockout masks, CLI parsing."""

from __future__ import annotations

import numpy as np
import pytest

from dsrsd.data import OuladEncoder
from dsrsd.perturb import Perturbation, add_noise, knockout_mask, parse_noise

MODALITIES = ["profile", "assessments", "engagement"]


@pytest.fixture(scope="module")
def encoded(toy_raw):
    return OuladEncoder.fit(toy_raw).transform(toy_raw)


def snapshot(encoded) -> dict[str, np.ndarray]:
    return {m: value.copy() for m, value in encoded.inputs.items()}


def test_noise_reproducible(encoded):
    noise = {"engagement": 0.5, "profile": 0.2}
    first = add_noise(encoded, Perturbation(noise=noise, seed=7))
    second = add_noise(encoded, Perturbation(noise=noise, seed=7))
    other = add_noise(encoded, Perturbation(noise=noise, seed=8))
    for modality in noise:
        np.testing.assert_array_equal(first.inputs[modality], second.inputs[modality])
        assert not np.array_equal(first.inputs[modality], other.inputs[modality])


def test_noise_independent_of_cohort(encoded):
    perturbation = Perturbation(noise={"engagement": 0.5, "profile": 0.2}, seed=7)
    rows = np.array([3, 11, 12, 40])
    alone = add_noise(encoded.subset(rows), perturbation)
    in_cohort = add_noise(encoded, perturbation).subset(rows)
    for modality in MODALITIES:
        np.testing.assert_array_equal(alone.inputs[modality], in_cohort.inputs[modality])


def test_noise_leaves_original(encoded):
    original = snapshot(encoded)
    noisy = add_noise(encoded, Perturbation(noise={m: 1.0 for m in MODALITIES}))
    for modality in MODALITIES:
        np.testing.assert_array_equal(encoded.inputs[modality], original[modality])
        assert noisy.inputs[modality] is not encoded.inputs[modality]
        assert noisy.inputs[modality].dtype == encoded.inputs[modality].dtype


def test_noise_only_named_modality(encoded):
    noisy = add_noise(encoded, Perturbation(noise={"assessments": 1.0}))
    np.testing.assert_array_equal(noisy.inputs["profile"], encoded.inputs["profile"])
    np.testing.assert_array_equal(noisy.inputs["engagement"], encoded.inputs["engagement"])
    assert not np.array_equal(noisy.inputs["assessments"], encoded.inputs["assessments"])


@pytest.mark.parametrize("modality", ["assessments", "engagement"])
def test_noise_respects_mask_and_presence(encoded, modality):
    index = MODALITIES.index(modality)
    noisy = add_noise(encoded, Perturbation(noise={modality: 1.0}))
    changed = noisy.inputs[modality] != encoded.inputs[modality]        # N x T x F
    mask = encoded.masks[modality]
    present = encoded.present[:, index]

    assert (~mask).any()
    assert not changed[~mask].any()
    assert (~present).any()
    assert not changed[~present].any()
    # Every real step of a present learner gets noise (a zero draw has probability 0).
    assert changed[mask & present[:, None]].all()


def test_noise_scale(encoded):
    noisy = add_noise(encoded, Perturbation(noise={"profile": 0.3}))
    difference = noisy.inputs["profile"] - encoded.inputs["profile"]
    assert difference.std() == pytest.approx(0.3, rel=0.15)
    assert abs(difference.mean()) < 0.05


def test_zero_noise_identity(encoded):
    perturbation = Perturbation(noise={"engagement": 0.0})
    assert perturbation.is_identity
    unchanged = add_noise(encoded, perturbation)
    for modality in MODALITIES:
        np.testing.assert_array_equal(unchanged.inputs[modality], encoded.inputs[modality])


def test_is_identity():
    assert Perturbation().is_identity
    assert not Perturbation(knockout=("profile",)).is_identity
    assert not Perturbation(noise={"profile": 0.1}).is_identity


def test_knockout_mask_columns():
    mask = knockout_mask(MODALITIES, 3, ("engagement", "profile"))
    assert mask.shape == (3, 3)
    assert mask[:, 0].all()
    assert not mask[:, 1].any()
    assert mask[:, 2].all()


def test_validate_unknown_modality():
    with pytest.raises(ValueError, match="unknown modality 'clicks'; the model's modalities are"):
        Perturbation(knockout=("clicks",)).validate(MODALITIES)
    with pytest.raises(ValueError, match="unknown modality 'grades'"):
        Perturbation(noise={"grades": 0.5}).validate(MODALITIES)


@pytest.mark.parametrize("level", [-0.5, float("nan"), float("inf")])
def test_validate_bad_level(level):
    with pytest.raises(ValueError, match="invalid noise level .* for engagement"):
        Perturbation(noise={"engagement": level}).validate(MODALITIES)


def test_add_noise_validates(encoded):
    with pytest.raises(ValueError, match="unknown modality 'clicks'"):
        add_noise(encoded, Perturbation(noise={"clicks": 1.0}))


def test_parse_noise_valid():
    assert parse_noise(None) == {}
    assert parse_noise(["engagement=0.5", "assessments=0", "profile=1e-1"]) == {
        "engagement": 0.5, "assessments": 0.0, "profile": 0.1,
    }


@pytest.mark.parametrize("option", [
    "engagement", "=0.5", "engagement=", "engagement=loud", "engagement=-1", "engagement=nan", "engagement=inf",
])
def test_parse_noise_rejects(option):
    with pytest.raises(ValueError) as error:
        parse_noise([option])
    assert f"invalid --noise {option!r}: use MODALITY=STD" in str(error.value)
