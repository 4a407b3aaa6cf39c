"""What sha256-verifying the shards costs a run: first load vs a cached second load vs hashing alone.

`load_shards` hashes every shard once per process (per manifest); later loads
check sizes only. Side by side in one process, interleaved, medians of
--repeats: the first load of a folder (hashing included), a second load of the
same folder (cached), and hashing its files alone. Each repeat copies the
shards to a folder this process has not loaded, so every "first load" really
hashes; the files are then in the page cache, so the figures are CPU cost, not
disk reads.

    python benchmarks/shard_verify.py                        # default digits + synthetic 20,000 x 3x64x64
    python benchmarks/shard_verify.py --shards runs/default/precompute/shards --cases digits
    python benchmarks/shard_verify.py --rows 5000            # a smaller synthetic set
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from precompute import bundle_for, synthetic_set  # noqa: E402  (benchmarks/precompute.py, next to this file)

from rlkd.config import Config, load_config  # noqa: E402
from rlkd.data import DatasetSplits, load_data  # noqa: E402
from rlkd.data.base import Split  # noqa: E402
from rlkd.data.shards import load_shards, read_manifest  # noqa: E402
from rlkd.models import file_sha256  # noqa: E402
from rlkd.precompute.run import write_shards  # noqa: E402

BUILD_OVERRIDES = ["resources.precompute.actors=2"]


def synthetic_splits(n: int) -> DatasetSplits:
    """benchmarks/precompute.py's synthetic set, 90 / 5 / 5 into train / val / test (every image scored once)."""
    images, labels = synthetic_set(n)
    bounds = [0, n * 90 // 100, n * 95 // 100, n]
    parts = [Split(torch.from_numpy(images[a:b]), torch.from_numpy(labels[a:b]), [str(i) for i in range(a, b)])
             for a, b in zip(bounds, bounds[1:])]
    return DatasetSplits(*parts, class_names=[f"c{c}" for c in range(10)], name=f"synthetic {n}")


def build_shards(cfg: Config, data: DatasetSplits, arch: str, folder: Path) -> Path:
    """Shards of `data` scored by an untrained `arch` (the bytes, not the logits' values, set the cost)."""
    bundle = bundle_for(arch, data.num_classes, data.in_chans, data.image_size, folder)
    final = folder / "shards"
    write_shards(cfg, data, [bundle], "benchmark", final)
    return final


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(name: str, shards: Path, repeats: int, scratch: Path) -> dict:
    first, cached, hashing = [], [], []
    for r in range(repeats):
        copy = scratch / f"copy-{r}"
        shutil.copytree(shards, copy)  # a folder this process has not hashed yet
        first.append(seconds(lambda: load_shards(copy)))
        cached.append(seconds(lambda: load_shards(copy)))
        hashing.append(seconds(lambda: [file_sha256(f) for f in sorted(copy.glob("*.parquet"))]))
        shutil.rmtree(copy)
    manifest = read_manifest(shards)
    mb = sum(e["bytes"] for e in manifest["shards"]) / 1e6
    f, c, h = (statistics.median(x) for x in (first, cached, hashing))
    return {"case": name, "rows": manifest["rows"], "files": len(manifest["shards"]), "mb": mb,
            "first_ms": 1e3 * f, "cached_ms": 1e3 * c, "hash_ms": 1e3 * h, "hash_mb_s": mb / h,
            "first_over_cached": f / c, "hash_share": h / f}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="digits,synthetic")
    parser.add_argument("--shards", type=Path, help="existing shards for the digits case instead of building them")
    parser.add_argument("--rows", type=int, default=20_000, help="images in the synthetic set")
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args()
    cfg = load_config(None, BUILD_OVERRIDES)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "digits" in args.cases:
            shards = args.shards or build_shards(cfg, load_data(cfg.data), "tiny_cnn", tmp / "digits")
            name = f"digits ({args.shards})" if args.shards else "digits, default config"
            results.append(measure(name, shards, args.repeats, tmp))
        if "synthetic" in args.cases:
            shards = build_shards(cfg, synthetic_splits(args.rows), "resnet18", tmp / "synthetic")
            results.append(measure(f"synthetic {args.rows:,} x 3x64x64", shards, args.repeats, tmp))
    print(f"\n{'case':<32} {'rows':>7} {'files':>5} {'MB':>7} {'first ms':>9} {'cached ms':>10} {'hash ms':>8} "
          f"{'hash MB/s':>10} {'first/cached':>13} {'hash share':>11}")
    for r in results:
        print(f"{r['case']:<32} {r['rows']:>7} {r['files']:>5} {r['mb']:>7.2f} {r['first_ms']:>9.1f} "
              f"{r['cached_ms']:>10.1f} {r['hash_ms']:>8.1f} "
              f"{r['hash_mb_s']:>10.0f} {r['first_over_cached']:>13.2f} {r['hash_share']:>11.1%}")
    print(f"(medians of {args.repeats} interleaved repeats; hash share = hashing alone / first load; "
          f"files in the page cache)")


if __name__ == "__main__":
    main()
