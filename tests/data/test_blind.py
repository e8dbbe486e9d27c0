"""Random degradation chains: kernels, determinism, ranges and every stage really applied."""

import math

import numpy as np
import pytest
import tensorflow as tf

from data import blind

NOTHING = dict(blur_probability=0.0, noise_probability=0.0, jpeg_probability=0.0)


def keys(seed):
    return tf.random.stateless_uniform((blind.KEY_COUNT, 2), (seed, 0), maxval=2**31 - 1, dtype=tf.int32)


def textured(size=48, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(size=(size // 4, size // 4, channels))
    return tf.constant(np.kron(base, np.ones((4, 4, 1))), tf.float32)


def test_gaussian_kernels_sum_to_one_with_the_requested_covariance():
    """Second moments of the kernel are the covariance R diag(sx^2, sy^2) R^T."""
    sigma_x, sigma_y, angle = 2.0, 1.0, 0.6
    kernel = blind.gaussian_kernel(sigma_x, sigma_y, angle).numpy().astype(np.float64)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-5)
    grid = np.arange(-10, 11)
    y, x = np.meshgrid(grid, grid, indexing="ij")
    moments = np.array([[np.sum(kernel * x * x), np.sum(kernel * x * y)],
                        [np.sum(kernel * x * y), np.sum(kernel * y * y)]])
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    expected = rotation @ np.diag([sigma_x**2, sigma_y**2]) @ rotation.T
    np.testing.assert_allclose(moments, expected, atol=2e-3)
    isotropic = blind.gaussian_kernel(1.5, 1.5, 0.0).numpy()
    np.testing.assert_allclose(isotropic, isotropic.T, atol=1e-7)
    np.testing.assert_allclose(isotropic, isotropic[::-1, ::-1], atol=1e-7)


def test_a_chain_is_deterministic_for_its_keys_and_differs_between_keys():
    image = textured()
    chain = blind.Chain()
    first = blind.degrade(image, keys(1), chain, scale=2).numpy()
    np.testing.assert_array_equal(first, blind.degrade(image, keys(1), chain, scale=2).numpy())
    assert not np.array_equal(first, blind.degrade(image, keys(2), chain, scale=2).numpy())
    assert first.shape == (24, 24, 3)
    np.testing.assert_array_equal(np.round(first * 255), first * 255)  # 8-bit levels
    assert first.min() >= 0 and first.max() <= 1


def test_without_stages_the_chain_only_quantises():
    image = textured()
    out = blind.degrade(image, keys(3), blind.Chain(**NOTHING)).numpy()
    np.testing.assert_allclose(out, np.round(image.numpy() * 255) / 255, atol=1e-7)


def test_blur_turns_an_impulse_into_the_kernel():
    """Isotropic sigma 2: an impulse in the middle of a black image becomes the kernel."""
    chain = blind.Chain(**{**NOTHING, "blur_probability": 1.0}, blur_sigma=(2.0, 2.0),
                        anisotropic_probability=0.0)
    image = np.zeros((41, 41, 1), np.float32)
    image[20, 20, 0] = 1.0
    kernel = blind.random_kernel(keys(4)[0:5], chain).numpy()
    np.testing.assert_allclose(kernel, blind.gaussian_kernel(2.0, 2.0, 0.0).numpy(), atol=1e-7)
    blurred = blind.blur(tf.constant(image), kernel).numpy()[10:31, 10:31, 0]
    np.testing.assert_allclose(blurred, kernel, atol=1e-6)


def test_downsampling_uses_the_configured_method():
    image = textured(channels=1)
    for method in blind.DOWNSAMPLING:
        chain = blind.Chain(**NOTHING, downsampling=(method,))
        out = blind.degrade(image, keys(5), chain, scale=4).numpy()
        expected = tf.image.resize(image, (12, 12), method=method, antialias=method != "area").numpy()
        np.testing.assert_allclose(out, np.round(np.clip(expected, 0, 1) * 255) / 255, atol=1e-6)


def test_noise_levels_stay_in_range_and_gray_noise_is_shared_by_channels():
    """Over 60 draws the measured sigma of noise on flat gray stays inside [5, 20] and spans it."""
    chain = blind.Chain(**{**NOTHING, "noise_probability": 1.0}, noise_sigma=(5.0, 20.0),
                        gray_noise_probability=0.0)
    flat = tf.fill((96, 96, 3), 0.5)
    sigmas = [255 * blind.degrade(flat, keys(seed), chain).numpy().std() for seed in range(60)]
    # 27,648 samples per draw: the std is within about 1 % of sigma; rounding adds 1/12 variance.
    assert min(sigmas) > 5 * 0.97 and max(sigmas) < 20 * 1.03
    assert min(sigmas) < 7 and max(sigmas) > 18
    gray = blind.Chain(**{**NOTHING, "noise_probability": 1.0}, gray_noise_probability=1.0)
    out = blind.degrade(flat, keys(6), gray).numpy()
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_jpeg_is_really_applied_at_the_drawn_quality():
    image = textured(seed=7)
    chain = blind.Chain(**{**NOTHING, "jpeg_probability": 1.0}, jpeg_quality=(10, 10))
    out = blind.degrade(image, keys(8), chain).numpy()
    expected = tf.image.adjust_jpeg_quality(image, 10).numpy()
    np.testing.assert_allclose(out, np.round(expected * 255) / 255, atol=1e-6)
    assert np.abs(out - image.numpy()).mean() > 0.01


def test_stage_probabilities_are_respected():
    """Noise with probability 0.3 is present in 30 % +- 10 % of 100 draws."""
    chain = blind.Chain(**{**NOTHING, "noise_probability": 0.3}, noise_sigma=(10.0, 10.0))
    flat = tf.fill((32, 32, 1), 0.5)
    noisy = [blind.degrade(flat, keys(seed), chain).numpy().std() > 0 for seed in range(100)]
    assert 0.2 <= np.mean(noisy) <= 0.4


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"blur_probability": 1.5}, "blur_probability"),
        ({"blur_sigma": (3.0, 1.0)}, "blur_sigma"),
        ({"noise_sigma": (-1.0, 5.0)}, "noise_sigma"),
        ({"jpeg_quality": (30, 101)}, "jpeg_quality"),
        ({"jpeg_quality": (30.0, 90)}, "jpeg_quality"),
        ({"downsampling": ("nearest",)}, "downsampling"),
        ({"downsampling": ()}, "downsampling"),
    ],
)
def test_invalid_chains_name_the_field(arguments, message):
    with pytest.raises(ValueError, match=message):
        blind.Chain(**arguments)
