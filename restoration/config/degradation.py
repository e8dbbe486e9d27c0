"""The `data.degradation` section: a blind-SR degradation chain, its ranges and its defaults.

The keys are the settings of `data.blind.Chain`, and their defaults are the
chain's own, read from `data.realesrgan.DEFAULTS` (which imports no
TensorFlow); this module adds the ranges a config may set.
"""

import dataclasses
from typing import Literal

from data import realesrgan
from restoration.config.conversion import section
from restoration.config.conversion import spec
from restoration.config.conversion import to_plain
from restoration.config.conversion import unique


def _probability():
    return spec("a number in [0, 1]", lambda value: 0 <= value <= 1)


def value_range(low, high, default=dataclasses.MISSING, noun="numbers"):
    """A `[low, high]` pair of `noun` inside the bounds, low <= high."""
    expected = f"[low, high] {noun} with {low} <= low <= high <= {high}"
    return spec(expected, lambda pair: len(pair) == 2 and low <= pair[0] <= pair[1] <= high, default)


def _range_around_one(low, high):
    """A `[low, high]` pair inside the bounds with low <= 1 <= high (resize factors, kernel shapes)."""
    expected = f"[low, high] numbers with {low} <= low <= 1 <= high <= {high}"
    return spec(expected, lambda pair: len(pair) == 2 and low <= pair[0] <= 1 <= pair[1] <= high)


def _distribution(count, of):
    """`count` probabilities, one per `of`, >= 0 and summing to 1."""
    expected = f"{count} numbers >= 0 summing to 1 (chances of {of})"
    return spec(expected, lambda values: len(values) == count and min(values) >= 0
                and abs(sum(values) - 1) <= 1e-6)


_KERNEL_KINDS = ", ".join(realesrgan.KERNELS)


def _chain_defaults(cls):
    """Gives each field of `cls` the chain's default; its fields must be the chain's settings."""
    if list(cls.__annotations__) != list(realesrgan.DEFAULTS):
        raise TypeError(f"{cls.__name__} must declare data.realesrgan.DEFAULTS' settings, in order")
    for name, default in realesrgan.DEFAULTS.items():
        declared = cls.__dict__.get(name)
        if isinstance(declared, dataclasses.Field):
            declared.default = default
        else:
            setattr(cls, name, default)
    return cls


@section
@_chain_defaults
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
    order reads must keep their defaults at order 1. Every default is the
    chain's own (`data.realesrgan.DEFAULTS`).

    Reference:
        - [Wang et al., Real-ESRGAN, ICCV Workshops 2021](https://arxiv.org/abs/2107.10833)
    """

    blur_probability: float = _probability()
    blur_sigma: tuple[float, ...] = value_range(0.001, 50)
    anisotropic_probability: float = _probability()
    downsampling: tuple[Literal["bicubic", "bilinear", "area"], ...] = spec(
        "a non-empty list of distinct methods", lambda methods: methods and unique(methods),
    )
    noise_probability: float = _probability()
    noise_sigma: tuple[float, ...] = value_range(0, 255)
    gray_noise_probability: float = _probability()
    jpeg_probability: float = _probability()
    jpeg_quality: tuple[int, ...] = value_range(1, 100, noun="integers")
    order: Literal[1, 2]
    kernel_probabilities: tuple[float, ...] | None = _distribution(6, _KERNEL_KINDS)
    kernel_size: tuple[int, ...] | None = spec(
        "[low, high] odd integers with 1 <= low <= high <= 21",
        lambda pair: len(pair) == 2 and 1 <= pair[0] <= pair[1] <= 21 and pair[0] % 2 == pair[1] % 2 == 1,
    )
    generalized_beta: tuple[float, ...] = _range_around_one(0.001, 10)
    plateau_beta: tuple[float, ...] = _range_around_one(0.001, 10)
    sinc_probability: float | None = _probability()
    gaussian_noise_probability: float | None = _probability()
    poisson_scale: tuple[float, ...] = value_range(0, 50)
    resize_probabilities: tuple[float, ...] = _distribution(3, "up, down, keep")
    resize_range: tuple[float, ...] = _range_around_one(0.01, 4)
    second_order_probability: float = _probability()
    second_blur_probability: float = _probability()
    second_blur_sigma: tuple[float, ...] = value_range(0.001, 50)
    second_kernel_probabilities: tuple[float, ...] = _distribution(6, _KERNEL_KINDS)
    second_sinc_probability: float = _probability()
    second_resize_probabilities: tuple[float, ...] = _distribution(3, "up, down, keep")
    second_resize_range: tuple[float, ...] = _range_around_one(0.01, 4)
    second_gaussian_noise_probability: float = _probability()
    second_noise_sigma: tuple[float, ...] = value_range(0, 255)
    second_poisson_scale: tuple[float, ...] = value_range(0, 50)
    second_gray_noise_probability: float = _probability()
    second_jpeg_quality: tuple[int, ...] = value_range(1, 100, noun="integers")
    final_sinc_probability: float = _probability()
    sinc_before_jpeg_probability: float = _probability()

    def relations(self):
        defaults = {field.name: field.default for field in dataclasses.fields(self)}
        if self.order == 1:
            for name in realesrgan.SECOND_ORDER_ONLY:
                if getattr(self, name) != defaults[name]:
                    expected = f"its default {to_plain(defaults[name])!r} at order 1 (set order: 2 to use it)"
                    yield name, expected, to_plain(getattr(self, name))
                    return
        mixed = self.order == 2 or self.kernel_probabilities is not None
        if mixed and self.anisotropic_probability != defaults["anisotropic_probability"]:
            expected = ("its default 0.5 when kernel_probabilities (or order 2) gives the kernels: "
                        "set the anisotropic kinds' chances there")
            yield "anisotropic_probability", expected, self.anisotropic_probability
