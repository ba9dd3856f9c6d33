"""The synthetic course: OULAD format, determinism, and the planted factors and outcome rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dsrsd.data import load_oulad
from dsrsd.data.engagement import WEEKLY
from dsrsd.data.synthetic import FACTORS, PRIVATE_FACTOR, generate_tables, synthetic_course

LEARNERS = 400


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return generate_tables(seed=3, learners=LEARNERS)


def forum_share(tables) -> pd.Series:
    log = tables["studentVle"].merge(tables["vle"][["id_site", "activity_type"]], on="id_site")
    clicks = log.pivot_table(index="id_student", columns="activity_type", values="sum_click", aggfunc="sum", fill_value=0)
    return clicks["forumng"] / clicks.sum(axis=1)


def test_same_seed_same_tables(tables):
    again = generate_tables(seed=3, learners=LEARNERS)
    for name, table in tables.items():
        pd.testing.assert_frame_equal(table, again[name], obj=name)


def test_other_seed_other_tables(tables):
    other = generate_tables(seed=4, learners=LEARNERS)
    assert not tables["truth"]["motivation"].equals(other["truth"]["motivation"])


def test_loader_builds_weekly_clicks():
    course = synthetic_course(seed=1, learners=120)
    raw = load_oulad(course.path)
    assert raw.engagement.form == WEEKLY
    assert raw.engagement.values.shape[0] == 120
    assert raw.engagement.values.sum() > 0
    assert raw.present.all()
    assert set(raw.keys["code_presentation"]) == {"2013B", "2013J", "2014B", "2014J"}
    # The loader sorts by key; the labels must follow the truth's outcome rule learner by learner.
    truth = raw.keys.merge(course.truth, on=["code_module", "code_presentation", "id_student"])
    fail_index = 2
    np.testing.assert_array_equal(raw.labels == fail_index, truth["risk_score"].to_numpy() < 0)


def test_course_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("DSRSD_CACHE_DIR", str(tmp_path))
    first = synthetic_course(seed=2, learners=80)
    assert first.path.parent == tmp_path
    stamp = (first.path / "studentVle.csv.gz").stat().st_mtime_ns
    second = synthetic_course(seed=2, learners=80)
    assert (second.path / "studentVle.csv.gz").stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(first.truth, second.truth)


def test_too_few_learners_rejected():
    with pytest.raises(ValueError, match="invalid number of synthetic learners 10"):
        synthetic_course(learners=10)


def test_outcome_follows_risk_score(tables):
    merged = tables["studentInfo"].merge(tables["truth"], on=["code_module", "code_presentation", "id_student"])
    assert ((merged["final_result"] == "Fail") == (merged["risk_score"] < 0)).all()
    assert 0.35 < (merged["final_result"] == "Fail").mean() < 0.65


def test_decided_groups_have_one_factor(tables):
    truth = tables["truth"]
    for modality, factor in PRIVATE_FACTOR.items():
        group = truth[truth["decided_by"] == modality]
        assert len(group) == int(0.2 * LEARNERS)
        others = [name for name in FACTORS if name != factor]
        assert (group[others] == 0).all().all(), modality
        assert (group[factor].abs() >= 1.0).all(), modality


def test_factors_show_where_planted(tables):
    truth = tables["truth"].set_index("id_student")
    mixed = truth[truth["decided_by"] == ""]
    registration = tables["studentRegistration"].set_index("id_student")["date_registration"]
    scores = tables["studentAssessment"].groupby("id_student")["score"].mean()
    lateness = (tables["studentAssessment"].groupby("id_student")["date_submitted"].mean())
    share = forum_share(tables)
    clicks = tables["studentVle"].groupby("id_student")["sum_click"].sum()

    def correlation(values: pd.Series, factor: str) -> float:
        return float(np.corrcoef(values.loc[mixed.index], mixed[factor])[0, 1])

    # Motivation, the shared factor, shows in every modality.
    assert correlation(registration, "motivation") < -0.8
    assert correlation(lateness, "motivation") < -0.8
    assert correlation(clicks, "motivation") > 0.6
    # Each private factor shows in its own modality only.
    assert correlation(scores, "skill") > 0.6
    assert correlation(share, "habit") > 0.8
    assert abs(correlation(share, "skill")) < 0.15
    assert abs(correlation(scores, "habit")) < 0.15
    assert abs(correlation(registration, "prior")) < 0.15
    education_rank = tables["studentInfo"].set_index("id_student")["highest_education"].map({
        name: rank for rank, name in enumerate(["No Formal quals", "Lower Than A Level", "A Level or Equivalent",
                                                "HE Qualification", "Post Graduate Qualification"])})
    assert correlation(education_rank, "prior") > 0.8
    assert abs(correlation(education_rank, "habit")) < 0.15
