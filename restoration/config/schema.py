"""The schema of a run configuration: one frozen dataclass per section.

A field's annotation is the type its YAML value must have (`bool` is not an
integer; a float field takes integers), its metadata adds the allowed range,
and a field without a default is a required key. A section's optional
`relations()` yields `(key, expected, received)` for values that are invalid
together. A union of sections (the model, the regularizer) is told apart by
its `name`. `RunConfig` assembles the sections of one run.
"""

import dataclasses
import os
import typing
from typing import ClassVar
from typing import Literal

import yaml

from data.builtin import BUILTIN_SPLITS
from data.testsets import IMAGE_SETS
from data.testsets import get_image_set
from restoration import runs
from restoration.config.conversion import build_section
from restoration.config.conversion import fraction
from restoration.config.conversion import name_field
from restoration.config.conversion import non_negative
from restoration.config.conversion import optional_seed
from restoration.config.conversion import positive
from restoration.config.conversion import section
from restoration.config.conversion import spec
from restoration.config.conversion import to_plain
from restoration.config.conversion import unique
from restoration.config.loading import read_yaml_file

PLACEMENTS = ("every_block", "blocks", "branch", "after_body", "before_last", "input")
BUILTIN_SET = "builtin"

# Context pixels around each evaluation tile. It must cover the model's
# receptive-field radius: 17 for DnCNN-17, about 36 for EDSR-baseline.
DEFAULT_TILE_OVERLAP = 40


def _is_image_set(name):
    try:
        get_image_set(name)
    except ValueError:
        return False
    return True


def _known_sets():
    return ", ".join(IMAGE_SETS)


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


class _Model:
    """What every model section tells the rest of the run."""

    # The task types the network solves.
    tasks: ClassVar[tuple] = ()

    def builder_kwargs(self):
        """Returns the builder's keyword arguments: every field but `name`."""
        return {key: value for key, value in to_plain(self).items() if key != "name"}

    def block_count(self):
        """How many blocks (or stages) a `blocks` placement may index."""
        raise NotImplementedError


@section
class EDSRConfig(_Model):
    """Arguments of the EDSR builder (task gives `scale` and `channels`).

    Reference:
        - [Lim et al., Enhanced Deep Residual Networks for Single Image
          Super-Resolution, CVPR Workshops 2017](https://arxiv.org/abs/1707.02921)
    """

    tasks: ClassVar[tuple] = ("sr",)

    name: Literal["edsr"]
    num_blocks: int = positive(16)
    filters: int = positive(64)
    res_scale: float = positive(1.0, noun="a number")

    def block_count(self):
        return self.num_blocks


@section
class DnCNNConfig(_Model):
    """Arguments of the DnCNN builder (task gives `channels`).

    Reference:
        - [Zhang et al., Beyond a Gaussian Denoiser, IEEE TIP 2017](
          https://arxiv.org/abs/1608.03981)
    """

    tasks: ClassVar[tuple] = ("denoise",)

    name: Literal["dncnn"]
    depth: int = spec("an integer >= 3", lambda value: value >= 3, 17)
    filters: int = positive(64)
    batch_norm: bool = True

    def block_count(self):
        # The first and last convolutions are not stages.
        return self.depth - 2


def _block_size(default):
    return spec(
        "a positive integer or a list of two (height, width)",
        lambda value: value > 0 if isinstance(value, int) else len(value) == 2 and min(value) > 0,
        default,
    )


class _Regularizer:
    """Where a regularizer goes; the fields of a subclass are its layer's arguments.

    `blocks` lists zero-based block indices and is used with placement
    `blocks` only. The layer arguments are checked here with the ranges the
    layers accept, so a mistake is a `ConfigError` before any run starts.
    """

    # Keys that place the layer rather than configure it.
    placing_keys: ClassVar[tuple] = ("name", "placement", "blocks", "schedule_steps")

    def layer_kwargs(self):
        """The constructor arguments of the layer (`dropblock.get(name, **kwargs)`)."""
        return {
            key: tuple(value) if isinstance(value, list) else value
            for key, value in to_plain(self).items()
            if key not in self.placing_keys
        }

    def relations(self):
        if self.placement == "blocks" and not self.blocks:
            yield "blocks", "a non-empty list with placement 'blocks'", []
        if self.placement != "blocks" and self.blocks:
            yield "blocks", "an empty list unless placement is 'blocks'", list(self.blocks)


def _placement(default="every_block"):
    return dataclasses.field(default=default)


def _blocks():
    return spec(
        "a list of unique block indices >= 0",
        lambda values: unique(values) and all(value >= 0 for value in values),
        (),
    )


@section
class DropBlockConfig(_Regularizer):
    """DropBlock after convolution stages (`dropblock.DropBlock2D`).

    `schedule_steps` ramps the rate linearly from 0 over that many steps
    (scheduled DropBlock); 0 turns the ramp off. `seed` fixes the masks of
    the first layer, the next layers take the following seeds; null derives
    them from the run seed.

    Reference:
        - [Ghiasi et al., DropBlock, NeurIPS 2018](https://arxiv.org/abs/1810.12890)
    """

    name: Literal["dropblock"]
    placement: Literal[PLACEMENTS] = _placement()
    blocks: tuple[int, ...] = _blocks()
    schedule_steps: int = non_negative(0)
    rate: float = fraction()
    block_size: int | tuple[int, ...] = _block_size(7)
    gamma: Literal["calibrated", "paper"] = "calibrated"
    channels: Literal["independent", "shared"] = "independent"
    normalize: Literal["per_sample", "batch", "none"] = "per_sample"
    seed: int | None = optional_seed()


@section
class DropoutConfig(_Regularizer):
    """Unit dropout (`keras.layers.Dropout`)."""

    name: Literal["dropout"]
    placement: Literal[PLACEMENTS] = _placement()
    blocks: tuple[int, ...] = _blocks()
    rate: float = fraction()
    seed: int | None = optional_seed()


@section
class SpatialDropoutConfig(_Regularizer):
    """Channel dropout (`keras.layers.SpatialDropout2D`).

    Reference:
        - [Kong et al., Reflash Dropout in Image Super-Resolution, CVPR 2022](
          https://arxiv.org/abs/2112.12089)
    """

    name: Literal["spatial_dropout"]
    placement: Literal[PLACEMENTS] = _placement()
    blocks: tuple[int, ...] = _blocks()
    rate: float = fraction()
    seed: int | None = optional_seed()


@section
class StochasticDepthConfig(_Regularizer):
    """Drops whole residual branches (`dropblock.StochasticDepth`); place it on `branch`."""

    name: Literal["stochastic_depth"]
    placement: Literal[PLACEMENTS] = _placement("branch")
    blocks: tuple[int, ...] = _blocks()
    rate: float = fraction()
    seed: int | None = optional_seed()


@section
class CutoutConfig(_Regularizer):
    """One zeroed rectangle per image (`dropblock.Cutout`); place it on `input`.

    `size` is the rectangle in pixels, `rate` the probability that an image is cut.
    """

    name: Literal["cutout"]
    placement: Literal[PLACEMENTS] = _placement("input")
    blocks: tuple[int, ...] = _blocks()
    size: int | tuple[int, ...] = _block_size(16)
    rate: float = spec("a number in [0, 1]", lambda value: 0 <= value <= 1, 1.0)
    seed: int | None = optional_seed()


@section
class DropConnectConfig(_Regularizer):
    """Dropped kernel entries in the placed convolutions (`dropblock.DropConnectConv2D`)."""

    name: Literal["dropconnect"]
    placement: Literal[PLACEMENTS] = _placement()
    blocks: tuple[int, ...] = _blocks()
    rate: float = fraction()
    seed: int | None = optional_seed()


RegularizerConfig = (
    DropBlockConfig | DropoutConfig | SpatialDropoutConfig | StochasticDepthConfig
    | CutoutConfig | DropConnectConfig
)
REGULARIZERS = {
    typing.get_args(typing.get_type_hints(cls)["name"])[0]: cls
    for cls in typing.get_args(RegularizerConfig)
}


@section
class DataSourceConfig:
    """Images to read: a `builtin` split, a named image `set`, or a `folder` of images."""

    source: Literal["builtin", "folder", "set"]
    name: str | None = None
    path: str | None = None
    max_images: int | None = positive(None)

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
            yield "name", f"a known image set ({_known_sets()})", self.name


@section
class DataConfig:
    """Training, validation and test images, and how training patches are batched.

    `patch_size` is the side of a training patch: the low-resolution patch
    for `sr`, the clean patch for `denoise`.
    """

    train: DataSourceConfig
    validation: DataSourceConfig | None = None
    test_sets: tuple[str, ...] = spec("a list of unique set names", unique, ())
    root: str | None = None
    patch_size: int = positive()
    batch_size: int = positive()

    def relations(self):
        for index, name in enumerate(self.test_sets):
            if name != BUILTIN_SET and not _is_image_set(name):
                expected = f"{BUILTIN_SET!r} or a known image set ({_known_sets()})"
                yield f"test_sets[{index}]", expected, name


@section
class OptimizerConfig:
    """Adam settings.

    Reference:
        - [Kingma and Ba, Adam, ICLR 2015](https://arxiv.org/abs/1412.6980)
    """

    name: Literal["adam"] = "adam"
    learning_rate: float = positive(1e-4, noun="a number")
    beta_1: float = fraction(0.9)
    beta_2: float = fraction(0.999)
    epsilon: float = positive(1e-8, noun="a number")


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
    warmup_steps: int = non_negative(0)

    def relations(self):
        if self.name == "step" and not self.milestones:
            yield "milestones", "a non-empty list for the step schedule", []
        if self.name != "step" and self.milestones:
            yield "milestones", "an empty list unless name is 'step'", list(self.milestones)


@section
class TrainingConfig:
    """Length, loss, optimizer and bookkeeping of training; a period of 0 turns it off."""

    steps: int = positive()
    loss: Literal["l1", "l2"] = "l1"
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    lr_schedule: LearningRateScheduleConfig = dataclasses.field(
        default_factory=LearningRateScheduleConfig
    )
    steps_per_execution: int = positive(1)
    validate_every: int = non_negative(0)
    checkpoint_every: int = non_negative(0)
    log_every: int = positive(100)
    image_panels: int = non_negative(4)
    mixed_precision: bool = False
    jit_compile: bool = False


@section
class EvaluationConfig:
    """How test images are fed to the network (whole or in tiles) and scored.

    `tile` is the side of the input tiles; each is predicted with
    `tile_overlap` pixels of context on every side, which must cover the
    network's receptive field for the result to equal whole-image inference.
    """

    tile: int | None = positive(None)
    tile_overlap: int = non_negative(DEFAULT_TILE_OVERLAP)
    ssim: bool = False


@section
class OutputConfig:
    """Where run directories are created (the same for every arm)."""

    root: str = "runs"


@section
class RunInfo:
    """Which experiment, arm and seed a resolved configuration belongs to."""

    experiment: str = name_field()
    arm: str = name_field()
    seed: int = non_negative()


@section
class RunConfig:
    """The fully resolved configuration of one run: one arm with one seed."""

    run: RunInfo
    task: TaskConfig
    model: EDSRConfig | DnCNNConfig
    regularizer: RegularizerConfig | None = None
    data: DataConfig
    training: TrainingConfig
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    output: OutputConfig = dataclasses.field(default_factory=OutputConfig)

    def relations(self):
        if self.training.validate_every and self.data.validation is None:
            expected = "0 when data.validation is null"
            yield "training.validate_every", expected, self.training.validate_every
        if self.task.type not in self.model.tasks:
            expected = f"a model for task {self.task.type!r}, not {self.model.name!r}"
            yield "model.name", expected, self.model.name
        blocks = self.regularizer.blocks if self.regularizer is not None else ()
        count = self.model.block_count()
        if any(index >= count for index in blocks):
            expected = f"block indices in [0, {count - 1}] ({self.model.name} has {count} blocks)"
            yield "regularizer.blocks", expected, list(blocks)

    def to_dict(self):
        """Returns the configuration as plain dicts and lists, the form `from_dict` reads."""
        return to_plain(self)

    @classmethod
    def from_dict(cls, tree, source="<dict>"):
        """Validates a plain tree, as written by `to_dict`, into a `RunConfig`.

        Args:
            tree: Nested dicts and lists.
            source: Where the tree came from, for error messages.

        Returns:
            A `RunConfig`.
        """
        return build_section(cls, tree, "", source)

    @classmethod
    def from_file(cls, path):
        """Loads a resolved configuration written by `save_resolved`.

        Args:
            path: A `config.yaml` file, or the run directory that holds it.

        Returns:
            A `RunConfig`.
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, runs.CONFIG_FILE)
        return cls.from_dict(read_yaml_file(path), source=path)

    def save_resolved(self, run_dir):
        """Writes this configuration to `run_dir/config.yaml` atomically.

        Args:
            run_dir: The run directory; created if missing.

        Returns:
            The path of the written file.
        """
        path = os.path.join(run_dir, runs.CONFIG_FILE)
        text = (
            f"# Resolved configuration of experiment {self.run.experiment}, arm {self.run.arm},"
            f" seed {self.run.seed}.\n# Reload it with RunConfig.from_file(run_dir).\n"
            + yaml.safe_dump(self.to_dict(), sort_keys=False)
        )
        runs.write_text_atomically(path, text)
        return path
