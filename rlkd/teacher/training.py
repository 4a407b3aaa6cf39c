"""Supervised training of one teacher on in-memory tensors, selected by val accuracy."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from rlkd.config import TeacherConfig
from rlkd.console import progress
from rlkd.data import Split
from rlkd.models.inference import accuracy, predict_logits


@dataclass
class TrainResult:
    best_epoch: int  # 1-based epoch whose weights were kept (best val accuracy)
    val_acc_best_epoch: float
    val_acc_last_epoch: float
    val_acc_per_epoch: list[float] = field(default_factory=list)


def train_classifier(model: nn.Module, train: Split, val: Split, cfg: TeacherConfig,
                     device: torch.device, desc: str = "teacher") -> TrainResult:
    """Adam with a per-step cosine schedule; keeps the weights of the best val epoch."""
    gen = torch.Generator().manual_seed(cfg.seed)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.15, anneal_strategy="cos")
    images, labels = train.images.to(device), train.labels.to(device)
    best = (-1.0, 0, None)
    history: list[float] = []
    bar = progress(range(1, cfg.epochs + 1), desc=desc, unit="epoch", leave=False)
    for epoch in bar:
        perm = torch.randperm(len(train), generator=gen).to(device)
        for i in range(0, len(perm), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            loss = F.cross_entropy(model(images[idx]), labels[idx], label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        val_acc = accuracy(predict_logits(model, val.images, device=device), val.labels)
        history.append(val_acc)
        if val_acc > best[0]:
            best = (val_acc, epoch, copy.deepcopy(model.state_dict()))
        bar.set_postfix_str(f"loss {loss.item():.3f}  val_acc {val_acc:.2f}")
    model.load_state_dict(best[2])
    model.eval()
    return TrainResult(best[1], best[0], history[-1], history)
