"""`DistillationRun`: one student, one run, one epoch at a time. Plain PyTorch, no Ray.

Everything an epoch touches lives in tensors on the run's device (images,
labels, stored views, teacher logits), so an epoch is index arithmetic plus the
student's own forward and backward passes: no DataLoader, no teacher forward.

An epoch is planned (`plan_epoch`: the action's subset, order and views), stepped, then closed and
recorded (`close_epoch`, `record_epoch`); `StudentPopulation` drives the same steps for many runs
at once, on one shared `RunData`.
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
import torch

from rlkd.config import Config
from rlkd.curriculum.actions import CONFIGURED, EpochAction
from rlkd.data import DatasetSplits
from rlkd.data.shards import TeacherShards
from rlkd.data.views import render_view
from rlkd.difficulty import Difficulty, combine, kl_difficulty, label_difficulty
from rlkd.distill.feature_kd import FeatureDistiller
from rlkd.distill.losses import LOSSES, Targets, build_loss, label_weighted
from rlkd.distill.optimizers import build_optimizer
from rlkd.distill.samplers import SamplerAction, get_sampler, sample_indices
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
    feature_scale: Optional[float] = None  # factor on distill.feature.weights this epoch (None: no feature KD)
    lr_scale: float = 1.0  # factor on the run's cosine lr this epoch


TASK_FIXED = ("teacher_val_acc", "doubtful_labels", "log_train_size")


def fixed_observation(shards: TeacherShards, data: DatasetSplits,
                      d_label: Optional[torch.Tensor] = None) -> dict[str, float]:
    """The observation keys that stay fixed for a run of these shards and data: the D_label quantiles, and (with a
    val split in the shards) the task keys `TASK_FIXED`. `d_label`: the run's own, when it has it on its device."""
    if d_label is None:
        d_label = label_difficulty(shards.splits["train"].logits[0, :, 0], data.train.labels)
    q = torch.quantile(d_label.double(), torch.tensor([0.5, 0.9], dtype=torch.float64, device=d_label.device))
    fixed = {"d_label_q50": q[0].item(), "d_label_q90": q[1].item()}
    if "val" in shards.splits:
        teacher = shards.splits["val"].logits[0, :, 0].argmax(1)
        fixed.update(teacher_val_acc=(teacher == data.val.labels).float().mean().item(),
                     doubtful_labels=(d_label > 0.5).float().mean().item(),
                     log_train_size=min(math.log10(len(d_label)) / 6.0, 1.0))
    return fixed


class RunData:
    """What a run reads and never writes, on the run's device: the lanes of a StudentPopulation share one."""

    def __init__(self, cfg: Config, shards: TeacherShards, data: DatasetSplits):
        self.device = dev = resolve_device(cfg.resources.device)
        _check_inputs(shards, data)
        tr = shards.splits["train"]
        self.num_classes, self.in_chans, self.input_shape = shards.num_classes, data.in_chans, data.input_shape
        self.images = data.train.images.to(dev)
        self.labels = data.train.labels.to(dev)
        self.views = tr.views.to(dev)  # (N, V, 5)
        self.teacher_logits = tr.logits.to(dev)  # (T, N, V, C)
        self.teacher_conf, self.teacher_entropy = tr.d_conf[:, 0].to(dev), tr.d_entropy[:, 0].to(dev)
        # (N, V, D) float32, or None: the shards hold no embeddings (teacher.embedding.store was off)
        self.teacher_embeddings = None if tr.embeddings is None else tr.embeddings.to(dev, torch.float32)
        self.d_label = label_difficulty(self.teacher_logits[0, :, 0], self.labels)  # fixed for the whole run
        fixed = fixed_observation(shards, data, self.d_label)
        self.d_label_quantiles = {key: fixed[key] for key in ("d_label_q50", "d_label_q90")}
        # what a run can see of its task (rlkd.curriculum.observation); None: the shards hold no val split
        self.task_observation = {key: fixed[key] for key in TASK_FIXED} if TASK_FIXED[0] in fixed else None
        self.eval_sets = {s: (data.split(s).images.to(dev), data.split(s).labels.to(dev)) for s in ("val", "test")}
        self.rendered = self._prerender(cfg.distill.prerender_mb)
        # softmax(teacher / T) per temperature, kept while some run holds it: lanes at one T share one table
        self._teacher_probs: weakref.WeakValueDictionary[float, torch.Tensor] = weakref.WeakValueDictionary()

    @property
    def num_views(self) -> int:
        return self.views.shape[1]


    def _prerender(self, prerender_mb: int) -> Optional[torch.Tensor]:
        """All stored views rendered once, when they fit in `distill.prerender_mb`; else per batch."""
        n, v = self.views.shape[:2]
        if v == 1 and render_view(self.images, self.views[:, 0]) is self.images:
            return self.images[:, None]  # identity only: the images themselves, no copy
        if n * v * self.images[0].numel() > prerender_mb * 2 ** 20:
            return None
        return torch.stack([render_view(self.images, self.views[:, k]) for k in range(v)], dim=1)

    def batch_images(self, idx: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
        """The images of samples `idx` in stored views `view` (index tensors of any one shape)."""
        if self.rendered is not None:
            return self.rendered[idx, view]
        flat = render_view(self.images[idx.reshape(-1)], self.views[idx.reshape(-1), view.reshape(-1)])
        return flat.view(*idx.shape, *flat.shape[1:])

    def teacher_probs(self, temperature: float) -> torch.Tensor:
        """softmax(teacher logits / T) of every stored row, computed once for all the runs on this data."""
        probs = self._teacher_probs.get(temperature)
        if probs is None:
            probs = torch.softmax(self.teacher_logits / temperature, dim=-1)
            self._teacher_probs[temperature] = probs
        return probs

    def eval_set(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, labels) of val or test."""
        if split not in self.eval_sets:
            raise ValueError(f"evaluate takes 'val' or 'test', got {split!r}")
        return self.eval_sets[split]

    @property
    def identity_images(self) -> torch.Tensor:
        """Every training image in its identity view: the input of the full pass that refreshes D_kl."""
        return self.rendered[:, 0] if self.rendered is not None else self.images


@dataclass
class EpochPlan:
    """One epoch of one run, fixed before its first step: the action's settings, samples, views and batches."""

    action: SamplerAction
    temperature: float
    label_weight: float  # the loss's label weight this epoch (Targets.alpha)
    d_sample: torch.Tensor  # D_sample of every training sample before the epoch
    order: torch.Tensor  # the samples trained on, in training order
    views: torch.Tensor  # the stored view each of them replays
    teacher_weights: Optional[torch.Tensor]  # (T,) weights over teachers, or None
    bounds: list[int]  # batch start offsets, then len(order)
    feature_scale: float = 1.0  # factor on distill.feature.weights this epoch
    lr_scale: float = 1.0  # factor on the cosine lr of every step this epoch

    @property
    def num_batches(self) -> int:
        return len(self.bounds) - 1

    def batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(samples, views) of batch i."""
        return self.order[self.bounds[i]:self.bounds[i + 1]], self.views[self.bounds[i]:self.bounds[i + 1]]


def order_stream_seed(seed: int, stream: int) -> int:
    """The seed of a run's sample-order and view generator: the run's own seed for stream 0 (every run before
    streams existed), else one drawn from (seed, stream) that no other (seed, stream) pair shares in practice."""
    return seed if stream == 0 else int(np.random.SeedSequence([seed, stream]).generate_state(1, np.uint64)[0] >> 1)


class DistillationRun:
    def __init__(self, cfg: Config, shards: TeacherShards, seed: int, data: DatasetSplits):
        self._start(cfg, seed, RunData(cfg, shards, data))

    @classmethod
    def on_data(cls, cfg: Config, seed: int, run_data: RunData) -> "DistillationRun":
        """A run on tensors already loaded and shared with other runs (the lanes of a StudentPopulation)."""
        run = cls.__new__(cls)
        run._start(cfg, seed, run_data)
        return run

    def _start(self, cfg: Config, seed: int, run_data: RunData) -> None:
        self.cfg, self.seed, self.run_data = cfg, seed, run_data
        self.device = dev = run_data.device
        self.images, self.labels, self.views = run_data.images, run_data.labels, run_data.views
        self.teacher_logits, self.teacher_conf = run_data.teacher_logits, run_data.teacher_conf
        self.teacher_entropy, self.d_label = run_data.teacher_entropy, run_data.d_label
        self.d_label_quantiles, self.eval_sets = run_data.d_label_quantiles, run_data.eval_sets
        self.task_observation = run_data.task_observation
        self.rendered = run_data.rendered
        torch.manual_seed(seed)
        st = cfg.student
        self.student = build_model(st.arch, run_data.num_classes, run_data.in_chans, st.pretrained,
                                   input_shape=run_data.input_shape, pretrained_file=st.pretrained_file,
                                   model_kwargs=st.model_kwargs, section="student").to(dev)
        self._cuda = dev.type == "cuda"
        if self._cuda and cfg.distill.channels_last:
            self.student = self.student.to(memory_format=torch.channels_last)
        width = self._logits(self.images[:2]).shape[1]
        if width != run_data.num_classes:
            raise CheckpointError(f"student {st.arch} outputs {width} classes but the shards hold "
                                  f"{run_data.num_classes}; check student.model_kwargs")
        d = cfg.distill
        self.feature_kd = self._feature_distiller(d) if d.feature.weights else None
        params = [*self.student.parameters(), *(self.feature_kd.parameters() if self.feature_kd else [])]
        self.optimizer = build_optimizer(params, d)
        self.loss_fn = build_loss(d)
        self.gen = torch.Generator().manual_seed(order_stream_seed(seed, d.order_stream))
        self.epoch_index = 0
        self.samples_seen = 0
        self.budget_samples = budget_samples(cfg.env.budget, self.epochs, len(self.labels))
        self.history: list[dict] = []
        self._probs: tuple[float, torch.Tensor] | None = None
        self._difficulty: Optional[Difficulty] = None  # cached until the student logits change
        self.student_logits = self._full_pass()  # identity-view logits for D_kl

    # ------------------------------------------------------------------ helpers
    def _feature_distiller(self, d) -> FeatureDistiller:
        embeddings = self.run_data.teacher_embeddings
        if embeddings is None:
            raise DataError(f"distill.feature.weights {d.feature.weights} needs teacher embeddings in the shards, "
                            f"and these have none; set teacher.embedding.store: true and re-run `rlkd precompute`")
        return FeatureDistiller(self.student, d.feature, embeddings.shape[-1], self.images[:2])

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
        return self.run_data.num_views

    @property
    def amp(self) -> bool:
        """bf16 autocast: on CUDA with distill.amp."""
        return self._cuda and self.cfg.distill.amp

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._cuda and self.cfg.distill.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
            return self.student(x).float()

    @torch.no_grad()
    def _logits(self, images: torch.Tensor, batch: int = 1024) -> torch.Tensor:
        self.student.eval()
        out = torch.cat([self._forward(images[i:i + batch]) for i in range(0, len(images), batch)])
        self.student.train()
        return out

    def _full_pass(self) -> torch.Tensor:
        return self._logits(self.run_data.identity_images)

    def _teacher_probs(self, temperature: float) -> torch.Tensor:
        """softmax(teacher / T) for every stored row, looked up again only when T changes (RunData shares it)."""
        if self._probs is None or self._probs[0] != temperature:
            self._probs = (temperature, self.run_data.teacher_probs(temperature))
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

    def epoch(self, action: EpochAction = CONFIGURED) -> EpochStats:
        """Train one epoch on the sampler's subset for this action; evaluate on val.

        The action's `alpha` sets the label weight of the loss for this epoch only (kd / multi_teacher); `mix`
        the share of the subset taken from the sampler's window, the rest drawn uniformly within each class;
        `feature_scale` multiplies distill.feature.weights for this epoch.
        """
        start = time.perf_counter()
        plan = self.plan_epoch(action)
        table = self.teacher_table(plan.temperature)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        for i in range(plan.num_batches):
            b, v = plan.batch(i)
            for group in self.optimizer.param_groups:
                group["lr"] = self.step_lr(plan, i)
            out = self._forward(self.run_data.batch_images(b, v))
            w = None if plan.teacher_weights is None else plan.teacher_weights.expand(len(b), -1)
            loss = self.loss_fn(out, batch_targets(table, self.labels[b], b * self.num_views + v, plan,
                                                   self.epoch_index, w))
            if self.feature_kd is not None:
                loss = loss + self.feature_kd.loss(self.run_data.teacher_embeddings[b, v], plan.feature_scale)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.detach() * len(b)
            correct += (out.detach().argmax(1) == self.labels[b]).sum()
            self.keep_train_logits(b, out)
        mean_loss = self.close_epoch(plan, loss_sum)
        if self.full_pass_due:
            self.student_logits = self._full_pass()
        return self.record_epoch(plan, mean_loss, correct.item(), self.evaluate("val")[0], time.perf_counter() - start)

    # the steps of `epoch` that StudentPopulation drives for many runs at once
    def plan_epoch(self, action: EpochAction = CONFIGURED) -> EpochPlan:
        """The next epoch for this action: draws its subset, order and views."""
        if self.finished:
            raise RlkdError(f"the run has finished: {self.epoch_index} of {self.epochs} epochs, "
                            f"{self.samples_seen} of {self.budget_samples} budget samples")
        cur, dc, a = self.cfg.curriculum, self.cfg.distill, action
        sampler_action = SamplerAction(cur.difficulty if a.difficulty is None else float(a.difficulty),
                                       cur.fraction if a.fraction is None else float(a.fraction), self.progress,
                                       1.0 if a.mix is None else float(a.mix))
        if a.alpha is not None and not LOSSES[dc.mode].label_weighted:
            raise ConfigError(f"distill.mode: {dc.mode!r} has no label weight for an epoch's alpha to set; use one "
                              f"of {', '.join(label_weighted())}, or turn env.control_alpha off")
        label_weight = dc.alpha if a.alpha is None else float(a.alpha)
        temp = dc.temperature if a.temperature is None else float(a.temperature)
        d_sample = self.difficulty().d_sample
        name = a.sampler or cur.sampler
        scores = self.d_label if get_sampler(name).ranks_by_label else d_sample
        idx = sample_indices(name, scores, self.labels, sampler_action, cur, self.gen).to(self.device)
        order = idx[torch.randperm(len(idx), generator=self.gen).to(self.device)]
        order = order[:budget_take(len(order), self.budget_samples - self.samples_seen,
                                   self.epoch_index + 1 < self.epochs)]
        views = torch.randint(self.num_views, (len(order),), generator=self.gen).to(self.device)
        weights = None if a.teacher_weights is None else torch.as_tensor(a.teacher_weights, dtype=torch.float32,
                                                                         device=self.device)
        return EpochPlan(sampler_action, temp, label_weight, d_sample, order, views, weights,
                         batch_bounds(len(order), dc.batch_size),
                         1.0 if a.feature_scale is None else float(a.feature_scale),
                         1.0 if a.lr_scale is None else float(a.lr_scale))

    def teacher_table(self, temperature: float) -> dict[str, Optional[torch.Tensor]]:
        """The teacher tables this run's loss reads, flattened to (T, N*V, C): a batch picks its rows."""
        needs = getattr(self.loss_fn, "needs", ("teacher_logits", "teacher_probs"))
        return {"teacher_probs": self._teacher_probs(temperature).flatten(1, 2) if "teacher_probs" in needs else None,
                "teacher_logits": self.teacher_logits.flatten(1, 2) if "teacher_logits" in needs else None}

    def step_lr(self, plan: EpochPlan, i: int) -> float:
        """The LR of batch i of this epoch: the cosine at the run's progress when that batch starts, times the
        epoch's lr_scale."""
        return plan.lr_scale * self._lr(run_progress(self.epoch_index + plan.bounds[i] / len(plan.order), self.epochs,
                                     self.samples_seen + plan.bounds[i], self.budget_samples))

    def keep_train_logits(self, idx: torch.Tensor, logits: torch.Tensor) -> None:
        """With kl_refresh train_pass, the training pass's logits stand in for these samples' D_kl logits."""
        if self.cfg.curriculum.kl_refresh == "train_pass":
            self.student_logits[idx] = logits.detach()
            self._difficulty = None

    def close_epoch(self, plan: EpochPlan, loss_sum: torch.Tensor) -> float:
        """Count the epoch and return its mean loss; a non-finite one raises NonFiniteLossError."""
        mean_loss = (loss_sum / len(plan.order)).item()
        self.epoch_index += 1
        if not math.isfinite(mean_loss):
            raise NonFiniteLossError(self.epoch_index, mean_loss)
        return mean_loss

    @property
    def full_pass_due(self) -> bool:
        """Whether the epoch just closed refreshes the D_kl logits with a full pass (always, unless train_pass)."""
        cur = self.cfg.curriculum
        return cur.kl_refresh != "train_pass" or self.epoch_index % cur.full_pass_every == 0

    def record_epoch(self, plan: EpochPlan, mean_loss: float, correct: int, val_acc: float,
                     seconds: float) -> EpochStats:
        """Spend the epoch's samples of the budget and append its stats to the history."""
        n = len(plan.order)
        self.samples_seen += n
        chosen = plan.d_sample[plan.order]
        stats = EpochStats(self.epoch_index, mean_loss, 100.0 * correct / n, val_acc, n, self.samples_seen,
                           self.budget_samples, self.budget, plan.action.difficulty, plan.action.fraction,
                           plan.temperature, chosen.mean().item(), chosen.std().item() if n > 1 else 0.0, seconds,
                           alpha=plan.label_weight if LOSSES[self.cfg.distill.mode].label_weighted else None,
                           mix=plan.action.mix, subset_d_label_mean=self.d_label[plan.order].mean().item(),
                           feature_scale=plan.feature_scale if self.feature_kd is not None else None,
                           lr_scale=plan.lr_scale)
        self.history.append(asdict(stats))
        return stats

    def evaluate(self, split: str) -> tuple[float, float]:
        """(accuracy %, mean CE loss) of the student on `split` (val or test)."""
        images, labels = self.run_data.eval_set(split)
        return eval_scores(self._logits(images), labels)

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
            # offered whenever the shards can give them: a policy trained with env.task_features reads them in
            # any run it acts in; the env's own observation encodes only the keys its switch asks for
            **(self._task_progress(last) if self.cfg.env.task_features or self.task_observation is not None else {}),
        }

    def teacher_val_acc(self) -> float:
        """The main teacher's val accuracy as a share in [0, 1], from the shards' val logits."""
        if self.task_observation is None:
            raise DataError("env.task_features / reward.thresholds: teacher: the shards hold no val split to measure "
                            "the teacher's val accuracy on; re-run `rlkd precompute`")
        return self.task_observation["teacher_val_acc"]

    def _task_progress(self, last: Optional[dict]) -> dict[str, float]:
        """The task keys of the observation: this run's fixed ones, and its progress relative to the task."""
        teacher = self.teacher_val_acc()
        loss = last["loss"] if last else float("nan")
        relative = min(last["val_acc"] / 100.0 / teacher, 1.0) if last and teacher > 0 else 0.0
        loss_share = min(loss / math.log(self.run_data.num_classes), 1.0) if math.isfinite(loss) else 0.0
        return {**self.task_observation, "val_acc_vs_teacher": relative, "train_loss_vs_log_c": loss_share}

    def state_dict(self) -> dict:
        return {"student": self.student.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
                "epoch_index": self.epoch_index, "samples_seen": self.samples_seen,
                "student_logits": self.student_logits.clone(), "history": list(self.history),
                "feature_losses": self.feature_kd.losses.state_dict() if self.feature_kd is not None else None}

    def load_state_dict(self, state: dict) -> None:
        self.student.load_state_dict(state["student"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.feature_kd is not None:
            self.feature_kd.losses.load_state_dict(state["feature_losses"])
        self.gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch_index, self.samples_seen = state["epoch_index"], state["samples_seen"]
        self.student_logits = state["student_logits"].to(self.device)
        self.history = list(state["history"])


def eval_scores(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(accuracy %, mean CE loss) of a student's logits on an evaluation split."""
    return accuracy(logits, labels), torch.nn.functional.cross_entropy(logits, labels).item()


def batch_targets(table: dict[str, Optional[torch.Tensor]], labels: torch.Tensor, rows: torch.Tensor,
                  plan: EpochPlan, epoch: int, weights: Optional[torch.Tensor], lanes: int = 1,
                  alpha: Optional[torch.Tensor] = None) -> Targets:
    """A batch's Targets: `rows` (sample x views + view) pick the teacher rows of `table` (`teacher_table`).

    `lanes` > 1: the rows are that many students' equal batches (StudentPopulation), sharing the plan's
    temperature and, unless `alpha` gives one per student, its label weight.
    """
    teacher = {k: None if t is None else t.index_select(1, rows) for k, t in table.items()}
    return Targets(labels, teacher["teacher_logits"], teacher["teacher_probs"], plan.temperature, epoch, weights,
                   plan.label_weight if alpha is None else alpha, lanes)


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
