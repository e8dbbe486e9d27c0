"""Predictors: a Keras model or a baseline as a function, with the task it solves.

A `Predictor` is what `restoration.evaluation.protocol` scores: a
`predict_fn` from a float32 batch to a float32 batch, and its `Task`.
`evaluate_predictor` loads a test set and scores it under the published
conventions; training calls it at the end of a run, `evaluate.py` through
`restoration.evaluation.sources`.
"""

import dataclasses
import functools
import zipfile
from pathlib import Path

import numpy as np

from data.builtin import load_builtin
from data.degradations import modcrop
from data.images import read_image
from data.imagesets import load_set
from restoration.config.schema import BUILTIN_SET
from restoration.evaluation.protocol import bicubic_predictor
from restoration.evaluation.protocol import evaluate_denoise
from restoration.evaluation.protocol import evaluate_pairs
from restoration.evaluation.protocol import evaluate_sr
from restoration.evaluation.protocol import identity_predictor
from restoration.evaluation.protocol import self_ensemble

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
        predict_fn: function from a float32 batch `(1, h, w, c)` to float32
            NumPy; with `noise_level`, called as `predict_fn(batch, sigma)`.
        task: the `Task` it solves, with `channels` read from the model.
        model_file: the `.keras` file it was loaded from, `None` for a baseline.
        field: the network's `sr_models.Field` (receptive field and grid),
            which sets the tile overlap; `None` for a baseline.
        noise_level: whether `predict_fn` takes the noise level (FFDNet, DRUNet).
    """

    predict_fn: object
    task: Task
    model_file: str | None = None
    field: object = None
    noise_level: bool = False

    def tiling(self, tile, overlap=None):
        """The `(tile, overlap)` of tiled inference, exact by default.

        `overlap=None` takes the network's receptive field; tile and overlap
        are rounded up to the network's downsampling grid, so every tile sees
        the grid the whole image does.
        """
        if tile is None:
            return None, 0
        if self.field is None:
            return tile, BASELINE_OVERLAP if overlap is None else overlap
        return self.field.tile(tile), self.field.overlap(overlap)

    def self_ensembled(self):
        """The same predictor, its output averaged over the eight flips and rotations (x8)."""
        return dataclasses.replace(self, predict_fn=self_ensemble(self.predict_fn))

    def function_for(self, sigma):
        """`predict_fn` as a function of the batch alone, the noise level fixed to `sigma`."""
        if not self.noise_level:
            return self.predict_fn
        return functools.partial(self.predict_fn, sigma=sigma)


# MATLAB's bicubic reads two low-resolution pixels on either side; the noisy input none.
BASELINE_OVERLAP = 3


def model_predictor(model, task, model_file=None):
    """A Keras model as a `Predictor` of `task`; channels, noise input and receptive field read off it.

    The call is traced once, for images of any height and width, so test
    sets of many image sizes do not retrace it. A mixed-precision model's
    float16 output is cast to float32.

    Args:
        model: a Keras model mapping `(1, h, w, c)` images in [0, 1] to
            images, with the noise level (sigma / 255) as a second input when
            `sr_models.takes_noise_level(model)`.
        task: the `Task`; its `channels` are replaced by the model's.
        model_file: the `.keras` file the model came from, if any.

    Returns:
        A `Predictor`.
    """
    import keras

    import sr_models

    channels = model.inputs[0].shape[-1]
    noise_level = sr_models.takes_noise_level(model)

    def call(*parts):
        return model(list(parts) if noise_level else parts[0], training=False)

    # On TensorFlow one traced function serves every image size; other backends call the model
    # eagerly, which gives the same values.
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        signature = [tf.TensorSpec((None, None, None, channels), tf.float32)]
        if noise_level:
            signature.append(tf.TensorSpec((None, 1), tf.float32))
        call = tf.function(call, input_signature=signature)

    def predict(batch, sigma=None):
        parts = [np.asarray(batch, np.float32)]
        if noise_level:
            if sigma is None:
                raise ValueError(f"{model.name} takes the noise level. "
                                 "Expected a sigma. Received: sigma=None")
            parts.append(np.full((parts[0].shape[0], 1), sigma / 255.0, np.float32))
        return keras.ops.convert_to_numpy(call(*parts)).astype(np.float32)

    try:
        field = sr_models.receptive_field(model)
    except ValueError as error:
        field = UnknownField(str(error))
    return Predictor(predict, dataclasses.replace(task, channels=channels), model_file, field,
                     noise_level)


@dataclasses.dataclass(frozen=True)
class UnknownField:
    """The `Field` of a network with a layer of unknown reach: whole images, or a given overlap.

    Args:
        reason: why the receptive field is not known, naming the layer.
    """

    reason: str

    def tile(self, tile):
        return tile

    def overlap(self, requested=None):
        if requested is None:
            raise ValueError(self.reason)
        return requested


def baseline_predictor(task):
    """The baseline of a task: MATLAB bicubic upscaling for `sr`, the noisy input for `denoise`."""
    predict_fn = bicubic_predictor(task.scale) if task.type == "sr" else identity_predictor()
    return Predictor(predict_fn, task)


def evaluate_predictor(predictor, set_name, data_root=None, tile=None, overlap=None, ssim=True,
                       cell=None, keep=None):
    """Scores one predictor on one test set under the published conventions.

    A gray predictor scores gray versions of colour images; otherwise files
    keep their channels, so a gray image in a colour set is scored as published.

    Args:
        predictor: a `Predictor`.
        set_name: a registered set name or `"builtin"`.
        data_root: folder holding the sets; `None` searches the default roots.
        tile: tile side for `predict_tiled`; `None` is whole images.
        overlap: context pixels around each tile; `None` takes the
            network's receptive field, which makes tiles exact (see
            `Predictor.tiling`).
        ssim: also compute SSIM.
        cell: a `data.grid.Cell` of the task's grid: the degraded input of a
            super-resolution cell, the noise level of a denoising cell;
            `None` is the benchmark's input.
        keep: called as `keep(name, output)` with each scored uint8 output
            (to save the restored images).

    Returns:
        A `SetEvaluation`.
    """
    task = predictor.task
    gray = task.channels == 1
    if set_name == BUILTIN_SET:
        images = load_builtin("test", channels=1 if gray else 3)
    else:
        images = load_set(set_name, data_root, channels=1 if gray else None)
    tile, overlap = predictor.tiling(tile, overlap)
    common = dict(tile=tile, overlap=overlap, compute_ssim=ssim, input_channels=task.channels,
                  keep=keep)
    if task.type == "sr":
        return evaluate_sr(predictor.predict_fn, images, task.scale, cell=cell, **common)
    sigma = task.sigma if cell is None else cell.noise
    return evaluate_denoise(predictor.function_for(sigma), images, sigma, seed=NOISE_SEED, **common)


def evaluate_paired(predictor, pairs, tile=None, overlap=None, ssim=True, keep=None):
    """Scores one predictor on a user's pairs (`data.pairs.Pair`s), their own inputs restored.

    A network that takes a noise level is given `task.sigma`. The other
    arguments are `evaluate_predictor`'s.

    Returns:
        A `SetEvaluation`.
    """
    task = predictor.task
    scale = task.scale if task.type == "sr" else 1
    images = ((pair.name, read_image(pair.input, task.channels),
               modcrop(read_image(pair.target, task.channels), scale)) for pair in pairs)
    tile, overlap = predictor.tiling(tile, overlap)
    return evaluate_pairs(predictor.function_for(task.sigma), images, scale, tile=tile, overlap=overlap,
                          compute_ssim=ssim, input_channels=task.channels, keep=keep)


def load_keras_model(model_file, compile=False):
    """Loads a `.keras` file with the project's custom layers registered.

    `compile=True` also restores the optimizer and its state, to resume
    training; the caller must then have imported the learning-rate schedule
    (`restoration.training.schedules`), as training does. Keras' safe mode
    stays on: a file that is not a `.keras` archive, or whose layers name
    something other than a layer (a lambda, a Python function), is a
    `ValueError` naming the file, and nothing in it runs.
    """
    import keras

    # Imported for their side effect: registering custom layers for deserialisation.
    import dropblock.layers  # noqa: F401
    import dropblock.regularizers  # noqa: F401
    import sr_models.layers  # noqa: F401

    if Path(model_file).is_file() and not zipfile.is_zipfile(model_file):
        raise ValueError(f"{model_file}: expected a .keras file (a zip archive), received a file "
                         "that is not one (damaged, cut short, or of another format)")
    try:
        return keras.saving.load_model(model_file, compile=compile)
    except TypeError as error:
        # A config whose class is not a Keras object (`module: os, class_name: system`).
        reason = str(error).split("\n")[0].split(". Full config")[0]
        raise ValueError(f"{model_file}: expected a model of Keras layers, received a layer "
                         f"Keras cannot rebuild ({reason})") from None
