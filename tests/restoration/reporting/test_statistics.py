"""Tests for the seed-level intervals and the image-level paired tests."""

import math

import numpy as np
import pytest
from scipy import stats

from restoration.reporting.statistics import mean_confidence_interval
from restoration.reporting.statistics import paired_bootstrap
from restoration.reporting.statistics import paired_gain
from restoration.reporting.statistics import wilcoxon_signed_rank


def test_t_interval_matches_scipy_student_t():
    """The interval is mean +- t quantile times the standard error, as scipy computes it."""
    values = [33.12, 33.07, 33.15, 33.10, 33.02]
    mean, low, high = mean_confidence_interval(values, level=0.95)
    expected_low, expected_high = stats.t.interval(
        0.95, df=4, loc=np.mean(values), scale=stats.sem(values)
    )
    assert mean == pytest.approx(np.mean(values), abs=1e-12)
    assert low == pytest.approx(expected_low, abs=1e-12)
    assert high == pytest.approx(expected_high, abs=1e-12)


def test_t_interval_of_three_values_by_hand():
    """For 1, 2, 3 the half width is t(0.975, 2) / sqrt(3) = 2.4841."""
    mean, low, high = mean_confidence_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert high - mean == pytest.approx(4.302652729911275 / math.sqrt(3), abs=1e-9)
    assert mean - low == pytest.approx(high - mean, abs=1e-12)


def test_t_interval_narrows_with_a_lower_level():
    """A 90 % interval lies strictly inside the 95 % interval."""
    values = [0.01, -0.02, 0.03, 0.00]
    _, low_95, high_95 = mean_confidence_interval(values, level=0.95)
    _, low_90, high_90 = mean_confidence_interval(values, level=0.90)
    assert low_95 < low_90 < high_90 < high_95


def test_single_value_has_undefined_interval():
    """One seed gives the mean but no interval."""
    mean, low, high = mean_confidence_interval([33.1])
    assert mean == 33.1
    assert math.isnan(low) and math.isnan(high)


def test_invalid_inputs_are_rejected_with_the_received_value():
    """Empty values, nan and a level outside (0, 1) raise a ValueError naming the input."""
    with pytest.raises(ValueError, match="Received: values"):
        mean_confidence_interval([])
    with pytest.raises(ValueError, match="nan"):
        mean_confidence_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="Received: level=1.5"):
        mean_confidence_interval([1.0, 2.0], level=1.5)
    with pytest.raises(ValueError, match="Received: resamples=0"):
        paired_bootstrap([1.0, 2.0], resamples=0)


def test_t_interval_covers_the_true_mean_at_its_nominal_rate():
    """Over 2000 simulated 3-seed experiments the 95 % interval covers the true gain 93-97 %."""
    generator = np.random.default_rng(12345)
    true_gain = 0.02
    experiments = generator.normal(true_gain, 0.03, size=(2000, 3))
    covered = 0
    for gains in experiments:
        _, low, high = mean_confidence_interval(gains)
        covered += low <= true_gain <= high
    assert 0.93 <= covered / len(experiments) <= 0.97


def test_paired_gain_pairs_by_seed_and_skips_unpaired_seeds():
    """Only seeds finished by both arms count, and each is compared with its own seed."""
    baseline = {0: 33.00, 1: 33.10, 2: 32.90, 5: 40.0}
    arm = {2: 32.95, 0: 33.03, 1: 33.12, 7: 20.0}
    gain = paired_gain(baseline, arm)
    assert gain.seeds == (0, 1, 2)
    np.testing.assert_allclose(gain.differences, [0.03, 0.02, 0.05], atol=1e-9)
    expected = mean_confidence_interval([0.03, 0.02, 0.05])
    np.testing.assert_allclose((gain.mean, gain.low, gain.high), expected, atol=1e-12)


def test_paired_gain_without_common_seed_is_an_error():
    """Two arms with disjoint seeds cannot be compared."""
    with pytest.raises(ValueError, match="common seed"):
        paired_gain({0: 1.0}, {1: 1.0})


def test_bootstrap_interval_excludes_zero_for_a_large_shift():
    """A shift of 5 standard errors gives an interval around the shift and a tiny p-value."""
    differences = np.random.default_rng(0).normal(0.5, 1.0, size=100)
    mean, low, high, p_value = paired_bootstrap(differences, resamples=4000, seed=1)
    standard_error = differences.std(ddof=1) / np.sqrt(differences.size)
    assert mean == pytest.approx(differences.mean(), abs=1e-12)
    assert 0.0 < low < mean < high
    # The percentile interval of a mean is close to mean +- 1.96 standard errors.
    assert high - low == pytest.approx(2 * 1.96 * standard_error, rel=0.15)
    assert p_value == pytest.approx(1.0 / 4000)


def test_bootstrap_rejects_zero_mean_data_at_about_the_nominal_rate():
    """On symmetric zero-mean data p exceeds 0.05 in most draws, but not in all of them."""
    generator = np.random.default_rng(7)
    p_values = [
        paired_bootstrap(generator.normal(0.0, 1.0, size=60), resamples=2000, seed=index)[3]
        for index in range(200)
    ]
    fraction_not_rejected = np.mean(np.asarray(p_values) > 0.05)
    assert 0.88 <= fraction_not_rejected <= 0.99


def test_bootstrap_is_deterministic_for_a_seed():
    """The same seed gives identical numbers and another seed different ones."""
    differences = np.random.default_rng(3).normal(0.01, 0.05, size=40)
    first = paired_bootstrap(differences, resamples=1000, seed=11)
    assert paired_bootstrap(differences, resamples=1000, seed=11) == first
    assert paired_bootstrap(differences, resamples=1000, seed=12)[1:3] != first[1:3]


def test_bootstrap_of_a_single_difference_has_only_a_mean():
    """One pair gives its value as the mean and nan for the interval and p."""
    mean, low, high, p_value = paired_bootstrap([0.2])
    assert mean == 0.2
    assert all(math.isnan(value) for value in (low, high, p_value))


def test_bootstrap_negative_shift_counts_the_positive_side():
    """A negative mean is tested against bootstrap means at or above zero, symmetrically."""
    differences = np.random.default_rng(5).normal(0.1, 1.0, size=50)
    positive = paired_bootstrap(differences, resamples=3000, seed=2)
    negative = paired_bootstrap(-differences, resamples=3000, seed=2)
    assert negative[0] == pytest.approx(-positive[0], abs=1e-12)
    assert negative[3] == pytest.approx(positive[3], abs=1e-12)
    assert negative[1] == pytest.approx(-positive[2], abs=1e-12)


def test_wilcoxon_of_five_positive_differences_is_exact():
    """Five positive differences: the exact two-sided p-value is 2 / 2^5."""
    assert wilcoxon_signed_rank([0.1, 0.2, 0.3, 0.4, 0.5]) == pytest.approx(2 / 32, abs=1e-12)


def test_wilcoxon_of_all_zero_differences_is_one():
    """Identical arms give p = 1 instead of a scipy error."""
    assert wilcoxon_signed_rank([0.0, 0.0, 0.0]) == 1.0


def test_wilcoxon_detects_a_consistent_shift():
    """A small shift present on every image is significant with 100 images."""
    differences = 0.02 + np.random.default_rng(9).normal(0.0, 0.01, size=100)
    assert wilcoxon_signed_rank(differences) < 1e-6
