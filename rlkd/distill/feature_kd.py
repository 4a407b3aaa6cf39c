"""The student side of feature-level KD: its feature tap, the losses (with their learned parts), the weights.

The teacher side is a table: precompute stored the teacher's embedding of every (sample, view) row once
(rlkd.precompute.embeddings), so a step costs the student's own forward plus a small loss, never a teacher
forward. The losses themselves live in rlkd.distill.feature_losses (registry by name).
"""

from __future__ import annotations

import torch
from torch import nn

from rlkd.config import FeatureKDConfig
from rlkd.distill.feature_losses import build_feature_losses, feature_loss
from rlkd.models.features import FeatureTap


class FeatureDistiller:
    def __init__(self, student: nn.Module, cfg: FeatureKDConfig, teacher_dim: int, sample: torch.Tensor):
        """`sample`: two inputs, run once through the student to learn its feature width."""
        self.tap = FeatureTap(student, cfg.student_layer, "distill.feature.student_layer")
        was_training = student.training
        with torch.no_grad():
            student.eval()
            student(sample)
        student.train(was_training)
        self.weights = dict(cfg.weights)
        self.losses = build_feature_losses(self.weights, self.tap.take().shape[1], teacher_dim, cfg.kwargs)
        self.losses.to(sample.device)

    def parameters(self) -> list[nn.Parameter]:
        """What the losses learn (FitNet's projection): trained by the student's optimiser."""
        return list(self.losses.parameters())

    def loss(self, teacher_features: torch.Tensor, scale: float) -> torch.Tensor:
        """scale x sum of weight x loss, on the features of the student's last forward."""
        return scale * feature_loss(self.losses, self.weights, self.tap.take(), teacher_features)
