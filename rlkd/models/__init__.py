"""Teachers and students: timm models or small built-ins; safetensors weights."""

from rlkd.models.builtin import BUILTIN_MODELS
from rlkd.models.factory import ImageClassifier, build_model
from rlkd.models.io import file_sha256, load_weights, read_metadata, save_weights

__all__ = ["BUILTIN_MODELS", "ImageClassifier", "build_model", "file_sha256", "load_weights",
           "read_metadata", "save_weights"]
