"""Proof that the shipped demo checkpoint's explanations find the truth planted in the synthetic course.

The checkpoint `checkpoints/synthetic-demo` is checked against a freshly generated copy of its
course (same seed and size, written to the test's private cache), on the test presentation 2014J.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dsrsd import truth
from dsrsd.checkpoint import load_checkpoint
from dsrsd.data.synthetic import synthetic_course
from dsrsd.datasets import data_dir_for
from dsrsd.pipeline import encode_for_checkpoint
from dsrsd.settings import CHECKPOINTS_DIR


@pytest.fixture(scope="module")
def demo():
    """Return the demo model, its encoded test learners and their planted truth."""
    checkpoint = load_checkpoint(CHECKPOINTS_DIR / "synthetic-demo")
    data = checkpoint.config["data"]
    assert data["dataset"] == "synthetic"
    course = synthetic_course(data["synthetic"]["seed"], data["synthetic"]["learners"])
    assert data_dir_for(checkpoint.config, CHECKPOINTS_DIR) == course.path
    encoded = encode_for_checkpoint(checkpoint, course.path, "test")
    return checkpoint.model, encoded, course.truth


@pytest.fixture(scope="module")
def probes(demo):
    return truth.probe_r2(*demo)


def test_attribution_names_deciding_modality(demo):
    """At least 90% of the learners whose outcome one modality decides have it ranked first, in every group."""
    ranking = truth.decider_ranking(*demo)
    assert len(ranking) >= 500
    rates = truth.ranking_rates(ranking)
    for group in ["profile", "assessments", "engagement", "all"]:
        assert rates[group] >= 0.90, f"{group}: {rates[group]:.3f}"


def test_probe_recovers_shared_factor(probes):
    """The shared codes give motivation with a cross-validated R² of at least 0.9."""
    assert probes.loc["motivation", "shared"] >= 0.9


def test_probe_recovers_private_factors(probes):
    """Each private factor comes out of its own modality's private code with an R² of at least 0.8."""
    for factor in ["prior", "skill", "habit"]:
        assert probes.loc[factor, "own_private"] >= 0.8, factor


def test_private_factor_absent_elsewhere(demo, probes):
    """No private factor is readable (R² below 0.1) from the codes of the two modalities that never see it."""
    model, encoded, planted = demo
    from dsrsd.inference import predict

    output = predict(model, encoded, keep_codes=True)
    aligned = truth.align_truth(encoded, planted)
    for modality, factor in truth.PRIVATE_FACTOR.items():
        others = [m for m in encoded.modalities if m != modality]
        codes = np.concatenate([output.shared[m] for m in others] + [output.private[m] for m in others], axis=1)
        assert truth.probe_from_codes(codes, aligned[factor].to_numpy()) < 0.1, factor


def test_streams_separate_factors(probes):
    """Motivation from the shared codes beats the private codes by 0.2 R², and each private factor from its
    own private code beats its own shared code by 0.2."""
    assert probes.loc["motivation", "shared"] >= probes.loc["motivation", "private"] + 0.2
    for factor in ["prior", "skill", "habit"]:
        assert probes.loc[factor, "own_private"] >= probes.loc[factor, "own_shared"] + 0.2, factor


def test_separation_margins_hand_table():
    probes = pd.DataFrame({
        "shared": [0.9, 0.0, 0.1, 0.0], "private": [0.6, 0.8, 0.9, 0.9],
        "own_shared": [np.nan, 0.1, 0.5, 0.0], "own_private": [np.nan, 0.8, 0.6, 0.95],
    }, index=pd.Index(["motivation", "prior", "skill", "habit"], name="factor"))
    margins = truth.separation_margins(probes)
    assert margins["motivation"] == pytest.approx(0.3)
    assert margins["prior"] == pytest.approx(0.7)
    assert margins["skill"] == pytest.approx(0.1)
    assert margins["habit"] == pytest.approx(0.95)


def test_uninformative_knockout_barely_moves(demo):
    """For a group decided by one modality, knocking out another moves the at-risk probability by under
    0.05 on average, and knocking out the deciding one moves it by over 0.3."""
    shifts = truth.knockout_shifts(*demo)
    for group in ["profile", "assessments", "engagement"]:
        for modality in shifts.columns:
            if modality == group:
                assert shifts.loc[group, modality] > 0.3, group
            else:
                assert shifts.loc[group, modality] < 0.05, (group, modality)
