#!/usr/bin/env python
"""Feature-level KD on the embedded default: each feature loss alone (with labels) and added to KD, paired
against KD on the same seeds (docs/results.md "Feature-level KD").

Protocol: the teacher and the KD recipe are the main job's defaults (tune_configs/digits.yaml); the
teacher's head input (64 dims, stored fp16, no projection) is precomputed once with Ray Data. Each
method's feature weight is chosen from --weights by mean **val** accuracy (last epoch) on the selection
seeds; then every method, KD included, runs on the report seeds, never used for a choice, and the table
gives test (and val) accuracy at the last epoch, paired differences vs KD with 95% t intervals.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from rlkd.config import load_config
from rlkd.data import load_data
from rlkd.data.shards import load_shards
from rlkd.distill.run import DistillationRun
from rlkd.reports.stats import format_paired, paired_summary
from rlkd.stages import STAGES, execute

LOSSES = ("fitnet", "pkt", "rkd")
# a weight is RepDistiller's -b for the loss (rlkd.distill.feature_losses): each range holds its scripts' value
# (fitnet 100, pkt 30000, rkd 1) and a decade either side
DEFAULT_WEIGHTS = "fitnet=10,100,1000;pkt=3000,30000,300000;rkd=0.1,1,10"


def parse_weights(text: str) -> dict[str, list[float]]:
    grid = {}
    for part in text.split(";"):
        loss, _, values = part.partition("=")
        if loss not in LOSSES or not values:
            raise SystemExit(f"--weights: {part!r} is not loss=w,w,... with a loss in {', '.join(LOSSES)}")
        grid[loss] = [float(w) for w in values.split(",")]
    return grid


def final_accuracy(cfg, shards, data, seed: int) -> tuple[float, float]:
    """(val, test) accuracy % at the last epoch of one run."""
    run = DistillationRun(cfg, shards, seed, data)
    while not run.finished:
        run.epoch()
    return run.evaluate("val")[0], run.evaluate("test")[0]


def method_overrides(name: str, weight: float) -> list[str]:
    if name == "kd":
        return []
    loss, _, base = name.partition("+")
    mode = "labels" if base == "labels" else "kd"
    return [f"distill.mode={mode}", f"distill.feature.weights={{{loss}: {weight}}}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="runs/feature_kd")
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS,
                        help="feature weights tried per loss, chosen on val: loss=w,w,...;loss=...")
    parser.add_argument("--selection-seeds", default="100,101,102", help="choice seeds (seeds.choice)")
    parser.add_argument("--seeds", type=int, default=10, help="report seeds: the first N of seeds.evaluation")
    args = parser.parse_args()
    work = Path(args.workdir)
    base = ["teacher.embedding.store=true"]
    if not (work / "teacher" / "metrics.json").is_file():
        execute(STAGES["teacher"], load_config(None, base), work / "teacher")
    base.append(f"teacher.checkpoint={work / 'teacher' / 'teacher.safetensors'}")
    if not (work / "precompute" / "metrics.json").is_file():
        execute(STAGES["precompute"], load_config(None, base), work / "precompute")
    base.append(f"data.shards={work / 'precompute' / 'shards'}")
    cfg0 = load_config(None, base)
    data, shards = load_data(cfg0.data), load_shards(cfg0.data.shards)
    manifest = shards.manifest
    rows = manifest["rows"]
    plain = load_config(None, base[:1] + ["teacher.embedding.store=false", base[1]])
    if not (work / "precompute_plain" / "metrics.json").is_file():
        execute(STAGES["precompute"], plain, work / "precompute_plain")

    def folder_bytes(folder: Path) -> int:
        return sum(f.stat().st_size for f in folder.glob("*.parquet"))

    column_bytes = sum(pq.ParquetFile(f).metadata.row_group(g).column(i).total_compressed_size
                       for f in (work / "precompute" / "shards").glob("*.parquet")
                       for g in range(pq.ParquetFile(f).metadata.num_row_groups)
                       for i in range(pq.ParquetFile(f).metadata.num_columns)
                       if pq.ParquetFile(f).metadata.row_group(g).column(i).path_in_schema.startswith("embedding"))
    with_emb, without = folder_bytes(work / "precompute" / "shards"), folder_bytes(work / "precompute_plain" / "shards")
    storage = {"rows": rows, "dim": manifest["embedding"]["dim"],
               "shards_bytes_with": with_emb, "shards_bytes_without": without,
               "embedding_column_mb_per_10k_rows": round(column_bytes / rows * 1e4 / 1e6, 3),
               "shards_growth_mb_per_10k_rows": round((with_emb - without) / rows * 1e4 / 1e6, 3)}
    print("storage:", storage)

    weights = parse_weights(args.weights)
    report_seeds = cfg0.seeds.evaluation[0] + np.arange(args.seeds)
    selection = [int(s) for s in args.selection_seeds.split(",")]
    methods = [f"{loss}+{b}" for loss in LOSSES for b in ("labels", "kd")]
    chosen, selection_table = {}, {}
    start = time.perf_counter()
    for name in tqdm(methods, desc="choose weights on val", unit="method"):
        scores = {}
        for w in weights[name.partition("+")[0]]:
            cfg = load_config(None, base + method_overrides(name, w))
            scores[w] = float(np.mean([final_accuracy(cfg, shards, data, s)[0] for s in selection]))
        chosen[name] = max(scores, key=scores.get)
        selection_table[name] = scores
        print(f"{name}: val (last epoch, seeds {selection}) by weight {scores} -> {chosen[name]}")
    results = {}
    for name in tqdm(["kd", *methods], desc="report seeds", unit="method"):
        cfg = load_config(None, base + method_overrides(name, chosen.get(name, 0.0)))
        results[name] = [final_accuracy(cfg, shards, data, int(s)) for s in report_seeds]
    kd_val, kd_test = ([r[i] for r in results["kd"]] for i in (0, 1))
    lines = ["| method | weight (chosen on val) | test acc, last epoch | test − KD, 95% CI | val − KD, 95% CI |",
             "|---|---|---|---|---|"]
    summary = {}
    for name, rs in results.items():
        val, test = [r[0] for r in rs], [r[1] for r in rs]
        row = {"test_mean": float(np.mean(test)), "val_mean": float(np.mean(val))}
        if name == "kd":
            lines.append(f"| KD (distill.mode kd, no feature term) | – | {np.mean(test):.2f} ± "
                         f"{np.std(test, ddof=1):.2f} | – | – |")
        else:
            pt, pv = paired_summary(test, kd_test), paired_summary(val, kd_val)
            row.update(test_vs_kd=pt, val_vs_kd=pv)
            loss, _, b = name.partition("+")
            label = f"{loss} + labels (no KD)" if b == "labels" else f"KD + {loss}"
            lines.append(f"| {label} | {chosen[name]:g} | {np.mean(test):.2f} ± {np.std(test, ddof=1):.2f} | "
                         f"{format_paired(pt)} | {format_paired(pv)} |")
        summary[name] = row
    table = "\n".join(lines)
    print(table)
    out = {"storage": storage, "selection_seeds": selection, "report_seeds": [int(s) for s in report_seeds],
           "weights_tried": weights, "val_by_weight": selection_table, "chosen": chosen, "summary": summary,
           "seconds": round(time.perf_counter() - start, 1)}
    (work / "feature_kd.json").write_text(json.dumps(out, indent=2))
    (work / "feature_kd.md").write_text(table + "\n")
    print(f"wrote {work / 'feature_kd.json'}")


if __name__ == "__main__":
    main()
