"""AppTest runs of the Model card's checkpoint upload and of the sidebar with a damaged checkpoint."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dsrsd.app.first_use import ENTRY_LABEL
from dsrsd.checkpoint import list_checkpoints
from dsrsd.settings import CHECKPOINTS_DIR

REPO = Path(__file__).resolve().parents[2]
SHIPPED = CHECKPOINTS_DIR / "oulad-final-outcome"
SHIPPED_NAMES = [path.name for path in list_checkpoints(CHECKPOINTS_DIR)]
TIMEOUT = 180


@pytest.fixture
def upload_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "uploads"
    monkeypatch.setenv("DSRSD_UPLOAD_DIR", str(path))
    return path


def listed(picker) -> list[str]:
    """Return the sidebar's checkpoint options without the ASSISTments first-use entry, which is listed
    whenever its data is under DSRSD_DATA_DIR."""
    return [option for option in picker.options if option != ENTRY_LABEL]


def checkpoint_zip(weights: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.write(SHIPPED / "config.json", "config.json")
        if weights is None:
            bundle.write(SHIPPED / "model.safetensors", "model.safetensors")
        else:
            bundle.writestr("model.safetensors", weights)
    return buffer.getvalue()


def model_card() -> AppTest:
    app = AppTest.from_file(str(REPO / "pages/4_Model_card.py"), default_timeout=TIMEOUT).run()
    assert not app.exception, [item.value for item in app.exception]
    return app


def upload(app: AppTest, name: str, content: bytes) -> AppTest:
    app.get("file_uploader")[0].set_value((name, content, "application/zip"))
    app.run()
    app.button(key="card.add").click().run()
    assert not app.exception, [item.value for item in app.exception]
    return app


def test_upload_listed_in_sidebar(upload_dir):
    app = upload(model_card(), "retrained.zip", checkpoint_zip())
    assert any("Added retrained" in item.value for item in app.success)
    checkpoint = app.sidebar.selectbox[0]
    assert listed(checkpoint) == SHIPPED_NAMES + ["retrained (uploaded)"]
    assert (upload_dir / "retrained" / "model.safetensors").read_bytes() == (SHIPPED / "model.safetensors").read_bytes()

    checkpoint.set_value(str(upload_dir / "retrained")).run()
    assert not app.exception
    assert app.subheader[0].value == "retrained"


def test_bad_upload_shows_error(upload_dir):
    app = model_card()
    shown = app.subheader[0].value
    upload(app, "broken.zip", checkpoint_zip(weights=b"\x80\x02truncated pickle"))
    errors = " ".join(item.value for item in app.error)
    assert "The checkpoint was not added" in errors
    assert "is a pickle or torch.save archive" in errors
    assert listed(app.sidebar.selectbox[0]) == SHIPPED_NAMES
    assert app.subheader[0].value == shown
    assert not upload_dir.exists() or list(upload_dir.iterdir()) == []


def test_shipped_name_not_shadowed(upload_dir):
    app = upload(model_card(), "oulad-final-outcome.zip", checkpoint_zip())
    assert any("'oulad-final-outcome' already exists" in item.value for item in app.error)
    assert listed(app.sidebar.selectbox[0]) == SHIPPED_NAMES


@pytest.mark.parametrize("damage", ["truncated", "empty", "empty config", "future version"])
def test_damaged_checkpoint_keeps_app_running(upload_dir, damage):
    damaged = upload_dir / "damaged"
    shutil.copytree(SHIPPED, damaged)
    weights, config = damaged / "model.safetensors", damaged / "config.json"
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:5000])
    elif damage == "empty":
        weights.write_bytes(b"")
    elif damage == "empty config":
        config.write_text("")
    else:
        config.write_text(config.read_text().replace('"format_version": 1', '"format_version": 7'))

    app = model_card()
    app.sidebar.selectbox[0].set_value(str(damaged)).run()
    assert not app.exception, [item.value for item in app.exception]
    errors = " ".join(item.value for item in app.error)
    assert "This checkpoint cannot be loaded" in errors
    assert "Pick another one in the sidebar" in errors
    assert listed(app.sidebar.selectbox[0]) == SHIPPED_NAMES + ["damaged (uploaded)"]

    app.sidebar.selectbox[0].set_value(str(SHIPPED)).run()
    assert not app.exception
    assert not app.error
    assert app.subheader[0].value == "oulad-final-outcome"
