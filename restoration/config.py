"""Strict, typed experiment configuration.

An experiment file (`configs/default.yaml` documents every key) holds an
`experiment` section (name, seeds, optional arms) and a base configuration.
`load_config` validates the base and every arm before anything runs; each
`(arm, seed)` pair then resolves to a frozen `RunConfig`, which is saved next
to the run and reloads to an equal object.

The schema is the set of sections below. A field's annotation is the type its
YAML value must have (`bool` is not an integer; a float field takes integers),
its metadata adds the allowed range, and a field without a default is a
required key. A section's optional `relations()` yields `(key, expected,
received)` for values that are invalid together. The conversion itself lives
in `restoration.overrides`.
"""

import copy
import dataclasses
import os
import re
import tempfile
import typing
from collections.abc import Mapping
from typing import Any, Literal

import yaml

from restoration.overrides import ConfigError
from restoration.overrides import FrozenMapping
from restoration.overrides import apply_override
from restoration.overrides import build_section
from restoration.overrides import describe
from restoration.overrides import field_names
from restoration.overrides import parse_override
from restoration.overrides import read_yaml_file
from restoration.overrides import schema_keys
from restoration.overrides import section
from restoration.overrides import spec
from restoration.overrides import to_plain

__all__ = ["ConfigError", "ExperimentConfig", "RunConfig", "load_config"]

REGULARIZER_NAMES = (
    "dropblock", "dropout", "spatial_dropout", "stochastic_depth", "cutout", "dropconnect",
)
PLACEMENTS = ("every_block", "blocks", "branch", "after_body", "before_last", "input")
BUILTIN_SPLITS = ("train", "validation", "test")
DEFAULT_ARM = "main"
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


@section
class RunInfo:
    """Which experiment, arm and seed a resolved configuration belongs to."""

    experiment: str = spec(_NAME_EXPECTED, _NAME.fullmatch)
    arm: str = spec(_NAME_EXPECTED, _NAME.fullmatch)
    seed: int = _non_negative()


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
            path = os.path.join(path, "config.yaml")
        return cls.from_dict(read_yaml_file(path), source=path)

    def save_resolved(self, run_dir):
        """Writes this configuration to `run_dir/config.yaml` atomically.

        The YAML goes to a temporary file in the same folder, which then
        replaces `config.yaml`, so a crash never leaves a half-written file.

        Args:
            run_dir: The run directory; created if missing.

        Returns:
            The path of the written file.
        """
        os.makedirs(run_dir, exist_ok=True)
        path = os.path.join(run_dir, "config.yaml")
        text = (
            f"# Resolved configuration of experiment {self.run.experiment}, arm {self.run.arm},"
            f" seed {self.run.seed}.\n# Reload it with RunConfig.from_file(run_dir).\n"
            + yaml.safe_dump(self.to_dict(), sort_keys=False)
        )
        descriptor, temporary = tempfile.mkstemp(dir=run_dir, prefix=".config-", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
        return path


_RUN_SECTIONS = {
    name: hint for name, hint in typing.get_type_hints(RunConfig).items() if name != "run"
}


@section
class _ExperimentSection:
    """The `experiment` section of an experiment file."""

    name: str = spec(_NAME_EXPECTED, _NAME.fullmatch)
    seeds: tuple[int, ...] = spec(
        "a non-empty list of unique integers >= 0",
        lambda values: bool(values) and _unique(values) and min(values) >= 0,
    )
    arms: Mapping[str, Any] | None = None

    def relations(self):
        if self.arms is not None and not self.arms:
            yield "arms", "a mapping of arm names to overrides, or null", {}
        for arm, overrides in (self.arms or {}).items():
            if not isinstance(arm, str) or not _NAME.fullmatch(arm):
                yield "arms", "arm names made of letters, digits, '.', '_' or '-'", arm
            elif overrides is not None and not isinstance(overrides, Mapping):
                yield f"arms.{arm}", "a mapping of overrides, or null", overrides


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """A validated experiment: every arm resolved, ready to expand into runs.

    Args:
        name: The experiment name.
        seeds: The seeds each arm runs with.
        arms: Arm name to its resolved `RunConfig` (carrying the first seed),
            in file order.
        source: The file it was loaded from, with any overrides.
    """

    name: str
    seeds: tuple[int, ...]
    arms: FrozenMapping
    source: str = dataclasses.field(default="<dict>", compare=False)

    @property
    def arm_names(self):
        """The arm names, in file order."""
        return tuple(self.arms)

    def runs(self):
        """Lists every run as `(arm, seed)`: all seeds of the first arm, then the next arm."""
        return [(arm, seed) for arm in self.arms for seed in self.seeds]

    def arm(self, name, seed):
        """Resolves one arm with one seed.

        Args:
            name: An arm name from `arm_names`.
            seed: An integer >= 0, usually one of `seeds`.

        Returns:
            The `RunConfig` of that run.
        """
        if name not in self.arms:
            arms = "one of " + ", ".join(map(repr, self.arms))
            raise ConfigError(self.source, "experiment.arms", arms, describe(name))
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(self.source, "seed", "an integer >= 0", describe(seed))
        template = self.arms[name]
        return dataclasses.replace(template, run=dataclasses.replace(template.run, seed=seed))


def load_config(path, overrides=()):
    """Loads and validates an experiment file and every arm in it.

    Args:
        path: The YAML file.
        overrides: Strings such as `"training.steps=100"`. Each may only set
            a key present in the file or known to the schema; its value is
            parsed as YAML, never evaluated.

    Returns:
        An `ExperimentConfig`. Any problem raises `ConfigError` naming the
        file, the dotted key, what was expected and what was received.
    """
    if isinstance(overrides, str):
        raise TypeError(f"Expected a list of overrides. Received: overrides={overrides!r}")
    overrides, path = tuple(overrides), os.fspath(path)
    tree = _read_with_base(path, ())
    source = f"{path} (with {' '.join(overrides)})" if overrides else path
    for text in overrides:
        apply_override(tree, *parse_override(text, source), _file_keys, source)
    for key in tree:
        if key not in _file_keys(tree, ()):
            listing = ", ".join(_file_keys(tree, ()))
            raise ConfigError(source, str(key), f"a key among: {listing}", f"unknown key {key!r}")
    if "experiment" not in tree:
        expected = "a mapping with name and seeds (a required key)"
        raise ConfigError(source, "experiment", expected, "nothing")
    experiment = build_section(_ExperimentSection, tree.pop("experiment"), "experiment", source)
    _resolve(tree, experiment, "base", source)
    arms = {}
    for arm, arm_overrides in (experiment.arms or {DEFAULT_ARM: None}).items():
        arm_tree, arm_source = copy.deepcopy(tree), f"{source}: experiment.arms.{arm}"
        for key, value in to_plain(arm_overrides or {}).items():
            if str(key).split(".")[0] == "experiment":
                raise ConfigError(arm_source, str(key), "a key outside experiment", describe(key))
            apply_override(arm_tree, str(key), value, _arm_keys, arm_source)
        arms[arm] = _resolve(arm_tree, experiment, arm, arm_source)
    return ExperimentConfig(experiment.name, experiment.seeds, FrozenMapping(arms), source)


def _read_with_base(path, chain):
    """Reads a config file, merged over the file its `base` key names.

    `base` is a path relative to the file. The file's sections are merged
    into the base's key by key, as overrides are; `experiment.arms`, when
    given, replaces the base's arms, so a preset lists exactly its own arms.
    """
    tree = read_yaml_file(path)
    base = tree.pop("base", None)
    if base is None:
        return tree
    if not isinstance(base, str):
        raise ConfigError(path, "base", "a path to another config file", describe(base))
    base_path = os.path.normpath(os.path.join(os.path.dirname(path), base))
    if base_path in chain + (os.path.normpath(path),):
        raise ConfigError(path, "base", "a file that does not include itself", base)
    merged = _read_with_base(base_path, chain + (os.path.normpath(path),))
    experiment = tree.pop("experiment", None)
    # Key by key: a new experiment name must not discard the base's seeds.
    keys = {f"experiment.{k}": v for k, v in experiment.items()} if isinstance(experiment, dict) else {}
    if "experiment.arms" in keys and isinstance(merged.get("experiment"), dict):
        merged["experiment"]["arms"] = None
    if experiment is not None and not keys:
        keys = {"experiment": experiment}
    for key, value in [*keys.items(), *tree.items()]:
        apply_override(merged, str(key), value, _file_keys, path)
    return merged


def _resolve(tree, experiment, arm, source):
    """Validates a base or arm tree as a full run configuration."""
    run = {"experiment": experiment.name, "arm": arm, "seed": experiment.seeds[0]}
    return build_section(RunConfig, {"run": run, **tree}, "", source)


def _file_keys(tree, path):
    """The keys the schema accepts at `path` of an experiment file."""
    return schema_keys({"experiment": _ExperimentSection, **_RUN_SECTIONS}, tree, path)


def _arm_keys(tree, path):
    """The keys the schema accepts at `path` of an arm (no `experiment` section)."""
    return schema_keys(_RUN_SECTIONS, tree, path)
