"""`rlkd precompute`: score every (sample, view) with the teacher(s) on Ray Data into verified shards
(rlkd.precompute), or find shards made from the same inputs and keep them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rlkd.config import Config
from rlkd.data import load_data
from rlkd.data.shards import MANIFEST, read_manifest
from rlkd.errors import DataError
from rlkd.precompute.run import SHARDS_DIR, _summary, check_views, inputs_key, write_shards
from rlkd.precompute.teachers import load_teacher_bundles
from rlkd.stages.base import Stage


def run_precompute(cfg: Config, out: Path, force: bool = False) -> dict:
    data = load_data(cfg.data)
    check_views(cfg, data)
    bundles = load_teacher_bundles(cfg, data)
    key = inputs_key(cfg, data, bundles)
    final = out / SHARDS_DIR
    for leftover in [*out.glob(f".{SHARDS_DIR}.tmp-*"), *out.glob(f".{SHARDS_DIR}.old-*")]:
        shutil.rmtree(leftover)  # what a killed run left: OUT is locked, so no live run is writing them
    if not force and (final / MANIFEST).is_file():
        try:
            manifest = read_manifest(final)
            if manifest.get("inputs_key") == key:
                metrics = _summary(final, manifest, float("nan"))
                print(f"precompute: {final} is up to date with these inputs (use --force to redo it)")
                return {**metrics, "up_to_date": True}
        except DataError as exc:
            print(f"precompute: existing shards unusable ({exc}); writing them again")
    manifest, seconds = write_shards(cfg, data, bundles, key, final)
    metrics = _summary(final, manifest, seconds)
    print(f"precompute: {metrics['rows']} rows, {metrics['shards']} shards, {metrics['megabytes']:.2f} MB in "
          f"{seconds:.1f} s ({metrics['rows_per_s']:.0f} rows/s) -> {final}")
    return metrics


STAGE = Stage(
    "precompute", run_precompute,
    "score every (sample, view) with the teacher(s) on Ray Data; write verified shards + manifest.json",
    wire=lambda out: [f"data.shards={out / SHARDS_DIR}"],
    outputs=(f"{SHARDS_DIR}/manifest.json",),
    depends=("data", "teacher"),
    flags=(("force", "recompute even when shards for the same inputs exist"),),
)
