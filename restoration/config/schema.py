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

from data import realesrgan
from data.builtin import BUILTIN_SPLITS
from data.grid import GRIDS
from data.testsets import IMAGE_SETS
from data.testsets import get_image_set
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


def _probability(default):
    return spec("a number in [0, 1]", lambda value: 0 <= value <= 1, default)


def _range(low, high, default, noun="numbers"):
    """A `[low, high]` pair of `noun` inside the bounds, low <= high."""
    expected = f"[low, high] {noun} with {low} <= low <= high <= {high}"
    return spec(expected, lambda pair: len(pair) == 2 and low <= pair[0] <= pair[1] <= high, default)


_REALESRGAN_KERNELS = realesrgan.KERNEL_PROBABILITIES
_SECOND_ORDER_ONLY = realesrgan.SECOND_ORDER_ONLY


def _range_around_one(low, high, default):
    """A `[low, high]` pair inside the bounds with low <= 1 <= high (resize factors, kernel shapes)."""
    expected = f"[low, high] numbers with {low} <= low <= 1 <= high <= {high}"
    return spec(expected, lambda pair: len(pair) == 2 and low <= pair[0] <= 1 <= pair[1] <= high, default)


def _distribution(count, default, of):
    """`count` probabilities, one per `of`, >= 0 and summing to 1."""
    expected = f"{count} numbers >= 0 summing to 1 (chances of {of})"
    return spec(expected, lambda values: len(values) == count and min(values) >= 0
                and abs(sum(values) - 1) <= 1e-6, default)


_KERNEL_KINDS = ", ".join(realesrgan.KERNELS)


@section
class DegradationConfig:
    """A random degradation chain per training patch, for blind super-resolution.

    `order: 1` (the default) is the classical chain: each stage happens with
    its probability and draws its strength from its range (see
    `data/blind.py`, whose defaults are Real-ESRGAN's first-order ranges):
    Gaussian blur (sigma in pixels, anisotropic with its own probability),
    downsampling by a method drawn from the list, Gaussian noise (sigma on
    0-255, gray with its own probability), JPEG (quality). `order: 2` is
    Real-ESRGAN's second-order chain, its defaults those of the reference
    training options: the keys above are its first round; the kernel mix
    (generalised-Gaussian, plateau, sinc), Poisson noise and random resizes
    join it; the `second_*` keys are its second round; then the final sinc
    filter and the last JPEG in either order. Keys left null take the
    order's value (first order: Gaussian kernels of size 21, no sinc,
    Gaussian noise; second order: Real-ESRGAN's). Keys that only the second
    order reads must keep their defaults at order 1.

    Reference:
        - [Wang et al., Real-ESRGAN, ICCV Workshops 2021](https://arxiv.org/abs/2107.10833)
    """

    blur_probability: float = _probability(1.0)
    blur_sigma: tuple[float, ...] = _range(0.001, 50, (0.2, 3.0))
    anisotropic_probability: float = _probability(0.5)
    downsampling: tuple[Literal["bicubic", "bilinear", "area"], ...] = spec(
        "a non-empty list of distinct methods", lambda methods: methods and unique(methods),
        ("bicubic", "bilinear", "area"),
    )
    noise_probability: float = _probability(1.0)
    noise_sigma: tuple[float, ...] = _range(0, 255, (1.0, 30.0))
    gray_noise_probability: float = _probability(0.4)
    jpeg_probability: float = _probability(1.0)
    jpeg_quality: tuple[int, ...] = _range(1, 100, (30, 95), noun="integers")
    order: Literal[1, 2] = 1
    kernel_probabilities: tuple[float, ...] | None = _distribution(6, None, _KERNEL_KINDS)
    kernel_size: tuple[int, ...] | None = spec(
        "[low, high] odd integers with 1 <= low <= high <= 21",
        lambda pair: len(pair) == 2 and 1 <= pair[0] <= pair[1] <= 21 and pair[0] % 2 == pair[1] % 2 == 1,
        None,
    )
    generalized_beta: tuple[float, ...] = _range_around_one(0.001, 10, (0.5, 4.0))
    plateau_beta: tuple[float, ...] = _range_around_one(0.001, 10, (1.0, 2.0))
    sinc_probability: float | None = _probability(None)
    gaussian_noise_probability: float | None = _probability(None)
    poisson_scale: tuple[float, ...] = _range(0, 50, (0.05, 3.0))
    resize_probabilities: tuple[float, ...] = _distribution(3, (0.2, 0.7, 0.1), "up, down, keep")
    resize_range: tuple[float, ...] = _range_around_one(0.01, 4, (0.15, 1.5))
    second_order_probability: float = _probability(1.0)
    second_blur_probability: float = _probability(0.8)
    second_blur_sigma: tuple[float, ...] = _range(0.001, 50, (0.2, 1.5))
    second_kernel_probabilities: tuple[float, ...] = _distribution(6, _REALESRGAN_KERNELS, _KERNEL_KINDS)
    second_sinc_probability: float = _probability(0.1)
    second_resize_probabilities: tuple[float, ...] = _distribution(3, (0.3, 0.4, 0.3), "up, down, keep")
    second_resize_range: tuple[float, ...] = _range_around_one(0.01, 4, (0.3, 1.2))
    second_gaussian_noise_probability: float = _probability(0.5)
    second_noise_sigma: tuple[float, ...] = _range(0, 255, (1.0, 25.0))
    second_poisson_scale: tuple[float, ...] = _range(0, 50, (0.05, 2.5))
    second_gray_noise_probability: float = _probability(0.4)
    second_jpeg_quality: tuple[int, ...] = _range(1, 100, (30, 95), noun="integers")
    final_sinc_probability: float = _probability(0.8)
    sinc_before_jpeg_probability: float = _probability(0.5)

    def relations(self):
        defaults = {field.name: field.default for field in dataclasses.fields(self)}
        if self.order == 1:
            for name in _SECOND_ORDER_ONLY:
                if getattr(self, name) != defaults[name]:
                    expected = f"its default {to_plain(defaults[name])!r} at order 1 (set order: 2 to use it)"
                    yield name, expected, to_plain(getattr(self, name))
                    return
        mixed = self.order == 2 or self.kernel_probabilities is not None
        if mixed and self.anisotropic_probability != defaults["anisotropic_probability"]:
            expected = ("its default 0.5 when kernel_probabilities (or order 2) gives the kernels: "
                        "set the anisotropic kinds' chances there")
            yield "anisotropic_probability", expected, self.anisotropic_probability


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
    # Blind training: a degradation chain per patch (sr), a noise level per patch (denoise).
    degradation: DegradationConfig | None = None
    noise_range: tuple[float, ...] | None = _range(0, 255, None)
    # Where training pixels live: decoded in memory, or prepared once on disk and read patch by
    # patch (`auto`: on disk above 2 GiB of decoded pixels). Both give the same batches.
    storage: Literal["auto", "memory", "disk"] = "auto"

    def relations(self):
        seen = {}
        for index, name in enumerate(self.test_sets):
            if name != BUILTIN_SET and not _is_image_set(name):
                expected = f"{BUILTIN_SET!r} or a known image set ({_known_sets()})"
                yield f"test_sets[{index}]", expected, name
                return
            canonical = name if name == BUILTIN_SET else get_image_set(name).name
            if canonical in seen:
                expected = f"each set once ({name!r} is {seen[canonical]!r} again)"
                yield f"test_sets[{index}]", expected, name
            seen.setdefault(canonical, name)


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
    mixed_precision: Literal[False, "float16", "bfloat16", "auto"] = False
    # XLA for the training step; "auto": on JAX (whose uncompiled step runs op by op), not on
    # TensorFlow (whose graph mode is faster than XLA on a CPU).
    jit_compile: Literal["auto", True, False] = "auto"
    # Devices and processes (restoration/training/distribution.py); data.batch_size stays the global batch.
    distribution: Literal["none", "mirrored", "data_parallel"] = "none"

    def relations(self):
        # Keras runs whole executions: 15 steps at 10 per execution would train 20.
        if self.steps % self.steps_per_execution:
            yield "steps", (f"a multiple of training.steps_per_execution ({self.steps_per_execution}), "
                            "since training runs whole executions"), self.steps


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
    degradation.
    """

    tile: int | None = positive(None)
    tile_overlap: int | None = non_negative(None)
    ssim: bool = False
    # Cells of the task's grid (data/grid.py) every test set is also scored under.
    grid: tuple[str, ...] = spec("a list of unique grid cell names", unique, ())
    # Cells the validation crops are degraded by (empty: the training distribution).
    select_on: tuple[str, ...] = spec("a list of unique grid cell names", unique, ())


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
        if self.training.validate_every and self.data.validation is None:
            expected = "0 when data.validation is null"
            yield "training.validate_every", expected, self.training.validate_every
        if self.data.degradation is not None and self.task.type != "sr":
            expected = "null for a denoise task (train a blind denoiser with data.noise_range)"
            yield "data.degradation", expected, "a degradation chain"
        if self.data.noise_range is not None and self.task.type != "denoise":
            expected = "null for an sr task (blind super-resolution uses data.degradation)"
            yield "data.noise_range", expected, list(self.data.noise_range)
        known = [cell.name for cell in GRIDS[self.task.type]]
        for key in ("grid", "select_on"):
            for index, name in enumerate(getattr(self.evaluation, key)):
                if name not in known:
                    yield (f"evaluation.{key}[{index}]",
                           f"a {self.task.type} grid cell ({', '.join(known)})", name)
                    break
        if self.evaluation.select_on and not self.training.validate_every:
            expected = "empty when training.validate_every is 0 (nothing is validated)"
            yield "evaluation.select_on", expected, list(self.evaluation.select_on)
        network = self.model.network
        if self.task.type not in network.tasks:
            expected = f"a model for task {self.task.type!r}, not {self.model.name!r}"
            yield "model.name", expected, self.model.name
        elif self.task.type == "sr" and self.task.scale not in network.scales:
            expected = f"a scale {self.model.name} supports ({', '.join(map(str, network.scales))})"
            yield "task.scale", expected, self.task.scale
        evaluation = self.evaluation
        if network.global_context and evaluation.tile is not None and evaluation.tile_overlap is None:
            expected = (f"null for {self.model.name}, whose output depends on the whole image "
                        "(or an explicit evaluation.tile_overlap, accepting an approximation)")
            yield "evaluation.tile", expected, evaluation.tile
        placement = getattr(self.regularizer, "placement", None)
        if placement == "branch" and not network.branches:
            expected = f"a placement {self.model.name} has (it has no residual branches)"
            yield "regularizer.placement", expected, placement
        blocks = self.regularizer.blocks if self.regularizer is not None else ()
        count = network.block_count(self.model.builder_kwargs(), self.task.channels)
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
