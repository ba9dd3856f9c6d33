"""Load the ASSISTments 2009-2010 skill-builder file as next-attempt prediction rows.

Letters: Q questions (attempts), N prediction rows, L history cap.

The file has one row per (question, skill): `order_id` identifies one student's answer to one
problem, and the full release repeats it once per skill of a multi-skill problem. Loading drops the
leftover unnamed index column, removes exact duplicate rows (counted), keeps original problems
only (scaffolding rows, `original` = 0, are removed and counted) and collapses every `order_id` to
one question whose `skills` is the sorted tuple of its skill ids. Expanding a question per skill
would put copies of one answer, with one label, into a student's history and into the targets.

For each student, questions are ordered by `order_id`, which ASSISTments assigns in time order (the
file has no timestamps). Every question after a student's first is one prediction row: predict its
`correct` from the student's earlier questions only, at most the last `MAX_HISTORY` of them.
`AssistmentsEncoder` (in `dsrsd.data.assistments_encoding`) turns the rows into model inputs.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dsrsd.data.oulad import OUTCOME_CLASSES
from dsrsd.data.tables import DataError

log = logging.getLogger(__name__)

# Maximum number of earlier questions per row. In the two-skill file the cap cuts the history of 0.8%
# of the rows (a student's median is 8 questions), and it keeps the sequence arrays small on the full file.
MAX_HISTORY = 50
FOLDS = 5
VALIDATION_FRACTION = 0.15
# Folder names under the data root, in the order they are searched.
DATA_FOLDERS = ("assistments2009", "assistments2009_skillbuilder_subset")
DOWNLOAD_URL = "https://sites.google.com/site/assistmentsdata/home/2009-2010-assistment-data"

REQUIRED_COLUMNS = [
    "user_id", "order_id", "problem_id", "skill_id", "correct", "attempt_count", "ms_first_response",
    "hint_count", "first_action", "answer_type", "tutor_mode", "school_id", "teacher_id",
]
ID_COLUMNS = ["user_id", "order_id", "problem_id"]
BEHAVIOUR_COLUMNS = ["attempt_count", "hint_count", "ms_first_response", "first_action"]
CONTEXT_COLUMNS = ["school_id", "teacher_id", "tutor_mode", "answer_type"]
NO_SKILL = "(none)"
# The checkpoint's cutoff: every row sees the student's answers before the one it predicts.
BEFORE_ANSWER = "before_answer"

# Labels use the outcome classes, so that every model, metric and page works unchanged.
CORRECT_LABEL = OUTCOME_CLASSES.index("Pass")
INCORRECT_LABEL = OUTCOME_CLASSES.index("Fail")


@dataclass
class LoadStats:
    """Counts of the rows loading kept and removed, logged once per load."""

    file: str
    encoding: str
    rows_read: int
    duplicate_rows: int       # exact copies of an earlier row, removed
    scaffolding_rows: int     # rows with original = 0, removed
    merged_skill_rows: int    # extra rows of multi-skill questions, merged into their question
    questions: int
    students: int
    problems: int
    skills: int
    rows: int                 # prediction rows: every question after a student's first

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class AssistmentsRaw:
    """Prediction rows before encoding. `attempts` is shared by every subset; the row arrays index into it."""

    attempts: pd.DataFrame       # Q questions sorted by (user_id, order_id); `skills` contains tuples of skill ids
    target: np.ndarray           # N, position in `attempts` of the question to predict
    history_start: np.ndarray    # N, position of the row's first earlier question in its history
    labels: np.ndarray           # N, CORRECT_LABEL or INCORRECT_LABEL
    max_history: int             # L, the maximum number of earlier questions per row
    stats: LoadStats

    def __len__(self) -> int:
        return len(self.target)

    def subset(self, rows: np.ndarray) -> "AssistmentsRaw":
        positions = np.flatnonzero(rows) if rows.dtype == bool else rows
        return AssistmentsRaw(self.attempts, self.target[positions], self.history_start[positions],
                              self.labels[positions], self.max_history, self.stats)

    @property
    def keys(self) -> pd.DataFrame:
        """N x [user_id, order_id, step, problem_id, skill_id, skill]; step counts a student's questions from 1."""
        rows = self.attempts.iloc[self.target]
        return pd.DataFrame({
            "user_id": rows["user_id"].to_numpy(),
            "order_id": rows["order_id"].to_numpy(),
            "step": rows["step"].to_numpy(),
            "problem_id": rows["problem_id"].to_numpy(),
            "skill_id": [";".join(skills) for skills in rows["skills"]],
            "skill": rows["skill_name"].to_numpy(),
        })

    def users(self) -> np.ndarray:
        """Return the student of every row."""
        return self.attempts["user_id"].to_numpy()[self.target]


def find_assistments_file(root: str | Path) -> Path:
    """Return the skill-builder CSV under the data root, or `root` itself when it is a file.

    Searches `DATA_FOLDERS` in order; a folder must contain exactly one `.csv` or `.csv.gz` file.
    When `root` has none of those folders, `root` itself may be the folder of the file.
    """
    root = Path(root)
    if root.is_file():
        return root
    for name in DATA_FOLDERS:
        folder = root / name
        if folder.is_dir():
            return _only_csv(folder)
    if root.is_dir() and _csv_files(root):
        return _only_csv(root)
    raise DataError(f"no ASSISTments folder under {root}: download the skill-builder CSV from {DOWNLOAD_URL} "
                    f"(README, Getting ASSISTments 2009), put it into {root / DATA_FOLDERS[0]}/ (or "
                    f"{DATA_FOLDERS[1]}/), and set DSRSD_DATA_DIR to {root} or to the folder that contains yours")


def _csv_files(folder: Path) -> list[Path]:
    return sorted(list(folder.glob("*.csv")) + list(folder.glob("*.csv.gz")))


def _only_csv(folder: Path) -> Path:
    files = _csv_files(folder)
    if len(files) == 1:
        return files[0]
    if files:
        raise DataError(f"{folder} contains {len(files)} CSV files ({', '.join(f.name for f in files)}); "
                        "keep only the skill-builder file there")
    raise DataError(f"{folder} contains no .csv or .csv.gz file; put the skill-builder file there")


def read_skill_builder(path: str | Path) -> tuple[pd.DataFrame, str]:
    """Read the CSV as UTF-8, or as Latin-1 with a warning when it is not valid UTF-8; return (frame, encoding).

    Raises:
        DataError: the file is missing, unreadable as CSV, or lacks a required column.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist; download the skill-builder file (see README, Getting ASSISTments 2009)")
    encoding = "utf-8"
    try:
        frame = _read_csv(path, encoding)
    except UnicodeDecodeError as error:
        warnings.warn(f"{path} is not valid UTF-8 ({error.reason}); reading it as Latin-1",
                      stacklevel=2)
        encoding = "latin-1"
        frame = _read_csv(path, encoding)
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing required column(s) {missing}; the skill-builder file has columns "
                        f"{REQUIRED_COLUMNS} among others")
    return frame, encoding


def _read_csv(path: Path, encoding: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, encoding=encoding, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(f"{path} cannot be read as CSV ({error})") from error


def load_assistments(path: str | Path, max_history: int = MAX_HISTORY) -> AssistmentsRaw:
    """Load the skill-builder file into next-attempt prediction rows (see the module docstring).

    `path` is the file, or a data root that `find_assistments_file` searches.
    """
    if max_history < 1:
        raise ValueError(f"invalid max_history {max_history}: use 1 or more earlier questions")
    if Path(path).is_dir():
        path = find_assistments_file(path)
    frame, encoding = read_skill_builder(path)
    rows_read = len(frame)
    frame = frame.drop(columns=[c for c in frame.columns if str(c).startswith("Unnamed:")])

    duplicates = frame.duplicated()
    frame = frame[~duplicates]
    scaffolding = np.zeros(len(frame), dtype=bool)
    if "original" in frame.columns:
        scaffolding = (pd.to_numeric(frame["original"], errors="coerce") == 0).to_numpy()
        frame = frame[~scaffolding]
    frame = _checked_numbers(frame, path)
    attempts = _collapse_questions(frame, path)

    attempts = attempts.sort_values(["user_id", "order_id"], kind="stable").reset_index(drop=True)
    attempts["step"] = attempts.groupby("user_id").cumcount() + 1
    start_of_user = attempts.index.to_numpy() - attempts["step"].to_numpy() + 1
    target = np.flatnonzero(attempts["step"].to_numpy() > 1)
    history_start = np.maximum(start_of_user[target], target - max_history)
    labels = np.where(attempts["correct"].to_numpy()[target] == 1, CORRECT_LABEL, INCORRECT_LABEL).astype(np.int64)

    stats = LoadStats(
        file=str(path), encoding=encoding, rows_read=rows_read, duplicate_rows=int(duplicates.sum()),
        scaffolding_rows=int(scaffolding.sum()), merged_skill_rows=len(frame) - len(attempts),
        questions=len(attempts), students=int(attempts["user_id"].nunique()),
        problems=int(attempts["problem_id"].nunique()),
        skills=len({skill for skills in attempts["skills"] for skill in skills}), rows=len(target),
    )
    log.info("loaded %s: %s", path, stats.as_dict())
    if len(target) == 0:
        raise DataError(f"{path}: no student has two or more questions, so there is no row to predict")
    return AssistmentsRaw(attempts, target, history_start, labels, max_history, stats)


def _checked_numbers(frame: pd.DataFrame, path) -> pd.DataFrame:
    """Parse the id, label and behaviour columns as numbers, or raise `DataError` naming the first bad value."""
    frame = frame.copy()
    for column in ID_COLUMNS + ["correct"] + BEHAVIOUR_COLUMNS:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if column in ID_COLUMNS + ["correct"]:
            bad |= frame[column].isna()
        if bad.any():
            example = frame[column][bad].iloc[0]
            raise DataError(f"{path}: column {column!r} has {int(bad.sum())} missing or non-numeric value(s), "
                            f"for example {example!r}; fix or remove those rows")
        frame[column] = values
    invalid = ~frame["correct"].isin([0, 1])
    if invalid.any():
        raise DataError(f"{path}: column 'correct' must be 0 or 1, but contains {frame['correct'][invalid].iloc[0]:g} "
                        f"in {int(invalid.sum())} row(s); keep first-attempt correctness only")
    for column in ID_COLUMNS + ["correct"]:
        frame[column] = frame[column].astype(np.int64)
    return frame


def _id_texts(values: pd.Series) -> pd.Series:
    """Return ids as text: `1.0` -> `1`, other text stripped, missing -> NO_SKILL."""
    numbers = pd.to_numeric(values, errors="coerce")
    whole = numbers.notna() & (numbers == numbers.round())
    text = values.astype(object).where(values.isna(), values.astype(str).str.strip())
    text[whole] = numbers[whole].astype(np.int64).astype(str)
    return text.fillna(NO_SKILL).astype(str)


def _collapse_questions(frame: pd.DataFrame, path) -> pd.DataFrame:
    """Merge the rows of one order_id into one question; its skills are the sorted tuple of their skill ids.

    Every column but the skill columns is taken from the first row. Rows of one order_id that disagree
    on the student or problem are an error, because one order_id is one student's answer to one
    problem. Rows that disagree on `correct` keep the first row's value, with a warning that counts them.
    """
    skill_text = _id_texts(frame["skill_id"])
    names = frame["skill_name"].fillna(skill_text).astype(str) if "skill_name" in frame.columns else skill_text
    frame = frame.assign(skill_text=skill_text.to_numpy(), skill_label=names.to_numpy())
    grouped = frame.groupby("order_id", sort=False)
    for column in ["user_id", "problem_id"]:
        conflicting = grouped[column].nunique() > 1
        if conflicting.any():
            raise DataError(f"{path}: order_id {int(conflicting.index[conflicting][0])} has rows with different "
                            f"{column} values; one order_id is one answer, so fix or remove the conflicting rows")
    conflicting = grouped["correct"].nunique() > 1
    if conflicting.any():
        warnings.warn(f"{path}: {int(conflicting.sum())} order_id(s), for example {int(conflicting.index[conflicting][0])}, "
                      "have rows with different correct values; the first row of each is kept", stacklevel=3)

    columns = ["user_id", "problem_id", "correct"] + BEHAVIOUR_COLUMNS + CONTEXT_COLUMNS
    attempts = grouped.head(1).set_index("order_id")[columns].copy()
    attempts["skills"] = [(skill,) for skill in grouped["skill_text"].first().reindex(attempts.index)]
    attempts["skill_name"] = grouped["skill_label"].first().reindex(attempts.index)
    # Grouping in Python is slow, so only the multi-skill questions take that path.
    multi = frame[frame["order_id"].duplicated(keep=False)].groupby("order_id", sort=False)
    if len(multi):
        skills = multi["skill_text"].agg(lambda values: tuple(sorted(set(values) - {NO_SKILL})) or (NO_SKILL,))
        attempts.loc[skills.index, "skills"] = pd.Series(list(skills), index=skills.index, dtype=object)
        labels = multi["skill_label"].agg(lambda values: "; ".join(dict.fromkeys(values)))
        attempts.loc[labels.index, "skill_name"] = labels
    for column in ["tutor_mode", "answer_type"]:
        attempts[column] = attempts[column].astype(object).where(attempts[column].notna(), None)
    for column in ["school_id", "teacher_id"]:
        attempts[column] = _id_texts(attempts[column]).where(attempts[column].notna(), None)
    return attempts.reset_index()


def student_folds(users: np.ndarray, folds: int = FOLDS, seed: int = 0) -> dict[int, int]:
    """Assign every distinct student to one of `folds` folds of near-equal size, in a seeded random order."""
    if folds < 2:
        raise ValueError(f"invalid folds {folds}: use 2 or more")
    students = np.unique(users)
    if len(students) < folds:
        raise DataError(f"only {len(students)} student(s) have a row to predict, fewer than the {folds} folds")
    order = np.random.default_rng(seed).permutation(students)
    return {int(student): position % folds for position, student in enumerate(order)}


def fold_split(raw: AssistmentsRaw, fold: int, folds: int = FOLDS, seed: int = 0,
               validation_fraction: float = VALIDATION_FRACTION) -> np.ndarray:
    """Return the split of every row: fold `fold`'s students are test; a seeded share of the others is validation."""
    if not 0 <= fold < folds:
        raise ValueError(f"invalid fold {fold}: use 0 to {folds - 1}")
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"invalid validation_fraction {validation_fraction}: use a value in [0, 1)")
    users = raw.users()
    assignment = student_folds(users, folds, seed)
    in_test = np.array([assignment[int(user)] == fold for user in users])
    rest = np.unique(users[~in_test])
    # Seeded by fold as well, so each fold holds out its own validation students.
    held_out = np.random.default_rng([seed, fold]).choice(
        rest, size=int(round(validation_fraction * len(rest))), replace=False)
    split = np.where(in_test, "test", np.where(np.isin(users, held_out), "validation", "train"))
    return split.astype(str)


def assistments_data_info(raw: AssistmentsRaw, fold: int, folds: int = FOLDS, seed: int = 0) -> dict:
    """Describe the rows and split for a checkpoint's `data` section, so the split can be rebuilt from it."""
    return {
        "dataset": "assistments", "task": "next_step", "file": Path(raw.stats.file).name,
        "fold": fold, "folds": folds, "validation_seed": seed, "max_history": raw.max_history,
        "protocol": f"student fold {fold} of {folds} (seed {seed}) is test; a seeded "
                    f"{VALIDATION_FRACTION:.0%} of the other students is validation",
        "load": raw.stats.as_dict(),
        "students_sha256": students_fingerprint(raw),
    }


def students_fingerprint(raw: AssistmentsRaw) -> str:
    """Return the SHA-256 of the sorted ids of the students with a row: the folds depend on exactly this set."""
    students = np.unique(raw.users()).astype(np.int64)
    return hashlib.sha256(students.tobytes()).hexdigest()


def prepare_assistments_data(path: str | Path, fold: int, folds: int = FOLDS, seed: int = 0,
                             max_history: int = MAX_HISTORY):
    """Load the file, split it for `fold` and fit the encoder on the training students only.

    Returns `dsrsd.pipeline.PreparedData` (raw, split, encoder, every row encoded).
    """
    from dsrsd.data.assistments_encoding import AssistmentsEncoder
    from dsrsd.pipeline import PreparedData

    raw = load_assistments(path, max_history)
    split = fold_split(raw, fold, folds, seed)
    if not (split == "train").any():
        raise DataError(f"{path}: fold {fold} leaves no training student; use more students or fewer folds")
    encoder = AssistmentsEncoder.fit(raw.subset(split == "train"))
    return PreparedData(raw, split, encoder, encoder.transform(raw))
