"""Students: who is at risk in a course, and which modality drives each prediction.

For a next-step checkpoint: who is at risk of not passing one assessment, and each student's timeline.
For an ASSISTments checkpoint: who is at risk of a wrong answer, and each student's timeline over their answers.
"""

import numpy as np
import pandas as pd
import streamlit as st

from dsrsd.app import figures, timeline
from dsrsd.app.compare import comparison_ui
from dsrsd.app.context import PageContext, page_context
from dsrsd.app.sidebar import MODALITY_LABELS
from dsrsd.app.state import student_table
from dsrsd.attribution import STREAMS, stream_baseline
from dsrsd.datasets import dataset_of
from dsrsd.explain import explain_student
from dsrsd.metrics import NEXT_STEP, at_risk_probability, pass_probability

st.title("Students")


def table_ui(table: pd.DataFrame) -> None:
    ranked = table.sort_values("at_risk", ascending=False)[["id_student", "at_risk", "band", "recorded_outcome", "no_data_in"]]
    st.dataframe(
        ranked.style.apply(lambda column: [f"background-color: {figures.band_colour(b)}33" for b in column], subset=["band"]),
        hide_index=True, height=420,
        column_config={
            "id_student": st.column_config.NumberColumn("Student", format="%d"),
            "at_risk": st.column_config.ProgressColumn("At-risk probability", min_value=0.0, max_value=1.0, format="%.2f"),
            "band": "Risk band",
            "recorded_outcome": "Recorded outcome",
            "no_data_in": st.column_config.TextColumn(
                "No record in", help="Modalities in which the learner truly has no data up to the cutoff"),
        },
    )


def student_ui(table: pd.DataFrame, clean_risk: np.ndarray) -> int:
    """Pick a student, listed by the at-risk probability without what-if settings.

    The labels must not follow the what-if: the browser keeps showing a chosen option's old label
    when only the label changes, so it would show a stale probability.
    """
    order = np.argsort(-clean_risk, kind="stable")
    labels = {int(table["position"].iloc[i]): f"{table['id_student'].iloc[i]}  (at-risk {clean_risk[i]:.2f} "
              f"without what-if)" for i in order}
    return st.selectbox("Student", list(labels), format_func=labels.get, key="students.student")


def modality_status(context: PageContext, position: int) -> list[str]:
    encoded, knockout = context.cohorts.encoded, context.selection.perturbation.knockout
    row = context.rows[position]
    notes = []
    for index, modality in enumerate(encoded.modalities):
        label = MODALITY_LABELS.get(modality, modality)
        if modality in knockout:
            notes.append(f"{label}: knocked out (what-if)")
        elif not encoded.present[row, index]:
            notes.append(f"{label}: truly missing for this learner (no record up to the cutoff). The absence "
                         "itself is evidence, so this modality can still carry a Shapley value.")
    return notes


COMPLETENESS_TOLERANCE = 1e-4   # in probability; exact enumeration stays near float32 rounding, about 1e-7


def streams_ui(context: PageContext, explanation, column) -> None:
    clean = context.predictions(perturbed=False, keep_codes=True)
    modalities = context.cohorts.encoded.modalities
    baseline = stream_baseline(clean.shared, clean.private, clean.available, modalities)
    attribution = explanation.streams(baseline)
    values = attribution.values[0]                                   # M x 2
    names = [f"{label}, {stream}" for label in figures.labelled(modalities) for stream in STREAMS]
    column.plotly_chart(figures.signed_bar(values.reshape(-1), names, "Shapley value per stream (percentage points)"),
                        key="students.streams")
    change = (attribution.full[0] - attribution.baseline[0]) * 100
    gap = float(attribution.completeness_gap[0])
    check = "holds" if gap <= COMPLETENESS_TOLERANCE else "does not hold"
    column.caption(
        "Stream values answer: how much does this learner's own shared or private code move the prediction, "
        "compared with the course's average code of that stream? They sum to the change from the average codes to "
        f"this learner's: {values.sum() * 100:+.3f} vs {change:+.3f} percentage points. Completeness {check}: gap "
        f"{gap:.1e}, tolerance {COMPLETENESS_TOLERANCE:.0e}."
    )


def detail_ui(context: PageContext, position: int, predictions) -> None:
    explanation = explain_student(context.checkpoint, context.cohorts.encoded, int(context.rows[position]),
                                  context.selection.perturbation)
    modalities = context.cohorts.encoded.modalities
    st.markdown(f"**{explanation.summary}**")
    for note in modality_status(context, position):
        st.caption(note)

    left, right = st.columns(2)
    probabilities = predictions.probabilities[position]
    if context.checkpoint.task == NEXT_STEP:
        passing = float(pass_probability(probabilities[None])[0])
        axis = timeline.step_axis(context.cohorts.encoded.keys)
        title = "Probability for this assessment" if axis is timeline.ASSESSMENT_STEPS else "Probability for this answer"
        left.plotly_chart(figures.bar(np.array([passing, 1.0 - passing]), [axis.positive, axis.negative], title,
                                      value_range=[0.0, 1.1]),
                          key="students.probabilities")
    else:
        left.plotly_chart(figures.bar(probabilities, explanation.classes, "Outcome probabilities", value_range=[0.0, 1.1]),
                          key="students.probabilities")
    right.plotly_chart(figures.bar(predictions.gates[position], figures.labelled(modalities), "Fusion gate weights",
                                   value_range=[0.0, 1.1]),
                       key="students.gates")
    left.plotly_chart(figures.signed_bar(explanation.modality_values, figures.labelled(modalities),
                                         "Shapley value per modality (percentage points of at-risk probability)"), key="students.shapley")
    left.caption(f"Shapley values answer: how much does this modality move the prediction, compared with "
                 f"the model not seeing it at all? They are exact over the three modalities and sum to the change "
                 f"from no modality to all (completeness gap {explanation.completeness_gap:.1e}).")

    streams_ui(context, explanation, left)

    available = [m for i, m in enumerate(modalities) if predictions.available[position, i]]
    if not available:
        right.info("No modality is available for this learner, so there is nothing to attribute.")
        return
    modality = right.selectbox("Features inside", available, format_func=MODALITY_LABELS.get, key="students.modality")
    features = explanation.features(modality)
    top = np.argsort(-np.abs(features.per_feature))[:10]
    right.plotly_chart(figures.signed_bar(features.per_feature[top], [features.feature_names[i] for i in top],
                                          f"Integrated Gradients: {MODALITY_LABELS[modality].lower()} (percentage points)"),
                       key="students.features")
    total = features.per_feature.sum() * 100
    right.caption(
        "Integrated Gradients answer a different question: how do this learner's values in the modality move "
        "the prediction, compared with an average learner's (the baseline is the training mean of every "
        "standardised feature, no category, and empty steps)? Red raises the at-risk probability, blue lowers "
        "it. Sequence features are summed over steps. Single features can be large with opposite signs, "
        f"because the bars add up to the baseline-to-learner change of {total:+.2f} percentage points "
        f"(path-integral error {features.convergence_delta * 100:.2f})."
    )


def band_counts_ui(table: pd.DataFrame) -> None:
    counts = table["band"].value_counts()
    columns = st.columns(3)
    for column, band in zip(columns, ["High", "Medium", "Low"]):
        column.metric(f"{band} risk", int(counts.get(band, 0)))


def final_outcome_ui(context: PageContext) -> None:
    predictions = context.predictions()
    table = student_table(context.cohorts, context.rows, predictions)
    table["band"] = [figures.risk_band(p) for p in table["at_risk"]]

    st.subheader(f"{context.course}: {len(table)} students")
    band_counts_ui(table)
    table_ui(table)
    if not len(table):
        return
    clean_risk = at_risk_probability(context.predictions(perturbed=False).probabilities)
    position = student_ui(table, clean_risk)
    row = table.iloc[position]
    what_if = "" if context.selection.perturbation.is_identity else f" under the what-if ({clean_risk[position]:.2f} without it)"
    st.markdown(f"At-risk probability **{row.at_risk:.2f}** ({row.band} risk){what_if}.")
    detail_ui(context, position, predictions)
    comparison_ui(context, position)


def timeline_ui(context: PageContext, steps: np.ndarray, student: int, clean, predictions, step_name: str,
                key_columns: dict) -> timeline.Timeline:
    """Draw one student's timeline: the charts, then a table with `key_columns` naming the step's keys.

    `steps` are positions in `context.rows`, in step order; `step_name` names a step in the captions.
    """
    perturbation = context.selection.perturbation
    history = timeline.learner_timeline(context.checkpoint.model, context.cohorts.encoded.subset(context.rows[steps]),
                                        clean.probabilities[steps], predictions.probabilities[steps], perturbation)
    outcome = f"P({history.axis.outcome})"
    st.subheader(f"Timeline of student {student}")
    left, right = st.columns(2)
    left.plotly_chart(timeline.probability_figure(history, not perturbation.is_identity), key="students.timeline")
    left.caption(f"Marker colour: the recorded result, green {history.axis.positive.lower()}, red "
                 f"{history.axis.negative.lower()}. Under a what-if, the grey dashed line is {outcome} without it.")
    right.plotly_chart(timeline.attribution_figure(history), key="students.timeline_attribution")
    right.caption(f"Each bar is a modality's exact Shapley value at that {step_name}, in percentage points: how much "
                  f"seeing the modality moves {outcome} compared with the model not seeing it. The what-if applies "
                  f"to every {step_name}.")
    st.dataframe(timeline.timeline_table(history), hide_index=True, column_config={
        **key_columns,
        "p_pass": st.column_config.NumberColumn(outcome, format="%.2f"),
        "p_pass_clean": st.column_config.NumberColumn(f"{outcome} without what-if", format="%.2f"),
        **{name: st.column_config.NumberColumn(f"{name} (points)", format="%+.2f")
           for name in figures.labelled(context.cohorts.encoded.modalities)},
    })
    return history


def next_step_ui(context: PageContext) -> None:
    """Risk of not passing one assessment per student, then one student's timeline over every assessment."""
    keys = context.cohorts.encoded.keys.iloc[context.rows].reset_index(drop=True)
    assessments = timeline.course_assessments(keys)
    labels = {int(item["id_assessment"]): timeline.assessment_label(item) for _, item in assessments.iterrows()}
    chosen = st.selectbox("Assessment to predict", list(labels), format_func=labels.get, key="students.assessment",
                          help="Each prediction uses only what was known the day before the assessment's due day")
    in_assessment = np.flatnonzero(keys["id_assessment"].to_numpy() == chosen)

    predictions = context.predictions()
    clean = context.predictions(perturbed=False)
    table = student_table(context.cohorts, context.rows[in_assessment], predictions.subset(in_assessment))
    table["position"] = in_assessment
    table["recorded_outcome"] = timeline.result_names(context.cohorts.encoded.labels[context.rows[in_assessment]])
    table["band"] = [figures.risk_band(p) for p in table["at_risk"]]

    st.subheader(f"{context.course}: {len(table)} students, {labels[chosen].lower()}")
    st.caption("At-risk probability here is the probability of not passing this assessment: not submitting it, "
               "or scoring below 40.")
    band_counts_ui(table)
    table_ui(table)
    if not len(table):
        return
    clean_risk = at_risk_probability(clean.probabilities[in_assessment])
    # Students are picked by id, so the choice stays when another assessment is picked.
    order = np.argsort(-clean_risk, kind="stable")
    names = {int(table["id_student"].iloc[i]): f"{table['id_student'].iloc[i]}  (at-risk {clean_risk[i]:.2f} "
             "without what-if)" for i in order}
    student = st.selectbox("Student", list(names), format_func=names.get, key="students.step_student")
    position = int(table["position"].iloc[int(np.flatnonzero(table["id_student"].to_numpy() == student)[0])])

    steps = timeline.learner_steps(keys, student)
    perturbation = context.selection.perturbation
    timeline_ui(context, steps, student, clean, predictions, "step", {
        "id_assessment": st.column_config.NumberColumn("Assessment", format="%d"),
        "due_day": st.column_config.NumberColumn("Due day", format="%d"),
        "recorded": "Recorded result",
    })

    st.subheader(f"Step detail: {labels[chosen].lower()}")
    row = table.iloc[int(np.flatnonzero(table["position"].to_numpy() == position)[0])]
    what_if = "" if perturbation.is_identity else " under the what-if"
    st.markdown(f"Probability of not passing **{row.at_risk:.2f}** ({row.band} risk){what_if}; recorded: "
                f"{row.recorded_outcome.lower()}.")
    detail_ui(context, position, predictions)


def latest_answers(keys: pd.DataFrame) -> np.ndarray:
    """Return the position of each student's latest answer in `keys`, students in user_id order."""
    order = np.lexsort((keys["step"].to_numpy(), keys["user_id"].to_numpy()))
    users = keys["user_id"].to_numpy()[order]
    last = np.append(users[1:] != users[:-1], True)
    return order[last]


def answer_table_ui(table: pd.DataFrame) -> None:
    ranked = table.sort_values("at_risk", ascending=False)[["user_id", "at_risk", "band", "answers", "skill", "recorded"]]
    st.dataframe(
        ranked.style.apply(lambda column: [f"background-color: {figures.band_colour(b)}33" for b in column], subset=["band"]),
        hide_index=True, height=420,
        column_config={
            "user_id": st.column_config.NumberColumn("Student", format="%d"),
            "at_risk": st.column_config.ProgressColumn("P(wrong), latest answer", min_value=0.0, max_value=1.0,
                                                       format="%.2f"),
            "band": "Risk band",
            "answers": st.column_config.NumberColumn("Answers", format="%d"),
            "skill": "Skill of the latest answer",
            "recorded": "Latest answer was",
        },
    )


def next_attempt_ui(context: PageContext) -> None:
    """Each student's risk of a wrong latest answer, then one student's timeline over every answer."""
    axis = timeline.ANSWER_STEPS
    encoded = context.cohorts.encoded
    keys = encoded.keys.iloc[context.rows].reset_index(drop=True)
    predictions = context.predictions()
    clean = context.predictions(perturbed=False)
    latest = latest_answers(keys)
    table = pd.DataFrame({
        "user_id": keys["user_id"].to_numpy()[latest],
        "at_risk": at_risk_probability(predictions.probabilities[latest]),
        "answers": keys["step"].to_numpy()[latest],
        "skill": keys["skill"].to_numpy()[latest],
        "recorded": timeline.result_names(encoded.labels[context.rows[latest]], axis),
    })
    table["band"] = [figures.risk_band(p) for p in table["at_risk"]]

    st.subheader(f"{context.course}: {len(table)} students")
    st.caption("At-risk probability here is the probability that the student's latest answer in the file is wrong, "
               "predicted from the earlier answers only. These students are the test fold: the model never trained "
               "on them.")
    band_counts_ui(table)
    answer_table_ui(table)
    if not len(table):
        return
    clean_risk = at_risk_probability(clean.probabilities[latest])
    order = np.argsort(-clean_risk, kind="stable")
    labels = {int(table["user_id"].iloc[i]): f"{table['user_id'].iloc[i]}  (P(wrong) {clean_risk[i]:.2f} on the latest "
              "answer, without what-if)" for i in order}
    student = st.selectbox("Student", list(labels), format_func=labels.get, key="students.answer_student")

    steps = timeline.learner_steps(keys, student)
    perturbation = context.selection.perturbation
    history = timeline_ui(context, steps, student, clean, predictions, "answer", {
        "step": st.column_config.NumberColumn("Answer", format="%d"),
        "problem_id": st.column_config.NumberColumn("Problem", format="%d"),
        "skill": "Skill",
        "recorded": "Recorded answer",
    })

    numbers = [int(step) for step in keys["step"].to_numpy()[steps]]
    chosen = st.selectbox("Answer to explain", numbers, index=len(numbers) - 1, key=f"students.answer.{student}",
                          help="Each prediction uses only the student's earlier answers")
    position = int(steps[numbers.index(chosen)])
    st.subheader(f"Step detail: answer {chosen} ({keys['skill'].iloc[position]})")
    risk = at_risk_probability(predictions.probabilities[position:position + 1])[0]
    what_if = "" if perturbation.is_identity else " under the what-if"
    st.markdown(f"Probability of a wrong answer **{risk:.2f}** ({figures.risk_band(risk)} risk){what_if}; recorded: "
                f"{history.results[numbers.index(chosen)].lower()}.")
    detail_ui(context, position, predictions)


context = page_context()
if dataset_of(context.checkpoint.config) == "assistments":
    next_attempt_ui(context)
elif context.checkpoint.task == NEXT_STEP:
    next_step_ui(context)
else:
    final_outcome_ui(context)
