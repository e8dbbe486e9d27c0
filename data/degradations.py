"""Degradations shared by training pipelines and evaluation.

Both sides must degrade images identically, otherwise a model is scored on
inputs it was never trained for; these functions are therefore pure NumPy
and deterministic.
"""

import numpy as np

from data.imresize import imresize


def check_positive_integer(value, name):
    """Raises a ValueError naming `name` unless `value` is a positive integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Expected `{name}` to be a positive integer. Received: {name}={value}")


def _check_uint8_image(image, name):
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"Expected `{name}` to be a uint8 array of shape (height, width) or (height, width, "
                         f"channels). Received: {name}.dtype={image.dtype}, {name}.shape={image.shape}")


def modcrop(image, scale):
    """Crops the bottom and right edges so both sides are divisible by `scale`.

    Args:
        image: array of shape `(height, width)` or `(height, width, channels)`.
        scale: positive integer super-resolution factor.

    Returns:
        A view of `image` of shape `(height - height % scale, width - width % scale, ...)`.
    """
    check_positive_integer(scale, "scale")
    image = np.asarray(image)
    height = image.shape[0] - image.shape[0] % scale
    width = image.shape[1] - image.shape[1] % scale
    return image[:height, :width]


def bicubic_downscale(hr_image, scale):
    """Makes the low-resolution input of a super-resolution benchmark.

    The high-resolution image is cropped with `modcrop`, then shrunk with
    MATLAB's antialiased bicubic `imresize(hr, 1/scale)` and rounded to uint8.

    Args:
        hr_image: uint8 array of shape `(height, width)` or `(height, width, channels)`.
        scale: positive integer factor.

    Returns:
        uint8 array of shape `(height // scale, width // scale, ...)`.
    """
    hr_image = np.asarray(hr_image)
    _check_uint8_image(hr_image, "hr_image")
    cropped = modcrop(hr_image, scale)
    if scale == 1:
        return cropped.copy()
    return imresize(cropped, scale=1.0 / scale)


def bicubic_upscale(lr_image, scale):
    """Enlarges an image with MATLAB bicubic interpolation (no antialiasing applies).

    Args:
        lr_image: uint8 array of shape `(height, width)` or `(height, width, channels)`.
        scale: positive integer factor.

    Returns:
        uint8 array of shape `(height * scale, width * scale, ...)`.
    """
    lr_image = np.asarray(lr_image)
    _check_uint8_image(lr_image, "lr_image")
    check_positive_integer(scale, "scale")
    if scale == 1:
        return lr_image.copy()
    return imresize(lr_image, scale=float(scale))


def add_gaussian_noise(clean, sigma, seed=0):
    """Adds white Gaussian noise the way denoising benchmarks do.

    The noise has standard deviation `sigma / 255` on a [0, 1] image and is
    drawn in float64 by NumPy's legacy Mersenne-Twister generator seeded with
    `seed`, exactly as the DnCNN, FFDNet and KAIR test scripts do with
    `np.random.seed(seed)` then `np.random.normal(0, sigma / 255, shape)`, so
    the noise is the published realisation; the global generator is left
    untouched. The sum is neither clipped nor rounded. Evaluation passes
    the same seed for every image, as the reference code reseeds with 0
    before each image.

    Args:
        clean: float array with values in [0, 1].
        sigma: noise standard deviation on the 0-255 scale, e.g. 15, 25, 50.
        seed: seed of the legacy generator, an integer in [0, 2**32).

    Returns:
        float32 array of the same shape as `clean`.

    Reference:
    - [Zhang et al., 2017](https://arxiv.org/abs/1608.03981)
    """
    clean = np.asarray(clean)
    if not np.issubdtype(clean.dtype, np.floating):
        raise ValueError("Expected `clean` to be a floating-point image in [0, 1]. "
                         f"Received: clean.dtype={clean.dtype}")
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"Expected `sigma` to be a non-negative number. Received: sigma={sigma}")
    noise = np.random.RandomState(seed).normal(0.0, sigma / 255.0, clean.shape)
    return (clean.astype(np.float64) + noise).astype(np.float32)
