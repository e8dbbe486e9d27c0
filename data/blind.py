"""Random degradation chains for blind (multi-degradation) training, in TensorFlow.

A chain degrades one clean training patch in the classical order of the
blind-SR literature: blur (isotropic or anisotropic Gaussian kernel),
downsampling (bicubic, bilinear or area; super-resolution only), additive
Gaussian noise (gray or per channel), JPEG compression, then quantisation
to 8 bits. Every draw comes from stateless random keys, so a patch's
degradation depends on its keys only: two datasets built with the same seed
(the arms of one experiment seed) see identical degradations.

The default ranges are the first-order degradation of Real-ESRGAN (Wang et
al., ICCVW 2021, Section 3.1 and their training options): Gaussian blur
sigma in [0.2, 3] on a 21x21 kernel, anisotropic with probability 0.5;
resize by bicubic, bilinear or area; Gaussian noise sigma in [1, 30] (on
0-255), gray with probability 0.4; JPEG quality in [30, 95]. The sinc,
generalised-Gaussian, Poisson and second-order parts of that model are
left out.
"""

import dataclasses
import math

import tensorflow as tf

DOWNSAMPLING = ("bicubic", "bilinear", "area")
KERNEL_SIZE = 21
# Keys each chain consumes from the caller's key list.
KEY_COUNT = 12


@dataclasses.dataclass(frozen=True)
class Chain:
    """Probabilities and ranges of one degradation chain.

    A probability of 0 removes that stage; equal ends of a range fix it.

    Attributes:
        blur_probability: Chance that a patch is blurred.
        blur_sigma: `(low, high)` standard deviation of the Gaussian kernel,
            in pixels of the clean patch.
        anisotropic_probability: Chance that a blur kernel has two
            independent sigmas and a random rotation.
        downsampling: Resizing methods drawn with equal chance.
        noise_probability: Chance that noise is added.
        noise_sigma: `(low, high)` noise standard deviation on the 0-255 scale.
        gray_noise_probability: Chance that the noise is the same in every
            channel.
        jpeg_probability: Chance of JPEG compression.
        jpeg_quality: `(low, high)` JPEG quality, integers in [1, 100].
    """

    blur_probability: float = 1.0
    blur_sigma: tuple = (0.2, 3.0)
    anisotropic_probability: float = 0.5
    downsampling: tuple = DOWNSAMPLING
    noise_probability: float = 1.0
    noise_sigma: tuple = (1.0, 30.0)
    gray_noise_probability: float = 0.4
    jpeg_probability: float = 1.0
    jpeg_quality: tuple = (30, 95)

    def __post_init__(self):
        for name in ("blur_probability", "anisotropic_probability", "noise_probability",
                     "gray_noise_probability", "jpeg_probability"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
                raise ValueError(f"Expected `{name}` in [0, 1]. Received: {name}={value!r}")
        _check_range("blur_sigma", self.blur_sigma, lowest=1e-3)
        _check_range("noise_sigma", self.noise_sigma, lowest=0.0)
        _check_range("jpeg_quality", self.jpeg_quality, lowest=1, highest=100, integer=True)
        unknown = [method for method in self.downsampling if method not in DOWNSAMPLING]
        if not self.downsampling or unknown or len(set(self.downsampling)) != len(self.downsampling):
            raise ValueError(
                f"Expected `downsampling` to be distinct methods among {DOWNSAMPLING}. "
                f"Received: downsampling={self.downsampling!r}"
            )


def _check_range(name, value, lowest, highest=math.inf, integer=False):
    kind = int if integer else (int, float)
    ok = (
        isinstance(value, (tuple, list)) and len(value) == 2
        and all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
        and lowest <= value[0] <= value[1] <= highest
    )
    if not ok:
        bounds = f"[{lowest}, {highest}]" if highest != math.inf else f">= {lowest}"
        raise ValueError(
            f"Expected `{name}` to be [low, high] with {bounds} and low <= high. Received: {name}={value!r}"
        )


def _uniform(key, low, high):
    return tf.random.stateless_uniform((), key, minval=low, maxval=high, dtype=tf.float32) if high > low \
        else tf.constant(float(low), tf.float32)


def _happens(key, probability):
    return tf.random.stateless_uniform((), key) < probability


def gaussian_kernel(sigma_x, sigma_y, angle, size=KERNEL_SIZE):
    """A `size x size` Gaussian kernel that sums to 1.

    Args:
        sigma_x: Standard deviation along the kernel's first principal axis.
        sigma_y: Standard deviation along the second.
        angle: Rotation of the first axis from the x axis, in radians.
        size: Odd side of the kernel.

    Returns:
        float32 `(size, size)` tensor.
    """
    radius = size // 2
    grid = tf.range(-radius, radius + 1, dtype=tf.float32)
    y, x = tf.meshgrid(grid, grid, indexing="ij")
    cos, sin = tf.cos(angle), tf.sin(angle)
    along = cos * x + sin * y
    across = -sin * x + cos * y
    kernel = tf.exp(-0.5 * ((along / sigma_x) ** 2 + (across / sigma_y) ** 2))
    return kernel / tf.reduce_sum(kernel)


def random_kernel(keys, chain):
    """The chain's blur kernel for one patch (a delta when the patch is not blurred)."""
    low, high = chain.blur_sigma
    sigma_x = _uniform(keys[0], low, high)
    anisotropic = _happens(keys[1], chain.anisotropic_probability)
    sigma_y = tf.where(anisotropic, _uniform(keys[2], low, high), sigma_x)
    angle = tf.where(anisotropic, _uniform(keys[3], -math.pi, math.pi), 0.0)
    kernel = gaussian_kernel(sigma_x, sigma_y, angle)
    delta = tf.scatter_nd([[KERNEL_SIZE // 2, KERNEL_SIZE // 2]], [1.0], (KERNEL_SIZE, KERNEL_SIZE))
    return tf.where(_happens(keys[4], chain.blur_probability), kernel, delta)


def blur(image, kernel):
    """Convolves a `(h, w, c)` float image with `kernel`, reflecting at the borders."""
    radius = kernel.shape[0] // 2
    channels = image.shape[-1]
    padded = tf.pad(image[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    filters = tf.tile(kernel[:, :, None, None], [1, 1, channels, 1])
    return tf.nn.depthwise_conv2d(padded, filters, [1, 1, 1, 1], "VALID")[0]


def downsample(image, scale, choice, methods):
    """Shrinks a `(h, w, c)` image by the integer `scale` with `methods[choice]`."""
    size = tf.shape(image)[:2] // scale

    def resize(method):
        antialias = method != "area"
        return lambda: tf.image.resize(image, size, method=method, antialias=antialias)

    return tf.switch_case(choice, [resize(method) for method in methods])


def add_noise(image, keys, chain):
    """Adds the chain's Gaussian noise (gray or per channel) to a `(h, w, c)` image."""
    sigma = _uniform(keys[0], *map(float, chain.noise_sigma)) / 255.0
    shape = tf.shape(image)
    colour = tf.random.stateless_normal(shape, keys[1])
    gray = tf.random.stateless_normal(tf.concat([shape[:2], [1]], 0), keys[1])
    noise = tf.where(_happens(keys[2], chain.gray_noise_probability), tf.broadcast_to(gray, shape), colour)
    noisy = image + sigma * noise
    return tf.where(_happens(keys[3], chain.noise_probability), noisy, image)


def compress(image, keys, chain):
    """JPEG-compresses a `(h, w, c)` image in [0, 1] at a random quality."""
    low, high = chain.jpeg_quality
    quality = tf.random.stateless_uniform((), keys[0], minval=low, maxval=high + 1, dtype=tf.int32)
    clipped = tf.clip_by_value(image, 0.0, 1.0)
    compressed = tf.image.adjust_jpeg_quality(clipped, quality)
    return tf.where(_happens(keys[1], chain.jpeg_probability), compressed, clipped)


def degrade(image, keys, chain, scale=1):
    """Applies a random chain to one clean patch.

    Args:
        image: float32 `(h, w, c)` clean patch in [0, 1], `h` and `w`
            multiples of `scale`; `c` is 1 or 3.
        keys: `(KEY_COUNT, 2)` int tensor of stateless random keys.
        chain: a `Chain`.
        scale: downsampling factor (1 for denoising and restoration).

    Returns:
        float32 `(h / scale, w / scale, c)` degraded patch, quantised to
        8-bit levels in [0, 1].
    """
    degraded = blur(image, random_kernel(keys[0:5], chain))
    if scale > 1:
        choice = tf.random.stateless_uniform((), keys[5], maxval=len(chain.downsampling), dtype=tf.int32)
        degraded = downsample(degraded, scale, choice, chain.downsampling)
    degraded = add_noise(degraded, keys[6:10], chain)
    degraded = compress(degraded, keys[10:12], chain)
    return tf.round(tf.clip_by_value(degraded, 0.0, 1.0) * 255.0) / 255.0
