"""Uncertainty of a PSNR gain: intervals over seeds, paired tests over images.

The PSNR gains claimed for dropout-type regularizers in restoration are a few
hundredths of a dB, while reruns of one training recipe differ by up to about
0.06 dB. A gain is therefore reported with two kinds of uncertainty:

- over seeds: each seed trains both arms once; the per-seed gains are paired
  and a Student's t interval is put on their mean. This is the interval that
  accounts for training noise and the one a conclusion should rest on.
- over images: for the trained models at hand, per-image PSNR differences
  (same image, same seed) are tested with a paired bootstrap and a Wilcoxon
  signed-rank test. These say whether the difference is consistent across
  images, not whether it would survive retraining.

At the seed level the t interval is backed by an exact sign-flip test, which
assumes only that a gain is as likely to come out with either sign under "no
effect", not that the per-seed gains are normal.

Several arms are compared with one baseline, so the p-values are corrected
for multiplicity: Holm's step-down adjustment over the few pre-registered
primary arms (family-wise error), Benjamini-Hochberg q-values over the whole
family of secondary comparisons (false discovery rate). `verdict` turns a
primary arm's interval and Holm-adjusted p-value into "confirmed",
"refuted" or "inconclusive" by a rule fixed before the runs.
"""

import dataclasses

import numpy as np
from scipy import stats

# Resampled means and sign patterns are computed in batches so that memory
# stays bounded (about this many values at once) for large image sets.
_BATCH_VALUES = 2_000_000

# The sign-flip test enumerates all 2^n sign patterns up to this many seeds
# (2^20 patterns take well under a second) and samples them beyond.
_SIGN_FLIP_EXACT_MAX = 20
_SIGN_FLIP_DRAWS = 200_000

# Verdicts of `verdict`.
CONFIRMED = "confirmed"
REFUTED = "refuted"
INCONCLUSIVE = "inconclusive"


@dataclasses.dataclass(frozen=True)
class PairedGain:
    """Gain of an arm over the baseline, paired by seed.

    Args:
        mean: mean over seeds of (arm - baseline).
        low: lower end of the t interval; `nan` with a single seed.
        high: upper end of the t interval; `nan` with a single seed.
        seeds: the seeds present in both arms, sorted.
        differences: the per-seed gains, in the order of `seeds`.
    """

    mean: float
    low: float
    high: float
    seeds: tuple
    differences: tuple


# Fewer image pairs than this make a bootstrap distribution of a handful of values: not reported.
MIN_BOOTSTRAP_PAIRS = 10

def _as_finite_vector(values, name):
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"`{name}` must be a non-empty one-dimensional sequence of numbers. "
            f"Expected at least one value. Received: {name} with shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f"`{name}` must contain finite numbers only. Expected no nan or inf. "
            f"Received: {name}={array.tolist()}"
        )
    return array


def _check_level(level):
    if not 0.0 < level < 1.0:
        raise ValueError(
            f"The confidence level must lie strictly between 0 and 1. Expected e.g. 0.95. "
            f"Received: level={level}"
        )


def mean_confidence_interval(values, level=0.95):
    """Mean and Student's t confidence interval of the mean.

    The values are treated as independent draws (one per seed), so the
    interval is `mean +- t_{(1+level)/2, n-1} * s / sqrt(n)` with `s` the
    sample standard deviation. One value gives no estimate of the spread:
    the interval is then `(nan, nan)`.

    Args:
        values: sequence of finite numbers, one per seed.
        level: confidence level, strictly between 0 and 1.

    Returns:
        A tuple `(mean, low, high)` of floats.

    Reference:
        - Student, The probable error of a mean, Biometrika 6 (1908).
    """
    _check_level(level)
    array = _as_finite_vector(values, "values")
    mean = float(array.mean())
    if array.size < 2:
        return mean, float("nan"), float("nan")
    standard_error = array.std(ddof=1) / np.sqrt(array.size)
    half_width = stats.t.ppf((1.0 + level) / 2.0, array.size - 1) * standard_error
    return mean, float(mean - half_width), float(mean + half_width)


def paired_gain(baseline_runs, arm_runs, level=0.95):
    """Gain of an arm over the baseline, paired by seed, with a t interval.

    Pairing removes whatever the two arms of one seed share (data order and
    initial weights, when training derives them from the seed) from the
    run-to-run noise; seeds finished by only one arm are left out.

    Args:
        baseline_runs: mapping from seed to the baseline's score (e.g. PSNR).
        arm_runs: mapping from seed to the arm's score.
        level: confidence level of the interval.

    Returns:
        A `PairedGain`.
    """
    seeds = tuple(sorted(set(baseline_runs) & set(arm_runs)))
    if not seeds:
        raise ValueError(
            "Cannot pair runs without a seed finished by both arms. Expected at least "
            f"one common seed. Received: baseline seeds={sorted(baseline_runs)}, "
            f"arm seeds={sorted(arm_runs)}"
        )
    differences = [float(arm_runs[seed]) - float(baseline_runs[seed]) for seed in seeds]
    mean, low, high = mean_confidence_interval(differences, level)
    return PairedGain(mean, low, high, seeds, tuple(differences))


def _batch(array):
    return max(1, _BATCH_VALUES // array.size)


def paired_bootstrap(differences, resamples=10000, seed=0, level=0.95):
    """Percentile bootstrap of the mean paired difference, with a p-value.

    Pairs (same image, same seed) are resampled with replacement. The p-value
    for "the mean difference is 0" is two-sided: the fraction of bootstrap
    means on the other side of 0 from the observed mean, doubled, capped at 1
    and floored at `1 / resamples` (a bootstrap with `resamples` draws cannot
    resolve smaller values). It is below `1 - level` essentially when the
    percentile interval excludes 0. Pairs from different seeds of the same
    image are treated as independent, so the result speaks about these
    trained models, not about retraining.

    Args:
        differences: per-pair differences (arm - baseline), finite.
        resamples: number of bootstrap resamples.
        seed: seed of the resampling, for reproducible numbers.
        level: confidence level of the percentile interval.

    Returns:
        A tuple `(mean, low, high, p_value)`; with a single difference only
        the mean is defined and the other three are `nan`.

    Reference:
        - Efron and Tibshirani, An Introduction to the Bootstrap, Chapman &
          Hall (1993), chapters 13 and 16.
    """
    _check_level(level)
    if int(resamples) != resamples or resamples < 1:
        raise ValueError(
            f"`resamples` must be a positive integer. Expected e.g. 10000. "
            f"Received: resamples={resamples}"
        )
    array = _as_finite_vector(differences, "differences")
    mean = float(array.mean())
    if array.size < 2:
        return mean, float("nan"), float("nan"), float("nan")
    result = stats.bootstrap((array,), np.mean, n_resamples=int(resamples), method="percentile",
                             confidence_level=level, batch=_batch(array), rng=seed)
    means = result.bootstrap_distribution
    low, high = result.confidence_interval
    other_side = np.mean(means <= 0.0) if mean > 0 else np.mean(means >= 0.0) if mean < 0 else 0.5
    p_value = min(1.0, max(2.0 * other_side, 1.0 / resamples))
    return mean, float(low), float(high), float(p_value)


def wilcoxon_signed_rank(differences):
    """Two-sided Wilcoxon signed-rank p-value for paired differences.

    A rank test does not assume normal differences and is not swayed by a
    few images with large gains. Zero differences are dropped (Wilcoxon's
    convention); when every difference is zero the arms are identical on
    these pairs and the p-value is 1.

    Args:
        differences: per-pair differences (arm - baseline), finite.

    Returns:
        The p-value, a float in [0, 1].

    Reference:
        - Wilcoxon, Individual comparisons by ranking methods, Biometrics
          Bulletin 1 (1945).
    """
    array = _as_finite_vector(differences, "differences")
    if not np.any(array):
        return 1.0
    result = stats.wilcoxon(array, zero_method="wilcox", alternative="two-sided")
    return float(result.pvalue)


def sign_flip_p(differences, seed=0):
    """Two-sided sign-flip (permutation) p-value for "the mean difference is 0".

    Under the null hypothesis each per-seed difference is as likely to have
    come out with either sign, so every one of the 2^n patterns of signs is
    as likely as the observed one. The p-value is the fraction of patterns
    whose mean has an absolute value at least that of the observed mean; ties
    count (up to a rounding tolerance relative to the observed sum, so
    rescaling the differences leaves p unchanged), the observed pattern and
    its mirror image included, so the exact p is never below `2 / 2^n` (0.25
    with three seeds, 0.0625 with five). Nothing is assumed about the shape
    of the distribution beyond its symmetry. The patterns are
    `scipy.stats.permutation_test`'s (`permutation_type="samples"`).

    Up to 20 differences all 2^n patterns are enumerated and the p-value is
    exact. Beyond, it is a Monte-Carlo estimate from 200,000 random sign
    patterns drawn with `seed`: twice the smaller one-sided estimate
    `(count + 1) / (200,000 + 1)`, capped at 1, which is never 0 and keeps
    the test valid.

    Args:
        differences: per-seed differences (arm - baseline), finite.
        seed: seed of the random sign patterns; used only beyond 20 differences.

    Returns:
        The p-value, a float in (0, 1]; 1 when every difference is zero.

    Reference:
        - Fisher, The Design of Experiments, Oliver and Boyd (1935), section 21.
        - Phipson and Smyth, Permutation p-values should never be zero,
          Statistical Applications in Genetics and Molecular Biology 9 (2010).
    """
    array = _as_finite_vector(differences, "differences")
    if array.size < 2 or not np.any(array):  # Both patterns of one difference reach it.
        return 1.0
    exact = array.size <= _SIGN_FLIP_EXACT_MAX
    result = stats.permutation_test(
        (array,), lambda values, axis: np.sum(values, axis=axis), permutation_type="samples",
        vectorized=True, n_resamples=np.inf if exact else _SIGN_FLIP_DRAWS, batch=_batch(array),
        rng=seed)
    return float(result.pvalue)


def paired_t_p(differences):
    """Two-sided p-value of the paired (one-sample) t test of mean 0.

    `t = mean / (s / sqrt(n))` with `s` the sample standard deviation, and
    `p = 2 * P(T_{n-1} >= |t|)`. The test rejects at level `alpha` exactly
    when the `1 - alpha` interval of `mean_confidence_interval` excludes 0.
    Differences without spread are decided without a t statistic: all zero
    gives p = 1, all equal and nonzero gives p = 0.

    Args:
        differences: per-seed differences (arm - baseline), finite.

    Returns:
        The p-value, a float in [0, 1]; `nan` with a single difference.

    Reference:
        - Student, The probable error of a mean, Biometrika 6 (1908).
    """
    array = _as_finite_vector(differences, "differences")
    if array.size < 2:
        return float("nan")
    if np.all(array == array[0]):
        return 1.0 if array[0] == 0.0 else 0.0
    standard_error = array.std(ddof=1) / np.sqrt(array.size)
    t_statistic = array.mean() / standard_error
    return float(min(1.0, 2.0 * stats.t.sf(abs(t_statistic), array.size - 1)))


def _adjust_family(p_values, adjust):
    """`adjust` applied to the array of a family's defined p-values, in input order; None for the rest."""
    entries = list(p_values)
    positions = [position for position, value in enumerate(entries)
                 if value is not None and not np.isnan(float(value))]
    values = np.asarray([float(entries[position]) for position in positions], dtype=np.float64)
    if not np.all((values >= 0.0) & (values <= 1.0)):
        raise ValueError(
            "`p_values` must lie in [0, 1], or be None or nan for a missing test. "
            f"Expected e.g. [0.01, 0.2, None]. Received: p_values={entries}"
        )
    result = [None] * len(entries)
    for position, value in zip(positions, adjust(values).tolist() if values.size else [], strict=True):
        result[position] = float(value)
    return tuple(result)


def _holm_step_down(values):
    order = np.argsort(values, kind="stable")
    steps = np.minimum(1.0, (values.size - np.arange(values.size)) * values[order])
    adjusted = np.empty(values.size)
    adjusted[order] = np.maximum.accumulate(steps)
    return adjusted


def holm(p_values):
    """Holm's step-down adjusted p-values (family-wise error control).

    With the m defined p-values sorted ascending, `p_(1) <= ... <= p_(m)`, the
    adjusted value of the i-th is `max_{j <= i} min(1, (m - j + 1) * p_(j))`.
    Rejecting where the adjusted p-value is below `alpha` keeps the chance of
    any false rejection in the family at most `alpha`, whatever the
    dependence between the tests. Meant for the few pre-registered primary
    arms.

    Args:
        p_values: sequence of p-values in [0, 1]; a None or nan entry (e.g.
            the t test of an arm with a single seed) is left out of the
            family, so it does not count in m, and comes back as None.

    Returns:
        A tuple of floats and Nones, in the order of `p_values`.

    Reference:
        - Holm, A simple sequentially rejective multiple test procedure,
          Scandinavian Journal of Statistics 6 (1979).
    """
    return _adjust_family(p_values, _holm_step_down)


def benjamini_hochberg(p_values):
    """Benjamini-Hochberg q-values (step-up false discovery rate control).

    With the m defined p-values sorted ascending, `p_(1) <= ... <= p_(m)`, the
    q-value of the i-th is `min_{j >= i} min(1, m * p_(j) / j)`. Reporting the
    comparisons with q below `alpha` keeps the expected fraction of false
    ones among them at most `alpha` for independent or positively dependent
    tests. Meant for the whole family of secondary comparisons.

    Args:
        p_values: sequence of p-values in [0, 1]; a None or nan entry is left
            out of the family, so it does not count in m, and comes back as
            None.

    Returns:
        A tuple of floats and Nones, in the order of `p_values`.

    Reference:
        - Benjamini and Hochberg, Controlling the false discovery rate: a
          practical and powerful approach to multiple testing, Journal of the
          Royal Statistical Society B 57 (1995).
    """
    return _adjust_family(p_values, stats.false_discovery_control)


def _is_missing(value):
    return value is None or np.isnan(float(value))


def verdict(mean, low, high, margin, p_adjusted, alpha=0.05):
    """Pre-registered verdict on a primary arm's gain over the baseline.

    The rule, fixed before the runs:

    - "confirmed" when the multiplicity-adjusted p-value (Holm over the
      primary arms, of the paired t test over seeds) is below `alpha`, the
      mean gain is positive and the mean gain is at least `margin`. With a
      single primary arm this reads: the `1 - alpha` interval lies above 0
      and the mean reaches the margin.
    - "refuted" when the upper end `high` of the interval is below `margin`:
      a gain as large as the margin is excluded.
    - "inconclusive" otherwise, in particular when the interval is undefined
      (`low` or `high` None or nan, i.e. a single seed); a missing adjusted
      p-value (None or nan) never confirms.

    The two decisive outcomes exclude each other: confirming needs
    `mean >= margin`, refuting `high < margin`, and `mean <= high`.

    Args:
        mean: mean gain over seeds, finite.
        low: lower end of the interval of the mean, or None/nan.
        high: upper end of the interval of the mean, or None/nan.
        margin: smallest gain worth claiming, >= 0 (e.g. 0.02 dB).
        p_adjusted: Holm-adjusted p-value of the arm, in [0, 1], or None/nan.
        alpha: significance level, strictly between 0 and 1.

    Returns:
        One of the strings "confirmed", "refuted", "inconclusive".
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(
            f"`alpha` must lie strictly between 0 and 1. Expected e.g. 0.05. Received: alpha={alpha}"
        )
    if not (np.isfinite(margin) and margin >= 0.0):
        raise ValueError(
            "`margin` must be a finite number >= 0 (the smallest gain worth claiming). "
            f"Expected e.g. 0.02. Received: margin={margin}"
        )
    if mean is None or not np.isfinite(mean):
        raise ValueError(f"`mean` must be a finite number. Expected e.g. 0.03. Received: mean={mean}")
    if not _is_missing(p_adjusted) and not 0.0 <= p_adjusted <= 1.0:
        raise ValueError(
            "`p_adjusted` must lie in [0, 1], or be None or nan when undefined. "
            f"Expected e.g. 0.01. Received: p_adjusted={p_adjusted}"
        )
    if _is_missing(low) or _is_missing(high):
        return INCONCLUSIVE
    if not low <= mean <= high:
        raise ValueError(
            "The interval must contain the mean. Expected low <= mean <= high. "
            f"Received: low={low}, mean={mean}, high={high}"
        )
    if not _is_missing(p_adjusted) and p_adjusted < alpha and mean > 0.0 and mean >= margin:
        return CONFIRMED
    if high < margin:
        return REFUTED
    return INCONCLUSIVE
