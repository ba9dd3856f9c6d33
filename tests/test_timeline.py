"""A learner's next-step timeline on the shipped next-step checkpoint and the real 2014J rows."""

from __future__ import annotations

import numpy as np
import pytest

from dsrsd.app import timeline
from dsrsd.checkpoint import load_checkpoint
from dsrsd.inference import predict
from dsrsd.metrics import pass_probability
from dsrsd.perturb import Perturbation
from dsrsd.pipeline import encode_for_checkpoint
from dsrsd.settings import CHECKPOINTS_DIR


@pytest.fixture(scope="module")
def course(oulad_dir):
    """The next-step checkpoint and its encoded AAA 2014J rows."""
    checkpoint = load_checkpoint(CHECKPOINTS_DIR / "oulad-next-step")
    encoded = encode_for_checkpoint(checkpoint, oulad_dir, "test")
    rows = np.flatnonzero((encoded.keys["code_module"] == "AAA").to_numpy())
    return checkpoint, encoded.subset(rows)


def test_learner_steps_in_order(course):
    _, encoded = course
    student = int(encoded.keys["id_student"].iloc[0])
    steps = timeline.learner_steps(encoded.keys, student)
    assert len(steps) == 4                      # AAA 2014J has five non-exam assessments
    assert (encoded.keys["id_student"].to_numpy()[steps] == student).all()
    assert np.all(np.diff(encoded.keys["due_day"].to_numpy()[steps]) > 0)


def test_course_assessments_listed_once(course):
    _, encoded = course
    assessments = timeline.course_assessments(encoded.keys)
    assert len(assessments) == 4
    assert assessments["due_day"].is_monotonic_increasing


@pytest.mark.parametrize("perturbation", [Perturbation(), Perturbation(knockout=("engagement",), noise={"assessments": 1.0})])
def test_timeline_values_add_up(course, perturbation):
    """Per step, the modality values sum to P(pass) with every modality minus P(pass) with none."""
    checkpoint, encoded = course
    steps = encoded.subset(timeline.learner_steps(encoded.keys, int(encoded.keys["id_student"].iloc[0])))
    clean = predict(checkpoint.model, steps).probabilities
    perturbed = predict(checkpoint.model, steps, perturbation).probabilities
    history = timeline.learner_timeline(checkpoint.model, steps, clean, perturbed, perturbation)

    nothing = Perturbation(knockout=tuple(steps.modalities), noise=perturbation.noise)
    empty = pass_probability(predict(checkpoint.model, steps, nothing).probabilities)
    np.testing.assert_allclose(history.contributions.sum(axis=1), history.perturbed - empty, atol=1e-5)
    np.testing.assert_allclose(history.clean, pass_probability(clean))
    assert history.results == timeline.result_names(steps.labels)
    for modality in perturbation.knockout:
        assert (history.contributions[:, steps.modalities.index(modality)] == 0).all()


def test_same_day_steps_stay_apart(oulad_dir):
    """GGG 2014J has six assessments due on one day; each still gets its own point on the timeline."""
    checkpoint = load_checkpoint(CHECKPOINTS_DIR / "oulad-next-step")
    encoded = encode_for_checkpoint(checkpoint, oulad_dir, "test")
    rows = np.flatnonzero((encoded.keys["code_module"] == "GGG").to_numpy())
    course = encoded.subset(rows)
    steps = course.subset(timeline.learner_steps(course.keys, int(course.keys["id_student"].iloc[0])))
    assert steps.keys["due_day"].duplicated().any()
    probabilities = predict(checkpoint.model, steps).probabilities
    history = timeline.learner_timeline(checkpoint.model, steps, probabilities, probabilities, Perturbation())
    labels = history.axis.x_values(history.keys)
    assert len(set(labels)) == len(steps)
    figure = timeline.probability_figure(history, what_if=False)
    assert list(figure.data[0].x) == labels
