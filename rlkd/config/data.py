"""The `data:` section: which data set, its splits, stored views and label noise (rlkd.data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional, Union

from rlkd.config.checks import check


@dataclass
class DigitsConfig:
    """scikit-learn digits; the procedural variant gives a conv teacher an edge an MLP lacks."""

    upscale: int = 1  # nearest-neighbour upscaling of the 8x8 digit before placement
    canvas: int = 8  # side of the canvas the digit is placed on (>= 8 * upscale)
    noise: float = 0.0  # std of Gaussian pixel noise, in units of full intensity

    def validate(self, path: str) -> None:
        check(self.upscale >= 1, f"{path}.upscale", self.upscale, "an integer >= 1")
        check(self.canvas >= 8 * self.upscale, f"{path}.canvas", self.canvas,
              f"an integer >= 8 * upscale = {8 * self.upscale}")
        check(0.0 <= self.noise <= 1.0, f"{path}.noise", self.noise, "a float in [0, 1]")


@dataclass
class HFConfig:
    """A Hugging Face dataset by hub name (`name`) or a `save_to_disk` folder (`path`)."""

    name: Optional[str] = None
    path: Optional[str] = None
    config_name: Optional[str] = None
    data_dir: Optional[str] = None  # passed to load_dataset, e.g. name: imagefolder + a local folder
    train_split: str = "train"
    val_split: Optional[str] = "validation"  # null or missing in the source: carved out of train
    test_split: str = "test"
    image_column: str = "image"
    label_column: str = "label"


@dataclass
class ImageFolderConfig:
    """A tree root/<split>/<class>/*.png|jpg; a missing val split is carved out of train."""

    root: Optional[str] = None


@dataclass
class PythonDataConfig:
    """Your own loader (rlkd.data.python_source): `loader(**kwargs)` returns the splits as arrays."""

    loader: Optional[str] = None  # package.module:function
    kwargs: dict = field(default_factory=dict)


@dataclass
class LabelNoiseConfig:
    """Flipped labels for benchmarking robustness (rlkd.data.noise); val stays the small trusted set by default."""

    rate: float = 0.0  # share of each noised split's samples whose label is flipped (exactly round(rate * N))
    kind: Literal["symmetric", "pairflip"] = "symmetric"  # symmetric: a uniform other class; pairflip: y -> y + 1 mod C
    seed: int = 0
    splits: list[Literal["train", "val"]] = field(default_factory=lambda: ["train"])  # test always stays clean

    def validate(self, path: str) -> None:
        check(0.0 <= self.rate < 1.0, f"{path}.rate", self.rate, "a float in [0, 1)")
        check(len(self.splits) == len(set(self.splits)) and set(self.splits) <= {"train", "val"},
              f"{path}.splits", self.splits, 'a list of distinct splits out of "train", "val" (test stays clean)')


@dataclass
class DataConfig:
    source: str = "digits"  # a name in rlkd.data.SOURCES; its keys are checked there
    seed: int = 0  # split seed (and digit placement seed)
    val_fraction: float = 0.2  # of the whole set for digits, of train where val is carved
    test_fraction: float = 0.2  # digits only: the other sources ship a test split
    # S: resize (shorter side) + S x S center crop; [H, W]: resize keeping the aspect + H x W crop; null: as is
    image_size: Union[int, list[int], None] = None
    channels: Optional[Literal[1, 3]] = None  # null: the source's own (error if mixed)
    views: int = 1  # stored views per training sample; view 0 is always the identity view
    view_seed: int = 0
    view_min_scale: float = 0.6  # random resized crop: smallest crop area fraction
    view_flip: bool = True  # random horizontal flip in augmented views
    shards: Optional[str] = None  # precomputed teacher shards (set by the precompute stage)
    digits: DigitsConfig = field(default_factory=DigitsConfig)
    hf: HFConfig = field(default_factory=HFConfig)
    imagefolder: ImageFolderConfig = field(default_factory=ImageFolderConfig)
    python: PythonDataConfig = field(default_factory=PythonDataConfig)
    label_noise: LabelNoiseConfig = field(default_factory=LabelNoiseConfig)

    def validate(self, path: str) -> None:
        check(0.0 < self.val_fraction < 1.0, f"{path}.val_fraction", self.val_fraction, "a float in (0, 1)")
        check(0.0 < self.test_fraction < 1.0 and self.val_fraction + self.test_fraction < 1.0,
              f"{path}.test_fraction", self.test_fraction, "a float in (0, 1) with val_fraction + test_fraction < 1")
        check(self.views >= 1, f"{path}.views", self.views, "an integer >= 1")
        check(0.0 < self.view_min_scale <= 1.0, f"{path}.view_min_scale", self.view_min_scale, "a float in (0, 1]")
        if self.image_size is not None:
            sides = [self.image_size] if isinstance(self.image_size, int) else self.image_size
            check((isinstance(self.image_size, int) or len(sides) == 2) and min(sides) >= 4, f"{path}.image_size",
                  self.image_size, "null, an integer >= 4 or a pair [H, W] of integers >= 4")
