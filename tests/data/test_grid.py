"""Fixed degradation cells: the clean cell is the benchmark input, every other stage really applies."""

import numpy as np
import pytest

from data import grid
from data.degradations import add_gaussian_noise
from data.degradations import bicubic_downscale
from restoration.evaluation.metrics import psnr


def textured(height=96, width=80, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height // 4, width // 4, channels)).astype(np.float64)
    smooth = np.kron(base, np.ones((4, 4, 1)))
    return np.clip(smooth + rng.normal(0, 8, smooth.shape), 0, 255).astype(np.uint8)


def detail(image):
    """Mean squared horizontal difference: what blur removes."""
    return float(np.mean(np.diff(image.astype(np.float64), axis=1) ** 2))


def test_the_clean_cell_is_the_benchmark_input():
    image = textured(98, 83)
    low = grid.degrade_sr(image, 2, grid.cells(["bicubic"], "sr")[0])
    np.testing.assert_array_equal(low, bicubic_downscale(image, 2))


def test_blur_removes_detail_in_order_of_its_sigma():
    image = textured()
    clean, blur1, blur2 = (grid.degrade_sr(image, 2, cell)
                           for cell in grid.cells(["bicubic", "blur1.0", "blur2.0"], "sr"))
    assert detail(clean) > 1.1 * detail(blur1) > 1.1 * detail(blur2)
    assert blur1.shape == clean.shape == (48, 40, 3)


def test_noise_is_the_benchmark_draw_on_the_low_resolution_input():
    image = textured()
    clean = bicubic_downscale(image, 4)
    noisy = grid.degrade_sr(image, 4, grid.Cell("n", noise=15.0))
    expected = add_gaussian_noise(clean.astype(np.float64) / 255, 15.0, 0)
    np.testing.assert_array_equal(noisy, np.clip(np.round(expected.astype(np.float64) * 255), 0, 255))
    np.testing.assert_array_equal(noisy, grid.degrade_sr(image, 4, grid.Cell("n", noise=15.0)))


def test_jpeg_degrades_more_at_lower_quality():
    image = textured(seed=3)
    clean = bicubic_downscale(image, 2)
    q50, q90 = (grid.degrade_sr(image, 2, cell) for cell in grid.cells(["jpeg50", "jpeg90"], "sr"))
    assert psnr(clean, q50) < psnr(clean, q90) < 60
    gray = grid.degrade_sr(image[..., :1], 2, grid.Cell("j", jpeg=50))
    assert gray.shape == (48, 40, 1)


def test_grids_name_their_cells_and_refuse_unknown_ones():
    names = [cell.name for cell in grid.DENOISE_GRID]
    assert names == ["sigma15", "sigma25", "sigma50", "sigma60", "sigma75"]
    assert grid.SR_GRID[0] == grid.Cell("bicubic")
    with pytest.raises(ValueError, match="'blur9'.*bicubic, blur1.0"):
        grid.cells(["blur9"], "sr")
    with pytest.raises(ValueError, match="jpeg"):
        grid.Cell("bad", jpeg=0)
