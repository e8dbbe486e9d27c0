"""Tests for the seed-level intervals and tests, the image-level paired tests,
the multiplicity corrections and the pre-registered verdict."""

import fractions
import itertools
import math

import numpy as np
import pytest
from scipy import stats

from restoration.reporting.statistics import benjamini_hochberg
from restoration.reporting.statistics import holm
from restoration.reporting.statistics import mean_confidence_interval
from restoration.reporting.statistics import paired_bootstrap
from restoration.reporting.statistics import paired_gain
from restoration.reporting.statistics import paired_t_p
from restoration.reporting.statistics import sign_flip_p
from restoration.reporting.statistics import verdict
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


def _sign_flip_by_enumeration(integers):
    """Exact sign-flip p-value of integer differences, as a fraction, by itertools."""
    observed = abs(sum(integers))
    patterns = list(itertools.product((1, -1), repeat=len(integers)))
    extreme = sum(
        abs(sum(sign * value for sign, value in zip(pattern, integers))) >= observed
        for pattern in patterns
    )
    return fractions.Fraction(extreme, len(patterns))


def test_sign_flip_of_all_positive_differences_is_two_over_two_to_the_n():
    """Only the observed pattern and its mirror image reach the observed |mean|."""
    assert sign_flip_p([0.01, 0.02, 0.03, 0.04, 0.05]) == 2 / 32
    assert sign_flip_p(np.linspace(0.01, 0.1, 10)) == 2 / 1024
    assert sign_flip_p(np.arange(1.0, 21.0)) == 2 / 2**20


def test_sign_flip_of_three_seeds_is_never_below_a_quarter():
    """With three seeds p >= 2 / 8 whatever the signs and magnitudes."""
    magnitudes = np.random.default_rng(21).uniform(0.001, 0.1, size=(20, 3))
    for values in magnitudes:
        for signs in itertools.product((1.0, -1.0), repeat=3):
            assert sign_flip_p(values * np.asarray(signs)) >= 0.25
    # Distinct magnitudes 1, 2, 4: the sums +-1 +-2 +-4 are 8 distinct values, 7 the largest.
    assert sign_flip_p([1.0, 2.0, 4.0]) == 0.25


def test_sign_flip_of_small_cases_enumerated_by_hand():
    """Three hand-enumerated cases, ties included."""
    # [1, 2, -3]: the 8 sums +-1 +-2 +-3 are
    #   +1+2+3 = 6, +1+2-3 = 0, +1-2+3 = 2, +1-2-3 = -4,
    #   -1+2+3 = 4, -1+2-3 = -2, -1-2+3 = 0, -1-2-3 = -6.
    # The observed sum is 0, so all 8 have |sum| >= 0: p = 8 / 8.
    assert sign_flip_p([1.0, 2.0, -3.0]) == 1.0
    # [4, 2, -1]: the sums +-4 +-2 +-1 are 7, 5, 3, 1, -1, -3, -5, -7; observed 4 + 2 - 1 = 5.
    # |sum| >= 5 for 7, 5, -5, -7: p = 4 / 8.
    assert sign_flip_p([4.0, 2.0, -1.0]) == 0.5
    # [3, 1, 2, -1], observed sum 5. With +3 the sums 3 +-1 +-2 +-1 are
    #   (+,+,+) 7, (+,+,-) 5, (+,-,+) 3, (+,-,-) 1, (-,+,+) 5, (-,+,-) 3, (-,-,+) 1, (-,-,-) -1,
    # so 7, 5, 5 reach |sum| >= 5 (two patterns tie at 5); with -3 the mirror images -7, -5, -5.
    # p = 6 / 16.
    assert sign_flip_p([3.0, 1.0, 2.0, -1.0]) == 0.375


def test_sign_flip_matches_an_itertools_enumeration_with_many_ties():
    """Small integer differences (many tied sums) give the exact fraction of extreme patterns."""
    generator = np.random.default_rng(8)
    for size in (1, 2, 5, 8, 11):
        integers = generator.integers(-4, 6, size=size).tolist()
        if not any(integers):
            continue
        expected = _sign_flip_by_enumeration(integers)
        assert fractions.Fraction(sign_flip_p(integers)) == expected


def test_sign_flip_is_symmetric_and_scale_invariant():
    """Negating or rescaling all differences leaves p unchanged, ties included."""
    differences = np.random.default_rng(13).normal(0.01, 0.03, size=9)
    reference = sign_flip_p(differences)
    assert sign_flip_p(-differences) == reference
    for scale in (1e-9, 1e-3, 0.01, 7.0, 1e6):
        assert sign_flip_p(differences * scale) == reference
        assert sign_flip_p(np.asarray([3.0, 1.0, 2.0, -1.0]) * scale) == 0.375
        assert sign_flip_p(-np.asarray([3.0, 1.0, 2.0, -1.0]) * scale) == 0.375
        # 0.1 + 0.2 - 0.3 is not exactly 0 in floating point: still a tie with every pattern.
        assert sign_flip_p(np.asarray([0.1, 0.2, -0.3]) * scale) == 1.0


def test_sign_flip_of_zero_differences_is_one():
    """Identical arms give p = 1, also with a single seed."""
    assert sign_flip_p([0.0, 0.0, 0.0]) == 1.0
    assert sign_flip_p([0.0]) == 1.0
    # One nonzero difference: its two patterns both reach |d|.
    assert sign_flip_p([0.02]) == 1.0


def test_sign_flip_beyond_twenty_seeds_is_a_monte_carlo_estimate():
    """Past 20 differences 200,000 random patterns plus the observed one are counted, each side."""
    # 25 positive differences: exact p = 2 / 2^25, far below the resolution; no random
    # pattern reaches the observed sum, so only the observed pattern counts, on either side.
    assert sign_flip_p(np.full(25, 0.01)) == pytest.approx(2 / 200_001, rel=1e-12)
    # 21 differences: exact p by doubling the 2^21 pattern sums, against two estimates.
    differences = np.random.default_rng(4).normal(0.3, 1.0, size=21)
    sums = np.zeros(1)
    for value in differences:
        sums = np.concatenate([sums + value, sums - value])
    exact = np.mean(np.abs(sums) >= abs(differences.sum()) - 1e-9)
    standard_error = math.sqrt(exact * (1.0 - exact) / 200_000)
    for seed in (0, 1):
        assert sign_flip_p(differences, seed=seed) == pytest.approx(exact, abs=4 * standard_error)
    assert sign_flip_p(differences, seed=5) == sign_flip_p(differences, seed=5)
    assert sign_flip_p(differences, seed=5) != sign_flip_p(differences, seed=6)
    # The seed plays no role in the exact enumeration.
    assert sign_flip_p(differences[:20], seed=0) == sign_flip_p(differences[:20], seed=9)


def test_sign_flip_rejects_invalid_differences():
    """Empty or non-finite differences raise a ValueError naming the input."""
    with pytest.raises(ValueError, match="Received: differences"):
        sign_flip_p([])
    with pytest.raises(ValueError, match="inf"):
        sign_flip_p([0.1, float("inf")])


def test_paired_t_p_matches_scipy():
    """The p-value equals scipy's one-sample t test of mean 0."""
    generator = np.random.default_rng(17)
    for size in (2, 3, 5, 10, 40):
        differences = generator.normal(0.01, 0.03, size=size)
        expected = stats.ttest_1samp(differences, 0.0).pvalue
        assert paired_t_p(differences) == pytest.approx(expected, rel=1e-12)


def test_paired_t_p_by_hand():
    """[3, 2, 5] (hundredths of a dB): t = 10 / sqrt(7), and with 2 dof p = 1 - 10 / sqrt(114)."""
    # mean 10/3, squared deviations 1/9 + 16/9 + 25/9 = 14/3, s^2 = 7/3, standard error sqrt(7) / 3,
    # t = (10/3) / (sqrt(7)/3) = 10 / sqrt(7). With 2 dof P(T > t) = (1 - t / sqrt(t^2 + 2)) / 2,
    # so p = 1 - (10 / sqrt(7)) / sqrt(100/7 + 2) = 1 - 10 / sqrt(114).
    expected = 1.0 - 10.0 / math.sqrt(114.0)
    assert paired_t_p([3.0, 2.0, 5.0]) == pytest.approx(expected, rel=1e-12)
    assert paired_t_p([0.03, 0.02, 0.05]) == pytest.approx(expected, rel=1e-12)
    assert paired_t_p([-0.03, -0.02, -0.05]) == pytest.approx(expected, rel=1e-12)
    # The same by the general formula p = 2 * sf(|t|, n - 1).
    values = np.asarray([0.012, -0.004, 0.021, 0.008])
    t_statistic = values.mean() / (values.std(ddof=1) / math.sqrt(4))
    assert paired_t_p(values) == pytest.approx(2.0 * stats.t.sf(abs(t_statistic), 3), rel=1e-12)


def test_paired_t_p_agrees_with_the_t_interval():
    """p < 0.05 exactly when the 95 % interval excludes 0; at level 1 - p an end lies on 0."""
    examples = [
        [0.03, 0.02, 0.05],  # p = 0.063: the interval still contains 0
        [0.02, 0.025, 0.01],  # p = 0.053
        [0.02, 0.025, 0.015],  # p = 0.012
        [0.01, 0.03, 0.02, -0.005],
        [-0.04, -0.03, -0.05, -0.02, -0.01],
        [0.01, -0.01, 0.02, -0.02, 0.005],
    ]
    decisions = []
    for values in examples:
        p_value = paired_t_p(values)
        mean, low, high = mean_confidence_interval(values, level=0.95)
        decisions.append(p_value < 0.05)
        assert (p_value < 0.05) == (low > 0.0 or high < 0.0)
        _, low_at_p, high_at_p = mean_confidence_interval(values, level=1.0 - p_value)
        end_at_zero = low_at_p if mean > 0 else high_at_p
        assert end_at_zero == pytest.approx(0.0, abs=1e-12 * max(abs(v) for v in values))
    assert decisions == [False, False, True, False, True, False]


def test_paired_t_p_degenerate_cases():
    """One value gives nan; no spread gives 1 for zero differences and 0 otherwise."""
    assert math.isnan(paired_t_p([0.02]))
    assert paired_t_p([0.0, 0.0, 0.0]) == 1.0
    assert paired_t_p([0.1, 0.1, 0.1]) == 0.0
    assert paired_t_p([-0.02, -0.02]) == 0.0
    with pytest.raises(ValueError, match="nan"):
        paired_t_p([0.1, float("nan")])


def test_holm_by_hand():
    """[0.01, 0.04, 0.03, 0.005]: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1."""
    # 4 * 0.005 = 0.02, 3 * 0.01 = 0.03, 2 * 0.03 = 0.06, 1 * 0.04 = 0.04 -> running max 0.06.
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert isinstance(adjusted, tuple) and all(isinstance(value, float) for value in adjusted)
    assert adjusted == pytest.approx((0.03, 0.06, 0.06, 0.02), rel=1e-12)


def test_holm_caps_at_one_and_keeps_the_order_of_the_raw_p_values():
    """Adjusted values never exceed 1, never fall below the raw ones and keep their order."""
    # 2 * 0.6 = 1.2 -> 1, then max(1, 0.7) = 1.
    assert holm([0.6, 0.7]) == (1.0, 1.0)
    # 2 * 0.4 = 0.8, then max(0.8, 0.6) = 0.8: the step-down maximum lifts the larger p.
    assert holm([0.4, 0.6]) == pytest.approx((0.8, 0.8), rel=1e-12)
    assert holm([0.02]) == (0.02,)
    p_values = np.random.default_rng(2).uniform(0.0, 0.2, size=12)
    adjusted = np.asarray(holm(p_values))
    order = np.argsort(p_values)
    assert np.all(np.diff(adjusted[order]) >= 0.0)
    assert np.all(adjusted >= p_values) and np.all(adjusted <= 1.0)
    # Against a direct loop over the definition.
    sorted_p = np.sort(p_values)
    expected_sorted = [
        max(min(1.0, (12 - j) * sorted_p[j]) for j in range(i + 1)) for i in range(12)
    ]
    np.testing.assert_allclose(adjusted[order], expected_sorted, rtol=1e-12, atol=0.0)


def test_holm_leaves_missing_p_values_out_of_the_family():
    """None and nan entries do not count in m and come back as None."""
    # Family of two: 2 * 0.01 = 0.02, 1 * 0.04 = 0.04.
    adjusted = holm([0.01, None, 0.04, float("nan")])
    assert adjusted[1] is None and adjusted[3] is None
    assert adjusted[0] == pytest.approx(0.02, rel=1e-12)
    assert adjusted[2] == pytest.approx(0.04, rel=1e-12)
    assert holm([None, float("nan")]) == (None, None)
    assert holm([]) == ()


def test_benjamini_hochberg_by_hand():
    """[0.01, 0.04, 0.03, 0.005, 0.5], m = 5: m * p / rank = 0.025, 0.025, 0.05, 0.05, 0.5."""
    # Sorted 0.005, 0.01, 0.03, 0.04, 0.5 at ranks 1..5: 5 * p / rank = 0.025, 0.025, 0.05, 0.05, 0.5,
    # already non-decreasing, so the q-values are these, put back in input order.
    q_values = benjamini_hochberg([0.01, 0.04, 0.03, 0.005, 0.5])
    assert isinstance(q_values, tuple) and all(isinstance(value, float) for value in q_values)
    assert q_values == pytest.approx((0.025, 0.05, 0.05, 0.025, 0.5), rel=1e-12)


def test_benjamini_hochberg_step_up_minimum_lowers_earlier_q_values():
    """A smaller m * p / rank further down lowers the q-values ranked before it."""
    # [0.01, 0.02, 0.025], m = 3: 3 * p / rank = 0.03, 0.03, 0.025 -> q = 0.025 for all three.
    assert benjamini_hochberg([0.01, 0.02, 0.025]) == pytest.approx((0.025, 0.025, 0.025), rel=1e-12)
    # [0.04, 0.02, 0.045, 0.001], m = 4: sorted 0.001, 0.02, 0.04, 0.045 give
    # 4 * p / rank = 0.004, 0.04, 0.0533, 0.045 -> q = 0.004, 0.04, 0.045, 0.045.
    assert benjamini_hochberg([0.04, 0.02, 0.045, 0.001]) == pytest.approx(
        (0.045, 0.04, 0.045, 0.004), rel=1e-12
    )
    # Capped at 1: 2 * 0.8 / 1 = 1.6 -> min with 2 * 0.9 / 2 = 0.9.
    assert benjamini_hochberg([0.8, 0.9]) == pytest.approx((0.9, 0.9), rel=1e-12)
    assert benjamini_hochberg([0.7]) == (0.7,)


def test_benjamini_hochberg_matches_scipy_and_is_below_holm():
    """q-values equal scipy's BH adjustment and never exceed Holm's adjusted p-values."""
    p_values = np.concatenate(
        [np.random.default_rng(6).uniform(0.0, 0.05, size=8), np.random.default_rng(7).uniform(size=12)]
    )
    q_values = np.asarray(benjamini_hochberg(p_values))
    if hasattr(stats, "false_discovery_control"):
        expected = stats.false_discovery_control(p_values, method="bh")
        np.testing.assert_allclose(q_values, expected, rtol=1e-12, atol=0.0)
    assert np.all(q_values <= np.asarray(holm(p_values)) + 1e-15)
    assert np.all(q_values >= p_values)


def test_benjamini_hochberg_leaves_missing_p_values_out_of_the_family():
    """None and nan entries do not count in m and come back as None."""
    # Family of two: 2 * 0.01 / 1 = 0.02, 2 * 0.04 / 2 = 0.04.
    q_values = benjamini_hochberg([None, 0.04, float("nan"), 0.01])
    assert q_values[0] is None and q_values[2] is None
    assert q_values[1] == pytest.approx(0.04, rel=1e-12)
    assert q_values[3] == pytest.approx(0.02, rel=1e-12)


def test_multiplicity_corrections_reject_p_values_outside_the_unit_interval():
    """A p-value below 0 or above 1 raises a ValueError naming the family."""
    for adjust in (holm, benjamini_hochberg):
        with pytest.raises(ValueError, match=r"Received: p_values=\[0.01, 1.5\]"):
            adjust([0.01, 1.5])
        with pytest.raises(ValueError, match="Received: p_values"):
            adjust([-0.1])


def test_verdict_confirmed():
    """Significant after adjustment, positive and at least the margin."""
    assert verdict(0.03, 0.01, 0.05, margin=0.02, p_adjusted=0.01) == "confirmed"
    # The mean exactly at the margin still confirms.
    assert verdict(0.02, 0.005, 0.035, margin=0.02, p_adjusted=0.049) == "confirmed"
    # Margin 0: any significant positive mean.
    assert verdict(0.001, 0.0005, 0.0015, margin=0.0, p_adjusted=0.001) == "confirmed"


def test_verdict_refuted():
    """The upper end of the interval below the margin excludes a gain worth claiming."""
    # Significant, but too small to matter.
    assert verdict(0.01, 0.005, 0.015, margin=0.02, p_adjusted=0.001) == "refuted"
    # Not significant and the interval below the margin.
    assert verdict(0.0, -0.01, 0.01, margin=0.02, p_adjusted=0.9) == "refuted"
    # Margin 0: a significant loss.
    assert verdict(-0.03, -0.05, -0.01, margin=0.0, p_adjusted=0.001) == "refuted"
    # A missing p-value does not prevent refuting.
    assert verdict(0.0, -0.01, 0.01, margin=0.02, p_adjusted=None) == "refuted"


def test_verdict_inconclusive():
    """Neither rule applies, or the interval is undefined."""
    # Mean above the margin but not significant after adjustment.
    assert verdict(0.03, -0.01, 0.07, margin=0.02, p_adjusted=0.2) == "inconclusive"
    # Significant but the mean below the margin while the interval reaches it.
    assert verdict(0.015, 0.005, 0.025, margin=0.02, p_adjusted=0.01) == "inconclusive"
    # One seed: no interval, whatever the mean.
    assert verdict(0.5, float("nan"), float("nan"), margin=0.02, p_adjusted=float("nan")) == "inconclusive"
    assert verdict(0.5, None, None, margin=0.02, p_adjusted=None) == "inconclusive"
    # A missing p-value never confirms.
    assert verdict(0.03, 0.01, 0.05, margin=0.02, p_adjusted=None) == "inconclusive"
    assert verdict(0.03, 0.01, 0.05, margin=0.02, p_adjusted=float("nan")) == "inconclusive"


def test_verdict_boundaries():
    """p equal to alpha does not confirm, high equal to the margin does not refute, mean 0 is not positive."""
    assert verdict(0.03, 0.0, 0.06, margin=0.02, p_adjusted=0.05) == "inconclusive"
    assert verdict(0.03, 0.0, 0.06, margin=0.02, p_adjusted=0.05, alpha=0.1) == "confirmed"
    assert verdict(0.03, 0.0, 0.06, margin=0.02, p_adjusted=0.02, alpha=0.01) == "inconclusive"
    assert verdict(0.01, 0.0, 0.02, margin=0.02, p_adjusted=0.3) == "inconclusive"
    assert verdict(0.01, 0.0, math.nextafter(0.02, 0.0), margin=0.02, p_adjusted=0.3) == "refuted"
    assert verdict(math.nextafter(0.02, 0.0), 0.01, 0.03, margin=0.02, p_adjusted=0.01) == "inconclusive"
    assert verdict(0.0, -0.01, 0.01, margin=0.0, p_adjusted=0.01) == "inconclusive"


def test_verdict_with_one_primary_arm_is_interval_above_zero_and_mean_at_margin():
    """With one arm Holm leaves p unchanged: confirmed iff the 95 % interval is above 0 and mean >= margin."""
    margin = 0.02
    examples = [
        [0.03, 0.025, 0.035, 0.028],  # interval above 0, mean 0.0295 >= margin
        [0.03, 0.02, 0.05],  # interval contains 0
        [0.012, 0.015, 0.011, 0.014],  # interval above 0, mean below margin, high below margin
        [0.018, 0.022, 0.013, 0.025],  # interval above 0, mean 0.0195 < margin <= high
        [0.0],
    ]
    outcomes = []
    for differences in examples:
        mean, low, high = mean_confidence_interval(differences)
        (p_adjusted,) = holm([paired_t_p(differences)])
        outcome = verdict(mean, low, high, margin, p_adjusted)
        outcomes.append(outcome)
        if outcome == "confirmed":
            assert low > 0.0 and mean >= margin
        elif low > 0.0 and mean >= margin:
            pytest.fail(f"{differences} should have been confirmed, got {outcome}")
    assert outcomes == ["confirmed", "inconclusive", "refuted", "inconclusive", "inconclusive"]


def test_verdict_rejects_invalid_arguments():
    """A negative or nan margin, alpha outside (0, 1), p outside [0, 1] or an interval missing the mean."""
    with pytest.raises(ValueError, match="Received: margin=-0.01"):
        verdict(0.03, 0.01, 0.05, margin=-0.01, p_adjusted=0.01)
    with pytest.raises(ValueError, match="Received: margin=nan"):
        verdict(0.03, 0.01, 0.05, margin=float("nan"), p_adjusted=0.01)
    with pytest.raises(ValueError, match="Received: alpha=1.0"):
        verdict(0.03, 0.01, 0.05, margin=0.02, p_adjusted=0.01, alpha=1.0)
    with pytest.raises(ValueError, match="Received: p_adjusted=1.2"):
        verdict(0.03, 0.01, 0.05, margin=0.02, p_adjusted=1.2)
    with pytest.raises(ValueError, match="Received: mean=nan"):
        verdict(float("nan"), 0.01, 0.05, margin=0.02, p_adjusted=0.01)
    with pytest.raises(ValueError, match="low <= mean <= high"):
        verdict(0.06, 0.01, 0.05, margin=0.02, p_adjusted=0.01)
