"""Experiment files: loading, validation and resolution into runs.

`load_config` reads an experiment file (and the file its `base` key names),
applies command-line overrides, and validates the base configuration and
every arm before anything runs. Each `(arm, seed)` pair then resolves to a
frozen `RunConfig`, which is saved next to the run and reloads to an equal
object.
"""

import copy
import dataclasses
import os
import typing
from collections.abc import Mapping
from typing import Any

import yaml

from restoration.overrides import ConfigError
from restoration.overrides import apply_override
from restoration.overrides import describe
from restoration.overrides import parse_override
from restoration.overrides import read_yaml_file
from restoration.runs import write_text_atomically
from restoration.schema import FrozenMapping
from restoration.schema import build_section
from restoration.schema import schema_keys
from restoration.schema import section
from restoration.schema import spec
from restoration.schema import to_plain
from restoration.sections import _NAME
from restoration.sections import _NAME_EXPECTED
from restoration.sections import DataConfig
from restoration.sections import DnCNNConfig
from restoration.sections import EDSRConfig
from restoration.sections import EvaluationConfig
from restoration.sections import OutputConfig
from restoration.sections import RegularizerConfig
from restoration.sections import TaskConfig
from restoration.sections import TrainingConfig
from restoration.sections import _non_negative
from restoration.sections import _unique

DEFAULT_ARM = "main"


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
        write_text_atomically(path, text)
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
    keys = (
        {f"experiment.{k}": v for k, v in experiment.items()}
        if isinstance(experiment, dict)
        else {}
    )
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
