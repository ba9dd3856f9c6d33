"""Read and validate the OULAD tables.

The official release is a folder of CSV files (plain or gzip-compressed) whose missing values
are written `?`. Every check here raises `DataError` naming the file, the column and the bad
value, so a user can fix the file instead of guessing.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REGISTRATION_KEY = ["code_module", "code_presentation", "id_student"]

# Column -> kind. "str" columns hold categories, "int" and "float" numbers (float may be missing).
SCHEMAS: dict[str, dict[str, str]] = {
    "studentInfo": {
        "code_module": "str", "code_presentation": "str", "id_student": "int",
        "gender": "str", "region": "str", "highest_education": "str", "imd_band": "str",
        "age_band": "str", "num_of_prev_attempts": "int", "studied_credits": "int",
        "disability": "str", "final_result": "str",
    },
    "studentRegistration": {
        "code_module": "str", "code_presentation": "str", "id_student": "int",
        "date_registration": "float", "date_unregistration": "float",
    },
    "courses": {"code_module": "str", "code_presentation": "str", "module_presentation_length": "int"},
    "assessments": {
        "code_module": "str", "code_presentation": "str", "id_assessment": "int",
        "assessment_type": "str", "date": "float", "weight": "float",
    },
    "studentAssessment": {
        "id_assessment": "int", "id_student": "int", "date_submitted": "int",
        "is_banked": "int", "score": "float",
    },
    "vle": {
        "id_site": "int", "code_module": "str", "code_presentation": "str",
        "activity_type": "str", "week_from": "float", "week_to": "float",
    },
    "studentVle": {
        "code_module": "str", "code_presentation": "str", "id_student": "int",
        "id_site": "int", "date": "int", "sum_click": "int",
    },
    "derived/vle_clicks_by_group_per_registration": {
        "code_module": "str", "code_presentation": "str", "id_student": "int",
        "content_resource_sum_click": "int", "assessment_and_feedback_sum_click": "int",
        "navigation_pages_sum_click": "int", "interaction_and_discussion_sum_click": "int",
        "tool_sum_click": "int",
    },
    "derived/vle_precourse_clicks_per_registration": {
        "code_module": "str", "code_presentation": "str", "id_student": "int",
        "pre_course_clicks": "int", "pre_course_interaction_rows": "int",
    },
}

REQUIRED_TABLES = ["studentInfo", "studentRegistration", "courses", "assessments", "studentAssessment"]

# Columns that identify a row; a repeated value is an error.
UNIQUE_KEYS: dict[str, list[str]] = {
    "studentInfo": REGISTRATION_KEY,
    "studentRegistration": REGISTRATION_KEY,
    "courses": ["code_module", "code_presentation"],
    "assessments": ["id_assessment"],
    "studentAssessment": ["id_assessment", "id_student"],
    "vle": ["id_site"],
    "derived/vle_clicks_by_group_per_registration": REGISTRATION_KEY,
    "derived/vle_precourse_clicks_per_registration": REGISTRATION_KEY,
}

# Columns that may be empty (`?`) in the official release; elsewhere a missing value is an error.
NULLABLE = {
    "studentInfo": {"imd_band"},
    "studentRegistration": {"date_registration", "date_unregistration"},
    "assessments": {"date"},
    "studentAssessment": {"score"},
    "vle": {"week_from", "week_to"},
}


# Valid ranges of numeric columns, as (minimum, maximum); None leaves a side open.
RANGES: dict[str, dict[str, tuple[float | None, float | None]]] = {
    "studentInfo": {"num_of_prev_attempts": (0, None), "studied_credits": (0, None)},
    "courses": {"module_presentation_length": (1, None)},
    "assessments": {"weight": (0, 100)},
    "studentAssessment": {"is_banked": (0, 1), "score": (0, 100)},
    "studentVle": {"sum_click": (0, None)},
    "derived/vle_clicks_by_group_per_registration": {
        column: (0, None) for column in [
            "content_resource_sum_click", "assessment_and_feedback_sum_click", "navigation_pages_sum_click",
            "interaction_and_discussion_sum_click", "tool_sum_click",
        ]
    },
    "derived/vle_precourse_clicks_per_registration": {"pre_course_clicks": (0, None), "pre_course_interaction_rows": (0, None)},
}

# Tables without which no registration can be built; an empty one is an error, not a warning.
EMPTY_IS_ERROR = {"studentInfo", "studentRegistration", "courses", "assessments"}


class DataError(ValueError):
    """A data file is missing, malformed or inconsistent; the message names file, column and value."""


def find_table(data_dir: Path, name: str) -> Path | None:
    """Return the path of table `name` as `.csv` (preferred) or `.csv.gz` in `data_dir`, or None."""
    plain, compressed = Path(data_dir) / f"{name}.csv", Path(data_dir) / f"{name}.csv.gz"
    if plain.is_file() and compressed.is_file():
        warnings.warn(f"both {plain.name} and {compressed.name} are in {data_dir}; reading {plain.name}", stacklevel=2)
    for path in (plain, compressed):
        if path.is_file():
            return path
    return None


def require_table(data_dir: Path, name: str) -> Path:
    """Return the path of a required table, or raise `DataError` naming the file and where to get it."""
    path = find_table(data_dir, name)
    if path is None:
        raise DataError(
            f"missing table {name}.csv (or {name}.csv.gz) in {data_dir}; download the OULAD release "
            "from https://analyse.kmi.open.ac.uk/open_dataset and unpack its CSV files into that folder"
        )
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_table(path: Path, name: str) -> pd.DataFrame:
    """Read one OULAD table and check its columns, types, missing values and key.

    Raises:
        DataError: a required column is missing, a value has the wrong type, a non-nullable
            column has an empty cell, or the table's key repeats. The message names file,
            column and the first bad values.
    """
    schema = SCHEMAS[name]
    _check_field_counts(path)
    try:
        # Only `?` and empty cells are missing. pandas' default list would also turn text such as
        # "NA" or "NaN" into missing values without a word, so it is off.
        frame = pd.read_csv(path, na_values=["?", ""], keep_default_na=False, dtype=str, on_bad_lines="error")
    except pd.errors.EmptyDataError as error:
        raise DataError(f"{path}: the file is empty; expected a header line with the columns {list(schema)}") from error
    except pd.errors.ParserError as error:
        raise DataError(f"{path}: malformed CSV ({error}); every row must have the header's fields") from error
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read the file ({error})") from error

    frame.columns = [column.strip() for column in frame.columns]
    missing = [column for column in schema if column not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; expected the OULAD columns {list(schema)}")
    frame = frame[list(schema)].copy()

    nullable = NULLABLE.get(name, set())
    for column, kind in schema.items():
        frame[column] = _convert_column(frame[column], kind, path, column)
        if column not in nullable and frame[column].isna().any():
            rows = frame.index[frame[column].isna()]
            raise DataError(
                f"{path}: column {column} has {len(rows)} empty or '?' value(s) (first at data row "
                f"{int(rows[0]) + 1}); this column must always be filled"
            )

        if kind == "int" and column not in nullable:
            frame[column] = frame[column].astype("int64")
    _check_ranges(frame, name, path)
    if frame.empty and name in EMPTY_IS_ERROR:
        raise DataError(f"{path}: the table has a header but no data rows; the model needs its rows")
    if frame.empty:
        warnings.warn(f"{path}: the table has no data rows", stacklevel=3)

    key = UNIQUE_KEYS.get(name)
    if key is not None:
        repeated = frame.duplicated(key, keep=False)
        if repeated.any():
            example = {column: _plain(value) for column, value in frame.loc[repeated, key].iloc[0].items()}
            raise DataError(
                f"{path}: {int(repeated.sum())} rows repeat the key {key} (for example {example}); "
                "each key must appear once, so remove the duplicates"
            )
    return frame


def _check_field_counts(path: Path) -> None:
    """Raise `DataError` when a row has more or fewer fields than the header, or is blank.

    pandas fills the missing fields of a short row with NaN and skips blank lines, so without this
    check a damaged row would pass as a row with empty cells, or vanish.
    """
    fewer, more, first_bad = 0, 0, None
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                return  # read_csv reports the empty file
            for row_number, row in enumerate(reader, start=1):
                if len(row) == len(header):
                    continue
                fewer += len(row) < len(header)
                more += len(row) > len(header)
                if first_bad is None:
                    first_bad = (row_number, len(row))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: cannot read the file as CSV ({error})") from error
    if first_bad is not None:
        row_number, fields = first_bad
        raise DataError(
            f"{path}: {fewer + more} row(s) do not have the header's {len(header)} fields ({fewer} with fewer, "
            f"{more} with more; the first is data row {row_number}, with {fields}); fix or remove those rows, "
            "and write ? for a missing value"
        )


def _open_text(path: Path):
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _plain(value):
    """Return a numpy scalar as a Python one, so messages show 11391, not np.float64(11391.0)."""
    return value.item() if isinstance(value, np.generic) else value


def _check_ranges(frame: pd.DataFrame, name: str, path: Path) -> None:
    for column, (low, high) in RANGES.get(name, {}).items():
        values = frame[column]
        bad = pd.Series(False, index=values.index)
        if low is not None:
            bad |= values < low
        if high is not None:
            bad |= values > high
        if bad.any():
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            raise DataError(
                f"{path}: column {column} has {int(bad.sum())} value(s) out of range, for example "
                f"{_plain(values[bad].iloc[0])!r} at data row {int(values.index[bad][0]) + 1}; values must be {bounds}"
            )


def _convert_column(values: pd.Series, kind: str, path: Path, column: str) -> pd.Series:
    if kind == "str":
        return values.str.strip().astype(object).where(values.notna(), None)
    numbers = pd.to_numeric(values, errors="coerce")
    # "nan", "inf" and "-inf" parse as floats, but OULAD writes a missing value as `?`.
    bad = (numbers.isna() & values.notna()) | np.isinf(numbers)
    if bad.any():
        example = values[bad].iloc[0]
        raise DataError(
            f"{path}: column {column} expects finite numbers, but {int(bad.sum())} value(s) are not, for "
            f"example {example!r} at data row {int(values.index[bad][0]) + 1}; write ? for a missing value"
        )
    if kind == "int":
        fractional = numbers.notna() & (numbers != numbers.round())
        if fractional.any():
            raise DataError(
                f"{path}: column {column} expects whole numbers, but found {_plain(numbers[fractional].iloc[0])!r}"
            )
    return numbers.astype("float64")


@dataclass
class OuladTables:
    """The OULAD tables as validated data frames, with the hash of every file read."""

    student_info: pd.DataFrame
    registration: pd.DataFrame
    courses: pd.DataFrame
    assessments: pd.DataFrame
    student_assessment: pd.DataFrame
    vle: pd.DataFrame | None = None
    clicks_by_group: pd.DataFrame | None = None
    precourse_clicks: pd.DataFrame | None = None
    student_vle_path: Path | None = None
    file_hashes: dict[str, str] = field(default_factory=dict)


SOURCE_TABLES = REQUIRED_TABLES + ["vle", "derived/vle_clicks_by_group_per_registration",
                                   "derived/vle_precourse_clicks_per_registration"]


def source_files(data_dir: str | Path) -> dict[str, Path | None]:
    """Locate every table the loader reads in `data_dir` (None for an absent optional one), `studentVle` last.

    Raises:
        DataError: the folder or a required table is missing.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(
            f"OULAD folder {data_dir} does not exist; download the release from "
            "https://analyse.kmi.open.ac.uk/open_dataset and unpack it there, or set DSRSD_DATA_DIR"
        )
    paths = {name: require_table(data_dir, name) if name in REQUIRED_TABLES else find_table(data_dir, name)
             for name in SOURCE_TABLES}
    paths["studentVle"] = find_table(data_dir, "studentVle")
    return paths


def source_hashes(data_dir: str | Path) -> dict[str, str]:
    """Return the SHA-256 of every table in `data_dir` that `load_tables` would read, without parsing any."""
    return {name: file_sha256(path) for name, path in source_files(data_dir).items() if path is not None}


def load_tables(data_dir: str | Path) -> OuladTables:
    """Read every OULAD table present in `data_dir`; `studentVle` is only located, not read.

    The click log is large (10.6 M rows), so it is aggregated in DuckDB by
    `dsrsd.data.engagement` instead of being loaded into pandas.
    """
    data_dir = Path(data_dir)
    paths = source_files(data_dir)
    hashes: dict[str, str] = {}
    frames: dict[str, pd.DataFrame | None] = {}
    for name in SOURCE_TABLES:
        path = paths[name]
        if path is None:
            frames[name] = None
            continue
        hashes[name] = file_sha256(path)
        frames[name] = read_table(path, name)

    student_vle = paths["studentVle"]
    if student_vle is not None:
        if frames["vle"] is None:
            raise DataError(
                f"{student_vle} is present but vle.csv is missing in {data_dir}; the click log needs "
                "vle.csv to map each id_site to its activity type"
            )
        hashes["studentVle"] = file_sha256(student_vle)

    _check_registrations(frames["studentInfo"], frames["studentRegistration"], frames["courses"], data_dir)
    return OuladTables(
        student_info=frames["studentInfo"],
        registration=frames["studentRegistration"],
        courses=frames["courses"],
        assessments=frames["assessments"],
        student_assessment=frames["studentAssessment"],
        vle=frames["vle"],
        clicks_by_group=frames["derived/vle_clicks_by_group_per_registration"],
        precourse_clicks=frames["derived/vle_precourse_clicks_per_registration"],
        student_vle_path=student_vle,
        file_hashes=hashes,
    )


def _check_registrations(info: pd.DataFrame, registration: pd.DataFrame, courses: pd.DataFrame, data_dir: Path) -> None:
    info_keys = pd.MultiIndex.from_frame(info[REGISTRATION_KEY])
    registration_keys = pd.MultiIndex.from_frame(registration[REGISTRATION_KEY])
    only_info = info_keys.difference(registration_keys)
    if len(only_info):
        raise DataError(
            f"{data_dir}: {len(only_info)} registration(s) of studentInfo have no row in "
            f"studentRegistration, for example {only_info[0]}; both tables must hold the same keys"
        )
    presentations = info[["code_module", "code_presentation"]].drop_duplicates()
    unknown = presentations.merge(courses, on=["code_module", "code_presentation"], how="left", indicator=True)
    unknown = unknown[unknown["_merge"] == "left_only"]
    if len(unknown):
        names = [f"{m} {p}" for m, p in unknown[["code_module", "code_presentation"]].itertuples(index=False)]
        warnings.warn(
            f"courses: no row for {len(names)} presentation(s) of studentInfo {names[:5]}; their length is "
            "unknown, so undated assessments and weekly clicks assume the longest presentation (269 days)", stacklevel=3,
        )
    only_registration = registration_keys.difference(info_keys)
    if len(only_registration):
        warnings.warn(
            f"studentRegistration: {len(only_registration)} row(s) have no studentInfo row, for example "
            f"{only_registration[0]}; they are ignored, because studentInfo defines the registrations",
            stacklevel=3,
        )
