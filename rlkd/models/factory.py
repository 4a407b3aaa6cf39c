"""`build_model`: a built-in, a timm model or the user's factory, wrapped so that it takes the data's inputs."""

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


def normalise_inputs(inputs: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 pixels to the network's scale, per channel; float inputs as they are (their scale is the loader's)."""
    if inputs.dtype != torch.uint8:
        return inputs.to(mean.dtype)
    return (inputs.to(mean.dtype) - mean) / std


class ImageClassifier(nn.Module):
    """Normalises raw 0..255 pixels inside the model, so teacher, student and precompute agree.

    uint8 inputs (images) are normalised per channel; float inputs (the user's signals, feature vectors or
    float images) reach the network as they are: their scale is the loader's choice.
    """

    def __init__(self, net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...], input_ndim: int = 3):
        super().__init__()
        self.net = net
        shape = (1, -1) + (1,) * max(input_ndim - 1, 0)  # broadcast over one sample's (C, H, W), (C, L) or (F,)
        self.register_buffer("mean", torch.tensor(mean).view(shape) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(std).view(shape) * 255.0, persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(normalise_inputs(images, self.mean, self.std))


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
                checkpoint: Optional[str] = None, *, input_shape: Optional[tuple[int, ...]] = None,
                pretrained_file: Optional[str] = None, model_kwargs: Optional[dict] = None,
                section: Optional[str] = None) -> ImageClassifier:
    """Build a classifier taking the data's inputs (`input_shape` per sample; uint8 images or floats).

    Built-ins and the user's factories are called alike, `(num_classes, in_chans, input_shape, **kwargs)`,
    and need `input_shape`; timm models take images of any size.

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
        if input_shape is None:
            raise ConfigError(f"model {name!r} needs input_shape")
        net = imported_model(name, num_classes, in_chans, tuple(input_shape), kwargs, key)
        model = ImageClassifier(net, (0.5,) * in_chans, (0.5,) * in_chans, len(input_shape))
    elif name in BUILTIN_MODELS:
        if pretrained:
            raise ConfigError(f"built-in model {name!r} has no pretrained weights; set pretrained: false")
        if input_shape is None:
            raise ConfigError(f"built-in model {name!r} needs input_shape")
        try:
            net = BUILTIN_MODELS[name](num_classes, in_chans, tuple(input_shape), **kwargs)
        except TypeError as exc:
            raise ConfigError(f"{key}model_kwargs: {kwargs} do not fit built-in {name!r} ({exc}); remove or rename "
                              f"the keys the model does not take") from exc
        except ConfigError as exc:
            raise ConfigError(f"{key}arch: {exc}") from exc
        model = ImageClassifier(net, (0.5,) * in_chans, (0.5,) * in_chans, len(input_shape))
    else:
        if input_shape is not None and len(input_shape) != 3:
            raise ConfigError(f"{key}arch: timm model {name!r} takes images (C, H, W), but one input here has "
                              f"shape {tuple(input_shape)}; use a built-in (mlp, cnn1d) or your own factory")
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
