"""Property-based tests of the table loaders: any table either loads with every row, or raises DataError.

Tables start valid and then get up to two damages of the usual kinds. A cell can become `?` or
empty, text in a number column, a fraction in a whole-number column, NaN, infinite or out of
range. A row can lose or gain fields, turn blank or repeat a key, and the header can lose a column.
An independent model of the rules in `dsrsd.data.tables` predicts whether a table is valid and
which values it contains."""

from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dsrsd.data import DataError, load_tables
from dsrsd.data.tables import EMPTY_IS_ERROR, NULLABLE, RANGES, SCHEMAS, UNIQUE_KEYS, read_table

TABLES = ["courses", "assessments", "studentAssessment"]
MISSING_TEXT = ["?", ""]
BAD_NUMBERS = ["x1", "1.5.2", "inf", "-inf", "nan", "NaN", "Infinity", "1e400", "--2"]
WORDS = ["AAA", "BBB", "2013J", "2014B", "TMA", "CMA", "Exam", "NA", "None", "a b", "x"]
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])


def valid_text(kind: str, bounds: tuple) -> st.SearchStrategy[str]:
    """Text of one valid cell of `kind` within `bounds`."""
    low, high = bounds
    low, high = (0 if low is None else low), (300 if high is None else high)
    if kind == "str":
        return st.sampled_from(WORDS)
    if kind == "int":
        return st.integers(low, high).map(str)
    return st.one_of(st.integers(low, high).map(str),
                     st.decimals(low, high, places=2, allow_nan=False, allow_infinity=False).map(str))


def damaged_text(kind: str, bounds: tuple) -> st.SearchStrategy[str]:
    """Text of one cell that is missing, or invalid for `kind` or `bounds`."""
    if kind == "str":
        return st.sampled_from(MISSING_TEXT)
    low, high = bounds
    outside = []
    if low is not None:
        outside.append(str(low - 1))
    if high is not None:
        outside.append(str(high + 1))
    return st.sampled_from(MISSING_TEXT + BAD_NUMBERS + outside + (["2.5"] if kind == "int" else []))


@st.composite
def tables(draw):
    """Draw (table name, header, rows) with rows as lists of cell texts.

    A table starts valid, and up to two damages then change it. Each kind of damage is thus often
    alone in its table, where a missed check shows.
    """
    name = draw(st.sampled_from(TABLES))
    columns = list(SCHEMAS[name])
    kinds = {**SCHEMAS[name], "comment": "str"}
    header = draw(st.sampled_from([columns, columns + ["comment"], list(reversed(columns))]))

    def bounds(column: str) -> tuple:
        return RANGES.get(name, {}).get(column, (None, None))

    rows = [[draw(valid_text(kinds[column], bounds(column))) for column in header]
            for _ in range(draw(st.integers(0, 6)))]
    for damage in draw(st.lists(st.sampled_from(["cell", "cell", "cell", "last missing", "fewer", "more", "blank",
                                                 "repeat", "drop column"]), max_size=2)):
        if damage == "drop column":
            index = draw(st.integers(0, len(header) - 1))
            header = header[:index] + header[index + 1:]
            rows = [row[:index] + row[index + 1:] for row in rows]
            continue
        if not rows:
            continue
        row = draw(st.integers(0, len(rows) - 1))
        if damage == "cell" and rows[row]:
            index = draw(st.integers(0, min(len(header), len(rows[row])) - 1))
            rows[row][index] = draw(damaged_text(kinds[header[index]], bounds(header[index])))
        elif damage == "last missing":
            rows[row] = rows[row][:-1]
        elif damage == "fewer":
            rows[row] = rows[row][:draw(st.integers(0, len(header) - 1))]
        elif damage == "more":
            rows[row] = rows[row] + ["1"]
        elif damage == "blank":
            rows[row] = []
        else:
            rows.append(list(rows[row]))
    return name, header, rows


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.write_text("\n".join(",".join(row) for row in [header, *rows]) + "\n")


def expected_value(text: str, kind: str, nullable: bool, bounds) -> tuple[bool, object]:
    """Return (valid, value) of one cell under the loader's rules."""
    text = text.strip()
    if text in MISSING_TEXT:
        return nullable, None
    if kind == "str":
        return True, text
    try:
        number = float(text)
    except ValueError:
        return False, None
    if not math.isfinite(number) or (kind == "int" and number != round(number)):
        return False, None
    low, high = bounds
    if (low is not None and number < low) or (high is not None and number > high):
        return False, None
    return True, number


def expected_table(name: str, header: list[str], rows: list[list[str]]) -> list[dict] | None:
    """Return the rows the loader must produce, or None when it must raise DataError."""
    schema = SCHEMAS[name]
    if any(column not in header for column in schema) or any(len(row) != len(header) for row in rows):
        return None
    if not rows and name in EMPTY_IS_ERROR:
        return None
    parsed = []
    for row in rows:
        cells = dict(zip(header, row))
        values = {}
        for column, kind in schema.items():
            bounds = RANGES.get(name, {}).get(column, (None, None))
            valid, value = expected_value(cells[column], kind, column in NULLABLE.get(name, set()), bounds)
            if not valid:
                return None
            values[column] = value
        parsed.append(values)
    keys = [tuple(values[column] for column in UNIQUE_KEYS[name]) for values in parsed]
    if len(set(keys)) != len(keys):
        return None
    return parsed


def assert_same_values(frame, expected: list[dict], name: str) -> None:
    assert len(frame) == len(expected)
    assert list(frame.columns) == list(SCHEMAS[name])
    for position, values in enumerate(expected):
        for column, value in values.items():
            loaded = frame[column].iloc[position]
            if value is None:
                assert loaded is None or (isinstance(loaded, float) and math.isnan(loaded)), (position, column)
            elif isinstance(value, str):
                assert loaded == value, (position, column)
            else:
                assert np.isclose(loaded, value, rtol=1e-12, atol=0), (position, column)


@PROPERTY_SETTINGS
@given(table=tables())
def test_table_loads_or_raises(table):
    name, header, rows = table
    expected = expected_table(name, header, rows)
    event("raises DataError" if expected is None else "loads")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.csv"
        write_csv(path, header, rows)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # a header-only submissions table warns
            if expected is None:
                with pytest.raises(DataError, match=f"{name}.csv"):
                    read_table(path, name)
                return
            frame = read_table(path, name)
    assert_same_values(frame, expected, name)


# A complete minimal folder: one course, one assessment, and the generated registrations.
COURSES = "code_module,code_presentation,module_presentation_length\nAAA,2013J,268\n"
ASSESSMENTS = "code_module,code_presentation,id_assessment,assessment_type,date,weight\nAAA,2013J,1752,TMA,19,10\n"
INFO_HEADER = ("code_module,code_presentation,id_student,gender,region,highest_education,imd_band,age_band,"
               "num_of_prev_attempts,studied_credits,disability,final_result")


@st.composite
def registrations(draw):
    """Draw studentInfo and studentRegistration rows whose keys may differ, repeat or be damaged."""
    pool = ["11", "12", "13", "14", "15"] + (["x", "?", "12.5"] if draw(st.booleans()) else [])
    students = draw(st.lists(st.sampled_from(pool), min_size=0, max_size=5, unique=draw(st.booleans())))
    info = [f"AAA,2013J,{student},M,Wales,HE,?,0-35,0,60,N,Pass" for student in students]
    registered = students
    if draw(st.booleans()):
        registered = draw(st.lists(st.sampled_from(students + ["99"]), max_size=6))
    registration = [f"AAA,2013J,{student},-10,?" for student in registered]
    return info, registration


# Each example writes five files and checks them all, so fewer examples keep the run short.
@settings(PROPERTY_SETTINGS, max_examples=80)
@given(drawn=registrations())
def test_folder_loads_or_raises(drawn):
    info, registration = drawn
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "courses.csv").write_text(COURSES)
        (root / "assessments.csv").write_text(ASSESSMENTS)
        (root / "studentAssessment.csv").write_text("id_assessment,id_student,date_submitted,is_banked,score\n")
        (root / "studentInfo.csv").write_text("\n".join([INFO_HEADER, *info]) + "\n")
        (root / "studentRegistration.csv").write_text(
            "\n".join(["code_module,code_presentation,id_student,date_registration,date_unregistration", *registration]) + "\n"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            try:
                loaded = load_tables(root)
            except DataError:
                loaded = None

    info_ids = [row.split(",")[2] for row in info]
    registered_ids = [row.split(",")[2] for row in registration]
    valid = (
        bool(info) and bool(registration)
        and all(student.isdigit() for student in info_ids + registered_ids)
        and len(set(info_ids)) == len(info_ids) and len(set(registered_ids)) == len(registered_ids)
        and set(info_ids) <= set(registered_ids)
    )
    event("loads" if valid else "raises DataError")
    if not valid:
        assert loaded is None
        return
    assert loaded is not None
    assert len(loaded.student_info) == len(info)
    assert len(loaded.registration) == len(registration)
    assert sorted(loaded.student_info["id_student"].tolist()) == sorted(int(student) for student in info_ids)
