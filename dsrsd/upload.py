"""Install an uploaded checkpoint: a zip of a checkpoint directory, checked before anything is unpacked.

The archive may contain `config.json` and `model.safetensors`, at its top level or inside one folder,
and nothing else. It is rejected before unpacking when it is too large or would expand beyond
`MAX_UNPACKED_BYTES`. It is also rejected when an entry compresses by more than
`MAX_COMPRESSION_RATIO` (a zip bomb), or is a symlink, an absolute path, a path with `..`, encrypted
or repeated. The files are unpacked into a hidden staging folder beside the target and loaded with
`load_checkpoint`. Only then is the folder renamed into place, so a half-written or invalid
checkpoint never appears in `list_checkpoints`."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from dsrsd.checkpoint import CONFIG_FILE, WEIGHTS_FILE, CheckpointError, load_checkpoint

# The shipped checkpoint is 0.4 MB; the limits leave room for models hundreds of times larger.
MAX_UPLOAD_BYTES = 100 * 2**20
MAX_UNPACKED_BYTES = 200 * 2**20
# float32 weights barely compress; a JSON config compresses about 5 to 10 times.
MAX_COMPRESSION_RATIO = 50
ALLOWED_FILES = (CONFIG_FILE, WEIGHTS_FILE)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
COPY_BLOCK = 1 << 20


class UploadError(ValueError):
    """Raised when an uploaded checkpoint archive is rejected; the message names the reason and the fix."""


def checkpoint_name(filename: str) -> str:
    """Return the checkpoint name for an uploaded file such as `my-model.zip`, or raise `UploadError`."""
    name = Path(filename).name.removesuffix(".zip")
    if not NAME_PATTERN.fullmatch(name):
        raise UploadError(
            f"invalid checkpoint name {name!r} (from {filename!r}); name the zip file with letters, digits, "
            "'.', '_' or '-' (at most 64 characters, starting with a letter or digit)"
        )
    return name


def install_checkpoint(archive: bytes, filename: str, root: str | Path, taken: set[str] = frozenset()) -> Path:
    """Check the zip `archive`, unpack it into `root`/NAME and return that folder.

    NAME comes from `filename` (without `.zip`). `taken` lists names already in use elsewhere (the
    shipped checkpoints), which an upload may not shadow.

    Raises:
        UploadError: the archive is too large, not a zip, unsafe, contains other files, or NAME exists.
        CheckpointError: the unpacked files do not load as a checkpoint.
    """
    name = checkpoint_name(filename)
    root = Path(root)
    target = root / name
    if name in taken or target.exists():
        raise UploadError(f"a checkpoint named {name!r} already exists; rename the zip file and upload it again")
    if len(archive) > MAX_UPLOAD_BYTES:
        raise UploadError(
            f"{filename} is {len(archive) / 2**20:.1f} MB, above the upload limit of {MAX_UPLOAD_BYTES // 2**20} MB"
        )
    try:
        bundle = zipfile.ZipFile(io.BytesIO(archive))
    except zipfile.BadZipFile as error:
        raise UploadError(f"{filename} is not a valid zip archive ({error}); zip the checkpoint folder again") from error

    with bundle:
        members = _checked_members(bundle, filename)
        try:
            root.mkdir(parents=True, exist_ok=True)
            # A leading dot hides the staging folder from `list_checkpoints` until the rename.
            staging = Path(tempfile.mkdtemp(prefix=f".upload-{name}.", dir=root))
        except OSError as error:
            raise UploadError(f"cannot write to the upload folder {root} ({error}); set DSRSD_UPLOAD_DIR to a writable folder") from error
        try:
            for file_name, member in members.items():
                _unpack(bundle, member, staging / file_name, filename)
            try:
                load_checkpoint(staging)
            except CheckpointError as error:
                # The staging folder is deleted below, so name the uploaded archive instead.
                raise CheckpointError(str(error).replace(str(staging), filename)) from error
            architecture = json.loads((staging / CONFIG_FILE).read_text()).get("architecture")
            if architecture != "dsrsd-net":
                # The pages read DSRSD-Net's gates and streams; baselines are compared on the Robustness page.
                raise UploadError(f"{filename} contains a {architecture!r} checkpoint; the app's pages explain DSRSD-Net "
                                  "checkpoints only, so put baselines in checkpoints/baselines/ instead")
            staging.chmod(0o755)
            _rename_into_place(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


def _rename_into_place(staging: Path, target: Path) -> None:
    # os.rename onto an existing non-empty folder fails, so a checkpoint uploaded meanwhile is kept.
    try:
        os.rename(staging, target)
    except OSError as error:
        raise UploadError(
            f"a checkpoint named {target.name!r} was added while this upload was checked ({error}); "
            "rename the zip file and upload it again"
        ) from error


def _checked_members(bundle: zipfile.ZipFile, filename: str) -> dict[str, zipfile.ZipInfo]:
    """Return the archive's two checkpoint files by name, or raise `UploadError` naming the bad entry."""
    members: dict[str, zipfile.ZipInfo] = {}
    folders: set[str] = set()
    unpacked = 0
    for member in bundle.infolist():
        path = _safe_path(member, filename)
        if member.is_dir():
            continue
        if "maps" in path.parts[:-1]:
            raise UploadError(
                f"{filename}: unexpected entry {member.filename!r}; stored UMAP maps are not uploaded, so zip the "
                f"checkpoint folder without its maps/ folder. The app fits the maps when a course is first opened"
            )
        if len(path.parts) > 2 or path.name not in ALLOWED_FILES:
            raise UploadError(
                f"{filename}: unexpected entry {member.filename!r}; the archive may hold only {CONFIG_FILE} and "
                f"{WEIGHTS_FILE}, at its top level or in one folder"
            )
        if path.name in members:
            raise UploadError(f"{filename}: {path.name} appears more than once; keep one copy")
        if member.flag_bits & 0x1:
            raise UploadError(f"{filename}: {member.filename} is encrypted; upload an archive without a password")
        ratio = member.file_size / max(member.compress_size, 1)
        if ratio > MAX_COMPRESSION_RATIO:
            raise UploadError(
                f"{filename}: {member.filename} expands {ratio:.0f} times (limit {MAX_COMPRESSION_RATIO}), as a "
                "zip bomb does; a real checkpoint compresses far less"
            )
        unpacked += member.file_size
        folders.add(str(path.parent))
        members[path.name] = member

    if unpacked > MAX_UNPACKED_BYTES:
        raise UploadError(
            f"{filename} would unpack to {unpacked / 2**20:.1f} MB, above the limit of {MAX_UNPACKED_BYTES // 2**20} MB"
        )
    if len(folders) > 1:
        raise UploadError(f"{filename}: {CONFIG_FILE} and {WEIGHTS_FILE} are in different folders; zip one checkpoint folder")
    missing = [name for name in ALLOWED_FILES if name not in members]
    if missing:
        raise UploadError(f"{filename}: missing {', '.join(missing)}; zip a checkpoint folder that contains both files")
    return members


def _safe_path(member: zipfile.ZipInfo, filename: str) -> PurePosixPath:
    name = member.filename
    mode = member.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UploadError(f"{filename}: {name!r} is a symbolic link; links are not unpacked, so zip the files themselves")
    path = PurePosixPath(name)
    if "\\" in name or path.is_absolute() or ".." in path.parts or re.match(r"[A-Za-z]:", name):
        raise UploadError(f"{filename}: entry {name!r} points outside the checkpoint folder; zip the folder's files only")
    return path


def _unpack(bundle: zipfile.ZipFile, member: zipfile.ZipInfo, destination: Path, filename: str) -> None:
    # zipfile reads at most the size the entry's header declares and checks its CRC at the end, so a
    # lying header cannot expand past the limit checked above.
    try:
        with bundle.open(member) as source, open(destination, "xb") as sink:
            shutil.copyfileobj(source, sink, COPY_BLOCK)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise UploadError(f"{filename}: {member.filename} is damaged ({error}); zip the checkpoint folder again") from error
    destination.chmod(0o644)


__all__ = ["MAX_UPLOAD_BYTES", "UploadError", "checkpoint_name", "install_checkpoint"]
