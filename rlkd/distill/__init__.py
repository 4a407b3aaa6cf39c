"""The distillation engine: KD losses, samplers and `DistillationRun` (plain PyTorch, no Ray)."""

from rlkd.distill.losses import LOSSES, Targets, build_loss
from rlkd.distill.run import DistillationRun, EpochStats, NonFiniteLossError
from rlkd.distill.samplers import SAMPLERS, SamplerAction, sample_indices

__all__ = ["LOSSES", "SAMPLERS", "DistillationRun", "EpochStats", "NonFiniteLossError", "SamplerAction",
           "Targets", "build_loss", "sample_indices"]
