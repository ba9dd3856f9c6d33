"""One learner's next-step timeline: the predicted probability to pass each assessment and what drives it.

A next-step checkpoint has one row per registration and assessment. Each row is predicted from what
was known the day before that assessment's due day, so the timeline shows how the prediction changes
as the course goes on. The what-if acts on every step at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dsrsd.app.figures import MODALITY_COLOURS, labelled
from dsrsd.attribution import modality_shapley
from dsrsd.data import OUTCOME_CLASSES, Encoded
from dsrsd.metrics import pass_probability
from dsrsd.perturb import Perturbation

PASSED_LABEL, NOT_PASSED_LABEL = "Passed", "Not passed"
PASSED_INDEX = OUTCOME_CLASSES.index("Pass")


def result_names(labels: np.ndarray) -> list[str]:
    """Name each next-step label: passed (submitted with a score of at least 40) or not."""
    return [PASSED_LABEL if label == PASSED_INDEX else NOT_PASSED_LABEL for label in labels]


def course_assessments(keys: pd.DataFrame) -> pd.DataFrame:
    """Return the assessments predicted in a course (`id_assessment`, `due_day`, `step`), in due-day order."""
    return keys[["id_assessment", "due_day", "step"]].drop_duplicates().sort_values(["step", "id_assessment"])


def assessment_label(assessment: pd.Series) -> str:
    return f"Assessment {int(assessment['id_assessment'])} (step {int(assessment['step']) + 1}, due day {int(assessment['due_day'])})"


def learner_steps(keys: pd.DataFrame, student: int) -> np.ndarray:
    """Return the positions in `keys` of one learner's rows, in step order."""
    positions = np.flatnonzero((keys["id_student"] == student).to_numpy())
    return positions[np.argsort(keys["step"].to_numpy()[positions], kind="stable")]


@dataclass
class Timeline:
    """Predictions and modality Shapley values of one learner's steps; arrays have one entry per step."""

    keys: pd.DataFrame          # the steps' keys, in step order
    results: list[str]          # recorded result of each step
    clean: np.ndarray           # P(pass) without the what-if
    perturbed: np.ndarray       # P(pass) under the what-if
    contributions: np.ndarray   # steps x M Shapley values of P(pass) under the what-if
    modalities: list[str]


def learner_timeline(model, steps: Encoded, clean_probabilities: np.ndarray, perturbed_probabilities: np.ndarray,
                     perturbation: Perturbation) -> Timeline:
    """Collect the timeline of `steps`, one learner's rows in step order, with their class probabilities
    without and under `perturbation`.

    The Shapley values are exact over the modalities and sum, per step, to P(pass) with every modality
    minus P(pass) with none.
    """
    # Shapley values of the at-risk probability, negated: P(pass) = 1 - P(at risk).
    attribution = modality_shapley(model, steps, np.arange(len(steps)), perturbation)
    return Timeline(
        keys=steps.keys,
        results=result_names(steps.labels),
        clean=pass_probability(clean_probabilities),
        perturbed=pass_probability(perturbed_probabilities),
        contributions=-attribution.values,
        modalities=list(steps.modalities),
    )


def step_labels(keys: pd.DataFrame) -> list[str]:
    return [f"day {int(day)}" for day in keys["due_day"]]


def probability_figure(timeline: Timeline, what_if: bool) -> go.Figure:
    """Line chart of P(pass) per step, with the recorded result as marker colour."""
    labels = step_labels(timeline.keys)
    figure = go.Figure()
    if what_if:
        figure.add_trace(go.Scatter(x=labels, y=timeline.clean, name="without what-if", mode="lines",
                                    line=dict(color="#999999", dash="dash")))
    colours = ["#2ca02c" if result == PASSED_LABEL else "#d62728" for result in timeline.results]
    hover = [f"assessment {int(a)}<br>recorded: {r}" for a, r in zip(timeline.keys["id_assessment"], timeline.results)]
    figure.add_trace(go.Scatter(
        x=labels, y=timeline.perturbed, name="under the what-if" if what_if else "predicted", mode="lines+markers",
        line=dict(color="#1f77b4"), marker=dict(color=colours, size=11, line=dict(color="#333333", width=1)),
        hovertext=hover, hovertemplate="%{x}: P(pass) %{y:.2f}<br>%{hovertext}<extra></extra>",
    ))
    figure.add_hline(y=0.5, line=dict(color="#bbbbbb", width=1))
    figure.update_layout(title="Probability to pass each assessment (marker: recorded result, green passed, red not)",
                         yaxis=dict(range=[0, 1.05], title="P(pass)"), xaxis=dict(title="assessment due"),
                         height=340, margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.25))
    return figure


def attribution_figure(timeline: Timeline) -> go.Figure:
    """Grouped bars of each modality's Shapley value of P(pass) per step, in percentage points."""
    labels = step_labels(timeline.keys)
    figure = go.Figure()
    for index, name in enumerate(labelled(timeline.modalities)):
        figure.add_trace(go.Bar(x=labels, y=timeline.contributions[:, index] * 100, name=name,
                                marker_color=MODALITY_COLOURS[index % len(MODALITY_COLOURS)]))
    figure.update_layout(barmode="group", title="Shapley value per modality and step (percentage points of P(pass))",
                         yaxis=dict(title="percentage points"), xaxis=dict(title="assessment due"), height=340,
                         margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.25))
    return figure


def timeline_table(timeline: Timeline) -> pd.DataFrame:
    """Return one row per step: assessment, due day, recorded result, P(pass) and each modality's value."""
    table = pd.DataFrame({
        "id_assessment": timeline.keys["id_assessment"].to_numpy(),
        "due_day": timeline.keys["due_day"].to_numpy(),
        "recorded": timeline.results,
        "p_pass": timeline.perturbed,
        "p_pass_clean": timeline.clean,
    })
    for index, name in enumerate(labelled(timeline.modalities)):
        table[name] = timeline.contributions[:, index] * 100
    return table
