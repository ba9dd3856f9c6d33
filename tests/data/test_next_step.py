"""Next-step rows on OULAD: row counts, the history window, labels and the clicks before each due day.

The real data folder has no studentVle.csv, so the click windows are tested on a small click log written
here for AAA 2013J, whose non-exam assessments 1752-1756 are due on days 19, 54, 117, 166 and 215.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from dsrsd.data import BEFORE_DUE, DataError, OuladEncoder, build_oulad, load_oulad, load_tables
from dsrsd.data.next_step import CLICK_WINDOWS, NEXT_STEP_FEATURES, PASSED, build_next_step
from tests.conftest import write_click_log

STUDENT = 28400                    # an AAA 2013J registration
SCHEDULE = {1752: 19, 1753: 54, 1754: 117, 1755: 166, 1756: 215}
OUTCOME_FEATURES = ["submitted", "days_late", "score", "score_missing", "banked"]
RESOURCE, FORUM = 546943, 546658   # AAA 2013J sites of these activity types


@pytest.fixture(scope="module")
def next_step_real(oulad_tables):
    return build_next_step(oulad_tables)


def row_of(raw, student: int, assessment: int) -> int:
    keys = raw.keys
    matches = np.flatnonzero((keys["id_student"] == student).to_numpy() & (keys["id_assessment"] == assessment).to_numpy())
    assert len(matches) == 1
    return int(matches[0])


def feature(raw, name: str) -> np.ndarray:
    return raw.assessments[..., NEXT_STEP_FEATURES.index(name)]


def test_row_counts_match_tables(next_step_real, oulad_tables):
    """One row per registration and non-exam assessment after the first; 72,700 in 2014J."""
    non_exam = oulad_tables.assessments[oulad_tables.assessments["assessment_type"] != "Exam"]
    per_presentation = non_exam.groupby(["code_module", "code_presentation"]).size().rename("assessments")
    registrations = oulad_tables.student_info.merge(per_presentation.reset_index(), on=["code_module", "code_presentation"])
    assert len(next_step_real) == int((registrations["assessments"] - 1).sum())
    assert int((next_step_real.keys["code_presentation"] == "2014J").sum()) == 72_700
    assert not next_step_real.keys.duplicated(["code_module", "code_presentation", "id_student", "id_assessment"]).any()
    assert next_step_real.keys["step"].min() == 2      # the first assessment is never a target


def test_history_due_before_target(next_step_real):
    """Every history step is due before the row's due day, and the last real step is the query."""
    raw = next_step_real
    lengths = raw.assessment_mask.sum(axis=1)
    query = raw.assessments[np.arange(len(raw)), lengths - 1]
    assert (query[:, NEXT_STEP_FEATURES.index("is_target")] == 1).all()
    np.testing.assert_array_equal(query[:, NEXT_STEP_FEATURES.index("due_day")], raw.keys["due_day"].to_numpy())
    for name in OUTCOME_FEATURES:
        assert (query[:, NEXT_STEP_FEATURES.index(name)] == 0).all(), name

    history = raw.assessment_mask.copy()
    history[np.arange(len(raw)), lengths - 1] = False
    assert (feature(raw, "is_target")[history] == 0).all()
    due = feature(raw, "due_day")
    assert (due < raw.keys["due_day"].to_numpy()[:, None])[history].all()
    # Steps are left-aligned: the mask has no gap.
    assert (raw.assessment_mask.sum(axis=1) == np.argmin(np.pad(raw.assessment_mask, ((0, 0), (0, 1))), axis=1)).all()


def test_mini_rows_of_one_student(mini_oulad_dir):
    raw = build_next_step(load_tables(mini_oulad_dir))
    rows = raw.keys[raw.keys["id_student"] == STUDENT]
    assert rows["id_assessment"].tolist() == [1753, 1754, 1755, 1756]
    assert rows["due_day"].tolist() == [54, 117, 166, 215]
    assert rows["step"].tolist() == [2, 3, 4, 5]
    # The history of the row due on day 117 contains the assessments due on days 19 and 54, then the query.
    row = row_of(raw, STUDENT, 1754)
    assert raw.assessment_mask[row].sum() == 3
    np.testing.assert_array_equal(feature(raw, "due_day")[row, :3], [19, 54, 117])


def test_labels_follow_submissions(mini_oulad_dir):
    """A row passes when its assessment was submitted with a score of at least 40."""
    tables = load_tables(mini_oulad_dir)
    raw = build_next_step(tables)
    submissions = tables.student_assessment.astype({"id_student": "int64"})
    merged = raw.keys.merge(submissions, on=["id_student", "id_assessment"], how="left")
    expected = merged["date_submitted"].notna() & (merged["score"] >= 40)
    np.testing.assert_array_equal(raw.labels == PASSED, expected.to_numpy())
    assert 0 < expected.mean() < 1


def edit_submission(folder, student: int, assessment: int, **values) -> None:
    path = folder / "studentAssessment.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    match = (table["id_student"] == str(student)) & (table["id_assessment"] == str(assessment))
    assert match.sum() == 1
    for column, value in values.items():
        table.loc[match, column] = str(value)
    table.to_csv(path, index=False)


def test_own_and_later_results_hidden(mini_oulad_dir):
    """Changing the row's own submission and every later one leaves the row's inputs unchanged."""
    before = build_next_step(load_tables(mini_oulad_dir))
    edit_submission(mini_oulad_dir, STUDENT, 1754, score=1, date_submitted=116)
    edit_submission(mini_oulad_dir, STUDENT, 1755, score=99, date_submitted=100)
    edit_submission(mini_oulad_dir, STUDENT, 1756, score=5)
    after = build_next_step(load_tables(mini_oulad_dir))

    row = row_of(before, STUDENT, 1754)
    np.testing.assert_array_equal(before.assessments[row], after.assessments[row])
    np.testing.assert_array_equal(before.assessment_mask[row], after.assessment_mask[row])
    np.testing.assert_array_equal(before.profile_numeric[row], after.profile_numeric[row])
    np.testing.assert_array_equal(before.engagement.values[row], after.engagement.values[row])
    assert after.labels[row] != PASSED
    # The edited score of 1754 (submitted day 116) is visible to the row due on day 166.
    later = row_of(after, STUDENT, 1755)
    assert feature(after, "score")[later, 2] == 1


def test_late_submission_unknown_before_due(mini_oulad_dir):
    """An earlier assessment submitted on the target's due day counts as not submitted for that target."""
    edit_submission(mini_oulad_dir, STUDENT, 1753, date_submitted=117)
    raw = build_next_step(load_tables(mini_oulad_dir))
    row = row_of(raw, STUDENT, 1754)
    assert feature(raw, "submitted")[row, 1] == 0
    assert feature(raw, "score")[row, 1] == 0
    later = row_of(raw, STUDENT, 1755)
    assert feature(raw, "submitted")[later, 1] == 1
    assert feature(raw, "days_late")[later, 1] == 117 - 54


def test_undated_assessment_rejected(mini_oulad_dir):
    path = mini_oulad_dir / "assessments.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.loc[table["id_assessment"] == "1754", "date"] = "?"
    table.to_csv(path, index=False)
    with pytest.raises(DataError, match="id_assessment 1754"):
        build_next_step(load_tables(mini_oulad_dir))


def test_cache_round_trip(mini_oulad_dir, assert_raw_equal):
    built = load_oulad(mini_oulad_dir, BEFORE_DUE)
    cached = load_oulad(mini_oulad_dir, BEFORE_DUE)
    assert_raw_equal(built, cached)
    assert list(cached.keys.columns) == ["code_module", "code_presentation", "id_student", "id_assessment", "due_day", "step"]
    assert cached.assessment_features == NEXT_STEP_FEATURES


def test_final_outcome_encoder_rejects_rows(mini_oulad_dir):
    tables = load_tables(mini_oulad_dir)
    encoder = OuladEncoder.fit(build_oulad(tables, 60))
    with pytest.raises(DataError, match="next-step model predicts next-step rows"):
        encoder.transform(build_next_step(tables))


# Rows of (id_student, id_site, date, sum_click) for the click windows before day 117 (the row of 1754).
CLICKS = [
    (STUDENT, RESOURCE, 116, 3),                          # day D - 1: last window
    (STUDENT, FORUM, 117, 50),                            # day D: never counted for this row
    (STUDENT, RESOURCE, 117 - 7, 4),                      # first day of the last window
    (STUDENT, RESOURCE, 117 - 8, 5),                      # last day of the window before
    (STUDENT, FORUM, 117 - 7 * CLICK_WINDOWS, 6),         # first day of the first window
    (STUDENT, FORUM, 117 - 7 * CLICK_WINDOWS - 1, 70),    # before the first window
]


@pytest.fixture
def click_log_dir(mini_oulad_source, tmp_path):
    folder = shutil.copytree(mini_oulad_source, tmp_path / "oulad")
    write_click_log(folder, "AAA", "2013J", CLICKS)
    return folder


def test_clicks_before_due_windows(click_log_dir):
    raw = build_next_step(load_tables(click_log_dir))
    assert raw.engagement.form == "clicks_before_due"
    names = raw.engagement.feature_names
    values = raw.engagement.values[row_of(raw, STUDENT, 1754)]
    assert values.shape == (CLICK_WINDOWS, len(names))
    expected = np.zeros_like(values)
    expected[-1, names.index("resource")] = 3 + 4
    expected[-2, names.index("resource")] = 5
    expected[0, names.index("forumng")] = 6
    np.testing.assert_array_equal(values, expected)
    # Day 117's clicks belong to the windows of the row due on day 166.
    later = raw.engagement.values[row_of(raw, STUDENT, 1755)]
    assert later[:, names.index("forumng")].sum() == 50
    assert raw.engagement.mask.all()


def test_clicks_before_due_absent_learner(click_log_dir):
    raw = build_next_step(load_tables(click_log_dir))
    others = (raw.keys["id_student"] != STUDENT).to_numpy()
    assert raw.engagement.values[others].sum() == 0
    assert not raw.present[others, 2].any()
    assert raw.present[:, :2].all()
