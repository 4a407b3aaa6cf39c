"""Shard integrity on the main path: sha256 once per process, manifest keys, safe replacement (fresh env inputs
after a forced precompute: test_precompute.py)."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest

import rlkd.data.shards as shards_module
from rlkd.config import load_config
from rlkd.data.shards import MANIFEST, load_shards, read_manifest
from rlkd.distill.inputs import load_run_inputs
from rlkd.errors import DataError
from rlkd.precompute.run import _finish
from tests.conftest import run_overrides


def copy_shards(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def flip_middle_byte(data: bytes) -> bytes:
    raw = bytearray(data)
    raw[len(raw) // 2] ^= 0xFF
    return bytes(raw)


@pytest.fixture
def hash_calls(monkeypatch):
    """Every file the shard reader hashes, in order (a counting wrapper around the real hashing helper)."""
    calls = []
    real = shards_module.file_sha256

    def counting(path, *args, **kwargs):
        calls.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(shards_module, "file_sha256", counting)
    return calls


def test_flipped_byte_is_refused_by_load_run_inputs(shards_dir, teacher_dir, tmp_path):
    bad = copy_shards(shards_dir, tmp_path / "shards")
    victim = sorted(bad.glob("*.parquet"))[1]
    size = victim.stat().st_size
    victim.write_bytes(flip_middle_byte(victim.read_bytes()))
    assert victim.stat().st_size == size
    cfg = load_config(None, run_overrides(teacher_dir, bad))
    with pytest.raises(DataError, match=rf"{re.escape(str(victim))}: sha256 differs.*rlkd precompute --force"):
        load_run_inputs(cfg)


def test_shards_are_hashed_once_per_process_and_manifest(shards_dir, tmp_path, hash_calls):
    folder = copy_shards(shards_dir, tmp_path / "shards")
    names = sorted(p.name for p in folder.glob("*.parquet"))
    load_shards(folder)
    assert sorted(hash_calls) == names
    load_shards(folder)
    assert sorted(hash_calls) == names  # the second load hashes nothing
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps(manifest))  # same content, other bytes: another manifest digest
    load_shards(folder)
    assert sorted(hash_calls) == sorted(names * 2)


def test_shard_changed_after_hashing_is_still_caught(shards_dir, tmp_path, hash_calls):
    folder = copy_shards(shards_dir, tmp_path / "shards")
    load_shards(folder)
    victim = sorted(folder.glob("*.parquet"))[1]
    original = victim.read_bytes()
    replacement = tmp_path / "replacement.parquet"
    replacement.write_bytes(flip_middle_byte(original))
    os.replace(replacement, victim)  # same size, new file: hashed again
    with pytest.raises(DataError, match=rf"{victim.name}: sha256 differs"):
        load_shards(folder)
    victim.write_bytes(original[:-1])
    with pytest.raises(DataError, match=rf"{victim.name}: \d+ bytes, manifest says"):
        load_shards(folder)


def drop(manifest: dict, dotted: str) -> None:
    *parents, last = dotted.split(".")
    node = manifest
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    del node[last]


@pytest.mark.parametrize("dotted, named", [
    ("shards", "shards"), ("num_classes", "num_classes"), ("data", "data"), ("data.splits", "data.splits"),
    ("data.splits.val", "data.splits.val"), ("data.splits.test.samples", "data.splits.test.samples"),
    ("teachers", "teachers"), ("teachers.0.checkpoint_sha256", "teachers[0].checkpoint_sha256"),
    ("shards.1.sha256", "shards[1].sha256"), ("shards.0.bytes", "shards[0].bytes"),
])
def test_manifest_missing_key_names_it(shards_dir, tmp_path, dotted, named):
    folder = copy_shards(shards_dir, tmp_path / "shards")
    manifest = json.loads((folder / MANIFEST).read_text())
    drop(manifest, dotted)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    expected = rf"{re.escape(str(folder / MANIFEST))}: missing key '{re.escape(named)}'.*rlkd precompute --force"
    with pytest.raises(DataError, match=expected):
        load_shards(folder)
    with pytest.raises(DataError, match=expected):
        read_manifest(folder)


def test_manifest_wrong_container_is_a_data_error(shards_dir, tmp_path):
    folder = copy_shards(shards_dir, tmp_path / "shards")
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps({**manifest, "shards": {"file": "x"}}))
    with pytest.raises(DataError, match=r"shards is dict, expected list"):
        load_shards(folder)
    (folder / MANIFEST).write_text("[1, 2]")
    with pytest.raises(DataError, match=r"a JSON list, expected an object"):
        load_shards(folder)


def new_shards_folder(shards_dir: Path, tmp_path: Path) -> tuple[Path, Path, dict]:
    """An existing `shards` folder and a finished writer's folder holding one new Parquet file."""
    final = copy_shards(shards_dir, tmp_path / "shards")
    tmp = tmp_path / ".shards.tmp-test"
    tmp.mkdir()
    shutil.copy(sorted(shards_dir.glob("*.parquet"))[0], tmp / "part-0.parquet")
    base = {k: v for k, v in read_manifest(final).items() if k not in ("rows", "shards")}
    return final, tmp, {**base, "created": "new"}


def asides(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.iterdir() if p.name.startswith(".shards.old-")]


def test_replacement_keeps_old_shards_until_the_new_ones_are_in_place(shards_dir, tmp_path, monkeypatch):
    final, tmp, base = new_shards_folder(shards_dir, tmp_path)
    old = (final / MANIFEST).read_text()
    real_rename = Path.rename
    seen_when_moving_in = []

    def watching_rename(self, target):
        if self == tmp:
            seen_when_moving_in.append([(a / MANIFEST).read_text() == old for a in asides(tmp_path)])
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", watching_rename)
    manifest = _finish(tmp, final, base)
    assert seen_when_moving_in == [[True]]  # the old folder, whole, set aside while the new one moved in
    assert read_manifest(final) == manifest and manifest["created"] == "new"
    assert [e["file"] for e in manifest["shards"]] == ["shard-00000.parquet"]
    assert asides(tmp_path) == [] and not tmp.exists()


def test_failed_replacement_puts_the_old_shards_back(shards_dir, tmp_path, monkeypatch):
    final, tmp, base = new_shards_folder(shards_dir, tmp_path)
    old = (final / MANIFEST).read_text()
    old_files = sorted(p.name for p in final.iterdir())
    real_rename = Path.rename

    def failing_rename(self, target):
        if self == tmp:
            raise OSError("injected: the new folder cannot be moved in")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", failing_rename)
    with pytest.raises(OSError, match="injected"):
        _finish(tmp, final, base)
    assert (final / MANIFEST).read_text() == old and sorted(p.name for p in final.iterdir()) == old_files
    assert asides(tmp_path) == []
