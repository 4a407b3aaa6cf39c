"""The `teacher:` and `student:` sections: the models, how the teacher is trained and what precompute stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from rlkd.config.checks import check, check_at_least


@dataclass
class EmbeddingConfig:
    """Teacher embeddings stored by precompute for feature-level KD (docs/distill.md "Feature-level KD")."""

    store: bool = False
    layer: Optional[str] = None  # null: the input of the teacher's last nn.Linear (its head); else a module name
    dim: int = 0  # > 0: project to this many dimensions (<= 256) when the layer is wider; 0 stores it as it is
    projection: str = "pca"  # a name in rlkd.precompute.embeddings.PROJECTIONS (pca, random)
    seed: int = 0  # of the random projection, and of the train sample PCA is fitted on

    def validate(self, path: str) -> None:
        check(0 <= self.dim <= 256, f"{path}.dim", self.dim, "0 (no projection) or an integer in 1..256")


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
        check_at_least(self, path, 1, "epochs", "batch_size")
        check_at_least(self, path, 0, "weight_decay")
        check(self.lr > 0, f"{path}.lr", self.lr, "a float > 0")
        check(0.0 <= self.label_smoothing < 1.0, f"{path}.label_smoothing", self.label_smoothing, "a float in [0, 1)")
        check(self.cross_fit == 0 or self.cross_fit >= 2, f"{path}.cross_fit", self.cross_fit,
              "0 (off) or an integer >= 2")
        check(self.min_temperature > 0, f"{path}.min_temperature", self.min_temperature, "a float > 0")
        check(self.topk >= 0, f"{path}.topk", self.topk, "0 (store all logits) or an integer >= 1")
        check(self.num_classes is None or self.num_classes >= 2, f"{path}.num_classes", self.num_classes,
              "null (the data's class count) or an integer >= 2")
        cm = self.class_map
        check(cm is None or cm == "imagenet" or (isinstance(cm, list) and all(isinstance(i, int) for i in cm)),
              f"{path}.class_map", cm, 'null, "imagenet" (match class names to ImageNet-1k wnids) or a list of ints')


@dataclass
class StudentConfig:
    arch: str = "mlp"
    model_kwargs: dict = field(default_factory=dict)
    pretrained: bool = False
    pretrained_file: Optional[str] = None
