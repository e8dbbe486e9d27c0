"""Tests for the shared degradations: modcrop, bicubic down/up-scaling, Gaussian noise."""

import numpy as np
import pytest

from data.degradations import add_gaussian_noise
from data.degradations import bicubic_downscale
from data.degradations import bicubic_upscale
from data.degradations import modcrop
from data.imresize import imresize


def test_modcrop_crops_bottom_and_right_to_multiples():
    """Both sides become multiples of the scale; the top-left corner is kept."""
    image = np.arange(13 * 10 * 3).reshape(13, 10, 3)
    cropped = modcrop(image, 4)
    assert cropped.shape == (12, 8, 3)
    np.testing.assert_array_equal(cropped, image[:12, :8])
    assert modcrop(image[..., 0], 3).shape == (12, 9)


@pytest.mark.parametrize("scale", [0, -2, 2.0, True])
def test_modcrop_rejects_non_positive_integer_scales(scale):
    """The scale must be a positive integer."""
    with pytest.raises(ValueError, match="Received: scale="):
        modcrop(np.zeros((8, 8)), scale)


def test_bicubic_downscale_crops_then_shrinks_with_imresize():
    """The LR image is MATLAB imresize(modcrop(hr), 1/scale), uint8."""
    hr_image = np.random.default_rng(0).integers(0, 256, (50, 37, 3), dtype=np.uint8)
    low_resolution = bicubic_downscale(hr_image, 4)
    assert low_resolution.dtype == np.uint8 and low_resolution.shape == (12, 9, 3)
    np.testing.assert_array_equal(low_resolution, imresize(hr_image[:48, :36], scale=0.25))


def test_bicubic_upscale_enlarges_by_the_scale():
    """Upscaling gives exactly scale times the size, uint8."""
    low_resolution = np.random.default_rng(1).integers(0, 256, (7, 9, 1), dtype=np.uint8)
    upscaled = bicubic_upscale(low_resolution, 3)
    assert upscaled.dtype == np.uint8 and upscaled.shape == (21, 27, 1)


def test_bicubic_round_trip_of_smooth_image_is_close():
    """Down then up on a smooth gradient loses little (guards gross kernel errors)."""
    rows, columns = np.mgrid[0:64, 0:64]
    smooth = np.clip(40 + 2 * rows + columns, 0, 255).astype(np.uint8)
    restored = bicubic_upscale(bicubic_downscale(smooth, 2), 2)
    interior = (slice(4, -4), slice(4, -4))
    difference = restored[interior].astype(int) - smooth[interior]
    assert np.abs(difference).max() <= 1


def test_bicubic_functions_reject_float_images():
    """Benchmark degradations work on uint8 images only."""
    with pytest.raises(ValueError, match="hr_image.dtype=float64"):
        bicubic_downscale(np.zeros((8, 8)), 2)
    with pytest.raises(ValueError, match="lr_image.dtype=float32"):
        bicubic_upscale(np.zeros((8, 8), np.float32), 2)


def test_noise_has_requested_standard_deviation_and_zero_mean():
    """Over 4M draws the noise std is sigma/255 within 0.15 % and the mean is ~0."""
    clean = np.full((2048, 2048), 0.5)
    noise = add_gaussian_noise(clean, 25, seed=0).astype(np.float64) - 0.5
    # Standard errors: std 0.035 % (relative), mean 4.9e-5; a sigma/256 mix-up is 0.39 %.
    np.testing.assert_allclose(noise.std(), 25 / 255, rtol=1.5e-3)
    assert abs(noise.mean()) < 2.5e-4


def test_noise_is_deterministic_for_a_seed():
    """The same seed gives the same noise; another seed gives different noise."""
    clean = np.zeros((16, 16, 3), np.float32)
    first = add_gaussian_noise(clean, 15, seed=7)
    np.testing.assert_array_equal(first, add_gaussian_noise(clean, 15, seed=7))
    assert not np.array_equal(first, add_gaussian_noise(clean, 15, seed=8))


def test_noise_is_the_reference_scripts_legacy_draw_and_leaves_the_global_generator_alone():
    """Noise is what `np.random.seed(seed)` then `np.random.normal(0, sigma / 255, shape)` draws."""
    clean = np.linspace(0, 1, 60).reshape(5, 4, 3)
    np.random.seed(3)
    expected = clean + np.random.normal(0, 50 / 255.0, clean.shape)
    state = np.random.get_state()
    noisy = add_gaussian_noise(clean, 50, seed=3)
    np.testing.assert_allclose(noisy, expected, atol=1e-6)
    after = np.random.get_state()
    assert after[2:] == state[2:] and np.array_equal(after[1], state[1])
    other = np.random.default_rng(3).standard_normal(clean.shape) * (50 / 255)
    assert np.abs(noisy - clean - other).max() > 0.1


def test_noisy_image_is_float32_unclipped_and_unrounded():
    """Noise may leave [0, 1] and values are not quantised to 1/255 steps."""
    clean = np.concatenate([np.zeros((64, 64)), np.ones((64, 64))])
    noisy = add_gaussian_noise(clean, 25, seed=0)
    assert noisy.dtype == np.float32
    assert noisy.min() < -0.1 and noisy.max() > 1.1
    steps = noisy.astype(np.float64) * 255
    assert np.mean(np.abs(steps - np.round(steps)) > 1e-3) > 0.9


def test_noise_rejects_integer_images_and_negative_sigma():
    """Noise is added to [0, 1] float images with a non-negative sigma."""
    with pytest.raises(ValueError, match="clean.dtype=uint8"):
        add_gaussian_noise(np.zeros((4, 4), np.uint8), 25)
    with pytest.raises(ValueError, match="sigma=-1"):
        add_gaussian_noise(np.zeros((4, 4)), -1)
