"""The published evaluation protocol of restoration models, in NumPy.

A model is given as `predict_fn`, a function from a float32 batch
`(1, height, width, channels)` in [0, 1] to a float32 batch
`(1, height * scale, width * scale, channels)`; a Keras model's `predict_on_batch`
or `__call__` fits. Every image goes through the same steps as in the papers:
degrade in NumPy, predict, clip and round to uint8, score, average per image.
"""

import dataclasses
import time

import numpy as np

from data.degradations import add_gaussian_noise
from data.degradations import bicubic_downscale
from data.degradations import bicubic_upscale
from data.degradations import modcrop
from data.grid import degrade_sr
from restoration.evaluation.metrics import Conventions
from restoration.evaluation.metrics import denoise_conventions
from restoration.evaluation.metrics import psnr
from restoration.evaluation.metrics import sr_conventions
from restoration.evaluation.metrics import ssim


@dataclasses.dataclass(frozen=True)
class SetEvaluation:
    """Scores of one model on one image set.

    Args:
        per_image: tuple of dicts with keys `name`, `psnr` and `ssim` (`None` if skipped).
        psnr: mean of the per-image PSNR values, in dB.
        ssim: mean of the per-image SSIM values, or `None` if skipped.
        conventions: how the images were scored.
        predict_seconds: time spent in `predict_fn` over the whole set,
            every tile of every image included.
    """

    per_image: tuple
    psnr: float
    ssim: float | None
    conventions: Conventions
    predict_seconds: float = 0.0

    @property
    def images(self):
        """The number of images scored."""
        return len(self.per_image)

    def to_json(self):
        """Returns a JSON-serialisable dict of the scores, image count and conventions."""
        return {
            "psnr": self.psnr,
            "ssim": self.ssim,
            "images": self.images,
            "conventions": dataclasses.asdict(self.conventions),
            "per_image": [dict(entry) for entry in self.per_image],
        }


def to_uint8(image):
    """Clips a [0, 1] float image and rounds it to uint8 (half away from zero).

    Args:
        image: float array with values nominally in [0, 1].

    Returns:
        uint8 array of the same shape.
    """
    scaled = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0) * 255.0
    return np.floor(scaled + 0.5).astype(np.uint8)


def predict_tiled(predict_fn, image, scale=1, tile=None, overlap=None):
    """Runs `predict_fn` on overlapping tiles and stitches the results.

    Each tile of `tile x tile` input pixels is predicted with `overlap`
    pixels of extra context on every side (less at the image edges), and
    only the output of the tile itself is kept. For a fully convolutional
    model whose receptive-field radius is at most `overlap`, the result
    equals whole-image inference up to float rounding.

    Args:
        predict_fn: function from a float32 batch `(1, h, w, channels)` to
            `(1, h * scale, w * scale, output_channels)`.
        image: float32 array `(height, width, channels)`.
        scale: spatial factor between input and output.
        tile: tile side in input pixels; `None` predicts the whole image at once.
        overlap: context pixels added on each side of a tile, required with
            `tile`; at least the model's receptive-field radius (and a
            multiple of its downsampling grid, as `tile` is) for an exact
            result: `sr_models.receptive_field(model).overlap()`.

    Returns:
        float32 array `(height * scale, width * scale, output_channels)`.
    """
    image = np.asarray(image, dtype=np.float32)
    height, width = image.shape[:2]
    if tile is None:
        return _predict(predict_fn, image, scale)
    if overlap is None:
        raise ValueError("Tiled prediction needs the context around each tile. Expected `overlap` >= 0, "
                         "e.g. sr_models.receptive_field(model).overlap(). "
                         f"Received: tile={tile}, overlap=None")
    if tile < 1 or overlap < 0:
        raise ValueError(f"Expected `tile` >= 1 and `overlap` >= 0. Received: tile={tile}, overlap={overlap}")
    output = None
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            context_top, context_left = max(top - overlap, 0), max(left - overlap, 0)
            context = image[
                context_top : min(bottom + overlap, height),
                context_left : min(right + overlap, width),
            ]
            prediction = _predict(predict_fn, context, scale)
            if output is None:
                output = np.zeros((height * scale, width * scale, prediction.shape[-1]), np.float32)
            inner_top, inner_left = (top - context_top) * scale, (left - context_left) * scale
            output[top * scale : bottom * scale, left * scale : right * scale] = prediction[
                inner_top : inner_top + (bottom - top) * scale,
                inner_left : inner_left + (right - left) * scale,
            ]
    return output


# The key suffix of scores with the self-ensemble (the "+" rows of published tables).
SELF_ENSEMBLE = "+x8"


def self_ensemble(predict_fn):
    """`predict_fn` averaged over the eight flips and rotations of its input (x8).

    Each of the four rotations, with and without a horizontal flip, is
    predicted, turned back and the eight float outputs averaged before any
    rounding, as KAIR's `--x8` and the "+" rows of EDSR and RCAN do. Keyword
    arguments (a noise level) pass through; tiles are each ensembled, which
    equals ensembling the whole image where tiling is exact.

    Args:
        predict_fn: function from a float32 batch `(1, h, w, c)` to a float32 batch.

    Returns:
        A function of the same form.
    """
    def predict(batch, **kwargs):
        total = None
        for turns in range(4):
            for flip in (False, True):
                view = np.rot90(batch, turns, axes=(1, 2))
                view = view[:, :, ::-1] if flip else view
                output = np.asarray(predict_fn(np.ascontiguousarray(view), **kwargs), np.float32)
                output = output[:, :, ::-1] if flip else output
                output = np.rot90(output, -turns, axes=(1, 2)).astype(np.float64)
                total = output if total is None else total + output
        # Summed in float64, so eight equal outputs average to themselves exactly.
        return (total / 8).astype(np.float32)

    return predict


def _predict(predict_fn, image, scale):
    prediction = np.asarray(predict_fn(image[None]), dtype=np.float32)
    expected = (1, image.shape[0] * scale, image.shape[1] * scale)
    if prediction.ndim != 4 or prediction.shape[:3] != expected:
        raise ValueError(f"Expected `predict_fn` to return shape {expected + ('channels',)}. "
                         f"Received: shape={prediction.shape} for input shape {(1,) + image.shape}")
    return prediction[0]


def match_input_channels(image, input_channels):
    """Replicates a gray image for an RGB model (Set14's `bridge` is gray)."""
    if input_channels is None or image.shape[-1] == input_channels:
        return image
    if image.shape[-1] == 1 and input_channels == 3:
        return np.repeat(image, 3, axis=-1)
    raise ValueError("Expected images with 1 channel or with `input_channels` channels. "
                     f"Received: image channels={image.shape[-1]}, input_channels={input_channels}")


def match_reference_channels(output, reference):
    # A gray reference is scored against the channel mean of an RGB output,
    # which for a replicated gray input is the model's gray estimate.
    if reference.shape[-1] == 1 and output.shape[-1] == 3:
        return output.mean(axis=-1, keepdims=True)
    return output


def score_images(entries, conventions, compute_ssim=True, predict_seconds=0.0):
    """Scores `(name, reference, output_uint8)` triples and averages per image.

    Args:
        entries: iterable of `(name, uint8 reference, uint8 output)`.
        conventions: the `Conventions` to score with (border, Y channel).
        compute_ssim: also compute SSIM.
        predict_seconds: time the outputs took, recorded with the scores.

    Returns:
        A `SetEvaluation`.
    """
    per_image = []
    for name, reference, output in entries:
        arguments = dict(border=conventions.border, y_channel=conventions.y_channel)
        try:
            per_image.append({"name": name, "psnr": psnr(reference, output, **arguments),
                              "ssim": ssim(reference, output, **arguments) if compute_ssim else None})
        except ValueError as error:
            raise ValueError(f"Cannot score image {name}: {error}") from None
    if not per_image:
        raise ValueError("Expected at least one image to evaluate. Received: images=[]")
    mean_psnr = float(np.mean([entry["psnr"] for entry in per_image]))
    mean_ssim = float(np.mean([entry["ssim"] for entry in per_image])) if compute_ssim else None
    return SetEvaluation(tuple(per_image), mean_psnr, mean_ssim, conventions, predict_seconds)


def evaluate_sr(predict_fn, images, scale, tile=None, overlap=None, compute_ssim=True,
                input_channels=None, cell=None, keep=None):
    """Evaluates super-resolution as the published tables do.

    Each HR image is cropped to a multiple of `scale`, shrunk with MATLAB
    bicubic to a uint8 LR input, restored by `predict_fn`, clipped and
    rounded to uint8, and scored on the BT.601 Y channel with a border of
    `scale` pixels; gray images are scored on their gray channel.

    Args:
        predict_fn: model function, see the module docstring.
        images: iterable of `(name, uint8 HR image (height, width, channels))`.
        scale: integer super-resolution factor.
        tile: tile side for `predict_tiled`; `None` predicts whole images.
        overlap: context pixels around each tile.
        compute_ssim: also compute SSIM (slower).
        input_channels: channels the model expects; gray images are
            replicated when it is 3.
        cell: a `data.grid.Cell` that makes the input instead (blur, bicubic,
            noise, JPEG); `None` is the benchmark's bicubic input.
        keep: called as `keep(name, output)` with each scored uint8 output.

    Returns:
        A `SetEvaluation`.

    Reference:
        - [Lim et al., 2017](https://arxiv.org/abs/1707.02921)
    """
    def inputs():
        for name, hr_image in images:
            if min(hr_image.shape[:2]) <= 2 * scale:
                # Modcrop and the border of `scale` pixels would leave nothing to score.
                raise ValueError(f"Cannot score image {name}: expected sides longer than {2 * scale} "
                                 f"pixels at x{scale}, received {hr_image.shape[0]}x{hr_image.shape[1]}")
            reference = modcrop(hr_image, scale)
            low_resolution = (bicubic_downscale(reference, scale) if cell is None
                              else degrade_sr(reference, scale, cell))
            yield name, low_resolution, reference

    return _score_restored(predict_fn, inputs(), scale, sr_conventions(scale), tile, overlap,
                           compute_ssim, input_channels, keep)


def evaluate_denoise(predict_fn, images, sigma, seed=0, tile=None, overlap=None, compute_ssim=True,
                     input_channels=None, keep=None):
    """Evaluates Gaussian denoising as the published tables do.

    Each clean image is mapped to [0, 1], corrupted by `add_gaussian_noise`
    with the same `seed` for every image (the reference code reseeds with 0
    before each image), restored, clipped and rounded to uint8, and scored
    on all channels without a border.

    Args:
        predict_fn: model function with `scale` 1, see the module docstring.
        images: iterable of `(name, uint8 clean image (height, width, channels))`.
        sigma: noise standard deviation on the 0-255 scale.
        seed: noise seed used for every image.
        tile, overlap, compute_ssim, input_channels, keep: as for `evaluate_sr`.

    Returns:
        A `SetEvaluation`.

    Reference:
        - [Zhang et al., 2017](https://arxiv.org/abs/1608.03981)
    """
    def inputs():
        for name, clean in images:
            if clean.dtype != np.uint8:
                raise ValueError("Expected uint8 clean images. "
                                 f"Received: dtype={clean.dtype} for image {name}")
            yield name, add_gaussian_noise(clean.astype(np.float64) / 255.0, sigma, seed), clean

    return _score_restored(predict_fn, inputs(), 1, denoise_conventions(), tile, overlap,
                           compute_ssim, input_channels, keep)


def evaluate_pairs(predict_fn, pairs, scale, tile=None, overlap=None, compute_ssim=True,
                   input_channels=None, keep=None):
    """Evaluates a user's pairs: each given input restored and scored against its target.

    No degradation is made: the input is the pair's (a camera's low-resolution
    shot, a noisy capture). The scores follow the task's conventions, as for
    the benchmark sets: Y channel and a border of `scale` pixels for
    super-resolution (`scale` > 1), every channel and no border for
    denoising (`scale` 1).

    Args:
        predict_fn: model function, see the module docstring.
        pairs: iterable of `(name, uint8 input, uint8 target)`, each target
            `scale` times its input (cropped to a multiple of `scale`).
        scale: the factor between target and input; 1 for denoising.
        tile, overlap, compute_ssim, input_channels, keep: as for `evaluate_sr`.

    Returns:
        A `SetEvaluation`.
    """
    def inputs():
        for name, given, target in pairs:
            if target.shape[:2] != (given.shape[0] * scale, given.shape[1] * scale):
                raise ValueError(f"Cannot score image {name}: expected a target {scale} times its "
                                 f"input, received {given.shape[:2]} and {target.shape[:2]}")
            yield name, given, target

    conventions = sr_conventions(scale) if scale > 1 else denoise_conventions()
    # The pair's own input, not the benchmark's: the description's last clause says so.
    first = conventions.description.rsplit(";", 1)[0]
    conventions = dataclasses.replace(conventions, description=f"{first}; inputs given by the pairs.")
    return _score_restored(predict_fn, inputs(), scale, conventions, tile, overlap, compute_ssim,
                           input_channels, keep)


def _score_restored(predict_fn, inputs, scale, conventions, tile, overlap, compute_ssim,
                    input_channels, keep):
    """Restores `(name, input, uint8 reference)` triples, rounds and scores each output.

    An input is uint8, mapped to [0, 1] as part of the timed prediction, or already in [0, 1].
    """
    entries, seconds = [], 0.0
    for name, model_input, reference in inputs:
        model_input = match_input_channels(model_input, input_channels)
        start = time.perf_counter()
        if model_input.dtype == np.uint8:
            model_input = model_input.astype(np.float32) / 255.0
        output = predict_tiled(predict_fn, model_input, scale, tile, overlap)
        seconds += time.perf_counter() - start
        output = to_uint8(match_reference_channels(output, reference))
        if keep is not None:
            keep(name, output)
        entries.append((name, reference, output))
    return score_images(entries, conventions, compute_ssim, seconds)


def bicubic_predictor(scale):
    """A `predict_fn` that upscales with MATLAB bicubic, the SR baseline.

    The [0, 1] input is turned back into the exact uint8 LR image, so the
    baseline runs through the same evaluation path as a model.

    Args:
        scale: integer upscaling factor.

    Returns:
        Function from `(1, h, w, channels)` to `(1, h * scale, w * scale, channels)` float32.
    """

    def predict(batch):
        low_resolution = to_uint8(np.asarray(batch)[0])
        upscaled = bicubic_upscale(low_resolution, scale)
        return (upscaled.astype(np.float32) / 255.0)[None]

    return predict


def identity_predictor():
    """A `predict_fn` that returns its input: the noisy-input baseline of denoising.

    Returns:
        Function returning its float32 batch unchanged.
    """
    return lambda batch: np.asarray(batch, dtype=np.float32)
