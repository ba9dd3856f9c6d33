"""One learner's next-step timeline: the predicted probability to pass each step and what drives it.

An OULAD next-step checkpoint has one row per registration and assessment, each predicted from what
was known the day before that assessment's due day. An ASSISTments checkpoint has one row per answer
after a student's first, each predicted from the earlier answers. Either way the timeline shows how the
prediction changes step by step; `StepAxis` names and labels the steps of each kind. The what-if acts
on every step at once.
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


@dataclass(frozen=True)
class StepAxis:
    """Names, labels and titles of one kind of next-step rows on a timeline."""

    student_column: str
    order_column: str
    axis_title: str
    outcome: str                 # what P(...) is the probability of: "pass" or "correct"
    positive: str                # recorded result names of the Pass and the Fail label
    negative: str
    chart_title: str

    def x_values(self, keys: pd.DataFrame) -> list:
        if self.order_column == "due_day":
            # Several assessments can be due on one day, so each point is named by its assessment number too.
            return [f"#{int(step)}, day {int(day)}" for step, day in zip(keys["step"], keys["due_day"])]
        return [int(step) for step in keys["step"]]

    def hover(self, keys: pd.DataFrame) -> list[str]:
        if self.order_column == "due_day":
            return [f"assessment {int(a)}" for a in keys["id_assessment"]]
        return [f"answer {int(step)}, skill {skill}<br>problem {int(problem)}"
                for step, skill, problem in zip(keys["step"], keys["skill"], keys["problem_id"])]


ASSESSMENT_STEPS = StepAxis("id_student", "due_day", "assessment number and due day", "pass", PASSED_LABEL, NOT_PASSED_LABEL,
                            "Probability to pass each assessment")
ANSWER_STEPS = StepAxis("user_id", "step", "answer number", "correct", "Correct", "Incorrect",
                        "Probability of a correct answer at each step")


def step_axis(keys: pd.DataFrame) -> StepAxis:
    """Return the axis of these keys: OULAD assessments, or ASSISTments answers (keys with `user_id`)."""
    return ANSWER_STEPS if "user_id" in keys.columns else ASSESSMENT_STEPS


def result_names(labels: np.ndarray, axis: StepAxis = ASSESSMENT_STEPS) -> list[str]:
    """Name each next-step label: passed (an OULAD submission scored at least 40) or not; correct or not."""
    return [axis.positive if label == PASSED_INDEX else axis.negative for label in labels]


def course_assessments(keys: pd.DataFrame) -> pd.DataFrame:
    """Return the assessments predicted in a course (`id_assessment`, `due_day`, `step`), in due-day order."""
    return keys[["id_assessment", "due_day", "step"]].drop_duplicates().sort_values(["step", "id_assessment"])


def assessment_label(assessment: pd.Series) -> str:
    return (f"Assessment {int(assessment['id_assessment'])} (number {int(assessment['step'])} of the presentation, "
            f"due day {int(assessment['due_day'])})")


def learner_steps(keys: pd.DataFrame, student: int) -> np.ndarray:
    """Return the positions in `keys` of one learner's rows, in step order."""
    positions = np.flatnonzero((keys[step_axis(keys).student_column] == student).to_numpy())
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
    axis: StepAxis = ASSESSMENT_STEPS


def learner_timeline(model, steps: Encoded, clean_probabilities: np.ndarray, perturbed_probabilities: np.ndarray,
                     perturbation: Perturbation) -> Timeline:
    """Collect the timeline of `steps`, one learner's rows in step order, with their class probabilities
    without and under `perturbation`.

    The Shapley values are exact over the modalities and sum, per step, to P(pass) with every modality
    minus P(pass) with none.
    """
    # Shapley values of the at-risk probability, negated: P(pass) = 1 - P(at risk).
    attribution = modality_shapley(model, steps, np.arange(len(steps)), perturbation)
    axis = step_axis(steps.keys)
    return Timeline(
        keys=steps.keys,
        results=result_names(steps.labels, axis),
        clean=pass_probability(clean_probabilities),
        perturbed=pass_probability(perturbed_probabilities),
        contributions=-attribution.values,
        modalities=list(steps.modalities),
        axis=axis,
    )


def probability_figure(timeline: Timeline, what_if: bool) -> go.Figure:
    """Line chart of P(pass) or P(correct) per step, with the recorded result as marker colour."""
    axis = timeline.axis
    labels = axis.x_values(timeline.keys)
    figure = go.Figure()
    if what_if:
        figure.add_trace(go.Scatter(x=labels, y=timeline.clean, name="without what-if", mode="lines",
                                    line=dict(color="#999999", dash="dash")))
    colours = ["#2ca02c" if result == axis.positive else "#d62728" for result in timeline.results]
    hover = [f"{text}<br>recorded: {r}" for text, r in zip(axis.hover(timeline.keys), timeline.results)]
    figure.add_trace(go.Scatter(
        x=labels, y=timeline.perturbed, name="under the what-if" if what_if else "predicted", mode="lines+markers",
        line=dict(color="#1f77b4"), marker=dict(color=colours, size=11, line=dict(color="#333333", width=1)),
        hovertext=hover, hovertemplate=f"%{{x}}: P({axis.outcome}) %{{y:.2f}}<br>%{{hovertext}}<extra></extra>",
    ))
    figure.add_hline(y=0.5, line=dict(color="#bbbbbb", width=1))
    figure.update_layout(title=axis.chart_title,
                         yaxis=dict(range=[0, 1.05], title=f"P({axis.outcome})"), xaxis=dict(title=axis.axis_title),
                         height=340, margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.25))
    return figure


def attribution_figure(timeline: Timeline) -> go.Figure:
    """Grouped bars of each modality's Shapley value of P(pass) per step, in percentage points."""
    axis = timeline.axis
    labels = axis.x_values(timeline.keys)
    hover = axis.hover(timeline.keys)
    figure = go.Figure()
    for index, name in enumerate(labelled(timeline.modalities)):
        figure.add_trace(go.Bar(x=labels, y=timeline.contributions[:, index] * 100, name=name, hovertext=hover,
                                marker_color=MODALITY_COLOURS[index % len(MODALITY_COLOURS)]))
    figure.update_layout(barmode="group",
                         title="Shapley value per modality and step",
                         yaxis=dict(title="percentage points"), xaxis=dict(title=axis.axis_title), height=340,
                         margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.25))
    return figure


def timeline_table(timeline: Timeline) -> pd.DataFrame:
    """Return one row per step: assessment and due day (or answer number, problem and skill), recorded
    result, P(pass) and each modality's value."""
    columns = (["id_assessment", "due_day"] if timeline.axis is ASSESSMENT_STEPS
               else ["step", "problem_id", "skill"])
    table = pd.DataFrame({
        **{column: timeline.keys[column].to_numpy() for column in columns},
        "recorded": timeline.results,
        "p_pass": timeline.perturbed,
        "p_pass_clean": timeline.clean,
    })
    for index, name in enumerate(labelled(timeline.modalities)):
        table[name] = timeline.contributions[:, index] * 100
    return table
