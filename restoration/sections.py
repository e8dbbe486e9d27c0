"""The sections of a run configuration, one frozen dataclass each.

A field's annotation is the type its YAML value must have (`bool` is not an
integer; a float field takes integers), its metadata adds the allowed range,
and a field without a default is a required key. A section's optional
`relations()` yields `(key, expected, received)` for values that are invalid
together. `restoration.schema` does the conversion; `restoration.experiment`
assembles these sections into a `RunConfig`.
"""

import dataclasses
import re
from collections.abc import Mapping
from typing import Any
from typing import Literal

from restoration.schema import FrozenMapping
from restoration.schema import section
from restoration.schema import spec
from restoration.schema import to_plain

REGULARIZER_NAMES = (
    "dropblock", "dropout", "spatial_dropout", "stochastic_depth", "cutout", "dropconnect",
)
PLACEMENTS = ("every_block", "blocks", "branch", "after_body", "before_last", "input")
BUILTIN_SPLITS = ("train", "validation", "test")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_NAME_EXPECTED = "a name of letters, digits, '.', '_' or '-'"


def _positive(default=dataclasses.MISSING, noun="an integer"):
    return spec(f"{noun} > 0", lambda value: value > 0, default)


def _non_negative(default=dataclasses.MISSING):
    return spec("an integer >= 0", lambda value: value >= 0, default)


def _fraction(default):
    return spec("a number in [0, 1)", lambda value: 0 <= value < 1, default)


def _unique(values):
    return len(set(values)) == len(values)


def _image_set_names():
    # Imported here so that reading a config does not import image libraries.
    from data.testsets import IMAGE_SETS

    return tuple(IMAGE_SETS)


def _is_image_set(name):
    from data.testsets import get_image_set

    try:
        get_image_set(name)
    except ValueError:
        return False
    return True


@section
class TaskConfig:
    """What to restore: `sr` upscales by `scale`; `denoise` removes noise of level `sigma`."""

    type: Literal["sr", "denoise"]
    scale: Literal[2, 3, 4] | None = None
    sigma: float | None = spec("a number in (0, 255]", lambda value: 0 < value <= 255, None)
    channels: Literal[1, 3] = 3

    def relations(self):
        needed, unused = ("scale", "sigma") if self.type == "sr" else ("sigma", "scale")
        task = "an sr task" if self.type == "sr" else "a denoise task"
        if getattr(self, needed) is None:
            yield needed, f"a value for {task} (required)", None
        if getattr(self, unused) is not None:
            yield unused, f"null for {task} ({unused} is not used)", getattr(self, unused)


class _ModelArguments:
    """Gives model sections the keyword arguments of their builder."""

    def builder_kwargs(self):
        """Returns the builder's keyword arguments: every field but `name`."""
        return {key: value for key, value in to_plain(self).items() if key != "name"}


@section
class EDSRConfig(_ModelArguments):
    """Arguments of the EDSR builder (task gives `scale` and `channels`).

    Reference:
        - [Lim et al., Enhanced Deep Residual Networks for Single Image
          Super-Resolution, CVPR Workshops 2017](https://arxiv.org/abs/1707.02921)
    """

    name: Literal["edsr"]
    num_blocks: int = _positive(16)
    filters: int = _positive(64)
    res_scale: float = _positive(1.0, noun="a number")


@section
class DnCNNConfig(_ModelArguments):
    """Arguments of the DnCNN builder (task gives `channels`).

    Reference:
        - [Zhang et al., Beyond a Gaussian Denoiser, IEEE TIP 2017](
          https://arxiv.org/abs/1608.03981)
    """

    name: Literal["dncnn"]
    depth: int = spec("an integer >= 3", lambda value: value >= 3, 17)
    filters: int = _positive(64)
    batch_norm: bool = True


@section
class RegularizerConfig:
    """Which regularizer to insert, where, and its layer arguments.

    Keys other than the fields below are collected into `layer_kwargs` and
    passed unchanged to the layer constructor, which validates them.
    `schedule_steps` ramps the rate linearly from 0 over that many steps; 0
    turns the ramp off.

    Reference:
        - [Ghiasi et al., DropBlock, NeurIPS 2018](https://arxiv.org/abs/1810.12890)
    """

    name: Literal[REGULARIZER_NAMES]
    placement: Literal[PLACEMENTS] = "every_block"
    blocks: tuple[int, ...] = spec(
        "a list of unique block indices >= 0",
        lambda values: _unique(values) and all(value >= 0 for value in values),
        (),
    )
    schedule_steps: int = _non_negative(0)
    layer_kwargs: Mapping[str, Any] = dataclasses.field(
        default_factory=FrozenMapping, metadata={"extra": True}
    )

    def relations(self):
        if self.placement == "blocks" and not self.blocks:
            yield "blocks", "a non-empty list with placement 'blocks'", []
        if self.placement != "blocks" and self.blocks:
            yield "blocks", "an empty list unless placement is 'blocks'", list(self.blocks)


@section
class DataSourceConfig:
    """Images to read: a `builtin` split, a named image `set`, or a `folder` of images."""

    source: Literal["builtin", "folder", "set"]
    name: str | None = None
    path: str | None = None
    max_images: int | None = _positive(None)

    def relations(self):
        wanted, unwanted = ("path", "name") if self.source == "folder" else ("name", "path")
        received = getattr(self, unwanted)
        if received is not None:
            yield unwanted, f"null for source {self.source!r} (use {wanted})", received
        if self.source == "folder" and self.path is None:
            yield "path", "a folder for source 'folder' (required)", None
        if self.source == "builtin" and self.name not in BUILTIN_SPLITS:
            yield "name", "one of " + ", ".join(map(repr, BUILTIN_SPLITS)), self.name
        if self.source == "set" and not _is_image_set(self.name):
            yield "name", f"a known image set ({', '.join(_image_set_names())})", self.name


@section
class DataConfig:
    """Training, validation and test images, and how training patches are batched."""

    train: DataSourceConfig
    validation: DataSourceConfig | None = None
    test_sets: tuple[str, ...] = spec("a list of unique set names", _unique, ())
    root: str | None = None
    patch_size: int = _positive()
    batch_size: int = _positive()
    cache: bool = True

    def relations(self):
        for index, name in enumerate(self.test_sets):
            if name != "builtin" and not _is_image_set(name):
                known = ", ".join(_image_set_names())
                yield f"test_sets[{index}]", f"'builtin' or a known image set ({known})", name


@section
class OptimizerConfig:
    """Adam settings.

    Reference:
        - [Kingma and Ba, Adam, ICLR 2015](https://arxiv.org/abs/1412.6980)
    """

    name: Literal["adam"] = "adam"
    learning_rate: float = _positive(1e-4, noun="a number")
    beta_1: float = _fraction(0.9)
    beta_2: float = _fraction(0.999)
    epsilon: float = _positive(1e-8, noun="a number")


@section
class LearningRateScheduleConfig:
    """Learning-rate schedule: `constant`, `step` (times `gamma` at each milestone) or `cosine`."""

    name: Literal["constant", "step", "cosine"] = "constant"
    milestones: tuple[int, ...] = spec(
        "a strictly increasing list of steps > 0",
        lambda values: min(values, default=1) > 0 and list(values) == sorted(set(values)),
        (),
    )
    gamma: float = spec("a number in (0, 1)", lambda value: 0 < value < 1, 0.5)
    alpha: float = spec("a number in [0, 1]", lambda value: 0 <= value <= 1, 0.0)
    warmup_steps: int = _non_negative(0)

    def relations(self):
        if self.name == "step" and not self.milestones:
            yield "milestones", "a non-empty list for the step schedule", []
        if self.name != "step" and self.milestones:
            yield "milestones", "an empty list unless name is 'step'", list(self.milestones)


@section
class TrainingConfig:
    """Length, loss, optimizer and bookkeeping of training; a period of 0 turns it off."""

    steps: int = _positive()
    loss: Literal["l1", "l2"] = "l1"
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    lr_schedule: LearningRateScheduleConfig = dataclasses.field(
        default_factory=LearningRateScheduleConfig
    )
    steps_per_execution: int = _positive(1)
    validate_every: int = _non_negative(0)
    checkpoint_every: int = _non_negative(0)
    log_every: int = _positive(100)
    image_panels: int = _non_negative(4)
    mixed_precision: bool = False
    jit_compile: bool = False


@section
class EvaluationConfig:
    """How test images are fed to the network (whole or in tiles) and scored."""

    tile: int | None = _positive(None)
    tile_overlap: int = _non_negative(0)
    ssim: bool = False

    def relations(self):
        if self.tile is not None and self.tile_overlap * 2 >= self.tile:
            yield "tile_overlap", f"an integer < tile / 2 = {self.tile / 2:g}", self.tile_overlap


@section
class OutputConfig:
    """Where run directories are created."""

    root: str = "runs"
