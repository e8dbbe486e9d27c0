"""Experiment files: loading, validation and resolution into runs.

`load_config` reads an experiment file (and the file its `base` key names),
applies command-line overrides, and checks the base configuration and every
arm before anything runs, on disk too (`restoration.config.data_checks`).
Each `(arm, seed)` pair then resolves to a frozen `RunConfig`.
"""

import copy
import dataclasses
import os
import re
import typing
from collections.abc import Mapping
from typing import Any

from data import grid
from restoration import runs
from restoration.config.conversion import NAME
from restoration.config.conversion import FrozenMapping
from restoration.config.conversion import build_section
from restoration.config.conversion import name_field
from restoration.config.conversion import section
from restoration.config.conversion import spec
from restoration.config.conversion import to_plain
from restoration.config.conversion import unique
from restoration.config.data_checks import check_data_on_disk
from restoration.config.loading import KIND_KEYS
from restoration.config.loading import ConfigError
from restoration.config.loading import apply_override
from restoration.config.loading import describe
from restoration.config.loading import parse_override
from restoration.config.loading import read_yaml_file
from restoration.config.schema import RunConfig

DEFAULT_ARM = "main"
# Sections an arm may not change: they belong to the whole experiment.
_EXPERIMENT_WIDE = ("experiment", "output")

# The sections a file writes; `run` is filled in per arm and seed.
_RUN_SECTIONS = [name for name in typing.get_type_hints(RunConfig) if name != "run"]


_NAMES = "a non-empty list of unique names"


@section
class PrimaryEndpoint:
    """The pre-registered primary endpoint of an experiment: `experiment.primary`.

    For each arm of `arms`, the endpoint of one seed is the mean, over the
    `sets` x `cells` entries (the plain sets when `cells` is empty), of the
    arm's PSNR minus the baseline's at the `checkpoint` weights (`final`,
    `selected` on validation, or `raw`: the final weights themselves where
    the run scores the moving average, `training.ema.score_raw`). The report tests it over seeds (paired t
    interval, exact sign-flip p, Holm across the arms) and says
    `confirmed`, `refuted` or `inconclusive` against `margin` (dB); see
    `restoration.reporting.statistics.verdict`.
    """

    arms: tuple[str, ...] = spec(_NAMES, lambda values: bool(values) and unique(values))
    sets: tuple[str, ...] = spec(_NAMES, lambda values: bool(values) and unique(values))
    cells: tuple[str, ...] = spec("a list of unique grid cell names", unique, ())
    checkpoint: typing.Literal["final", "selected", "raw"]
    margin: float = spec("a number >= 0 (dB)", lambda value: value >= 0)


@section
class _ExperimentSection:
    """The `experiment` section of an experiment file."""

    name: str = name_field()
    seeds: tuple[int, ...] = spec(
        "a non-empty list of unique integers >= 0",
        lambda values: bool(values) and unique(values) and min(values) >= 0,
    )
    arms: Mapping[str, Any] | None = None
    primary: PrimaryEndpoint | None = None

    def relations(self):
        if self.arms is not None and not self.arms:
            yield "arms", "a mapping of arm names to overrides, or null", {}
        for arm, overrides in (self.arms or {}).items():
            if not isinstance(arm, str) or not NAME.fullmatch(arm):
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
        primary: The pre-registered `PrimaryEndpoint`, or None (every result
            is then exploratory).
    """

    name: str
    seeds: tuple[int, ...]
    arms: FrozenMapping
    source: str = dataclasses.field(default="<dict>", compare=False)
    primary: PrimaryEndpoint | None = None

    def primary_record(self):
        """The primary endpoint as `experiment.json` records it, with the report entries it
        averages (`<set>/<cell>`, or the plain set for a cell it already is), or None."""
        if self.primary is None:
            return None
        task = next(iter(self.arms.values())).task
        entries = []
        for name in self.primary.sets:
            for cell in grid.cells(self.primary.cells, task.type) or [None]:
                plain = cell is None or grid.same_as_plain(cell, task.type, task.sigma)
                entries.append(name if plain else f"{name}/{cell.name}")
        return {**to_plain(self.primary), "entries": entries}

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


def load_config(path, overrides=(), check_data=True):
    """Loads and validates an experiment file and every arm in it.

    Args:
        path: The YAML file.
        overrides: Strings such as `"training.steps=100"`. Each may only set
            a key present in the file or known to the schema; its value is
            parsed as YAML, never evaluated.
        check_data: Also check what is on disk: every named data set exists
            under the data root, and training patches fit in the smallest
            training image. Off only for tools that never read the data.

    Returns:
        An `ExperimentConfig`. Any problem raises `ConfigError` naming the
        file, the dotted key, what was expected and what was received.
    """
    if isinstance(overrides, str):
        raise TypeError(f"Expected a list of overrides. Received: overrides={overrides!r}")
    overrides, path = tuple(overrides), os.fspath(path)
    tree, origins = _read_with_base(path, ())
    source = f"{path} (with {' '.join(overrides)})" if overrides else path
    for text in overrides:
        key, value = parse_override(text, source)
        apply_override(tree, key, value, source)
        origins.update(_origins(value, tuple(key.split(".")), source))
    try:
        return _validate(tree, source, check_data)
    except ConfigError as error:
        # Name the file that wrote the key: the base file, the file itself or an override.
        raise _blamed(error, origins, source) from None


def _validate(tree, source, check_data):
    """Validates a merged tree into an `ExperimentConfig` (see `load_config`)."""
    known = ["experiment", *_RUN_SECTIONS]
    for key in tree:
        if key not in known:
            raise ConfigError(source, str(key), f"a key among: {', '.join(known)}", f"unknown key {key!r}")
    if "experiment" not in tree:
        expected = "a mapping with name and seeds (a required key)"
        raise ConfigError(source, "experiment", expected, "nothing")
    experiment = build_section(_ExperimentSection, tree.pop("experiment"), "experiment", source)
    base = _resolve(tree, experiment, "base", source)
    arms = {}
    for arm, arm_overrides in (experiment.arms or {DEFAULT_ARM: None}).items():
        try:
            arms[arm] = _resolve(tree, experiment, arm, source, arm_overrides)
        except ConfigError as error:
            raise error.under(f"experiment.arms.{arm}") from None
    if check_data:
        # After the schema of every arm: the disk is checked once it is worth checking.
        check_data_on_disk(base, source)
        for arm, config in arms.items():
            # An arm is checked again only where it reads other data than the base.
            if (config.data, config.task) != (base.data, base.task):
                try:
                    check_data_on_disk(config, source)
                except ConfigError as error:
                    raise error.under(f"experiment.arms.{arm}") from None
    if experiment.primary is not None:
        _check_primary(experiment.primary, arms, source)
    return ExperimentConfig(experiment.name, experiment.seeds, FrozenMapping(arms), source,
                            experiment.primary)


def _check_primary(primary, arms, source):
    """The primary endpoint names compared arms, and sets and cells every arm it reads scores."""
    baseline = runs.baseline_arm(arms)
    compared = [arm for arm in arms if arm != baseline]
    for index, arm in enumerate(primary.arms):
        if arm not in compared:
            expected = f"an arm compared with {baseline} ({', '.join(compared) or 'none'})"
            raise ConfigError(source, f"experiment.primary.arms[{index}]", expected, describe(arm))
    for arm in (baseline, *primary.arms):
        config = arms[arm]
        for index, name in enumerate(primary.sets):
            if name not in config.data.test_set_names:
                expected = f"a test set of arm {arm} ({', '.join(config.data.test_set_names)})"
                raise ConfigError(source, f"experiment.primary.sets[{index}]", expected, describe(name))
            if primary.cells and name not in config.data.test_sets:
                expected = "a set scored under grid cells (paired sets are scored on their own inputs)"
                raise ConfigError(source, f"experiment.primary.sets[{index}]", expected, describe(name))
        for index, name in enumerate(primary.cells):
            if name not in config.evaluation.grid:
                expected = (f"a cell arm {arm} is scored under (evaluation.grid: "
                            f"{', '.join(config.evaluation.grid) or 'none'})")
                raise ConfigError(source, f"experiment.primary.cells[{index}]", expected, describe(name))
        if primary.checkpoint == "selected" and not config.training.validate_every:
            expected = f"final: arm {arm} does not validate (training.validate_every is 0)"
            raise ConfigError(source, "experiment.primary.checkpoint", expected, "selected")
        if primary.checkpoint == "raw" and not (config.training.ema and config.training.ema.score_raw):
            expected = f"final or selected: arm {arm} does not score raw weights (training.ema.score_raw)"
            raise ConfigError(source, "experiment.primary.checkpoint", expected, "raw")


def _read_with_base(path, chain):
    """Reads a config file, merged over the file its `base` key names.

    `base` is a path relative to the file. The file's sections are merged
    into the base's key by key, as overrides are; `experiment.arms`, when
    given, replaces the base's arms, so a preset lists exactly its own arms.

    Returns:
        `(tree, origins)`: the merged tree, and for each key path (a tuple)
        the file that last wrote it.
    """
    tree = read_yaml_file(path)
    base = tree.pop("base", None)
    if base is None:
        return tree, _origins(tree, (), path)
    if not isinstance(base, str):
        raise ConfigError(path, "base", "a path to another config file", describe(base))
    base_path = os.path.normpath(os.path.join(os.path.dirname(path), base))
    if base_path in chain + (os.path.normpath(path),):
        raise ConfigError(path, "base", "a file that does not include itself", base)
    merged, origins = _read_with_base(base_path, chain + (os.path.normpath(path),))
    experiment = tree.pop("experiment", None)
    keys = {} if experiment is None else {"experiment": experiment}
    if isinstance(experiment, dict) and experiment:
        # Key by key: a new experiment name must not discard the base's seeds.
        keys = {f"experiment.{k}": v for k, v in experiment.items()}
        if "arms" in experiment and isinstance(merged.get("experiment"), dict):
            merged["experiment"]["arms"] = None
    for key, value in [*keys.items(), *tree.items()]:
        apply_override(merged, str(key), value, path)
        origins.update(_origins(value, tuple(str(key).split(".")), path))
    return merged, origins


def _origins(value, prefix, origin):
    """`{key path: origin}` for `prefix` and every key path below it in `value`."""
    found = {prefix: origin} if prefix else {}
    if isinstance(value, dict):
        for key, child in value.items():
            found.update(_origins(child, (*prefix, str(key)), origin))
    return found


def _blamed(error, origins, source):
    """`error` with the file that wrote its key as the source, where that is another file.

    A key the file wrote beside a kind key (`model.name`) an override changed
    stays blamed on the override, with a hint: the file's keys of the old kind remain.
    """
    if error.source != source or not error.key:
        return error
    parts = tuple(re.sub(r"\[\d+\]", "", error.key).split("."))
    # An unknown key was written by whoever wrote the keys below it (`--set a.typo.b=1`).
    below = [origins[path] for path in origins if path[:len(parts)] == parts]
    origin = below[0] if parts not in origins and below else next(
        (origins[parts[:length]] for length in range(len(parts), 0, -1) if parts[:length] in origins), source)
    if origin == source:
        return error
    section = ".".join(parts[:-1])
    for kind in KIND_KEYS:
        if len(parts) > 1 and origins.get((*parts[:-1], kind)) == source:
            # `--set model.name=srresnet` keeps the file's other model keys, such as EDSR's res_scale.
            hint = (f" (the file's other {section} keys stay when --set changes {section}.{kind}: "
                    f"set the whole section, --set '{section}={{{kind}: ..., ...}}')")
            return ConfigError(source, error.key, error.expected + hint, error.received)
    return ConfigError(origin, error.key, error.expected, error.received)


def _resolve(tree, experiment, arm, source, arm_overrides=None):
    """Validates the base tree, with an arm's overrides applied to a copy, as a full run configuration."""
    tree = copy.deepcopy(tree)
    for key, value in to_plain(arm_overrides or {}).items():
        if str(key).split(".")[0] in _EXPERIMENT_WIDE:
            expected = f"a key outside {' and '.join(_EXPERIMENT_WIDE)} (set for every arm)"
            raise ConfigError(source, str(key), expected, describe(key))
        apply_override(tree, str(key), value, source)
    run = {"experiment": experiment.name, "arm": arm, "seed": experiment.seeds[0]}
    return build_section(RunConfig, {"run": run, **tree}, "", source)
