"""Grid cells: the clean cell is the benchmark input, every other stage applies; which cells a run covers."""

import subprocess
import sys

import numpy as np
import pytest

from data import grid
from data.degradations import add_gaussian_noise
from data.degradations import bicubic_downscale
from restoration.evaluation.metrics import psnr
from tests.helpers import REPO_ROOT


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


FIRST_CELLS = ["bicubic", "blur1.0", "blur2.0", "noise5", "noise15", "jpeg50", "jpeg90", "blur1.0+noise5",
               "blur1.0+noise5+jpeg50"]
REFLASH_CELLS = ["noise20", "blur2.0+noise20", "blur2.0+jpeg50", "noise20+jpeg50", "blur2.0+noise20+jpeg50"]
BEYOND_CELLS = ["blur4.0", "noise40", "noise50", "jpeg20", "jpeg10", "blur4.0+noise40", "noise40+jpeg20"]


def test_the_grid_keeps_its_first_cells_in_order_then_adds_reflash_and_out_of_range_ones():
    assert [cell.name for cell in grid.SR_GRID] == FIRST_CELLS + REFLASH_CELLS + BEYOND_CELLS
    for cell in grid.SR_GRID:  # Each name says what the cell does.
        parts = [f"blur{cell.blur:.1f}"] * (cell.blur > 0) + [f"noise{cell.noise:g}"] * (cell.noise > 0) \
            + [f"jpeg{cell.jpeg}"] * (cell.jpeg is not None)
        assert cell.name == ("+".join(parts) or "bicubic")


@pytest.mark.parametrize("name, sigma", [("noise20", 20), ("noise40", 40), ("noise50", 50)])
def test_noise_cells_add_noise_of_their_sigma(name, sigma):
    flat = np.full((128, 128, 1), 128, np.uint8)
    noisy = grid.degrade_sr(flat, 1, grid.cells([name], "sr")[0])
    # 128 is 2.5 sigma from the clip at sigma 50, which takes ~2 % off the standard deviation.
    assert np.std(noisy.astype(np.float64)) == pytest.approx(sigma, rel=0.04)
    assert np.mean(noisy.astype(np.float64)) == pytest.approx(128, abs=2)


def test_blur4_removes_more_detail_than_blur2():
    image = textured()
    blur2, blur4 = (grid.degrade_sr(image, 2, cell) for cell in grid.cells(["blur2.0", "blur4.0"], "sr"))
    assert detail(blur2) > 1.1 * detail(blur4)


def test_jpeg_beyond_the_chain_degrades_more_than_inside_it():
    image = textured(seed=3)
    clean = bicubic_downscale(image, 2)
    q10, q20, q50 = (grid.degrade_sr(image, 2, cell)
                     for cell in grid.cells(["jpeg10", "jpeg20", "jpeg50"], "sr"))
    assert psnr(clean, q10) < psnr(clean, q20) < psnr(clean, q50)


@pytest.mark.parametrize("name", ["blur2.0+noise20+jpeg50", "blur4.0+noise40", "noise40+jpeg20"])
def test_combined_cells_apply_their_stages_in_the_chain_order(name):
    """Blur then noise then JPEG: each combination is its blurred cell, noised, then compressed."""
    image = textured(seed=1)
    cell = grid.cells([name], "sr")[0]
    low = grid.degrade_sr(image, 2, grid.Cell("b", blur=cell.blur))
    if cell.noise:
        noisy = add_gaussian_noise(low.astype(np.float64) / 255, cell.noise, 0)
        low = np.clip(np.round(noisy.astype(np.float64) * 255), 0, 255).astype(np.uint8)
    if cell.jpeg is not None:
        low = grid._compress(low, cell.jpeg)
    np.testing.assert_array_equal(grid.degrade_sr(image, 2, cell), low)


def test_the_order_dependent_noise_default_resolves_as_the_chain_s():
    """`in_range` resolves a null Gaussian-noise chance by the order, as `data.blind.Chain` does."""
    from data import blind

    for order in (1, 2):  # The order-dependent noise default resolves as the chain resolves it.
        settings = grid._settings({"order": order})
        assert settings["gaussian_noise_probability"] == blind.Chain(order=order).first_round()[3]


def test_in_range_does_not_start_tensorflow():
    code = ("import sys; from data import grid; "
            "assert grid.in_range('noise40', 'sr', {'order': 2})[0] is False; "
            "assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


def plain(**settings):
    """`data.degradation` as a run's config gives it: every key, `None` for order-dependent defaults."""
    from restoration.config.conversion import to_plain
    from restoration.config.degradation import DegradationConfig

    return to_plain(DegradationConfig(**settings))


@pytest.mark.parametrize("form", ["empty", "none-filled", "config"])
def test_the_first_order_default_chain_covers_its_ranges_and_not_beyond(form):
    degradation = {"empty": lambda: {}, "none-filled": lambda: dict.fromkeys(grid.CHAIN_DEFAULTS),
                   "config": plain}[form]()
    for name in ["bicubic", "blur2.0", "noise15", "jpeg50", "blur2.0+noise20+jpeg50", *FIRST_CELLS,
                 *REFLASH_CELLS]:
        assert grid.in_range(name, "sr", degradation) == (True, "in range"), name
    expected = {
        "blur4.0": "blur 4 > 3, the training chain's highest blur sigma",
        "noise40": "noise 40 > 30, the training chain's highest noise sigma",
        "noise50": "noise 50 > 30, the training chain's highest noise sigma",
        "jpeg20": "JPEG quality 20 < 30, the training chain's lowest JPEG quality",
        "jpeg10": "JPEG quality 10 < 30, the training chain's lowest JPEG quality",
        "blur4.0+noise40": "blur 4 > 3, the training chain's highest blur sigma",  # The first one out.
        "noise40+jpeg20": "noise 40 > 30, the training chain's highest noise sigma",
    }
    assert {name: grid.in_range(name, "sr", degradation) for name in BEYOND_CELLS} == \
        {name: (False, reason) for name, reason in expected.items()}


def test_a_narrowed_chain_leaves_out_what_it_cannot_draw():
    assert grid.in_range("noise15", "sr", plain(noise_sigma=(1.0, 8.0))) == \
        (False, "noise 15 > 8, the training chain's highest noise sigma")
    assert grid.in_range("noise5", "sr", plain(noise_sigma=(1.0, 8.0)))[0]
    assert grid.in_range("blur1.0", "sr", plain(blur_sigma=(1.5, 3.0))) == \
        (False, "blur 1 < 1.5, the training chain's lowest blur sigma")
    # A stage the chain never runs is out of range when present, and always free to leave out.
    assert grid.in_range("noise15", "sr", plain(noise_probability=0.0)) == \
        (False, "noise 15, but the training chain never adds Gaussian noise")
    assert grid.in_range("bicubic", "sr", plain(noise_probability=0.0))[0]
    assert grid.in_range("noise15", "sr", {"gaussian_noise_probability": 0.0})[0] is False


def test_a_stage_the_chain_cannot_skip_or_weaken_puts_the_cells_without_it_out_of_range():
    always_blurred = plain(blur_probability=1.0, blur_sigma=(1.0, 3.0))
    assert grid.in_range("noise15", "sr", always_blurred) == \
        (False, "no blur, but the training chain always blurs, with sigma >= 1")
    assert grid.in_range("blur2.0+noise20+jpeg50", "sr", always_blurred)[0]
    assert grid.in_range("noise15", "sr", plain(blur_probability=0.9, blur_sigma=(1.0, 3.0)))[0]
    assert grid.in_range("noise15", "sr", plain(blur_sigma=(grid.NEGLIGIBLE_BLUR_SIGMA, 3.0)))[0]
    assert grid.in_range("blur2.0", "sr", plain(noise_sigma=(5.0, 30.0))) == \
        (False, "no noise, but the training chain always adds noise, with sigma >= 5")
    assert grid.in_range("blur2.0", "sr", plain(noise_sigma=(grid.NEGLIGIBLE_NOISE_SIGMA, 30.0)))[0]
    assert grid.in_range("noise15", "sr", plain(jpeg_quality=(30, 90))) == \
        (False, "no JPEG, but the training chain always compresses, at quality <= 90")
    assert grid.in_range("noise15", "sr", plain(jpeg_quality=(30, 90), jpeg_probability=0.5))[0]
    assert grid.in_range("noise15", "sr", plain(jpeg_quality=(30, grid.NEGLIGIBLE_JPEG_QUALITY)))[0]


def test_the_second_order_chain_covers_the_union_of_its_rounds():
    default = plain(order=2)
    assert [cell.name for cell in grid.SR_GRID if not grid.in_range(cell, "sr", default)[0]] == BEYOND_CELLS
    gap = plain(order=2, noise_sigma=(1.0, 10.0), second_noise_sigma=(20.0, 25.0))
    assert grid.in_range("noise5", "sr", gap)[0] and grid.in_range("noise20", "sr", gap)[0]
    assert grid.in_range("noise15", "sr", gap) == \
        (False, "noise 15 outside [1, 10] U [20, 25], the training chain's noise sigmas")
    assert grid.in_range("noise40", "sr", gap) == \
        (False, "noise 40 > 25, the training chain's highest noise sigma")
    # A second-round blur wider than the first round's reaches blur2.0, unless that round never happens.
    assert not grid.in_range("blur2.0", "sr", plain(blur_sigma=(0.2, 1.0)))[0]
    wider = dict(order=2, blur_sigma=(0.2, 1.0), second_blur_sigma=(0.2, 2.5))
    assert grid.in_range("blur2.0", "sr", plain(**wider))[0]
    for never in (dict(second_order_probability=0.0), dict(second_blur_probability=0.0)):
        assert grid.in_range("blur2.0", "sr", plain(**wider, **never)) == \
            (False, "blur 2 > 1, the training chain's highest blur sigma")
    jpeg = plain(order=2, jpeg_quality=(60, 95), second_jpeg_quality=(30, 50))
    assert grid.in_range("jpeg50", "sr", jpeg)[0] and grid.in_range("jpeg90", "sr", jpeg)[0]
    assert not grid.in_range("jpeg20", "sr", jpeg)[0]


def test_the_second_order_chain_leaves_a_stage_out_only_when_both_rounds_can():
    blurred = dict(order=2, second_blur_probability=1.0, second_blur_sigma=(1.0, 1.5))
    assert grid.in_range("noise15", "sr", plain(**blurred)) == \
        (False, "no blur, but the training chain always blurs (second round), with sigma >= 1")
    assert grid.in_range("noise15", "sr", plain(**blurred, second_order_probability=0.9))[0]
    assert grid.in_range("noise15", "sr", plain(order=2, blur_probability=1.0, blur_sigma=(1.0, 3.0))) == \
        (False, "no blur, but the training chain always blurs (first round), with sigma >= 1")
    assert grid.in_range("blur2.0", "sr", plain(order=2, second_noise_sigma=(4.0, 25.0))) == \
        (False, "no noise, but the training chain always adds noise (second round), with sigma >= 4 "
                "(or Poisson noise)")
    assert grid.in_range("noise15", "sr", plain(order=2, second_jpeg_quality=(30, 80))) == \
        (False, "no JPEG, but the training chain always compresses (second round), at quality <= 80")


def test_plain_bicubic_training_covers_only_the_clean_cell():
    assert grid.in_range("bicubic", "sr") == (True, "in range")
    assert grid.in_range("blur1.0", "sr") == (False, "blur 1: the run trains on bicubic inputs only")
    assert grid.in_range("noise20+jpeg50", "sr") == (False, "noise 20: the run trains on bicubic inputs only")
    assert grid.in_range("jpeg90", "sr") == (False, "JPEG quality 90: the run trains on bicubic inputs only")


def test_denoising_is_in_range_inside_its_noise_range_or_at_its_fixed_sigma():
    blind = {cell.name: grid.in_range(cell, "denoise", noise_range=[0, 50]) for cell in grid.DENOISE_GRID}
    assert blind == {
        "sigma15": (True, "in range"), "sigma25": (True, "in range"), "sigma50": (True, "in range"),
        "sigma60": (False, "noise 60 > 50, the training range's highest noise sigma"),
        "sigma75": (False, "noise 75 > 50, the training range's highest noise sigma"),
    }
    assert grid.in_range("sigma15", "denoise", noise_range=(20, 50)) == \
        (False, "noise 15 < 20, the training range's lowest noise sigma")
    assert grid.in_range("sigma25", "denoise", sigma=25) == (True, "in range")
    assert grid.in_range("sigma15", "denoise", sigma=25) == \
        (False, "noise 15 != 25, the fixed training noise sigma")
    assert grid.in_range("sigma60", "denoise", noise_range=(0, 75), sigma=25)[0]  # The range decides.
    with pytest.raises(ValueError, match="noise_range"):
        grid.in_range("sigma25", "denoise")
    with pytest.raises(ValueError, match="'sigma9'"):
        grid.in_range("sigma9", "denoise", sigma=25)


def test_same_as_plain_is_the_cell_the_plain_test_set_already_scores():
    assert [cell.name for cell in grid.SR_GRID if grid.same_as_plain(cell, "sr")] == ["bicubic"]
    assert [cell.name for cell in grid.DENOISE_GRID if grid.same_as_plain(cell, "denoise", sigma=25)] == \
        ["sigma25"]
    assert not any(grid.same_as_plain(cell, "denoise", sigma=30) for cell in grid.DENOISE_GRID)
    assert grid.same_as_plain("sigma50", "denoise", 50.0)
    with pytest.raises(ValueError, match="sigma"):
        grid.same_as_plain("sigma25", "denoise")
