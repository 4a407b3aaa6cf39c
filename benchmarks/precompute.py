"""Precompute throughput: the Ray Data pipeline vs a plain single-process torch loop.

Both run the same `score_rows` over the same rows, teacher and batch size, in
one process, side by side. Ray's fixed start-up cost (ray.init, and the
pipeline's own start: actors, teacher load, first block) is measured apart from
the rows/s ratio.

    python benchmarks/precompute.py                 # digits + synthetic 20,000 x 3 x 64 x 64 / resnet18
    python benchmarks/precompute.py --sizes digits  # the small case only
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from rlkd.config import PrecomputeResources, ResourcesConfig, load_config  # noqa: E402
from rlkd.data import load_data  # noqa: E402
from rlkd.data.views import VIEW_FIELDS, identity_views  # noqa: E402
from rlkd.models import build_model, save_weights  # noqa: E402
from rlkd.precompute.run import write_scored_rows  # noqa: E402
from rlkd.precompute.scoring import LoadedTeacher, score_rows  # noqa: E402
from rlkd.precompute.teachers import TeacherBundle, WeightsBlob  # noqa: E402
from rlkd.ray_runtime import ensure_ray  # noqa: E402


def bundle_for(arch: str, num_classes: int, in_chans: int, image_size: int, folder: Path) -> TeacherBundle:
    torch.manual_seed(0)
    shape = (in_chans, image_size, image_size)
    model = build_model(arch, num_classes, in_chans, input_shape=shape)
    meta = {"arch": arch, "num_classes": num_classes, "in_chans": in_chans, "input_shape": list(shape),
            "model_kwargs": {}, "temperature": 1.0, "class_map": None}
    path = save_weights(model, folder / f"{arch}.safetensors", meta)
    return TeacherBundle(str(path), WeightsBlob(meta, path.read_bytes()))


def synthetic_set(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The large case: n random 3 x 64 x 64 uint8 images and labels of 10 classes, always the same (seed 0)."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, 3, 64, 64), dtype=np.uint8), rng.integers(0, 10, n)


def rows_for(images: np.ndarray, labels: np.ndarray) -> pa.Table:
    n, _, h, w = images.shape
    views = identity_views(n, h, w)
    cols = {"split": pa.array(["train"] * n), "index": pa.array(np.arange(n)), "label": pa.array(labels),
            "view": pa.array(np.zeros(n, dtype=np.int32))}
    cols.update({f: pa.array(views[:, i]) for i, f in enumerate(VIEW_FIELDS)})
    return pa.table(cols)


def plain_loop(rows: pa.Table, images: np.ndarray, bundle: TeacherBundle, num_classes: int, batch: int) -> float:
    start = time.perf_counter()
    teacher = LoadedTeacher.from_bundle(bundle, torch.device("cpu"))
    imgs = {"train": torch.from_numpy(images)}
    for i in range(0, rows.num_rows, batch):
        part = rows.slice(i, batch).to_pydict()
        score_rows({k: np.asarray(v) for k, v in part.items()}, imgs, [teacher], num_classes, "float16", 0,
                   torch.device("cpu"))
    return time.perf_counter() - start


def ray_pipeline(rows, images, bundle, num_classes, res, folder: Path) -> float:
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    write_scored_rows(rows, {"train": images}, [bundle], num_classes, "float16", 0, res, folder)
    return time.perf_counter() - start


def measure(name, images, labels, arch, num_classes, repeats, batch, tmp: Path) -> dict:
    bundle = bundle_for(arch, num_classes, images.shape[1], images.shape[-1], tmp)
    rows = rows_for(images, labels)
    res = ResourcesConfig(precompute=PrecomputeResources(actors=2, cpus_per_actor=0.5, batch_size=batch,
                                                         rows_per_shard=100_000))
    tiny = rows.slice(0, batch)
    startup = ray_pipeline(tiny, images, bundle, num_classes, res, tmp / "tiny")  # fixed cost: ~one block
    plain, ray_t = [], []
    for _ in range(repeats):  # interleaved, so drift on a noisy machine hits both alike
        plain.append(plain_loop(rows, images, bundle, num_classes, batch))
        ray_t.append(ray_pipeline(rows, images, bundle, num_classes, res, tmp / "out"))
    p, r = statistics.median(plain), statistics.median(ray_t)
    return {"case": name, "rows": rows.num_rows, "plain_rows_s": rows.num_rows / p, "ray_rows_s": rows.num_rows / r,
            "ratio": p / r, "startup_s": startup,
            "ratio_after_startup": p / (r - startup) if r > 2 * startup else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="digits,synthetic")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--synthetic-n", type=int, default=20_000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    ensure_ray()
    init_s = time.perf_counter() - t0
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "digits" in args.sizes:
            d = load_data(load_config().data)
            results.append(measure("digits 1,077 x 1x12x12, tiny_cnn", d.train.images.numpy(), d.train.labels.numpy(),
                                   "tiny_cnn", 10, args.repeats, 256, tmp))
        if "synthetic" in args.sizes:
            imgs, labels = synthetic_set(args.synthetic_n)
            results.append(measure(f"synthetic {args.synthetic_n:,} x 3x64x64, resnet18", imgs, labels,
                                   "resnet18", 10, args.repeats, 256, tmp))
    print(f"\nray.init: {init_s:.2f} s (once per process)")
    print(f"{'case':<40} {'rows':>7} {'plain rows/s':>13} {'ray rows/s':>11} {'ray/plain':>10} {'startup s':>10} "
          f"{'ratio excl. startup':>20}")
    for r in results:
        print(f"{r['case']:<40} {r['rows']:>7} {r['plain_rows_s']:>13.0f} {r['ray_rows_s']:>11.0f} {r['ratio']:>10.2f} "
              f"{r['startup_s']:>10.2f} {r['ratio_after_startup']:>20.2f}")
    print("(ratio excl. startup is nan where the run is not much longer than the start-up itself)")
    print(f"(medians of {args.repeats} interleaved runs; torch threads in the plain loop: {torch.get_num_threads()}, "
          f"Ray: 2 actors x 1 thread)")


if __name__ == "__main__":
    main()
