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
"""

import dataclasses

import numpy as np
from scipy import stats

# Bootstrap means are computed in chunks so that memory stays bounded
# (about this many resampled values at once) for large image sets.
_BOOTSTRAP_CHUNK_VALUES = 2_000_000


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


def _bootstrap_means(differences, resamples, seed):
    generator = np.random.default_rng(seed)
    rows_per_chunk = max(1, _BOOTSTRAP_CHUNK_VALUES // differences.size)
    means = np.empty(resamples)
    for start in range(0, resamples, rows_per_chunk):
        rows = min(rows_per_chunk, resamples - start)
        indices = generator.integers(0, differences.size, size=(rows, differences.size))
        means[start : start + rows] = differences[indices].mean(axis=1)
    return means


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
    means = _bootstrap_means(array, int(resamples), seed)
    low, high = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    if mean > 0:
        other_side = np.mean(means <= 0.0)
    elif mean < 0:
        other_side = np.mean(means >= 0.0)
    else:
        other_side = 0.5
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
