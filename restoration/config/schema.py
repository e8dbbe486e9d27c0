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
from typing import Literal

import yaml

from data import pairs
from data.builtin import BUILTIN_SPLITS
from data.grid import GRIDS
from data.imagesets import IMAGE_SETS
from data.imagesets import get_image_set
from restoration import runs
from restoration.config.conversion import build_section
from restoration.config.conversion import fraction
from restoration.config.conversion import name_field
from restoration.config.conversion import non_negative
from restoration.config.conversion import positive
from restoration.config.conversion import section
from restoration.config.conversion import spec
from restoration.config.conversion import to_plain
from restoration.config.conversion import unique
from restoration.config.degradation import DegradationConfig
from restoration.config.degradation import value_range
from restoration.config.loading import read_yaml_file
from restoration.config.models import ModelConfig
from restoration.config.regularizers import RegularizerConfig

BUILTIN_SET = "builtin"


def _is_image_set(name):
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


# The folders of a `paired` source: (input, target) for each task.
PAIR_KEYS = {"sr": ("lr", "hr"), "denoise": ("noisy", "clean")}


@section
class DataSourceConfig:
    """Images to read: a `builtin` split, a named image `set`, a `folder` of images, or `paired`
    folders of inputs and targets (`lr`/`hr`, or `noisy`/`clean`) matched by name through
    `template` (`data.pairs`); `name` labels a paired set."""

    source: Literal["builtin", "folder", "set", "paired"]
    name: str | None = None
    path: str | None = None
    max_images: int | None = positive(None)
    lr: str | None = None
    hr: str | None = None
    noisy: str | None = None
    clean: str | None = None
    template: str | None = None

    def folders(self, task_type):
        """`(input folder, target folder)` of a paired source for a task type."""
        return tuple(getattr(self, key) for key in PAIR_KEYS[task_type])

    def relations(self):
        if self.source == "paired":
            yield from self._paired_relations()
            return
        for key in [*PAIR_KEYS["sr"], *PAIR_KEYS["denoise"], "template"]:
            if getattr(self, key) is not None:
                expected = f"null for source {self.source!r} (only paired folders have it)"
                yield key, expected, getattr(self, key)
        wanted, unwanted = ("path", "name") if self.source == "folder" else ("name", "path")
        received = getattr(self, unwanted)
        if received is not None:
            yield unwanted, f"null for source {self.source!r} (use {wanted})", received
        if self.source == "folder" and self.path is None:
            yield "path", "a folder for source 'folder' (required)", None
        if self.source == "builtin" and self.name not in BUILTIN_SPLITS:
            yield "name", "one of " + ", ".join(map(repr, BUILTIN_SPLITS)), self.name
        if self.source == "set" and not _is_image_set(self.name):
            yield "name", f"a known image set ({', '.join(IMAGE_SETS)})", self.name

    def _paired_relations(self):
        if self.path is not None:
            yield "path", "null for source 'paired' (use lr and hr, or noisy and clean)", self.path
        given = [keys for keys in PAIR_KEYS.values() if any(getattr(self, key) for key in keys)]
        if len(given) != 1:
            received = "both pairs of keys" if given else "neither"
            yield "lr", "the folders lr and hr (sr), or noisy and clean (denoise)", received
            return
        for key in given[0]:
            if getattr(self, key) is None:
                yield key, f"a folder, with {' and '.join(given[0])} (required)", None
        problem = pairs.check_template(self.template) if self.template is not None else None
        if problem is not None:
            yield "template", problem, self.template


@section
class DataConfig:
    """Training, validation and test images, and how training patches are batched.

    `patch_size` is the side of a training patch: the low-resolution patch
    for `sr`, the clean patch for `denoise`.
    """

    train: DataSourceConfig
    validation: DataSourceConfig | None = None
    test_sets: tuple[str, ...] = spec("a list of unique set names", unique, ())
    # Paired folders scored as test sets, under their names.
    paired_test_sets: tuple[DataSourceConfig, ...] = ()
    root: str | None = None
    patch_size: int = positive()
    batch_size: int = positive()
    # Blind training: a degradation chain per patch (sr), a noise level per patch (denoise).
    degradation: DegradationConfig | None = None
    noise_range: tuple[float, ...] | None = value_range(0, 255, None)
    # Where training pixels live: decoded in memory, or prepared once on disk and read patch by
    # patch (`auto`: on disk above 2 GiB of decoded pixels). Both give the same batches.
    storage: Literal["auto", "memory", "disk"] = "auto"

    def relations(self):
        seen = {}
        for index, name in enumerate(self.test_sets):
            if name != BUILTIN_SET and not _is_image_set(name):
                expected = f"{BUILTIN_SET!r} or a known image set ({', '.join(IMAGE_SETS)})"
                yield f"test_sets[{index}]", expected, name
                return
            canonical = name if name == BUILTIN_SET else get_image_set(name).name
            if canonical in seen:
                expected = f"each set once ({name!r} is {seen[canonical]!r} again)"
                yield f"test_sets[{index}]", expected, name
            seen.setdefault(canonical, name)
        for index, entry in enumerate(self.paired_test_sets):
            key = f"paired_test_sets[{index}]"
            if entry.source != "paired":
                yield f"{key}.source", "'paired' (named sets go in test_sets)", entry.source
            elif entry.name is None:
                yield f"{key}.name", "a name for the set's scores (required)", None
            elif entry.name in seen or entry.name == BUILTIN_SET:
                yield f"{key}.name", "a name no other test set has", entry.name
            seen.setdefault(entry.name, entry.name)

    @property
    def test_set_names(self):
        """The names test scores are kept under: `test_sets`, then the paired sets'."""
        return (*self.test_sets, *(entry.name for entry in self.paired_test_sets))

    def fits(self, task, training, evaluation):
        """Yields `(dotted key, expected, received)` where the data does not fit the task, training
        or evaluation."""
        if evaluation.select_on and self.validation is not None and self.validation.source == "paired":
            expected = "[] with paired validation folders (they validate on their own inputs)"
            yield "evaluation.select_on", expected, list(evaluation.select_on)
        for key, entry in self._paired_sources():
            if entry.folders(task.type) == (None, None):
                wanted, given = PAIR_KEYS[task.type], PAIR_KEYS["denoise" if task.type == "sr" else "sr"]
                yield (f"data.{key}", f"the folders {' and '.join(wanted)} for a {task.type} task",
                       " and ".join(given))
        if self.train.source == "paired" and self.degradation is not None:
            yield ("data.degradation", "null with paired training folders (their inputs are the "
                   "degradation)", "a degradation chain")
        if self.train.source == "paired" and self.noise_range is not None:
            yield ("data.noise_range", "null with paired training folders (their inputs are the "
                   "noise)", list(self.noise_range))
        if training.validate_every and self.validation is None:
            yield "training.validate_every", "0 when data.validation is null", training.validate_every
        if self.degradation is not None and task.type != "sr":
            expected = "null for a denoise task (train a blind denoiser with data.noise_range)"
            yield "data.degradation", expected, "a degradation chain"
        if self.noise_range is not None and task.type != "denoise":
            expected = "null for an sr task (blind super-resolution uses data.degradation)"
            yield "data.noise_range", expected, list(self.noise_range)

    def _paired_sources(self):
        """`(key below data, source)` of every paired source."""
        named = [("train", self.train), ("validation", self.validation)]
        named += [(f"paired_test_sets[{index}]", entry)
                  for index, entry in enumerate(self.paired_test_sets)]
        return [(key, entry) for key, entry in named if entry is not None and entry.source == "paired"]


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
    # Clips the gradients of all weights together to this L2 norm (after accumulation); null: off.
    global_clipnorm: float | None = positive(None, noun="a number")


@section
class EmaConfig:
    """An exponential moving average of the weights, validated, selected and scored in their place.

    Each optimizer step moves the average towards the weights by `1 - decay`
    (Keras' optimizer EMA); it starts at the weights after the first step,
    which keep `decay ** (steps - 1)` of it at the end. With `score_raw`
    the final weights themselves (not averaged) are scored too, so that one
    run says what the average changed (`results.json`'s `test_raw`).
    """

    decay: float = spec("a number in (0, 1)", lambda value: 0 < value < 1, 0.999)
    score_raw: bool = False

    def warnings(self, steps):
        """A sentence when the first step's weights keep more than 1 % of the average at the end."""
        left = self.decay ** (steps - 1)
        if left <= 0.01:
            return []
        return [f"training.ema.decay ({self.decay:g}) over {steps} steps leaves {left:.1%} of the "
                "average on the weights of the first step; a smaller decay suits a run this short"]


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
    # Micro-batches of data.batch_size whose mean gradient makes one step: the batch of a
    # step is data.batch_size times this. 1: off.
    gradient_accumulation_steps: int = positive(1)
    # null: train and score the weights themselves.
    ema: EmaConfig | None = None
    validate_every: int = non_negative(0)
    checkpoint_every: int = non_negative(0)
    log_every: int = positive(100)
    image_panels: int = non_negative(4)
    mixed_precision: Literal[False, "float16", "bfloat16", "auto"] = False
    # XLA for the training step; "auto": on JAX (whose uncompiled step runs op by op), not on
    # TensorFlow (whose graph mode is faster than XLA on a CPU).
    jit_compile: Literal["auto", True, False] = "auto"
    # Devices and processes (restoration/training/distribution.py); data.batch_size stays the global batch.
    distribution: Literal["none", "mirrored", "data_parallel"] = "none"

    def relations(self):
        # Keras runs whole executions: 15 batches at 10 per execution would train 20.
        if self.steps * self.gradient_accumulation_steps % self.steps_per_execution:
            yield "steps", (f"a multiple of training.steps_per_execution ({self.steps_per_execution}) "
                            "in micro-batches (steps x gradient_accumulation_steps), since training "
                            "runs whole executions"), self.steps


@section
class EvaluationConfig:
    """How test images are fed to the network (whole or in tiles) and scored.

    `tile` is the side of the input tiles; each is predicted with
    `tile_overlap` pixels of context on every side. Null (the default) takes
    the network's receptive field (`sr_models.receptive_field`), with which
    tiled inference equals whole-image inference; tiles and overlap are
    rounded up to the network's downsampling grid (2 for FFDNet, 8 for
    DRUNet).
    `grid` names cells of the task's grid (`data.grid`): each test set is
    also scored under each, as `<set>/<cell>`. `select_on` names cells the
    validation crops are degraded by, to choose the checkpoint and measure
    the overfitting gap on; empty (the default), a run validates on what it
    trains on: its degradation chain, its noise range, or the benchmark
    degradation. `self_ensemble` also scores every entry with the output
    averaged over the eight flips and rotations of the input, as
    `<set>+x8` (and `<set>+x8/<cell>`).
    """

    tile: int | None = positive(None)
    tile_overlap: int | None = non_negative(None)
    ssim: bool = False
    grid: tuple[str, ...] = spec("a list of unique grid cell names", unique, ())
    select_on: tuple[str, ...] = spec("a list of unique grid cell names", unique, ())
    self_ensemble: bool = False

    def fits(self, task, training):
        """Yields `(dotted key, expected, received)` for cells outside the task's grid, or unused."""
        known = [cell.name for cell in GRIDS[task.type]]
        for key in ("grid", "select_on"):
            for index, name in enumerate(getattr(self, key)):
                if name not in known:
                    yield f"evaluation.{key}[{index}]", f"a {task.type} grid cell ({', '.join(known)})", name
                    break
        if self.select_on and not training.validate_every:
            expected = "empty when training.validate_every is 0 (nothing is validated)"
            yield "evaluation.select_on", expected, list(self.select_on)


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
    model: ModelConfig
    regularizer: RegularizerConfig | None = None
    data: DataConfig
    training: TrainingConfig
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    output: OutputConfig = dataclasses.field(default_factory=OutputConfig)

    def relations(self):
        yield from self.data.fits(self.task, self.training, self.evaluation)
        yield from self.evaluation.fits(self.task, self.training)
        yield from self.model.fits(self.task, self.evaluation)
        if self.regularizer is not None:
            yield from self.regularizer.fits(self.model, self.task.channels)

    def warnings(self):
        """Sentences the run should print and record: from its regularizer and its EMA."""
        steps, ema = self.training.steps, self.training.ema
        return [*(self.regularizer.warnings(steps) if self.regularizer else ()),
                *(ema.warnings(steps) if ema else ())]

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
