"""Typed experiment config: one YAML file per experiment, `--set a.b=c` overrides.

Every section is a dataclass in its own module, with its sub-sections nested (`distill.dkd`,
`resources.precompute`, `tune.recipe`, `tune.pbt`). Loading walks the YAML against the type hints, so an
unknown key, a wrong type or a value outside its allowed set is an error that names the full key path
(``data.digits.canvas``) and what is allowed; a key that moved names its new place (rlkd.config.renames).
This package imports neither torch nor the engine: names that live in registries (samplers, losses) are
checked against them by `rlkd.names`, when a stage loads its config.
"""

from rlkd.config.curriculum import CurriculumConfig
from rlkd.config.data import DataConfig, DigitsConfig, HFConfig, ImageFolderConfig, LabelNoiseConfig, PythonDataConfig
from rlkd.config.distill import DistillConfig, DKDConfig, FeatureKDConfig
from rlkd.config.env import EnvConfig, TaskConfig
from rlkd.config.loader import (
                                DEFAULT_CONFIG,
                                config_from_dict,
                                config_to_dict,
                                config_yaml,
                                default_config_path,
                                load_config,
                                load_stored_config,
                                save_config,
                                with_overrides,
)
from rlkd.config.overrides import apply_overrides
from rlkd.config.paths import PATH_KEYS, absolute_paths
from rlkd.config.ppo import PPOConfig
from rlkd.config.proxy import action_space_keys, episode_configs, proxy_config, task_config
from rlkd.config.resources import PrecomputeResources, ResourcesConfig
from rlkd.config.reward import RewardConfig
from rlkd.config.root import Config
from rlkd.config.seeds import SeedsConfig
from rlkd.config.teacher import EmbeddingConfig, StudentConfig, TeacherConfig
from rlkd.config.tune import SEARCH_SPACES, PBTConfig, RecipeConfig, TuneConfig, search_space

__all__ = ["DEFAULT_CONFIG", "PATH_KEYS", "SEARCH_SPACES", "Config", "CurriculumConfig", "DKDConfig", "DataConfig",
           "DigitsConfig", "DistillConfig", "EmbeddingConfig", "EnvConfig", "FeatureKDConfig", "HFConfig",
           "ImageFolderConfig", "LabelNoiseConfig", "PBTConfig", "PPOConfig", "PrecomputeResources",
           "PythonDataConfig", "RecipeConfig", "ResourcesConfig", "RewardConfig", "SeedsConfig", "StudentConfig",
           "TaskConfig", "TeacherConfig", "TuneConfig", "absolute_paths", "action_space_keys", "apply_overrides",
           "config_from_dict", "config_to_dict", "config_yaml", "default_config_path", "episode_configs",
           "load_config", "load_stored_config", "proxy_config", "save_config", "search_space", "task_config",
           "with_overrides"]
