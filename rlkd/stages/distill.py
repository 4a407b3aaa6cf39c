"""`rlkd distill`: one full distillation run with a fixed curriculum; the baselines' runner."""

from __future__ import annotations

from pathlib import Path

from rlkd.config import Config
from rlkd.console import progress
from rlkd.distill.inputs import load_run_inputs
from rlkd.distill.run import DistillationRun
from rlkd.distill.samplers import SAMPLERS
from rlkd.reports.plots import line_plot
from rlkd.reports.tensorboard import TENSORBOARD_DIR, epoch_scalars, open_writer, write_scalars
from rlkd.stages.apply import apply_policy
from rlkd.stages.base import Stage


def curriculum_overrides(spec: str) -> list[str]:
    """`adaptive:0.3` -> sampler adaptive at difficulty 0.3; `pacing:root`; `random:0.5` (fraction);
    `policy:REF` -> a trained policy (checkpoint folder or builtin:<name>) picks every epoch's action."""
    name, _, arg = spec.partition(":")
    if name == "policy":
        return [f"curriculum.policy={arg}"]
    overrides = [f"curriculum.sampler={name}"]
    if arg:
        key = SAMPLERS[name].cli_arg if name in SAMPLERS else None
        overrides.append(f"curriculum.{key or 'sampler_arg_not_allowed'}={arg}")
    return overrides


def summarize(history: list[dict], test_acc: list[float]) -> dict:
    """Last-epoch and best-val-epoch numbers, each key naming its split and epoch rule."""
    val = [h["val_acc"] for h in history]
    best = max(range(len(val)), key=lambda i: val[i])
    return {"val_acc_last_epoch": val[-1], "test_acc_last_epoch": test_acc[-1],
            "best_val_epoch": best + 1, "val_acc_best_epoch": val[best], "test_acc_at_best_val_epoch": test_acc[best],
            "samples_seen": history[-1]["samples_seen"], "budget": history[-1]["budget"],
            "budget_samples": history[-1]["budget_samples"]}


def run_distill(cfg: Config, out: Path) -> dict:
    if cfg.curriculum.policy is not None:
        metrics = apply_policy(cfg, out, cfg.curriculum.policy)
        line_plot(out / "learning_curve.png", {"val acc (%)": metrics["val_acc_per_epoch"]},
                  f"{cfg.distill.mode} / policy", "epoch", "accuracy (%)")
        return {**metrics, "mode": cfg.distill.mode, "policy": cfg.curriculum.policy}
    data, shards = load_run_inputs(cfg)
    run = DistillationRun(cfg, shards, cfg.distill.seed, data)
    cur = cfg.curriculum
    print(f"distill: {cfg.distill.mode}, student {cfg.student.arch}, sampler {cur.sampler} "
          f"(d={cur.difficulty}, f={cur.fraction}, stratify={cur.stratify}), {run.epochs} epochs, "
          f"budget {run.budget} ({run.budget_samples} samples)")
    test_acc = []
    with progress(total=run.epochs, desc="distill", unit="epoch") as bar:  # each epoch's numbers: metrics.json
        while not run.finished:
            s = run.epoch()
            test_acc.append(run.evaluate("test")[0])  # reported only: no choice reads it
            bar.set_postfix_str(f"loss {s.loss:.4f}  val_acc {s.val_acc:6.2f}  seen {s.samples_seen}")
            bar.update(1)
    metrics = {**summarize(run.history, test_acc), "mode": cfg.distill.mode, "sampler": cur.sampler,
               "val_acc_per_epoch": [h["val_acc"] for h in run.history], "test_acc_per_epoch": test_acc,
               "epochs": run.history, "train_seconds": sum(h["seconds"] for h in run.history)}
    line_plot(out / "learning_curve.png", {"val acc (%)": metrics["val_acc_per_epoch"], "test acc (%)": test_acc},
              f"{cfg.distill.mode} / {cur.sampler}", "epoch", "accuracy (%)")
    scalars = [{**epoch_scalars(val_acc=h["val_acc"], train_loss=h["loss"], subset_size=h["subset_size"],
                                difficulty=h["difficulty"], fraction=h["fraction"],
                                subset_difficulty_mean=h["subset_difficulty_mean"]), "test/acc": test}
               for h, test in zip(run.history, test_acc)]
    with open_writer(out / TENSORBOARD_DIR) as writer:
        write_scalars(writer, scalars)
    print(f"distill: val_acc (last epoch) {metrics['val_acc_last_epoch']:.2f} | test_acc (last epoch) "
          f"{metrics['test_acc_last_epoch']:.2f} | test_acc at best-val epoch {metrics['best_val_epoch']}: "
          f"{metrics['test_acc_at_best_val_epoch']:.2f} | samples seen {metrics['samples_seen']}")
    return metrics


STAGE = Stage(
    "distill", run_distill,
    "one full distillation run with a fixed curriculum; per-epoch val/test accuracy and a learning curve",
    outputs=("learning_curve.png",),
    depends=("data", "teacher", "student", "distill", "curriculum"),
    options=(("mode", "labels | kd | dkd | multi_teacher (sets distill.mode)", lambda v: [f"distill.mode={v}"]),
             ("curriculum", "NAME[:ARG], e.g. adaptive:0.3, pacing:root, random:0.7, or policy:CHECKPOINT / "
              "policy:builtin:NAME (sets curriculum.*)",
              curriculum_overrides)),
)
