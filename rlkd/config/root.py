"""The whole config: one field per section, and the checks that span sections."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlkd.config.checks import check
from rlkd.config.coerce import check_finite, coerce, field_type
from rlkd.config.curriculum import CurriculumConfig
from rlkd.config.data import DataConfig
from rlkd.config.distill import DistillConfig
from rlkd.config.env import EnvConfig
from rlkd.config.ppo import PPOConfig
from rlkd.config.resources import ResourcesConfig
from rlkd.config.reward import RewardConfig
from rlkd.config.seeds import SeedsConfig
from rlkd.config.teacher import StudentConfig, TeacherConfig
from rlkd.config.tune import SEARCH_SPACES, TuneConfig, search_space
from rlkd.errors import ConfigError
from rlkd.seeds import BLOCK_SIZE


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
        """Each key of a tune search space must name a config field and every value it tries must fit that field
        (env.proxy is checked by the loader, rlkd.config.proxy)."""
        for space in SEARCH_SPACES:
            for key, spec in search_space(self.tune, space).items():
                where = f"tune.{space}.{key}"
                try:
                    tp = field_type(Config, key.split("."))
                except ConfigError as exc:
                    raise ConfigError(f"{where}: not a config key ({exc})") from None
                (kind, values), = spec.items()
                tried = values if kind in ("grid", "choice") else [float(v) for v in values]
                for i, value in enumerate(tried):
                    check_finite(coerce(value, tp, f"{where}.{kind}[{i}]"), f"{where}.{kind}[{i}]")
        for key in ("seeds", "confirm_seeds"):  # found too many only after a search, it wastes it
            value = getattr(self.tune.recipe, key)
            check(value <= BLOCK_SIZE, f"tune.recipe.{key}", value,
                  f"at most {BLOCK_SIZE}, the seeds of its block of seeds.choice (rlkd/seeds.py)")
        check(not self.env.control_feature_weight or bool(self.distill.feature.weights), "env.control_feature_weight",
              True, "false unless distill.feature.weights names a feature loss (the action scales those weights)")
        check(not self.distill.feature.weights or self.teacher.embedding.store, "teacher.embedding.store", False,
              "true when distill.feature.weights is set (feature losses read the stored teacher embeddings)")
