"""Predictors: a Keras model or a baseline as a function, with the task it solves.

A `Predictor` is what `restoration.evaluation.protocol` scores: a
`predict_fn` from a float32 batch to a float32 batch, and its `Task`.
`evaluate_predictor` loads a test set and scores it under the published
conventions; training calls it at the end of a run, `evaluate.py` through
`restoration.evaluation.sources`.
"""

import dataclasses

import numpy as np

from data.builtin import load_builtin
from data.testsets import load_set
from restoration.config.schema import BUILTIN_SET
from restoration.config.schema import DEFAULT_TILE_OVERLAP
from restoration.evaluation.protocol import bicubic_predictor
from restoration.evaluation.protocol import evaluate_denoise
from restoration.evaluation.protocol import evaluate_sr
from restoration.evaluation.protocol import identity_predictor

# The published denoising protocol reseeds the noise with 0 before each image.
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

    @classmethod
    def from_config(cls, task):
        """The task of a run, from its `TaskConfig`."""
        return cls(task.type, task.scale, task.sigma, task.channels)


@dataclasses.dataclass(frozen=True)
class Predictor:
    """A model or baseline ready for `restoration.evaluation.protocol`.

    Args:
        predict_fn: function from a float32 batch `(1, h, w, c)` to float32 NumPy.
        task: the `Task` it solves, with `channels` read from the model.
        model_file: the `.keras` file it was loaded from, `None` for a baseline.
    """

    predict_fn: object
    task: Task
    model_file: str | None = None


def keras_predictor(model):
    """Wraps a Keras model as a `predict_fn` for `restoration.evaluation.protocol`.

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


def baseline_predictor(task):
    """The baseline of a task: MATLAB bicubic upscaling for `sr`, the noisy input for `denoise`."""
    predict_fn = bicubic_predictor(task.scale) if task.type == "sr" else identity_predictor()
    return Predictor(predict_fn, task)


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
    predictor, set_name, data_root=None, tile=None, overlap=DEFAULT_TILE_OVERLAP, ssim=True, cell=None
):
    """Scores one predictor on one test set under the published conventions.

    Args:
        predictor: a `Predictor`.
        set_name: a registered set name or `"builtin"`.
        data_root: folder holding the sets; `None` searches the default roots.
        tile: tile side for `predict_tiled`; `None` is whole images.
        overlap: context pixels around each tile.
        ssim: also compute SSIM.
        cell: a `data.grid.Cell` of the task's grid: the degraded input of a
            super-resolution cell, the noise level of a denoising cell;
            `None` is the benchmark's input.

    Returns:
        A `SetEvaluation`.
    """
    task = predictor.task
    images = load_test_images(set_name, data_root, task.channels)
    common = dict(tile=tile, overlap=overlap, compute_ssim=ssim, input_channels=task.channels)
    if task.type == "sr":
        return evaluate_sr(predictor.predict_fn, images, task.scale, cell=cell, **common)
    sigma = task.sigma if cell is None else cell.noise
    return evaluate_denoise(predictor.predict_fn, images, sigma, seed=NOISE_SEED, **common)
