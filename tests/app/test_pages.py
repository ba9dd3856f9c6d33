"""AppTest runs of every page on the shipped checkpoints: OULAD with the real data, the demo without it.

Each page is run clean, then with a knockout and a noise level set in the shared sidebar.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import PER_REGISTRATION_TABLES, read_text_table

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 180


@pytest.fixture
def data_root(oulad_dir, monkeypatch) -> Path:
    monkeypatch.setenv("DSRSD_DATA_DIR", str(oulad_dir.parent))
    return oulad_dir.parent


def run_page(name: str) -> AppTest:
    app = AppTest.from_file(str(REPO / name), default_timeout=TIMEOUT).run()
    assert not app.exception, [item.value for item in app.exception]
    return app


def summary_of(app: AppTest) -> str:
    """Return the Students page's sentence naming the modality that drives the prediction."""
    return next(item.value for item in app.markdown if "prediction" in item.value)


def set_what_if(app: AppTest, knockout: str, noise: str, level: float) -> AppTest:
    """Knock out one modality and add noise to another through the sidebar, then rerun."""
    toggles = {toggle.label: toggle for toggle in app.sidebar.toggle}
    sliders = {slider.label: slider for slider in app.sidebar.slider}
    toggles[f"Knock out {knockout}"].set_value(True)
    sliders[f"Noise on {noise} (std)"].set_value(level)
    app.run()
    assert not app.exception, [item.value for item in app.exception]
    return app


def test_home_shows_test_auc(data_root):
    app = run_page("app.py")
    metrics = {metric.label: metric.value for metric in app.metric}
    assert float(metrics["Test at-risk AUC"]) >= 0.97
    assert metrics["Cutoff"] == "end"


def test_home_without_data_opens_demo(tmp_path, monkeypatch):
    monkeypatch.setenv("DSRSD_DATA_DIR", str(tmp_path))
    app = run_page("app.py")
    assert app.sidebar.selectbox[0].value.endswith("synthetic-demo")
    banner = " ".join(item.value for item in app.info)
    assert "synthetic course" in banner
    assert "DSRSD_DATA_DIR" in banner
    metrics = {metric.label: metric.value for metric in app.metric}
    assert float(metrics["Test at-risk AUC"]) >= 0.95


def test_home_oulad_checkpoint_without_data(tmp_path, monkeypatch):
    monkeypatch.setenv("DSRSD_DATA_DIR", str(tmp_path))
    app = run_page("app.py")
    app.sidebar.selectbox[0].set_value(str(REPO / "checkpoints" / "oulad-final-outcome")).run()
    assert not app.exception, [item.value for item in app.exception]
    message = " ".join(item.value for item in app.info)
    assert "analyse.kmi.open.ac.uk/open_dataset" in message
    assert str(tmp_path / "oulad") in message
    assert not app.metric


@pytest.mark.parametrize("page", ["pages/1_Students.py", "pages/2_Representations.py", "pages/3_Covariance.py",
                                  "pages/7_Gates.py", "pages/4_Model_card.py"])
def test_page_without_data_uses_demo(page, tmp_path, monkeypatch):
    monkeypatch.setenv("DSRSD_DATA_DIR", str(tmp_path))
    app = run_page(page)
    assert any("synthetic course" in item.value for item in app.info)
    assert len(app.dataframe) + len(app.get("plotly_chart")) > 0


def test_truth_page_on_demo(tmp_path, monkeypatch):
    monkeypatch.setenv("DSRSD_DATA_DIR", str(tmp_path))
    app = run_page("pages/5_Truth.py")
    assert float(app.metric[0].value.rstrip("%")) >= 90
    ranking, probes, shifts = (frame.value for frame in app.dataframe)
    assert (ranking["ranked first"] >= 0.9).all()
    assert probes.set_index("factor").loc["motivation", "shared"] >= 0.9
    shifts = shifts.set_index("group")
    assert shifts.loc["Profile", "Platform engagement knocked out"] < 0.05
    assert shifts.loc["Profile", "Profile knocked out"] > 0.3
    assert any(item.value.startswith("The streams separate the factors") for item in app.caption)


def test_truth_page_needs_synthetic_checkpoint(data_root):
    app = run_page("pages/5_Truth.py")
    assert app.sidebar.selectbox[0].value.endswith("oulad-final-outcome")
    assert any("trained on the synthetic course" in item.value for item in app.info)
    assert not app.dataframe


def test_students_page_what_if(data_root):
    app = run_page("pages/1_Students.py")
    assert app.sidebar.selectbox[2].value.endswith("2014J")
    clean_table = app.dataframe[0].value
    clean_summary = summary_of(app)
    assert "drives this prediction" in clean_summary
    assert app.markdown[0].value.startswith("At-risk probability **")
    assert clean_table["at_risk"].between(0, 1).all()
    assert clean_table["no_data_in"].str.contains("Assessment history").any()

    set_what_if(app, "assessment history", "platform engagement", 1.0)
    perturbed_table = app.dataframe[0].value
    merged = clean_table.merge(perturbed_table, on="id_student", suffixes=("_clean", "_perturbed"))
    assert len(merged) == len(clean_table)
    assert (merged["at_risk_clean"] - merged["at_risk_perturbed"]).abs().max() > 0.05
    captions = [item.value for item in app.caption]
    assert "Assessment history: knocked out (what-if)" in captions
    assert "Assessment history" not in summary_of(app)
    assert "under the what-if" in app.markdown[0].value
    student_label = app.selectbox(key="students.student")
    assert "without what-if" in student_label.format_func(student_label.value)
    streams = next(item.value for item in app.caption if item.value.startswith("Stream values answer"))
    assert "Completeness holds" in streams
    specs = [chart.proto.spec for chart in app.get("plotly_chart")]
    stream_chart = next(spec for spec in specs if "Shapley value per stream" in spec)
    assert "Assessment history, shared" in stream_chart
    assert "Platform engagement, private" in stream_chart


def test_representations_page_what_if(data_root):
    app = run_page("pages/2_Representations.py")
    assert len(app.get("plotly_chart")) == 2
    assert any("have no point for it" in item.value for item in app.caption)
    set_what_if(app, "platform engagement", "assessment history", 0.8)
    captions = " ".join(item.value for item in app.caption)
    assert "Platform engagement is knocked out" in captions
    assert "Arrows run from a code's clean position" in captions
    assert len(app.get("plotly_chart")) == 2


def test_covariance_page_what_if(data_root):
    app = run_page("pages/3_Covariance.py")
    clean = {metric.label: metric.value for metric in app.metric}
    assert float(clean["Off-diagonal energy (decorrelation loss)"]) >= 0
    assert len(app.get("plotly_chart")) == 3
    ranks = app.dataframe[1].value
    assert (ranks["Effective rank, shared"] >= 1).all()
    set_what_if(app, "profile", "assessment history", 1.5)
    perturbed = {metric.label: metric.value for metric in app.metric}
    assert perturbed["Codes used"] != clean["Codes used"]
    assert app.selectbox(key="covariance.modality").options == ["Assessment history", "Platform engagement"]
    app.radio(key="covariance.view").set_value("Private space").run()
    assert not app.exception
    assert "Private space correlation: assessment history" in app.get("plotly_chart")[1].proto.spec
    assert any("Profile is knocked out" in item.value for item in app.caption)


def test_covariance_page_all_knocked_out(data_root):
    app = run_page("pages/3_Covariance.py")
    for toggle in app.sidebar.toggle:
        toggle.set_value(True)
    app.run()
    assert not app.exception
    assert any("No modality is available" in item.value for item in app.info)


def test_model_card_lists_knockout_metrics(data_root):
    app = run_page("pages/4_Model_card.py")
    table = app.dataframe[0].value
    assert "test" in set(table["evaluation"])
    row = table.set_index("evaluation").loc["test, assessment history knocked out"]
    assert row["at_risk_auc"] >= 0.90
    assert len(app.sidebar.toggle) == 0


def test_what_if_survives_page_switches(data_root):
    app = run_page("app.py")
    app.switch_page("pages/1_Students.py").run()
    app.sidebar.selectbox[2].set_value("GGG 2014J").run()
    set_what_if(app, "assessment history", "platform engagement", 2.0)
    for page in ["pages/3_Covariance.py", "pages/4_Model_card.py", "pages/3_Covariance.py", "pages/1_Students.py"]:
        app.switch_page(page).run()
        assert not app.exception, [item.value for item in app.exception]
        if page.endswith("Model_card.py"):
            continue
        toggles = {toggle.label: toggle.value for toggle in app.sidebar.toggle}
        sliders = {slider.label: slider.value for slider in app.sidebar.slider}
        assert toggles["Knock out assessment history"] is True, page
        assert sliders["Noise on platform engagement (std)"] == 2.0, page
        assert app.sidebar.selectbox[2].value == "GGG 2014J", page


def test_representations_whole_presentation(data_root):
    app = run_page("app.py")
    app.switch_page("pages/2_Representations.py").run()
    app.radio(key="widget.representations.scope").set_value("presentation").run()
    assert not app.exception, [item.value for item in app.exception]
    captions = " ".join(item.value for item in app.caption)
    assert "random sample of 1000 of 11260 learners" in captions
    app.radio(key="widget.representations.colour").set_value("Module").run()
    assert not app.exception
    app.switch_page("pages/3_Covariance.py").run()
    app.switch_page("pages/2_Representations.py").run()
    assert app.radio(key="widget.representations.scope").value == "presentation"
    assert app.radio(key="widget.representations.colour").value == "Module"


def test_representations_raw_shared_codes(data_root):
    app = run_page("pages/2_Representations.py")
    app.radio(key="widget.representations.shared").set_value("shared").run()
    assert not app.exception, [item.value for item in app.exception]
    charts = app.get("plotly_chart")
    assert len(charts) == 2


def test_representations_all_knocked_out(data_root):
    app = run_page("pages/2_Representations.py")
    for toggle in app.sidebar.toggle:
        toggle.set_value(True)
    app.run()
    assert not app.exception
    assert any("Every modality is knocked out" in item.value for item in app.info)
    assert not app.get("plotly_chart")


def test_gates_page_what_if(data_root):
    app = run_page("pages/7_Gates.py")
    clean = app.dataframe[0].value.set_index("modality")
    assert clean["mean_gate"].between(0, 1).all()
    assert clean.loc["Assessment history", "truly_missing"] > 0
    assert len(app.get("plotly_chart")) == 2
    learner_chart = json.loads(app.get("plotly_chart")[1].proto.spec)
    assert "Fusion gate weights of this learner" in json.dumps(learner_chart["layout"]["title"])
    assert list(learner_chart["data"][0]["y"]) == ["Profile", "Assessment history", "Platform engagement"]
    set_what_if(app, "profile", "platform engagement", 1.0)
    shifted = app.dataframe[0].value.set_index("modality")
    assert shifted.loc["Profile", "mean_gate_what_if"] == 0
    assert shifted.loc["Assessment history", "mean_shift"] > 0
    assert any("Profile is knocked out" in item.value for item in app.caption)


@pytest.fixture
def tiny_course_root(mini_oulad_dir, monkeypatch) -> Path:
    """A data folder whose only course, AAA 2013J, has three learners."""
    keep = set(read_text_table(mini_oulad_dir / "studentInfo.csv")["id_student"].iloc[:3])
    for name in PER_REGISTRATION_TABLES + ["studentAssessment"]:
        path = mini_oulad_dir / f"{name}.csv"
        frame = read_text_table(path)
        frame[frame["id_student"].isin(keep)].to_csv(path, index=False)
    monkeypatch.setenv("DSRSD_DATA_DIR", str(mini_oulad_dir.parent))
    return mini_oulad_dir.parent


@pytest.mark.parametrize("page", ["pages/2_Representations.py", "pages/3_Covariance.py", "pages/7_Gates.py"])
def test_tiny_cohort_gets_a_message(tiny_course_root, page):
    app = run_page(page)
    assert any("AAA 2013J has 3 learner(s)" in item.value for item in app.info), [item.value for item in app.info]
    assert not app.get("plotly_chart")


def test_tiny_cohort_students_page(tiny_course_root):
    app = run_page("pages/1_Students.py")
    assert len(app.dataframe[0].value) == 3
    assert any("drives this prediction" in item.value for item in app.markdown)


def test_selection_highlights_learners_in_both_maps(data_root):
    app = run_page("pages/2_Representations.py")
    cohort = app.session_state["representations.cohort"]
    app.session_state["representations.selected"] = {"cohort": cohort, "learners": [0, 1, 2]}
    app.run()
    assert not app.exception, [item.value for item in app.exception]
    assert any("3 learner(s) selected" in item.value for item in app.caption)
    specs = [chart.proto.spec for chart in app.get("plotly_chart")]
    assert all('"name":"selected"' in spec for spec in specs)
    assert '"name":"same learner"' in specs[0]
    assert '"name":"same learner"' not in specs[1]
    assert any("Mean modality gap" in metric.label for metric in app.metric)
    app.button(key="representations.clear").click().run()
    assert not any('"name":"selected"' in chart.proto.spec for chart in app.get("plotly_chart"))


def test_spec_checkpoint_pages(data_root):
    app = run_page("app.py")
    app.sidebar.selectbox[0].set_value(str(REPO / "checkpoints" / "student-performance")).run()
    metrics = {metric.label: metric.value for metric in app.metric}
    assert float(metrics["Test at-risk AUC"]) >= 0.9
    app.switch_page("pages/1_Students.py").run()
    assert not app.exception, [item.value for item in app.exception]
    assert app.sidebar.selectbox[2].value == "student_performance test"
    table = app.dataframe[0].value
    assert len(table) == 130
    assert set(table["recorded_outcome"]) == {"Pass", "Fail"}
    assert "drives this prediction" in summary_of(app)
    toggles = [toggle.label for toggle in app.sidebar.toggle]
    assert toggles == ["Knock out background", "Knock out behaviour", "Knock out grades"]
    app.switch_page("pages/3_Covariance.py").run()
    assert not app.exception, [item.value for item in app.exception]


@pytest.fixture
def identical_course_root(mini_oulad_dir, monkeypatch) -> Path:
    """A data folder whose only course has eight learners with identical records."""
    first = read_text_table(mini_oulad_dir / "studentInfo.csv")["id_student"].iloc[0]
    for name in PER_REGISTRATION_TABLES + ["studentAssessment"]:
        path = mini_oulad_dir / f"{name}.csv"
        frame = read_text_table(path)
        own = frame[frame["id_student"] == first]
        copies = [own.assign(id_student=str(900001 + index)) for index in range(8)]
        pd.concat(copies, ignore_index=True).to_csv(path, index=False)
    monkeypatch.setenv("DSRSD_DATA_DIR", str(mini_oulad_dir.parent))
    return mini_oulad_dir.parent


def test_identical_learners_no_crash(identical_course_root):
    # Each modality's codes coincide, so each map draws one stack of points per modality.
    representations = run_page("pages/2_Representations.py")
    assert len(representations.get("plotly_chart")) == 2
    metrics = {metric.label: metric.value for metric in representations.metric}
    assert metrics["Ratio"] == "1.00"

    covariance = run_page("pages/3_Covariance.py")
    assert any("codes barely vary" in item.value for item in covariance.warning)

    students = run_page("pages/1_Students.py")
    assert students.dataframe[0].value["at_risk"].nunique() == 1


def test_robustness_page_stored_and_live(data_root):
    app = run_page("app.py")
    app.switch_page("pages/6_Robustness.py").run()
    assert not app.exception, [item.value for item in app.exception]
    models = app.multiselect(key="robustness.models")
    assert "oulad-final-outcome" in models.value
    assert {"early", "coattention", "gbdt"} <= set(models.value)

    matrix = app.dataframe[0].value
    assert len(matrix) == 7   # every modality present, and six knockout subsets
    assert matrix.loc["profile+assessments+engagement", "dsrsd"] > 0.9
    assert matrix.loc["profile+engagement", "single-assessments"] == 0.5
    assert app.get("plotly_chart")

    models.set_value(["oulad-final-outcome", "single-assessments"]).run()
    app.selectbox(key="robustness.course").set_value("AAA 2014J").run()
    app.button(key="robustness.run").click().run()
    assert not app.exception, [item.value for item in app.exception]
    live = app.dataframe[1].value
    assert list(live.columns) == ["oulad-final-outcome", "single-assessments"]
    assert live.loc["profile+engagement", "single-assessments"] == 0.5
    assert live.loc["profile+assessments+engagement", "oulad-final-outcome"] > 0.8


def test_students_page_compares_models(data_root):
    app = run_page("pages/1_Students.py")
    comparison = app.dataframe[1].value
    assert {"oulad-final-outcome", "early", "gbdt"} <= set(comparison["model"])
    assert comparison["at_risk"].between(0, 1).all()
    # The page opens on the learner with the highest risk, so the shipped model's row repeats that value.
    table = app.dataframe[0].value
    shipped = comparison.set_index("model").loc["oulad-final-outcome", "at_risk"]
    assert abs(shipped - table["at_risk"].max()) < 1e-5


def test_gates_page_all_knocked_out(data_root):
    app = run_page("pages/7_Gates.py")
    for toggle in app.sidebar.toggle:
        toggle.set_value(True)
    app.run()
    assert not app.exception, [item.value for item in app.exception]
    assert any("Every modality is knocked out" in item.value for item in app.info)
    assert not any("share its weight" in item.value for item in app.caption)


def test_students_page_next_step_timeline(data_root):
    """A next-step checkpoint shows one assessment's risk table, then a student's timeline that follows the what-if."""
    app = run_page("pages/1_Students.py")
    app.sidebar.selectbox[0].set_value(str(REPO / "checkpoints" / "oulad-next-step")).run()
    assert not app.exception, [item.value for item in app.exception]
    subheaders = [item.value for item in app.subheader]
    assert any(value.startswith("Timeline of student") for value in subheaders)
    risk_table, clean = app.dataframe[0].value, app.dataframe[1].value
    assert set(risk_table["recorded_outcome"]) <= {"Passed", "Not passed"}
    assert risk_table["at_risk"].between(0, 1).all()
    assert len(clean) >= 2
    assert clean["due_day"].is_monotonic_increasing
    assert set(clean["recorded"]) <= {"Passed", "Not passed"}
    assert (clean["p_pass"] == clean["p_pass_clean"]).all()
    specs = [chart.proto.spec for chart in app.get("plotly_chart")]
    assert any("Probability to pass each assessment" in spec for spec in specs)
    assert any("Shapley value per modality and step" in spec for spec in specs)
    assert any("Probability for this assessment" in spec and "Not passed" in spec for spec in specs)

    set_what_if(app, "assessment history", "platform engagement", 1.0)
    perturbed = app.dataframe[1].value
    pd.testing.assert_series_equal(perturbed["p_pass_clean"], clean["p_pass_clean"])
    assert (perturbed["p_pass"] - perturbed["p_pass_clean"]).abs().max() > 0.01
    assert (perturbed["Assessment history"] == 0).all()
    assert "under the what-if" in next(item.value for item in app.markdown if item.value.startswith("Probability of not passing"))

    student = app.selectbox(key="students.step_student")
    other = int(student.options[-1].split()[0])         # options are labelled "ID  (at-risk ...)"
    student.set_value(other).run()
    assert f"Timeline of student {other}" in [item.value for item in app.subheader]
    picker = app.selectbox(key="students.assessment")
    last = int(picker.options[-1].split()[1])          # options are labelled "Assessment ID (...)"
    picker.set_value(last).run()
    assert app.selectbox(key="students.step_student").value == other
    assert f"Timeline of student {other}" in [item.value for item in app.subheader]
    assert not app.exception, [item.value for item in app.exception]
    assert f"assessment {last} " in next(value.value for value in app.subheader if "students," in value.value)
