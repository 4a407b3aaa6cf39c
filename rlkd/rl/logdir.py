"""Where an RLlib Algorithm built outside Tune puts its log folder: inside the command's output, not ~/ray_results."""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def algorithm_logdir_under(folder: Path) -> Iterator[None]:
    """Algorithms constructed in this block make their log folder (`algo.logdir`) in `folder`.

    An Algorithm is a Tune Trainable. Built without Tune's storage, Ray 2.60's Trainable makes its
    folder with `mkdtemp` under the module constant `DEFAULT_STORAGE_PATH` (~/ray_results, fixed at
    import), and AlgorithmConfig no longer has a logger setting to move it: every `rlkd train` left
    an empty folder in the user's home. The constant is swapped only while the Algorithm is built,
    which is when the folder is made. Tune trials are unaffected: Tune passes its storage.
    """
    trainable = importlib.import_module("ray.tune.trainable.trainable")
    default = trainable.DEFAULT_STORAGE_PATH
    trainable.DEFAULT_STORAGE_PATH = str(folder.resolve())
    try:
        yield
    finally:
        trainable.DEFAULT_STORAGE_PATH = default
