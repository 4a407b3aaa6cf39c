"""Output folders that survive kills and neighbours: atomic writes, one run per folder, ownership markers.

A re-run must finish the job without redoing finished work (or deleting what
another run owns), so every file rlkd writes appears whole or not at all, a
second run in a busy folder stops at once naming the first, and rlkd deletes a
folder only when its own marker says that this output folder created it.
Markers are read and written through pyarrow's file systems, so the same code
serves local paths and URIs such as `s3://bucket/x` (Tune's storage).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import socket
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from rlkd.errors import RlkdError

LOCK_FILE = ".rlkd.lock"
OWNER_FILE = "rlkd_owner.json"


@contextmanager
def replaced_atomically(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `path`, unique to this process and call; rename it onto `path` once written.

    Readers never see half a file, and two writers never share a temp name.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    with replaced_atomically(path) as tmp:
        tmp.write_text(text)


@contextmanager
def folder_lock(folder: Path, what: str) -> Iterator[None]:
    """Hold `folder`'s lock while `what` runs; fail at once if another live process holds it.

    flock is released by the kernel when the holder dies, so a run killed with -9
    never leaves a stale lock behind.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fh = open(path, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise RlkdError(f"{folder} is in use by {holder}; wait for it to finish, or use another "
                            f"--out / --workdir") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} ({what}, started "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S')})\n")
        fh.flush()
        yield
    finally:
        fh.close()  # closing the file releases the lock


def digest(text: str, length: int = 12) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def join_uri(base: str, *parts: str) -> str:
    """Join path parts onto a local path or a URI without turning `s3://b/x` into `<cwd>/s3:/b/x`."""
    return "/".join([base.rstrip("/"), *parts])


def _fs(location: str):
    import pyarrow.fs as pafs

    if "://" in location:
        return pafs.FileSystem.from_uri(location)
    return pafs.LocalFileSystem(), str(Path(location).absolute())


def exists(location: str) -> bool:
    import pyarrow.fs as pafs

    fs, path = _fs(location)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def write_owner(location: str, owner: dict) -> None:
    """Mark a folder (local or URI) as created by `owner` (e.g. {"out": ..., "config": ...})."""
    fs, path = _fs(location)
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(f"{path}/{OWNER_FILE}") as fh:
        fh.write(json.dumps(owner, indent=1).encode())


def read_owner(location: str) -> Optional[dict]:
    """The owner marker of a folder, or None when it has none (then rlkd did not create it)."""
    fs, path = _fs(location)
    try:
        with fs.open_input_stream(f"{path}/{OWNER_FILE}") as fh:
            owner = json.loads(fh.read().decode())
    except (FileNotFoundError, OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def remove_owned(location: str, out: Path) -> None:
    """Delete a folder only when its marker says `out` created it; otherwise say whose it is and stop."""
    owner = read_owner(location)
    if owner is None or owner.get("out") != str(out.resolve()):
        made_by = f"output folder {owner.get('out')}" if owner else "something other than rlkd"
        raise RlkdError(f"{location} already exists and was made by {made_by}; rlkd deletes only what this "
                        f"output folder ({out}) created. Use another --out or storage path, or remove it yourself")
    fs, path = _fs(location)
    fs.delete_dir(path)


def _clean(value):
    """JSON-safe metrics: numpy scalars become Python ones; NaN and inf become null rather than invalid JSON."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(_clean(data), indent=2, sort_keys=False) + "\n")
