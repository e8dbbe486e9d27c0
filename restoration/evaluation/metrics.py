"""Image-quality metrics with the conventions of published restoration tables.

A PSNR is comparable with a published one only when the colour space,
border, rounding and averaging agree; `Conventions` records these choices
so they can be printed next to every number.
"""

import dataclasses

import numpy as np

# BT.601 luma, studio range: Y = 16 + 65.481 R + 128.553 G + 24.966 B for R, G, B in [0, 1].
_Y_OFFSET = 16.0
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])


@dataclasses.dataclass(frozen=True)
class Conventions:
    """How restored images are scored.

    Args:
        y_channel: score the Y channel of BT.601 YCbCr instead of all channels.
        border: pixels shaved from each side before scoring.
        description: one sentence stating the above, printed with results.
    """

    y_channel: bool
    border: int
    description: str


def conventions_for(task):
    """The conventions a task is scored with.

    Args:
        task: Anything with `type` (`"sr"` or `"denoise"`) and `scale`, such
            as a `TaskConfig` or an evaluation `Task`.

    Returns:
        A `Conventions`.
    """
    return sr_conventions(task.scale) if task.type == "sr" else denoise_conventions()


def sr_conventions(scale):
    """Conventions of super-resolution tables (EDSR, VDSR, SRCNN and successors).

    Args:
        scale: super-resolution factor, also the border shaved.

    Returns:
        A `Conventions`.
    """
    description = (f"PSNR/SSIM on Y of BT.601 YCbCr (studio range), {int(scale)}-pixel border "
                   "shaved, output clipped and rounded to uint8, mean over images; "
                   "LR made with MATLAB bicubic imresize.")
    return Conventions(y_channel=True, border=int(scale), description=description)


def denoise_conventions():
    """Conventions of Gaussian-denoising tables (DnCNN, FFDNet).

    Returns:
        A `Conventions`.
    """
    description = ("PSNR/SSIM on all channels, no border, output clipped and rounded to "
                   "uint8, mean over images; noise N(0, sigma/255) added in float, unclipped.")
    return Conventions(y_channel=False, border=0, description=description)


def rgb_to_y(image):
    """Converts RGB to the Y channel of BT.601 YCbCr, studio range.

    Args:
        image: array of shape `(..., 3)`; `uint8` is read on the 0-255 scale,
            floating point on the 0-1 scale.

    Returns:
        float64 array of shape `image.shape[:-1]` with values in [16, 235].
    """
    image = np.asarray(image)
    if image.shape[-1:] != (3,):
        raise ValueError("Expected an RGB image with 3 channels in the last axis. "
                         f"Received: image.shape={image.shape}")
    if image.dtype == np.uint8:
        rgb = image.astype(np.float64) / 255.0
    elif np.issubdtype(image.dtype, np.floating):
        rgb = image.astype(np.float64)
    else:
        raise ValueError(f"Expected a uint8 or floating-point image. Received: image.dtype={image.dtype}")
    return _Y_OFFSET + rgb @ _Y_WEIGHTS


def _prepare(reference, output, border, y_channel, data_range):
    """Converts a pair to float64 `(height, width, channels)` arrays ready to score."""
    reference = np.asarray(reference)
    output = np.asarray(output)
    if reference.shape != output.shape:
        raise ValueError("Expected `reference` and `output` to have the same shape. "
                         f"Received: reference.shape={reference.shape}, output.shape={output.shape}")
    if reference.ndim not in (2, 3):
        raise ValueError("Expected images of shape (height, width) or (height, width, channels). "
                         f"Received: reference.shape={reference.shape}")
    if border < 0 or 2 * border >= min(reference.shape[:2]):
        raise ValueError("Expected `border` to be non-negative and smaller than half the image. "
                         f"Received: border={border}, image shape={reference.shape}")
    pair = []
    for image in (reference, output):
        image = image.astype(np.float64)
        if image.ndim == 2:
            image = image[..., None]
        # A gray image is its own luma: published tables score it unchanged.
        if y_channel and image.shape[-1] == 3:
            image = (rgb_to_y(image / data_range) / 255.0 * data_range)[..., None]
        if border:
            image = image[border:-border, border:-border]
        pair.append(image)
    return pair


def psnr(reference, output, border=0, y_channel=False, data_range=255):
    """Peak signal-to-noise ratio of ONE image, in dB.

    Args:
        reference: ground truth, `(height, width)` or `(height, width, channels)`,
            on the scale given by `data_range` (uint8 for the benchmark tables).
        output: restored image of the same shape and scale.
        border: pixels shaved from each side before scoring.
        y_channel: score the BT.601 luma of RGB images; gray images are scored as is.
        data_range: peak signal value, 255 for uint8.

    Returns:
        float PSNR; `inf` when the images are identical.
    """
    reference, output = _prepare(reference, output, border, y_channel, data_range)
    mse = np.mean((reference - output) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def ssim(reference, output, border=0, y_channel=False, data_range=255):
    """Structural similarity of ONE image, Gaussian window with sigma 1.5.

    Multi-channel images are scored per channel and averaged.

    Args:
        reference: ground truth, as for `psnr`.
        output: restored image of the same shape and scale.
        border: pixels shaved from each side before scoring.
        y_channel: score the BT.601 luma of RGB images; gray images are scored as is.
        data_range: peak signal value, 255 for uint8.

    Returns:
        float SSIM, at most 1.

    Reference:
        - [Wang et al., 2004](https://doi.org/10.1109/TIP.2003.819861)
    """
    # Imported here: PSNR needs NumPy alone (a bare GPU machine, benchmarks.gpu_smoke).
    from skimage.metrics import structural_similarity

    reference, output = _prepare(reference, output, border, y_channel, data_range)
    return float(structural_similarity(reference, output, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, data_range=data_range,
                                       channel_axis=-1))
