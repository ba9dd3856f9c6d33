"""Shared fixtures: the real OULAD folder, tables built once per session, and small stand-ins.

Tests that need the real data take the `oulad_dir` or `assistments_file` fixture. It reads `DSRSD_DATA_DIR`, the folder
that contains `oulad/`. When that variable is unset those tests skip, unless `DSRSD_REQUIRE_DATA=1`
is set, in which case they fail.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dsrsd.data import OuladRaw, OuladTables, build_oulad, load_tables
from dsrsd.data.engagement import EngagementArrays
from dsrsd.data.oulad import ASSESSMENT_FEATURES, PROFILE_CATEGORICAL, PROFILE_NUMERIC

# The presentation kept in the small copy of the data folder. With 383 registrations it is the smallest.
MINI_MODULE, MINI_PRESENTATION = "AAA", "2013J"
ASSISTMENTS_SUBSET_FOLDER = "assistments2009_skillbuilder_subset"
PER_REGISTRATION_TABLES = [
    "studentInfo", "studentRegistration",
    "derived/vle_clicks_by_group_per_registration", "derived/vle_precourse_clicks_per_registration",
]


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir(tmp_path_factory) -> Path:
    """Point `DSRSD_CACHE_DIR` at a temporary folder, so no test writes beside the data or into ~/.cache.

    The variable is set in `os.environ`, so CLI subprocesses inherit it.
    """
    path = tmp_path_factory.mktemp("dsrsd-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DSRSD_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="session", autouse=True)
def private_upload_dir(tmp_path_factory) -> Path:
    """Point `DSRSD_UPLOAD_DIR` at an empty temporary folder, so no test lists or adds a user's uploads."""
    path = tmp_path_factory.mktemp("dsrsd-uploads")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DSRSD_UPLOAD_DIR", str(path))
        yield path


@pytest.fixture(scope="session", autouse=True)
def single_torch_thread():
    """Run torch on one thread, which is enough for the tiny test models.

    On a 2-core machine shared with another process, one training epoch (18,150 rows, hidden size 16)
    took 76 s with two threads and 1.9 s with one, because OpenMP workers spin while they wait.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def oulad_dir() -> Path:
    """Return the real OULAD folder `$DSRSD_DATA_DIR/oulad`, or skip (fail with `DSRSD_REQUIRE_DATA=1`)."""
    root = os.environ.get("DSRSD_DATA_DIR")
    if not root:
        message = "DSRSD_DATA_DIR is not set, so the real-data tests skip; set it to the folder that contains oulad/"
        if os.environ.get("DSRSD_REQUIRE_DATA") == "1":
            pytest.fail(f"{message} (DSRSD_REQUIRE_DATA=1 turns this skip into a failure)")
        pytest.skip(message)
    path = Path(root).expanduser() / "oulad"
    if not path.is_dir():
        pytest.fail(f"DSRSD_DATA_DIR={root} has no oulad/ folder; unpack the OULAD tables into {path}")
    return path


@pytest.fixture(scope="session")
def assistments_file() -> Path:
    """Return the two-skill subset file, or skip (fail with `DSRSD_REQUIRE_DATA=1`).

    The tests check counts of the subset, so they read `$DSRSD_DATA_DIR/assistments2009_skillbuilder_subset/`
    only. A data folder with OULAD alone skips them too.
    """
    root = os.environ.get("DSRSD_DATA_DIR")
    folder = Path(root).expanduser() / ASSISTMENTS_SUBSET_FOLDER if root else None
    if folder is None or not folder.is_dir():
        message = (f"DSRSD_DATA_DIR is not set or has no {ASSISTMENTS_SUBSET_FOLDER}/ folder, so the ASSISTments tests skip; "
                   f"set it to the folder that contains {ASSISTMENTS_SUBSET_FOLDER}/")
        if os.environ.get("DSRSD_REQUIRE_DATA") == "1":
            pytest.fail(f"{message} (DSRSD_REQUIRE_DATA=1 turns this skip into a failure)")
        pytest.skip(message)
    return _only_csv(folder)


def _only_csv(folder: Path) -> Path:
    files = sorted(folder.glob("*.csv.gz")) + sorted(folder.glob("*.csv"))
    if len(files) != 1:
        pytest.fail(f"{folder} must contain exactly one CSV file, the two-skill subset; it contains {len(files)}")
    return files[0]


@pytest.fixture(scope="session")
def oulad_tables(oulad_dir) -> OuladTables:
    """The validated real tables. The session shares them, so copy them before changing anything."""
    return load_tables(oulad_dir)


@pytest.fixture(scope="session")
def raw_end(oulad_tables) -> OuladRaw:
    """Real registrations built at cutoff "end". The session shares them, so do not modify them."""
    return build_oulad(oulad_tables, "end")


@pytest.fixture(scope="session")
def raw_day60(oulad_tables) -> OuladRaw:
    """Real registrations built at cutoff day 60. The session shares them, so do not modify them."""
    return build_oulad(oulad_tables, 60)


def read_text_table(path: Path) -> pd.DataFrame:
    """Read a CSV with every cell kept as its original text, `?` included."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def mini_oulad_source(oulad_dir, tmp_path_factory) -> Path:
    """A data folder with only the AAA 2013J registrations, as plain CSV. It is built once, so do not edit it.

    courses, assessments and vle are complete copies; the per-registration tables and
    studentAssessment keep the rows of AAA 2013J. There is no studentVle.csv.
    """
    target = tmp_path_factory.mktemp("mini-oulad")
    (target / "derived").mkdir()
    for name in ["courses", "assessments", "vle"]:
        read_text_table(oulad_dir / f"{name}.csv.gz").to_csv(target / f"{name}.csv", index=False)

    for name in PER_REGISTRATION_TABLES:
        frame = read_text_table(oulad_dir / f"{name}.csv.gz")
        in_mini = (frame["code_module"] == MINI_MODULE) & (frame["code_presentation"] == MINI_PRESENTATION)
        frame[in_mini].to_csv(target / f"{name}.csv", index=False)

    students = set(read_text_table(target / "studentInfo.csv")["id_student"])
    assessments = read_text_table(target / "assessments.csv")
    own = assessments[
        (assessments["code_module"] == MINI_MODULE) & (assessments["code_presentation"] == MINI_PRESENTATION)
    ]
    submissions = read_text_table(oulad_dir / "studentAssessment.csv.gz")
    in_mini = submissions["id_assessment"].isin(own["id_assessment"]) & submissions["id_student"].isin(students)
    submissions[in_mini].to_csv(target / "studentAssessment.csv", index=False)
    return target


@pytest.fixture
def mini_oulad_dir(mini_oulad_source, tmp_path) -> Path:
    """An editable copy of `mini_oulad_source` for one test."""
    return Path(shutil.copytree(mini_oulad_source, tmp_path / "oulad"))


def write_click_log(folder: Path, module: str, presentation: str, clicks: list[tuple]) -> None:
    """Write `studentVle.csv` in the release's format (quoted, CRLF) from (id_student, id_site, date, sum_click) rows."""
    with open(folder / "studentVle.csv", "w", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(["code_module", "code_presentation", "id_student", "id_site", "date", "sum_click"])
        for student, site, day, count in clicks:
            writer.writerow([module, presentation, student, site, day, count])


def make_toy_raw(rows: int = 48, seed: int = 0) -> OuladRaw:
    """Build synthetic raw registrations in the weekly-click form, for tests that need no real data.

    Some rows have no assessment step, some no submission and some no click, so every kind of
    absence occurs.
    """
    rng = np.random.default_rng(seed)
    # Text columns are object dtype with None for missing, as `build_oulad` makes them.
    keys = pd.DataFrame({
        "code_module": pd.Series(rng.choice(["AAA", "BBB"], rows), dtype=object),
        "code_presentation": pd.Series(rng.choice(["2013J", "2014J"], rows), dtype=object),
        "id_student": np.arange(1000, 1000 + rows, dtype=np.int64),
    })
    categorical = pd.DataFrame({
        column: pd.Series(rng.choice(["a", "b", "c"], rows), dtype=object) for column in PROFILE_CATEGORICAL
    })
    categorical.loc[::7, "imd_band"] = None
    numeric = rng.normal(size=(rows, len(PROFILE_NUMERIC)))
    numeric[::5, -1] = np.nan

    steps = 4
    step_counts = rng.integers(0, steps + 1, rows)
    step_mask = np.arange(steps)[None, :] < step_counts[:, None]                            # N x T
    assessments = rng.normal(size=(rows, steps, len(ASSESSMENT_FEATURES))).astype(np.float32)
    assessments *= step_mask[..., None]

    weeks, activity_types = 6, ["forumng", "quiz", "resource", "url"]
    week_mask = np.arange(weeks)[None, :] < rng.integers(1, weeks + 1, rows)[:, None]       # N x W
    clicks = rng.poisson(3.0, size=(rows, weeks, len(activity_types))).astype(np.float32)
    clicks *= week_mask[..., None]
    clicks[::6] = 0.0
    engagement = EngagementArrays("weekly_clicks", clicks, week_mask, activity_types, clicks.sum(axis=(1, 2)) > 0)

    # As in the real data, a learner with assessments due but nothing submitted has no assessment data.
    submitted_any = step_mask.any(axis=1) & (rng.random(rows) > 0.2)
    present = np.stack([np.ones(rows, dtype=bool), submitted_any, engagement.present], axis=1)
    return OuladRaw(
        keys=keys, labels=rng.integers(0, 4, rows), profile_categorical=categorical, profile_numeric=numeric,
        assessments=assessments, assessment_mask=step_mask, engagement=engagement, present=present, cutoff="end",
    )


@pytest.fixture(scope="session")
def toy_raw() -> OuladRaw:
    """Synthetic raw registrations (see `make_toy_raw`). The session shares them, so do not modify them."""
    return make_toy_raw()


def _assert_raw_equal(left: OuladRaw, right: OuladRaw) -> None:
    pd.testing.assert_frame_equal(left.keys, right.keys)
    pd.testing.assert_frame_equal(left.profile_categorical, right.profile_categorical)
    np.testing.assert_array_equal(left.labels, right.labels)
    np.testing.assert_array_equal(left.profile_numeric, right.profile_numeric)
    np.testing.assert_array_equal(left.assessments, right.assessments)
    np.testing.assert_array_equal(left.assessment_mask, right.assessment_mask)
    assert left.engagement.form == right.engagement.form
    assert left.engagement.feature_names == right.engagement.feature_names
    np.testing.assert_array_equal(left.engagement.values, right.engagement.values)
    np.testing.assert_array_equal(left.engagement.present, right.engagement.present)
    if left.engagement.mask is None:
        assert right.engagement.mask is None
    else:
        np.testing.assert_array_equal(left.engagement.mask, right.engagement.mask)
    np.testing.assert_array_equal(left.present, right.present)
    assert left.cutoff == right.cutoff
    assert left.assessment_features == right.assessment_features


@pytest.fixture(scope="session")
def assert_raw_equal():
    """Return a function that asserts two `OuladRaw` hold the same keys, labels and arrays (NaN equals NaN)."""
    return _assert_raw_equal
