"""Where DropBlock's block seeds fall: a dense Bernoulli draw or a sparse Poisson one.

Seeds are independent Bernoulli(gamma) variables on the valid grid of every
map. The dense sampler draws one uniform number per position. With the
usual rates and blocks fewer than one position in a hundred is a seed, so
the sparse sampler draws only the seeds themselves:

A Poisson process of intensity `t = -log(1 - gamma)` per position puts a
Poisson(t) number of points on each position, independently, so a position
holds at least one point with probability `1 - exp(-t) = gamma`, independently
of the others: exactly the Bernoulli seeds. Per sample, the process over all
`C * Hv * Wv` positions is a Poisson(mu) count of uniformly placed points;
the count is read off cumulative sums of unit exponential gaps, the places
are uniform integers, and both fit a static shape of `capacity` slots, the
count that a Poisson variable of the largest mean exceeds with probability
below `TAIL` (about 1e-15 per sample). The result is scattered into the
padded layout that the block-growing max-pools read, so no separate padding
pass is needed.
"""

import functools
import math

import numpy as np
from keras import ops
from keras import random

from dropblock.replicas import draw_rows

# Probability that a sample holds more points than its capacity; those
# beyond it would be lost.
TAIL = 2.0**-50
# The sparse sampler is used when its slots are at most this fraction of the
# seed positions; beyond it one uniform number per position is cheaper.
SPARSE_FRACTION = 1 / 32
_INT32_LIMIT = 2**31 - 1


@functools.lru_cache(maxsize=1024)
def poisson_capacity(mean):
    """Smallest `k` with `P(Poisson(mean) >= k) <= TAIL`."""
    if mean <= 0:
        return 1
    top = int(mean + 40 * math.sqrt(mean) + 100)
    counts = np.arange(top + 1)
    log_pmf = -mean + counts * math.log(mean) - np.array([math.lgamma(k + 1) for k in counts])
    tails = np.cumsum(np.exp(log_pmf)[::-1])[::-1]  # tails[k] = P(X >= k)
    return max(int(np.argmax(tails <= TAIL)), 1)


def sparse_capacity(max_gamma, valid_h, valid_w, seed_channels):
    """Slots per sample for seeds of probability up to `max_gamma`, or None.

    None means the dense sampler should be used: the map size is not known
    in Python, the positions do not fit int32, or seeds are too dense for
    the sparse draw to be cheaper.
    """
    if max_gamma is None or not all(isinstance(v, int) for v in (valid_h, valid_w, seed_channels)):
        return None
    positions = valid_h * valid_w * seed_channels
    if max_gamma >= 1 or positions > _INT32_LIMIT:
        return None
    capacity = poisson_capacity(-math.log1p(-max_gamma) * positions)
    return capacity if capacity <= positions * SPARSE_FRACTION else None


def dense_seeds(shape, gamma, dtype, seed):
    """Bernoulli(gamma) seeds of `shape` `(B, Hv, Wv, C)`, 0s and 1s of `dtype`."""
    return ops.cast(ops.less(draw_rows(random.uniform, shape, seed=seed), gamma), dtype)


def sparse_padded_seeds(batch, valid_shape, block_size, seed_channels, gamma, capacity, dtype, seed):
    """Bernoulli(gamma) seeds of the valid grid, already padded for the max-pools.

    Args:
        batch: Batch size (int or scalar tensor).
        valid_shape: `(Hv, Wv)` ints, the grid where a whole block fits.
        block_size: `(bh, bw)` ints, clipped to the map.
        seed_channels: Number of seed maps per sample (int).
        gamma: Seed probability (float32 scalar tensor), at most the
            `max_gamma` that `capacity` was computed for.
        capacity: Slots per sample, from `sparse_capacity`.
        dtype: dtype of the result.
        seed: int, `keras.random.SeedGenerator` or None.

    Returns:
        A `(B, Hv + 2 (bh - 1), Wv + 2 (bw - 1), C)` tensor of 0s and 1s; the
        seed of grid position `(r, c)` sits at `(r + bh - 1, c + bw - 1)`.
    """
    valid_h, valid_w = valid_shape
    block_h, block_w = block_size
    padded_h, padded_w = valid_h + 2 * (block_h - 1), valid_w + 2 * (block_w - 1)
    positions = valid_h * valid_w * seed_channels
    mean = -ops.log1p(-ops.cast(gamma, "float32")) * positions
    gaps = -ops.log1p(-draw_rows(random.uniform, (batch, capacity), seed=seed))
    present = ops.cumsum(gaps, axis=1) < mean
    places = draw_rows(random.randint, (batch, capacity), 0, positions, seed=seed)
    channel = places % seed_channels
    cell = places // seed_channels
    row = cell // valid_w + (block_h - 1)
    col = cell % valid_w + (block_w - 1)
    flat = (row * padded_w + col) * seed_channels + channel
    # The cumulative sums grow, so the present slots are a prefix. Absent
    # slots repeat the first slot's place and write what it writes (1 when
    # any point is present), so every write to one place agrees.
    flat = ops.where(present, flat, flat[:, :1])
    values = ops.cast(ops.broadcast_to(present[:, :1], (batch, capacity)), dtype)
    sample = ops.broadcast_to(ops.arange(batch, dtype="int32")[:, None], (batch, capacity))
    indices = ops.reshape(ops.stack([sample, flat], axis=-1), (-1, 2))
    zeros = ops.zeros((batch, padded_h * padded_w * seed_channels), dtype)
    seeds = ops.scatter_update(zeros, indices, ops.reshape(values, (-1,)))
    return ops.reshape(seeds, (batch, padded_h, padded_w, seed_channels))
