"""The two seed samplers draw the same Bernoulli seeds (runs under every backend)."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from dropblock import drop_block
from dropblock import sampling
from dropblock.gamma import expected_drop_fraction
from dropblock.gamma import static_seed_probability

pytestmark = pytest.mark.backend_agnostic


def poisson_tail(mean, k):
    """P(Poisson(mean) >= k), summed term by term from k in log space."""
    total, count = 0.0, k
    while True:
        term = math.exp(-mean + count * math.log(mean) - math.lgamma(count + 1))
        total += term
        if count > mean and term < total * 1e-17:
            return total
        count += 1


@pytest.mark.parametrize("mean", [0.3, 19.0, 164.0, 1272.0])
def test_capacity_is_the_smallest_count_with_a_negligible_tail(mean):
    capacity = sampling.poisson_capacity(mean)
    assert poisson_tail(mean, capacity) <= sampling.TAIL
    assert poisson_tail(mean, capacity - 1) > sampling.TAIL
    assert capacity < mean + 12 * math.sqrt(mean) + 30


def test_sparse_sampling_only_where_it_is_cheaper_and_possible():
    gamma = static_seed_probability(0.1, "calibrated", 96, 96, (7, 7))
    assert sampling.sparse_capacity(gamma, 90, 90, 64) is not None
    # Dropout-like blocks of 1 make one seed in ten positions: dense.
    assert sampling.sparse_capacity(0.1, 24, 24, 32) is None
    assert sampling.sparse_capacity(1.0, 24, 24, 32) is None
    # Unknown map sizes or no bound on the rate: dense.
    assert sampling.sparse_capacity(gamma, keras.ops.convert_to_tensor(90), 90, 64) is None
    assert sampling.sparse_capacity(None, 90, 90, 64) is None
    assert static_seed_probability(None, "calibrated", 96, 96, (7, 7)) is None


def sparse_seed_draws(gamma, valid, block, channels, samples, seed):
    capacity = sampling.sparse_capacity(gamma, valid[0], valid[1], channels)
    assert capacity is not None
    padded = sampling.sparse_padded_seeds(
        samples, valid, block, channels, ops.convert_to_tensor(gamma, "float32"), capacity,
        "float32", keras.random.SeedGenerator(seed),
    )
    return ops.convert_to_numpy(padded)


def test_sparse_seeds_are_independent_bernoulli_on_the_valid_grid():
    """Counts have the binomial mean and variance; places are uniform and uncorrelated."""
    gamma, valid, block, channels, samples = 0.01, (40, 32), (3, 5), 8, 2000
    padded = sparse_seed_draws(gamma, valid, block, channels, samples, seed=1)
    assert padded.shape == (samples, 40 + 4, 32 + 8, channels)
    assert set(np.unique(padded)) <= {0.0, 1.0}
    seeds = padded[:, 2:42, 4:36, :]
    assert seeds.sum() == padded.sum()  # Nothing in the padding.
    positions = 40 * 32 * channels
    counts = seeds.sum(axis=(1, 2, 3))
    mean, variance = positions * gamma, positions * gamma * (1 - gamma)
    assert counts.mean() == pytest.approx(mean, abs=4 * math.sqrt(variance / samples))
    # The sample variance of 2000 counts is within about 3 % of the truth.
    assert counts.var() == pytest.approx(variance, rel=0.1)
    for axis, size in ((1, 40), (2, 32), (3, channels)):
        other = tuple(a for a in (0, 1, 2, 3) if a != axis)
        hits = seeds.sum(axis=other)
        expected = hits.sum() / size
        chi2 = float(((hits - expected) ** 2 / expected).sum())
        assert chi2 < (size - 1) + 6 * math.sqrt(2 * (size - 1))
    left, right = seeds[:, :, :-1, :].ravel(), seeds[:, :, 1:, :].ravel()
    assert abs(np.corrcoef(left, right)[0, 1]) < 4 / math.sqrt(left.size)


def realised_fraction(rate, max_rate, seed):
    ones = np.ones((64, 40, 40, 32), "float32")
    generator = keras.random.SeedGenerator(seed)
    total = 0.0
    for _ in range(4):
        outputs = drop_block.drop_block_2d(
            ones, rate, 5, normalize="none", seed=generator, max_rate=max_rate
        )
        total += float(np.mean(ops.convert_to_numpy(outputs) == 0)) / 4
    return total


def test_dense_and_sparse_paths_realise_the_same_rate():
    """A tensor rate without a bound takes the dense path; with one, the sparse path."""
    rate = ops.convert_to_tensor(0.1, "float32")
    assert realised_fraction(rate, None, seed=2) == pytest.approx(0.1, abs=0.002)
    assert realised_fraction(rate, 0.1, seed=3) == pytest.approx(0.1, abs=0.002)


def test_a_rate_below_its_bound_is_realised_and_one_above_is_clipped():
    low = ops.convert_to_tensor(0.04, "float32")
    assert realised_fraction(low, 0.2, seed=4) == pytest.approx(0.04, abs=0.0015)
    high = ops.convert_to_tensor(0.5, "float32")
    assert realised_fraction(high, 0.1, seed=5) == pytest.approx(0.1, abs=0.002)
    zero = ops.convert_to_tensor(0.0, "float32")
    assert realised_fraction(zero, 0.1, seed=6) == 0.0


def test_paper_gamma_on_the_sparse_path_realises_its_expectation():
    gamma = static_seed_probability(0.1, "paper", 40, 40, (5, 5))
    expected = float(expected_drop_fraction(gamma, 40, 40, 5))
    ones = np.ones((256, 40, 40, 32), "float32")
    outputs = drop_block.drop_block_2d(ones, 0.1, 5, gamma="paper", normalize="none", seed=7)
    assert float(np.mean(ops.convert_to_numpy(outputs) == 0)) == pytest.approx(expected, abs=0.002)
