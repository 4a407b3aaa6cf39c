"""rlkd: knowledge distillation with an RL-chosen curriculum, scaled out on Ray."""

__version__ = "0.1.0"

from rlkd.difficulty import sample_difficulty  # noqa: E402
from rlkd.distill.population import StudentPopulation  # noqa: E402
from rlkd.distill.run import DistillationRun  # noqa: E402

__all__ = ["DistillationRun", "StudentPopulation", "__version__", "sample_difficulty"]

from rlkd.env.curriculum_env import CurriculumEnv  # noqa: E402
from rlkd.env.reward import curriculum_reward  # noqa: E402
from rlkd.env.vector_env import CurriculumVectorEnv  # noqa: E402

__all__ += ["CurriculumEnv", "CurriculumVectorEnv", "curriculum_reward"]

from rlkd.curriculum.policies import load_policy  # noqa: E402  (no Ray: reads the plain policy export)

__all__ += ["load_policy"]
