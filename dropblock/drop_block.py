"""DropBlock as a pure function of a tensor, written with `keras.ops` only.

The layer in `layers.py` is a thin wrapper over `drop_block_2d`. Everything
here works with unknown spatial dimensions (a different image size on every
call), inside `tf.function`, XLA and `jax.jit`, and under mixed precision.

Reference:
    - [Ghiasi, Lin and Le, DropBlock: A regularization method for
      convolutional networks, NeurIPS 2018](https://arxiv.org/abs/1810.12890)
"""

import functools

from keras import backend
from keras import distribution
from keras import ops

from dropblock import sampling
from dropblock.gamma import calibrated_gamma
from dropblock.gamma import normalize_block_size
from dropblock.gamma import paper_gamma
from dropblock.gamma import static_maximum
from dropblock.gamma import static_seed_probability
from dropblock.modes import CHANNEL_MODES
from dropblock.modes import GAMMA_MODES
from dropblock.modes import NORMALIZE_MODES


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected one of "
            f"{choices}. Received: {name}={value!r}"
        )


def validate_rate(rate, closed=False):
    """Returns `rate` as a float, or raises `ValueError` unless it is in [0, 1) ([0, 1] if `closed`)."""
    is_number = isinstance(rate, (int, float)) and not isinstance(rate, bool)
    if not is_number or not (0 <= rate <= 1 if closed else 0 <= rate < 1):
        interval = "[0, 1]" if closed else "[0, 1)"
        raise ValueError(
            f"Invalid value for argument `rate`. Expected a float in {interval}. "
            f"Received: rate={rate}"
        )
    return float(rate)


def validate_arguments(gamma, channels, normalize, data_format):
    """Raises `ValueError` for an unknown mode, naming the argument."""
    _check_choice("gamma", gamma, GAMMA_MODES)
    _check_choice("channels", channels, CHANNEL_MODES)
    _check_choice("normalize", normalize, NORMALIZE_MODES)
    _check_choice("data_format", data_format, ("channels_last", "channels_first"))


@functools.cache
def mask_dtype():
    """The fastest dtype for the block-growing max-pools on this backend and device.

    0/1 masks are exact in any dtype, and the max-pools that grow the
    blocks are the main cost of a mask: uint8 quarters their memory traffic.
    TensorFlow has uint8 pooling on CPUs only; JAX pools from -inf, so it
    needs a float type, and XLA's CPU backend emulates float16.
    """
    on_cpu = all(device.lower().startswith("cpu") for device in distribution.list_devices())
    if backend.backend() == "tensorflow" and on_cpu:
        return "uint8"
    return "float32" if on_cpu else "float16"


def drop_block_mask(
    shape, rate, block_size, gamma="calibrated", channels="independent", seed=None, max_rate=None
):
    """Samples a block mask (1 dropped, 0 kept) in channels_last layout.

    Seeds are Bernoulli(gamma) on the valid grid only, `(H - bh + 1) x
    (W - bw + 1)` positions per map, and grow into `bh x bw` blocks with a
    separable max-pool. A block larger than the map is clipped per axis.
    When the map size and an upper bound of the rate are known in Python
    and seeds are rare, only the seeds are drawn (`sampling.py`); the masks
    have the same distribution either way.

    Args:
        shape: `(batch, height, width, channels)`; entries may be tensors.
        rate: Target fraction of dropped units (float or scalar tensor).
        block_size: `(height, width)` tuple of ints.
        gamma: `"calibrated"` or `"paper"`.
        channels: `"independent"` (one mask per channel) or `"shared"`.
        seed: int, `keras.random.SeedGenerator` or None.
        max_rate: Upper bound of a tensor `rate` (a float); the rate is
            clipped to it. Defaults to `rate` itself when that is a number.

    Returns:
        A tensor of 0s and 1s (dtype `mask_dtype()`), of shape
        `(B, H, W, C)`, or `(B, H, W, 1)` for shared channels.
    """
    batch, height, width, num_channels = shape
    if isinstance(rate, (int, float)):
        max_rate = float(rate)
    elif max_rate is not None:
        rate = ops.minimum(rate, max_rate)
    # A block larger than a map of known size is clipped to it before the
    # pooling, whose cost grows with the block (block 1000 on a 24x24 map
    # would pool a 2022x2022 padded map); the mask is the same either way.
    block_h, block_w = (
        min(size, limit) if isinstance(limit, int) else size
        for size, limit in zip(block_size, (height, width))
    )
    solve = calibrated_gamma if gamma == "calibrated" else paper_gamma
    seed_probability = solve(rate, height, width, block_size)
    valid_h = static_maximum(height - block_h + 1, 1)
    valid_w = static_maximum(width - block_w + 1, 1)
    seed_channels = num_channels if channels == "independent" else 1
    capacity = sampling.sparse_capacity(
        static_seed_probability(max_rate, gamma, height, width, (block_h, block_w)),
        valid_h, valid_w, seed_channels,
    )
    if capacity is not None:
        padded = sampling.sparse_padded_seeds(
            batch, (valid_h, valid_w), (block_h, block_w), seed_channels,
            seed_probability, capacity, mask_dtype(), seed,
        )
        return _pool_blocks(padded, (block_h, block_w))
    seeds = sampling.dense_seeds(
        (batch, valid_h, valid_w, seed_channels), seed_probability, mask_dtype(), seed
    )
    return grow_blocks(seeds, (block_h, block_w), height, width)


def grow_blocks(seeds, block_size, height, width):
    """Grows each seed of the valid grid into a `bh x bw` block.

    Args:
        seeds: float32 `(B, Hv, Wv, C)` tensor of 0/1 seeds, where a seed at
            `(r, c)` is the top-left corner of its block.
        block_size: `(height, width)` tuple of ints.
        height: Height of the feature map.
        width: Width of the feature map.

    Returns:
        A float32 `(B, height, width, C)` tensor, 1 inside a block.
    """
    block_h, block_w = block_size
    # Padding by the block size minus one on both sides makes a valid
    # max-pool place each seed at the top-left corner of its block; a block
    # larger than the map is cut to the map by the final slice.
    seeds = ops.pad(
        seeds, [[0, 0], [block_h - 1, block_h - 1], [block_w - 1, block_w - 1], [0, 0]]
    )
    return _pool_blocks(seeds, block_size)[:, :height, :width, :]


def _pool_blocks(padded_seeds, block_size):
    """Separable `bh x bw` max-pool of seeds padded by the block minus one."""
    block_h, block_w = block_size
    blocks = ops.max_pool(padded_seeds, (block_h, 1), strides=1, padding="valid")
    return ops.max_pool(blocks, (1, block_w), strides=1, padding="valid")


def drop_block_2d(
    inputs,
    rate,
    block_size,
    gamma="calibrated",
    channels="independent",
    normalize="per_sample",
    data_format="channels_last",
    seed=None,
    return_dropped_fraction=False,
    max_rate=None,
):
    """Applies DropBlock to a batch of feature maps (always in training mode).

    Contiguous `bh x bw` regions of each feature map are zeroed and the rest
    is rescaled so the mean is preserved.

    Args:
        inputs: 4D tensor, `(B, H, W, C)` or `(B, C, H, W)`.
        rate: Target fraction of dropped units, `0 <= rate < 1`; a float or
            a scalar tensor (for example a scheduled variable).
        block_size: int or `(height, width)`.
        gamma: `"calibrated"` solves the exact expectation so the expected
            fraction of dropped units equals `rate` for this map size;
            `"paper"` uses Eq. 1 of the paper, which drops less.
        channels: `"independent"` samples one mask per sample and channel
            (as in the paper); `"shared"` one mask per sample.
        normalize: `"per_sample"` rescales each sample by its own kept
            fraction, `"batch"` by the kept fraction of the whole batch,
            `"none"` does not rescale.
        data_format: `"channels_last"` or `"channels_first"`.
        seed: int, `keras.random.SeedGenerator` or None.
        return_dropped_fraction: Also return the fraction of units dropped
            (a float32 scalar), for logging the realised rate.
        max_rate: Upper bound of a tensor `rate`, a float; the rate is
            clipped to it. With the map size known, it lets the mask draw
            only its seeds when they are rare, which is much cheaper.

    Returns:
        A tensor like `inputs`; with `return_dropped_fraction`,
        `(outputs, fraction)`.

    Reference:
        - [Ghiasi et al., 2018](https://arxiv.org/abs/1810.12890)
    """
    validate_arguments(gamma, channels, normalize, data_format)
    block_size = normalize_block_size(block_size)
    shape = ops.shape(inputs)
    if data_format == "channels_first":
        shape = (shape[0], shape[2], shape[3], shape[1])
    dropped = drop_block_mask(shape, rate, block_size, gamma, channels, seed, max_rate)
    # One float32 keep mask serves the fraction and, times the per-sample
    # factor, the output; its gradient is that same product.
    kept = ops.cast(1 - dropped, "float32")
    kept_fraction = ops.mean(kept, axis=None if normalize == "batch" else (1, 2, 3), keepdims=True)
    factor = kept
    if normalize != "none":
        # Everything dropped: the output is zero whatever the factor, so 0 rather than a division by zero.
        factor = kept * ops.where(kept_fraction > 0, 1.0 / ops.maximum(kept_fraction, 1e-12), 0.0)
    if data_format == "channels_first":
        factor = ops.transpose(factor, (0, 3, 1, 2))
    outputs = inputs * ops.cast(factor, inputs.dtype)
    if return_dropped_fraction:
        return outputs, 1.0 - ops.mean(kept_fraction)
    return outputs
