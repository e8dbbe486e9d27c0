"""Statistics and invariants of `drop_block_2d` (runs under every backend)."""

import keras
import numpy as np
import pytest
from keras import ops

from dropblock import drop_block
from dropblock.gamma import calibrated_gamma
from dropblock.gamma import expected_drop_fraction
from dropblock.gamma import paper_gamma

pytestmark = pytest.mark.backend_agnostic

# Published values for a 64x64 map and rate 0.1 (Ghiasi et al. Eq. 1 and the
# exact expectation with valid-region seeds), block sizes 3, 5 and 7.
PAPER_GAMMA = {3: 0.011840, 5: 0.004551, 7: 0.002485}
CALIBRATED_GAMMA = {3: 0.012420, 5: 0.004804, 7: 0.002632}
PAPER_REALISED = {3: 0.0955, 5: 0.0950, 7: 0.0947}
DRAWS = 400


def dropped_fraction(block_size, gamma, seed):
    """Fraction of zeros over DRAWS samples of a 1x64x64x32 map of ones."""
    ones = np.ones((DRAWS // 4, 64, 64, 32), "float32")
    zeros = 0
    for chunk in range(4):
        outputs = drop_block.drop_block_2d(
            ones, 0.1, block_size, gamma=gamma, normalize="none", seed=seed + chunk
        )
        zeros += float(np.mean(ops.convert_to_numpy(outputs) == 0))
    return zeros / 4


@pytest.mark.parametrize("block_size", [3, 5, 7])
def test_gamma_matches_published_values(block_size):
    """Eq. 1 and the calibrated gamma agree with the published table."""
    paper = float(paper_gamma(0.1, 64, 64, block_size))
    calibrated = float(calibrated_gamma(0.1, 64, 64, block_size))
    assert paper == pytest.approx(PAPER_GAMMA[block_size], abs=2e-6)
    assert calibrated == pytest.approx(CALIBRATED_GAMMA[block_size], abs=2e-6)
    expected = float(expected_drop_fraction(paper, 64, 64, block_size))
    assert expected == pytest.approx(PAPER_REALISED[block_size], abs=1e-4)


@pytest.mark.parametrize("block_size", [3, 5, 7])
def test_calibrated_gamma_realises_the_rate(block_size):
    """Over 400 draws the calibrated mode drops 0.100 +- 0.0015 of the units."""
    realised = dropped_fraction(block_size, "calibrated", seed=block_size)
    assert realised == pytest.approx(0.1, abs=0.0015)


@pytest.mark.parametrize("block_size", [3, 5, 7])
def test_paper_gamma_realises_the_exact_expectation(block_size):
    """Eq. 1 drops the analytic expectation, measurably less than the rate."""
    gamma = paper_gamma(0.1, 64, 64, block_size)
    expected = float(expected_drop_fraction(gamma, 64, 64, block_size))
    realised = dropped_fraction(block_size, "paper", seed=10 + block_size)
    assert realised == pytest.approx(expected, abs=0.0015)
    assert realised < 0.098


@pytest.mark.parametrize("rate", [0.01, 0.3, 0.7, 0.95])
@pytest.mark.parametrize("shape", [(64, 40), (7, 5), (3, 9), (1, 1)])
def test_calibrated_expectation_equals_rate_for_any_map(rate, shape):
    """Solving the exact expectation hits the rate on odd, small and 1x1 maps."""
    gamma = calibrated_gamma(rate, shape[0], shape[1], (7, 4))
    expected = expected_drop_fraction(gamma, shape[0], shape[1], (7, 4))
    assert float(expected) == pytest.approx(rate, abs=1e-5)


@pytest.mark.parametrize("block_size", [(1, 1), (2, 2), (3, 3), (4, 4), (2, 5), (5, 2)])
@pytest.mark.parametrize("corner", [(0, 0), (3, 4), (6, 5)])
def test_single_seed_grows_into_one_exact_block(block_size, corner):
    """One seed becomes exactly one contiguous bh x bw block at its corner."""
    height, width = 12, 11
    block_h, block_w = block_size
    seeds = np.zeros((1, height - block_h + 1, width - block_w + 1, 1), "float32")
    seeds[0, corner[0], corner[1], 0] = 1.0
    blocks = ops.convert_to_numpy(
        drop_block.grow_blocks(seeds, block_size, height, width)
    )[0, :, :, 0]
    expected = np.zeros((height, width), "float32")
    expected[corner[0] : corner[0] + block_h, corner[1] : corner[1] + block_w] = 1
    np.testing.assert_array_equal(blocks, expected)


def test_block_larger_than_map_is_clipped_per_axis():
    """A 7x3 block on a 4x9 map drops whole columns of height 4, width 3."""
    seeds = np.zeros((1, 1, 7, 1), "float32")
    seeds[0, 0, 2, 0] = 1.0
    blocks = ops.convert_to_numpy(drop_block.grow_blocks(seeds, (7, 3), 4, 9))
    expected = np.zeros((4, 9), "float32")
    expected[:, 2:5] = 1
    np.testing.assert_array_equal(blocks[0, :, :, 0], expected)


@pytest.mark.parametrize("shape", [(64, 40), (40, 64)])
def test_non_square_maps_drop_every_row_and_column_symmetrically(shape):
    """Every row and column is dropped; profiles match the exact expectation within 0.006."""
    height, width = shape
    ones = np.ones((200, height, width, 32), "float32")
    seed = keras.random.SeedGenerator(3)
    rows, cols = 0, 0
    for _ in range(4):  # 800 draws: each profile entry is within about 0.001 of its expectation.
        outputs = drop_block.drop_block_2d(ones, 0.1, 7, normalize="none", seed=seed)
        dropped = ops.convert_to_numpy(outputs) == 0
        rows = rows + dropped.mean(axis=(0, 2, 3)) / 4
        cols = cols + dropped.mean(axis=(0, 1, 3)) / 4
    assert rows.min() > 0 and cols.min() > 0
    np.testing.assert_allclose(rows, rows[::-1], atol=0.006)
    np.testing.assert_allclose(cols, cols[::-1], atol=0.006)
    gamma = float(calibrated_gamma(0.1, height, width, 7))
    expected_rows = [_row_expectation(gamma, height, width, 7, i) for i in range(height)]
    np.testing.assert_allclose(rows, expected_rows, atol=0.006)


def _row_expectation(gamma, height, width, block, row):
    """Exact drop probability of a unit, averaged over one row."""
    valid_h, valid_w = height - block + 1, width - block + 1
    a = min(row, valid_h - 1) - max(row - block + 1, 0) + 1
    cols = np.arange(width)
    b = np.minimum(cols, valid_w - 1) - np.maximum(cols - block + 1, 0) + 1
    return float(np.mean(1 - (1 - gamma) ** (a * b)))


def test_a_block_larger_than_the_map_equals_the_map_sized_block():
    """Block 1000 on a 24x20 map is clipped before pooling: the same masks as block (24, 20)."""
    inputs = np.ones((2, 24, 20, 3), "float32")
    huge, clipped = (
        ops.convert_to_numpy(drop_block.drop_block_2d(
            inputs, 0.3, block, seed=keras.random.SeedGenerator(4), normalize="none"))
        for block in ((1000, 1000), (24, 20))
    )
    np.testing.assert_array_equal(huge, clipped)
    assert 0 < (huge == 0).mean() < 1
