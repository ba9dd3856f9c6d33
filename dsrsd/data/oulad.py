"""Build the three OULAD modalities per registration, as raw (unnormalised) arrays.

Letters: N registrations, T assessment steps, W weeks, F features.

The cutoff is `"end"` or a course day. Nothing dated after the cutoff enters any modality:
assessments due after it are left out, submissions made after it count as not submitted,
clicks after it are not summed, and a registration dated after it is treated as unknown. The final
exam, `final_result` and `date_unregistration` never enter as inputs.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dsrsd.data.engagement import MAX_PRESENTATION_DAYS, EngagementArrays, build_engagement
from dsrsd.data.tables import REGISTRATION_KEY, DataError, OuladTables

log = logging.getLogger(__name__)

OUTCOME_CLASSES = ["Distinction", "Pass", "Fail", "Withdrawn"]
AT_RISK_CLASSES = ["Fail", "Withdrawn"]
MODALITIES = ["profile", "assessments", "engagement"]

PROFILE_CATEGORICAL = ["code_module", "gender", "region", "highest_education", "imd_band", "age_band", "disability"]
PROFILE_NUMERIC = ["num_of_prev_attempts", "studied_credits", "date_registration"]
ASSESSMENT_FEATURES = [
    "is_tma", "is_cma", "weight", "due_day", "submitted", "days_late", "score", "score_missing", "banked",
]

TEST_PRESENTATIONS = ("2014J",)
TRAIN_PRESENTATIONS = ("2013B", "2013J", "2014B")


def parse_cutoff(value: str | int) -> str | int:
    """Return `"end"` or a non-negative course day from a CLI or config value."""
    if isinstance(value, str) and value.strip().lower() == "end":
        return "end"
    try:
        day = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"invalid cutoff {value!r}: use 'end' or a course day such as 60") from None
    if day < 0:
        raise ValueError(f"invalid cutoff {day}: use a course day of 0 or more (day 0 is the course start)")
    return day


@dataclass
class OuladRaw:
    """Raw per-registration inputs before encoding; every array has N rows in `keys` order."""

    keys: pd.DataFrame                 # N x [code_module, code_presentation, id_student, ...]
    labels: np.ndarray                 # N, index into OUTCOME_CLASSES
    profile_categorical: pd.DataFrame  # N x PROFILE_CATEGORICAL, None where missing
    profile_numeric: np.ndarray        # N x len(PROFILE_NUMERIC), NaN where missing
    assessments: np.ndarray            # N x T x len(ASSESSMENT_FEATURES)
    assessment_mask: np.ndarray        # N x T, True for a real step
    engagement: EngagementArrays
    present: np.ndarray                # N x 3 bool: the learner truly has data in the modality
    cutoff: str | int                  # "end", a course day, or "before_due" for next-step rows
    assessment_features: list[str] = field(default_factory=lambda: list(ASSESSMENT_FEATURES))

    def __len__(self) -> int:
        return len(self.keys)

    def subset(self, rows: np.ndarray) -> "OuladRaw":
        """Return the registrations at integer positions or boolean mask `rows`."""
        return OuladRaw(
            keys=self.keys.iloc[rows].reset_index(drop=True) if rows.dtype != bool
            else self.keys[rows].reset_index(drop=True),
            labels=self.labels[rows],
            profile_categorical=self.profile_categorical.iloc[np.flatnonzero(rows) if rows.dtype == bool else rows]
            .reset_index(drop=True),
            profile_numeric=self.profile_numeric[rows],
            assessments=self.assessments[rows],
            assessment_mask=self.assessment_mask[rows],
            engagement=self.engagement.subset(rows),
            present=self.present[rows],
            cutoff=self.cutoff,
            assessment_features=self.assessment_features,
        )


def build_oulad(tables: OuladTables, cutoff: str | int = "end") -> OuladRaw:
    """Build the raw modalities of every registration in `studentInfo`.

    Raises:
        DataError: a label is not one of OUTCOME_CLASSES, or the tables disagree.
    """
    cutoff = parse_cutoff(cutoff)
    longest = int(tables.courses["module_presentation_length"].max()) if len(tables.courses) else MAX_PRESENTATION_DAYS
    if cutoff != "end" and cutoff > longest:
        warnings.warn(
            f"cutoff day {cutoff} is after the end of every presentation (day {longest}); the build keeps the "
            "day-cutoff click form, so use --cutoff end for end-of-course data", stacklevel=2,
        )
    info = tables.student_info.sort_values(REGISTRATION_KEY).reset_index(drop=True)
    keys = info[REGISTRATION_KEY].copy()
    keys["id_student"] = keys["id_student"].astype("int64")

    labels = _encode_labels(info["final_result"])
    categorical, numeric = _build_profile(info, tables.registration, cutoff)
    steps, step_mask, submitted_any = _build_assessments(keys, tables, cutoff)
    engagement = build_engagement(keys, tables, cutoff)

    present = np.stack([
        np.ones(len(keys), dtype=bool),
        submitted_any,
        engagement.present,
    ], axis=1)
    log.info("built %d registrations at cutoff %s with engagement form %s", len(keys), cutoff, engagement.form)
    return OuladRaw(
        keys=keys, labels=labels, profile_categorical=categorical, profile_numeric=numeric,
        assessments=steps, assessment_mask=step_mask, engagement=engagement, present=present, cutoff=cutoff,
    )


def _encode_labels(results: pd.Series) -> np.ndarray:
    unknown = ~results.isin(OUTCOME_CLASSES)
    if unknown.any():
        raise DataError(
            f"studentInfo: column final_result has {int(unknown.sum())} value(s) outside "
            f"{OUTCOME_CLASSES}, for example {results[unknown].iloc[0]!r}"
        )
    return results.map({name: index for index, name in enumerate(OUTCOME_CLASSES)}).to_numpy(np.int64)


def _build_profile(info: pd.DataFrame, registration: pd.DataFrame, cutoff: str | int):
    merged = info.merge(registration[REGISTRATION_KEY + ["date_registration"]], on=REGISTRATION_KEY, how="left")
    categorical = merged[PROFILE_CATEGORICAL].reset_index(drop=True)
    date_registration = merged["date_registration"].to_numpy(np.float64).copy()
    if cutoff != "end":
        # A registration dated after the cutoff is not yet known at the cutoff.
        date_registration[date_registration > cutoff] = np.nan
    numeric = np.stack([
        merged["num_of_prev_attempts"].to_numpy(np.float64),
        merged["studied_credits"].to_numpy(np.float64),
        date_registration,
    ], axis=1)
    return categorical, numeric


def non_exam_assessments(assessments: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of the TMA and CMA rows of `assessments`, rejecting any other type but Exam."""
    non_exam = assessments[assessments["assessment_type"] != "Exam"].copy()
    unknown_types = ~non_exam["assessment_type"].isin(["TMA", "CMA"])
    if unknown_types.any():
        raise DataError(
            f"assessments: column assessment_type has {int(unknown_types.sum())} value(s) outside "
            f"TMA, CMA, Exam, for example {non_exam.loc[unknown_types, 'assessment_type'].iloc[0]!r}"
        )
    return non_exam


def _build_assessments(keys: pd.DataFrame, tables: OuladTables, cutoff: str | int):
    """Return the steps (N x T x F), their mask and whether each learner submitted anything.

    T is the largest number of non-exam assessments of any presentation, so the width does not
    depend on which presentations are loaded or on the cutoff.
    """
    assessments = tables.assessments
    non_exam = non_exam_assessments(assessments)
    undated = non_exam["date"].isna()
    if undated.any():
        warnings.warn(
            f"assessments: {int(undated.sum())} non-exam assessment(s) have no due date ('?'); they are "
            "placed at the end of their presentation", stacklevel=3,
        )
        lengths = tables.courses.set_index(["code_module", "code_presentation"])["module_presentation_length"]
        fill = [lengths.get((m, p), MAX_PRESENTATION_DAYS) for m, p in non_exam.loc[undated, ["code_module", "code_presentation"]].itertuples(index=False)]
        non_exam.loc[undated, "date"] = fill
    max_steps = int(non_exam.groupby(["code_module", "code_presentation"]).size().max()) if len(non_exam) else 1
    if cutoff != "end":
        non_exam = non_exam[non_exam["date"] <= cutoff]
    non_exam = non_exam.sort_values(["code_module", "code_presentation", "date", "id_assessment"])
    non_exam["step"] = non_exam.groupby(["code_module", "code_presentation"]).cumcount()

    submissions = tables.student_assessment
    orphans = ~submissions["id_assessment"].isin(assessments["id_assessment"])
    if orphans.any():
        warnings.warn(
            f"studentAssessment: {int(orphans.sum())} row(s) refer to an id_assessment that is not in "
            "assessments.csv; they are ignored", stacklevel=3,
        )
    _warn_unregistered_submissions(keys, assessments, submissions)
    if cutoff != "end":
        submissions = submissions[submissions["date_submitted"] <= cutoff]

    # One row per (registration, due assessment), with the submission if there is one.
    grid = keys.reset_index().rename(columns={"index": "row"}).merge(
        non_exam[["code_module", "code_presentation", "id_assessment", "assessment_type", "date", "weight", "step"]],
        on=["code_module", "code_presentation"],
    )
    grid = grid.merge(
        submissions[["id_assessment", "id_student", "date_submitted", "is_banked", "score"]],
        on=["id_assessment", "id_student"], how="left",
    )
    submitted = grid["date_submitted"].notna().to_numpy()
    score = grid["score"].to_numpy(np.float64)
    features = np.stack([
        (grid["assessment_type"] == "TMA").to_numpy(np.float64),
        (grid["assessment_type"] == "CMA").to_numpy(np.float64),
        grid["weight"].to_numpy(np.float64),
        grid["date"].to_numpy(np.float64),
        submitted.astype(np.float64),
        np.where(submitted, grid["date_submitted"].to_numpy(np.float64) - grid["date"].to_numpy(np.float64), 0.0),
        np.where(submitted & ~np.isnan(score), score, 0.0),
        (submitted & np.isnan(score)).astype(np.float64),
        np.where(submitted, grid["is_banked"].fillna(0).to_numpy(np.float64), 0.0),
    ], axis=1)

    steps = np.zeros((len(keys), max_steps, len(ASSESSMENT_FEATURES)), dtype=np.float32)
    mask = np.zeros((len(keys), max_steps), dtype=bool)
    rows = grid["row"].to_numpy()
    positions = grid["step"].to_numpy()
    steps[rows, positions] = features
    mask[rows, positions] = True
    submitted_any = np.zeros(len(keys), dtype=bool)
    submitted_any[rows[submitted]] = True
    return steps, mask, submitted_any


def _warn_unregistered_submissions(keys: pd.DataFrame, assessments: pd.DataFrame, submissions: pd.DataFrame) -> None:
    """Warn about submissions by a student with no registration in the assessment's presentation."""
    owners = submissions.merge(assessments[["id_assessment", "code_module", "code_presentation"]], on="id_assessment")
    registered = owners.merge(keys, on=["code_module", "code_presentation", "id_student"], how="left", indicator=True)
    unregistered = int((registered["_merge"] == "left_only").sum())
    if unregistered:
        warnings.warn(
            f"studentAssessment: {unregistered} row(s) belong to a student with no registration in the "
            "assessment's presentation; they are ignored", stacklevel=4,
        )


def default_split(keys: pd.DataFrame, validation_fraction: float = 0.15, seed: int = 0) -> np.ndarray:
    """Assign each registration to "train", "validation", "test" or "unused".

    Test is the 2014J presentations. Train and validation are 2013B, 2013J and 2014B, and the
    validation part is held out by student, so no student is in both.
    """
    split = np.full(len(keys), "unused", dtype=object)
    presentation = keys["code_presentation"].to_numpy()
    split[np.isin(presentation, TEST_PRESENTATIONS)] = "test"
    trainable = np.isin(presentation, TRAIN_PRESENTATIONS)
    students = np.unique(keys.loc[trainable, "id_student"].to_numpy())
    rng = np.random.default_rng(seed)
    held_out = rng.choice(students, size=int(round(validation_fraction * len(students))), replace=False)
    in_validation = np.isin(keys["id_student"].to_numpy(), held_out)
    split[trainable & in_validation] = "validation"
    split[trainable & ~in_validation] = "train"
    return split.astype(str)
