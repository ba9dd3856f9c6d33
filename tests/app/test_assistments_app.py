"""AppTest runs on the ASSISTments checkpoint the app trains on first use, with the two-skill subset.

`DSRSD_FIRST_USE_EPOCHS=1` keeps the training to a few seconds. The test session's private cache
folder keeps the checkpoint, so the first test trains it and the others load it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dsrsd.app.first_use import ENTRY_LABEL
from dsrsd.first_use import EPOCHS_VARIABLE

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 180
pytestmark = pytest.mark.filterwarnings("ignore:column .* categories unseen in training")


@pytest.fixture
def data_root(assistments_file, monkeypatch) -> Path:
    monkeypatch.setenv("DSRSD_DATA_DIR", str(assistments_file.parent.parent))
    monkeypatch.setenv(EPOCHS_VARIABLE, "1")
    return assistments_file.parent.parent


def open_entry(page: str) -> AppTest:
    """Run `page`, pick the first-use ASSISTments entry in the sidebar and run again."""
    app = AppTest.from_file(str(REPO / page), default_timeout=TIMEOUT).run()
    picker = app.sidebar.selectbox[0]
    entries = [option for option in picker.options if option == ENTRY_LABEL]
    assert entries, picker.options
    picker.select_index(picker.options.index(ENTRY_LABEL)).run()
    assert not app.exception, [item.value for item in app.exception]
    return app


def timeline_table(app: AppTest):
    return next(frame.value for frame in app.dataframe if "p_pass_clean" in frame.value.columns)


def test_students_timeline_what_if(data_root):
    app = open_entry("pages/1_Students.py")
    assert app.sidebar.selectbox[2].label == "Students (test fold)"
    assert app.sidebar.selectbox[2].value == "All test students"
    assert any("Trained on this machine" in item.value for item in app.sidebar.caption)
    students = app.dataframe[0].value
    assert students["at_risk"].between(0, 1).all()
    assert students["user_id"].is_unique
    clean = timeline_table(app)
    assert (clean["step"].diff().dropna() > 0).all()
    np.testing.assert_allclose(clean["p_pass"], clean["p_pass_clean"])
    assert clean["Behaviour"].abs().max() > 0

    toggles = {toggle.label: toggle for toggle in app.sidebar.toggle}
    sliders = {slider.label: slider for slider in app.sidebar.slider}
    toggles["Knock out behaviour"].set_value(True)
    sliders["Noise on history (std)"].set_value(1.0)
    app.run()
    assert not app.exception, [item.value for item in app.exception]
    perturbed = timeline_table(app)
    assert len(perturbed) == len(clean)
    np.testing.assert_allclose(perturbed["p_pass_clean"], clean["p_pass"])
    assert (perturbed["p_pass"] - clean["p_pass"]).abs().max() > 1e-3
    # In percentage points; coalitions that differ only in a knocked-out modality run in different batches,
    # so float32 rounding leaves about 1e-6.
    assert perturbed["Behaviour"].abs().max() < 1e-4
    assert perturbed["History"].abs().max() > 1e-2
    assert "Behaviour: knocked out (what-if)" in [item.value for item in app.caption]
    specs = [chart.proto.spec for chart in app.get("plotly_chart")]
    timeline_chart = next(spec for spec in specs if "Probability of a correct answer at each step" in spec)
    assert "without what-if" in timeline_chart
    assert "skill" in timeline_chart
    step_chart = next(spec for spec in specs if "Probability for this answer" in spec)
    assert "Incorrect" in step_chart


def test_teacher_cohort(data_root):
    app = open_entry("pages/1_Students.py")
    everyone = app.dataframe[0].value
    course = app.sidebar.selectbox[2]
    teacher = course.options[1]
    assert teacher.startswith("Teacher ")
    course.set_value(teacher).run()
    assert not app.exception, [item.value for item in app.exception]
    class_students = app.dataframe[0].value
    assert 0 < len(class_students) < len(everyone)
    assert set(class_students["user_id"]) <= set(everyone["user_id"])


@pytest.mark.parametrize("page", ["app.py", "pages/2_Representations.py", "pages/3_Covariance.py",
                                  "pages/7_Gates.py", "pages/4_Model_card.py", "pages/5_Truth.py"])
def test_other_pages_open(page, data_root):
    app = open_entry(page)
    assert len(app.metric) + len(app.info) + len(app.dataframe) + len(app.get("plotly_chart")) > 0


def test_entry_absent_without_data(tmp_path, monkeypatch):
    monkeypatch.setenv("DSRSD_DATA_DIR", str(tmp_path))
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    assert not app.exception, [item.value for item in app.exception]
    assert ENTRY_LABEL not in app.sidebar.selectbox[0].options


def test_entry_problem_named(tmp_path, monkeypatch):
    """An empty ASSISTments folder hides the entry, and the sidebar names the reason."""
    (tmp_path / "assistments2009").mkdir()
    monkeypatch.setenv("DSRSD_DATA_DIR", str(tmp_path))
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    assert not app.exception, [item.value for item in app.exception]
    assert ENTRY_LABEL not in app.sidebar.selectbox[0].options
    captions = [item.value for item in app.sidebar.caption if item.value.startswith("The ASSISTments model is not offered:")]
    assert len(captions) == 1, [item.value for item in app.sidebar.caption]
    assert "assistments2009" in captions[0]
