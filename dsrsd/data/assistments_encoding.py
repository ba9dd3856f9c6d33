"""Encode ASSISTments prediction rows as three modalities, fitted on the training students only.

Letters: N rows, Q questions, L history cap, T steps, F features.

- history (sequence, T = L + 1): the row's earlier questions, oldest first, then one query step for
  the question to predict, whose outcome features are zero and whose `is_target` is 1. A step
  carries the fitted success rates of its problem and skills, whether it shares a skill with the
  question to predict, and its correctness (also split by that shared-skill flag).
- behaviour (sequence, T = L): the earlier questions' attempt count, hint count, time to the first
  response and first action. The question to predict contributes nothing.
- context (static): school, teacher, tutor mode and answer type of the question to predict, which
  are known before the student answers.

Problem identity: the file of two skills already has 678 problems and the full release thousands,
so a problem enters as its success rate over the training students' answers, smoothed toward the
overall rate with `PRIOR_ANSWERS` pseudo-answers, plus a flag for a problem no training student
answered. Skills enter the same way, and as the shared-skill flag relative to the question to predict,
which keeps the width independent of the number of skills.

The fitted state is plain JSON (rates, categories, means, standard deviations), stored in the checkpoint.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from dsrsd.data.assistments import CONTEXT_COLUMNS, AssistmentsRaw
from dsrsd.data.encoding import MISSING, Encoded, _mean_std
from dsrsd.data.tables import DataError

ENCODER_KIND = "assistments"
MODALITIES = ["history", "behaviour", "context"]
HISTORY_FEATURES = [
    "problem rate", "problem unseen", "skill rate", "same skill", "correct", "incorrect",
    "same skill correct", "same skill incorrect", "is_target",
]
BEHAVIOUR_NUMERIC = ["log attempt_count", "log hint_count", "log seconds to first response"]
FIRST_ACTIONS = {0: "attempt", 1: "hint", 2: "scaffold"}
BEHAVIOUR_FEATURES = (BEHAVIOUR_NUMERIC + [f"{name} missing" for name in BEHAVIOUR_NUMERIC]
                      + [f"first action {name}" for name in FIRST_ACTIONS.values()])
# Pseudo-answers at the overall success rate added to every problem's and skill's count, so a
# problem answered twice in training gets a rate near the overall one instead of 0 or 1.
PRIOR_ANSWERS = 10
# A first response slower than 10 minutes means that the student left the problem. Longer times are
# clipped, so the few day-long values (up to 23 hours in the two-skill file) do not dominate.
MAX_RESPONSE_SECONDS = 600.0


class AssistmentsEncoder:
    """Encoder of `AssistmentsRaw` rows, fitted on the training students' questions; `state` is JSON-ready."""

    def __init__(self, state: dict):
        self.state = state

    @classmethod
    def fit(cls, raw: AssistmentsRaw) -> "AssistmentsEncoder":
        """Fit on every question of the students in `raw`, their first question included."""
        attempts = raw.attempts[raw.attempts["user_id"].isin(np.unique(raw.users()))]
        correct = attempts["correct"].to_numpy(np.float64)
        overall = float(correct.mean())
        problems = attempts.groupby("problem_id")["correct"].agg(["sum", "count"])
        skill_rows = attempts[["skills", "correct"]].explode("skills")
        skills = skill_rows.groupby("skills")["correct"].agg(["sum", "count"])

        state = {
            "kind": ENCODER_KIND,
            "modalities": list(MODALITIES),
            "kinds": {"history": "sequence", "behaviour": "sequence", "context": "static"},
            "engagement_form": None,
            "max_history": int(raw.max_history),
            "overall_rate": overall,
            # NOTE: a training answer counts toward its own problem's rate, so training rows see a trace
            # of their label. Leaving each training answer out of its own rate raised the mean test AUC
            # of the logistic regression in benchmarks/bench_assistments.py by only 0.003 on the two-skill file.
            "problem_rates": _smoothed(problems, overall),
            "skill_rates": _smoothed(skills, overall),
            "context_categories": {
                column: sorted(_context_values(attempts, column).unique().tolist()) for column in CONTEXT_COLUMNS
            },
        }
        state["steps"] = {"history": state["max_history"] + 1, "behaviour": state["max_history"]}
        encoder = cls(state)
        rates = encoder._rates(attempts)
        behaviour = _behaviour_numbers(attempts)
        state["rate_scaling"] = dict(zip(["mean", "std"], _mean_std(rates)))
        state["behaviour_scaling"] = dict(zip(["mean", "std"], _mean_std(behaviour)))
        state["feature_names"] = {
            "history": list(HISTORY_FEATURES),
            "behaviour": list(BEHAVIOUR_FEATURES),
            "context": [f"{column}={value}" for column in CONTEXT_COLUMNS
                        for value in state["context_categories"][column]],
        }
        return encoder

    @property
    def modalities(self) -> list[str]:
        return self.state["modalities"]

    def input_sizes(self) -> dict[str, int]:
        return {m: len(names) for m, names in self.state["feature_names"].items()}

    def transform(self, raw: AssistmentsRaw) -> Encoded:
        """Encode every row of `raw` from its earlier questions; unseen context categories encode as all zeros."""
        lengths = raw.target - raw.history_start                                   # N, earlier questions seen
        cap = self.state["max_history"]
        if len(raw) and lengths.max() > cap:
            raise DataError(f"a row sees {int(lengths.max())} earlier questions, more than the {cap} this encoder "
                            f"was fitted with; load the file with max_history={cap}")
        steps = np.arange(cap)
        earlier = raw.history_start[:, None] + steps[None, :]                      # N x L positions in attempts
        real = steps[None, :] < lengths[:, None]                                   # N x L
        earlier = np.where(real, earlier, 0)

        history = np.zeros((len(raw), cap + 1, len(HISTORY_FEATURES)), dtype=np.float32)
        history[:, :cap] = self._history_steps(raw, earlier) * real[..., None]
        history[np.arange(len(raw)), lengths] = self._query_steps(raw)
        history_mask = np.arange(cap + 1)[None, :] <= lengths[:, None]             # N x (L + 1)

        behaviour = self._behaviour_steps(raw.attempts)[earlier] * real[..., None]  # N x L x F
        context = self._context(raw.attempts.iloc[raw.target])
        present = np.ones((len(raw), len(self.modalities)), dtype=bool)
        return Encoded(
            modalities=self.modalities,
            inputs={"history": history, "behaviour": behaviour.astype(np.float32), "context": context},
            masks={"history": history_mask, "behaviour": real.copy()},
            present=present, labels=raw.labels.copy(), keys=raw.keys,
        )

    def _rates(self, attempts: pd.DataFrame) -> np.ndarray:
        """Q x 2: the fitted success rate of each question's problem and the mean rate of its skills."""
        overall = self.state["overall_rate"]
        problem_table = self.state["problem_rates"]
        problem_rate = pd.Series(problem_table["rates"], index=problem_table["ids"])
        problems = attempts["problem_id"].astype(str)
        by_problem = problem_rate.reindex(problems).fillna(overall).to_numpy()

        skill_table = self.state["skill_rates"]
        skill_rate = dict(zip(skill_table["ids"], skill_table["rates"]))
        # One mean per distinct skill tuple: a file has far fewer tuples than questions.
        codes, distinct = pd.factorize(attempts["skills"])
        tuple_rate = np.array([np.mean([skill_rate.get(s, overall) for s in skills]) for skills in distinct])
        by_skills = tuple_rate[codes] if len(distinct) else np.zeros(0)
        return np.stack([by_problem, by_skills], axis=1)

    def _scaled_rates(self, attempts: pd.DataFrame) -> np.ndarray:
        """Q x 3: standardised problem rate, problem unseen flag, standardised skill rate."""
        mean = np.asarray(self.state["rate_scaling"]["mean"])
        std = np.asarray(self.state["rate_scaling"]["std"])
        scaled = (self._rates(attempts) - mean) / std
        unseen = ~attempts["problem_id"].astype(str).isin(self.state["problem_rates"]["ids"]).to_numpy()
        return np.stack([scaled[:, 0], unseen.astype(np.float64), scaled[:, 1]], axis=1)

    def _history_steps(self, raw: AssistmentsRaw, earlier: np.ndarray) -> np.ndarray:
        """N x L x F history features of the earlier questions, relative to each row's question to predict."""
        attempts = raw.attempts
        rates = self._scaled_rates(attempts).astype(np.float32)[earlier]           # N x L x 3
        same = _shares_skill(attempts["skills"], earlier, raw.target).astype(np.float32)  # N x L
        correct = attempts["correct"].to_numpy(np.float32)[earlier]                # N x L
        return np.concatenate([
            rates, same[..., None], correct[..., None], (1 - correct)[..., None],
            (same * correct)[..., None], (same * (1 - correct))[..., None], np.zeros_like(same)[..., None],
        ], axis=-1)

    def _query_steps(self, raw: AssistmentsRaw) -> np.ndarray:
        """N x F query steps: the identity of the question to predict, no outcome, and is_target = 1."""
        rates = self._scaled_rates(raw.attempts.iloc[raw.target])
        query = np.zeros((len(raw), len(HISTORY_FEATURES)), dtype=np.float64)
        query[:, :3] = rates
        query[:, HISTORY_FEATURES.index("same skill")] = 1.0
        query[:, HISTORY_FEATURES.index("is_target")] = 1.0
        return query

    def _behaviour_steps(self, attempts: pd.DataFrame) -> np.ndarray:
        """Q x F behaviour features of every question."""
        numbers = _behaviour_numbers(attempts)
        missing = np.isnan(numbers)
        mean = np.asarray(self.state["behaviour_scaling"]["mean"])
        std = np.asarray(self.state["behaviour_scaling"]["std"])
        scaled = np.where(missing, 0.0, (numbers - mean) / std)
        action = attempts["first_action"].to_numpy()
        actions = np.stack([action == code for code in FIRST_ACTIONS], axis=1).astype(np.float64)
        return np.concatenate([scaled, missing.astype(np.float64), actions], axis=1)

    def _context(self, rows: pd.DataFrame) -> np.ndarray:
        blocks = []
        for column in CONTEXT_COLUMNS:
            known = self.state["context_categories"][column]
            values = _context_values(rows, column)
            codes = pd.Index(known).get_indexer(values)
            unknown = codes < 0
            if unknown.any():
                warnings.warn(
                    f"column {column} has {int(unknown.sum())} row(s) with categories unseen in training "
                    f"{sorted(values[unknown].unique().tolist())[:3]}; they are encoded as unknown", stacklevel=3,
                )
            block = np.zeros((len(values), len(known)), dtype=np.float32)
            block[np.flatnonzero(~unknown), codes[~unknown]] = 1.0
            blocks.append(block)
        return np.concatenate(blocks, axis=1)


def history_summary(encoded: Encoded, with_rates: bool = True) -> np.ndarray:
    """Summarise each row's history for a linear reference model: N x 7, or N x 4 without the rates.

    The first four columns are the log1p counts of Performance Factors Analysis: earlier correct and
    incorrect answers on a skill of the question to predict, then all earlier correct and incorrect
    answers. The last three are the query step's standardised problem rate, problem unseen flag and skill rate.
    """
    values = encoded.inputs["history"] * encoded.masks["history"][..., None]      # N x T x F
    counts = [np.log1p(values[..., HISTORY_FEATURES.index(name)].sum(axis=1))
              for name in ("same skill correct", "same skill incorrect", "correct", "incorrect")]
    if not with_rates:
        return np.stack(counts, axis=1)
    query = values[np.arange(len(values)), encoded.masks["history"].sum(axis=1) - 1]  # N x F
    return np.column_stack(counts + [query[:, :3]])


def _smoothed(counts: pd.DataFrame, overall: float) -> dict:
    """Return {"ids": [...], "rates": [...]}: (correct + PRIOR_ANSWERS * overall) / (answers + PRIOR_ANSWERS)."""
    rates = (counts["sum"] + PRIOR_ANSWERS * overall) / (counts["count"] + PRIOR_ANSWERS)
    return {"ids": [str(i) for i in counts.index], "rates": [float(r) for r in rates]}


def _context_values(rows: pd.DataFrame, column: str) -> pd.Series:
    return rows[column].fillna(MISSING).astype(str).reset_index(drop=True)


def _behaviour_numbers(attempts: pd.DataFrame) -> np.ndarray:
    """Q x 3 log-scaled attempt count, hint count and seconds to the first response; NaN where missing."""
    attempt_count = np.log1p(attempts["attempt_count"].to_numpy(np.float64).clip(min=0))
    hint_count = np.log1p(attempts["hint_count"].to_numpy(np.float64).clip(min=0))
    # The full release has some negative response times; they clip to 0.
    seconds = attempts["ms_first_response"].to_numpy(np.float64) / 1000.0
    response = np.log1p(seconds.clip(0.0, MAX_RESPONSE_SECONDS))
    return np.stack([attempt_count, hint_count, response], axis=1)


def _shares_skill(skills: pd.Series, earlier: np.ndarray, target: np.ndarray) -> np.ndarray:
    """N x L bool: question `earlier[n, j]` has a skill of question `target[n]`.

    Skill tuples are numbered, and the overlap of every pair of distinct tuples comes from one product
    of their tuple x skill incidence matrix, so the cost does not grow with the number of questions.
    """
    codes, distinct = pd.factorize(skills)
    skill_codes, _ = pd.factorize(pd.Series([skill for value in distinct for skill in value]))
    incidence = np.zeros((len(distinct), skill_codes.max() + 1 if len(skill_codes) else 0), dtype=np.float32)
    rows = np.repeat(np.arange(len(distinct)), [len(value) for value in distinct])
    incidence[rows, skill_codes] = 1.0
    overlap = (incidence @ incidence.T) > 0                                        # tuples x tuples
    return overlap[codes[earlier], codes[target][:, None]]
