"""Saved models and baselines as predictors, scored on benchmark sets.

A source is what a user names: a run directory written by `train.py`, a
`.keras` file, or a baseline (`bicubic` upscaling for super-resolution, the
`noisy` input itself for denoising). `resolve_source` checks it and reads
its task without loading weights, so every mistake surfaces before work
starts; `load_predictor` then turns it into a `predict_fn` for
`restoration.evaluation`.
"""

import dataclasses
import os
import pathlib

import numpy as np

from data.builtin import load_builtin
from data.testsets import find_set
from data.testsets import get_image_set
from data.testsets import load_set
from restoration.config import RunConfig
from restoration.evaluation import DEFAULT_OVERLAP
from restoration.evaluation import bicubic_predictor
from restoration.evaluation import evaluate_denoise
from restoration.evaluation import evaluate_sr
from restoration.evaluation import identity_predictor

# Model file of a run directory per `--checkpoint`, in the order tried without it:
# the checkpoint chosen on validation first, then the final weights.
CHECKPOINTS = {
    "best": "checkpoints/best.keras",
    "final": "model.keras",
    "latest": "checkpoints/latest.keras",
}
BASELINES = ("bicubic", "noisy")
BUILTIN_SET = "builtin"
NOISE_SEED = 0


@dataclasses.dataclass(frozen=True)
class Task:
    """What a predictor restores.

    Args:
        type: `"sr"` or `"denoise"`.
        scale: super-resolution factor, `None` for denoising.
        sigma: noise level on the 0-255 scale, `None` for super-resolution.
        channels: channels the predictor takes (1 or 3); `None` keeps each
            image's own channels, as the published baselines do.
    """

    type: str
    scale: int | None = None
    sigma: float | None = None
    channels: int | None = None


@dataclasses.dataclass(frozen=True)
class Source:
    """A model or baseline as the user named it, checked but not yet loaded.

    Args:
        label: the path or baseline name as given; results are keyed by it.
        task: the `Task` it solves, from config.yaml or from the command line.
        model_file: the `.keras` file to load, `None` for a baseline.
        config: the run's `RunConfig`, `None` unless it is a run directory.
    """

    label: str
    task: Task
    model_file: str | None = None
    config: RunConfig | None = None


@dataclasses.dataclass(frozen=True)
class Predictor:
    """A loaded source, ready for `restoration.evaluation`.

    Args:
        source: the `Source` it was loaded from.
        predict_fn: function from a float32 batch `(1, h, w, c)` to float32 NumPy.
        task: the source's task, with `channels` read from the model.
    """

    source: Source
    predict_fn: object
    task: Task


def resolve_model_file(path, checkpoint=None):
    """Finds the model file to evaluate for a run directory or `.keras` file.

    Args:
        path: a run directory or a `.keras` file.
        checkpoint: `"best"`, `"final"` or `"latest"` to choose the file of a
            run directory; `None` takes the first that exists in that order.

    Returns:
        `pathlib.Path` of an existing `.keras` file.
    """
    path = pathlib.Path(path)
    if checkpoint is not None and checkpoint not in CHECKPOINTS:
        raise ValueError(
            f"Expected `checkpoint` to be one of {list(CHECKPOINTS)}. "
            f"Received: checkpoint={checkpoint!r}"
        )
    if path.is_file():
        if path.suffix != ".keras":
            raise ValueError(f"Expected a run directory or a .keras file. Received: path={path}")
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"Model path not found: {path} (a run directory or .keras file)")
    names = [checkpoint] if checkpoint else list(CHECKPOINTS)
    candidates = [path / CHECKPOINTS[name] for name in names]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"No model file in run directory {path}; searched: {', '.join(map(str, candidates))}"
    )


def load_keras_model(model_file, compile=False):
    """Loads a `.keras` file with the project's custom layers registered.

    `compile=True` also restores the optimizer and its state, to resume training.
    """
    import keras

    # Imported for their side effect: registering custom layers for deserialisation.
    import dropblock  # noqa: F401
    import restoration.schedules  # noqa: F401
    import sr_models  # noqa: F401

    return keras.saving.load_model(model_file, compile=compile)


def keras_predictor(model):
    """Wraps a Keras model as a `predict_fn` for `restoration.evaluation`.

    The call is traced once, for images of any height and width, so test
    sets of many image sizes do not retrace it. A mixed-precision model's
    float16 output is cast to float32.

    Args:
        model: a Keras model mapping `(1, h, w, c)` images in [0, 1] to images.

    Returns:
        Function from a float32 NumPy batch to a float32 NumPy batch.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        # tf.function cannot trace other backends; an eager call gives the same values.
        return lambda batch: keras.ops.convert_to_numpy(model(batch, training=False)).astype(
            np.float32
        )
    import tensorflow as tf

    channels = model.inputs[0].shape[-1]
    signature = [tf.TensorSpec((None, None, None, channels), tf.float32)]
    call = tf.function(lambda batch: model(batch, training=False), input_signature=signature)
    return lambda batch: call(tf.constant(batch, tf.float32)).numpy().astype(np.float32)


def _given_task(label, scale, sigma, channels):
    """The task given on the command line for a source without config.yaml."""
    if (scale is None) == (sigma is None):
        raise ValueError(
            f"Expected exactly one of --scale (super-resolution) or --sigma (denoising) for "
            f"{label}, which has no config.yaml to read the task from. "
            f"Received: scale={scale}, sigma={sigma}"
        )
    if scale is not None:
        return Task("sr", scale=int(scale), channels=channels)
    return Task("denoise", sigma=float(sigma), channels=channels)


def _configured_task(config, label, scale, sigma, channels):
    """The task of a run's config.yaml, checked against any value also given."""
    task = Task(config.task.type, config.task.scale, config.task.sigma, config.task.channels)
    for name, given in (("scale", scale), ("sigma", sigma), ("channels", channels)):
        if given is not None and given != getattr(task, name):
            raise ValueError(
                f"Expected --{name} to agree with {label}/config.yaml "
                f"({name}={getattr(task, name)}). Received: {name}={given}"
            )
    return task


def resolve_source(path, checkpoint=None, scale=None, sigma=None, channels=None):
    """Checks a run directory, `.keras` file or baseline name without loading weights.

    A run directory's task comes from its `config.yaml`, and any `scale`,
    `sigma` or `channels` given must agree with it; a bare `.keras` file
    needs `scale` or `sigma`; `bicubic` needs `scale`, `noisy` needs `sigma`.

    Args:
        path: a run directory, a `.keras` file, `"bicubic"` or `"noisy"`.
        checkpoint: which model file of a run directory, see `resolve_model_file`.
        scale: super-resolution factor.
        sigma: noise level on the 0-255 scale.
        channels: model input channels; 1 makes a baseline score gray images.

    Returns:
        A `Source` labelled with `path` as given.
    """
    label = os.fspath(path)
    if label in BASELINES:
        return Source(label, _baseline_task(label, scale, sigma, channels))
    model_file = str(resolve_model_file(path, checkpoint))
    if not pathlib.Path(path).is_dir():
        return Source(label, _given_task(label, scale, sigma, channels), model_file)
    config = RunConfig.from_file(path)
    return Source(
        label, _configured_task(config, label, scale, sigma, channels), model_file, config
    )


def _baseline_task(name, scale, sigma, channels):
    needed, unused = ("scale", "sigma") if name == "bicubic" else ("sigma", "scale")
    given = {"scale": scale, "sigma": sigma}
    if given[needed] is None or given[unused] is not None:
        raise ValueError(
            f"Expected --{needed} (and no --{unused}) for the {name} baseline. "
            f"Received: scale={scale}, sigma={sigma}"
        )
    # Without a channel count each image keeps its own, as in the published baselines.
    return _given_task(name, scale, sigma, None if channels == 3 else channels)


def load_predictor(source):
    """Loads a `Source`: the model's weights, or the baseline's function.

    Args:
        source: a `Source` from `resolve_source`.

    Returns:
        A `Predictor`.
    """
    task = source.task
    if source.model_file is None:
        baseline = bicubic_predictor(task.scale) if task.type == "sr" else identity_predictor()
        return Predictor(source, baseline, task)
    model = load_keras_model(source.model_file)
    model_channels = model.input_shape[-1]
    if task.channels not in (None, model_channels):
        raise ValueError(
            f"Expected --channels to match the model input of {source.model_file}. "
            f"Received: channels={task.channels}, model channels={model_channels}"
        )
    return Predictor(
        source, keras_predictor(model), dataclasses.replace(task, channels=model_channels)
    )


def plan_sets(source, sets=None, data_root=None):
    """Chooses a source's test sets and data root, and checks the sets exist.

    Run before any model is loaded, so a missing set stops the command
    before it has spent time on other sources.

    Args:
        source: a `Source`.
        sets: set names; `None` takes the run's `data.test_sets`.
        data_root: folder holding the sets; `None` takes the run's `data.root`,
            else the default roots.

    Returns:
        `(set_names, data_root)`: the registered set names and the root to use.
    """
    config = source.config
    names = sets if sets is not None else (config.data.test_sets if config else ())
    if not names:
        raise ValueError(
            f"Expected --sets for {source.label}, which has no config.yaml naming test sets. "
            f"Received: sets={list(names)}"
        )
    root = data_root if data_root is not None or config is None else config.data.root
    # Registered spellings (`b100` -> `BSD100`) key the results, without repeats.
    names = tuple(
        dict.fromkeys(name if name == BUILTIN_SET else get_image_set(name).name for name in names)
    )
    for name in names:
        if name != BUILTIN_SET:
            find_set(name, root)
    return names, root


def load_test_images(set_name, data_root=None, channels=None):
    """Loads a test set, or the built-in test photographs for `"builtin"`.

    Args:
        set_name: a registered set name or `"builtin"`.
        data_root: folder holding the sets; `None` searches the default roots.
        channels: 1 converts colour images to gray; otherwise files keep their
            channels, so a gray image in a colour set is scored as published.

    Returns:
        List of `(name, uint8 image)`.
    """
    if set_name == BUILTIN_SET:
        return load_builtin("test", channels=1 if channels == 1 else 3)
    return load_set(set_name, data_root, channels=1 if channels == 1 else None)


def evaluate_predictor(
    predictor, set_name, data_root=None, tile=None, overlap=DEFAULT_OVERLAP, ssim=True
):
    """Scores one predictor on one test set under the published conventions.

    Args:
        predictor: a `Predictor`.
        set_name: a registered set name or `"builtin"`.
        data_root: folder holding the sets; `None` searches the default roots.
        tile: tile side for `restoration.evaluation.predict_tiled`; `None` is whole images.
        overlap: context pixels around each tile.
        ssim: also compute SSIM.

    Returns:
        A `SetEvaluation`.
    """
    task = predictor.task
    images = load_test_images(set_name, data_root, task.channels)
    common = dict(tile=tile, overlap=overlap, compute_ssim=ssim, input_channels=task.channels)
    if task.type == "sr":
        return evaluate_sr(predictor.predict_fn, images, task.scale, **common)
    return evaluate_denoise(predictor.predict_fn, images, task.sigma, seed=NOISE_SEED, **common)
