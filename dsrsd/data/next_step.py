"""Build the OULAD next-assessment task: one row per registration and non-exam assessment after the first.

Letters: N rows, T assessment steps, W click windows, F features.

Each row predicts whether the learner submits the assessment and scores at least 40, from what is
known the day before its due day D:
- profile: as for the final outcome, with the registration date unknown when it falls on day D or later;
- assessments: the non-exam assessments due before day D, with submissions made by day D - 1 (a later
  submission counts as not submitted), followed by one query step that describes the assessment being
  predicted (type, weight, due day, `is_target` = 1) and carries none of its outcome;
- engagement: with `studentVle` present, clicks per activity type in the `CLICK_WINDOWS` weeks before
  day D, counted back from D so that no click of day D or later enters (`clicks_before_due`). Without
  the click log, the pre-course clicks (`precourse_clicks`), the only click table valid at any day.

Assessments due on the same day as the target are left out of its history, because they are due at
the same time. The label uses the outcome classes: Pass (passed) or Fail (not submitted, or a score
below 40). A submission without a score counts as not passed, because the pass cannot be confirmed.
"""

from __future__ import annotations

import logging
import warnings

import duckdb
import numpy as np
import pandas as pd

from dsrsd.data.engagement import CLICK_LOG_QUERY, FIRST_WEEK, EngagementArrays, _precourse
from dsrsd.data.oulad import (
    ASSESSMENT_FEATURES, OUTCOME_CLASSES, OuladRaw, _build_profile, _warn_unregistered_submissions,
    non_exam_assessments,
)
from dsrsd.data.tables import REGISTRATION_KEY, DataError, OuladTables

log = logging.getLogger(__name__)

# The cutoff a next-step build records: every row has its own cutoff, the day before its due day.
BEFORE_DUE = "before_due"
NEXT_STEP_FEATURES = ASSESSMENT_FEATURES + ["is_target"]
PASS_MARK = 40
# Weeks of clicks before each due day. In OULAD, 96% of consecutive non-exam assessments of a presentation
# are due at most 8 weeks apart, and the maximum is 9. So the windows cover the span since the previous
# assessment, and the N x W x F array stays small.
CLICK_WINDOWS = 8
CLICKS_BEFORE_DUE = "clicks_before_due"
PASSED, NOT_PASSED = OUTCOME_CLASSES.index("Pass"), OUTCOME_CLASSES.index("Fail")


def build_next_step(tables: OuladTables) -> OuladRaw:
    """Build the raw modalities of every (registration, non-exam assessment after the first) row.

    Keys are the registration, `id_assessment`, its `due_day` and its `step`: the assessment's number in
    its presentation's due-day order, 1 for the first, so rows start at 2.
    """
    info = tables.student_info.sort_values(REGISTRATION_KEY).reset_index(drop=True)
    registrations = info[REGISTRATION_KEY].copy()
    registrations["id_student"] = registrations["id_student"].astype("int64")
    schedule = _schedule(tables)

    targets = registrations.reset_index().rename(columns={"index": "registration"}).merge(
        schedule[schedule["step"] >= 2], on=["code_module", "code_presentation"])
    targets = targets.sort_values(["registration", "step"]).reset_index(drop=True)
    if targets.empty:
        raise DataError("assessments: no presentation has two or more non-exam assessments, so there is no next step")
    max_steps = int(schedule.groupby(["code_module", "code_presentation"]).size().max())

    submissions = _submissions(tables)
    labels = _labels(targets, submissions)
    steps, step_mask = _history(targets, schedule, submissions, max_steps)

    due = targets["due_day"].to_numpy(np.float64)
    categorical, numeric = _build_profile(info, tables.registration, "end")
    categorical = categorical.iloc[targets["registration"].to_numpy()].reset_index(drop=True)
    numeric = numeric[targets["registration"].to_numpy()]
    # A registration dated on the due day or later is not known the day before it.
    numeric[:, 2] = np.where(numeric[:, 2] > due - 1, np.nan, numeric[:, 2])

    engagement = _engagement(registrations, targets, tables)
    keys = targets[REGISTRATION_KEY + ["id_assessment", "due_day", "step"]].copy()
    keys[["id_assessment", "due_day", "step"]] = keys[["id_assessment", "due_day", "step"]].astype("int64")
    present = np.stack([np.ones(len(keys), dtype=bool), np.ones(len(keys), dtype=bool), engagement.present], axis=1)
    log.info("built %d next-step rows of %d registrations with engagement form %s",
             len(keys), len(registrations), engagement.form)
    return OuladRaw(
        keys=keys, labels=labels, profile_categorical=categorical, profile_numeric=numeric,
        assessments=steps, assessment_mask=step_mask, engagement=engagement, present=present, cutoff=BEFORE_DUE,
        assessment_features=list(NEXT_STEP_FEATURES),
    )


def _schedule(tables: OuladTables) -> pd.DataFrame:
    """Return the non-exam assessments with their `step`, numbered from 1 in (due day, id) order per presentation."""
    non_exam = non_exam_assessments(tables.assessments)
    undated = non_exam["date"].isna()
    if undated.any():
        example = non_exam.loc[undated, "id_assessment"].iloc[0]
        raise DataError(
            f"assessments: {int(undated.sum())} non-exam assessment(s) have no due date ('?'), for example "
            f"id_assessment {example}; next-step prediction needs every due day, so fill them in"
        )
    non_exam = non_exam.rename(columns={"date": "due_day"}).sort_values(
        ["code_module", "code_presentation", "due_day", "id_assessment"])
    non_exam["step"] = non_exam.groupby(["code_module", "code_presentation"]).cumcount() + 1
    return non_exam[["code_module", "code_presentation", "id_assessment", "assessment_type", "weight", "due_day", "step"]]


def _submissions(tables: OuladTables) -> pd.DataFrame:
    submissions = tables.student_assessment
    orphans = ~submissions["id_assessment"].isin(tables.assessments["id_assessment"])
    if orphans.any():
        warnings.warn(
            f"studentAssessment: {int(orphans.sum())} row(s) refer to an id_assessment that is not in "
            "assessments.csv; they are ignored", stacklevel=4,
        )
    keys = tables.student_info[REGISTRATION_KEY].astype({"id_student": "int64"})
    _warn_unregistered_submissions(keys, tables.assessments, submissions)
    return submissions[["id_assessment", "id_student", "date_submitted", "is_banked", "score"]].astype(
        {"id_student": "int64"})


def _labels(targets: pd.DataFrame, submissions: pd.DataFrame) -> np.ndarray:
    outcome = targets[["id_assessment", "id_student"]].merge(
        submissions, on=["id_assessment", "id_student"], how="left", validate="many_to_one")
    passed = outcome["date_submitted"].notna() & (outcome["score"] >= PASS_MARK)
    unscored = int((outcome["date_submitted"].notna() & outcome["score"].isna()).sum())
    if unscored:
        log.info("%d next-step target(s) were submitted without a score; they count as not passed", unscored)
    return np.where(passed.to_numpy(), PASSED, NOT_PASSED).astype(np.int64)


def _history(targets: pd.DataFrame, schedule: pd.DataFrame, submissions: pd.DataFrame, max_steps: int):
    """Return the assessment steps (N x T x F) and their mask: the history due before each target, then the query."""
    rows = targets[["code_module", "code_presentation", "id_student", "due_day"]].copy()
    rows["row"] = np.arange(len(rows))
    rows = rows.rename(columns={"due_day": "target_due"})
    earlier = rows.merge(schedule, on=["code_module", "code_presentation"])
    earlier = earlier[earlier["due_day"] < earlier["target_due"]]
    earlier = earlier.merge(submissions, on=["id_assessment", "id_student"], how="left")
    # The day before the target's due day is the cutoff: a later submission is not known yet.
    submitted = (earlier["date_submitted"] <= earlier["target_due"] - 1).to_numpy()
    score = earlier["score"].to_numpy(np.float64)
    due = earlier["due_day"].to_numpy(np.float64)
    features = np.stack([
        (earlier["assessment_type"] == "TMA").to_numpy(np.float64),
        (earlier["assessment_type"] == "CMA").to_numpy(np.float64),
        earlier["weight"].to_numpy(np.float64),
        due,
        submitted.astype(np.float64),
        np.where(submitted, earlier["date_submitted"].to_numpy(np.float64) - due, 0.0),
        np.where(submitted & ~np.isnan(score), score, 0.0),
        (submitted & np.isnan(score)).astype(np.float64),
        np.where(submitted, earlier["is_banked"].fillna(0).to_numpy(np.float64), 0.0),
        np.zeros(len(earlier)),
    ], axis=1)
    earlier_rows = earlier["row"].to_numpy()
    earlier_positions = earlier.groupby("row").cumcount().to_numpy()   # schedule order is due-day order

    steps = np.zeros((len(targets), max_steps, len(NEXT_STEP_FEATURES)), dtype=np.float32)
    mask = np.zeros((len(targets), max_steps), dtype=bool)
    steps[earlier_rows, earlier_positions] = features
    mask[earlier_rows, earlier_positions] = True

    history_length = mask.sum(axis=1)
    query = np.zeros((len(targets), len(NEXT_STEP_FEATURES)), dtype=np.float32)
    query[:, 0] = (targets["assessment_type"] == "TMA").to_numpy()
    query[:, 1] = (targets["assessment_type"] == "CMA").to_numpy()
    query[:, 2] = targets["weight"].to_numpy(np.float64)
    query[:, 3] = targets["due_day"].to_numpy(np.float64)
    query[:, NEXT_STEP_FEATURES.index("is_target")] = 1.0
    steps[np.arange(len(targets)), history_length] = query
    mask[np.arange(len(targets)), history_length] = True
    return steps, mask


def _engagement(registrations: pd.DataFrame, targets: pd.DataFrame, tables: OuladTables) -> EngagementArrays:
    if tables.student_vle_path is None:
        if tables.precourse_clicks is None:
            raise DataError(
                "no click data valid before a due day: put studentVle.csv (from the OULAD release) beside the "
                "other tables, or the derived table derived/vle_precourse_clicks_per_registration.csv"
            )
        return _precourse(registrations, tables).subset(targets["registration"].to_numpy())
    return _clicks_before_due(registrations, targets, tables)


def _clicks_before_due(registrations: pd.DataFrame, targets: pd.DataFrame, tables: OuladTables) -> EngagementArrays:
    """Clicks per activity type in each of the CLICK_WINDOWS weeks before each row's due day (N x W x F).

    Window 0 is the earliest: days D - 7W to D - 7(W - 1) - 1. The last window ends on day D - 1.
    A window that ends before the platform opens (day -28) is masked out.
    """
    activity_types = sorted(tables.vle["activity_type"].unique().tolist())
    rows = targets[["registration", "due_day"]].reset_index().rename(columns={"index": "row"})
    connection = duckdb.connect()
    try:
        connection.register("vle", tables.vle[["id_site", "code_module", "code_presentation", "activity_type"]])
        connection.register("registrations", registrations.reset_index().rename(columns={"index": "registration"}))
        connection.register("targets", rows)
        source = str(tables.student_vle_path)
        clicks = connection.execute(f"""
            WITH s AS ({CLICK_LOG_QUERY}),
            daily AS (
                SELECT r.registration, s.date, coalesce(v.activity_type, '(unknown site)') AS activity_type,
                       sum(s.sum_click) AS clicks
                FROM s
                JOIN registrations r USING (code_module, code_presentation, id_student)
                LEFT JOIN vle v USING (code_module, code_presentation, id_site)
                GROUP BY ALL
            )
            SELECT t.row, CAST(floor((t.due_day - 1 - d.date) / 7.0) AS INTEGER) AS weeks_back,
                   d.activity_type, sum(d.clicks) AS clicks
            FROM targets t
            JOIN daily d ON d.registration = t.registration
                AND d.date < t.due_day AND d.date >= t.due_day - {7 * CLICK_WINDOWS}
            GROUP BY ALL
        """, [source]).df()
    except duckdb.ConversionException as error:
        raise DataError(f"{source}: a value has the wrong type ({error})") from error
    finally:
        connection.close()

    if (clicks["activity_type"] == "(unknown site)").any():
        activity_types.append("(unknown site)")
    if (clicks["clicks"] < 0).any():
        raise DataError(f"{source}: column sum_click has negative values; clicks must be 0 or more")
    values = np.zeros((len(targets), CLICK_WINDOWS, len(activity_types)), dtype=np.float32)
    window = CLICK_WINDOWS - 1 - clicks["weeks_back"].to_numpy()
    type_index = pd.Categorical(clicks["activity_type"], categories=activity_types).codes
    np.add.at(values, (clicks["row"].to_numpy(np.int64), window, type_index), clicks["clicks"].to_numpy(np.float32))

    window_end = targets["due_day"].to_numpy()[:, None] - 1 - 7 * (CLICK_WINDOWS - 1 - np.arange(CLICK_WINDOWS))[None, :]
    mask = window_end >= FIRST_WEEK * 7
    return EngagementArrays(CLICKS_BEFORE_DUE, values, mask, activity_types, values.sum(axis=(1, 2)) > 0)
