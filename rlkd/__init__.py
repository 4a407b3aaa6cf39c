"""rlkd: knowledge distillation with an RL-chosen curriculum, scaled out on Ray.

The top-level names load on first use, so `import rlkd.config` (or the CLI's help) imports no torch,
gymnasium or Ray.
"""

from __future__ import annotations

import importlib

__version__ = "0.3.0"

_API = {  # name -> the module that defines it
    "DistillationRun": "rlkd.distill.run",
    "StudentPopulation": "rlkd.distill.population",
    "sample_difficulty": "rlkd.difficulty",
    "CurriculumEnv": "rlkd.env.curriculum_env",
    "CurriculumVectorEnv": "rlkd.env.vector_env",
    "curriculum_reward": "rlkd.env.reward",
    "load_policy": "rlkd.curriculum.policies",  # no Ray: reads the plain policy export
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rlkd' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
