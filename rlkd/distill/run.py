"""`DistillationRun`: one student, one run, one epoch at a time. Plain PyTorch, no Ray.

Everything an epoch touches lives in tensors on the run's device (images,
labels, stored views, teacher logits), so an epoch is index arithmetic plus the
student's own forward and backward passes: no DataLoader, no teacher forward.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Optional

import torch

from rlkd.config import Config
from rlkd.data import DatasetSplits
from rlkd.data.shards import TeacherShards
from rlkd.data.views import render_view
from rlkd.difficulty import Difficulty, combine, kl_difficulty, label_difficulty
from rlkd.distill.losses import LABEL_WEIGHTED, Targets, build_loss
from rlkd.distill.samplers import LABEL_RANKED, SamplerAction, sample_indices
from rlkd.errors import CheckpointError, ConfigError, DataError, RlkdError
from rlkd.models import build_model
from rlkd.models.inference import accuracy, resolve_device


class NonFiniteLossError(RlkdError):
    """The loss became NaN or inf; the environment turns this into a terminal penalty."""

    def __init__(self, epoch: int, value: float):
        super().__init__(f"epoch {epoch}: the training loss is {value} (diverged); lower distill.lr or check the data")
        self.epoch = epoch


@dataclass
class EpochStats:
    epoch: int  # 1-based, the epoch just trained
    loss: float  # mean training loss over the subset
    train_acc: float  # % on the subset's views, during training
    val_acc: float  # % on val after the epoch
    subset_size: int
    samples_seen: int  # total so far in this run
    budget_samples: int  # B: the most samples the run may see (env.budget x epochs x N, rounded up)
    budget: float  # env.budget, the share of epochs x N that B is
    difficulty: float  # the action's target difficulty
    fraction: float
    temperature: float
    subset_difficulty_mean: float  # D_sample of the chosen samples (before the epoch)
    subset_difficulty_std: float
    seconds: float
    alpha: Optional[float]  # the loss's label weight this epoch (kd / multi_teacher; None for the other losses)
    mix: float  # share of the subset from the sampler's window, the rest uniform
    subset_d_label_mean: float  # D_label of the samples trained on: low when the subset avoids wrong labels


class DistillationRun:
    def __init__(self, cfg: Config, shards: TeacherShards, seed: int, data: DatasetSplits):
        self.cfg, self.seed = cfg, seed
        self.device = resolve_device(cfg.resources.device)
        _check_inputs(shards, data)
        dev = self.device
        tr = shards.splits["train"]
        self.images = data.train.images.to(dev)
        self.labels = data.train.labels.to(dev)
        self.views = tr.views.to(dev)  # (N, V, 5)
        self.teacher_logits = tr.logits.to(dev)  # (T, N, V, C)
        self.teacher_conf, self.teacher_entropy = tr.d_conf[:, 0].to(dev), tr.d_entropy[:, 0].to(dev)
        self.d_label = label_difficulty(self.teacher_logits[0, :, 0], self.labels)  # fixed for the whole run
        q = torch.quantile(self.d_label.double(), torch.tensor([0.5, 0.9], dtype=torch.float64, device=dev))
        self.d_label_quantiles = {"d_label_q50": q[0].item(), "d_label_q90": q[1].item()}
        self.eval_sets = {s: (data.split(s).images.to(dev), data.split(s).labels.to(dev)) for s in ("val", "test")}
        self.rendered = self._prerender()
        torch.manual_seed(seed)
        st = cfg.student
        self.student = build_model(st.arch, shards.num_classes, data.in_chans, st.pretrained,
                                   image_size=data.image_size, pretrained_file=st.pretrained_file,
                                   model_kwargs=st.model_kwargs, section="student").to(dev)
        self._cuda = dev.type == "cuda"
        if self._cuda and cfg.distill.channels_last:
            self.student = self.student.to(memory_format=torch.channels_last)
        width = self._logits(self.images[:2]).shape[1]
        if width != shards.num_classes:
            raise CheckpointError(f"student {st.arch} outputs {width} classes but the shards hold {shards.num_classes}; "
                                  f"check student.model_kwargs")
        d = cfg.distill
        params = self.student.parameters()
        # fused kernels: one op per step instead of several per parameter (per-op overhead rules small students)
        self.optimizer = (torch.optim.Adam(params, lr=d.lr, weight_decay=d.weight_decay, fused=True)
                          if d.optimizer == "adam" else
                          torch.optim.SGD(params, lr=d.lr, momentum=0.9, weight_decay=d.weight_decay, nesterov=True,
                                          fused=True))
        self.loss_fn = build_loss(d)
        self.gen = torch.Generator().manual_seed(seed)
        self.epoch_index = 0
        self.samples_seen = 0
        self.budget_samples = budget_samples(cfg.env.budget, self.epochs, len(self.labels))
        self.history: list[dict] = []
        self._probs: tuple[float, torch.Tensor] | None = None
        self._difficulty: Optional[Difficulty] = None  # cached until the student logits change
        self.student_logits = self._full_pass()  # identity-view logits for D_kl

    # ------------------------------------------------------------------ helpers
    @property
    def epochs(self) -> int:
        return self.cfg.distill.epochs

    @property
    def budget(self) -> float:
        return self.cfg.env.budget

    @property
    def progress(self) -> float:
        """Share of the run done, 1.0 exactly when it ends (epochs or budget): the LR and the schedules read it."""
        return run_progress(self.epoch_index, self.epochs, self.samples_seen, self.budget_samples)

    @property
    def finished(self) -> bool:
        """The run ends after distill.epochs epochs or once its budget of samples is spent, whichever is first."""
        return self.epoch_index >= self.epochs or self.samples_seen >= self.budget_samples

    @property
    def num_views(self) -> int:
        return self.views.shape[1]

    def _prerender(self) -> Optional[torch.Tensor]:
        """All stored views rendered once, when they fit in `distill.prerender_mb`; else per batch."""
        n, v = self.views.shape[:2]
        if v == 1 and bool((self.views[:, 0, 2] == self.images.shape[2]).all()):
            return self.images[:, None]  # identity only: the images themselves, no copy
        if n * v * self.images[0].numel() > self.cfg.distill.prerender_mb * 2 ** 20:
            return None
        return torch.stack([render_view(self.images, self.views[:, k]) for k in range(v)], dim=1)

    def _batch_images(self, idx: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
        if self.rendered is not None:
            return self.rendered[idx, view]
        return render_view(self.images[idx], self.views[idx, view])

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._cuda and self.cfg.distill.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self._cuda and self.cfg.distill.amp):
            return self.student(x).float()

    @torch.no_grad()
    def _logits(self, images: torch.Tensor, batch: int = 1024) -> torch.Tensor:
        self.student.eval()
        out = torch.cat([self._forward(images[i:i + batch]) for i in range(0, len(images), batch)])
        self.student.train()
        return out

    def _full_pass(self) -> torch.Tensor:
        return self._logits(self.rendered[:, 0] if self.rendered is not None else self.images)

    def _teacher_probs(self, temperature: float) -> torch.Tensor:
        """softmax(teacher / T) for every stored row, recomputed only when T changes."""
        if self._probs is None or self._probs[0] != temperature:
            self._probs = (temperature, torch.softmax(self.teacher_logits / temperature, dim=-1))
        return self._probs[1]

    def _lr(self, progress: float) -> float:
        """Cosine decay over the whole run, per step: a pure function of progress, nothing to checkpoint."""
        return self.cfg.distill.lr * 0.5 * (1.0 + math.cos(math.pi * progress))

    # ------------------------------------------------------------------ public
    @property
    def student_logits(self) -> torch.Tensor:
        return self._student_logits

    @student_logits.setter
    def student_logits(self, logits: torch.Tensor) -> None:
        self._student_logits, self._difficulty = logits, None

    def difficulty(self) -> Difficulty:
        """Seed difficulty of every training sample (identity view) under the current student.

        Computed once per refresh of the student logits: `observe()` after an epoch and the
        sampler of the next epoch read the same values.
        """
        if self._difficulty is None:
            d_kl = kl_difficulty(self.teacher_logits[0, :, 0], self.student_logits)
            self._difficulty = Difficulty(self.teacher_conf, self.teacher_entropy, d_kl,
                                          combine(self.teacher_conf, self.teacher_entropy, d_kl))
        return self._difficulty

    def epoch(self, difficulty: Optional[float] = None, fraction: Optional[float] = None,
              temperature: Optional[float] = None, teacher_weights: Optional[torch.Tensor] = None,
              sampler: Optional[str] = None, alpha: Optional[float] = None,
              mix: Optional[float] = None) -> EpochStats:
        """Train one epoch on the sampler's subset for this action; evaluate on val.

        `alpha` sets the label weight of the loss for this epoch only (kd / multi_teacher); `mix` the share
        of the subset taken from the sampler's window, the rest drawn uniformly within each class.
        """
        if self.finished:
            raise RlkdError(f"the run has finished: {self.epoch_index} of {self.epochs} epochs, "
                            f"{self.samples_seen} of {self.budget_samples} budget samples")
        start = time.perf_counter()
        cur, dc = self.cfg.curriculum, self.cfg.distill
        action = SamplerAction(cur.difficulty if difficulty is None else float(difficulty),
                               cur.fraction if fraction is None else float(fraction), self.progress,
                               1.0 if mix is None else float(mix))
        if alpha is not None and dc.mode not in LABEL_WEIGHTED:
            raise ConfigError(f"distill.mode: {dc.mode!r} has no label weight for an epoch's alpha to set; use one "
                              f"of {', '.join(LABEL_WEIGHTED)}, or turn env.control_alpha off")
        label_weight = dc.alpha if alpha is None else float(alpha)
        temp = dc.temperature if temperature is None else float(temperature)
        d_sample = self.difficulty().d_sample
        name = sampler or cur.sampler
        scores = self.d_label if name in LABEL_RANKED else d_sample
        idx = sample_indices(name, scores, self.labels, action, cur, self.gen).to(self.device)
        order = idx[torch.randperm(len(idx), generator=self.gen).to(self.device)]
        order = order[:budget_take(len(order), self.budget_samples - self.samples_seen,
                                   self.epoch_index + 1 < self.epochs)]
        views = torch.randint(self.num_views, (len(order),), generator=self.gen).to(self.device)
        needs = getattr(self.loss_fn, "needs", ("teacher_logits", "teacher_probs"))
        table = {"teacher_probs": self._teacher_probs(temp).flatten(1, 2) if "teacher_probs" in needs else None,
                 "teacher_logits": self.teacher_logits.flatten(1, 2) if "teacher_logits" in needs else None}
        weights = None if teacher_weights is None else torch.as_tensor(teacher_weights, dtype=torch.float32,
                                                                       device=self.device)
        bounds = batch_bounds(len(order), dc.batch_size)
        n_batches = len(bounds) - 1
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        train_pass = cur.kl_refresh == "train_pass"
        for i in range(n_batches):
            b, v = order[bounds[i]:bounds[i + 1]], views[bounds[i]:bounds[i + 1]]
            for group in self.optimizer.param_groups:
                group["lr"] = self._lr(run_progress(self.epoch_index + bounds[i] / len(order), self.epochs,
                                                    self.samples_seen + bounds[i], self.budget_samples))
            out = self._forward(self._batch_images(b, v))
            rows = b * self.num_views + v  # (sample, view) -> row of the flattened (T, N*V, C) tables
            teacher = {k: None if t is None else t.index_select(1, rows) for k, t in table.items()}
            w = None if weights is None else weights.expand(len(b), -1)
            loss = self.loss_fn(out, Targets(self.labels[b], teacher["teacher_logits"], teacher["teacher_probs"],
                                             temp, self.epoch_index, w, label_weight))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.detach() * len(b)
            correct += (out.detach().argmax(1) == self.labels[b]).sum()
            if train_pass:
                self.student_logits[b] = out.detach()
                self._difficulty = None
        mean_loss = (loss_sum / len(order)).item()
        self.epoch_index += 1
        if not math.isfinite(mean_loss):
            raise NonFiniteLossError(self.epoch_index, mean_loss)
        if not train_pass or self.epoch_index % cur.full_pass_every == 0:
            self.student_logits = self._full_pass()
        self.samples_seen += len(order)
        chosen = d_sample[order]
        stats = EpochStats(self.epoch_index, mean_loss, 100.0 * correct.item() / len(order), self.evaluate("val")[0],
                           len(order), self.samples_seen, self.budget_samples, self.budget, action.difficulty,
                           action.fraction, temp, chosen.mean().item(), chosen.std().item() if len(chosen) > 1 else 0.0,
                           time.perf_counter() - start,
                           alpha=label_weight if dc.mode in LABEL_WEIGHTED else None,
                           mix=action.mix, subset_d_label_mean=self.d_label[order].mean().item())
        self.history.append(asdict(stats))
        return stats

    def evaluate(self, split: str) -> tuple[float, float]:
        """(accuracy %, mean CE loss) of the student on `split` (val or test)."""
        if split not in self.eval_sets:
            raise ValueError(f"evaluate takes 'val' or 'test', got {split!r}")
        images, labels = self.eval_sets[split]
        logits = self._logits(images)
        return accuracy(logits, labels), torch.nn.functional.cross_entropy(logits, labels).item()

    def observe(self) -> dict[str, float]:
        """The training state an environment exposes (all in [0, 1] except the loss)."""
        d = self.difficulty().d_sample
        q = torch.quantile(d.double(), torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64, device=d.device))
        last = self.history[-1] if self.history else None
        agree = (self.student_logits.argmax(1) == self.teacher_logits[0, :, 0].argmax(1)).float().mean().item()
        return {
            **self.d_label_quantiles,
            "val_acc": (last["val_acc"] if last else 0.0) / 100.0,
            "train_loss": last["loss"] if last else float("nan"),
            "difficulty_q10": q[0].item(), "difficulty_q50": q[1].item(), "difficulty_q90": q[2].item(),
            "agreement": agree,
            "progress": self.progress,
            "budget_used": self.samples_seen / self.budget_samples,
            "last_fraction": last["fraction"] if last else 0.0,
        }

    def state_dict(self) -> dict:
        return {"student": self.student.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
                "epoch_index": self.epoch_index, "samples_seen": self.samples_seen,
                "student_logits": self.student_logits.clone(), "history": list(self.history)}

    def load_state_dict(self, state: dict) -> None:
        self.student.load_state_dict(state["student"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch_index, self.samples_seen = state["epoch_index"], state["samples_seen"]
        self.student_logits = state["student_logits"].to(self.device)
        self.history = list(state["history"])


def budget_samples(budget: float, epochs: int, n: int) -> int:
    """B = ceil(budget x epochs x n), at least one. Rounded to 6 decimals before the ceiling so float noise
    (0.1 x 3 x 10 = 3.0000000000000004) does not buy an extra sample."""
    return max(1, math.ceil(round(budget * epochs * n, 6)))


def run_progress(epochs_done: float, epochs: int, samples_done: int, budget_samples: int) -> float:
    """The larger share of the run's two limits: it reaches 1.0 exactly when the first limit ends the run, so a
    cosine over it anneals fully whether the epochs or the budget run out."""
    return max(epochs_done / epochs, samples_done / budget_samples)


def budget_take(subset: int, remaining: int, more_epochs: bool) -> int:
    """How much of an epoch's shuffled subset to train on: all of it, or what is left of the budget, so a run
    never sees more than B samples. An epoch that would leave one budget sample for a later epoch leaves two:
    a one-sample epoch is a batch of one, on which BatchNorm cannot train."""
    take = min(subset, remaining)
    return take - 1 if more_epochs and remaining - take == 1 and take > 2 else take


def batch_bounds(n: int, batch_size: int) -> list[int]:
    """Batch start offsets plus n; a last batch of one sample joins the one before (BatchNorm needs two)."""
    bounds = list(range(0, n, batch_size)) + [n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        del bounds[-2]
    return bounds


def _check_inputs(shards: TeacherShards, data: DatasetSplits) -> None:
    """The shards must have been made from exactly this data set."""
    for split in ("train", "val", "test"):
        want = data.split(split).fingerprint
        got = shards.manifest["data"]["splits"][split]["fingerprint"]
        if got != want:
            raise DataError(f"shards were made from another data set or split ({split} fingerprint {got[:12]}… vs "
                            f"{want[:12]}…); run `rlkd precompute` for this config")
    if shards.num_classes != data.num_classes:
        raise DataError(f"shards hold {shards.num_classes} classes, the data {data.num_classes}")
