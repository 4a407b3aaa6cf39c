"""Speed of the distillation epoch, as ratios measured side by side in one process.

P1  KD with stored logits / label-only training, same student, data and subset
    (tiny default MLP student on digits; timm mobilenetv2_100 at 32x32 on synthetic data).
P2  the seed's way (DataLoader + teacher forward on every batch + a naive KD loss)
    / rlkd's KD epoch (digits default teacher and student; synthetic 64x64 resnet50 -> mobilenetv2_100).
P3  D_kl refresh: a full student pass every epoch / logits from the training pass.

Synthetic cases build in-memory shards (random teacher logits): no Ray needed.

    python benchmarks/distill_speed.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from rlkd.config import load_config
from rlkd.data import DatasetSplits, Split
from rlkd.data.shards import SplitShards, TeacherShards
from rlkd.distill.run import DistillationRun
from rlkd.models import build_model


def synthetic(n: int, size: int, chans: int = 3, classes: int = 10) -> tuple[DatasetSplits, TeacherShards]:
    g = torch.Generator().manual_seed(0)

    def split(m: int, tag: str) -> Split:
        return Split(torch.randint(0, 256, (m, chans, size, size), dtype=torch.uint8, generator=g),
                     torch.randint(0, classes, (m,), generator=g), [f"{tag}{i}" for i in range(m)])

    data = DatasetSplits(split(n, "tr"), split(n // 4, "va"), split(n // 4, "te"), [str(i) for i in range(classes)],
                         "synthetic")
    views = torch.zeros(n, 1, 5, dtype=torch.int32)
    views[:, 0, 2:4] = size
    logits = torch.randn(1, n, 1, classes, generator=g) * 3
    tr = SplitShards(1, data.train.labels, views, logits, torch.rand(n, 1), torch.rand(n, 1))
    manifest = {"num_classes": classes, "teachers": [{}],
                "data": {"splits": {s: {"fingerprint": data.split(s).fingerprint} for s in ("train", "val", "test")}}}
    return data, TeacherShards(manifest, {"train": tr})




def train_seconds(cfg, shards, data, repeats: int) -> float:
    """Median seconds of a whole epoch as EpochStats reports it (training, D_kl refresh and val eval)."""
    run = DistillationRun(cfg, shards, 0, data)
    out = []
    for i in range(repeats + 1):
        if run.finished:
            run = DistillationRun(cfg, shards, 0, data)
        s = run.epoch()
        if i:
            out.append(s.seconds)
    return statistics.median(out)


def interleaved_ratio(cfg_a, cfg_b, shards, data, rounds: int, per_round: int) -> tuple[float, float, float]:
    """Median of a / b epoch times, alternating a and b so machine drift hits both alike."""
    a, b = [], []
    for _ in range(rounds):
        a.append(train_seconds(cfg_a, shards, data, per_round))
        b.append(train_seconds(cfg_b, shards, data, per_round))
    ma, mb = statistics.median(a), statistics.median(b)
    return ma, mb, ma / mb


def seed_way_epoch(data: DatasetSplits, teacher, student_arch: str, student_kwargs: dict, batch: int, temp: float,
                   alpha: float) -> float:
    """The seed's loop: DataLoader, teacher forward per batch, naive KD loss. Seconds for one epoch."""
    torch.manual_seed(0)
    student = build_model(student_arch, data.num_classes, data.in_chans, input_shape=data.input_shape,
                          model_kwargs=student_kwargs)
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(data.train.images, data.train.labels), batch_size=batch, shuffle=True)
    teacher.eval()
    start = time.perf_counter()
    for x, y in loader:
        with torch.no_grad():
            t_logits = teacher(x)
        s_logits = student(x)
        kd = F.kl_div(F.log_softmax(s_logits / temp, 1), F.softmax(t_logits / temp, 1), reduction="batchmean")
        loss = alpha * F.cross_entropy(s_logits, y) + (1 - alpha) * temp ** 2 * kd
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-large", action="store_true", help="skip the mobilenetv2 / resnet50 cases")
    args = parser.parse_args()
    rows = []
    cfg = lambda *o: load_config(None, ["distill.epochs=1000", "curriculum.sampler=full", *o])  # noqa: E731

    # digits default: the real shards would need the pipeline; synthetic digits-shaped data is the same cost
    digits_data, digits_shards = synthetic(1077, 12, chans=1)
    kd, lab, r = interleaved_ratio(cfg("distill.mode=kd"), cfg("distill.mode=labels"), digits_shards, digits_data,
                                   args.rounds, 5)
    rows.append(("P1 KD / labels, MLP-256 on 1x12x12 (digits size, 1,077)", kd, lab, r, "<= 1.15"))
    full, tp, r = interleaved_ratio(cfg("curriculum.kl_refresh=full"), cfg("curriculum.kl_refresh=train_pass",
                                    "curriculum.full_pass_every=1000"), digits_shards, digits_data, args.rounds, 5)
    rows.append(("P3 D_kl full pass / train pass, digits size", full, tp, r, "(cost of the choice)"))

    teacher = build_model("tiny_cnn", 10, 1, input_shape=(1, 12, 12))
    seed_t = statistics.median(seed_way_epoch(digits_data, teacher, "mlp", {"hidden": [256]}, 64, 4.0, 0.5)
                               for _ in range(args.rounds))
    rows.append(("P2 seed way / rlkd KD epoch, digits (tiny_cnn -> MLP-256)", seed_t, kd, seed_t / kd, ">= 5"))

    if not args.skip_large:
        mb_data, mb_shards = synthetic(1024, 32)
        m = ["student.arch=mobilenetv2_100", "student.model_kwargs={}"]
        kd, lab, r = interleaved_ratio(cfg("distill.mode=kd", *m), cfg("distill.mode=labels", *m), mb_shards, mb_data,
                                       max(2, args.rounds // 2), 2)
        rows.append(("P1 KD / labels, mobilenetv2_100 on 3x32x32 (1,024)", kd, lab, r, "<= 1.05"))
        big_data, big_shards = synthetic(256, 64)
        rlkd_t = train_seconds(cfg("distill.mode=kd", *m), big_shards, big_data, 2)
        r50 = build_model("resnet50", 10, 3)
        seed_t = statistics.median(seed_way_epoch(big_data, r50, "mobilenetv2_100", {}, 64, 4.0, 0.5) for _ in range(2))
        rows.append(("P2 seed way / rlkd KD, 3x64x64 resnet50 -> mobilenetv2_100 (256)", seed_t, rlkd_t,
                     seed_t / rlkd_t, "(reported)"))

    print(f"\n{'measure':<70} {'a (s)':>9} {'b (s)':>9} {'a/b':>7}  target")
    for name, a, b, ratio, target in rows:
        print(f"{name:<70} {a:>9.4f} {b:>9.4f} {ratio:>7.2f}  {target}")
    print(f"(medians; epoch times include the val evaluation; torch threads {torch.get_num_threads()})")


if __name__ == "__main__":
    main()
