"""Typed experiment config: one YAML file per experiment, `--set a.b=c` overrides.

Every section is a dataclass. Loading walks the YAML against the dataclass type
hints, so an unknown key, a wrong type or a value outside its allowed set is an
error that names the full key path (``data.digits.canvas``) and what is allowed.
Later stages add fields to these sections; the section names are fixed.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml

from rlkd.errors import ConfigError
from rlkd.seeds import BLOCK_SIZE, EPISODES_OFFSET, SPENT, overlap

DEFAULT_CONFIG = "tune_configs/digits.yaml"


def _check(ok: bool, path: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{path}: value {value!r} is not allowed; expected {allowed}")


def _check_at_least(section: Any, path: str, minimum: float, *names: str) -> None:
    """Each named field of `section` must be >= `minimum` (counts, sizes, weights)."""
    for name in names:
        value = getattr(section, name)
        kind = "an integer" if isinstance(value, int) else "a float"
        _check(value >= minimum, f"{path}.{name}", value, f"{kind} >= {minimum:g}")


def _check_sampler(name: str, path: str) -> None:
    # imported here: the sampler registry's module imports this one
    from rlkd.distill.samplers import SAMPLERS

    _check(name in SAMPLERS, path, name, "a sampler: one of " + ", ".join(repr(s) for s in SAMPLERS))


@dataclass
class DigitsConfig:
    """scikit-learn digits; the procedural variant gives a conv teacher an edge an MLP lacks."""

    upscale: int = 1  # nearest-neighbour upscaling of the 8x8 digit before placement
    canvas: int = 8  # side of the canvas the digit is placed on (>= 8 * upscale)
    noise: float = 0.0  # std of Gaussian pixel noise, in units of full intensity

    def validate(self, path: str) -> None:
        _check(self.upscale >= 1, f"{path}.upscale", self.upscale, "an integer >= 1")
        _check(self.canvas >= 8 * self.upscale, f"{path}.canvas", self.canvas,
               f"an integer >= 8 * upscale = {8 * self.upscale}")
        _check(0.0 <= self.noise <= 1.0, f"{path}.noise", self.noise, "a float in [0, 1]")


@dataclass
class HFConfig:
    """A Hugging Face dataset by hub name (`name`) or a `save_to_disk` folder (`path`)."""

    name: Optional[str] = None
    path: Optional[str] = None
    config_name: Optional[str] = None
    data_dir: Optional[str] = None  # passed to load_dataset, e.g. name: imagefolder + a local folder
    train_split: str = "train"
    val_split: Optional[str] = "validation"  # null or missing in the source: carved out of train
    test_split: str = "test"
    image_column: str = "image"
    label_column: str = "label"


@dataclass
class ImageFolderConfig:
    """A tree root/<split>/<class>/*.png|jpg; a missing val split is carved out of train."""

    root: Optional[str] = None


@dataclass
class PythonDataConfig:
    """Your own loader (rlkd.data.python_source): `loader(**kwargs)` returns the splits as arrays."""

    loader: Optional[str] = None  # package.module:function
    kwargs: dict = field(default_factory=dict)


@dataclass
class LabelNoiseConfig:
    """Flipped labels for benchmarking robustness (rlkd.data.noise); val stays the small trusted set by default."""

    rate: float = 0.0  # share of each noised split's samples whose label is flipped (exactly round(rate * N))
    kind: Literal["symmetric", "pairflip"] = "symmetric"  # symmetric: a uniform other class; pairflip: y -> y + 1 mod C
    seed: int = 0
    splits: list[Literal["train", "val"]] = field(default_factory=lambda: ["train"])  # test always stays clean

    def validate(self, path: str) -> None:
        _check(0.0 <= self.rate < 1.0, f"{path}.rate", self.rate, "a float in [0, 1)")
        _check(len(self.splits) == len(set(self.splits)) and set(self.splits) <= {"train", "val"},
               f"{path}.splits", self.splits, 'a list of distinct splits out of "train", "val" (test stays clean)')


@dataclass
class DataConfig:
    source: Literal["digits", "hf", "imagefolder", "python"] = "digits"
    seed: int = 0  # split seed (and digit placement seed)
    val_fraction: float = 0.2  # of the whole set for digits, of train where val is carved
    test_fraction: float = 0.2  # digits only: the other sources ship a test split
    # S: resize (shorter side) + S x S center crop; [H, W]: resize keeping the aspect + H x W crop; null: as is
    image_size: Union[int, list[int], None] = None
    channels: Optional[Literal[1, 3]] = None  # null: the source's own (error if mixed)
    views: int = 1  # stored views per training sample; view 0 is always the identity view
    view_seed: int = 0
    view_min_scale: float = 0.6  # random resized crop: smallest crop area fraction
    view_flip: bool = True  # random horizontal flip in augmented views
    shards: Optional[str] = None  # precomputed teacher shards (set by the precompute stage)
    digits: DigitsConfig = field(default_factory=DigitsConfig)
    hf: HFConfig = field(default_factory=HFConfig)
    imagefolder: ImageFolderConfig = field(default_factory=ImageFolderConfig)
    python: PythonDataConfig = field(default_factory=PythonDataConfig)
    label_noise: LabelNoiseConfig = field(default_factory=LabelNoiseConfig)

    def validate(self, path: str) -> None:
        _check(0.0 < self.val_fraction < 1.0, f"{path}.val_fraction", self.val_fraction, "a float in (0, 1)")
        _check(0.0 < self.test_fraction < 1.0 and self.val_fraction + self.test_fraction < 1.0,
               f"{path}.test_fraction", self.test_fraction, "a float in (0, 1) with val_fraction + test_fraction < 1")
        _check(self.views >= 1, f"{path}.views", self.views, "an integer >= 1")
        _check(0.0 < self.view_min_scale <= 1.0, f"{path}.view_min_scale", self.view_min_scale, "a float in (0, 1]")
        if self.image_size is not None:
            sides = [self.image_size] if isinstance(self.image_size, int) else self.image_size
            _check((isinstance(self.image_size, int) or len(sides) == 2) and min(sides) >= 4, f"{path}.image_size",
                   self.image_size, "null, an integer >= 4 or a pair [H, W] of integers >= 4")
        if self.source in ("digits", "python"):
            _check(self.image_size is None and self.channels is None, f"{path}.image_size/channels",
                   (self.image_size, self.channels), f"null for {self.source} (they say how to decode image files)")
        if self.source == "python":
            _check(self.python.loader is not None and ":" in self.python.loader, f"{path}.python.loader",
                   self.python.loader, "package.module:function when data.source is python")
        if self.source == "imagefolder":
            _check(self.imagefolder.root is not None, f"{path}.imagefolder.root", None,
                   "a directory path when data.source is imagefolder")
        if self.source == "hf":
            _check((self.hf.name is None) != (self.hf.path is None), f"{path}.hf.name/{path}.hf.path",
                   (self.hf.name, self.hf.path), "exactly one of name (hub id) or path (local folder)")


@dataclass
class EmbeddingConfig:
    """Teacher embeddings stored by precompute for feature-level KD (docs/distill.md "Feature-level KD")."""

    store: bool = False
    layer: Optional[str] = None  # null: the input of the teacher's last nn.Linear (its head); else a module name
    dim: int = 0  # > 0: project to this many dimensions (<= 256) when the layer is wider; 0 stores it as it is
    projection: Literal["pca", "random"] = "pca"  # pca: fitted on train; random: a fixed Gaussian matrix
    seed: int = 0  # of the random projection, and of the train sample PCA is fitted on

    def validate(self, path: str) -> None:
        _check(0 <= self.dim <= 256, f"{path}.dim", self.dim, "0 (no projection) or an integer in 1..256")


@dataclass
class TeacherConfig:
    arch: str = "tiny_cnn"  # a built-in (tiny_cnn, mlp, resnet8) or any timm model name
    model_kwargs: dict = field(default_factory=dict)
    pretrained: bool = False  # timm weights; the stage then evaluates instead of training
    pretrained_file: Optional[str] = None  # local weights file for timm instead of the hub
    checkpoint: Optional[str] = None  # an rlkd .safetensors teacher: evaluate instead of training
    num_classes: Optional[int] = None  # the teacher head's size if it differs (ImageNet-1k: 1000)
    class_map: Optional[Any] = None  # "imagenet" or a list: teacher class index per data class
    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    calibrate: bool = True  # fit one temperature T* on val by NLL
    min_temperature: float = 1.0  # guard: a near-perfect val set can fit T* < 1 and sharpen targets
    cross_fit: int = 0  # K >= 2: K fold teachers, each sample later scored by one that never saw it
    seed: int = 0
    additional: list[str] = field(default_factory=list)  # more rlkd teacher checkpoints (multi-teacher KD)
    logits_dtype: Literal["float16", "float32"] = "float16"  # how precompute stores logits
    topk: int = 0  # > 0: store only the top-k probabilities (FKD / ReLabel); 0 stores all logits
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)

    def validate(self, path: str) -> None:
        _check_at_least(self, path, 1, "epochs", "batch_size")
        _check_at_least(self, path, 0, "weight_decay")
        _check(self.lr > 0, f"{path}.lr", self.lr, "a float > 0")
        _check(0.0 <= self.label_smoothing < 1.0, f"{path}.label_smoothing", self.label_smoothing, "a float in [0, 1)")
        _check(self.cross_fit == 0 or self.cross_fit >= 2, f"{path}.cross_fit", self.cross_fit, "0 (off) or an integer >= 2")
        _check(self.min_temperature > 0, f"{path}.min_temperature", self.min_temperature, "a float > 0")
        _check(self.topk >= 0, f"{path}.topk", self.topk, "0 (store all logits) or an integer >= 1")
        _check(self.num_classes is None or self.num_classes >= 2, f"{path}.num_classes", self.num_classes,
               "null (the data's class count) or an integer >= 2")
        cm = self.class_map
        _check(cm is None or cm == "imagenet" or (isinstance(cm, list) and all(isinstance(i, int) for i in cm)),
               f"{path}.class_map", cm, 'null, "imagenet" (match class names to ImageNet-1k wnids) or a list of ints')


@dataclass
class StudentConfig:
    arch: str = "mlp"
    model_kwargs: dict = field(default_factory=dict)
    pretrained: bool = False
    pretrained_file: Optional[str] = None


@dataclass
class FeatureKDConfig:
    """Feature-level KD from the stored teacher embeddings, added to distill.mode's loss."""

    weights: dict = field(default_factory=dict)  # loss name -> weight: fitnet, pkt, rkd; empty: off
    student_layer: Optional[str] = None  # null: the input of the student's last nn.Linear; else a module name
    kwargs: dict = field(default_factory=dict)  # loss name -> its keyword arguments, e.g. {rkd: {angle_weight: 0}}

    def validate(self, path: str) -> None:
        for name, weight in self.weights.items():
            _check(isinstance(weight, (int, float)) and not isinstance(weight, bool) and weight >= 0,
                   f"{path}.weights.{name}", weight, "a number >= 0")


@dataclass
class DistillConfig:
    """One student's run: optimiser, schedule and KD loss."""

    mode: Literal["labels", "kd", "dkd", "multi_teacher"] = "kd"
    epochs: int = 20
    batch_size: int = 64
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 0.003
    weight_decay: float = 0.0
    temperature: float = 4.0
    alpha: float = 0.1  # weight of the label loss in kd / multi_teacher
    dkd_alpha: float = 1.0
    dkd_beta: float = 8.0
    dkd_warmup: int = 5  # epochs of linear warm-up of the DKD term
    dkd_ce_weight: float = 1.0
    seed: int = 0  # the student's initialisation, and its order/view stream while order_stream is 0
    # 0: the run's sample order and views come from distill.seed; k > 0: from an independent stream k on the same
    # initialisation (`rlkd evaluate`'s A/A row: the same recipe twice, to measure what a reshuffle alone moves)
    order_stream: int = 0
    amp: bool = True  # bf16 autocast, on CUDA only
    channels_last: bool = True  # on CUDA only
    prerender_mb: int = 1024  # render all stored views once when they fit in this many MB
    feature: FeatureKDConfig = field(default_factory=FeatureKDConfig)

    def validate(self, path: str) -> None:
        _check_at_least(self, path, 1, "epochs", "batch_size")
        _check_at_least(self, path, 0, "weight_decay", "dkd_alpha", "dkd_beta", "dkd_warmup", "dkd_ce_weight",
                        "prerender_mb", "order_stream")
        _check(self.lr > 0, f"{path}.lr", self.lr, "a float > 0")
        _check(self.temperature > 0, f"{path}.temperature", self.temperature, "a float > 0")
        _check(0.0 <= self.alpha <= 1.0, f"{path}.alpha", self.alpha, "a float in [0, 1]")


@dataclass
class CurriculumConfig:
    """Which training samples an epoch uses (rlkd.distill.samplers)."""

    sampler: str = "full"  # a name in rlkd.distill.samplers.SAMPLERS
    difficulty: float = 0.5  # target difficulty when no policy chooses it
    fraction: float = 0.7  # share of the training set an epoch uses (the seed's 70%)
    stratify: bool = True  # select within each class (a global window drops whole classes)
    pacing: Literal["linear", "root", "geometric"] = "linear"
    pacing_start: float = 0.3  # pacing: share of the data at the first epoch
    kl_refresh: Literal["full", "train_pass"] = "full"  # how D_kl follows the student (docs/distill.md)
    full_pass_every: int = 5  # with train_pass: also a full pass every k epochs

    def validate(self, path: str) -> None:
        _check_sampler(self.sampler, f"{path}.sampler")
        _check(0.0 < self.fraction <= 1.0, f"{path}.fraction", self.fraction, "a float in (0, 1]")
        _check(0.0 <= self.difficulty <= 1.0, f"{path}.difficulty", self.difficulty, "a float in [0, 1]")
        _check(0.0 < self.pacing_start <= 1.0, f"{path}.pacing_start", self.pacing_start, "a float in (0, 1]")
        _check(self.full_pass_every >= 1, f"{path}.full_pass_every", self.full_pass_every, "an integer >= 1")


@dataclass
class EnvConfig:
    """The gymnasium environment: episode = one run (distill.epochs epochs or the budget), step = one epoch."""

    sampler: str = "adaptive"  # the sampler the action's difficulty drives (a name in SAMPLERS)
    action: Literal["continuous", "discrete"] = "continuous"
    difficulty_bins: int = 5  # discrete: difficulty = bin / (bins - 1)
    control_temperature: bool = False  # extra action dimension: KD temperature
    temperature_range: list[float] = field(default_factory=lambda: [1.0, 8.0])
    control_fraction: bool = True  # extra action dimension: subset fraction (lets a policy use all data)
    min_fraction: float = 0.3
    control_teacher_weights: bool = False  # one extra dimension per teacher (multi-teacher KD)
    control_alpha: bool = False  # extra action dimension: the label weight of the kd loss for the epoch, in [0, 1]
    control_mix: bool = False  # extra action dimension: share of the subset from the window, the rest random
    control_sampler: bool = False  # extra action dimension: the window sampler, one of sampler_choices
    control_feature_weight: bool = False  # extra action dimension: x0..x2 on distill.feature.weights (centre x1)
    sampler_choices: list[str] = field(default_factory=lambda: ["adaptive", "hard_mining", "clean", "easy_to_hard"])
    divergence_penalty: float = -10.0  # reward when the run diverges; the episode ends there
    seed: int = 0  # base seed of the episodes' runs
    # runs per method in `rlkd evaluate`: 24 give a 95% half-width of about 0.75 points for policy − kd on test at
    # the sd of paired differences measured on the default (1.3-1.8; docs/results.md)
    eval_seeds: int = 24
    # compute budget: a run sees at most budget x distill.epochs x N training samples (docs/distill.md)
    budget: float = 1.0
    # `--set`-style overrides for the episodes PPO trains on (`rlkd train` / `rlkd tune`), e.g.
    # ["distill.epochs=10"]: cheap proxy episodes, the policy then applied to the target (docs/rl.md)
    proxy: list[str] = field(default_factory=list)

    def validate(self, path: str) -> None:
        _check_sampler(self.sampler, f"{path}.sampler")
        _check(0.0 < self.budget <= 1.0, f"{path}.budget", self.budget,
               "a float in (0, 1], the share of distill.epochs x N training samples a run may see")
        _check(self.difficulty_bins >= 2, f"{path}.difficulty_bins", self.difficulty_bins, "an integer >= 2")
        _check(self.eval_seeds >= 1, f"{path}.eval_seeds", self.eval_seeds,
               "an integer >= 1 (set by `rlkd evaluate --seeds N` or env.eval_seeds)")
        tr = self.temperature_range
        _check(len(tr) == 2 and 0 < tr[0] < tr[1], f"{path}.temperature_range", tr, "[low, high] with 0 < low < high")
        _check(0.0 < self.min_fraction <= 1.0, f"{path}.min_fraction", self.min_fraction, "a float in (0, 1]")
        _check(self.divergence_penalty <= 0, f"{path}.divergence_penalty", self.divergence_penalty,
               "a float <= 0 (the reward of the epoch where a run diverges)")
        for i, name in enumerate(self.sampler_choices):
            _check_sampler(name, f"{path}.sampler_choices[{i}]")
        _check(len(self.sampler_choices) >= 1, f"{path}.sampler_choices", self.sampler_choices,
               "a non-empty list of sampler names (control_sampler picks one per epoch)")
        controls = ("control_temperature", "control_fraction", "control_teacher_weights", "control_alpha",
                    "control_mix", "control_sampler", "control_feature_weight")
        _check(self.action == "continuous" or not any(getattr(self, c) for c in controls), f"{path}.action",
               self.action, "continuous when any of " + " / ".join(controls) + " is on")


@dataclass
class RewardConfig:
    """Weights of the seed reward (DESIGN.md); the defaults are the seed's."""

    acc_weight: float = 2.0
    loss_weight: float = 5.0
    loss_cap: float = 5.0
    early_bonus: float = 2.0
    early_acc: float = 60.0
    early_fraction: float = 0.3
    abs_weight: float = 0.1
    abs_threshold: float = 70.0
    # l_t: "reference" = the run's configured loss over all of train after the epoch, which no action (alpha,
    # temperature, subset) can re-define; "epoch" = the epoch's mean training loss, the seed's (docs/rl.md)
    train_loss: Literal["epoch", "reference"] = "reference"

    def validate(self, path: str) -> None:
        _check_at_least(self, path, 0, "acc_weight", "loss_weight", "loss_cap", "early_bonus", "abs_weight")
        _check(0.0 <= self.early_fraction <= 1.0, f"{path}.early_fraction", self.early_fraction, "a float in [0, 1]")
        for name in ("early_acc", "abs_threshold"):
            value = getattr(self, name)
            _check(0.0 <= value <= 100.0, f"{path}.{name}", value, "an accuracy in percent, in [0, 100]")


@dataclass
class PPOConfig:
    """RLlib PPO (new API stack). One env step is one epoch, so batches are counted in epochs."""

    iterations: int = 5
    lr: float = 3e-4
    gamma: float = 0.99
    lambda_: float = 0.95
    clip_param: float = 0.2
    entropy_coeff: float = 0.0
    vf_loss_coeff: float = 1.0
    num_epochs: int = 10
    minibatch_size: int = 40
    episodes_per_batch: int = 2  # train batch = this many whole episodes (RLlib samples whole episodes)
    checkpoint_every: int = 1  # iterations
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    seed: int = 0
    checkpoint: Optional[str] = None  # policy checkpoint for apply / evaluate (set by the train stage)
    # more PPO runs' checkpoints for `rlkd evaluate`: each is reported, and pooled with ppo.checkpoint over PPO
    # runs x seeds (a claim about the method replicates over PPO runs, not only over student seeds)
    checkpoints: list[str] = field(default_factory=list)
    resume: Optional[str] = None  # continue training from this checkpoint, iteration count intact

    def validate(self, path: str) -> None:
        _check_at_least(self, path, 1, "iterations", "num_epochs", "minibatch_size", "episodes_per_batch",
                        "checkpoint_every")
        _check_at_least(self, path, 0, "entropy_coeff", "vf_loss_coeff")
        _check(self.lr > 0, f"{path}.lr", self.lr, "a float > 0")
        _check(self.clip_param > 0, f"{path}.clip_param", self.clip_param, "a float > 0")
        for name in ("gamma", "lambda_"):
            value = getattr(self, name)
            _check(0.0 <= value <= 1.0, f"{path}.{name}", value, "a float in [0, 1]")
        _check(len(self.hidden) >= 1 and all(size >= 1 for size in self.hidden), f"{path}.hidden", self.hidden,
               "a non-empty list of layer sizes, each an integer >= 1")


@dataclass
class TuneConfig:
    """Ray Tune over PPO (`rlkd tune`), the PBT curriculum baseline (`rlkd pbt`) and the KD recipe (`rlkd recipe`).

    param_space (and recipe_space) maps any config key to a search: {grid: [..]}, {choice: [..]},
    {uniform: [lo, hi]} or {loguniform: [lo, hi]}, e.g. `ppo.lr: {loguniform: [1e-4, 1e-3]}`.
    """

    num_samples: int = 1
    scheduler: Literal["none", "asha", "pbt"] = "none"
    max_concurrent_trials: int = 0  # 0: as many as the resources allow
    metric: str = "env_runners/episode_return_mean"
    mode: Literal["max", "min"] = "max"
    param_space: dict = field(default_factory=dict)
    stop: dict = field(default_factory=dict)  # extra stop criteria (metric: value); iterations from ppo.iterations
    storage_path: Optional[str] = None  # default: <out>/ray_results (use shared storage on a cluster)
    keep_checkpoints: int = 2  # best k by `metric`
    max_failures: int = 2  # retries of a failed trial from its last checkpoint
    grace_period: int = 2  # ASHA: iterations before a trial can be stopped
    perturbation_interval: int = 4  # PBT: iterations (PPO) or epochs (the pbt baseline) between exploits
    pbt_population: int = 4  # `rlkd pbt`: KD runs in the population (at least)
    pbt_budget: float = 0.0  # `rlkd pbt`: KD epochs to spend (e.g. the RL's); 0: pbt_population members only
    pbt_schedule: Optional[str] = None  # a schedule.json from `rlkd pbt`, shown by `rlkd evaluate`
    # `rlkd recipe`: the plain-KD settings searched on val before RL (docs/distill.md, "Recipe stage")
    recipe_space: dict = field(default_factory=lambda: {
        "distill.lr": {"loguniform": [0.0003, 0.03]}, "distill.temperature": {"choice": [1.0, 2.0, 4.0, 8.0]},
        "distill.alpha": {"uniform": [0.1, 0.9]}})
    recipe_samples: int = 12  # KD runs in the search, the config's own recipe included
    recipe_grace_period: int = 5  # ASHA: epochs before a recipe trial can be stopped
    recipe_seeds: int = 2  # KD runs per recipe trial, ranked by their mean val accuracy
    recipe_finalists: int = 3  # the search's best recipes re-run (with the config's own) on fresh seeds to choose
    # fresh choice seeds each finalist and the config's own recipe are re-run on; a finalist replaces the config's
    # recipe only where the lower bound of its paired recipe_confidence interval of val gain is above 0
    recipe_confirm_seeds: int = 8
    recipe_confidence: float = 0.9
    # informational, set by the recipe stage's wiring for `rlkd evaluate`'s report: KD's tuning budget, and the
    # config's own recipe as overrides when the stage replaced it (evaluate's "kd, the config's own recipe" row)
    recipe_trials: int = 0
    recipe_epochs: int = 0
    recipe_replaced: list[str] = field(default_factory=list)
    recipe_choice: list[int] = field(default_factory=list)  # the seeds.choice range the recipe stage drew from
    recipe_seconds: float = 0.0  # the recipe stage's wall time
    # `rlkd evaluate`'s "kd, tuned at the RL's budget" (rlkd.tune.budget_search): searched unless false; its budget
    # in KD epochs, 0: the RL's (the checkpoint's metrics.json from `rlkd train`) plus the recipe's
    tuned_baseline: bool = True
    baseline_budget: float = 0.0

    def validate(self, path: str) -> None:
        _check_at_least(self, path, 1, "num_samples", "keep_checkpoints", "grace_period", "perturbation_interval",
                        "recipe_samples", "recipe_grace_period", "recipe_seeds",
                        "recipe_finalists")
        _check(self.recipe_confirm_seeds >= 2, f"{path}.recipe_confirm_seeds", self.recipe_confirm_seeds,
               "an integer >= 2 (a paired interval needs two seeds; 8 or more for a 360-sample val set)")
        _check(0.5 <= self.recipe_confidence < 1.0, f"{path}.recipe_confidence", self.recipe_confidence,
               "a float in [0.5, 1), the level of the paired interval a finalist's val gain must clear")
        _check_at_least(self, path, 0, "max_concurrent_trials", "max_failures", "recipe_trials", "recipe_epochs",
                        "recipe_seconds", "baseline_budget", "pbt_budget")
        _check(len(self.recipe_space) >= 1, f"{path}.recipe_space", self.recipe_space,
               "a mapping of at least one config key to its search (tune.recipe_samples=1 runs the config's own "
               "recipe only)")
        _check(self.pbt_population >= 2, f"{path}.pbt_population", self.pbt_population, "an integer >= 2")
        for metric, value in self.stop.items():
            _check(isinstance(value, (int, float)) and not isinstance(value, bool), f"{path}.stop.{metric}", value,
                   "a number: the trial stops when the metric reaches it")
        for space in SEARCH_SPACES:
            for key, spec in getattr(self, space).items():
                _check_search(spec, f"{path}.{space}.{key}")


SEARCH_KINDS = ("grid", "choice", "uniform", "loguniform")
SEARCH_SPACES = ("param_space", "recipe_space")  # the tune fields mapping config keys to searches


def _check_search(spec: Any, path: str) -> None:
    """The shape of one search; whether its values fit the key is checked by `Config.validate`."""
    _check(isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in SEARCH_KINDS
           and isinstance(next(iter(spec.values())), list), path, spec,
           "one of {grid: [...]}, {choice: [...]}, {uniform: [lo, hi]}, {loguniform: [lo, hi]}")
    (kind, values), = spec.items()
    if kind in ("grid", "choice"):
        _check(len(values) >= 1, f"{path}.{kind}", values, "a non-empty list of the values to try")
        return
    bounds = [_coerce(v, float, f"{path}.{kind}[{i}]") for i, v in enumerate(values)]
    low = 0.0 if kind == "loguniform" else -math.inf
    _check(len(bounds) == 2 and all(math.isfinite(b) for b in bounds) and low < bounds[0] < bounds[1],
           f"{path}.{kind}", values, "[lo, hi]: two finite numbers with lo < hi"
           + (" and lo > 0 (a log scale)" if kind == "loguniform" else ""))


SEED_RANGE = "[start, stop): integers with 0 <= start < stop"


def _check_seed_range(bounds: Any, path: str) -> None:
    _check(isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, int) for b in bounds)
           and 0 <= bounds[0] < bounds[1], path, bounds, SEED_RANGE)


@dataclass
class SeedsConfig:
    """Named, disjoint ranges [start, stop) of student seeds by what they may be used for (rlkd/seeds.py).

    Choices (recipe trials and finalists, tuned baselines, PBT, PPO episodes) draw from `choice`; `rlkd evaluate`
    from `evaluation`, or from one named `confirmation` range (the docs' headline runs, one per headline) with
    `evaluate_on: confirmation.<name>`. No two ranges may share a seed, and 10000-10009 (the old evaluation
    seeds, used for choices) are spent: no evaluation or confirmation range may hold them.
    """

    choice: list[int] = field(default_factory=lambda: [0, 10_000])
    evaluation: list[int] = field(default_factory=lambda: [20_000, 30_000])
    confirmation: dict = field(default_factory=lambda: {
        "default": [30_000, 30_500], "label_noise_0.2": [30_500, 31_000], "label_noise_0.4": [31_000, 31_500],
        "budget_0.5": [31_500, 32_000]})
    evaluate_on: str = "evaluation"

    def named(self) -> dict[str, list[int]]:
        """Every range by its config key."""
        return {"seeds.choice": self.choice, "seeds.evaluation": self.evaluation,
                **{f"seeds.confirmation.{k}": v for k, v in self.confirmation.items()}}

    def evaluation_range(self) -> tuple[str, list[int]]:
        """(config key, range) that `rlkd evaluate` draws its seeds from."""
        key = "seeds.evaluation" if self.evaluate_on == "evaluation" else f"seeds.{self.evaluate_on}"
        return key, self.named()[key]

    def validate(self, path: str) -> None:
        for key, bounds in self.named().items():
            _check_seed_range(bounds, key)
        _check(self.choice[1] - self.choice[0] > EPISODES_OFFSET, f"{path}.choice", self.choice,
               f"a range of more than {EPISODES_OFFSET} seeds (the stages' blocks, then the PPO episodes)")
        names = ["evaluation", *(f"confirmation.{k}" for k in self.confirmation)]
        _check(self.evaluate_on in names, f"{path}.evaluate_on", self.evaluate_on, "one of " + ", ".join(names))
        ranges = list(self.named().items())
        for i, (key, bounds) in enumerate(ranges):
            if key != "seeds.choice" and overlap(bounds, SPENT):
                raise ConfigError(f"{key}: {bounds} holds seeds of {list(SPENT)}, the old evaluation seeds that were "
                                  f"used for choices; start it at {SPENT[1]} or later")
            for other, other_bounds in ranges[i + 1:]:
                if overlap(bounds, other_bounds):
                    raise ConfigError(f"{key} {bounds} and {other} {other_bounds} share seeds; seed ranges must be "
                                      f"disjoint (a seed that chose something cannot also measure it)")


@dataclass
class ResourcesConfig:
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_env_runners: int = 0
    num_envs_per_env_runner: int = 1
    num_cpus_per_env_runner: float = 1.0
    num_gpus_per_env_runner: float = 0.0
    num_learners: int = 0
    num_gpus_per_learner: float = 0.0
    precompute_actors: int = 1
    precompute_batch_size: int = 256
    precompute_gpus_per_actor: float = 0.0
    precompute_cpus_per_actor: float = 0.5  # < 1 on small machines leaves a CPU for Ray Data's own tasks
    precompute_rows_per_shard: int = 50_000
    ray_address: Optional[str] = None  # null: an embedded local Ray on 127.0.0.1; else ray.init(address=...)
    torch_threads: int = 0  # 0: leave torch's default
    sample_timeout_s: float = 60.0  # RLlib's wait for env runners' episodes per iteration; raise it for slow epochs
    env_runner_restarts: int = 3  # PPO stops after this many iterations in a row whose env runners all failed
    # most runs one StudentPopulation trains at once (evaluate's method x seed grid); on a cluster each
    # population is one Ray task with num_cpus/gpus_per_env_runner
    population_size: int = 32

    def validate(self, path: str) -> None:
        _check_at_least(self, path, 1, "num_envs_per_env_runner", "precompute_actors", "precompute_batch_size",
                        "precompute_rows_per_shard", "env_runner_restarts", "population_size")
        _check(self.sample_timeout_s > 0, f"{path}.sample_timeout_s", self.sample_timeout_s, "a number of seconds > 0")
        _check_at_least(self, path, 0, "num_env_runners", "num_cpus_per_env_runner", "num_gpus_per_env_runner",
                        "num_learners", "num_gpus_per_learner", "precompute_gpus_per_actor",
                        "precompute_cpus_per_actor", "torch_threads")


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    seeds: SeedsConfig = field(default_factory=SeedsConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)

    def validate(self, path: str) -> None:
        """Each key of a tune search space must name a config field and every value it tries must fit that field;
        env.proxy must make a valid config with the target's action space."""
        for space in SEARCH_SPACES:
            for key, spec in getattr(self.tune, space).items():
                where = f"tune.{space}.{key}"
                try:
                    tp = _field_type(key.split("."))
                except ConfigError as exc:
                    raise ConfigError(f"{where}: not a config key ({exc})") from None
                (kind, values), = spec.items()
                tried = values if kind in ("grid", "choice") else [float(v) for v in values]
                for i, value in enumerate(tried):
                    _check_finite(_coerce(value, tp, f"{where}.{kind}[{i}]"), f"{where}.{kind}[{i}]")
        for key in ("recipe_seeds", "recipe_confirm_seeds"):  # found too many only after a search, it wastes it
            _check(getattr(self.tune, key) <= BLOCK_SIZE, f"tune.{key}", getattr(self.tune, key),
                   f"at most {BLOCK_SIZE}, the seeds of its block of seeds.choice (rlkd/seeds.py)")
        _check(not self.env.control_feature_weight or bool(self.distill.feature.weights), "env.control_feature_weight",
               True, "false unless distill.feature.weights names a feature loss (the action scales those weights)")
        _check(not self.distill.feature.weights or self.teacher.embedding.store, "teacher.embedding.store", False,
               "true when distill.feature.weights is set (feature losses read the stored teacher embeddings)")
        _check_proxy(self)


# ----------------------------------------------------------------------------- loading


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin is list:
        return f"a list ({_type_name(typing.get_args(tp)[0])} each)"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false",
            list: "a list", dict: "a mapping"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check `value` against type hint `tp`; return it (ints widened to float where a float is due)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value in typing.get_args(tp) and type(value) in {type(a) for a in typing.get_args(tp)}:
            return value
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, arg, path)
            except ConfigError:
                pass
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, dict):
            return _build(tp, value, path)
    elif origin is list:
        if isinstance(value, list):
            return [_coerce(item, typing.get_args(tp)[0], f"{path}[{i}]") for i, item in enumerate(value)]
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{path}: value {value!r} has the wrong type; expected {_type_name(tp)}")


def _unknown_key(cls: type, key: str, path: str) -> ConfigError:
    names = [f.name for f in dataclasses.fields(cls)]
    where = f"{path}.{key}" if path else key
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return ConfigError(f"{where}: unknown key.{hint} Allowed keys here: {', '.join(names)}")


def _check_finite(value: Any, path: str) -> None:
    """NaN and inf (YAML .nan / .inf) slip past range checks such as `lr > 0` or poison a run later: refuse
    them in every float of the config, inside lists and mappings (model_kwargs, param_space) too."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{path}: value {value!r} is not allowed; expected a finite number")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite(item, f"{path}[{i}]")


def _build(cls: type, data: dict, path: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise _unknown_key(cls, str(key), path)
        where = f"{path}.{key}" if path else key
        kwargs[key] = _coerce(value, hints[key], where)
        _check_finite(kwargs[key], where)
    obj = cls(**kwargs)
    if hasattr(obj, "validate"):
        obj.validate(path)
    return obj


def config_from_dict(data: dict) -> Config:
    if not isinstance(data, dict):
        raise ConfigError(f"the config must be a mapping of sections, got {type(data).__name__}")
    return _build(Config, data)


def with_overrides(cfg: Config, overrides: list[str]) -> Config:
    """A copy of `cfg` with `key.path=value` overrides applied and validated."""
    return config_from_dict(apply_overrides(config_to_dict(cfg), overrides)) if overrides else cfg


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError("expected key.path=value, e.g. distill.epochs=5")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"the value is not valid YAML ({exc})") from exc
    return key.strip().split("."), value


def _field_type(keys: list[str]) -> Any:
    """The type hint of the config field at a key path; ConfigError (with a suggestion) if there is none."""
    tp: Any = Config
    for depth, key in enumerate(keys):
        if not dataclasses.is_dataclass(tp):
            raise ConfigError(f"{'.'.join(keys[:depth])} is not a config section")
        if key not in {f.name for f in dataclasses.fields(tp)}:
            raise _unknown_key(tp, key, ".".join(keys[:depth]))
        tp = typing.get_type_hints(tp)[key]
    return tp


def _apply_override(data: dict, item: str) -> None:
    """Set one `a.b.c=value` item into a raw config dict; the key path must exist in `Config`."""
    keys, value = _parse_override(item)
    _field_type(keys)
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Set `a.b.c=value` items into a raw config dict; the key path must exist in `Config`."""
    for item in overrides:
        try:
            _apply_override(data, item)
        except ConfigError as exc:
            raise ConfigError(f"--set {item!r}: {exc}") from None
    return data


def _set_keys(item: str) -> list[str]:
    """The dotted keys an override sets: one that sets a section (`env={budget: 0.5}`) replaces it whole, so it
    sets every key inside it."""
    keys, _ = _parse_override(item)

    def leaves(path: str, tp: Any) -> list[str]:
        if not dataclasses.is_dataclass(tp):
            return [path]
        hints = typing.get_type_hints(tp)
        return [key for f in dataclasses.fields(tp) for key in leaves(f"{path}.{f.name}", hints[f.name])]

    return leaves(".".join(keys), _field_type(keys))


def _proxy_base(cfg: Config) -> dict:
    """The target as a raw dict without its proxy: the proxy config is run as it is, and validating it
    does not apply the overrides again."""
    data = config_to_dict(cfg)
    data["env"]["proxy"] = []
    return data


def proxy_config(cfg: Config) -> Config:
    """The config of the episodes PPO trains on: the target with `env.proxy` applied (the target itself without one).

    Only `rlkd train` / `rlkd tune` episodes use it; checkpoints save the target config (which records
    the proxy), so `rlkd apply` / `rlkd evaluate` run the target. Validated when the target was loaded.
    """
    if not cfg.env.proxy:
        return cfg
    return absolute_paths(config_from_dict(apply_overrides(_proxy_base(cfg), cfg.env.proxy)))


def action_space_keys() -> list[str]:
    """Config keys that fix the env's action space and what its actions mean (rlkd.curriculum.actions): the
    switches and ranges, and distill.alpha / distill.temperature, the centre the box is anchored on."""
    controls = [f"env.{f.name}" for f in dataclasses.fields(EnvConfig) if f.name.startswith("control_")]
    return [*controls, "env.action", "env.difficulty_bins", "env.sampler", "env.sampler_choices",
            "env.temperature_range", "env.min_fraction", "teacher.additional", "distill.alpha",
            "distill.temperature"]


def _proxy_refusal(key: str) -> Optional[str]:
    """Why an env.proxy entry may not set `key` (None: it may)."""
    if key == "env.proxy":
        return "sets env.proxy itself; a proxy is one list of overrides on the target, proxies do not nest"
    if key.split(".")[0] in ("ppo", "resources"):
        return (f"sets {key}; PPO's settings and resources belong to the training run, not to its episodes: "
                f"set {key} directly")
    if key in action_space_keys():
        return (f"sets {key}, which fixes the action space; the policy trained on proxy episodes acts in the "
                f"target's, so set {key} for the target (outside env.proxy)")
    return None


def _check_proxy(cfg: Config) -> None:
    """Each env.proxy entry must parse, leave PPO and the action space alone, and apply; the proxy config must
    validate: entries are applied in order, so an error names the first entry that breaks it."""
    data = _proxy_base(cfg)
    for i, entry in enumerate(cfg.env.proxy):
        where = f"env.proxy[{i}] = {entry!r}"
        try:
            keys = _set_keys(entry)
            for key in keys:
                why = _proxy_refusal(key)
                if why:
                    raise ConfigError(("sets a whole section, so all of its keys; it " if len(keys) > 1 else "") + why)
            _apply_override(data, entry)
            config_from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    for key in cfg.tune.param_space:
        for i, entry in enumerate(cfg.env.proxy):
            if key in _set_keys(entry):
                raise ConfigError(f"tune.param_space.{key}: env.proxy[{i}] = {entry!r} sets it too; a searched key "
                                  f"takes the searched values in the proxy episodes and the target alike, so drop it "
                                  f"from one of the two")


PATH_KEYS = ("data.shards", "data.hf.path", "data.hf.data_dir", "data.imagefolder.root", "teacher.checkpoint",
             "teacher.pretrained_file", "student.pretrained_file", "ppo.checkpoint", "ppo.resume",
             "tune.storage_path", "tune.pbt_schedule")


def absolute_paths(cfg: Config) -> Config:
    """Make file paths absolute: Ray workers and Tune trials do not run in the caller's directory."""
    def fix(value):
        return value if value is None or "://" in value else str(Path(value).expanduser().absolute())

    for key in PATH_KEYS:
        section, *rest = key.split(".")
        node = getattr(cfg, section)
        for part in rest[:-1]:
            node = getattr(node, part)
        setattr(node, rest[-1], fix(getattr(node, rest[-1])))
    cfg.teacher.additional = [fix(p) for p in cfg.teacher.additional]
    return cfg


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML experiment file (default: the embedded digits one), apply overrides, validate."""
    path = Path(path) if path is not None else default_config_path()
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass --config with a YAML file "
                          f"(shipped ones: tune_configs/*.yaml)")
    with open(path) as fh:
        try:
            data = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    apply_overrides(data, overrides or [])
    try:
        return absolute_paths(config_from_dict(data))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def default_config_path() -> Path:
    """The shipped digits config, looked up from the working directory, then from the checkout."""
    for candidate in (Path.cwd() / DEFAULT_CONFIG, Path(__file__).resolve().parent.parent / DEFAULT_CONFIG):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"cannot find the default config {DEFAULT_CONFIG}; pass --config PATH")


def config_to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def config_yaml(cfg: Config) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


def save_config(cfg: Config, path: str | Path) -> None:
    from rlkd.workdir import atomic_write_text

    atomic_write_text(path, config_yaml(cfg))
