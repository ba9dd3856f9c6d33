"""Checkpoint upload: a zip of the shipped checkpoint installs, and unsafe or invalid archives leave nothing."""

from __future__ import annotations

import io
import pickle
import stat
import struct
import warnings
import zipfile
from pathlib import Path

import pytest

import dsrsd.upload
from dsrsd.checkpoint import CheckpointError, list_checkpoints, load_checkpoint
from dsrsd.settings import CHECKPOINTS_DIR
from dsrsd.upload import UploadError, checkpoint_name, install_checkpoint

SHIPPED = CHECKPOINTS_DIR / "oulad-final-outcome"


class CreatesMarker:
    """Pickle payload whose unpickling creates the file `path`."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


def make_zip(entries: dict[str, bytes], symlinks: tuple[str, ...] = ()) -> bytes:
    """Return a zip archive holding `entries` (name -> content); names in `symlinks` are stored as links."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, content in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = stat.S_IFLNK | 0o777 if name in symlinks else stat.S_IFREG | 0o644
            info.external_attr = mode << 16
            bundle.writestr(info, content)
    return buffer.getvalue()


def shipped_files(folder: str = "") -> dict[str, bytes]:
    return {f"{folder}{name}": (SHIPPED / name).read_bytes() for name in ("config.json", "model.safetensors")}


def patch_central_directory(archive: bytes, name: str, offset: int, value: int, size: int = 4) -> bytes:
    """Overwrite a field of entry `name`'s central directory header, as a hand-made archive could."""
    header = archive.index(b"PK\x01\x02")
    while True:
        name_length = struct.unpack_from("<H", archive, header + 28)[0]
        if archive[header + 46:header + 46 + name_length].decode() == name:
            break
        header = archive.index(b"PK\x01\x02", header + 4)
    patched = bytearray(archive)
    struct.pack_into("<I" if size == 4 else "<H", patched, header + offset, value)
    return bytes(patched)


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "uploads"


def assert_nothing_installed(root: Path) -> None:
    assert not root.exists() or list(root.iterdir()) == []


@pytest.mark.parametrize("folder", ["", "oulad-final-outcome/"])
def test_install_shipped_checkpoint(root, folder):
    path = install_checkpoint(make_zip(shipped_files(folder)), "my-model.zip", root)
    assert path == root / "my-model"
    assert list_checkpoints(root) == [path]
    assert (path / "model.safetensors").read_bytes() == (SHIPPED / "model.safetensors").read_bytes()
    assert (path / "config.json").read_bytes() == (SHIPPED / "config.json").read_bytes()
    assert load_checkpoint(path).config["architecture"] == "dsrsd-net"
    assert stat.S_IMODE(path.stat().st_mode) == 0o755


def test_half_written_never_listed(root, monkeypatch):
    seen = {}

    def fail_after_unpacking(directory):
        seen["listed"] = list_checkpoints(root)
        seen["files"] = sorted(item.name for item in Path(directory).iterdir())
        raise CheckpointError("stopped while validating")

    monkeypatch.setattr(dsrsd.upload, "load_checkpoint", fail_after_unpacking)
    with pytest.raises(CheckpointError, match="stopped while validating"):
        install_checkpoint(make_zip(shipped_files()), "model.zip", root)
    assert seen["files"] == ["config.json", "model.safetensors"]
    assert seen["listed"] == []
    assert_nothing_installed(root)


def test_existing_name_rejected(root):
    install_checkpoint(make_zip(shipped_files()), "model.zip", root)
    with pytest.raises(UploadError, match="a checkpoint named 'model' already exists"):
        install_checkpoint(make_zip(shipped_files()), "model.zip", root)
    with pytest.raises(UploadError, match="'oulad-final-outcome' already exists"):
        install_checkpoint(make_zip(shipped_files()), "oulad-final-outcome.zip", root, taken={"oulad-final-outcome"})
    assert [path.name for path in root.iterdir()] == ["model"]


@pytest.mark.parametrize("filename", [".hidden.zip", "two words.zip", "-dash.zip", "x" * 65 + ".zip", ".zip"])
def test_invalid_name_rejected(filename):
    with pytest.raises(UploadError, match="invalid checkpoint name"):
        checkpoint_name(filename)


def test_name_drops_folders():
    assert checkpoint_name("../../etc/model-2.zip") == "model-2"


def test_too_large_rejected(root, monkeypatch):
    archive = make_zip(shipped_files())
    monkeypatch.setattr(dsrsd.upload, "MAX_UPLOAD_BYTES", len(archive) - 1)
    with pytest.raises(UploadError, match="above the upload limit"):
        install_checkpoint(archive, "model.zip", root)
    assert_nothing_installed(root)


def test_not_a_zip_rejected(root):
    with pytest.raises(UploadError, match="model.zip is not a valid zip archive"):
        install_checkpoint(b"model.safetensors and config.json", "model.zip", root)
    assert_nothing_installed(root)


def test_zip_bomb_ratio_rejected(root):
    files = shipped_files()
    files["config.json"] = files["config.json"] + b" " * (20 * 2**20)
    with pytest.raises(UploadError, match="config.json expands .* times \\(limit 50\\), as a zip bomb does"):
        install_checkpoint(make_zip(files), "model.zip", root)
    assert_nothing_installed(root)


def test_unpacked_size_limit(root, monkeypatch):
    monkeypatch.setattr(dsrsd.upload, "MAX_UNPACKED_BYTES", 100_000)
    with pytest.raises(UploadError, match="would unpack to 0.4 MB, above the limit"):
        install_checkpoint(make_zip(shipped_files()), "model.zip", root)
    assert_nothing_installed(root)


def test_lying_size_header_rejected(root):
    # The header claims 100 bytes for config.json; zipfile stops there and the CRC check fails.
    archive = patch_central_directory(make_zip(shipped_files()), "config.json", offset=24, value=100)
    with pytest.raises(UploadError, match="config.json is damaged"):
        install_checkpoint(archive, "model.zip", root)
    assert_nothing_installed(root)


def test_encrypted_entry_rejected(root):
    archive = patch_central_directory(make_zip(shipped_files()), "model.safetensors", offset=8, value=0x1, size=2)
    with pytest.raises(UploadError, match="model.safetensors is encrypted"):
        install_checkpoint(archive, "model.zip", root)


@pytest.mark.parametrize("entry", ["../config.json", "/tmp/config.json", "a/../../config.json",
                                   "..\\config.json", "C:/config.json"])
def test_path_traversal_rejected(root, tmp_path, entry):
    files = shipped_files()
    files[entry] = files.pop("config.json")
    with pytest.raises(UploadError, match="points outside the checkpoint folder"):
        install_checkpoint(make_zip(files), "model.zip", root)
    assert_nothing_installed(root)
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_symlink_rejected(root):
    files = shipped_files()
    files["model.safetensors"] = b"/etc/passwd"
    with pytest.raises(UploadError, match="'model.safetensors' is a symbolic link"):
        install_checkpoint(make_zip(files, symlinks=("model.safetensors",)), "model.zip", root)
    assert_nothing_installed(root)


@pytest.mark.parametrize("extra", ["model.pt", "folder/readme.txt", "a/b/config.json", "__MACOSX/._config.json",
                                   "maps/index.json", "maps/AAA-2013J.safetensors"])
def test_other_files_rejected(root, tmp_path, extra):
    files = shipped_files()
    files[extra] = pickle.dumps(CreatesMarker(tmp_path / "marker"))
    with pytest.raises(UploadError, match=f"unexpected entry '{extra}'"):
        install_checkpoint(make_zip(files), "model.zip", root)
    assert not (tmp_path / "marker").exists()
    assert_nothing_installed(root)


def test_duplicate_entry_rejected(root):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the repeated name
        for name, content in shipped_files().items():
            bundle.writestr(name, content)
        bundle.writestr("config.json", b"{}")
    with pytest.raises(UploadError, match="config.json appears more than once"):
        install_checkpoint(buffer.getvalue(), "model.zip", root)


def test_files_in_two_folders_rejected(root):
    files = {"a/config.json": (SHIPPED / "config.json").read_bytes(),
             "b/model.safetensors": (SHIPPED / "model.safetensors").read_bytes()}
    with pytest.raises(UploadError, match="are in different folders"):
        install_checkpoint(make_zip(files), "model.zip", root)


def test_missing_weights_rejected(root):
    files = shipped_files()
    del files["model.safetensors"]
    with pytest.raises(UploadError, match="missing model.safetensors"):
        install_checkpoint(make_zip(files), "model.zip", root)
    assert_nothing_installed(root)


def test_pickle_weights_rejected(root, tmp_path):
    files = shipped_files()
    files["model.safetensors"] = pickle.dumps(CreatesMarker(tmp_path / "marker"), protocol=2)
    with pytest.raises(CheckpointError, match="is a pickle or torch.save archive"):
        install_checkpoint(make_zip(files), "model.zip", root)
    assert not (tmp_path / "marker").exists()
    assert_nothing_installed(root)


def test_truncated_weights_rejected(root):
    files = shipped_files()
    files["model.safetensors"] = files["model.safetensors"][:1000]
    with pytest.raises(CheckpointError, match="corrupt or truncated") as raised:
        install_checkpoint(make_zip(files), "model.zip", root)
    assert "model.zip/model.safetensors" in str(raised.value)
    assert ".upload-" not in str(raised.value)
    assert_nothing_installed(root)


def test_maps_folder_named(root):
    files = shipped_files("oulad-final-outcome/")
    files["oulad-final-outcome/maps/index.json"] = b"{}"
    with pytest.raises(UploadError, match="stored UMAP maps are not uploaded, so zip the checkpoint folder without"):
        install_checkpoint(make_zip(files), "model.zip", root)
    assert_nothing_installed(root)


def test_same_name_added_meanwhile(root, monkeypatch):
    def add_same_name(directory):
        (root / "model").mkdir()
        (root / "model" / "config.json").write_text("{}")

    monkeypatch.setattr(dsrsd.upload, "load_checkpoint", add_same_name)
    with pytest.raises(UploadError, match="'model' was added while this upload was checked"):
        install_checkpoint(make_zip(shipped_files()), "model.zip", root)
    assert [path.name for path in root.iterdir()] == ["model"]
    assert (root / "model" / "config.json").read_text() == "{}"


def test_unwritable_folder_named(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(UploadError, match="cannot write to the upload folder .*not-a-folder.*set DSRSD_UPLOAD_DIR"):
        install_checkpoint(make_zip(shipped_files()), "model.zip", blocker)


def test_baseline_checkpoint_rejected(root):
    baseline = CHECKPOINTS_DIR / "baselines" / "early"
    files = {name: (baseline / name).read_bytes() for name in ("config.json", "model.safetensors")}
    with pytest.raises(UploadError, match="contains a 'early-fusion' checkpoint"):
        install_checkpoint(make_zip(files), "early.zip", root)
    assert_nothing_installed(root)
