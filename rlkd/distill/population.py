"""`StudentPopulation`: K independent distillation runs stepped together, trained as one batched model.

For the small students this project is built around an epoch's time goes to per-op overhead, not
arithmetic, so K students trained as one model cost far less than K lone runs. Each lane is a whole
`DistillationRun` (its own seed, config, generator, subset, order, views, budget, LR schedule,
optimiser, D_kl logits and history) on data loaded once for all; only the student's forward and
backward passes are batched:

- at every batch step the lanes that still have a batch are grouped by batch size, and each group
  runs one vmapped forward (`rlkd.distill.stacked`); its rows go through the lanes' loss once per
  (loss settings, temperature, label weight) with `Targets.lanes`, which returns each lane's own
  mean: their sum gives every lane the gradient of its own loss;
- each lane's own torch optimiser (fused Adam or SGD, as in a lone run) then steps on its row of the
  stacked gradients, at its own LR and step count, lanes with equal scalars in one fused call
  (`rlkd.distill.optimizers`); a lane without a batch in that step is not touched at all;
- the D_kl full pass and val accuracy after the epoch are one batched no-grad forward.

Exactness: the forward, the loss gradient and the optimiser update are the lone run's operations on
the same numbers; only a batched matmul in the backward (the last layer's weight gradient) may round
differently from the lone one, by about one float32 ulp. Measured on the default student (mlp [256],
digits images with stand-in teacher logits, K = 4 lanes of mixed samplers, fractions, temperatures
and alphas, 20 epochs): weights within 3e-7 of lone runs, losses within 4e-6, every other stat equal.
tests/test_population.py holds lanes to 1e-6 (weights, absolute), 1e-5 (losses, relative) and
equality elsewhere (docs/distill.md).

A student that cannot be batched (its forward updates buffers, as BatchNorm does, or vmap rejects
it) trains lane by lane, as K lone runs behind the same API, and so does a population of one lane;
`batched` says which, `reason` why.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Optional, Sequence, Union

import torch

from rlkd.config import Config
from rlkd.curriculum.actions import EpochAction
from rlkd.data import DatasetSplits
from rlkd.data.shards import TeacherShards
from rlkd.distill.optimizers import step_lanes
from rlkd.distill.run import (
    DistillationRun,
    EpochPlan,
    EpochStats,
    NonFiniteLossError,
    RunData,
    batch_targets,
    eval_scores,
)
from rlkd.distill.stacked import StackedStudents
from rlkd.errors import ConfigError, RlkdError

log = logging.getLogger(__name__)

EpochResult = Union[EpochStats, NonFiniteLossError, None]


class StudentPopulation:
    def __init__(self, cfg: Union[Config, Sequence[Config]], shards: TeacherShards, seeds: Sequence[int],
                 data: DatasetSplits):
        """K = len(seeds) runs; `cfg` is one config for all of them or one per lane (lanes may differ in
        everything but the student, the device and distill.amp: they share data and one batched model)."""
        cfgs = list(cfg) if isinstance(cfg, (list, tuple)) else [cfg] * len(seeds)
        if not seeds or len(cfgs) != len(seeds):
            raise ConfigError(f"a population needs one seed per lane and at least one lane: got {len(seeds)} "
                              f"seeds for {len(cfgs)} configs")
        for k, c in enumerate(cfgs):
            _check_same_model(cfgs[0], c, k)
        self.run_data = RunData(cfgs[0], shards, data)
        self.runs = [DistillationRun.on_data(c, s, self.run_data) for c, s in zip(cfgs, seeds)]
        self.diverged = [False] * len(self.runs)
        self.stack: Optional[StackedStudents] = None
        self.reason = "one lane: nothing to batch"  # and vmap's overhead would make it slower than alone
        if any(c.distill.feature.weights for c in cfgs):
            self.reason = "feature-level KD (distill.feature) reads each student's features through a hook"
        elif len(self.runs) > 1:
            first = torch.zeros(len(self.runs), 2, dtype=torch.long, device=self.device)  # 2 samples per lane
            self.stack, self.reason = StackedStudents.build([r.student for r in self.runs],
                                                            self.run_data.batch_images(first, first), self.runs[0].amp)
        if self.stack is None and len(self.runs) > 1:
            log.warning("StudentPopulation: student %s cannot be batched, %s; its %d lanes train one after another",
                        cfgs[0].student.arch, self.reason, len(self.runs))

    @property
    def device(self) -> torch.device:
        return self.run_data.device

    @property
    def batched(self) -> bool:
        """True: one batched model; False: lane by lane (`reason` says why)."""
        return self.stack is not None

    def __len__(self) -> int:
        return len(self.runs)

    @property
    def finished(self) -> list[bool]:
        """Per lane: its run has ended (epochs or budget) or its loss diverged."""
        return [run.finished or bad for run, bad in zip(self.runs, self.diverged)]

    def epoch(self, actions: Sequence[EpochAction], lanes: Optional[Sequence[int]] = None) -> list[EpochResult]:
        """Train `lanes` (default: every unfinished lane) one epoch; lane k takes `actions[k]` (`EpochAction()`:
        the lane config's own epoch; a lane that does not train ignores its entry). The other lanes are not
        touched.

        Per lane: its EpochStats; the NonFiniteLossError a lone run would have raised (the lane is then
        finished); or None for a lane that did not train.
        """
        if len(actions) != len(self.runs):
            raise ValueError(f"one action per lane: got {len(actions)} for {len(self.runs)} lanes")
        finished = self.finished
        active = [k for k in range(len(self.runs)) if not finished[k]] if lanes is None else sorted(lanes)
        for k in active:
            if finished[k]:
                raise RlkdError(f"lane {k} has finished its run; reset it before training it again")
        if not self.batched:
            results: list[EpochResult] = [None] * len(self.runs)
            for k in active:
                results[k] = self._lone_epoch(k, actions[k])
            return results
        start = time.perf_counter()
        plans = self._plan(active, actions)
        loss_keys = {k: _loss_key(self.runs[k], plan) for k, plan in plans.items()}  # fixed for the epoch
        loss_sums = torch.zeros(len(self.runs), device=self.device)
        corrects = torch.zeros(len(self.runs), dtype=torch.long, device=self.device)
        for i in range(max((p.num_batches for p in plans.values()), default=0)):
            self._step(i, plans, loss_keys, loss_sums, corrects)
        return self._finish(plans, loss_sums, corrects, start)

    def evaluate(self, split: str) -> list[tuple[float, float]]:
        """(accuracy %, mean CE loss) of every lane's student on `split` (val or test)."""
        return self._evaluate(list(range(len(self.runs))), split)

    def split_logits(self, split: str) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(every lane's eval-mode logits on `split`, the split's labels): what `evaluate` scores, for readers that
        need each example's outcome (a bootstrap over test examples)."""
        images, labels = self.run_data.eval_set(split)
        if not self.batched:
            return [run._logits(images) for run in self.runs], labels
        return list(self.stack.logits(None, images)), labels

    def observe(self) -> list[dict[str, float]]:
        """Every lane's observation (DistillationRun.observe)."""
        return [run.observe() for run in self.runs]

    def state_dict(self, k: int) -> dict:
        """Lane k's state in DistillationRun's format: it loads into a lone run, and a lone run's into a lane.
        The student's tensors are copies (the live ones are views of the whole population's)."""
        state = self.runs[k].state_dict()
        return {**state, "student": {name: t.clone() for name, t in state["student"].items()}}

    def load_state_dict(self, k: int, state: dict) -> None:
        self.runs[k].load_state_dict(state)  # copies into the lane's views: the batched model sees it
        self.diverged[k] = False

    def reset(self, k: int, seed: int, cfg: Optional[Config] = None) -> None:
        """Start lane k afresh: a new run with this seed (and config; default: the lane's), as a lone run starts."""
        cfg = cfg or self.runs[k].cfg
        _check_same_model(self.runs[0].cfg, cfg, k)
        run = DistillationRun.on_data(cfg, seed, self.run_data)
        if self.stack is not None:
            self.stack.attach(k, run.student)
        self.runs[k], self.diverged[k] = run, False

    # ------------------------------------------------------------------ the batched epoch
    def _lone_epoch(self, k: int, action: EpochAction) -> EpochResult:
        try:
            return self.runs[k].epoch(action)
        except NonFiniteLossError as err:
            self.diverged[k] = True
            return err

    def _plan(self, active: list[int], actions: Sequence[EpochAction]) -> dict[int, EpochPlan]:
        """Every active lane's plan; an action that fails leaves every lane's generator as it was."""
        before = {k: self.runs[k].gen.get_state() for k in active}
        try:
            return {k: self.runs[k].plan_epoch(actions[k]) for k in active}
        except Exception:
            for k, state in before.items():
                self.runs[k].gen.set_state(state)
            raise

    def _step(self, i: int, plans: dict[int, EpochPlan], loss_keys: dict[int, tuple], loss_sums: torch.Tensor,
              corrects: torch.Tensor) -> None:
        """Batch i of every lane that still has one: one forward per batch size, one backward, each lane's step."""
        by_size: dict[int, list[int]] = defaultdict(list)
        for k, plan in plans.items():
            if i < plan.num_batches:
                by_size[plan.bounds[i + 1] - plan.bounds[i]].append(k)
        total = sum(self._group_loss(i, lanes, plans, loss_keys, loss_sums, corrects) for lanes in by_size.values())
        self.stack.zero_grad()
        total.backward()
        stepping = [k for lanes in by_size.values() for k in lanes]
        for k in stepping:
            run = self.runs[k]
            for group in run.optimizer.param_groups:
                group["lr"] = run.step_lr(plans[k], i)
            self.stack.hand_grads(k)
        step_lanes([self.runs[k].optimizer for k in stepping])
        for k in stepping:
            self.stack.drop_grads(k)

    def _group_loss(self, i: int, lanes: list[int], plans: dict[int, EpochPlan], loss_keys: dict[int, tuple],
                    loss_sums: torch.Tensor, corrects: torch.Tensor) -> torch.Tensor:
        """Forward of one group of equal batch sizes; the sum of its lanes' losses (one loss call per settings)."""
        batches = [plans[k].batch(i) for k in lanes]
        idx = torch.stack([b for b, _ in batches])
        views = torch.stack([v for _, v in batches])
        rows = idx * self.run_data.num_views + views  # (sample, view) -> row of the flattened teacher tables
        everyone = len(lanes) == len(self.runs)
        lane_index = torch.tensor(lanes, device=self.device)
        out = self.stack.forward(None if everyone else lane_index, self.run_data.batch_images(idx, views))
        labels = self.run_data.labels[idx]
        by_loss: dict[tuple, list[int]] = defaultdict(list)  # lanes that can share one loss call, by position
        for j, k in enumerate(lanes):
            by_loss[loss_keys[k]].append(j)
        total = torch.zeros((), device=self.device)
        size = idx.shape[1]
        for pos in by_loss.values():
            first = self.runs[lanes[pos[0]]]
            plan = plans[lanes[pos[0]]]
            sel = slice(None) if len(pos) == len(lanes) else torch.tensor(pos, device=self.device)
            weights = None if plan.teacher_weights is None else torch.cat(
                [plans[lanes[j]].teacher_weights.expand(size, -1) for j in pos])
            alphas = {plans[lanes[j]].label_weight for j in pos}
            alpha = None if len(alphas) == 1 else torch.tensor([plans[lanes[j]].label_weight for j in pos],
                                                               dtype=torch.float64).to(self.device, torch.float32)
            targets = batch_targets(first.teacher_table(plan.temperature), labels[sel].reshape(-1),
                                    rows[sel].reshape(-1), plan, first.epoch_index, weights, lanes=len(pos),
                                    alpha=alpha)
            losses = first.loss_fn(out[sel].reshape(-1, out.shape[-1]), targets).reshape(-1)
            total = total + losses.sum()
            loss_sums.index_add_(0, lane_index[sel], losses.detach() * size)
        corrects.index_add_(0, lane_index, (out.detach().argmax(-1) == labels).sum(1))
        for j, k in enumerate(lanes):
            self.runs[k].keep_train_logits(idx[j], out[j])
        return total

    def _finish(self, plans: dict[int, EpochPlan], loss_sums: torch.Tensor, corrects: torch.Tensor,
                start: float) -> list[EpochResult]:
        """Close every lane's epoch; one batched D_kl refresh and one batched val pass; record the stats."""
        results: list[EpochResult] = [None] * len(self.runs)
        mean_loss: dict[int, float] = {}
        for k, plan in plans.items():
            try:
                mean_loss[k] = self.runs[k].close_epoch(plan, loss_sums[k])
            except NonFiniteLossError as err:
                self.diverged[k], results[k] = True, err
        refresh = [k for k in mean_loss if self.runs[k].full_pass_due]
        if refresh:
            logits = self.stack.logits(self._index(refresh), self.run_data.identity_images)
            for j, k in enumerate(refresh):
                self.runs[k].student_logits = logits[j]
        trained = list(mean_loss)
        val = dict(zip(trained, self._evaluate(trained, "val")))
        seconds = (time.perf_counter() - start) / max(len(plans), 1)  # each lane's share of the epoch's time
        for k in trained:
            results[k] = self.runs[k].record_epoch(plans[k], mean_loss[k], int(corrects[k]), val[k][0], seconds)
        return results

    def _evaluate(self, lanes: list[int], split: str) -> list[tuple[float, float]]:
        if not self.batched:
            return [self.runs[k].evaluate(split) for k in lanes]
        images, labels = self.run_data.eval_set(split)
        if not lanes:
            return []
        return [eval_scores(logits, labels) for logits in self.stack.logits(self._index(lanes), images)]

    def _index(self, lanes: list[int]) -> Optional[torch.Tensor]:
        """The stacked rows of these lanes; None for all of them in order (no copy of the parameters)."""
        return None if lanes == list(range(len(self.runs))) else torch.tensor(lanes, device=self.device)


def _loss_key(run: DistillationRun, plan: EpochPlan) -> tuple:
    """Lanes whose keys agree can share one loss call: the loss's own settings (the attributes it was built
    with), this epoch's temperature and label weight (not for a loss that takes one per lane), the epoch
    (DKD's warm-up) and whether teacher weights are given."""
    loss = run.loss_fn
    settings = tuple(sorted((k, v) for k, v in vars(loss).items() if not k.startswith("_") and k != "training"))
    label_weight = None if getattr(loss, "per_lane_alpha", False) else plan.label_weight
    return type(loss), settings, plan.temperature, label_weight, run.epoch_index, plan.teacher_weights is None


def _check_same_model(first: Config, cfg: Config, lane: int) -> None:
    """Lanes share the data, one batched student and its device; everything else may differ per lane."""
    for key, a, b in (("student", first.student, cfg.student), ("resources.device", first.resources.device,
                                                                  cfg.resources.device),
                      ("distill.amp", first.distill.amp, cfg.distill.amp), ("data", first.data, cfg.data),
                      ("teacher", first.teacher, cfg.teacher)):
        if a != b:
            raise ConfigError(f"{key}: lane {lane} has {b!r} but lane 0 {a!r}; the lanes of a population share "
                              f"their data, teachers, one student architecture and device: give them the same {key}")
