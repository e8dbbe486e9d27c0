"""Tests for PSNR, SSIM, the Y conversion and the scoring conventions."""

import dataclasses

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from restoration.evaluation.metrics import conventions_for
from restoration.evaluation.metrics import denoise_conventions
from restoration.evaluation.metrics import psnr
from restoration.evaluation.metrics import rgb_to_y
from restoration.evaluation.metrics import sr_conventions
from restoration.evaluation.metrics import ssim


def random_image(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_rgb_to_y_of_known_colours():
    """White maps to 235, black to 16, primaries to 16 plus their coefficient."""
    colours = np.array(
        [[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8
    )
    expected = [235.0, 16.0, 16 + 65.481, 16 + 128.553, 16 + 24.966]
    np.testing.assert_allclose(rgb_to_y(colours), expected, atol=1e-9)


def test_rgb_to_y_reads_floats_on_unit_scale():
    """A float image in [0, 1] gives the same Y as its uint8 version."""
    image = random_image((6, 5, 3))
    np.testing.assert_allclose(rgb_to_y(image / 255.0), rgb_to_y(image), atol=1e-9)


def test_psnr_matches_definition():
    """A uniform error of 5 gives 10 log10(255^2 / 25)."""
    reference = np.full((8, 8, 3), 100, np.uint8)
    assert psnr(reference, reference + 5) == pytest.approx(10 * np.log10(255**2 / 25), abs=1e-9)


def test_psnr_of_identical_images_is_infinite():
    """Identical images have infinite PSNR rather than a division error."""
    image = random_image((8, 8, 3))
    assert psnr(image, image.copy()) == float("inf")


def test_border_is_shaved_before_scoring():
    """Errors confined to a 2-pixel frame vanish with border=2 but not border=1."""
    reference = random_image((20, 20, 3))
    output = reference.copy()
    output[:2] = 0
    output[:, -2:] = 255
    assert psnr(reference, output, border=2) == float("inf")
    assert np.isfinite(psnr(reference, output, border=1))


def test_y_channel_psnr_weighs_channels_by_luma_coefficients():
    """An error of 10 in blue only is an error of 10 * 24.966 / 255 in Y."""
    reference = np.full((8, 8, 3), 120, np.uint8)
    output = reference.copy()
    output[..., 2] += 10
    expected = 10 * np.log10(255**2 / (10 * 24.966 / 255) ** 2)
    assert psnr(reference, output, y_channel=True) == pytest.approx(expected, abs=1e-9)


def test_y_channel_leaves_gray_images_unchanged():
    """Gray images are scored on their own channel, as published SR tables do."""
    reference, output = random_image((16, 16, 1), 1), random_image((16, 16, 1), 2)
    assert psnr(reference, output, y_channel=True) == psnr(reference, output)
    assert psnr(reference[..., 0], output[..., 0], y_channel=True) == psnr(reference, output)


def test_data_range_rescales_the_peak():
    """Images on [0, 1] with data_range=1 score like their uint8 versions."""
    reference, output = random_image((10, 10, 3), 3), random_image((10, 10, 3), 4)
    on_unit_scale = psnr(reference / 255.0, output / 255.0, y_channel=True, data_range=1.0)
    assert on_unit_scale == pytest.approx(psnr(reference, output, y_channel=True), abs=1e-9)


def test_per_image_average_differs_from_pooled_mse():
    """Averaging PSNR per image is not the PSNR of one MSE pooled over the set."""
    reference = np.full((8, 8, 1), 100, np.uint8)
    per_image = [psnr(reference, reference + 1), psnr(reference, reference + 10)]
    pooled = psnr(np.concatenate([reference] * 2), np.concatenate([reference + 1, reference + 10]))
    assert np.mean(per_image) - pooled > 5.0


def test_mismatched_shapes_and_oversized_border_raise():
    """Shape mismatches and borders that leave nothing are reported."""
    with pytest.raises(ValueError, match="reference.shape=.*output.shape="):
        psnr(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match="border=2"):
        psnr(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)), border=2)


def test_ssim_matches_gaussian_skimage_on_shaved_y():
    """SSIM is skimage's Gaussian (sigma 1.5) SSIM of the shaved Y channel."""
    reference = random_image((40, 36, 3), 5)
    output = np.clip(reference.astype(int) + random_image((40, 36, 3), 6) // 16, 0, 255)
    output = output.astype(np.uint8)
    expected = structural_similarity(
        rgb_to_y(reference)[3:-3, 3:-3],
        rgb_to_y(output)[3:-3, 3:-3],
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    assert ssim(reference, output, border=3, y_channel=True) == pytest.approx(expected, abs=1e-12)
    assert ssim(reference, reference) == pytest.approx(1.0, abs=1e-12)


def test_conventions_state_published_choices():
    """SR scores Y with a border of `scale`; denoising scores all channels, no border."""
    sr = sr_conventions(4)
    assert (sr.y_channel, sr.border) == (True, 4)
    assert "4-pixel border" in sr.description and "rounded to uint8" in sr.description
    denoise = denoise_conventions()
    assert (denoise.y_channel, denoise.border) == (False, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sr.border = 2


def test_conventions_follow_the_task():
    """`conventions_for` picks the SR rules with the task's scale, else the denoising rules."""
    class Task:
        def __init__(self, type, scale=None):
            self.type, self.scale = type, scale

    assert conventions_for(Task("sr", 3)) == sr_conventions(3)
    assert conventions_for(Task("denoise")) == denoise_conventions()
