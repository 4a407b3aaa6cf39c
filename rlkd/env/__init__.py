"""The gymnasium environment and the seed reward (plain gymnasium: no Ray here)."""

from rlkd.curriculum.observation import OBS_KEYS, encode_observation
from rlkd.env.curriculum_env import CurriculumEnv, EpochStepper, env_config_for
from rlkd.env.reward import curriculum_reward

__all__ = ["OBS_KEYS", "CurriculumEnv", "EpochStepper", "curriculum_reward", "encode_observation", "env_config_for"]
