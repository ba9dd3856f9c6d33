"""ASSISTments next-attempt rows: loading, windowing without leaks, student folds, encoding, checkpoints."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from dsrsd.checkpoint import load_checkpoint, save_checkpoint
from dsrsd.config import LossConfig, ModelConfig, TrainConfig
from dsrsd.data import DataError
from dsrsd.data.assistments import (
    CORRECT_LABEL, INCORRECT_LABEL, assistments_data_info, find_assistments_file, fold_split,
    load_assistments, prepare_assistments_data, student_folds,
)
from dsrsd.data.assistments_encoding import HISTORY_FEATURES, AssistmentsEncoder, history_summary
from dsrsd.data.spec_encoding import encoder_from_state
from dsrsd.inference import predict
from dsrsd.training import train_model
from tests.conftest import ASSISTMENTS_SUBSET_FOLDER

# Some schools and teachers of the two-skill file have test students only; their warning is expected.
pytestmark = pytest.mark.filterwarnings("ignore:column .* categories unseen in training")


@pytest.fixture(scope="session")
def subset_frame(assistments_file) -> pd.DataFrame:
    """The subset as read by pandas. The session shares it, so copy it before changing anything."""
    return pd.read_csv(assistments_file)


def question(user, order, correct, problem=100, skill=1, attempts=1, hints=0, ms=20000, action=0, **extra) -> dict:
    row = {
        "order_id": order, "user_id": user, "problem_id": problem, "original": 1, "correct": correct,
        "attempt_count": attempts, "ms_first_response": ms, "tutor_mode": "tutor", "answer_type": "algebra",
        "skill_id": skill, "skill_name": f"skill {skill}", "teacher_id": 7, "school_id": 3, "hint_count": hints,
        "first_action": action,
    }
    row.update(extra)
    return row


def toy_rows() -> list[dict]:
    """Three students; order_ids are out of file order to check that loading sorts by them."""
    rows = []
    for user, offset in [(1, 0), (2, 100), (3, 200)]:
        for step in range(6):
            rows.append(question(user, 1000 + offset + step, correct=(step + user) % 2, problem=100 + step % 3,
                                 skill=1 + step % 2, attempts=1 + step % 3, hints=step % 2, ms=5000 * (step + 1)))
    return rows[::-1]


def write(rows: list[dict], path: Path) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def encoded_by_question(encoder: AssistmentsEncoder, path: Path) -> dict[int, dict[str, np.ndarray]]:
    """Encode the file at `path` and return each row's inputs (padding included), keyed by order_id."""
    encoded = encoder.transform(load_assistments(path, max_history=encoder.state["max_history"]))
    return {
        int(order): {m: encoded.inputs[m][i] for m in encoded.modalities}
        for i, order in enumerate(encoded.keys["order_id"])
    }


def assert_inputs_equal(left: dict[str, np.ndarray], right: dict[str, np.ndarray]) -> None:
    for modality in left:
        np.testing.assert_array_equal(left[modality], right[modality], err_msg=modality)


# Loading


def test_toy_rows_follow_order_id(tmp_path):
    raw = load_assistments(write(toy_rows(), tmp_path / "toy.csv"))
    keys = raw.keys
    assert len(raw) == 15
    assert raw.stats.students == 3
    assert keys["order_id"].is_monotonic_increasing
    assert keys.groupby("user_id")["step"].apply(list).tolist() == [[2, 3, 4, 5, 6]] * 3
    expected = np.array([CORRECT_LABEL if (step + user) % 2 else INCORRECT_LABEL
                         for user in (1, 2, 3) for step in range(1, 6)])
    np.testing.assert_array_equal(raw.labels, expected)


def test_multi_skill_question_is_one_row(tmp_path):
    rows = [question(1, 10, 1, skill=1), question(1, 11, 0, skill=1), question(1, 11, 0, skill=2),
            question(1, 12, 1, skill=2)]
    raw = load_assistments(write(rows, tmp_path / "multi.csv"))
    assert raw.stats.questions == 3
    assert raw.stats.merged_skill_rows == 1
    assert raw.attempts["skills"].tolist() == [("1",), ("1", "2"), ("2",)]
    assert raw.keys["skill_id"].tolist() == ["1;2", "2"]
    assert raw.keys["skill"].tolist() == ["skill 1; skill 2", "skill 2"]


def test_scaffolding_and_duplicates_removed(tmp_path):
    rows = [question(1, 10, 1), question(1, 11, 0), question(1, 12, 1, original=0), question(1, 13, 0)]
    raw = load_assistments(write(rows + [rows[1], rows[3]], tmp_path / "dups.csv"))
    assert raw.stats.rows_read == 6
    assert raw.stats.duplicate_rows == 2
    assert raw.stats.scaffolding_rows == 1
    assert raw.keys["order_id"].tolist() == [11, 13]


def test_full_release_oddities(tmp_path):
    """A missing skill, a missing first action and a negative response time, as in the full release."""
    rows = [question(1, 10, 1), question(1, 11, 0, skill=None, skill_name=None, ms=-50),
            question(1, 12, 1, action=None), question(1, 13, 0)]
    raw = load_assistments(write(rows, tmp_path / "odd.csv"))
    assert raw.attempts["skills"].tolist() == [("1",), ("(none)",), ("1",), ("1",)]
    encoded = AssistmentsEncoder.fit(raw).transform(raw)
    behaviour = encoded.inputs["behaviour"]
    assert np.isfinite(behaviour).all()
    # Row 3 (order 13) sees orders 10, 11 and 12; order 12 has no first action, so no action flag is set.
    assert behaviour[2, 2, -3:].tolist() == [0.0, 0.0, 0.0]
    assert behaviour[2, 0, -3:].tolist() == [1.0, 0.0, 0.0]
    same_skill = encoded.inputs["history"][2, :3, HISTORY_FEATURES.index("same skill")]
    assert same_skill.tolist() == [1.0, 0.0, 1.0]


def test_conflicting_order_id_raises(tmp_path):
    rows = [question(1, 10, 1), question(1, 11, 0, skill=1), question(2, 11, 0, skill=2)]
    with pytest.raises(DataError, match=r"order_id 11 has rows with different user_id"):
        load_assistments(write(rows, tmp_path / "conflict.csv"))


def test_conflicting_correct_keeps_first(tmp_path):
    rows = [question(1, 10, 1), question(1, 11, 0, skill=1), question(1, 11, 1, skill=2)]
    with pytest.warns(UserWarning, match=r"1 order_id\(s\), for example 11, have rows with different correct"):
        raw = load_assistments(write(rows, tmp_path / "conflict.csv"))
    assert raw.labels.tolist() == [INCORRECT_LABEL]
    assert raw.attempts["skills"].tolist() == [("1",), ("1", "2")]


@pytest.mark.parametrize("column", ["correct", "skill_id", "ms_first_response", "school_id"])
def test_missing_column_named(tmp_path, column):
    frame = pd.DataFrame(toy_rows()).drop(columns=[column])
    path = tmp_path / "missing.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=rf"missing required column\(s\) \['{column}'\]"):
        load_assistments(path)


def test_invalid_correct_raises(tmp_path):
    rows = toy_rows()
    rows[0]["correct"] = 0.5
    with pytest.raises(DataError, match=r"'correct' must be 0 or 1, but contains 0.5"):
        load_assistments(write(rows, tmp_path / "fraction.csv"))


def test_latin1_fallback_warns(tmp_path):
    rows = toy_rows()
    for row in rows:
        row["skill_name"] = "Équations" if row["skill_id"] == 1 else row["skill_name"]
    path = tmp_path / "latin1.csv.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(pd.DataFrame(rows).to_csv(index=False).encode("latin-1"))
    with pytest.warns(UserWarning, match=rf"{path.name} is not valid UTF-8.*reading it as Latin-1"):
        raw = load_assistments(path)
    assert raw.stats.encoding == "latin-1"
    assert "Équations" in set(raw.keys["skill"])


def test_utf8_file_reads_without_warning(tmp_path, recwarn):
    rows = toy_rows()
    rows[0]["skill_name"] = "Équations"
    path = tmp_path / "utf8.csv"
    path.write_text(pd.DataFrame(rows).to_csv(index=False), encoding="utf-8")
    raw = load_assistments(path)
    assert raw.stats.encoding == "utf-8"
    assert not [w for w in recwarn if "UTF-8" in str(w.message)]


def test_find_file_in_either_folder(tmp_path):
    for name in ["assistments2009", ASSISTMENTS_SUBSET_FOLDER]:
        root = tmp_path / name.replace("/", "_") / "root"
        (root / name).mkdir(parents=True)
        target = write(toy_rows(), root / name / "skill_builder_data.csv")
        assert find_assistments_file(root) == target
        assert load_assistments(root).stats.file == str(target)


def test_find_file_errors(tmp_path):
    with pytest.raises(DataError, match=r"no ASSISTments folder under .*assistments2009"):
        find_assistments_file(tmp_path)
    (tmp_path / "assistments2009").mkdir()
    write(toy_rows(), tmp_path / "assistments2009" / "a.csv")
    write(toy_rows(), tmp_path / "assistments2009" / "b.csv")
    with pytest.raises(DataError, match=r"contains 2 CSV files \(a.csv, b.csv\)"):
        find_assistments_file(tmp_path)


# Windowing: a row sees earlier questions only


def test_history_cap_and_query_step(tmp_path):
    raw = load_assistments(write(toy_rows(), tmp_path / "toy.csv"), max_history=3)
    encoded = AssistmentsEncoder.fit(raw).transform(raw)
    history, mask = encoded.inputs["history"], encoded.masks["history"]
    assert history.shape == (15, 4, len(HISTORY_FEATURES))
    assert encoded.inputs["behaviour"].shape[1] == 3
    steps = encoded.keys["step"].to_numpy()
    np.testing.assert_array_equal(mask.sum(axis=1), np.minimum(steps - 1, 3) + 1)
    last = history[np.arange(15), mask.sum(axis=1) - 1]
    assert (last[:, HISTORY_FEATURES.index("is_target")] == 1).all()
    for name in ["correct", "incorrect", "same skill correct", "same skill incorrect"]:
        assert (last[:, HISTORY_FEATURES.index(name)] == 0).all(), name
    assert (history[..., HISTORY_FEATURES.index("is_target")].sum(axis=1) == 1).all()
    np.testing.assert_array_equal(encoded.masks["behaviour"].sum(axis=1), np.minimum(steps - 1, 3))


@pytest.mark.parametrize("change", [
    {"correct": "flip"}, {"attempt_count": 9}, {"hint_count": 4}, {"ms_first_response": 999999}, {"first_action": 1},
])
def test_own_and_later_outcome_unseen(tmp_path, change):
    rows = toy_rows()
    original = write(rows, tmp_path / "original.csv")
    encoder = AssistmentsEncoder.fit(load_assistments(original))
    before = encoded_by_question(encoder, original)

    # Change the outcome and behaviour of student 2's fourth question (order 1103) and every later one.
    changed = [dict(row) for row in rows]
    for row in changed:
        if row["user_id"] == 2 and row["order_id"] >= 1103:
            for column, value in change.items():
                row[column] = 1 - row[column] if value == "flip" else value
    after = encoded_by_question(encoder, write(changed, tmp_path / "changed.csv"))

    for order in [1101, 1102, 1103]:
        assert_inputs_equal(before[order], after[order])
    assert any(not np.array_equal(before[1104][m], after[1104][m]) for m in before[1104])


def test_target_identity_is_used(tmp_path):
    """The problem of the question to predict is known before the answer, so it may change the inputs."""
    rows = toy_rows()
    original = write(rows, tmp_path / "original.csv")
    encoder = AssistmentsEncoder.fit(load_assistments(original))
    before = encoded_by_question(encoder, original)
    changed = [dict(row, problem_id=555) if row["order_id"] == 1103 else row for row in rows]
    after = encoded_by_question(encoder, write(changed, tmp_path / "changed.csv"))
    assert_inputs_equal(before[1102], after[1102])
    assert not np.array_equal(before[1103]["history"], after[1103]["history"])


def test_real_rows_unchanged_by_own_label(subset_frame, tmp_path):
    """Changing a test student's last three answers leaves the inputs up to the first of them unchanged, even refitted."""
    raw = load_assistments(write_frame(subset_frame, tmp_path / "original.csv"))
    split = fold_split(raw, 0)
    users = raw.users()
    test_user = int(pd.Series(users[split == "test"]).value_counts().index[0])
    rows = np.flatnonzero(users == test_user)
    last_orders = raw.keys["order_id"].to_numpy()[rows[-3:]]

    changed = subset_frame.copy()
    flip = changed["order_id"].isin(last_orders)
    changed.loc[flip, "correct"] = 1 - changed.loc[flip, "correct"]
    changed.loc[flip, ["attempt_count", "hint_count", "ms_first_response"]] = [50, 9, 9_000_000]
    before = prepare_assistments_data(tmp_path / "original.csv", 0)
    after = prepare_assistments_data(write_frame(changed, tmp_path / "changed.csv"), 0)

    assert json.dumps(before.encoder.state) == json.dumps(after.encoder.state)
    first_changed = rows[-3]
    for modality in before.encoded.modalities:
        np.testing.assert_array_equal(before.encoded.inputs[modality][rows[0]:first_changed + 1],
                                      after.encoded.inputs[modality][rows[0]:first_changed + 1], err_msg=modality)
    assert before.encoded.labels[first_changed] != after.encoded.labels[first_changed]


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


# Folds


def test_folds_partition_students(assistments_file):
    raw = load_assistments(assistments_file)
    users = raw.users()
    students = np.unique(users)
    assignment = student_folds(users)
    assert set(assignment) == set(students.tolist())
    sizes = np.bincount(list(assignment.values()))
    assert sizes.max() - sizes.min() <= 1

    tested = []
    for fold in range(5):
        split = fold_split(raw, fold)
        splits_per_student = pd.Series(split).groupby(users).nunique()
        assert (splits_per_student == 1).all(), "a student's rows fell into two splits"
        test_students = np.unique(users[split == "test"])
        rest = np.setdiff1d(students, test_students)
        validation_students = np.unique(users[split == "validation"])
        assert abs(len(test_students) / len(students) - 0.2) < 0.01
        assert abs(len(validation_students) / len(rest) - 0.15) < 0.01
        tested.append(test_students)
    joined = np.concatenate(tested)
    assert len(joined) == len(students)
    np.testing.assert_array_equal(np.sort(joined), students)


def test_folds_seeded(assistments_file):
    raw = load_assistments(assistments_file)
    np.testing.assert_array_equal(fold_split(raw, 2, seed=4), fold_split(raw, 2, seed=4))
    assert (fold_split(raw, 2, seed=4) != fold_split(raw, 2, seed=5)).any()


def test_invalid_fold_raises(assistments_file):
    raw = load_assistments(assistments_file)
    with pytest.raises(ValueError, match=r"invalid fold 5: use 0 to 4"):
        fold_split(raw, 5)


# The real subset


def test_subset_counts_match_source(assistments_file, subset_frame):
    raw = load_assistments(assistments_file)
    stats = raw.stats
    assert stats.rows_read == 10_791
    assert stats.duplicate_rows == 0
    assert stats.scaffolding_rows == 0
    assert stats.questions == 10_791
    assert stats.students == 902
    assert stats.problems == 678
    assert stats.skills == 2
    assert stats.rows == 10_791 - 902
    assert raw.attempts["school_id"].nunique() == 28
    assert raw.attempts["teacher_id"].nunique() == 30
    assert raw.labels.tolist().count(CORRECT_LABEL) == int(subset_frame["correct"].sum()) - int(
        subset_frame.sort_values("order_id").groupby("user_id")["correct"].first().sum())


def reference_auc(prepared) -> float:
    encoded, split = prepared.encoded, prepared.split
    features = history_summary(encoded)
    correct = encoded.labels == CORRECT_LABEL
    model = LogisticRegression(max_iter=2000).fit(features[split == "train"], correct[split == "train"])
    return roc_auc_score(correct[split == "test"], model.predict_proba(features[split == "test"])[:, 1])


def test_duplicate_rows_change_nothing(subset_frame, tmp_path):
    original = write_frame(subset_frame, tmp_path / "original.csv")
    copies = subset_frame.iloc[::7]
    doubled = pd.concat([subset_frame, copies]).sample(frac=1.0, random_state=0)
    duplicated = write_frame(doubled, tmp_path / "duplicated.csv")

    before = prepare_assistments_data(original, 1)
    after = prepare_assistments_data(duplicated, 1)
    assert after.raw.stats.duplicate_rows == len(copies)
    assert len(after.encoded) == len(before.encoded)
    pd.testing.assert_frame_equal(before.encoded.keys, after.encoded.keys)
    np.testing.assert_array_equal(before.split, after.split)
    for modality in before.encoded.modalities:
        np.testing.assert_array_equal(before.encoded.inputs[modality], after.encoded.inputs[modality])
    auc = reference_auc(before)
    assert 0.6 < auc < 0.8
    assert reference_auc(after) == auc


def test_encoder_fitted_on_training_students(assistments_file):
    raw = load_assistments(assistments_file)
    split = fold_split(raw, 0)
    encoder = AssistmentsEncoder.fit(raw.subset(split == "train"))
    train_users = set(np.unique(raw.users()[split == "train"]).tolist())
    attempts = raw.attempts[raw.attempts["user_id"].isin(train_users)]
    assert encoder.state["overall_rate"] == pytest.approx(attempts["correct"].mean())
    assert set(encoder.state["problem_rates"]["ids"]) == set(attempts["problem_id"].astype(str))
    assert set(encoder.state["context_categories"]["school_id"]) == set(attempts["school_id"])


def test_encoder_state_round_trips(assistments_file):
    prepared = prepare_assistments_data(assistments_file, 3)
    rebuilt = encoder_from_state(json.loads(json.dumps(prepared.encoder.state)))
    assert isinstance(rebuilt, AssistmentsEncoder)
    again = rebuilt.transform(prepared.raw)
    for modality in again.modalities:
        np.testing.assert_array_equal(again.inputs[modality], prepared.encoded.inputs[modality])
        assert again.inputs[modality].shape[-1] == prepared.encoder.input_sizes()[modality]
    np.testing.assert_array_equal(again.masks["history"], prepared.encoded.masks["history"])
    assert again.present.all()


def test_checkpoint_rebuilds_encoder(tmp_path):
    raw = load_assistments(write(toy_rows(), tmp_path / "toy.csv"), max_history=4)
    encoder = AssistmentsEncoder.fit(raw)
    encoded = encoder.transform(raw)
    config = ModelConfig(hidden_size=8, align_size=4)
    result = train_model(encoded, encoded, encoder.state["kinds"], config, LossConfig(), TrainConfig(epochs=1, batch_size=8),
                         torch.device("cpu"))
    data = assistments_data_info(raw, fold=2, seed=3)
    directory = save_checkpoint(tmp_path / "checkpoint", result.model, encoder, config, LossConfig(),
                                TrainConfig(epochs=1), data=data, metrics={})
    loaded = load_checkpoint(directory)
    assert isinstance(loaded.encoder, AssistmentsEncoder)
    assert loaded.config["task"] == "next_step"
    assert loaded.config["data"]["fold"] == 2
    assert loaded.config["data"]["max_history"] == 4
    assert loaded.config["data"]["load"]["rows"] == len(raw)
    np.testing.assert_allclose(predict(loaded.model, loaded.encoder.transform(raw)).probabilities,
                               predict(result.model, encoded).probabilities, rtol=1e-5)

