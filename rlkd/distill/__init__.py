"""The distillation engine: KD losses, samplers, `DistillationRun` and `StudentPopulation` (plain PyTorch, no Ray)."""

from rlkd.distill.losses import LOSSES, Targets, build_loss
from rlkd.distill.population import StudentPopulation
from rlkd.distill.run import DistillationRun, EpochStats, NonFiniteLossError
from rlkd.distill.samplers import SAMPLERS, SamplerAction, sample_indices

__all__ = ["LOSSES", "SAMPLERS", "DistillationRun", "EpochStats", "NonFiniteLossError", "SamplerAction",
           "StudentPopulation", "Targets", "build_loss", "sample_indices"]
