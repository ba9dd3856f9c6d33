"""Two sessions of the app in one process share the cached model and arrays; neither may change them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dsrsd.app import state
from dsrsd.settings import CHECKPOINTS_DIR

REPO = Path(__file__).resolve().parents[2]
SHIPPED = str(CHECKPOINTS_DIR / "oulad-final-outcome")
TIMEOUT = 180


@pytest.fixture
def data_dir(oulad_dir, monkeypatch) -> str:
    monkeypatch.setenv("DSRSD_DATA_DIR", str(oulad_dir.parent))
    return str(oulad_dir)


def students_session() -> AppTest:
    app = AppTest.from_file(str(REPO / "pages/1_Students.py"), default_timeout=TIMEOUT).run()
    assert not app.exception, [item.value for item in app.exception]
    return app


def parameters_sha256(model) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def arrays_sha256(encoded) -> str:
    digest = hashlib.sha256()
    for array in [*encoded.inputs.values(), *encoded.masks.values(), encoded.present, encoded.labels]:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def fail_load(*args, **kwargs):
    raise AssertionError("the checkpoint was loaded again instead of coming from the shared cache")


def test_what_if_stays_in_its_session(data_dir, monkeypatch):
    watcher = students_session()
    before = watcher.dataframe[0].value.copy()
    # Both calls must be served from the cache the sessions use, so they return the shared objects.
    monkeypatch.setattr(state, "load_checkpoint", fail_load)
    shared_model = state.cached_checkpoint(SHIPPED, "cpu").model
    shared_cohorts = state.cached_cohorts(SHIPPED, "cpu", data_dir)
    model_hash, arrays_hash = parameters_sha256(shared_model), arrays_sha256(shared_cohorts.encoded)

    editor = students_session()
    toggles = {toggle.label: toggle for toggle in editor.sidebar.toggle}
    sliders = {slider.label: slider for slider in editor.sidebar.slider}
    toggles["Knock out assessment history"].set_value(True)
    sliders["Noise on platform engagement (std)"].set_value(2.5)
    sliders["Noise on profile (std)"].set_value(1.0)
    editor.run()
    assert not editor.exception, [item.value for item in editor.exception]
    edited = editor.dataframe[0].value
    assert (edited["at_risk"].to_numpy() != before["at_risk"].to_numpy()).any()

    watcher.run()
    assert not watcher.exception, [item.value for item in watcher.exception]
    after = watcher.dataframe[0].value
    assert after.equals(before)
    assert not any(toggle.value for toggle in watcher.sidebar.toggle)
    assert all(slider.value == 0.0 for slider in watcher.sidebar.slider)

    assert parameters_sha256(shared_model) == model_hash
    assert arrays_sha256(shared_cohorts.encoded) == arrays_hash
    assert state.cached_checkpoint(SHIPPED, "cpu").model is shared_model
    assert not shared_model.training
    assert all(not parameter.requires_grad and parameter.grad is None for parameter in shared_model.parameters())


def test_cached_arrays_read_only(data_dir):
    students_session()
    cohorts = state.cached_cohorts(SHIPPED, "cpu", data_dir)
    for array in cohorts.encoded.inputs.values():
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0
    with pytest.raises(ValueError, match="read-only"):
        cohorts.encoded.present[0, 0] = False
