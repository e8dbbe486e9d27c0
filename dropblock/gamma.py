"""The seed probability of DropBlock: Eq. 1 of the paper and the exact solution.

With seeds only where a whole block fits, a unit covered by `a * b` valid
seed positions survives with probability `(1 - gamma) ** (a * b)`; the
expected dropped fraction follows exactly, and solving it for `gamma`
gives a seed probability that realises the requested rate on any map.

Reference:
    - [Ghiasi, Lin and Le, DropBlock: A regularization method for
      convolutional networks, NeurIPS 2018](https://arxiv.org/abs/1810.12890)
"""

import functools

import numpy as np
from keras import ops

# Newton's method on the concave, increasing expectation converges
# monotonically from below; 24 steps reach float32 precision even for a
# rate of 0.999 with 7x7 blocks.
_NEWTON_STEPS = 24


def normalize_block_size(block_size):
    """Returns `block_size` as a `(height, width)` tuple of positive ints."""
    received = block_size
    if isinstance(block_size, int) and not isinstance(block_size, bool):
        block_size = (block_size, block_size)
    if (
        not isinstance(block_size, (tuple, list))
        or len(block_size) != 2
        or not all(
            isinstance(b, int) and not isinstance(b, bool) and b > 0
            for b in block_size
        )
    ):
        raise ValueError(
            "Invalid value for argument `block_size`. Expected a positive "
            "integer or a tuple of two positive integers (height, width). "
            f"Received: block_size={received}"
        )
    return tuple(block_size)


def _is_static(*values):
    return all(isinstance(v, int) for v in values)


def _minimum(a, b):
    """`min` that keeps Python ints static (JAX traces every `ops` call)."""
    return min(a, b) if _is_static(a, b) else ops.minimum(a, b)


def static_maximum(a, b):
    """`max` that keeps Python ints static."""
    return max(a, b) if _is_static(a, b) else ops.maximum(a, b)


def _coverage_histogram(size, block):
    """Counts positions along one axis by how many valid seeds cover them.

    With `n = size - b + 1` valid seed positions (b = min(block, size)),
    position `i` is covered by `min(i, n - 1) - max(i - b + 1, 0) + 1` seeds,
    a number between 1 and b. Returns a float32 vector `h` of length `block`
    with `h[k - 1]` the number of positions covered by exactly `k` seeds.
    """
    if not _is_static(size):
        size = ops.cast(size, "int32")
    clipped = _minimum(size, block)
    valid = size - clipped + 1
    positions = ops.arange(0, size, dtype="int32")
    coverage = (
        ops.minimum(positions, valid - 1)
        - ops.maximum(positions - clipped + 1, 0)
        + 1
    )
    counts = ops.arange(1, block + 1, dtype="int32")
    one_hot = ops.equal(ops.expand_dims(coverage, 1), counts[None, :])
    return ops.sum(ops.cast(one_hot, "float32"), axis=0)


def expected_drop_fraction(gamma, height, width, block_size):
    """Exact expected fraction of dropped units for seed probability `gamma`.

    Seeds are drawn only where a whole block fits. A unit covered by `a * b`
    valid seed positions (a along rows, b along columns) survives with
    probability `(1 - gamma) ** (a * b)`.

    Args:
        gamma: Seed probability, a float or scalar tensor.
        height: Height of the feature map (int or scalar tensor).
        width: Width of the feature map (int or scalar tensor).
        block_size: int or `(height, width)` tuple.

    Returns:
        A float32 scalar tensor.
    """
    block_h, block_w = normalize_block_size(block_size)
    weights, exponents = _coverage_terms(height, width, block_h, block_w)
    gamma = ops.cast(gamma, "float32")
    survive = ops.sum(weights * ops.power(1.0 - gamma, exponents))
    return 1.0 - survive


def _coverage_terms(height, width, block_h, block_w):
    """Weights (fractions of units) and exponents of the survival sum."""
    rows = _coverage_histogram(height, block_h)
    cols = _coverage_histogram(width, block_w)
    total = ops.cast(height * width, "float32")
    weights = ops.reshape(rows[:, None] * cols[None, :] / total, (-1,))
    row_counts = ops.arange(1, block_h + 1, dtype="float32")
    col_counts = ops.arange(1, block_w + 1, dtype="float32")
    exponents = ops.reshape(row_counts[:, None] * col_counts[None, :], (-1,))
    return weights, exponents


@functools.lru_cache(maxsize=256)
def _calibrated_gamma_static(rate, height, width, block_h, block_w):
    """`calibrated_gamma` in float64 NumPy, for shapes known in Python."""

    def histogram(size, block):
        clipped = min(size, block)
        positions = np.arange(size)
        coverage = (
            np.minimum(positions, size - clipped)
            - np.maximum(positions - clipped + 1, 0)
            + 1
        )
        return np.bincount(coverage, minlength=block + 1)[1:]

    weights = np.outer(histogram(height, block_h), histogram(width, block_w))
    weights = (weights / (height * width)).ravel()
    exponents = np.outer(np.arange(1, block_h + 1), np.arange(1, block_w + 1)).ravel()
    log_keep = 0.0
    for _ in range(_NEWTON_STEPS):
        survive = weights * np.exp(-exponents * log_keep)
        log_keep -= (1.0 - survive.sum() - rate) / (exponents * survive).sum()
    return float(-np.expm1(-log_keep))


def _python_number(value):
    """`value` as a Python float when it is concrete, else None.

    Eager tensors and variables have a value; symbolic tensors inside
    `tf.function` or `jax.jit` raise when converted, and stay symbolic.
    """
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(ops.convert_to_numpy(value))
    except Exception:  # Symbolic tensors of any backend.
        return None


def calibrated_gamma(rate, height, width, block_size):
    """Seed probability whose exact expected drop fraction equals `rate`.

    Solves `1 - sum_k w_k exp(-k t) = rate` for `t = -log(1 - gamma)` with
    Newton's method. The left side is concave and increasing in `t`, so the
    iteration started at `t = 0` increases monotonically to the root.

    Args:
        rate: Target fraction of dropped units in `[0, 1)`.
        height: Height of the feature map (int or scalar tensor).
        width: Width of the feature map (int or scalar tensor).
        block_size: int or `(height, width)` tuple.

    Returns:
        A float32 scalar tensor.
    """
    block_h, block_w = normalize_block_size(block_size)
    static_rate = _python_number(rate)
    if static_rate is not None and _is_static(height, width):
        # Known shapes (eager calls, static graphs): solve once in NumPy
        # instead of running the iteration as tensor ops on every call.
        gamma = _calibrated_gamma_static(static_rate, height, width, block_h, block_w)
        return ops.convert_to_tensor(gamma, "float32")
    weights, exponents = _coverage_terms(height, width, block_h, block_w)
    rate = ops.cast(rate, "float32")
    log_keep = ops.zeros((), "float32")
    for _ in range(_NEWTON_STEPS):
        survive = weights * ops.exp(-exponents * log_keep)
        residual = 1.0 - ops.sum(survive) - rate
        slope = ops.sum(exponents * survive)
        log_keep = log_keep - residual / slope
    return -ops.expm1(-log_keep)


def paper_gamma(rate, height, width, block_size):
    """Seed probability of Eq. 1 of the paper, generalised to H x W maps.

    `gamma = rate * H * W / (bh * bw * (H - bh + 1) * (W - bw + 1))`, with the
    block clipped to the map. Overlapping blocks make the realised fraction
    of dropped units fall short of `rate`.
    """
    block_h, block_w = normalize_block_size(block_size)
    clipped_h = _minimum(height, block_h)
    clipped_w = _minimum(width, block_w)
    valid = (height - clipped_h + 1) * (width - clipped_w + 1)
    gamma = rate * ops.cast(height * width, "float32") / ops.cast(
        clipped_h * clipped_w * valid, "float32"
    )
    return ops.clip(gamma, 0.0, 1.0)


def static_seed_probability(rate, gamma, height, width, block_size):
    """The seed probability as a Python float, or None unless everything is known.

    Args:
        rate: A float, or None.
        gamma: `"calibrated"` or `"paper"`.
        height: Height of the feature map (int, or a tensor when unknown).
        width: Width of the feature map.
        block_size: `(height, width)` ints, already clipped to the map.
    """
    if rate is None or not _is_static(height, width):
        return None
    block_h, block_w = block_size
    if gamma == "paper":
        valid = (height - block_h + 1) * (width - block_w + 1)
        return min(1.0, rate * height * width / (block_h * block_w * valid))
    return _calibrated_gamma_static(float(rate), height, width, block_h, block_w)
