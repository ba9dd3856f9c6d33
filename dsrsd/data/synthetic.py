"""A synthetic course in the OULAD table format, with planted latent factors and a known outcome rule.

Every learner gets four latent factors, each standard normal in the mixed group:

- `motivation` (shared): shows in every modality. Motivated learners register earlier (profile),
  submit earlier and score higher (assessments), and click more (engagement).
- `prior` (private to the profile): shows only in `highest_education` and `imd_band`.
- `skill` (private to the assessments): shows only in the scores.
- `habit` (private to the engagement): shows only in the share of forum clicks.

The outcome is Fail when `OUTCOME_WEIGHTS . factors + noise < 0`, and Pass otherwise. Learners of
the groups `decided_by = profile`, `assessments` or `engagement` have zero motivation and zero private
factors except one: the private factor of the deciding modality, drawn with magnitude 1-2.5. Their
other modalities look like an average learner's, so that modality alone decides their outcome.

The tables are written to the cache (`dsrsd.settings.cache_dir()`), together with `truth.csv`, which
contains every learner's factors and group. The same seed and size always give the same files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dsrsd.settings import cache_dir

FACTORS = ["motivation", "prior", "skill", "habit"]
# Weights of the outcome rule, in the order of FACTORS.
OUTCOME_WEIGHTS = np.array([0.8, 1.0, 1.0, 1.0])
OUTCOME_NOISE = 0.25
PRIVATE_FACTOR = {"profile": "prior", "assessments": "skill", "engagement": "habit"}
DECIDED_FRACTION = 0.2    # share of learners in each single-modality group; the rest are mixed
MODULE = "SYN"
PRESENTATIONS = ["2013B", "2013J", "2014B", "2014J"]   # the default split tests on 2014J
COURSE_DAYS = 259
DUE_DAYS = [19, 54, 89, 124, 159, 194]
EDUCATION = ["No Formal quals", "Lower Than A Level", "A Level or Equivalent", "HE Qualification",
             "Post Graduate Qualification"]
IMD_BANDS = [f"{10 * i}-{10 * (i + 1)}%" for i in range(10)]
ACTIVITY_TYPES = ["forumng", "oucontent", "quiz"]
GENERATOR_VERSION = 1     # bump when the generated tables change, so old cache folders are not reused


@dataclass(frozen=True)
class SyntheticCourse:
    """A generated course folder and the planted truth of its learners."""

    path: Path
    truth: pd.DataFrame   # REGISTRATION_KEY + FACTORS + decided_by, risk_score


def synthetic_dir(seed: int = 0, learners: int = 4000) -> Path:
    """Return the cache folder of the course generated with this seed and size."""
    return cache_dir() / f"synthetic-v{GENERATOR_VERSION}-seed{seed}-n{learners}"


def synthetic_course(seed: int = 0, learners: int = 4000) -> SyntheticCourse:
    """Return the course with this seed and size, generating it into the cache on first use."""
    if learners < 40:
        raise ValueError(f"invalid number of synthetic learners {learners}: use 40 or more")
    path = synthetic_dir(seed, learners)
    if not (path / "truth.csv").is_file():
        _write_atomically(path, seed, learners)
    truth = pd.read_csv(path / "truth.csv", keep_default_na=False)
    return SyntheticCourse(path, truth)


def _write_atomically(path: Path, seed: int, learners: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        for name, table in generate_tables(seed, learners).items():
            suffix = ".csv.gz" if name == "studentVle" else ".csv"
            table.to_csv(staging / f"{name}{suffix}", index=False, na_rep="?")
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def draw_factors(rng: np.random.Generator, learners: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the N x 4 factors (FACTORS order) and each learner's group ("" for mixed)."""
    factors = rng.standard_normal((learners, len(FACTORS)))
    groups = np.full(learners, "", dtype=object)
    decided = int(DECIDED_FRACTION * learners)
    order = rng.permutation(learners)
    for index, (modality, factor) in enumerate(PRIVATE_FACTOR.items()):
        rows = order[index * decided:(index + 1) * decided]
        groups[rows] = modality
        factors[rows] = 0.0
        magnitude = rng.uniform(1.0, 2.5, len(rows))
        factors[rows, FACTORS.index(factor)] = magnitude * rng.choice([-1.0, 1.0], len(rows))
    return factors, groups


def generate_tables(seed: int = 0, learners: int = 4000) -> dict[str, pd.DataFrame]:
    """Generate every OULAD table, plus `truth`, for `learners` learners spread over PRESENTATIONS."""
    rng = np.random.default_rng(seed)
    factors, groups = draw_factors(rng, learners)
    motivation, prior, skill, habit = factors.T
    risk_score = factors @ OUTCOME_WEIGHTS + OUTCOME_NOISE * rng.standard_normal(learners)

    keys = pd.DataFrame({
        "code_module": MODULE,
        "code_presentation": np.array(PRESENTATIONS)[np.arange(learners) % len(PRESENTATIONS)],
        "id_student": 100000 + np.arange(learners),
    })
    truth = keys.assign(**dict(zip(FACTORS, factors.T)), decided_by=groups, risk_score=risk_score)
    tables = {
        "studentInfo": _student_info(rng, keys, prior, risk_score),
        "studentRegistration": keys.assign(
            date_registration=np.round(-40 - 12 * motivation + 4 * rng.standard_normal(learners)),
            date_unregistration=np.nan,
        ),
        "courses": pd.DataFrame({"code_module": MODULE, "code_presentation": PRESENTATIONS,
                                 "module_presentation_length": COURSE_DAYS}),
        "truth": truth,
    }
    tables["assessments"], tables["studentAssessment"] = _assessments(rng, keys, motivation, skill)
    tables["vle"], tables["studentVle"] = _clicks(rng, keys, motivation, habit)
    return tables


def _bins(values: np.ndarray, count: int) -> np.ndarray:
    """Cut standard-normal values into `count` equally likely bins, so the middle bin is centred on 0."""
    edges = np.quantile(np.random.default_rng(0).standard_normal(100_000), np.linspace(0, 1, count + 1)[1:-1])
    return np.searchsorted(edges, values)


def _student_info(rng: np.random.Generator, keys: pd.DataFrame, prior: np.ndarray, risk_score: np.ndarray):
    learners = len(keys)
    # Two noisy readings of the prior factor: nothing else in the profile depends on it.
    education = np.array(EDUCATION)[_bins(prior + 0.3 * rng.standard_normal(learners), len(EDUCATION))]
    imd_band = np.array(IMD_BANDS)[_bins(prior + 0.3 * rng.standard_normal(learners), len(IMD_BANDS))]
    return keys.assign(
        gender=rng.choice(["F", "M"], learners),
        region=rng.choice(["East Anglian Region", "Scotland", "Wales", "London Region"], learners),
        highest_education=education,
        imd_band=imd_band,
        age_band=rng.choice(["0-35", "35-55", "55<="], learners, p=[0.7, 0.25, 0.05]),
        num_of_prev_attempts=rng.choice([0, 1], learners, p=[0.9, 0.1]),
        studied_credits=rng.choice([60, 90, 120], learners),
        disability=rng.choice(["N", "Y"], learners, p=[0.9, 0.1]),
        final_result=np.where(risk_score < 0, "Fail", "Pass"),
    )


def _assessments(rng: np.random.Generator, keys: pd.DataFrame, motivation: np.ndarray, skill: np.ndarray):
    rows = []
    for index, presentation in enumerate(PRESENTATIONS):
        for step, day in enumerate(DUE_DAYS):
            rows.append((MODULE, presentation, 1000 + 10 * index + step, "TMA", day, 100 / len(DUE_DAYS)))
        rows.append((MODULE, presentation, 1000 + 10 * index + len(DUE_DAYS), "Exam", np.nan, 100.0))
    assessments = pd.DataFrame(rows, columns=["code_module", "code_presentation", "id_assessment",
                                              "assessment_type", "date", "weight"])

    learners, steps = len(keys), len(DUE_DAYS)
    presentation_index = keys["code_presentation"].map({p: i for i, p in enumerate(PRESENTATIONS)}).to_numpy()
    # Motivated learners submit earlier and score higher; skill only raises the score.
    days_late = np.round(-3 * motivation[:, None] + rng.standard_normal((learners, steps)))
    score = 65 + 8 * motivation[:, None] + 10 * skill[:, None] + 4 * rng.standard_normal((learners, steps))
    submissions = pd.DataFrame({
        "id_assessment": (1000 + 10 * presentation_index[:, None] + np.arange(steps)[None, :]).ravel(),
        "id_student": np.repeat(keys["id_student"].to_numpy(), steps),
        "date_submitted": (np.array(DUE_DAYS)[None, :] + days_late).astype(np.int64).ravel(),
        "is_banked": 0,
        "score": np.clip(np.round(score), 0, 100).ravel(),
    })
    return assessments, submissions


def _clicks(rng: np.random.Generator, keys: pd.DataFrame, motivation: np.ndarray, habit: np.ndarray):
    vle = pd.DataFrame([
        (2000 + 10 * index + kind, MODULE, presentation, activity, np.nan, np.nan)
        for index, presentation in enumerate(PRESENTATIONS) for kind, activity in enumerate(ACTIVITY_TYPES)
    ], columns=["id_site", "code_module", "code_presentation", "activity_type", "week_from", "week_to"])

    learners, weeks = len(keys), COURSE_DAYS // 7 + 1
    # Motivation sets how much a learner clicks; habit only sets which share of it goes to the forum.
    volume = np.exp(2.0 + 0.6 * motivation)
    forum_share = 1 / (1 + np.exp(-1.5 * habit))
    shares = np.stack([forum_share, 0.6 * (1 - forum_share), 0.4 * (1 - forum_share)], axis=1)
    counts = rng.poisson(volume[:, None, None] * shares[:, None, :], size=(learners, weeks, len(ACTIVITY_TYPES)))

    learner, week, kind = np.nonzero(counts)
    presentation_index = keys["code_presentation"].map({p: i for i, p in enumerate(PRESENTATIONS)}).to_numpy()
    log = pd.DataFrame({
        "code_module": MODULE,
        "code_presentation": keys["code_presentation"].to_numpy()[learner],
        "id_student": keys["id_student"].to_numpy()[learner],
        "id_site": 2000 + 10 * presentation_index[learner] + kind,
        "date": 7 * week + rng.integers(0, 7, len(week)),
        "sum_click": counts[learner, week, kind],
    })
    log = log[log["date"] < COURSE_DAYS].reset_index(drop=True)
    return vle, log


__all__ = ["FACTORS", "OUTCOME_WEIGHTS", "PRIVATE_FACTOR", "SyntheticCourse", "draw_factors", "generate_tables",
           "synthetic_course", "synthetic_dir"]
