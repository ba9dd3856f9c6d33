"""Build the engagement modality from whichever click source the data folder has.

Forms, best first:
- `weekly_clicks`: `studentVle.csv` is present. Clicks per course week and activity type up to the
  cutoff, as a sequence (N x W x F), aggregated in DuckDB so the 10.6 M-row log takes seconds.
- `course_totals`: only the derived tables, cutoff `end`. Whole-course click totals by activity group
  plus pre-course clicks (N x 7). The totals include every day of the course, so they are only valid
  for end-of-course prediction.
- `precourse_clicks`: only the derived tables, cutoff a course day. Clicks before day 0 (N x 2).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from dsrsd.data.tables import REGISTRATION_KEY, DataError, OuladTables

log = logging.getLogger(__name__)

WEEKLY = "weekly_clicks"
TOTALS = "course_totals"
PRECOURSE = "precourse_clicks"

# Courses start on day 0, but the VLE opens earlier: the log starts at day -25.
FIRST_WEEK = -4
# The maximum presentation length is 269 days, so week 38 (days 266-272) is the last week.
MAX_PRESENTATION_DAYS = 269
LAST_WEEK = MAX_PRESENTATION_DAYS // 7

GROUP_COLUMNS = [
    "content_resource_sum_click", "assessment_and_feedback_sum_click", "navigation_pages_sum_click",
    "interaction_and_discussion_sum_click", "tool_sum_click",
]
PRECOURSE_COLUMNS = ["pre_course_clicks", "pre_course_interaction_rows"]
# The click log as typed columns, read from the file passed as the query's parameter. nullstr '?'
# follows the release's convention for missing values.
CLICK_LOG_QUERY = """
    SELECT code_module, code_presentation, CAST(id_student AS BIGINT) AS id_student,
           CAST(id_site AS BIGINT) AS id_site, CAST(date AS INTEGER) AS date,
           CAST(sum_click AS DOUBLE) AS sum_click
    FROM read_csv(?, header = true, nullstr = '?', all_varchar = true)
"""


@dataclass
class EngagementArrays:
    """Engagement inputs of N registrations: raw click counts, before the log transform."""

    form: str
    values: np.ndarray          # N x F (totals, precourse) or N x W x F (weekly)
    mask: np.ndarray | None     # N x W for weekly, else None
    feature_names: list[str]
    present: np.ndarray         # N bool: at least one click up to the cutoff

    def subset(self, rows: np.ndarray) -> "EngagementArrays":
        return EngagementArrays(
            form=self.form, values=self.values[rows], mask=None if self.mask is None else self.mask[rows],
            feature_names=self.feature_names, present=self.present[rows],
        )


def engagement_form(tables: OuladTables, cutoff: str | int) -> str:
    """Return the form `build_engagement` will build, or raise `DataError` saying what is missing."""
    if tables.student_vle_path is not None:
        return WEEKLY
    if cutoff == "end" and tables.clicks_by_group is not None:
        return TOTALS
    if tables.precourse_clicks is not None:
        return PRECOURSE
    raise DataError(
        "no click data found: put studentVle.csv (from the OULAD release) beside the other tables, or the "
        "derived tables derived/vle_clicks_by_group_per_registration.csv and "
        "derived/vle_precourse_clicks_per_registration.csv"
    )


def build_engagement(keys: pd.DataFrame, tables: OuladTables, cutoff: str | int) -> EngagementArrays:
    form = engagement_form(tables, cutoff)
    if form == WEEKLY:
        return _weekly_clicks(keys, tables, cutoff)
    if form == TOTALS:
        return _course_totals(keys, tables)
    return _precourse(keys, tables)


def _join_per_registration(keys: pd.DataFrame, table: pd.DataFrame, columns: list[str], name: str,
                           covers_every_registration: bool = False) -> np.ndarray:
    """Join a per-registration table onto `keys`; a registration without a row gets zeros.

    With `covers_every_registration`, a presentation with no row at all is reported, because such a
    table has a row for every registration (zeros included), so a missing presentation means a
    truncated file rather than learners without clicks.
    """
    merged = keys.merge(table[REGISTRATION_KEY + columns], on=REGISTRATION_KEY, how="left", validate="one_to_one")
    if covers_every_registration:
        found = merged[columns[0]].notna().groupby([merged["code_module"], merged["code_presentation"]]).any()
        absent = [f"{m} {p}" for (m, p), any_row in found.items() if not any_row]
        if absent:
            warnings.warn(
                f"{name}: no row for the presentation(s) {absent[:5]} ({len(absent)} in all); their learners "
                "get zero clicks. This table normally has a row for every registration, so check the file",
                stacklevel=4,
            )
    unmatched = len(table) - int(merged[columns[0]].notna().sum())
    if unmatched:
        warnings.warn(
            f"{name}: {unmatched} row(s) belong to no registration in studentInfo; they are ignored",
            stacklevel=4,
        )
    values = merged[columns].fillna(0.0).to_numpy(np.float64)
    return values


def _course_totals(keys: pd.DataFrame, tables: OuladTables) -> EngagementArrays:
    totals = _join_per_registration(keys, tables.clicks_by_group, GROUP_COLUMNS,
                                    "derived/vle_clicks_by_group_per_registration", covers_every_registration=True)
    if tables.precourse_clicks is not None:
        precourse = _join_per_registration(keys, tables.precourse_clicks, PRECOURSE_COLUMNS,
                                           "derived/vle_precourse_clicks_per_registration")
    else:
        warnings.warn(
            "derived/vle_precourse_clicks_per_registration is missing, so the pre-course click features are 0 for "
            "every registration; a model trained with that table will predict differently, so add it back",
            stacklevel=4,
        )
        precourse = np.zeros((len(keys), len(PRECOURSE_COLUMNS)))
    values = np.concatenate([totals, precourse], axis=1).astype(np.float32)
    return EngagementArrays(TOTALS, values, None, GROUP_COLUMNS + PRECOURSE_COLUMNS, values.sum(axis=1) > 0)


def _precourse(keys: pd.DataFrame, tables: OuladTables) -> EngagementArrays:
    values = _join_per_registration(keys, tables.precourse_clicks, PRECOURSE_COLUMNS,
                                    "derived/vle_precourse_clicks_per_registration").astype(np.float32)
    return EngagementArrays(PRECOURSE, values, None, list(PRECOURSE_COLUMNS), values[:, 0] > 0)


def _weekly_clicks(keys: pd.DataFrame, tables: OuladTables, cutoff: str | int) -> EngagementArrays:
    activity_types = sorted(tables.vle["activity_type"].unique().tolist())
    last_week = LAST_WEEK if cutoff == "end" else min(LAST_WEEK, cutoff // 7)
    weeks = last_week - FIRST_WEEK + 1

    connection = duckdb.connect()
    try:
        connection.register("vle", tables.vle[["id_site", "code_module", "code_presentation", "activity_type"]])
        connection.register("registrations", keys.reset_index().rename(columns={"index": "row"}))
        source = str(tables.student_vle_path)
        day_filter = "" if cutoff == "end" else f"WHERE s.date <= {int(cutoff)}"
        clicks = connection.execute(f"""
            WITH s AS ({CLICK_LOG_QUERY})
            SELECT r.row, CAST(floor(s.date / 7.0) AS INTEGER) AS week,
                   coalesce(v.activity_type, '(unknown site)') AS activity_type,
                   sum(s.sum_click) AS clicks, count(*) AS log_rows,
                   bool_or(r.row IS NULL) AS unregistered
            FROM s
            LEFT JOIN vle v USING (code_module, code_presentation, id_site)
            LEFT JOIN registrations r USING (code_module, code_presentation, id_student)
            {day_filter}
            GROUP BY ALL
        """, [source]).df()
    except duckdb.ConversionException as error:
        raise DataError(f"{source}: a value has the wrong type ({error})") from error
    finally:
        connection.close()

    unregistered = clicks["row"].isna()
    if unregistered.any():
        warnings.warn(
            f"studentVle: {int(clicks.loc[unregistered, 'log_rows'].sum())} row(s) belong to no registration "
            "in studentInfo; they are ignored", stacklevel=4,
        )
        clicks = clicks[~unregistered]
    unknown_sites = clicks["activity_type"] == "(unknown site)"
    if unknown_sites.any():
        warnings.warn(
            f"studentVle: {int(clicks.loc[unknown_sites, 'log_rows'].sum())} row(s) refer to an id_site that "
            "is not in vle.csv; their clicks count under '(unknown site)'", stacklevel=4,
        )
        activity_types.append("(unknown site)")
    if (clicks["clicks"] < 0).any():
        example = clicks.loc[clicks["clicks"] < 0].iloc[0]
        raise DataError(
            f"{source}: column sum_click has negative values (week {int(example['week'])} of registration "
            f"{keys.iloc[int(example['row'])].tolist()} sums to {example['clicks']}); clicks must be 0 or more"
        )

    values = np.zeros((len(keys), weeks, len(activity_types)), dtype=np.float32)
    week_index = clicks["week"].clip(FIRST_WEEK, last_week).to_numpy() - FIRST_WEEK
    type_index = pd.Categorical(clicks["activity_type"], categories=activity_types).codes
    np.add.at(values, (clicks["row"].to_numpy(np.int64), week_index, type_index), clicks["clicks"].to_numpy(np.float32))

    mask = np.zeros((len(keys), weeks), dtype=bool)
    mask[:] = np.arange(weeks)[None, :] <= _last_visible_week(keys, tables, cutoff)[:, None] - FIRST_WEEK
    return EngagementArrays(WEEKLY, values, mask, activity_types, values.sum(axis=(1, 2)) > 0)


def _last_visible_week(keys: pd.DataFrame, tables: OuladTables, cutoff: str | int) -> np.ndarray:
    """Return each registration's last week with a step: its course end, or the cutoff if earlier."""
    lengths = keys.merge(tables.courses, on=["code_module", "code_presentation"], how="left")
    last_day = lengths["module_presentation_length"].fillna(MAX_PRESENTATION_DAYS).to_numpy(np.int64)
    if cutoff != "end":
        last_day = np.minimum(last_day, cutoff)
    return np.minimum(last_day // 7, LAST_WEEK)
