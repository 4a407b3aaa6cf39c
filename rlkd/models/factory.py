"""`build_model`: any timm model or a built-in, wrapped so that it takes uint8 images."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from safetensors import SafetensorError
from torch import nn

from rlkd.errors import CheckpointError, ConfigError
from rlkd.models.builtin import BUILTIN_MODELS
from rlkd.models.imported import imported_model, is_import_path
from rlkd.models.io import read_torch_state_dict


class ImageClassifier(nn.Module):
    """Normalises raw 0..255 pixels inside the model, so teacher, student and precompute agree."""

    def __init__(self, net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1) * 255.0, persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net((images.to(self.mean.dtype) - self.mean) / self.std)


def _pretrained_overlay(pretrained_file: str, key: str) -> dict:
    """timm's pretrained-config overlay for a local weights file.

    A .safetensors file goes to timm's own loader (it holds nothing but tensors). Any
    other file is read here with torch.load(weights_only=True) and handed to timm as a
    state dict, so timm never unpickles it; timm then applies the same head / input-conv
    adaptation and strict load as for safetensors.
    """
    if not Path(pretrained_file).is_file():
        raise CheckpointError(f"{key}: {pretrained_file} does not exist; point it at a local weights file "
                              f"(.safetensors, or a torch.save'd state_dict)")
    if pretrained_file.endswith(".safetensors"):
        return {"file": pretrained_file}
    try:
        return {"state_dict": read_torch_state_dict(pretrained_file)}
    except CheckpointError as exc:
        raise CheckpointError(f"{key}: {exc}") from exc


def _timm_model(name: str, num_classes: int, in_chans: int, pretrained: bool, pretrained_file: Optional[str],
                kwargs: dict, key: str) -> tuple[nn.Module, tuple, tuple]:
    import timm

    if not timm.is_model(name):
        raise ConfigError(f"model {name!r} is neither a built-in ({', '.join(BUILTIN_MODELS)}) nor a timm model; "
                          f"list timm's with timm.list_models('*{name[:4]}*')")
    file_key = f"{key}pretrained_file"
    overlay = _pretrained_overlay(pretrained_file, file_key) if pretrained and pretrained_file else None
    try:
        net = timm.create_model(name, pretrained=pretrained, num_classes=num_classes, in_chans=in_chans,
                                pretrained_cfg_overlay=overlay, **kwargs)
    except TypeError as exc:  # an argument the model's constructor does not take
        raise ConfigError(f"{key}model_kwargs: {kwargs} do not fit timm model {name!r} ({exc}); remove or rename "
                          f"the keys the model does not take") from exc
    except (RuntimeError, KeyError, SafetensorError) as exc:
        if overlay is None:
            raise
        raise CheckpointError(f"{file_key}: {pretrained_file} does not fit timm model {name!r} "
                              f"({' '.join(str(exc).split())[:300]}); use weights saved from this model "
                              f"(with these model_kwargs)") from exc
    cfg = net.pretrained_cfg or {}
    cfg.pop("state_dict", None)  # the overlay's tensors: the model must not hold a second copy of its weights
    mean, std = tuple(cfg.get("mean", (0.5,) * 3)), tuple(cfg.get("std", (0.5,) * 3))
    if len(mean) != in_chans:  # grey-scale input to an RGB recipe: one averaged channel
        mean, std = (sum(mean) / len(mean),) * in_chans, (sum(std) / len(std),) * in_chans
    return net, mean, std


def build_model(name: str, num_classes: int, in_chans: int, pretrained: bool = False,
                checkpoint: Optional[str] = None, *, image_size: Optional[int] = None,
                pretrained_file: Optional[str] = None, model_kwargs: Optional[dict] = None,
                section: Optional[str] = None) -> ImageClassifier:
    """Build a classifier taking uint8 N x C x H x W images.

    `checkpoint` loads rlkd weights (safetensors) after checking that the file was
    saved for the same arch, class count and input channels. `pretrained_file`
    lets timm's own pretrained loading read a local file instead of the hub.
    `section` is the config section the arguments come from ("teacher", "student"):
    errors about model_kwargs or pretrained_file name the key the user has to fix.
    """
    kwargs = dict(model_kwargs or {})
    key = f"{section}." if section else ""
    if is_import_path(name):  # the user's own factory (rlkd.models.imported)
        if pretrained:
            raise ConfigError(f"{key}pretrained: model {name!r} comes from its own factory; set pretrained: false "
                              f"and load its weights there")
        if image_size is None:
            raise ConfigError(f"model {name!r} needs image_size")
        net = imported_model(name, num_classes, in_chans, (in_chans, image_size, image_size), kwargs, key)
        model = ImageClassifier(net, (0.5,) * in_chans, (0.5,) * in_chans)
    elif name in BUILTIN_MODELS:
        if pretrained:
            raise ConfigError(f"built-in model {name!r} has no pretrained weights; set pretrained: false")
        if image_size is None:
            raise ConfigError(f"built-in model {name!r} needs image_size")
        try:
            net = BUILTIN_MODELS[name](num_classes, in_chans, image_size, **kwargs)
        except TypeError as exc:
            raise ConfigError(f"{key}model_kwargs: {kwargs} do not fit built-in {name!r} ({exc}); remove or rename "
                              f"the keys the model does not take") from exc
        model = ImageClassifier(net, (0.5,) * in_chans, (0.5,) * in_chans)
    else:
        net, mean, std = _timm_model(name, num_classes, in_chans, pretrained, pretrained_file, kwargs, key)
        model = ImageClassifier(net, mean, std)
    if checkpoint is not None:
        from rlkd.models.io import load_weights, read_metadata

        meta = read_metadata(checkpoint)
        for key, want in (("arch", name), ("num_classes", num_classes), ("in_chans", in_chans)):
            if meta.get(key) != want:
                raise CheckpointError(f"{checkpoint}: saved for {key}={meta.get(key)!r} but the config asks for "
                                      f"{key}={want!r}; use a checkpoint trained for this setting or retrain it")
        load_weights(model, checkpoint)
    return model
