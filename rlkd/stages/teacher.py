"""`rlkd teacher`: train (or evaluate) the teacher, calibrate it, optionally cross-fit it.

Outputs in the stage folder: `teacher.safetensors` (trained on all of train,
the teacher for val/test soft labels) and, with `cross_fit: K`, `fold{k}.safetensors`
whose metadata lists the train positions that fold never saw. Each file stores
its own temperature T*; whoever uses its logits divides by it first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rlkd.config import Config
from rlkd.data import DatasetSplits, load_data
from rlkd.errors import ConfigError
from rlkd.models import build_model, save_weights
from rlkd.models.class_map import resolve_class_map
from rlkd.models.inference import accuracy, map_classes, predict_logits, resolve_device
from rlkd.stages.base import Stage
from rlkd.teacher.calibration import fit_temperature, nll
from rlkd.teacher.folds import fold_assignment
from rlkd.teacher.training import train_classifier

TEACHER_FILE = "teacher.safetensors"


def _fresh_teacher(cfg: Config, data: DatasetSplits, num_classes: int, seed: int, **kwargs):
    torch.manual_seed(seed)
    tc = cfg.teacher
    return build_model(tc.arch, num_classes, data.in_chans, input_shape=data.input_shape,
                       model_kwargs=tc.model_kwargs, pretrained_file=tc.pretrained_file, section="teacher", **kwargs)


def _confident_fraction(logits: torch.Tensor, temperature: float = 1.0) -> float:
    """Share of samples the teacher is > 0.99 sure of: near 1 means it memorised them."""
    return (torch.softmax(logits / temperature, 1).max(1).values > 0.99).float().mean().item()


def _cross_fit(cfg: Config, data: DatasetSplits, num_classes: int, device, out: Path,
               meta: dict) -> tuple[dict, list[str]]:
    tc = cfg.teacher
    folds = fold_assignment(data.train.labels.numpy(), tc.cross_fit, tc.seed)
    oof = torch.empty(len(data.train), data.num_classes)
    val_logits = []
    models = []
    for k in range(tc.cross_fit):
        held_out = np.flatnonzero(folds == k)
        model = _fresh_teacher(cfg, data, num_classes, tc.seed + 1 + k)
        train_classifier(model, data.train.subset(np.flatnonzero(folds != k)), data.val, tc, device,
                         desc=f"fold {k + 1}/{tc.cross_fit}")
        oof[held_out] = map_classes(predict_logits(model, data.train.images[held_out], device=device),
                                    meta["class_map"])
        val_logits.append(map_classes(predict_logits(model, data.val.images, device=device), meta["class_map"]))
        models.append((model, held_out))
    stacked = torch.cat(val_logits)
    labels = data.val.labels.repeat(tc.cross_fit)
    temperature = fit_temperature(stacked, labels, tc.min_temperature) if tc.calibrate else 1.0
    names = []
    for k, (model, held_out) in enumerate(models):
        name = f"fold{k}.safetensors"
        save_weights(model, out / name, {**meta, "temperature": temperature, "fold": k,
                                         "holdout": held_out.tolist()})
        names.append(name)
    metrics = {
        "cross_fit": tc.cross_fit,
        "fold_temperature": temperature,
        "train_oof_acc": accuracy(oof, data.train.labels),
        "train_oof_confident_fraction": _confident_fraction(oof, temperature),
        "val_acc_fold_mean": float(np.mean([accuracy(v, data.val.labels) for v in val_logits])),
    }
    return metrics, names


def run_teacher(cfg: Config, out: Path) -> dict:
    tc = cfg.teacher
    data = load_data(cfg.data)
    print(data.describe())
    device = resolve_device(cfg.resources.device)
    num_classes = tc.num_classes or data.num_classes
    given = tc.checkpoint is not None or tc.pretrained
    if given and tc.cross_fit:
        raise ConfigError("teacher.cross_fit: needs rlkd to train the teacher; set it to 0 with "
                          "teacher.checkpoint or teacher.pretrained")
    meta = {"arch": tc.arch, "num_classes": num_classes, "in_chans": data.in_chans,
            "input_shape": list(data.input_shape),
            "model_kwargs": tc.model_kwargs, "data_fingerprint": data.fingerprint,
            "class_map": resolve_class_map(tc.class_map, data.class_names, num_classes)}
    model = _fresh_teacher(cfg, data, num_classes, tc.seed, pretrained=tc.pretrained, checkpoint=tc.checkpoint)
    metrics: dict = {"teacher_source": "checkpoint" if tc.checkpoint else "pretrained" if tc.pretrained else "trained"}
    if not given:
        result = train_classifier(model, data.train, data.val, tc, device)
        metrics.update(selection="best_val_epoch", best_epoch=result.best_epoch, epochs=tc.epochs,
                       val_acc_last_epoch=result.val_acc_last_epoch, val_acc_per_epoch=result.val_acc_per_epoch)
    model.to(device)
    logits = {s: map_classes(predict_logits(model, data.split(s).images, device=device), meta["class_map"])
              for s in ("train", "val", "test")}
    temperature = fit_temperature(logits["val"], data.val.labels, tc.min_temperature) if tc.calibrate else 1.0
    metrics.update(
        val_acc=accuracy(logits["val"], data.val.labels),
        test_acc=accuracy(logits["test"], data.test.labels),
        train_acc=accuracy(logits["train"], data.train.labels),
        temperature=temperature,
        val_nll_uncalibrated=nll(logits["val"], data.val.labels),
        val_nll_calibrated=nll(logits["val"], data.val.labels, temperature),
        train_confident_fraction=_confident_fraction(logits["train"]),
    )
    folds: list[str] = []
    if tc.cross_fit:
        fold_metrics, folds = _cross_fit(cfg, data, num_classes, device, out, meta)
        metrics.update(fold_metrics)
    path = save_weights(model, out / TEACHER_FILE, {**meta, "temperature": temperature, "cross_fit": tc.cross_fit,
                                                    "folds": folds, "val_acc": metrics["val_acc"]})
    metrics["checkpoint"] = str(path)
    print(f"teacher ({metrics.get('selection', metrics['teacher_source'])}): val_acc {metrics['val_acc']:.2f} | "
          f"test_acc {metrics['test_acc']:.2f} | T* {temperature:.3f} | val NLL {metrics['val_nll_uncalibrated']:.4f}"
          f" -> {metrics['val_nll_calibrated']:.4f}")
    return metrics


STAGE = Stage(
    "teacher", run_teacher,
    "train (or evaluate) the teacher on train, select and calibrate on val, report val and test accuracy",
    wire=lambda out: [f"teacher.checkpoint={out / TEACHER_FILE}"],
    outputs=(TEACHER_FILE,),
    depends=("data", "teacher"),
    ignores=("teacher.additional", "teacher.logits_dtype", "teacher.topk", "teacher.embedding", "data.views",
             "data.view_seed", "data.view_min_scale", "data.view_flip", "data.shards"),
)
