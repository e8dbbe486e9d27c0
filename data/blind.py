"""Random degradation chains for blind super-resolution, in TensorFlow, per patch or per batch.

Two chains share one `Chain` of settings:

- **Order 1** (the default), the classical model of the blind-SR
  literature: blur, downsampling by the task's scale (bicubic, bilinear or
  area, antialiased), noise (gray or per channel), JPEG, quantisation to 8
  bits. Its defaults are the first degradation of Real-ESRGAN's training
  options: Gaussian blur sigma in [0.2, 3] on a 21x21 kernel (anisotropic
  with probability 0.5), Gaussian noise sigma in [1, 30] on 0-255, gray with
  probability 0.4, JPEG quality in [30, 95].
- **Order 2**, the full high-order model of Real-ESRGAN (Wang et al.,
  "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure
  Synthetic Data", ICCVW 2021, Section 3 and Fig. 2): two rounds of
  [blur, random resize, Gaussian or Poisson noise, JPEG], then a resize to
  the target size grouped with the final sinc filter, placed before or
  after the last JPEG with equal chance, then quantisation.

Where each Real-ESRGAN default comes from (xinntao/Real-ESRGAN,
`options/train_realesrgan_x4plus.yml`, its `realesrgan/data/
realesrgan_dataset.py` for the kernels and `realesrgan/models/
realesrgan_model.py` for the order of the stages; the kernel and noise
formulas are BasicSR's `basicsr/data/degradations.py`):

- kernels: `kernel_list`/`kernel_prob` -> `kernel_probabilities`
  (0.45, 0.25, 0.12, 0.03, 0.12, 0.03) over `KERNELS`; `blur_sigma`
  [0.2, 3] and `blur_sigma2` [0.2, 1.5]; `betag_range` [0.5, 4] ->
  `generalized_beta`; `betap_range` [1, 2] -> `plateau_beta` (beta drawn
  below or above 1 with equal chance, as BasicSR does); kernel sizes
  7, 9, ..., 21 (`kernel_range` of the dataset), zero-padded to 21;
  rotation uniform in [-pi, pi]; `sinc_prob`/`sinc_prob2` 0.1 with cut-off
  uniform in [pi/3, pi] for sizes below 13 and [pi/5, pi] from 13;
- resize: `resize_prob` (up, down, keep) (0.2, 0.7, 0.1) with
  `resize_range` [0.15, 1.5]; `resize_prob2` (0.3, 0.4, 0.3) with
  `resize_range2` [0.3, 1.2], the second relative to the target size;
  methods area, bilinear, bicubic with equal chance (PyTorch's
  `F.interpolate`, not antialiased: so are these resizes);
- noise: `gaussian_noise_prob` 0.5 (else Poisson), `noise_range` [1, 30],
  `poisson_scale_range` [0.05, 3], `gray_noise_prob` 0.4; second round
  `gaussian_noise_prob2` 0.5, `noise_range2` [1, 25],
  `poisson_scale_range2` [0.05, 2.5], `gray_noise_prob2` 0.4; the image is
  clipped to [0, 1] after each noise;
- JPEG: `jpeg_range` and `jpeg_range2` [30, 95];
- `second_blur_prob` 0.8 (the second blur is skipped with probability
  0.2); `final_sinc_prob` 0.8 (cut-off in [pi/3, pi]); the two orders of
  [resize back + sinc] and JPEG with probability 0.5 each (hard-coded in
  the reference model, `sinc_before_jpeg_probability` here).

Differences from the reference, all deliberate: every draw is per example
(the reference draws the resize, the noise type, the second-blur skip and
the final order once per batch, and keeps a pool of 180 pairs to mix
them); JPEG is libjpeg at an integer quality (`tf.image.adjust_jpeg_quality`)
instead of the differentiable DiffJPEG at a real quality; TensorFlow's
bicubic is Keys' a = -0.5, PyTorch's a = -0.75; the ground truth is not
USM-sharpened (a training-target choice, not a degradation);
`second_order_probability` (1 in the reference) can skip the whole second
round.

Every draw comes from the example's stateless keys (`KEY_COUNT` of them),
so a patch's degradation depends on its keys only, whether it is degraded
alone (`degrade`) or within a batch (`degrade_batch`): both run the same
per-example draws and the same batched arithmetic, a batch of one being
the per-patch case. The blur is a reflect-padded correlation computed by
FFT (`tf.signal.rfft2d`), which agrees with `tf.nn.depthwise_conv2d` to
about 1e-6 and costs the same for every kernel; the second-order chain
keeps each example at a fixed canvas size, its resizes being per-example
resampling matrices (TensorFlow's own resize of an identity), so a batch
with different intermediate sizes runs as batched matrix products.
"""

import dataclasses
import math

import scipy.fft
import tensorflow as tf

from data import realesrgan
from data.realesrgan import DEFAULTS
from data.realesrgan import KERNELS
from data.realesrgan import SECOND_ORDER_ONLY

KERNEL_SIZE = 21
# Keys each chain consumes from the caller's key list, per example.
KEY_COUNT = 12

# Sinc cut-offs (radians) of the reference dataset: small kernels and the final filter, large kernels.
SINC_CUTOFF = (math.pi / 3, math.pi)
SINC_CUTOFF_LARGE = (math.pi / 5, math.pi)
SINC_LARGE_FROM = 13
# Largest resize factor allowed, which bounds the second-order chain's canvases.
MAX_RESIZE = 4.0


@dataclasses.dataclass(frozen=True)
class Chain:
    """Probabilities and ranges of one degradation chain.

    A probability of 0 removes that stage; equal ends of a range fix it. The
    first nine settings are the first-order chain's, and the first round's
    in the second-order chain; the settings whose default is `None` take
    the first-order value at order 1 and Real-ESRGAN's at order 2; the
    `SECOND_ORDER_ONLY` settings must keep their defaults at order 1.

    Attributes:
        blur_probability: Chance that a patch is blurred (first round).
        blur_sigma: `(low, high)` standard deviation of the blur kernel,
            in pixels of the clean patch.
        anisotropic_probability: Chance that a Gaussian kernel has two
            independent sigmas and a random rotation; order 1 without
            `kernel_probabilities` only.
        downsampling: Resizing methods drawn with equal chance (order 1:
            antialiased; order 2: every resize, not antialiased).
        noise_probability: Chance that noise is added (each round).
        noise_sigma: `(low, high)` Gaussian noise standard deviation on the
            0-255 scale (first round).
        gray_noise_probability: Chance that the noise is the same in every
            channel (first round).
        jpeg_probability: Chance of JPEG compression (each round).
        jpeg_quality: `(low, high)` JPEG quality, integers in [1, 100]
            (first round).
        order: 1 for the classical chain, 2 for Real-ESRGAN's.
        kernel_probabilities: Chances of the six `KERNELS`; `None`: order 1
            draws isotropic or anisotropic Gaussians by
            `anisotropic_probability`, order 2 uses Real-ESRGAN's mix.
        kernel_size: `(low, high)` odd kernel sizes drawn uniformly, the
            kernel being truncated to that size; `None`: 21 at order 1,
            7 to 21 at order 2.
        generalized_beta: `(low, high)` shape of generalised-Gaussian
            kernels, `low <= 1 <= high`.
        plateau_beta: `(low, high)` shape of plateau kernels, `low <= 1 <= high`.
        sinc_probability: Chance that the blur kernel is a sinc instead;
            `None`: 0 at order 1, 0.1 at order 2.
        gaussian_noise_probability: Chance that the noise is Gaussian
            rather than Poisson; `None`: 1 at order 1, 0.5 at order 2.
        poisson_scale: `(low, high)` scale of the Poisson noise.
        resize_probabilities: Chances of resizing up, down or keeping the
            size in the first round (order 2).
        resize_range: `(low, high)` first-round resize factor, `low <= 1 <= high`.
        second_order_probability: Chance that the second round happens.
        second_blur_probability: Chance of the second-round blur.
        second_blur_sigma: `(low, high)` second-round blur sigma.
        second_kernel_probabilities: Second-round chances of the `KERNELS`.
        second_sinc_probability: Second-round chance of a sinc kernel.
        second_resize_probabilities: Second-round (up, down, keep) chances.
        second_resize_range: `(low, high)` second-round factor, relative to
            the target size.
        second_gaussian_noise_probability: Second-round chance of Gaussian
            (rather than Poisson) noise.
        second_noise_sigma: `(low, high)` second-round Gaussian sigma on 0-255.
        second_poisson_scale: `(low, high)` second-round Poisson scale.
        second_gray_noise_probability: Second-round chance of gray noise.
        second_jpeg_quality: `(low, high)` second-round JPEG quality.
        final_sinc_probability: Chance of the final sinc filter.
        sinc_before_jpeg_probability: Chance that [resize to the target +
            final sinc] comes before the last JPEG rather than after it.
    """

    blur_probability: float = DEFAULTS["blur_probability"]
    blur_sigma: tuple = DEFAULTS["blur_sigma"]
    anisotropic_probability: float = DEFAULTS["anisotropic_probability"]
    downsampling: tuple = DEFAULTS["downsampling"]
    noise_probability: float = DEFAULTS["noise_probability"]
    noise_sigma: tuple = DEFAULTS["noise_sigma"]
    gray_noise_probability: float = DEFAULTS["gray_noise_probability"]
    jpeg_probability: float = DEFAULTS["jpeg_probability"]
    jpeg_quality: tuple = DEFAULTS["jpeg_quality"]
    order: int = DEFAULTS["order"]
    kernel_probabilities: tuple | None = DEFAULTS["kernel_probabilities"]
    kernel_size: tuple | None = DEFAULTS["kernel_size"]
    generalized_beta: tuple = DEFAULTS["generalized_beta"]
    plateau_beta: tuple = DEFAULTS["plateau_beta"]
    sinc_probability: float | None = DEFAULTS["sinc_probability"]
    gaussian_noise_probability: float | None = DEFAULTS["gaussian_noise_probability"]
    poisson_scale: tuple = DEFAULTS["poisson_scale"]
    resize_probabilities: tuple = DEFAULTS["resize_probabilities"]
    resize_range: tuple = DEFAULTS["resize_range"]
    second_order_probability: float = DEFAULTS["second_order_probability"]
    second_blur_probability: float = DEFAULTS["second_blur_probability"]
    second_blur_sigma: tuple = DEFAULTS["second_blur_sigma"]
    second_kernel_probabilities: tuple = DEFAULTS["second_kernel_probabilities"]
    second_sinc_probability: float = DEFAULTS["second_sinc_probability"]
    second_resize_probabilities: tuple = DEFAULTS["second_resize_probabilities"]
    second_resize_range: tuple = DEFAULTS["second_resize_range"]
    second_gaussian_noise_probability: float = DEFAULTS["second_gaussian_noise_probability"]
    second_noise_sigma: tuple = DEFAULTS["second_noise_sigma"]
    second_poisson_scale: tuple = DEFAULTS["second_poisson_scale"]
    second_gray_noise_probability: float = DEFAULTS["second_gray_noise_probability"]
    second_jpeg_quality: tuple = DEFAULTS["second_jpeg_quality"]
    final_sinc_probability: float = DEFAULTS["final_sinc_probability"]
    sinc_before_jpeg_probability: float = DEFAULTS["sinc_before_jpeg_probability"]

    def __post_init__(self):
        for field in dataclasses.fields(self):  # YAML lists become tuples, so chains compare equal.
            if isinstance(getattr(self, field.name), list):
                object.__setattr__(self, field.name, tuple(getattr(self, field.name)))
        if isinstance(self.order, bool) or not isinstance(self.order, int) or self.order not in (1, 2):
            raise ValueError(f"Expected `order` to be 1 or 2. Received: order={self.order!r}")
        for name in ("blur_probability", "anisotropic_probability", "noise_probability",
                     "gray_noise_probability", "jpeg_probability", "second_order_probability",
                     "second_blur_probability", "second_sinc_probability",
                     "second_gaussian_noise_probability", "second_gray_noise_probability",
                     "final_sinc_probability", "sinc_before_jpeg_probability"):
            _check_probability(name, getattr(self, name))
        for name in ("sinc_probability", "gaussian_noise_probability"):
            if getattr(self, name) is not None:
                _check_probability(name, getattr(self, name))
        for name in ("blur_sigma", "second_blur_sigma"):
            _check_range(name, getattr(self, name), lowest=1e-3)
        for name in ("noise_sigma", "second_noise_sigma", "poisson_scale", "second_poisson_scale"):
            _check_range(name, getattr(self, name), lowest=0.0)
        for name in ("jpeg_quality", "second_jpeg_quality"):
            _check_range(name, getattr(self, name), lowest=1, highest=100, integer=True)
        for name in ("generalized_beta", "plateau_beta"):
            _check_range(name, getattr(self, name), lowest=1e-3, highest=10.0, around=1.0)
        for name in ("resize_range", "second_resize_range"):
            _check_range(name, getattr(self, name), lowest=1e-2, highest=MAX_RESIZE, around=1.0)
        if self.kernel_size is not None:
            _check_range("kernel_size", self.kernel_size, lowest=1, highest=KERNEL_SIZE, integer=True)
            if any(size % 2 == 0 for size in self.kernel_size):
                raise ValueError("Expected `kernel_size` to be odd sizes. "
                                 f"Received: kernel_size={self.kernel_size!r}")
        if self.kernel_probabilities is not None:
            _check_distribution("kernel_probabilities", self.kernel_probabilities, len(KERNELS))
        _check_distribution("second_kernel_probabilities", self.second_kernel_probabilities, len(KERNELS))
        _check_distribution("resize_probabilities", self.resize_probabilities, 3)
        _check_distribution("second_resize_probabilities", self.second_resize_probabilities, 3)
        unknown = [method for method in self.downsampling if method not in DEFAULTS["downsampling"]]
        if not self.downsampling or unknown or len(set(self.downsampling)) != len(self.downsampling):
            raise ValueError(
                f"Expected `downsampling` to be distinct methods among {DEFAULTS['downsampling']}. "
                f"Received: downsampling={self.downsampling!r}"
            )
        if self.order == 1:
            for name in SECOND_ORDER_ONLY:
                default = DEFAULTS[name]
                if getattr(self, name) != default:
                    raise ValueError(f"Expected `{name}` to keep its default {default!r} at order 1 "
                                     f"(it applies to order 2). Received: {name}={getattr(self, name)!r}")
        uses_mix = self.order == 2 or self.kernel_probabilities is not None
        if uses_mix and self.anisotropic_probability != DEFAULTS["anisotropic_probability"]:
            raise ValueError(
                "Expected `anisotropic_probability` to keep its default 0.5 when kernels come from "
                "`kernel_probabilities` (order 2, or kernel_probabilities set): give the anisotropic "
                "kinds their chances there. "
                f"Received: anisotropic_probability={self.anisotropic_probability!r}"
            )

    def first_round(self):
        """The first round's kernel mix, sizes, sinc and Gaussian-noise chances, defaults resolved."""
        def resolved(value, second_order, first_order):
            return value if value is not None else second_order if self.order == 2 else first_order

        return (resolved(self.kernel_probabilities, realesrgan.KERNEL_PROBABILITIES, None),
                tuple(resolved(self.kernel_size, realesrgan.KERNEL_SIZES, (KERNEL_SIZE, KERNEL_SIZE))),
                resolved(self.sinc_probability, realesrgan.SINC_PROBABILITY, 0.0),
                resolved(self.gaussian_noise_probability, realesrgan.GAUSSIAN_NOISE_PROBABILITY, 1.0))


def _check_probability(name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        raise ValueError(f"Expected `{name}` in [0, 1]. Received: {name}={value!r}")


def _check_range(name, value, lowest, highest=math.inf, integer=False, around=None):
    kind = int if integer else (int, float)
    ok = (
        isinstance(value, (tuple, list)) and len(value) == 2
        and all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
        and lowest <= value[0] <= value[1] <= highest
        and (around is None or value[0] <= around <= value[1])
    )
    if not ok:
        bounds = f"[{lowest}, {highest}]" if highest != math.inf else f">= {lowest}"
        straddle = f", low <= {around} <= high" if around is not None else ""
        raise ValueError(f"Expected `{name}` to be [low, high] with {bounds} and low <= high{straddle}. "
                         f"Received: {name}={value!r}")


def _check_distribution(name, value, length):
    ok = (
        isinstance(value, (tuple, list)) and len(value) == length
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value)
        and abs(sum(value) - 1) <= 1e-6
    )
    if not ok:
        raise ValueError(f"Expected `{name}` to be {length} probabilities >= 0 summing to 1. "
                         f"Received: {name}={value!r}")


# ---------------------------------------------------------------- draws


def _uniform(key, low, high):
    return tf.random.stateless_uniform((), key, minval=low, maxval=high, dtype=tf.float32) if high > low \
        else tf.constant(float(low), tf.float32)


def _happens(key, probability):
    return tf.random.stateless_uniform((), key) < probability


def _lerp(u, bounds):
    """Maps a uniform draw in [0, 1) onto `[low, high)`."""
    low, high = map(float, bounds)
    return low + (high - low) * u if high > low else tf.constant(low, tf.float32)


def _categorical(u, probabilities):
    """The index drawn by `u` from `probabilities` (never one of probability 0)."""
    support = [index for index, p in enumerate(probabilities) if p > 0]
    total = sum(probabilities[index] for index in support)
    edges = [sum(probabilities[i] for i in support[: k + 1]) / total for k in range(len(support) - 1)]
    position = tf.reduce_sum(tf.cast(u >= tf.constant(edges, tf.float32), tf.int32)) if edges else 0
    return tf.gather(tf.constant(support, tf.int32), position)


def _quality(u, bounds):
    low, high = bounds
    return tf.minimum(low + tf.cast(tf.floor(u * (high - low + 1)), tf.int32), high)


def _odd_size(u, bounds):
    low, high = bounds
    return tf.minimum(low + 2 * tf.cast(tf.floor(u * ((high - low) // 2 + 1)), tf.int32), high)


# ---------------------------------------------------------------- kernels


def _grid(size=KERNEL_SIZE):
    radius = size // 2
    grid = tf.range(-radius, radius + 1, dtype=tf.float32)
    return tf.meshgrid(grid, grid, indexing="ij")


def _quadratic_form(y, x, sigma_x, sigma_y, angle):
    """`(u / sigma_x)^2 + (v / sigma_y)^2` of the offsets `(u, v)`, the grid rotated by `angle`."""
    cos, sin = tf.cos(angle), tf.sin(angle)
    along = cos * x + sin * y
    across = -sin * x + cos * y
    return (along / sigma_x) ** 2 + (across / sigma_y) ** 2


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
    kernel = tf.exp(-0.5 * _quadratic_form(*_grid(size), sigma_x, sigma_y, angle))
    return kernel / tf.reduce_sum(kernel)


def mixed_kernel(kind, sigma_x, sigma_y, angle, beta=1.0, size=KERNEL_SIZE):
    """One of Real-ESRGAN's kernels on the 21x21 grid, truncated to `size x size`, summing to 1.

    With the quadratic form `q = (u / sigma_x)^2 + (v / sigma_y)^2` of the
    offsets `(u, v)` rotated by `angle`: Gaussian `exp(-q / 2)`, generalised
    Gaussian `exp(-q^beta / 2)`, plateau `1 / (1 + q^beta)` (BasicSR's
    `bivariate_Gaussian`, `bivariate_generalized_Gaussian`,
    `bivariate_plateau`). The isotropic kinds ignore `sigma_y` and `angle`.

    Args:
        kind: index into `KERNELS` (an int or an int32 scalar tensor).
        sigma_x, sigma_y, angle: the covariance, as in `gaussian_kernel`.
        beta: shape of the generalised-Gaussian and plateau kernels.
        size: odd support; the kernel is zero outside the central `size x size`.

    Returns:
        float32 `(KERNEL_SIZE, KERNEL_SIZE)` tensor.
    """
    kind = tf.convert_to_tensor(kind, tf.int32)
    return _kernel(kind, sigma_x, sigma_y, angle, beta, size, 0.0, False, families=(0, 1, 2))


def sinc_kernel(cutoff, size=KERNEL_SIZE):
    """The circular low-pass (2-D sinc) kernel of Real-ESRGAN, `size x size` inside the 21x21 grid.

    `cutoff * J1(cutoff * r) / (2 pi r)`, `cutoff^2 / (4 pi)` at the centre,
    normalised to sum 1 (BasicSR's `circular_lowpass_kernel`).
    """
    return _kernel(tf.constant(0), 1.0, 1.0, 0.0, 1.0, size, cutoff, True, families=(0,))


def _kernel(kind, sigma_x, sigma_y, angle, beta, size, cutoff, sinc, families, truncate=True, sincs=True):
    """The kernel of `kind` (or the sinc of `cutoff` where `sinc`), zero outside `size`, summing to 1.

    `families` lists the kernel families (0 Gaussian, 1 generalised, 2
    plateau) that can occur, so the others are not computed.
    """
    y, x = _grid()
    isotropic = kind % 2 == 0
    sigma_y = tf.where(isotropic, sigma_x, sigma_y)
    q = _quadratic_form(y, x, sigma_x, sigma_y, tf.where(isotropic, 0.0, angle))
    family = kind // 2
    kernel = tf.exp(-0.5 * q)
    if 1 in families:
        kernel = tf.where(family == 1, tf.exp(-0.5 * q ** beta), kernel)
    if 2 in families:
        kernel = tf.where(family == 2, 1.0 / (q ** beta + 1.0), kernel)
    if sincs:
        radius = tf.sqrt(x * x + y * y)
        safe = tf.where(radius > 0, radius, 1.0)
        bessel = tf.math.special.bessel_j1(cutoff * safe)
        lowpass = tf.where(radius > 0, cutoff * bessel / (2 * math.pi * safe), cutoff ** 2 / (4 * math.pi))
        kernel = tf.where(sinc, lowpass, kernel)
    if truncate:
        half = tf.cast(tf.convert_to_tensor(size) // 2, tf.float32)
        kernel = tf.where((tf.abs(x) <= half) & (tf.abs(y) <= half), kernel, 0.0)
    return kernel / tf.reduce_sum(kernel)


def _delta():
    return tf.scatter_nd([[KERNEL_SIZE // 2, KERNEL_SIZE // 2]], [1.0], (KERNEL_SIZE, KERNEL_SIZE))


def _first_order_kernel(keys, chain):
    """The first-order kernel and whether it is applied, from keys[0:5].

    The Gaussian draws are those of the original chain; the kernel mix,
    sizes and sinc, when configured, draw from keys[4] folded with 1.
    """
    probabilities, sizes, sinc_probability, _ = chain.first_round()
    low, high = chain.blur_sigma
    sigma_x = _uniform(keys[0], low, high)
    plain = probabilities is None and sizes == (KERNEL_SIZE, KERNEL_SIZE) and sinc_probability == 0
    extra = None if plain else \
        tf.random.stateless_uniform((6,), tf.random.experimental.stateless_fold_in(keys[4], 1))
    if probabilities is None:
        kind = tf.where(_happens(keys[1], chain.anisotropic_probability), 1, 0)
        families = (0,)
    else:
        kind = _categorical(extra[0], probabilities)
        families = tuple(sorted({i // 2 for i, p in enumerate(probabilities) if p > 0}))
    anisotropic = kind % 2 == 1
    sigma_y = tf.where(anisotropic, _uniform(keys[2], low, high), sigma_x)
    angle = tf.where(anisotropic, _uniform(keys[3], -math.pi, math.pi), 0.0)
    if plain:
        kernel = _kernel(kind, sigma_x, sigma_y, angle, 1.0, KERNEL_SIZE, 0.0, False, families,
                         truncate=False, sincs=False)
    else:
        size = _odd_size(extra[1], sizes)
        kernel = _kernel(kind, sigma_x, sigma_y, angle, _beta(extra[2], extra[3], kind, chain), size,
                         _cutoff(extra[5], size), extra[4] < sinc_probability, families,
                         sincs=sinc_probability > 0)
    return kernel, _happens(keys[4], chain.blur_probability)


def _beta(u_side, u_value, kind, chain):
    """BasicSR's shape draw: below 1 or above 1 with equal chance, from the kind's range."""
    generalized = kind // 2 == 1
    low = tf.where(generalized, float(chain.generalized_beta[0]), float(chain.plateau_beta[0]))
    high = tf.where(generalized, float(chain.generalized_beta[1]), float(chain.plateau_beta[1]))
    return tf.where(u_side < 0.5, low + (1.0 - low) * u_value, 1.0 + (high - 1.0) * u_value)


def _cutoff(u, size):
    small, large = SINC_CUTOFF, SINC_CUTOFF_LARGE
    return tf.where(size < SINC_LARGE_FROM, _lerp(u, small), _lerp(u, large))


def random_kernel(keys, chain):
    """The first-order chain's blur kernel for one patch (a delta when the patch is not blurred).

    Args:
        keys: the example's keys 0 to 4 (at least five).
        chain: a `Chain`.
    """
    kernel, happens = _first_order_kernel(keys, chain)
    return tf.where(happens, kernel, _delta())


# ---------------------------------------------------------------- blur


def _fft_length(minimum):
    """The smallest even length >= `minimum` with no prime factor above 5 (fast FFT sizes)."""
    return 2 * scipy.fft.next_fast_len(-(-minimum // 2), real=True)


def _reflect(index, size):
    """Mirror index into `[0, size)` without repeating the edge (tf.pad's REFLECT, continued periodically)."""
    period = tf.maximum(2 * (size - 1), 1)
    folded = tf.math.floormod(index, period)
    return tf.where(size > 1, tf.minimum(folded, period - folded), 0)


def convolve(images, kernels, heights=None, widths=None):
    """Blurs a batch of images, each with its own kernel, reflecting at the borders, by FFT.

    The result is `tf.nn.depthwise_conv2d` (a correlation) of the
    reflect-padded image with its kernel, to about 1e-6; it is exact up to
    float rounding, since the canvas is padded by the kernel's radius before
    the circular convolution. Images may sit in the top-left `heights x
    widths` corner of their canvas: they are reflected at that corner's
    edges, and outside it the result is unspecified.

    Args:
        images: float32 `(n, H, W, c)`, `H`, `W`, `c` known statically.
        kernels: float32 `(n, k, k)`, `k` odd.
        heights, widths: int32 `(n,)` sizes of the images in their canvas
            (default: the whole canvas).

    Returns:
        float32 `(n, H, W, c)`.
    """
    height, width, channels = images.shape[1:]
    radius = kernels.shape[-1] // 2
    batch = tf.shape(images)[0]
    heights = tf.fill([batch], height) if heights is None else heights
    widths = tf.fill([batch], width) if widths is None else widths
    rows = _reflect(tf.range(height + 2 * radius)[None, :] - radius, heights[:, None])
    columns = _reflect(tf.range(width + 2 * radius)[None, :] - radius, widths[:, None])
    padded = tf.gather(images, rows, axis=1, batch_dims=1)
    padded = tf.gather(padded, columns, axis=2, batch_dims=1)
    length = [_fft_length(height + 2 * radius), _fft_length(width + 2 * radius)]
    spectrum = tf.signal.rfft2d(tf.transpose(padded, [0, 3, 1, 2]), fft_length=length)
    response = tf.math.conj(tf.signal.rfft2d(kernels, fft_length=length))
    blurred = tf.signal.irfft2d(spectrum * response[:, None], fft_length=length)[:, :, :height, :width]
    return tf.transpose(blurred, [0, 2, 3, 1])


def blur(image, kernel):
    """Convolves a `(h, w, c)` float image with `kernel`, reflecting at the borders.

    `tf.nn.depthwise_conv2d` on the reflect-padded image: exact, and what the
    evaluation grid (`data/grid.py`) blurs its test images with; the chains
    blur with `convolve`, which agrees with it to about 1e-6.
    """
    radius = kernel.shape[0] // 2
    channels = image.shape[-1]
    padded = tf.pad(image[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    filters = tf.tile(tf.convert_to_tensor(kernel, tf.float32)[:, :, None, None], [1, 1, channels, 1])
    return tf.nn.depthwise_conv2d(padded, filters, [1, 1, 1, 1], "VALID")[0]


# ---------------------------------------------------------------- resize, noise, JPEG


def downsample(image, scale, choice, methods):
    """Shrinks a `(h, w, c)` image by the integer `scale` with `methods[choice]` (antialiased)."""
    size = tf.shape(image)[:2] // scale

    def resize(method):
        antialias = method != "area"
        return lambda: tf.image.resize(image, size, method=method, antialias=antialias)

    return tf.switch_case(choice, [resize(method) for method in methods])


def resize_matrix(source, target, method, methods, rows, columns):
    """The matrix resizing a signal of `source` samples to `target`, in a zero `rows x columns` canvas.

    Its top-left `target x source` block is TensorFlow's own resize
    (`tf.image.resize`, not antialiased, half-pixel centres) of the identity
    with `methods[method]`, so `R @ x` is that resize along one axis (bilinear,
    bicubic and area are separable); the columns past `source` are zero, so
    whatever lies past an image in its canvas is ignored.
    """
    identity = tf.eye(source)[:, :, None]
    size = tf.stack([target, source])

    def resize(name):
        return lambda: tf.image.resize(identity, size, method=name)[:, :, 0]

    branches = [resize(name) for name in methods]
    matrix = tf.switch_case(method, branches) if len(branches) > 1 else branches[0]()
    return tf.pad(matrix, [[0, rows - target], [0, columns - source]])


def _resample(images, rows, columns):
    """Applies per-example row and column resampling matrices to `(n, H, W, c)` images."""
    resized = tf.einsum("nih,nhwc->niwc", rows, images)
    return tf.einsum("njw,niwc->nijc", columns, resized)


def _gaussian_noise(shape, key, gray, channels):
    """Standard normal noise of `shape` (`channels` channels), the same in every channel when `gray`."""
    if channels == 1:
        return tf.random.stateless_normal(shape, key)
    gray_shape = tf.concat([shape[:2], [1]], 0)
    return tf.cond(gray, lambda: tf.broadcast_to(tf.random.stateless_normal(gray_shape, key), shape),
                   lambda: tf.random.stateless_normal(shape, key))


def poisson_noise(image, key, gray):
    """Real-ESRGAN's Poisson noise for a `(h, w, c)` image in [0, 1], before its scale.

    The image (its luma, `tf.image.rgb_to_grayscale`, when `gray`) is rounded
    to 8 bits; with `v`, the number of its distinct levels rounded up to a
    power of 2, the noise is `Poisson(v * image) / v - image` (BasicSR's
    `generate_poisson_noise_pt`), so its variance is `image / v`.
    """
    def of(values):
        levels = tf.clip_by_value(tf.round(values * 255.0), 0.0, 255.0)
        rounded = levels / 255.0
        counts = tf.math.bincount(tf.cast(tf.reshape(levels, [-1]), tf.int32), minlength=256, maxlength=256)
        distinct = tf.cast(tf.math.count_nonzero(counts), tf.int32)
        powers = 2 ** tf.range(9)
        vals = tf.cast(tf.reduce_min(tf.where(powers >= distinct, powers, 256)), tf.float32)
        sample = tf.random.stateless_poisson(tf.shape(rounded), key, lam=rounded * vals, dtype=tf.float32)
        return sample / vals - rounded

    if image.shape[-1] != 3:
        return of(image)
    return tf.cond(gray, lambda: tf.broadcast_to(of(tf.image.rgb_to_grayscale(image)), tf.shape(image)),
                   lambda: of(image))


def _jpeg(image, quality):
    return tf.reshape(tf.image.adjust_jpeg_quality(image, quality), tf.shape(image))


def _first_order_noise_and_jpeg(image, keys, chain):
    """Order 1 after the downsampling, for one `(h, w, c)` example: noise, clipping, JPEG; keys[6:12]."""
    _, _, _, gaussian_probability = chain.first_round()
    shape = tf.shape(image)

    def gaussian():
        sigma = _uniform(keys[6], *map(float, chain.noise_sigma)) / 255.0
        return sigma * _gaussian_noise(shape, keys[7], _happens(keys[8], chain.gray_noise_probability),
                                       image.shape[-1])

    def poisson():
        scale = _uniform(keys[6], *map(float, chain.poisson_scale))
        return scale * poisson_noise(image, keys[7], _happens(keys[8], chain.gray_noise_probability))

    def noise():
        if gaussian_probability >= 1:
            return gaussian()
        extra = tf.random.stateless_uniform((), tf.random.experimental.stateless_fold_in(keys[6], 1))
        return tf.cond(extra < gaussian_probability, gaussian, poisson)

    noisy = tf.cond(_happens(keys[9], chain.noise_probability), lambda: image + noise(), lambda: image)
    low, high = chain.jpeg_quality
    quality = tf.random.stateless_uniform((), keys[10], minval=low, maxval=high + 1, dtype=tf.int32)
    clipped = tf.clip_by_value(noisy, 0.0, 1.0)
    return tf.cond(_happens(keys[11], chain.jpeg_probability), lambda: _jpeg(clipped, quality),
                   lambda: clipped)


def add_noise(image, keys, chain):
    """Adds the first-order chain's Gaussian noise (gray or per channel) to a `(h, w, c)` image.

    Part of `degrade_reference`; keys[0:4] are the chain's keys 6 to 9.
    """
    sigma = _uniform(keys[0], *map(float, chain.noise_sigma)) / 255.0
    shape = tf.shape(image)
    colour = tf.random.stateless_normal(shape, keys[1])
    gray = tf.random.stateless_normal(tf.concat([shape[:2], [1]], 0), keys[1])
    noise = tf.where(_happens(keys[2], chain.gray_noise_probability), tf.broadcast_to(gray, shape), colour)
    noisy = image + sigma * noise
    return tf.where(_happens(keys[3], chain.noise_probability), noisy, image)


def compress(image, keys, chain):
    """JPEG-compresses a `(h, w, c)` image in [0, 1] at a random quality; keys[0:2] (the chain's 10, 11)."""
    low, high = chain.jpeg_quality
    quality = tf.random.stateless_uniform((), keys[0], minval=low, maxval=high + 1, dtype=tf.int32)
    clipped = tf.clip_by_value(image, 0.0, 1.0)
    compressed = tf.image.adjust_jpeg_quality(clipped, quality)
    return tf.where(_happens(keys[1], chain.jpeg_probability), compressed, clipped)


def _quantise(images):
    """Rounds to the 8-bit levels k / 255 (looked up, so graph mode's product by 1/255 cannot shift them)."""
    levels = tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0), tf.int32)
    return tf.gather(tf.range(256, dtype=tf.float32) / 255.0, levels)


# ---------------------------------------------------------------- chains


def degrade(image, keys, chain, scale=1):
    """Applies a random chain to one clean patch.

    The same as `degrade_batch` on a batch of one.

    Args:
        image: float32 `(h, w, c)` clean patch in [0, 1], `h` and `w`
            multiples of `scale` and known statically; `c` is 1 or 3.
        keys: `(KEY_COUNT, 2)` int tensor of stateless random keys.
        chain: a `Chain`.
        scale: downsampling factor (1 for denoising and restoration).

    Returns:
        float32 `(h / scale, w / scale, c)` degraded patch, quantised to
        8-bit levels in [0, 1].
    """
    return degrade_batch(tf.convert_to_tensor(image, tf.float32)[None], tf.convert_to_tensor(keys)[None],
                         chain, scale)[0]


def degrade_reference(image, keys, chain, scale=1):
    """The first-order chain as it was first written: one patch, blurred by `tf.nn.depthwise_conv2d`.

    Kept as the reference that `degrade` must reproduce (to float rounding,
    the blur being an FFT there) and as the old path of
    `benchmarks/blind_chain.py`; it knows only the first-order settings of
    the Gaussian kernel and noise.
    """
    probabilities, sizes, sinc, gaussian = chain.first_round()
    plain = probabilities is None and sizes == (KERNEL_SIZE, KERNEL_SIZE) and not sinc and gaussian >= 1
    if chain.order != 1 or not plain:
        raise ValueError(f"Expected a first-order chain of Gaussian kernels and noise. Received: {chain}")
    degraded = blur(image, random_kernel(keys[0:5], chain))
    if scale > 1:
        choice = tf.random.stateless_uniform((), keys[5], maxval=len(chain.downsampling), dtype=tf.int32)
        degraded = downsample(degraded, scale, choice, chain.downsampling)
    degraded = add_noise(degraded, keys[6:10], chain)
    degraded = compress(degraded, keys[10:12], chain)
    return _quantise(degraded)


def degrade_batch(images, keys, chain, scale=1):
    """Applies a random chain to every clean patch of a batch, each with its own keys.

    Example `i` comes out exactly as `degrade(images[i], keys[i], chain,
    scale)` would make it. The per-example draws (kernels, resize
    matrices, noise, JPEG) run in `tf.map_fn`; the blurs (FFT), resizes and
    quantisation run on the whole batch, so the function suits a `tf.data`
    map after `batch` or a `tf.function` beside the training step on an
    accelerator (JPEG is libjpeg, a CPU op, so not inside XLA).

    Args:
        images: float32 `(n, h, w, c)` clean patches in [0, 1]; `h`, `w`
            (multiples of `scale`) and `c` (1 or 3) known statically.
        keys: `(n, KEY_COUNT, 2)` int32 or int64 stateless keys, one row of
            keys per example.
        chain: a `Chain`.
        scale: downsampling factor.

    Returns:
        float32 `(n, h / scale, w / scale, c)` degraded patches, quantised
        to 8-bit levels in [0, 1].
    """
    images = tf.convert_to_tensor(images, tf.float32)
    keys = tf.convert_to_tensor(keys)
    if images.shape.rank != 4 or None in images.shape[1:]:
        raise ValueError(f"Expected `images` of shape (n, height, width, channels), the last three known. "
                         f"Received: images.shape={images.shape}")
    height, width, _ = images.shape[1:]
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1 or height % scale or width % scale:
        raise ValueError(f"Expected `scale` to be a positive integer dividing {height}x{width}. "
                         f"Received: scale={scale!r}")
    return _degrade_graph(images, keys, chain, scale)


@tf.function(autograph=False)
def _degrade_graph(images, keys, chain, scale):
    """The chain as one graph, traced once per chain, scale and shape (inlined in a `tf.data` map)."""
    if chain.order == 1:
        return _first_order_batch(images, keys, chain, scale)
    return _second_order_batch(images, keys, chain, scale)


def _first_order_batch(images, keys, chain, scale):
    height, width, channels = images.shape[1:]
    methods = chain.downsampling

    def draws(example_keys):
        kernel, happens = _first_order_kernel(example_keys, chain)
        choice = tf.random.stateless_uniform((), example_keys[5], maxval=len(methods), dtype=tf.int32)
        return kernel, happens, choice

    kernels, blurred, choices = tf.map_fn(draws, keys, fn_output_signature=(
        tf.TensorSpec((KERNEL_SIZE, KERNEL_SIZE), tf.float32), tf.TensorSpec((), tf.bool),
        tf.TensorSpec((), tf.int32)))
    degraded = tf.where(blurred[:, None, None, None], convolve(images, kernels), images)
    if scale > 1:  # Each method resizes only its examples.
        size = (height // scale, width // scale)
        parts = tf.dynamic_partition(degraded, choices, len(methods))
        positions = tf.dynamic_partition(tf.range(tf.shape(images)[0]), choices, len(methods))
        resized = [tf.image.resize(part, size, method=method, antialias=method != "area")
                   for part, method in zip(parts, methods)]
        degraded = tf.dynamic_stitch(positions, resized)
    spec = tf.TensorSpec((height // scale, width // scale, channels), tf.float32)
    degraded = tf.map_fn(lambda args: _first_order_noise_and_jpeg(args[0], args[1], chain),
                         (degraded, keys), fn_output_signature=spec)
    return _quantise(degraded)


# Positions in the second-order chain's per-example uniform draws: a round's, at offset 0 or ROUND.
(_BLUR, _SINC, _KIND, _SIZE, _SIGMA_X, _SIGMA_Y, _ANGLE, _BETA_SIDE, _BETA, _CUTOFF, _DIRECTION,
 _FACTOR, _METHOD, _GAUSSIAN, _STRENGTH, _GRAY, _NOISE, _QUALITY, _JPEG) = range(19)
_ROUND = 20
_SECOND, _FINAL_SINC, _FINAL_SIZE, _FINAL_CUTOFF, _SINC_FIRST, _FINAL_METHOD = range(40, 46)
_DRAWS = 46


def _uniforms(keys):
    return tf.random.stateless_uniform((_DRAWS,), keys[0])


def round_settings(chain):
    """The two rounds' settings of the second-order chain (dicts), defaults resolved."""
    probabilities, sizes, sinc, gaussian = chain.first_round()
    first = dict(blur=chain.blur_probability, sigma=chain.blur_sigma, kernels=probabilities, sizes=sizes,
                 sinc=sinc, resize=chain.resize_probabilities, factor=chain.resize_range, gaussian=gaussian,
                 noise_sigma=chain.noise_sigma, poisson=chain.poisson_scale,
                 gray=chain.gray_noise_probability, quality=chain.jpeg_quality)
    second = dict(blur=chain.second_blur_probability, sigma=chain.second_blur_sigma,
                  kernels=chain.second_kernel_probabilities, sizes=sizes, sinc=chain.second_sinc_probability,
                  resize=chain.second_resize_probabilities, factor=chain.second_resize_range,
                  gaussian=chain.second_gaussian_noise_probability, noise_sigma=chain.second_noise_sigma,
                  poisson=chain.second_poisson_scale, gray=chain.second_gray_noise_probability,
                  quality=chain.second_jpeg_quality)
    return first, second


def round_parameters(u, settings, chain):
    """One round's kernel draws from its uniforms: kind, sigmas, angle, beta, size, sinc, cutoff, blur."""
    kind = _categorical(u[_KIND], settings["kernels"])
    size = _odd_size(u[_SIZE], settings["sizes"])
    return dict(kind=kind, sigma_x=_lerp(u[_SIGMA_X], settings["sigma"]),
                sigma_y=_lerp(u[_SIGMA_Y], settings["sigma"]), angle=_lerp(u[_ANGLE], (-math.pi, math.pi)),
                beta=_beta(u[_BETA_SIDE], u[_BETA], kind, chain), size=size,
                sinc=u[_SINC] < settings["sinc"], cutoff=_cutoff(u[_CUTOFF], size),
                blur=u[_BLUR] < settings["blur"])


def _round_kernel(u, settings, chain):
    p = round_parameters(u, settings, chain)
    families = tuple(sorted({i // 2 for i, q in enumerate(settings["kernels"]) if q > 0}))
    kernel = _kernel(p["kind"], p["sigma_x"], p["sigma_y"], p["angle"], p["beta"], p["size"], p["cutoff"],
                     p["sinc"], families, sincs=settings["sinc"] > 0)
    return kernel, p["blur"]


def _resize_factor(u, settings):
    """Real-ESRGAN's random resize factor: up in [1, high], down in [low, 1], or 1."""
    direction = _categorical(u[_DIRECTION], settings["resize"])
    low, high = settings["factor"]
    return tf.gather(tf.stack([_lerp(u[_FACTOR], (1.0, high)), _lerp(u[_FACTOR], (low, 1.0)),
                               tf.constant(1.0)]), direction)


def _sized(length, factor, canvas):
    return tf.clip_by_value(tf.cast(tf.floor(float(length) * factor), tf.int32), 1, canvas)


def _canvases(shape, scale, chain):
    height, width, _ = shape
    target = (height // scale, width // scale)
    first = tuple(max(n, math.floor(n * chain.resize_range[1])) for n in (height, width))
    second = tuple(max(n, math.floor(n * chain.second_resize_range[1])) for n in target)
    return target, first, second


def second_order_draws(keys, chain, shape, scale):
    """One example's kernels, sizes and resampling matrices in the second-order chain.

    Args:
        keys: the example's `(KEY_COUNT, 2)` keys.
        chain: a `Chain` of order 2.
        shape: `(height, width, channels)` of the clean patch.
        scale: the downsampling factor.

    Returns:
        dict: `kernel1`, `blur1` (first round), `rows1`, `columns1` (first
        resize, into the first canvas), `height1`, `width1` (the size
        there), `kernel2`, `blur2`, `rows2`, `columns2`, `height2`, `width2`
        (second round), `rows3`, `columns3` (resize to the target),
        `final_kernel`, `final` (the final sinc and whether it applies).
    """
    height, width, _ = shape
    (target_h, target_w), (canvas1_h, canvas1_w), (canvas2_h, canvas2_w) = _canvases(shape, scale, chain)
    first, second = round_settings(chain)
    methods = chain.downsampling
    u = _uniforms(keys)
    r1, r2 = u[:_ROUND], u[_ROUND:2 * _ROUND]
    kernel1, blur1 = _round_kernel(r1, first, chain)
    factor1 = _resize_factor(r1, first)
    height1, width1 = _sized(height, factor1, canvas1_h), _sized(width, factor1, canvas1_w)
    method1 = _categorical(r1[_METHOD], [1 / len(methods)] * len(methods))
    rows1 = resize_matrix(height, height1, method1, methods, canvas1_h, height)
    columns1 = rows1 if (height, canvas1_h) == (width, canvas1_w) else \
        resize_matrix(width, width1, method1, methods, canvas1_w, width)

    happens = u[_SECOND] < chain.second_order_probability
    kernel2, blur2 = _round_kernel(r2, second, chain)
    factor2 = _resize_factor(r2, second)
    final_method = _categorical(u[_FINAL_METHOD], [1 / len(methods)] * len(methods))
    method2 = tf.where(happens, _categorical(r2[_METHOD], [1 / len(methods)] * len(methods)), final_method)
    # A skipped second round resizes straight to the target (the final resize is then the identity).
    height2 = tf.where(happens, _sized(target_h, factor2, canvas2_h), target_h)
    width2 = tf.where(happens, _sized(target_w, factor2, canvas2_w), target_w)
    square = (height, canvas1_h, target_h, canvas2_h) == (width, canvas1_w, target_w, canvas2_w)
    rows2 = resize_matrix(height1, height2, method2, methods, canvas2_h, canvas1_h)
    columns2 = rows2 if square else resize_matrix(width1, width2, method2, methods, canvas2_w, canvas1_w)
    rows3 = resize_matrix(height2, target_h, final_method, methods, target_h, canvas2_h)
    columns3 = rows3 if square else \
        resize_matrix(width2, target_w, final_method, methods, target_w, canvas2_w)

    final_size = _odd_size(u[_FINAL_SIZE], realesrgan.KERNEL_SIZES if chain.kernel_size is None
                           else chain.kernel_size)
    final_kernel = _kernel(tf.constant(0), 1.0, 1.0, 0.0, 1.0, final_size,
                           _lerp(u[_FINAL_CUTOFF], SINC_CUTOFF), True, (0,))
    final = u[_FINAL_SINC] < chain.final_sinc_probability
    return dict(kernel1=kernel1, blur1=blur1, rows1=rows1, columns1=columns1, height1=height1, width1=width1,
                kernel2=kernel2, blur2=blur2 & happens, rows2=rows2, columns2=columns2, height2=height2,
                width2=width2, rows3=rows3, columns3=columns3, final_kernel=final_kernel, final=final)


def _round_noise_and_jpeg(canvas, height, width, u, colour_key, settings, chain, noise, jpeg):
    """One round's noise (clipped) then JPEG on the `height x width` image in the corner of `canvas`."""
    image = canvas[:height, :width]
    gray = u[_GRAY] < settings["gray"]

    def gaussian():
        sigma = _lerp(u[_STRENGTH], settings["noise_sigma"]) / 255.0
        return sigma * _gaussian_noise(tf.shape(image), colour_key, gray, canvas.shape[-1])

    def poisson():
        return _lerp(u[_STRENGTH], settings["poisson"]) * poisson_noise(image, colour_key, gray)

    def noisy():
        if settings["gaussian"] >= 1:
            term = gaussian()
        elif settings["gaussian"] <= 0:
            term = poisson()
        else:
            term = tf.cond(u[_GAUSSIAN] < settings["gaussian"], gaussian, poisson)
        return tf.clip_by_value(image + term, 0.0, 1.0)

    image = tf.cond(noise & (u[_NOISE] < chain.noise_probability), noisy, lambda: image)
    quality = _quality(u[_QUALITY], settings["quality"])
    image = tf.cond(jpeg & (u[_JPEG] < chain.jpeg_probability),
                    lambda: _jpeg(tf.clip_by_value(image, 0.0, 1.0), quality), lambda: image)
    padding = [[0, canvas.shape[0] - height], [0, canvas.shape[1] - width], [0, 0]]
    return tf.pad(image, padding)


def _second_order_batch(images, keys, chain, scale):
    shape = images.shape[1:]
    (target_h, target_w), canvas1, canvas2 = _canvases(shape, scale, chain)
    first, second = round_settings(chain)
    matrix = lambda rows, columns: tf.TensorSpec((rows, columns), tf.float32)  # noqa: E731
    scalar = lambda dtype: tf.TensorSpec((), dtype)  # noqa: E731
    kernel = tf.TensorSpec((KERNEL_SIZE, KERNEL_SIZE), tf.float32)
    signature = dict(
        kernel1=kernel, blur1=scalar(tf.bool), rows1=matrix(canvas1[0], shape[0]),
        columns1=matrix(canvas1[1], shape[1]), height1=scalar(tf.int32), width1=scalar(tf.int32),
        kernel2=kernel, blur2=scalar(tf.bool), rows2=matrix(canvas2[0], canvas1[0]),
        columns2=matrix(canvas2[1], canvas1[1]), height2=scalar(tf.int32), width2=scalar(tf.int32),
        rows3=matrix(target_h, canvas2[0]), columns3=matrix(target_w, canvas2[1]), final_kernel=kernel,
        final=scalar(tf.bool))
    d = tf.map_fn(lambda k: second_order_draws(k, chain, shape, scale), keys, fn_output_signature=signature)

    def flagged(flags, changed, unchanged):
        return tf.where(flags[:, None, None, None], changed, unchanged)

    def noise_and_jpeg(x, heights, widths, round_index, gates):
        """Each example's noise and JPEG, with the draws, key and settings of round `round_index`
        (1 or 2); `gates(u)` says from the example's uniforms whether its noise and JPEG happen."""
        settings = first if round_index == 1 else second

        def one(args):
            canvas, height, width, example_keys = args
            u = _uniforms(example_keys)
            draws = u[(round_index - 1) * _ROUND:round_index * _ROUND]
            return _round_noise_and_jpeg(canvas, height, width, draws, example_keys[round_index], settings,
                                         chain, *gates(u))

        return tf.map_fn(one, (x, heights, widths, keys), fn_output_signature=tf.TensorSpec(x.shape[1:]))

    def always(u):
        return tf.constant(True), tf.constant(True)

    def before_final_sinc(u):
        # The second round's noise, and its JPEG unless that comes after the final sinc.
        happens = u[_SECOND] < chain.second_order_probability
        return happens, happens & (u[_SINC_FIRST] >= chain.sinc_before_jpeg_probability)

    def after_final_sinc(u):
        happens = u[_SECOND] < chain.second_order_probability
        return tf.constant(False), happens & (u[_SINC_FIRST] < chain.sinc_before_jpeg_probability)

    # First round: blur, random resize, noise, JPEG.
    x = flagged(d["blur1"], convolve(images, d["kernel1"]), images)
    x = noise_and_jpeg(_resample(x, d["rows1"], d["columns1"]), d["height1"], d["width1"], 1, always)
    # Second round: blur, random resize, noise, and JPEG here when it comes before the final sinc.
    x = flagged(d["blur2"], convolve(x, d["kernel2"], d["height1"], d["width1"]), x)
    x = noise_and_jpeg(_resample(x, d["rows2"], d["columns2"]), d["height2"], d["width2"], 2,
                       before_final_sinc)
    # Resize to the target and the final sinc filter, then the JPEG that comes after them.
    x = _resample(x, d["rows3"], d["columns3"])
    x = flagged(d["final"], convolve(x, d["final_kernel"]), x)
    targets = tf.shape(keys)[:1]
    x = noise_and_jpeg(x, tf.fill(targets, target_h), tf.fill(targets, target_w), 2, after_final_sinc)
    return _quantise(x)
