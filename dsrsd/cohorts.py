"""Cohorts of learners that the app and the map command work on: a course, or every module of a presentation.

An ASSISTments checkpoint's cohorts are the test fold's students instead: all of them, and those of
each teacher, where a student belongs to the teacher of most of their answers (on a tie, the teacher id
that sorts first as text). A teacher sees the class's students, and the test fold holds students the model never
trained on. A cohort's rows are every answer of its students after their first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsrsd.checkpoint import Checkpoint
from dsrsd.data import Encoded
from dsrsd.datasets import assistments_split, dataset_of, encoded_cohorts, load_assistments_for

ALL_MODULES = "*"
# Each map is fitted on at most this many learners (3 modalities: 3,000 points), which keeps a fit to a
# few seconds and the points a browser draws per map at a few thousand.
MAX_MAP_LEARNERS = 1000
ALL_TEST_STUDENTS = "All test students"


@dataclass(frozen=True)
class Cohorts:
    """Every registration encoded for one checkpoint, with its split and recorded outcome."""

    encoded: Encoded
    split: np.ndarray
    courses: list[str]    # "MODULE PRESENTATION", test presentations first; ASSISTments: ALL_TEST_STUDENTS, "Teacher ID"
    members: dict[str, np.ndarray] | None = None   # ASSISTments only: each cohort's row positions


def read_only(encoded: Encoded) -> Encoded:
    """Make the arrays of `encoded` read-only, so that no caller can change a shared copy."""
    for array in list(encoded.inputs.values()) + list(encoded.masks.values()) + [encoded.present, encoded.labels]:
        array.flags.writeable = False
    return encoded


def build_cohorts(checkpoint: Checkpoint, data_dir: str | Path) -> Cohorts:
    """Load and encode every registration in `data_dir` for `checkpoint`.

    `data_dir` is the folder `dsrsd.datasets.data_dir_for` returns: OULAD-format tables, or for a
    spec checkpoint the folder its paths start from.
    """
    if dataset_of(checkpoint.config) == "assistments":
        return _teacher_cohorts(checkpoint, data_dir)
    encoded, split = encoded_cohorts(checkpoint, data_dir)
    encoded = read_only(encoded)
    labels = encoded.keys["code_module"] + " " + encoded.keys["code_presentation"]
    test_courses = set(labels[split == "test"])
    test_first = sorted(labels.unique(), key=lambda name: (name not in test_courses, name))
    return Cohorts(encoded, split, test_first)


def _teacher_cohorts(checkpoint: Checkpoint, data_dir: str | Path) -> Cohorts:
    raw = load_assistments_for(checkpoint.config, data_dir)
    split = assistments_split(checkpoint.config, raw)
    encoded = read_only(checkpoint.encoder.transform(raw))

    users = raw.users()
    test_users = np.unique(users[split == "test"])
    answers = raw.attempts[raw.attempts["user_id"].isin(test_users)]
    counts = answers.assign(teacher=answers["teacher_id"].fillna("unknown")).groupby(["user_id", "teacher"]).size()
    counts = counts.reset_index(name="answers").sort_values(["user_id", "answers", "teacher"],
                                                            ascending=[True, False, True], kind="stable")
    teacher_of = counts.drop_duplicates("user_id").set_index("user_id")["teacher"]

    members = {ALL_TEST_STUDENTS: np.flatnonzero(split == "test")}
    row_teacher = teacher_of.reindex(users).to_numpy()
    for teacher in sorted(teacher_of.unique(), key=lambda name: (len(name), name)):
        members[f"Teacher {teacher}"] = np.flatnonzero((row_teacher == teacher) & (split == "test"))
    return Cohorts(encoded, split, list(members), members)


def presentation_cohort(course: str) -> str:
    """Return the cohort of every module of the course's presentation, such as "* 2014J"."""
    return f"{ALL_MODULES} {course.split(' ')[1]}"


def cohort_names(cohorts: Cohorts) -> list[str]:
    """List every course, then every presentation as a whole."""
    return list(cohorts.courses) + list(dict.fromkeys(presentation_cohort(course) for course in cohorts.courses))


def course_rows(cohorts: Cohorts, course: str) -> np.ndarray:
    """Return the positions of a cohort's registrations: "MODULE PRESENTATION", or "* PRESENTATION"."""
    if cohorts.members is not None:
        return cohorts.members[course]
    module, presentation = course.split(" ")
    keys = cohorts.encoded.keys
    chosen = (keys["code_presentation"] == presentation).to_numpy()
    if module != ALL_MODULES:
        chosen = chosen & (keys["code_module"] == module).to_numpy()
    return np.flatnonzero(chosen)


def sample_rows(count: int, limit: int = MAX_MAP_LEARNERS) -> np.ndarray:
    """Positions of at most `limit` of `count` learners, the same for every call."""
    if count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(0).choice(count, limit, replace=False))
