#!/usr/bin/env python
"""The GPU check: what rlkd's engine does on an accelerator, in under 5 minutes, with nothing from outside.

Part 1 needs only the engine (torch, timm; no Ray, gymnasium or datasets), on synthetic data at the seed
project's shapes (3x84x84, 100 classes, 5,000 training samples):
  - a timm resnet18 teacher's logits (random init: the cost is what is measured) stored in memory as shards,
    then a mobilenetv2_100 student through `DistillationRun` with bf16 autocast and channels_last: the median
    epoch time of KD and of labels-only, and P1 = KD / labels;
  - the per-student epoch time of `StudentPopulation`s of K = 1, 8, 32, 128 MLP students (no BatchNorm: what
    batches), and its ratio to K = 1.
Part 2, only where Ray is importable: precompute on a GPU actor and 2 PPO iterations with fractional GPUs, on
the embedded digits data (the pipeline's own stages).

    python benchmarks/gpu_check.py                 # on the GPU machine; prints a markdown table
    python benchmarks/gpu_check.py --smoke         # anywhere: tiny sizes, to check that it runs
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from distill_speed import synthetic, train_seconds  # noqa: E402
from population_speed import measure  # noqa: E402

from rlkd.config import load_config  # noqa: E402
from rlkd.data.shards import SplitShards, TeacherShards  # noqa: E402
from rlkd.models import build_model  # noqa: E402
from rlkd.models.inference import predict_logits, resolve_device  # noqa: E402


def with_teacher_logits(data, shards: TeacherShards, teacher: str, device: torch.device) -> TeacherShards:
    """`synthetic`'s shards with the logits of a real (untrained) timm teacher, computed on `device`."""
    model = build_model(teacher, data.num_classes, data.in_chans, input_shape=data.input_shape).to(device)
    logits = predict_logits(model, data.train.images, device=device).float().cpu()
    tr = shards.splits["train"]
    return TeacherShards(shards.manifest, {"train": SplitShards(1, tr.label, tr.views, logits[None, :, None, :],
                                                                tr.d_conf, tr.d_entropy)})


def part_one(args, device: str) -> list[tuple[str, str]]:
    n, side, classes = (256, 32, 10) if args.smoke else (5000, 84, 100)
    data, shards = synthetic(n, side, 3, classes)
    shards = with_teacher_logits(data, shards, "resnet18", resolve_device(device))
    common = ["distill.epochs=1000", "curriculum.sampler=full", f"resources.device={device}", "distill.amp=true",
              "distill.channels_last=true", "student.arch=mobilenetv2_100", "student.model_kwargs={}",
              "distill.batch_size=128"]
    kd_cfg, labels_cfg = (load_config(None, common + [f"distill.mode={m}"]) for m in ("kd", "labels"))
    repeats = 1 if args.smoke else 3
    kd = statistics.median(train_seconds(kd_cfg, shards, data, repeats) for _ in range(2))
    labels = statistics.median(train_seconds(labels_cfg, shards, data, repeats) for _ in range(2))
    rows = [(f"KD epoch, resnet18 logits -> mobilenetv2_100, {n} x 3x{side}x{side}, {classes} classes", f"{kd:.3f} s"),
            ("labels-only epoch, same student and data", f"{labels:.3f} s"), ("P1 = KD / labels", f"{kd / labels:.3f}")]
    mlp = load_config(None, ["distill.epochs=1000", "curriculum.sampler=full", f"resources.device={device}",
                             "student.arch=mlp", "student.model_kwargs={hidden: [256]}"])
    small, small_shards = synthetic(1077, 12, 1, 10)
    base = None
    for k in ((1, 8) if args.smoke else (1, 8, 32, 128)):
        _, population = measure(mlp, small_shards, small, k, "mixed", 1 if args.smoke else 3)
        per_student = population / k
        base = base or per_student
        rows.append((f"population of K = {k} MLP students: epoch time per student", f"{per_student * 1e3:.1f} ms "
                     f"({per_student / base:.3f} x K = 1)"))
    return rows


def part_two(args, device: str) -> list[tuple[str, str]]:
    from rlkd.stages import run_pipeline

    gpu = device == "cuda"
    overrides = ["teacher.epochs=3", "teacher.cross_fit=0", "distill.epochs=2", "ppo.iterations=2",
                 "ppo.episodes_per_batch=2", f"resources.device={device}", "resources.num_env_runners=2",
                 "resources.num_cpus_per_env_runner=1", f"resources.num_gpus_per_env_runner={0.25 if gpu else 0}",
                 f"resources.precompute.gpus_per_actor={0.5 if gpu else 0}", "resources.precompute.actors=1"]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for stage in ("teacher", "precompute", "train"):
            start = time.perf_counter()
            run_pipeline(Path(work), None, overrides, stage=stage)
            rows.append((f"pipeline stage {stage} (digits, fractional GPUs)", f"{time.perf_counter() - start:.1f} s"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check the script runs (CPU is fine)")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
    rows = [("device", f"{name}, torch {torch.__version__}")] + part_one(args, device)
    if importlib.util.find_spec("ray") is not None and importlib.util.find_spec("gymnasium") is not None:
        rows += part_two(args, device)
    else:
        rows.append(("part 2 (Ray pipeline)", "skipped: Ray or gymnasium is not importable here"))
    print("\n| measure | value |\n|---|---|")
    for measure_name, value in rows:
        print(f"| {measure_name} | {value} |")


if __name__ == "__main__":
    main()
