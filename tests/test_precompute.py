"""Precompute on digits in a real local Ray (2 actors), read back with and without Ray."""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F

from rlkd.config import load_config
from rlkd.data import load_data
from rlkd.data.shards import ShardExpectation, load_shards, topk_to_log_probs
from rlkd.data.views import render_view, sample_views
from rlkd.difficulty import teacher_difficulty
from rlkd.errors import DataError
from rlkd.models import build_model, file_sha256
from rlkd.models.inference import predict_logits
from rlkd.stages import STAGES, execute
from tests.conftest import SMALL_TEACHER as TEACHER
from tests.conftest import run_overrides

ROOT = Path(__file__).resolve().parent.parent


def precompute(out, teacher_dir, *extra, force=False):
    cfg = load_config(None, run_overrides(teacher_dir) + list(extra))
    metrics = execute(STAGES["precompute"], cfg, out, force=force)
    return cfg, metrics


def expectation(cfg, teacher_dir):
    data = load_data(cfg.data)
    return ShardExpectation({s: data.split(s).fingerprint for s in ("train", "val", "test")},
                            [file_sha256(teacher_dir / "teacher.safetensors")], data.num_classes)


def model_of(path, data):
    return build_model("tiny_cnn", 10, 1, input_shape=data.input_shape, checkpoint=str(path))


def test_round_trip_matches_direct_teacher_forward(shards_dir, teacher_dir):
    from rlkd.models import read_metadata

    cfg = load_config(None, TEACHER)
    data = load_data(cfg.data)
    shards = load_shards(shards_dir, expect=expectation(cfg, teacher_dir))
    assert len(shards.manifest["shards"]) >= 2  # rows_per_shard=1000 splits 2874 rows
    tr = shards.splits["train"]
    assert tr.logits.shape == (1, len(data.train), 2, 10) and shards.splits["val"].logits.shape[2] == 1
    assert torch.equal(tr.label, data.train.labels)
    # val/test: the main teacher on the identity view, divided by its T*
    meta = read_metadata(teacher_dir / "teacher.safetensors")
    main = model_of(teacher_dir / "teacher.safetensors", data)
    direct = predict_logits(main, data.val.images) / meta["temperature"]
    assert torch.allclose(shards.splits["val"].logits[0, :, 0], direct, atol=2e-2, rtol=2e-3)
    # train: every row from the one fold teacher that never saw the sample, on that row's rendered view
    for k, name in enumerate(meta["folds"]):
        fold_meta = read_metadata(teacher_dir / name)
        held = torch.tensor(fold_meta["holdout"])
        fold = model_of(teacher_dir / name, data)
        for v in range(2):
            views = tr.views[held, v]
            expected = predict_logits(fold, render_view(data.train.images[held], views)) / fold_meta["temperature"]
            assert torch.allclose(tr.logits[0, held, v], expected, atol=2e-2, rtol=2e-3)
            other = model_of(teacher_dir / meta["folds"][1 - k], data)
            seen = predict_logits(other, render_view(data.train.images[held], views)) / fold_meta["temperature"]
            assert not torch.allclose(tr.logits[0, held, v], seen, atol=2e-2)
    # stored difficulty is the seed formula on the full-precision logits
    d_conf, d_ent = teacher_difficulty(direct)
    assert torch.allclose(shards.splits["val"].d_conf[:, 0], d_conf, atol=1e-3)
    assert torch.allclose(shards.splits["val"].d_entropy[:, 0], d_ent, atol=1e-3)
    man = shards.manifest
    assert man["teachers"][0]["cross_fit"] == 2 and man["teachers"][0]["temperature"] == meta["temperature"]
    assert man["data"]["splits"]["train"]["views"] == 2


def test_difficulty_hand_computed():
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0], [50.0, 0.0]])
    d_conf, d_ent = teacher_difficulty(logits)
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)) / math.log(2)
    assert torch.allclose(d_conf, torch.tensor([0.25, 0.5, 0.0]), atol=1e-6)
    assert torch.allclose(d_ent, torch.tensor([h, 1.0, 0.0]), atol=1e-6)


@pytest.mark.slow
def test_plain_pyarrow_and_datasets_read_without_ray(shards_dir):
    code = f"""
import sys
sys.modules['ray'] = None  # any import of ray now fails
import pyarrow.parquet as pq, pyarrow as pa, glob
files = sorted(glob.glob('{shards_dir}/*.parquet'))
t = pq.read_table(files[0])
assert pa.types.is_fixed_size_list(t.schema.field('logits_0').type), t.schema
assert t.schema.field('logits_0').type.value_type == pa.float16()
import datasets
ds = datasets.Dataset.from_parquet(files)
assert len(ds[0]['logits_0']) == 10
from rlkd.data.shards import load_shards
load_shards('{shards_dir}')
print('ok')
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr


def copy_shards(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_flipped_byte_names_the_shard(shards_dir, tmp_path):
    bad = copy_shards(shards_dir, tmp_path / "s")
    victim = sorted(bad.glob("*.parquet"))[1]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    victim.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=rf"{victim.name}: sha256 differs.*rlkd precompute --force"):
        load_shards(bad)


def test_truncated_shard_fails_size_check(shards_dir, tmp_path):
    bad = copy_shards(shards_dir, tmp_path / "s")
    victim = sorted(bad.glob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:-10])
    with pytest.raises(DataError, match=rf"{victim.name}: .* bytes, manifest says"):
        load_shards(bad)


def test_other_teacher_or_data_is_refused(shards_dir, teacher_dir):
    cfg = load_config(None, TEACHER)
    good = expectation(cfg, teacher_dir)
    other_data = expectation(load_config(None, ["data.seed=3"]), teacher_dir)
    with pytest.raises(DataError, match=r"data\.splits\.train\.fingerprint.*other data"):
        load_shards(shards_dir, expect=other_data)
    with pytest.raises(DataError, match=r"teachers .* are not the configured teacher"):
        load_shards(shards_dir, expect=ShardExpectation(teacher_sha256=["0" * 64]))
    load_shards(shards_dir, expect=good)


def test_teacher_for_other_data_is_refused_at_precompute(teacher_dir, tmp_path):
    from rlkd.errors import CheckpointError

    cfg = load_config(None, ["data.seed=5", f"teacher.checkpoint={teacher_dir / 'teacher.safetensors'}"])
    with pytest.raises(CheckpointError, match="made for another data set"):
        execute(STAGES["precompute"], cfg, tmp_path)


def test_nan_logits_are_refused(shards_dir, tmp_path):
    from rlkd.data.shards import MANIFEST, shard_entry

    bad = copy_shards(shards_dir, tmp_path / "s")
    victim = sorted(bad.glob("*.parquet"))[0]
    table = pq.read_table(victim)
    values = table.column("logits_0").combine_chunks().flatten().to_numpy(zero_copy_only=False).copy()
    values[3] = np.nan
    col = pa.FixedSizeListArray.from_arrays(pa.array(values, pa.float16()), 10)
    pq.write_table(table.set_column(table.schema.get_field_index("logits_0"), "logits_0", col), victim)
    manifest = json.loads((bad / MANIFEST).read_text())
    manifest["shards"] = [shard_entry(bad / e["file"]) for e in manifest["shards"]]  # hashes now match
    (bad / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"column logits holds NaN"):
        load_shards(bad)


def test_missing_row_is_refused(shards_dir, tmp_path):
    from rlkd.data.shards import MANIFEST, shard_entry

    bad = copy_shards(shards_dir, tmp_path / "s")
    victim = sorted(bad.glob("*.parquet"))[0]
    pq.write_table(pq.read_table(victim).slice(1), victim)
    manifest = json.loads((bad / MANIFEST).read_text())
    manifest["shards"] = [shard_entry(bad / e["file"]) for e in manifest["shards"]]
    (bad / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"missing or duplicated"):
        load_shards(bad)


@pytest.mark.slow
def test_rerun_is_a_noop_unless_forced_and_forced_shards_reach_the_env(shards_dir, teacher_dir):
    from rlkd.data.shards import read_manifest
    from rlkd.env.curriculum_env import shared_inputs

    out = shards_dir.parent
    before = (shards_dir / "manifest.json").read_text()
    _, metrics = precompute(out, teacher_dir)
    assert metrics.get("up_to_date") is True
    assert (shards_dir / "manifest.json").read_text() == before
    cfg = load_config(None, run_overrides(teacher_dir, shards_dir))
    _, first = shared_inputs(cfg)
    assert shared_inputs(cfg)[1] is first
    _, forced = precompute(out, teacher_dir, force=True)
    assert "up_to_date" not in forced and (shards_dir / "manifest.json").read_text() != before
    _, fresh = shared_inputs(cfg)  # the env's per-process inputs follow the new shards, not the stale ones
    assert fresh is not first and fresh.manifest == read_manifest(shards_dir)
    assert fresh.manifest["created"] != first.manifest["created"]


@pytest.mark.slow
def test_topk_and_several_teachers(teacher_dir, tmp_path, ray_session):
    second = tmp_path / "t2"
    second_teacher = load_config(None, ["teacher.epochs=3", "teacher.cross_fit=2", "teacher.seed=7"])
    execute(STAGES["teacher"], second_teacher, second)
    cfg, _ = precompute(tmp_path / "pre", teacher_dir, "teacher.topk=3",
                        f"teacher.additional=[{second / 'teacher.safetensors'}]")
    shards = load_shards(tmp_path / "pre" / "shards")
    assert shards.num_teachers == 2
    names = pq.read_schema(sorted((tmp_path / "pre" / "shards").glob("*.parquet"))[0]).names
    assert {"topk_idx_0", "topk_val_0", "topk_idx_1", "topk_val_1"} <= set(names) and "logits_0" not in names
    data = load_data(cfg.data)
    from rlkd.models import read_metadata

    t2 = model_of(second / "teacher.safetensors", data)
    full = predict_logits(t2, data.test.images) / read_metadata(second / "teacher.safetensors")["temperature"]
    probs = torch.softmax(full, 1)
    rebuilt = shards.splits["test"].logits[1, :, 0].exp()
    top = probs.topk(3, dim=1)
    assert torch.allclose(rebuilt.gather(1, top.indices), top.values, atol=2e-3)
    assert torch.allclose(rebuilt.sum(1), torch.ones(len(rebuilt)), atol=1e-3)


def test_topk_rebuild_formula():
    idx = torch.tensor([[2, 0]])
    val = torch.tensor([[0.6, 0.3]])
    p = topk_to_log_probs(idx, val, 5).exp()
    assert torch.allclose(p, torch.tensor([[0.3, 0.1 / 3, 0.6, 0.1 / 3, 0.1 / 3]]), atol=1e-6)


def test_views_are_deterministic_and_render_exactly():
    a = sample_views(50, 4, 12, 12, seed=3)
    assert np.array_equal(a, sample_views(50, 4, 12, 12, seed=3))
    assert not np.array_equal(a, sample_views(50, 4, 12, 12, seed=4))
    assert np.all(a[:, 0] == [0, 0, 12, 12, 0])  # view 0 is the identity
    assert np.all(a[:, 1:, 2] <= 12) and np.all(a[:, 1:, 0] + a[:, 1:, 2] <= 12)
    imgs = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    ident = torch.tensor([[0, 0, 8, 8, 0]] * 3)
    assert torch.equal(render_view(imgs, ident), imgs)
    flipped = render_view(imgs, torch.tensor([[0, 0, 8, 8, 1]] * 3))
    assert torch.equal(flipped, imgs.flip(-1))
    crop = render_view(imgs, torch.tensor([[0, 4, 4, 4, 0]] * 3))
    ref = F.interpolate(imgs[..., 0:4, 4:8].float(), size=(8, 8), mode="bilinear", align_corners=False)
    # inside the box it is plain bilinear resizing (edge pixels also blend the pixels next to the box)
    assert (crop.float() - ref.round())[..., 1:-1, 1:-1].abs().max() <= 1
    assert torch.equal(render_view(imgs, torch.tensor([[0, 4, 4, 4, 0]] * 3)), crop)


@pytest.mark.slow
def test_killed_writer_leaves_no_manifest(teacher_dir, tmp_path):
    out = tmp_path / "killed"
    env = dict(os.environ)  # conftest's short RAY_TMPDIR: Ray's socket paths must stay under 108 bytes
    cmd = [sys.executable, "-m", "rlkd.cli", "precompute", "--out", str(out),
           "--set", f"teacher.checkpoint={teacher_dir / 'teacher.safetensors'}", "--set", "data.views=16"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob(".shards.tmp-*")):
        time.sleep(0.05)
    assert list(out.glob(".shards.tmp-*")), "the writer never started"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "shards" / "manifest.json").exists()
    with pytest.raises(DataError, match="does not exist|did not finish"):
        load_shards(out / "shards")
