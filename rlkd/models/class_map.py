"""Map a teacher trained on more classes (ImageNet-1k) onto the data set's classes."""

from __future__ import annotations

from typing import Any, Optional

from rlkd.errors import ConfigError


def resolve_class_map(spec: Any, class_names: list[str], teacher_classes: int) -> Optional[list[int]]:
    """Teacher class index for each data class, or None when the teacher has the data's classes.

    `spec` is null, a list of ints, or "imagenet": data class names are ImageNet
    wnids (as in mini-ImageNet, e.g. n01532829) looked up in timm's ImageNet-1k list.
    """
    if spec is None:
        if teacher_classes != len(class_names):
            raise ConfigError(f"teacher.class_map: the teacher has {teacher_classes} classes and the data "
                              f"{len(class_names)}; give a class_map (a list, or \"imagenet\")")
        return None
    if spec == "imagenet":
        from timm.data import ImageNetInfo

        wnids = ImageNetInfo("imagenet-1k").label_names()
        index = {w: i for i, w in enumerate(wnids)}
        missing = [n for n in class_names if n not in index]
        if missing:
            raise ConfigError(f"teacher.class_map: \"imagenet\" needs class names that are ImageNet wnids; "
                              f"not found: {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        mapping = [index[n] for n in class_names]
    else:
        mapping = list(spec)
    if len(mapping) != len(class_names) or not all(0 <= i < teacher_classes for i in mapping):
        raise ConfigError(f"teacher.class_map: needs {len(class_names)} entries, each in [0, {teacher_classes}); "
                          f"got {len(mapping)} entries")
    if len(set(mapping)) != len(mapping):
        raise ConfigError("teacher.class_map: two data classes map to the same teacher class")
    return mapping
