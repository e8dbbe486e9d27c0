"""Tests for the MATLAB-compatible bicubic `imresize`."""

import numpy as np
import pytest

from data.imresize import contributions
from data.imresize import cubic
from data.imresize import imresize


def keys_cubic(distance):
    """Keys' kernel with a = -0.5, written out independently of the module."""
    t = abs(distance)
    if t <= 1:
        return 1.5 * t**3 - 2.5 * t**2 + 1
    if t <= 2:
        return -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2
    return 0.0


# Halving stretches the kernel to 8 taps at half-integer distances
# 0.5, 1.5, 2.5, 3.5 (kernel arguments 0.25, 0.75, 1.25, 1.75); the eight
# values sum to 2, so each normalised weight is half a kernel value.
HALF_WEIGHTS = {d: keys_cubic(d / 2) / 2 for d in (0.5, 1.5, 2.5, 3.5)}


def test_cubic_kernel_matches_keys_formula():
    """The module's kernel equals Keys' a = -0.5 kernel, zero beyond 2."""
    distances = np.linspace(-2.5, 2.5, 41)
    np.testing.assert_allclose(cubic(distances), [keys_cubic(d) for d in distances], atol=1e-15)


def test_halving_weights_are_stretched_kernel_values():
    """Shrinking by 2 uses 8 taps of the kernel stretched by 2, summing to one."""
    weights, indices = contributions(16, 8, 0.5)
    distances = (3.5, 2.5, 1.5, 0.5, -0.5, -1.5, -2.5, -3.5)
    # Output 3 is centred at 0-based input coordinate 6.5, far from the edges.
    np.testing.assert_allclose(weights[3], [HALF_WEIGHTS[abs(d)] for d in distances], atol=1e-15)
    np.testing.assert_array_equal(indices[3], np.arange(3, 11))
    # The first output pixel reaches three pixels past the edge, mirrored.
    np.testing.assert_array_equal(indices[0], [2, 1, 0, 0, 1, 2, 3, 4])


def test_constant_image_stays_constant():
    """A constant image is unchanged by shrinking, enlarging and odd sizes."""
    image = np.full((13, 17, 3), 97, np.uint8)
    for kwargs in ({"scale": 0.5}, {"scale": 3}, {"output_shape": (5, 29)}):
        result = imresize(image, **kwargs)
        np.testing.assert_array_equal(result, 97)
        floats = imresize(image.astype(np.float64) / 255, **kwargs)
        np.testing.assert_allclose(floats, 97 / 255, atol=1e-12)


def test_ramp_halved_matches_hand_computed_values():
    """A 1-D ramp halved: interior samples are exact, the edge uses mirrored pixels."""
    ramp = np.arange(16, dtype=np.float64)[None, :] * 10
    result = imresize(ramp, output_shape=(1, 8))[0]
    # Output j is centred at 0-based input coordinate 2j + 0.5; away from the
    # edges the symmetric weights reproduce a linear ramp exactly.
    np.testing.assert_allclose(result[2:6], [45.0, 65.0, 85.0, 105.0], atol=1e-12)
    # Output 0 sees 0-based positions -3..4 at distances 3.5 ... -3.5,
    # mirrored (edge repeated) to values 20, 10, 0, 0, 10, 20, 30, 40.
    values = [20, 10, 0, 0, 10, 20, 30, 40]
    distances = [3.5, 2.5, 1.5, 0.5, -0.5, -1.5, -2.5, -3.5]
    expected = sum(v * HALF_WEIGHTS[abs(d)] for v, d in zip(values, distances))
    np.testing.assert_allclose(result[0], expected, atol=1e-12)
    assert abs(expected - 5.0) > 0.4  # the mirror visibly bends the ramp


def test_halving_4x4_array_is_separable_filtering():
    """A 4x4 array halved equals M A M^T with the hand-derived 2x4 operator M."""
    # Output 0 takes taps at 1-based positions -2..5 (distances 3.5 ... -3.5);
    # mirrored, they fold onto inputs 1, 2, 3, 4 as below.
    first = [
        HALF_WEIGHTS[1.5] + HALF_WEIGHTS[0.5],
        HALF_WEIGHTS[2.5] + HALF_WEIGHTS[0.5],
        HALF_WEIGHTS[3.5] + HALF_WEIGHTS[1.5],
        HALF_WEIGHTS[2.5] + HALF_WEIGHTS[3.5],
    ]
    operator = np.array([first, first[::-1]])
    array = np.array([[3, 40, 7, 250], [0, 18, 99, 5], [60, 61, 62, 200], [255, 1, 128, 9]], float)
    expected = operator @ array @ operator.T
    np.testing.assert_allclose(imresize(array, scale=0.5), expected, atol=1e-10)
    np.testing.assert_allclose(operator.sum(axis=1), 1.0, atol=1e-15)


def test_output_shape_rules():
    """Size is ceil(scale * size), `output_shape` is exact, channels are kept."""
    image = np.zeros((5, 7, 3), np.uint8)
    assert imresize(image, scale=0.5).shape == (3, 4, 3)
    assert imresize(image, scale=3).shape == (15, 21, 3)
    assert imresize(image, output_shape=(4, 9)).shape == (4, 9, 3)
    assert imresize(image[..., 0], scale=2).shape == (10, 14)
    assert imresize(np.zeros((243, 9)), scale=1 / 3).shape == (81, 3)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"scale": 2, "output_shape": (4, 4)}, {"scale": -1}, {"output_shape": (0, 3)}],
)
def test_invalid_size_arguments_raise(kwargs):
    """Giving neither or both size arguments, or a non-positive size, is an error."""
    with pytest.raises(ValueError, match="Received"):
        imresize(np.zeros((4, 4)), **kwargs)


def test_integer_dtypes_other_than_uint8_are_rejected():
    """Only uint8 and floats have defined rounding semantics."""
    with pytest.raises(ValueError, match="image.dtype=int16"):
        imresize(np.zeros((4, 4), np.int16), scale=2)


def test_uint8_rounds_half_away_from_zero_and_clips():
    """An exact x.5 result rounds up (MATLAB), not to even; negatives clip to 0."""
    # Halving [96, 0, 0, 0] gives 96 * (k(0.75) + k(0.25)) / 2 = 52.5 and
    # 96 * (k(1.25) + k(1.75)) / 2 = -4.5, both exact in binary.
    row = np.array([[96, 0, 0, 0]], np.uint8)
    exact = imresize(row.astype(np.float64), output_shape=(1, 2))
    np.testing.assert_array_equal(exact, [[52.5, -4.5]])
    np.testing.assert_array_equal(imresize(row, output_shape=(1, 2)), [[53, 0]])


def test_uint8_result_is_rounded_after_each_axis():
    """uint8 resizing equals two single-axis resizes, height first on equal scales."""
    image = np.random.default_rng(3).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    both = imresize(image, scale=0.25)
    height_first = imresize(imresize(image, output_shape=(6, 20)), output_shape=(6, 5))
    np.testing.assert_array_equal(both, height_first)
    floats = imresize(image.astype(np.float64), scale=0.25)
    assert not np.array_equal(both, np.floor(np.clip(floats, 0, 255) + 0.5))


def test_float_output_keeps_dtype_and_overshoot():
    """Floats come back in the input dtype, unclipped (cubic overshoots at a step)."""
    step = np.zeros((8, 8), np.float32)
    step[:, 4:] = 1.0
    result = imresize(step, scale=2)
    assert result.dtype == np.float32
    assert result.max() > 1.0 and result.min() < 0.0


def test_enlarging_reproduces_quadratics_exactly():
    """Upscaling uses the unit-width kernel, which is exact on quadratics."""
    row = np.arange(10, dtype=np.float64)[None, :] ** 2
    result = imresize(row, output_shape=(1, 20))[0]
    # Output 2j + 1 sits at 0-based input coordinate j + 0.25; Keys' a = -0.5
    # kernel has third-order accuracy, so an interior quadratic is exact.
    centres = np.arange(2, 8) + 0.25
    np.testing.assert_allclose(result[5:17:2], centres**2, atol=1e-9)
