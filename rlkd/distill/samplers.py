"""Curriculum samplers: pure functions (difficulty, labels, action, settings, generator) -> indices.

Every difficulty-based sampler ranks samples **within each class** by default
(`stratify: true`): ranked over the whole set, the easiest 30% of digits held
no sample of 6 of 10 classes (CALIBRATION.md). `stratify: false` ranks over the
whole set, as the seed did.

Sizes: a sampler with fraction f takes round(f * n_c) samples of each class c
(at least 1), so a subset is never empty: its minimum size is the number of
classes present (one sample of the whole set when unstratified).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

import torch

from rlkd.config import CurriculumConfig


@dataclass(frozen=True)
class SamplerAction:
    difficulty: float  # target difficulty in [0, 1]
    fraction: float  # share of the training set in (0, 1]
    progress: float  # the run's progress in [0, 1) (epochs or budget spent, whichever is further)
    mix: float = 1.0  # share of the subset taken from the sampler's window, the rest uniform (mix_with_random)

    def __post_init__(self) -> None:
        if not 0.0 <= self.difficulty <= 1.0:
            raise ValueError(f"difficulty must be in [0, 1], got {self.difficulty}")
        if not 0.0 <= self.mix <= 1.0:
            raise ValueError(f"mix must be in [0, 1], got {self.mix}")
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")


def subset_size(n: int, fraction: float) -> int:
    return min(n, max(1, round(fraction * n)))


def rank01(values: torch.Tensor) -> torch.Tensor:
    """Rank of each value scaled to [0, 1] (0 = easiest); ties broken by position, deterministically."""
    n = len(values)
    ranks = torch.empty(n, dtype=torch.float64)
    ranks[torch.argsort(values, stable=True)] = torch.arange(n, dtype=torch.float64)
    return ranks / max(n - 1, 1)


def _nearest(d: torch.Tensor, target: float, m: int) -> torch.Tensor:
    """The m samples whose difficulty rank is nearest `target`: a window of ranks, clipped at the ends."""
    return torch.argsort((rank01(d) - target).abs(), stable=True)[:m]


def _weighted(weights: torch.Tensor, m: int, gen: torch.Generator) -> torch.Tensor:
    return torch.multinomial(weights.double().clamp_min(1e-12), m, replacement=False, generator=gen)


# each "within" function picks m positions out of one group's difficulties d
def _adaptive(d, m, a, cfg, gen):
    return _nearest(d, a.difficulty, m)


def _threshold(d, m, a, cfg, gen):
    below = torch.nonzero(d <= a.difficulty).squeeze(1)
    return below if len(below) else torch.argsort(d, stable=True)[:1]


def _easy_to_hard(d, m, a, cfg, gen):
    """Weights centred on a target that moves from easy to hard with training progress."""
    return _weighted(torch.exp(-(rank01(d) - a.progress).abs() / 0.2), m, gen)


def _hard_mining(d, m, a, cfg, gen):
    """Weights rising with difficulty rank; the action sets how sharply (0: uniform, 1: hardest only)."""
    return _weighted(rank01(d) ** (8.0 * a.difficulty) + 1e-3, m, gen)


def _mixed(d, m, a, cfg, gen):
    """Half the window nearest the target, half drawn uniformly from the rest."""
    core = _nearest(d, a.difficulty, (m + 1) // 2)
    rest = torch.ones(len(d), dtype=torch.float64)
    rest[core] = 0
    extra = _weighted(rest, min(m - len(core), int(rest.sum())), gen) if m > len(core) else core[:0]
    return torch.cat([core, extra])


PACING: dict[str, Callable[[float, float], float]] = {
    "linear": lambda p, s: s + (1 - s) * p,
    "root": lambda p, s: s + (1 - s) * math.sqrt(p),
    "geometric": lambda p, s: min(1.0, s * (1 / s) ** p),
}


def pacing_size(n: int, progress: float, cfg: CurriculumConfig) -> int:
    """How many of a group's n samples a pacing schedule takes at this progress: g(progress) * n."""
    return subset_size(n, PACING[cfg.pacing](progress, cfg.pacing_start))


def _pacing(d, m, a, cfg, gen):
    """The easiest g(progress) share, g growing from pacing_start to 1 (m is ignored: the schedule sets size)."""
    return torch.argsort(d, stable=True)[:pacing_size(len(d), a.progress, cfg)]


def _anti(d, m, a, cfg, gen):
    """Hard to easy: the window's target moves from the hardest end down as training progresses."""
    return _nearest(d, 1.0 - a.progress, m)


def _random(d, m, a, cfg, gen):
    """A uniform subset of the same size: the control that shows whether difficulty matters."""
    return torch.randperm(len(d), generator=gen)[:m]


def _pacing_random(d, m, a, cfg, gen):
    """Pacing's growing size, drawn uniformly (anew each epoch): the control that explains most curricula
    (Wu et al. 2021), so `pacing` means something only when it beats this."""
    return _random(d, pacing_size(len(d), a.progress, cfg), a, cfg, gen)


def _full(d, m, a, cfg, gen):
    return torch.arange(len(d))


def _clean(d, m, a, cfg, gen):
    """The m lowest scores. Fed D_label (Sampler.ranks_by_label): the samples whose label the teacher trusts most."""
    return torch.argsort(d, stable=True)[:m]


class Pick(Protocol):
    """How a sampler chooses within one class: its scores, how many to take, the epoch's action, the curriculum
    settings and the run's generator -> positions into the class's scores."""

    def __call__(self, d: torch.Tensor, m: int, a: SamplerAction, cfg: CurriculumConfig,
                 gen: torch.Generator) -> torch.Tensor: ...


@dataclass(frozen=True)
class Sampler:
    """One registry entry: the pick, and the facts other code reads about it (no side tables)."""

    pick: Pick
    cli_arg: Optional[str]  # the curriculum key `rlkd distill --curriculum NAME:ARG` sets; None: it takes none
    # ranks by D_label = 1 - p_t(label), the one score that sees label noise, instead of D_sample
    ranks_by_label: bool = False


SAMPLERS: dict[str, Sampler] = {
    "full": Sampler(_full, None), "adaptive": Sampler(_adaptive, "difficulty"),
    "threshold": Sampler(_threshold, "difficulty"), "easy_to_hard": Sampler(_easy_to_hard, "fraction"),
    "hard_mining": Sampler(_hard_mining, "difficulty"), "mixed": Sampler(_mixed, "difficulty"),
    "pacing": Sampler(_pacing, "pacing"), "anti": Sampler(_anti, "fraction"), "random": Sampler(_random, "fraction"),
    "pacing_random": Sampler(_pacing_random, "pacing"), "clean": Sampler(_clean, "fraction", ranks_by_label=True),
}


def get_sampler(name: str) -> Sampler:
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; expected one of {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def class_groups(labels: torch.Tensor, stratify: bool) -> list[torch.Tensor]:
    """Positions of each class present, or one group of everything when unstratified."""
    if not stratify:
        return [torch.arange(len(labels))]
    return [torch.nonzero(labels == c).squeeze(1) for c in torch.unique(labels)]


def mix_with_random(window: torch.Tensor, labels: torch.Tensor, mix: float, stratify: bool,
                    gen: torch.Generator) -> torch.Tensor:
    """A share `mix` of a sampler's window, the rest uniform: per group, as many samples as the window holds.

    mix = 0 is a uniform subset of the window's size in each class (the random control at that fraction),
    mix = 1 the window itself; in between, round(mix * w_c) samples are drawn uniformly from the class's
    window and the rest uniformly from the class's other samples (unkept window samples included).
    """
    if mix >= 1.0:
        return window
    labels, window = labels.cpu(), window.cpu()
    in_window = torch.zeros(len(labels), dtype=torch.bool)
    in_window[window] = True
    chosen = []
    for group in class_groups(labels, stratify):
        own = group[in_window[group]]
        keep = own[torch.randperm(len(own), generator=gen)[:round(mix * len(own))]]
        rest = group[~torch.isin(group, keep)]
        chosen += [keep, rest[torch.randperm(len(rest), generator=gen)[:len(own) - len(keep)]]]
    return torch.sort(torch.cat(chosen)).values


def sample_indices(name: str, difficulty: torch.Tensor, labels: torch.Tensor, action: SamplerAction,
                   cfg: CurriculumConfig, gen: torch.Generator) -> torch.Tensor:
    """Sorted training indices for one epoch; within each class unless `cfg.stratify` is false; a share
    1 - action.mix of them drawn uniformly instead (mix_with_random). `difficulty` is the score the sampler
    ranks by: D_sample, or D_label for a sampler that `ranks_by_label`."""
    pick = get_sampler(name).pick
    difficulty = difficulty.detach().cpu().double()
    labels = labels.cpu()
    groups = class_groups(labels, cfg.stratify)
    chosen = [g[pick(difficulty[g], subset_size(len(g), action.fraction), action, cfg, gen)] for g in groups]
    return mix_with_random(torch.sort(torch.cat(chosen)).values, labels, action.mix, cfg.stratify, gen)
