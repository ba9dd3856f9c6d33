"""Reading and validating the OULAD tables: counts on the real release, and errors on bad files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from dsrsd.data import DataError, load_tables
from dsrsd.data.tables import REGISTRATION_KEY

REGISTRATIONS = 32_593
FINAL_RESULTS = {"Pass": 12_361, "Withdrawn": 10_156, "Fail": 7_052, "Distinction": 3_024}


def edit_table(path: Path, change) -> None:
    """Rewrite the CSV at `path` as `change(frame)` returns it, with every cell read as text."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(frame).to_csv(path, index=False)


def test_registration_counts(oulad_tables):
    assert len(oulad_tables.student_info) == REGISTRATIONS
    assert len(oulad_tables.registration) == REGISTRATIONS


def test_final_result_counts(oulad_tables):
    counts = oulad_tables.student_info["final_result"].value_counts().to_dict()
    assert counts == FINAL_RESULTS


def test_registration_key_unique(oulad_tables):
    info = oulad_tables.student_info
    assert not info.duplicated(REGISTRATION_KEY).any()
    # A student who took several presentations repeats id_student, so id_student alone is not a key.
    assert info["id_student"].duplicated().any()
    assert info["id_student"].nunique() == 28_785


def test_row_counts_other_tables(oulad_tables):
    assert len(oulad_tables.courses) == 22
    assert len(oulad_tables.assessments) == 206
    assert len(oulad_tables.student_assessment) == 173_912
    assert len(oulad_tables.vle) == 6_364


def test_missing_values_read_as_nan(oulad_tables):
    assert oulad_tables.student_info["imd_band"].isna().sum() == 1_111
    assert oulad_tables.assessments["date"].isna().sum() == 11
    assert oulad_tables.student_assessment["score"].isna().sum() == 173


def test_file_hashes_and_click_log(oulad_tables):
    assert set(oulad_tables.file_hashes) == {
        "studentInfo", "studentRegistration", "courses", "assessments", "studentAssessment", "vle",
        "derived/vle_clicks_by_group_per_registration", "derived/vle_precourse_clicks_per_registration",
    }
    assert all(len(digest) == 64 for digest in oulad_tables.file_hashes.values())
    assert oulad_tables.student_vle_path is None


def test_mini_folder_loads(mini_oulad_dir):
    tables = load_tables(mini_oulad_dir)
    assert len(tables.student_info) == 383
    assert set(tables.student_info["code_module"]) == {"AAA"}


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist") as error:
        load_tables(tmp_path / "nowhere")
    assert "nowhere" in str(error.value)


def test_missing_table(mini_oulad_dir):
    (mini_oulad_dir / "studentInfo.csv").unlink()
    with pytest.raises(DataError) as error:
        load_tables(mini_oulad_dir)
    message = str(error.value)
    assert "missing table studentInfo.csv" in message
    assert str(mini_oulad_dir) in message


def test_missing_column(mini_oulad_dir):
    edit_table(mini_oulad_dir / "courses.csv", lambda frame: frame.drop(columns="module_presentation_length"))
    with pytest.raises(DataError) as error:
        load_tables(mini_oulad_dir)
    message = str(error.value)
    assert "courses.csv" in message
    assert "missing column(s) ['module_presentation_length']" in message


def test_non_numeric_value(mini_oulad_dir):
    def spoil(frame):
        frame.loc[2, "studied_credits"] = "sixty"
        return frame

    edit_table(mini_oulad_dir / "studentInfo.csv", spoil)
    with pytest.raises(DataError) as error:
        load_tables(mini_oulad_dir)
    message = str(error.value)
    assert "studentInfo.csv" in message
    assert "column studied_credits expects finite numbers" in message
    assert "'sixty' at data row 3" in message


def test_fractional_whole_number(mini_oulad_dir):
    def spoil(frame):
        frame.loc[0, "num_of_prev_attempts"] = "1.5"
        return frame

    edit_table(mini_oulad_dir / "studentInfo.csv", spoil)
    with pytest.raises(DataError, match="column num_of_prev_attempts expects whole numbers") as error:
        load_tables(mini_oulad_dir)
    assert "studentInfo.csv" in str(error.value)


def test_empty_required_cell(mini_oulad_dir):
    def spoil(frame):
        frame.loc[4, "gender"] = "?"
        return frame

    edit_table(mini_oulad_dir / "studentInfo.csv", spoil)
    with pytest.raises(DataError) as error:
        load_tables(mini_oulad_dir)
    message = str(error.value)
    assert "studentInfo.csv" in message
    assert "column gender has 1 empty or '?' value(s) (first at data row 5)" in message


def test_duplicate_key(mini_oulad_dir):
    edit_table(mini_oulad_dir / "courses.csv", lambda frame: pd.concat([frame, frame.iloc[[3]]]))
    with pytest.raises(DataError) as error:
        load_tables(mini_oulad_dir)
    message = str(error.value)
    assert "courses.csv" in message
    assert "2 rows repeat the key ['code_module', 'code_presentation']" in message


def test_duplicate_submission(mini_oulad_dir):
    edit_table(mini_oulad_dir / "studentAssessment.csv", lambda frame: pd.concat([frame, frame.iloc[[0]]]))
    with pytest.raises(DataError) as error:
        load_tables(mini_oulad_dir)
    message = str(error.value)
    assert "studentAssessment.csv" in message
    assert "['id_assessment', 'id_student']" in message


def test_registration_without_row(mini_oulad_dir):
    edit_table(mini_oulad_dir / "studentRegistration.csv", lambda frame: frame.iloc[1:])
    with pytest.raises(DataError, match="1 registration\\(s\\) of studentInfo have no row in studentRegistration"):
        load_tables(mini_oulad_dir)


def test_click_log_without_vle(mini_oulad_dir):
    (mini_oulad_dir / "vle.csv").unlink()
    (mini_oulad_dir / "studentVle.csv").write_text(
        "code_module,code_presentation,id_student,id_site,date,sum_click\n"
    )
    with pytest.raises(DataError, match="vle.csv is missing"):
        load_tables(mini_oulad_dir)


def test_row_with_extra_field(mini_oulad_dir):
    with open(mini_oulad_dir / "courses.csv", "a") as handle:
        handle.write("AAA,2015J,200,extra\n")
    with pytest.raises(DataError) as error:
        load_tables(mini_oulad_dir)
    message = str(error.value)
    assert "courses.csv" in message
    assert "1 row(s) do not have the header's 3 fields (0 with fewer, 1 with more" in message
    assert "the first is data row 23, with 4)" in message


def test_rows_with_missing_fields(mini_oulad_dir):
    lines = (mini_oulad_dir / "studentInfo.csv").read_text().splitlines()
    lines[5] = ",".join(lines[5].split(",")[:-1])     # data row 5 loses final_result
    lines[9] = ",".join(lines[9].split(",")[:4])      # data row 9 keeps 4 of 12 fields
    (mini_oulad_dir / "studentInfo.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as error:
        load_tables(mini_oulad_dir)
    message = str(error.value)
    assert "studentInfo.csv" in message
    assert "2 row(s) do not have the header's 12 fields (2 with fewer, 0 with more" in message
    assert "the first is data row 5, with 11)" in message


def test_blank_line_not_skipped(mini_oulad_dir):
    lines = (mini_oulad_dir / "courses.csv").read_text().splitlines()
    lines.insert(3, "")
    (mini_oulad_dir / "courses.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="1 row\\(s\\) do not have the header's 3 fields .*data row 3, with 0"):
        load_tables(mini_oulad_dir)


def test_gzip_row_with_extra_field(mini_oulad_dir):
    text = (mini_oulad_dir / "courses.csv").read_text() + "AAA,2015J,200,extra\n"
    (mini_oulad_dir / "courses.csv").unlink()
    with gzip.open(mini_oulad_dir / "courses.csv.gz", "wt") as handle:
        handle.write(text)
    with pytest.raises(DataError, match="courses.csv.gz: 1 row\\(s\\) do not have the header's 3 fields"):
        load_tables(mini_oulad_dir)


@pytest.mark.parametrize("text", ["inf", "-inf", "Infinity", "nan", "NaN"])
def test_non_finite_number(mini_oulad_dir, text):
    def spoil(frame):
        frame.loc[6, "score"] = text
        return frame

    edit_table(mini_oulad_dir / "studentAssessment.csv", spoil)
    with pytest.raises(DataError) as error:
        load_tables(mini_oulad_dir)
    message = str(error.value)
    assert "studentAssessment.csv" in message
    assert f"column score expects finite numbers, but 1 value(s) are not, for example {text!r} at data row 7" in message
    assert "write ? for a missing value" in message


def test_na_text_is_a_category(mini_oulad_dir):
    # Only ? and empty cells are missing: "NA" is kept as text, not turned into a missing value.
    def spoil(frame):
        frame.loc[0, "region"] = "NA"
        return frame

    edit_table(mini_oulad_dir / "studentInfo.csv", spoil)
    tables = load_tables(mini_oulad_dir)
    assert tables.student_info.loc[0, "region"] == "NA"


def test_question_mark_and_empty_cells(mini_oulad_dir):
    def spoil(frame):
        frame.loc[0, "imd_band"] = "?"
        frame.loc[1, "imd_band"] = ""
        return frame

    edit_table(mini_oulad_dir / "studentInfo.csv", spoil)
    info = load_tables(mini_oulad_dir).student_info
    assert info.loc[0, "imd_band"] is None
    assert info.loc[1, "imd_band"] is None
    assert len(info) == 383


def test_empty_cell_required_numeric(mini_oulad_dir):
    def spoil(frame):
        frame.loc[[2, 8], "date_submitted"] = ""
        return frame

    edit_table(mini_oulad_dir / "studentAssessment.csv", spoil)
    with pytest.raises(DataError) as error:
        load_tables(mini_oulad_dir)
    assert "column date_submitted has 2 empty or '?' value(s) (first at data row 3)" in str(error.value)


def test_registration_without_info_warns(mini_oulad_dir):
    edit_table(mini_oulad_dir / "studentInfo.csv", lambda frame: frame.iloc[1:])
    with pytest.warns(UserWarning, match="studentRegistration: 1 row\\(s\\) have no studentInfo row"):
        tables = load_tables(mini_oulad_dir)
    assert len(tables.registration) == len(tables.student_info) + 1


def test_empty_file_names_path(mini_oulad_dir):
    (mini_oulad_dir / "studentInfo.csv").write_text("")
    with pytest.raises(DataError, match="studentInfo.csv: the file is empty"):
        load_tables(mini_oulad_dir)


def test_header_only_required_table(mini_oulad_dir):
    edit_table(mini_oulad_dir / "courses.csv", lambda frame: frame.iloc[:0])
    with pytest.raises(DataError, match="courses.csv: the table has a header but no data rows"):
        load_tables(mini_oulad_dir)


def test_header_only_submissions_warn(mini_oulad_dir):
    edit_table(mini_oulad_dir / "studentAssessment.csv", lambda frame: frame.iloc[:0])
    with pytest.warns(UserWarning, match="studentAssessment.csv: the table has no data rows"):
        tables = load_tables(mini_oulad_dir)
    assert tables.student_assessment.empty


def test_out_of_range_value(mini_oulad_dir):
    def negative_credits(frame):
        frame.loc[3, "studied_credits"] = "-60"
        return frame

    edit_table(mini_oulad_dir / "studentInfo.csv", negative_credits)
    with pytest.raises(DataError) as error:
        load_tables(mini_oulad_dir)
    message = str(error.value)
    assert "column studied_credits has 1 value(s) out of range, for example -60 at data row 4" in message
    assert "values must be at least 0" in message


def test_plain_and_gzip_both_present(mini_oulad_dir):
    frame = pd.read_csv(mini_oulad_dir / "courses.csv")
    frame.to_csv(mini_oulad_dir / "courses.csv.gz", index=False)
    with pytest.warns(UserWarning, match="both courses.csv and courses.csv.gz .* reading courses.csv"):
        load_tables(mini_oulad_dir)


def test_presentation_missing_from_courses(mini_oulad_dir):
    edit_table(mini_oulad_dir / "courses.csv",
               lambda frame: frame[~((frame["code_module"] == "AAA") & (frame["code_presentation"] == "2013J"))])
    with pytest.warns(UserWarning, match="courses: no row for 1 presentation\\(s\\) of studentInfo \\['AAA 2013J'\\]"):
        load_tables(mini_oulad_dir)


def test_student_ids_are_integers(oulad_tables):
    assert oulad_tables.student_info["id_student"].dtype == "int64"
    assert oulad_tables.student_assessment["id_student"].dtype == "int64"
