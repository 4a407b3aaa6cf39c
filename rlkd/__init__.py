"""rlkd: knowledge distillation with an RL-chosen curriculum, scaled out on Ray."""

__version__ = "0.1.0"

from rlkd.difficulty import sample_difficulty  # noqa: E402
from rlkd.distill.run import DistillationRun  # noqa: E402

__all__ = ["DistillationRun", "__version__", "sample_difficulty"]
