"""The engagement modality in its three forms: weekly clicks, course totals and pre-course clicks.

The real data folder has no studentVle.csv, so the weekly form is tested on a small click log
written here for three AAA 2013J registrations, with real id_site values from vle.csv.
"""

from __future__ import annotations

import copy
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from dsrsd.data import DataError, build_oulad, engagement_form, load_tables
from dsrsd.data.engagement import FIRST_WEEK, GROUP_COLUMNS, PRECOURSE_COLUMNS
from dsrsd.data.tables import REGISTRATION_KEY
from tests.conftest import write_click_log

STUDENT_A, STUDENT_B, STUDENT_C = 11391, 28400, 30268   # AAA 2013J registrations
UNREGISTERED = 99_999_999
UNKNOWN_SITE = 1
RESOURCE, FORUM, URL = 546943, 546658, 546888           # AAA 2013J sites of these activity types

# Rows of (id_student, id_site, date, sum_click). A click on day d falls in week floor(d / 7).
CLICKS = [
    (STUDENT_A, RESOURCE, -10, 5),
    (STUDENT_A, FORUM, 3, 7),
    (STUDENT_A, RESOURCE, 3, 2),
    (STUDENT_A, RESOURCE, 5, 1),
    (STUDENT_A, UNKNOWN_SITE, 10, 8),
    (STUDENT_A, URL, 70, 4),
    (STUDENT_A, UNKNOWN_SITE, 80, 2),
    (STUDENT_A, FORUM, 200, 6),
    (STUDENT_B, FORUM, 100, 9),
    (UNREGISTERED, RESOURCE, 1, 3),
    (UNREGISTERED, RESOURCE, 2, 3),
    (UNREGISTERED, RESOURCE, 90, 3),
]


@pytest.fixture
def weekly_dir(mini_oulad_source, tmp_path):
    """A copy of the small data folder plus a studentVle.csv in the release's format (quoted, CRLF)."""
    folder = shutil.copytree(mini_oulad_source, tmp_path / "oulad")
    write_click_log(folder, "AAA", "2013J", CLICKS)
    return folder


def build_recording_warnings(folder, cutoff):
    """Build the registrations in `folder` and return them with the messages of the warnings raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = build_oulad(load_tables(folder), cutoff)
    return raw, [str(warning.message) for warning in caught]


def row_of(raw, student):
    return int(np.flatnonzero(raw.keys["id_student"].to_numpy() == student)[0])


def week_index(day):
    return day // 7 - FIRST_WEEK


def test_weekly_form(weekly_dir):
    tables = load_tables(weekly_dir)
    assert engagement_form(tables, "end") == "weekly_clicks"
    assert engagement_form(tables, 60) == "weekly_clicks"
    raw, _ = build_recording_warnings(weekly_dir, "end")
    assert raw.engagement.form == "weekly_clicks"
    activity_types = sorted(tables.vle["activity_type"].unique())
    assert raw.engagement.feature_names == activity_types + ["(unknown site)"]


def test_weekly_shape_and_mask(weekly_dir):
    raw, _ = build_recording_warnings(weekly_dir, "end")
    types = len(raw.engagement.feature_names)
    assert raw.engagement.values.shape == (383, 43, types)   # weeks -4 to 38
    # AAA 2013J lasts 268 days, so its last week is 38 and every week is a real step.
    assert raw.engagement.mask.all()

    at_day60, _ = build_recording_warnings(weekly_dir, 60)
    assert at_day60.engagement.values.shape == (383, 13, types)   # weeks -4 to 8
    assert at_day60.engagement.mask.all()


def test_weekly_sums_and_positions(weekly_dir):
    raw, _ = build_recording_warnings(weekly_dir, "end")
    names = raw.engagement.feature_names
    values = raw.engagement.values[row_of(raw, STUDENT_A)]

    expected = np.zeros_like(values)
    expected[week_index(-10), names.index("resource")] = 5
    expected[week_index(3), names.index("forumng")] = 7
    expected[week_index(3), names.index("resource")] = 2 + 1
    expected[week_index(10), names.index("(unknown site)")] = 8
    expected[week_index(70), names.index("url")] = 4
    expected[week_index(80), names.index("(unknown site)")] = 2
    expected[week_index(200), names.index("forumng")] = 6
    np.testing.assert_array_equal(values, expected)

    student_b = raw.engagement.values[row_of(raw, STUDENT_B)]
    assert student_b.sum() == 9
    assert student_b[week_index(100), names.index("forumng")] == 9


def test_weekly_presence(weekly_dir):
    raw, _ = build_recording_warnings(weekly_dir, "end")
    assert raw.present[row_of(raw, STUDENT_A), 2]
    assert raw.present[row_of(raw, STUDENT_B), 2]
    assert not raw.present[row_of(raw, STUDENT_C), 2]
    assert int(raw.engagement.present.sum()) == 2
    assert float(raw.engagement.values.sum()) == 5 + 7 + 2 + 1 + 8 + 4 + 2 + 6 + 9


def test_weekly_cutoff_excludes_later(weekly_dir):
    raw, _ = build_recording_warnings(weekly_dir, 60)
    names = raw.engagement.feature_names
    values = raw.engagement.values[row_of(raw, STUDENT_A)]
    assert values.sum() == 5 + 7 + 2 + 1 + 8
    assert values[week_index(10), names.index("(unknown site)")] == 8
    assert values[:, names.index("url")].sum() == 0
    # Student B's only clicks are on day 100, so at day 60 the modality is absent.
    assert raw.engagement.values[row_of(raw, STUDENT_B)].sum() == 0
    assert not raw.present[row_of(raw, STUDENT_B), 2]


def test_weekly_cutoff_ignores_later_log(weekly_dir, assert_raw_equal):
    before, _ = build_recording_warnings(weekly_dir, 60)
    log = pd.read_csv(weekly_dir / "studentVle.csv")
    later = log["date"] > 60
    log.loc[later, "sum_click"] *= 10
    log.loc[later, "date"] += 1
    log.to_csv(weekly_dir / "studentVle.csv", index=False)

    after, _ = build_recording_warnings(weekly_dir, 60)
    assert_raw_equal(after, before)


@pytest.mark.parametrize("cutoff, unknown_site_rows, unregistered_rows", [("end", 2, 3), (60, 1, 2)])
def test_weekly_warns_row_counts(weekly_dir, cutoff, unknown_site_rows, unregistered_rows):
    with pytest.warns(UserWarning) as record:
        build_oulad(load_tables(weekly_dir), cutoff)
    messages = [str(warning.message) for warning in record]
    unknown_site = f"studentVle: {unknown_site_rows} row(s) refer to an id_site that is not in vle.csv"
    unregistered = f"studentVle: {unregistered_rows} row(s) belong to no registration in studentInfo"
    assert any(message.startswith(unknown_site) for message in messages), messages
    assert any(message.startswith(unregistered) for message in messages), messages


def test_weekly_no_unknown_column(weekly_dir):
    log = pd.read_csv(weekly_dir / "studentVle.csv")
    log[log["id_site"] != UNKNOWN_SITE].to_csv(weekly_dir / "studentVle.csv", index=False)
    raw, messages = build_recording_warnings(weekly_dir, "end")
    assert "(unknown site)" not in raw.engagement.feature_names
    assert not any("id_site" in message for message in messages)


def test_weekly_bad_click_value(weekly_dir):
    log = pd.read_csv(weekly_dir / "studentVle.csv").astype({"sum_click": object})
    log.loc[0, "sum_click"] = "many"
    log.to_csv(weekly_dir / "studentVle.csv", index=False)
    with pytest.raises(DataError, match="studentVle.csv: a value has the wrong type"):
        build_oulad(load_tables(weekly_dir), "end")


def test_course_totals_known_student(raw_end):
    assert raw_end.engagement.form == "course_totals"
    assert raw_end.engagement.feature_names == GROUP_COLUMNS + PRECOURSE_COLUMNS
    keys = raw_end.keys
    for presentation, total in [("2013J", 909), ("2014J", 713)]:
        row = np.flatnonzero(((keys["code_module"] == "BBB") & (keys["code_presentation"] == presentation)
                              & (keys["id_student"] == 151917)).to_numpy())
        assert len(row) == 1
        group_clicks = raw_end.engagement.values[row[0], :len(GROUP_COLUMNS)]
        assert group_clicks.sum() == total


def test_precourse_matches_table(oulad_tables, raw_day60):
    assert raw_day60.engagement.form == "precourse_clicks"
    assert raw_day60.engagement.feature_names == PRECOURSE_COLUMNS
    merged = raw_day60.keys.merge(oulad_tables.precourse_clicks, on=REGISTRATION_KEY, how="left")
    expected = merged[PRECOURSE_COLUMNS].fillna(0.0).to_numpy(np.float32)
    np.testing.assert_array_equal(raw_day60.engagement.values, expected)
    assert int(raw_day60.engagement.present.sum()) == len(oulad_tables.precourse_clicks)


def test_no_click_source(mini_oulad_dir):
    tables = load_tables(mini_oulad_dir)
    tables.clicks_by_group = None
    tables.precourse_clicks = None
    with pytest.raises(DataError, match="no click data found: put studentVle.csv"):
        engagement_form(tables, "end")


def test_totals_need_end_cutoff(mini_oulad_dir):
    tables = load_tables(mini_oulad_dir)
    assert engagement_form(tables, "end") == "course_totals"
    assert engagement_form(tables, 0) == "precourse_clicks"
    tables.clicks_by_group = None
    assert engagement_form(tables, "end") == "precourse_clicks"


def test_totals_without_precourse_warns(mini_oulad_dir):
    tables = load_tables(mini_oulad_dir)
    tables.precourse_clicks = None
    with pytest.warns(UserWarning, match="pre-course click features are 0 for every registration"):
        raw = build_oulad(tables, "end")
    assert raw.engagement.form == "course_totals"
    assert (raw.engagement.values[:, -2:] == 0).all()


def test_derived_row_without_registration(mini_oulad_dir):
    tables = load_tables(mini_oulad_dir)
    stray = tables.precourse_clicks.iloc[[0]].assign(id_student=float(UNREGISTERED))
    tables.precourse_clicks = pd.concat([tables.precourse_clicks, stray], ignore_index=True)
    with pytest.warns(UserWarning, match=r"derived/vle_precourse_clicks_per_registration: 1 row\(s\) belong to no"):
        build_oulad(tables, 30)


def test_negative_clicks(mini_oulad_dir):
    path = mini_oulad_dir / "derived" / "vle_clicks_by_group_per_registration.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[0, "tool_sum_click"] = "-4"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="column tool_sum_click has 1 value\\(s\\) out of range, for example -4") as error:
        load_tables(mini_oulad_dir)
    assert "vle_clicks_by_group_per_registration.csv" in str(error.value)


def test_presentation_missing_from_totals(oulad_tables):
    tables = copy.copy(oulad_tables)
    totals = oulad_tables.clicks_by_group
    tables.clicks_by_group = totals[~((totals["code_module"] == "AAA") & (totals["code_presentation"] == "2014J"))]
    with pytest.warns(UserWarning, match="no row for the presentation\\(s\\) \\['AAA 2014J'\\]"):
        raw = build_oulad(tables, "end")
    aaa = ((raw.keys["code_module"] == "AAA") & (raw.keys["code_presentation"] == "2014J")).to_numpy()
    assert aaa.sum() == 365
    assert raw.engagement.values[aaa, :5].sum() == 0
