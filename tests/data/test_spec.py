"""Modality specs: parsing, the errors they raise, loading the UCI tables, and arbitrary tables."""

from __future__ import annotations

import copy
import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsrsd.data.oulad import OUTCOME_CLASSES
from dsrsd.data.spec import SpecError, parse_spec, read_spec, spec_from_dict
from dsrsd.data.spec_encoding import SpecEncoder
from dsrsd.data.spec_table import load_spec_table, stratified_split
from dsrsd.settings import REPO_ROOT

UCI_SPEC = REPO_ROOT / "specs" / "student_performance.toml"
BASE = {
    "name": "toy",
    "table": "learners.csv",
    "key": "id",
    "target": {"column": "grade", "pass_at_least": 10},
    "modalities": {
        "background": {"categorical": ["sex"], "numeric": ["age"]},
        "grades": {"numeric": ["g1"]},
    },
}
LEARNERS = pd.DataFrame({
    "id": [1, 2, 3, 4, 5, 6],
    "sex": ["F", "M", "F", "M", "F", "?"],
    "age": [15, 16, 17, 18, 15, 16],
    "g1": [12, 8, 15, 4, 11, 9],
    "grade": [13, 7, 16, 5, 10, 9],
})


def document(**changes) -> dict:
    values = copy.deepcopy(BASE)
    values.update(changes)
    return values


@pytest.fixture
def toy_root(tmp_path):
    LEARNERS.to_csv(tmp_path / "learners.csv", index=False)
    return tmp_path


def test_toy_spec_loads(toy_root):
    raw = load_spec_table(parse_spec(document()), toy_root)
    assert raw.keys["id_student"].tolist() == [1, 2, 3, 4, 5, 6]
    assert [OUTCOME_CLASSES[i] for i in raw.labels] == ["Pass", "Fail", "Pass", "Fail", "Pass", "Fail"]
    assert raw.static["background"]["sex"].tolist() == ["F", "M", "F", "M", "F", None]
    assert raw.present.all()


def test_spec_round_trip():
    spec = parse_spec(document())
    assert spec_from_dict(spec.to_dict()) == spec


def test_unknown_column(toy_root):
    spec = parse_spec(document(modalities={"background": {"numeric": ["age", "height"]}}))
    with pytest.raises(SpecError, match="unknown column 'height'"):
        load_spec_table(spec, toy_root)


def test_column_in_two_modalities():
    modalities = {"background": {"numeric": ["age", "g1"]}, "grades": {"numeric": ["g1"]}}
    with pytest.raises(SpecError, match="column 'g1' is in two modalities, 'background' and 'grades'"):
        parse_spec(document(modalities=modalities))


def test_missing_target_section():
    values = document()
    del values["target"]
    with pytest.raises(SpecError, match=r"missing \[target\] section"):
        parse_spec(values)


def test_missing_target_column(toy_root):
    spec = parse_spec(document(target={"column": "G3", "pass_at_least": 10}))
    with pytest.raises(SpecError, match="unknown column 'G3'"):
        load_spec_table(spec, toy_root)


def test_empty_target_value(tmp_path):
    LEARNERS.assign(grade=[13, None, 16, 5, 10, 9]).to_csv(tmp_path / "learners.csv", index=False)
    with pytest.raises(SpecError, match="target column 'grade' is empty in 1 row"):
        load_spec_table(parse_spec(document()), tmp_path)


def test_target_also_input():
    with pytest.raises(SpecError, match="target column 'grade' is also an input"):
        parse_spec(document(modalities={"background": {"numeric": ["age", "grade"]}}))


@pytest.mark.parametrize("changes, message", [
    ({"name": 3}, "field 'name' has the wrong type"),
    ({"modalities": {"background": {"numeric": "age"}}}, r"\[modalities.background\] numeric has the wrong type"),
    ({"target": {"column": "grade", "pass_at_least": "ten"}}, r"\[target\] pass_at_least has the wrong type"),
    ({"split": {"seed": True}}, r"\[split\] seed has the wrong type"),
])
def test_wrong_spec_type(changes, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(document(**changes))


def test_wrong_column_type(tmp_path):
    LEARNERS.assign(age=["15", "sixteen", "17", "18", "15", "16"]).to_csv(tmp_path / "learners.csv", index=False)
    with pytest.raises(SpecError, match="column 'age' is listed as numeric, but 1 value"):
        load_spec_table(parse_spec(document()), tmp_path)


def test_unknown_field():
    with pytest.raises(SpecError, match=r"unknown field\(s\) \['colour'\]"):
        parse_spec(document(colour="red"))


def test_duplicate_key(tmp_path):
    LEARNERS.assign(id=[1, 2, 3, 3, 5, 6]).to_csv(tmp_path / "learners.csv", index=False)
    with pytest.raises(SpecError, match="key 3 appears more than once"):
        load_spec_table(parse_spec(document()), tmp_path)


def test_unmapped_class(tmp_path):
    LEARNERS.assign(sex=["F", "M", "F", "M", "F", "X"]).to_csv(tmp_path / "learners.csv", index=False)
    target = {"column": "sex", "classes": {"F": "Pass", "M": "Fail"}}
    spec = parse_spec(document(target=target, modalities={"grades": {"numeric": ["g1"]}}))
    with pytest.raises(SpecError, match="contains 'X', which \\[target\\] classes does not map"):
        load_spec_table(spec, tmp_path)


def test_class_outside_outcomes():
    with pytest.raises(SpecError, match="maps 'F' to 'Good'"):
        parse_spec(document(target={"column": "sex", "classes": {"F": "Good", "M": "Fail"}}))


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="cannot be read"):
        read_spec(tmp_path / "none.toml")


def test_sequence_modality(toy_root):
    pd.DataFrame({
        "id": [2, 1, 1, 2, 1, 99],
        "week": [3, 2, 1, 1, 3, 1],
        "score": [30.0, 20.0, 10.0, 40.0, None, 5.0],
    }).to_csv(toy_root / "quizzes.csv", index=False)
    values = document()
    values["modalities"]["quizzes"] = {"table": "quizzes.csv", "time": "week", "numeric": ["score"]}
    spec = parse_spec(values)
    with pytest.warns(UserWarning, match="1 row"):
        raw = load_spec_table(spec, toy_root)
    sequence, mask = raw.sequences["quizzes"], raw.sequence_masks["quizzes"]
    assert sequence.shape == (6, 3, 1)
    np.testing.assert_array_equal(sequence[0, :, 0], [10.0, 20.0, np.nan])
    np.testing.assert_array_equal(sequence[1, :2, 0], [40.0, 30.0])
    np.testing.assert_array_equal(mask[:3], [[True, True, True], [True, True, False], [False, False, False]])
    assert raw.present[:, 2].tolist() == [True, True, False, False, False, False]
    encoded = SpecEncoder.fit(raw, spec).transform(raw)
    assert encoded.inputs["quizzes"].shape == (6, 3, 2)
    assert encoded.inputs["quizzes"][0, 2, 1] == 1.0     # the missing score is flagged
    assert not encoded.inputs["quizzes"][2].any()         # no steps, all zeros


def test_stratified_split_keeps_shares():
    labels = np.array([1] * 80 + [2] * 20)
    split = stratified_split(labels, 0.2, 0.15, seed=0)
    assert (split == "test").sum() == 20
    assert ((split == "test") & (labels == 2)).sum() == 4
    assert ((split == "validation") & (labels == 2)).sum() == 3
    np.testing.assert_array_equal(split, stratified_split(labels, 0.2, 0.15, seed=0))


def test_uci_spec_loads(tmp_path_factory):
    import os

    root = os.environ.get("DSRSD_DATA_DIR")
    if not root:
        pytest.skip("DSRSD_DATA_DIR is not set")
    spec = read_spec(UCI_SPEC)
    raw = load_spec_table(spec, root)
    assert len(raw) == 649
    assert [m.name for m in spec.modalities] == ["background", "behaviour", "grades"]
    assert int((raw.labels == OUTCOME_CLASSES.index("Pass")).sum()) == 549
    assert raw.present.all()
    encoded = SpecEncoder.fit(raw.subset(raw.split == "train"), spec).transform(raw)
    assert encoded.inputs["grades"].shape == (649, 4)


CELLS = st.one_of(st.none(), st.integers(-5, 30), st.floats(-1e3, 1e3, allow_nan=False),
                  st.text(string.ascii_letters + " ,;?\"'", max_size=6))


def column(draw, size: int, valid: st.SearchStrategy, unique: bool = False) -> list:
    """Draw a column of `size` values: either all valid, or arbitrary cells."""
    clean = st.lists(valid, min_size=size, max_size=size, unique=unique)
    return draw(st.one_of(clean, st.lists(CELLS, min_size=size, max_size=size)))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), use_key=st.booleans())
def test_arbitrary_tables_load_or_raise(tmp_path, data, use_key):
    """Every arbitrary table either loads with each row once, or raises SpecError."""
    size = data.draw(st.integers(1, 25))
    table = pd.DataFrame({
        "id": column(data.draw, size, st.integers(0, 10**6), unique=True),
        "sex": column(data.draw, size, st.sampled_from(["F", "M", None])),
        "age": column(data.draw, size, st.one_of(st.none(), st.floats(0, 99, allow_nan=False))),
        "grade": column(data.draw, size, st.integers(0, 20)),
    })
    table.to_csv(tmp_path / "learners.csv", index=False)
    values = document(modalities={"background": {"categorical": ["sex"], "numeric": ["age"]}})
    if not use_key:
        del values["key"]
    spec = parse_spec(values)
    try:
        raw = load_spec_table(spec, tmp_path)
    except SpecError:
        return
    assert len(raw) == len(table)
    assert raw.keys["id_student"].is_unique
    if use_key:
        assert raw.keys["id_student"].tolist() == [int(value) for value in table["id"]]
    assert set(raw.split) <= {"train", "validation", "test"}
    assert raw.present.shape == (len(table), 1)
    expected = pd.to_numeric(table["grade"]) >= 10
    np.testing.assert_array_equal(raw.labels == OUTCOME_CLASSES.index("Pass"), expected.to_numpy())
