"""Building the three modalities from the real tables: labels, split, presence masks and the cutoff."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from dsrsd.data import OUTCOME_CLASSES, DataError, build_oulad, default_split, parse_cutoff
from dsrsd.data.oulad import ASSESSMENT_FEATURES, PROFILE_NUMERIC
from dsrsd.data.tables import REGISTRATION_KEY

CUTOFF = 60
PROFILE, ASSESSMENTS, ENGAGEMENT = 0, 1, 2
DUE_DAY = ASSESSMENT_FEATURES.index("due_day")
DAYS_LATE = ASSESSMENT_FEATURES.index("days_late")
SUBMITTED = ASSESSMENT_FEATURES.index("submitted")
SCORE = ASSESSMENT_FEATURES.index("score")
DATE_REGISTRATION = PROFILE_NUMERIC.index("date_registration")


def key_index(keys: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(keys[REGISTRATION_KEY].astype({"id_student": "int64"}))


def test_labels_match_final_result(raw_end):
    counts = dict(zip(OUTCOME_CLASSES, np.bincount(raw_end.labels, minlength=4)))
    assert counts == {"Distinction": 3_024, "Pass": 12_361, "Fail": 7_052, "Withdrawn": 10_156}


def test_keys_unique(raw_end):
    assert len(raw_end) == 32_593
    assert not raw_end.keys.duplicated(REGISTRATION_KEY).any()
    assert raw_end.keys["id_student"].duplicated().any()


def test_array_shapes(raw_end):
    rows = len(raw_end)
    assert raw_end.profile_numeric.shape == (rows, len(PROFILE_NUMERIC))
    assert raw_end.assessments.shape == (rows, 13, len(ASSESSMENT_FEATURES))
    assert raw_end.assessment_mask.shape == (rows, 13)
    assert raw_end.present.shape == (rows, 3)


def test_split_tests_on_2014j(raw_end):
    split = default_split(raw_end.keys)
    is_2014j = (raw_end.keys["code_presentation"] == "2014J").to_numpy()
    np.testing.assert_array_equal(split == "test", is_2014j)
    assert int((split == "test").sum()) == 11_260
    assert set(split[~is_2014j]) == {"train", "validation"}


def test_split_separates_students(raw_end):
    split = default_split(raw_end.keys)
    students = raw_end.keys["id_student"].to_numpy()
    train, validation = set(students[split == "train"]), set(students[split == "validation"])
    assert train.isdisjoint(validation)
    share = len(validation) / (len(train) + len(validation))
    assert share == pytest.approx(0.15, abs=0.005)


def test_split_seeded(raw_end):
    first = default_split(raw_end.keys, seed=3)
    np.testing.assert_array_equal(first, default_split(raw_end.keys, seed=3))
    assert (first != default_split(raw_end.keys, seed=4)).any()


def test_assessments_absent_without_rows(oulad_tables, raw_end):
    submissions = oulad_tables.student_assessment.merge(
        oulad_tables.assessments[["id_assessment", "code_module", "code_presentation"]], on="id_assessment",
    )
    without_rows = ~key_index(raw_end.keys).isin(key_index(submissions))
    assert int(without_rows.sum()) == 6_750
    assert not raw_end.present[without_rows, ASSESSMENTS].any()
    assert int((~raw_end.present[:, ASSESSMENTS]).sum()) >= 6_750


def test_engagement_absent_zero_clicks(oulad_tables, raw_end):
    totals = oulad_tables.clicks_by_group
    click_columns = [column for column in totals.columns if column.endswith("_sum_click")]
    zero_keys = key_index(totals[totals[click_columns].sum(axis=1) == 0])
    zero = key_index(raw_end.keys).isin(zero_keys)
    assert zero.any()
    assert not raw_end.present[zero, ENGAGEMENT].any()
    # 29,228 registrations have a click: the figure published with OULAD.
    assert int(raw_end.present[:, ENGAGEMENT].sum()) == 29_228


def test_profile_always_present(raw_end, raw_day60):
    assert raw_end.present[:, PROFILE].all()
    assert raw_day60.present[:, PROFILE].all()


def test_cutoff_drops_later_steps(raw_day60):
    steps = raw_day60.assessments[raw_day60.assessment_mask]
    assert len(steps)
    assert (steps[:, DUE_DAY] <= CUTOFF).all()
    submitted = steps[:, SUBMITTED] == 1
    assert submitted.any()
    assert (steps[submitted, DUE_DAY] + steps[submitted, DAYS_LATE] <= CUTOFF).all()


def test_cutoff_hides_late_registration(oulad_tables, raw_day60):
    registration = oulad_tables.registration.merge(raw_day60.keys, on=REGISTRATION_KEY)
    late = key_index(raw_day60.keys).isin(key_index(registration[registration["date_registration"] > CUTOFF]))
    assert int(late.sum()) == 8
    assert np.isnan(raw_day60.profile_numeric[late, DATE_REGISTRATION]).all()


def alter_after_cutoff(tables, cutoff):
    """Return a copy of `tables` in which every record dated after `cutoff` has other values.

    `final_result` is the label and stays. The per-course click totals span the whole course, so
    they change too. `date_unregistration` changes everywhere, because it must never be an input.
    """
    tables = copy.deepcopy(tables)
    submissions = tables.student_assessment
    later = submissions["date_submitted"] > cutoff
    assert later.any()
    submissions.loc[later, "score"] = 100.0 - submissions.loc[later, "score"].fillna(50.0)
    submissions.loc[later, "date_submitted"] += 17
    submissions.loc[later, "is_banked"] = 1.0 - submissions.loc[later, "is_banked"]

    # Students with no submission anywhere get one in each registration, dated after the cutoff.
    assessments = tables.assessments
    first_due = (
        assessments[assessments["assessment_type"] != "Exam"]
        .sort_values("date").groupby(["code_module", "code_presentation"], as_index=False).first()
    )
    silent = tables.student_info.merge(submissions[["id_student"]].drop_duplicates(), how="left", indicator=True)
    silent = silent[silent["_merge"] == "left_only"].merge(first_due, on=["code_module", "code_presentation"])
    added = pd.DataFrame({
        "id_assessment": silent["id_assessment"], "id_student": silent["id_student"],
        "date_submitted": float(cutoff + 5), "is_banked": 0.0, "score": 90.0,
    })
    assert len(added)
    tables.student_assessment = pd.concat([submissions, added], ignore_index=True)

    due_later = assessments["date"] > cutoff
    assert due_later.any()
    assessments.loc[due_later, "weight"] += 7
    assessments.loc[due_later, "date"] += 3

    registration = tables.registration
    registration["date_unregistration"] = 10.0
    registered_later = registration["date_registration"] > cutoff
    assert registered_later.any()
    registration.loc[registered_later, "date_registration"] += 30

    totals = tables.clicks_by_group
    click_columns = [column for column in totals.columns if column.endswith("_sum_click")]
    totals[click_columns] = totals[click_columns] * 3 + 1
    return tables


def test_cutoff_ignores_later_records(oulad_tables, raw_day60, assert_raw_equal):
    altered = alter_after_cutoff(oulad_tables, CUTOFF)
    assert_raw_equal(build_oulad(altered, CUTOFF), raw_day60)


def test_alteration_reaches_end_build(oulad_tables, raw_end):
    # The same alterations do show at cutoff "end", so the test above compares changed tables.
    rebuilt = build_oulad(alter_after_cutoff(oulad_tables, CUTOFF), "end")
    assert not np.array_equal(rebuilt.assessments, raw_end.assessments)
    assert not np.array_equal(rebuilt.engagement.values, raw_end.engagement.values)
    assert not np.array_equal(rebuilt.present, raw_end.present)


def change_early_score(tables):
    submissions = tables.student_assessment
    due = tables.assessments.set_index("id_assessment")["date"]
    early = (submissions["date_submitted"] <= CUTOFF) & (submissions["id_assessment"].map(due) <= CUTOFF)
    first = submissions.index[early & submissions["score"].notna()][0]
    submissions.loc[first, "score"] = 100.0 - submissions.loc[first, "score"] + 1.0
    return lambda raw: raw.assessments


def change_early_registration(tables):
    registration = tables.registration
    first = registration.index[registration["date_registration"] <= CUTOFF][0]
    registration.loc[first, "date_registration"] -= 11
    return lambda raw: raw.profile_numeric


def change_precourse_clicks(tables):
    tables.precourse_clicks.loc[0, "pre_course_clicks"] += 25
    return lambda raw: raw.engagement.values


@pytest.mark.parametrize("change", [change_early_score, change_early_registration, change_precourse_clicks])
def test_cutoff_keeps_earlier_records(oulad_tables, raw_day60, change):
    tables = copy.deepcopy(oulad_tables)
    array_of = change(tables)
    before, after = array_of(raw_day60), array_of(build_oulad(tables, CUTOFF))
    same = (before == after) | (np.isnan(before) & np.isnan(after))
    assert int((~same).sum()) == 1


def test_unknown_label(oulad_tables):
    tables = copy.copy(oulad_tables)
    tables.student_info = oulad_tables.student_info.copy()
    tables.student_info.loc[5, "final_result"] = "Deferred"
    with pytest.raises(DataError, match="column final_result has 1 value\\(s\\) outside .* 'Deferred'"):
        build_oulad(tables, "end")


@pytest.mark.parametrize("value, expected", [("end", "end"), (" END ", "end"), ("60", 60), (0, 0), (120, 120)])
def test_parse_cutoff_valid(value, expected):
    assert parse_cutoff(value) == expected


@pytest.mark.parametrize("value, message", [("soon", "invalid cutoff 'soon'"), ("-3", "invalid cutoff -3"),
                                            (None, "invalid cutoff None"), ("6.5", "invalid cutoff '6.5'")])
def test_parse_cutoff_invalid(value, message):
    with pytest.raises(ValueError, match=message):
        parse_cutoff(value)


def test_subset_mask_and_positions(raw_day60, assert_raw_equal):
    mask = (raw_day60.keys["code_module"] == "GGG").to_numpy()
    by_mask = raw_day60.subset(mask)
    by_position = raw_day60.subset(np.flatnonzero(mask))
    assert len(by_mask) == int(mask.sum())
    assert_raw_equal(by_mask, by_position)
    assert set(by_mask.keys["code_module"]) == {"GGG"}
    np.testing.assert_array_equal(by_mask.assessments, raw_day60.assessments[mask])


def test_unregistered_submission_warns(oulad_tables, raw_end):
    tables = copy.copy(oulad_tables)
    tables.student_assessment = oulad_tables.student_assessment.copy()
    tables.student_assessment.loc[[0, 1], "id_student"] = 99_999_999
    with pytest.warns(UserWarning, match="studentAssessment: 2 row\\(s\\) belong to a student with no registration"):
        rebuilt = build_oulad(tables, "end")
    assert len(rebuilt) == len(raw_end)


def test_cutoff_after_every_course_warns(oulad_tables):
    with pytest.warns(UserWarning, match="cutoff day 400 is after the end of every presentation \\(day 269\\)"):
        raw = build_oulad(oulad_tables, 400)
    assert raw.engagement.form == "precourse_clicks"
