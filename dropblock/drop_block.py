"""DropBlock as a pure function of a tensor, written with `keras.ops` only.

The layer in `layers.py` is a thin wrapper over `drop_block_2d`. Everything
here works with unknown spatial dimensions (a different image size on every
call), inside `tf.function`, XLA and `jax.jit`, and under mixed precision.

Reference:
    - [Ghiasi, Lin and Le, DropBlock: A regularization method for
      convolutional networks, NeurIPS 2018](https://arxiv.org/abs/1810.12890)
"""

from keras import ops
from keras import random

from dropblock.gamma import calibrated_gamma
from dropblock.gamma import expected_drop_fraction  # noqa: F401  (part of this module's API)
from dropblock.gamma import normalize_block_size
from dropblock.gamma import paper_gamma
from dropblock.gamma import static_maximum

GAMMA_MODES = ("calibrated", "paper")
CHANNEL_MODES = ("independent", "shared")
NORMALIZE_MODES = ("per_sample", "batch", "none")


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected one of "
            f"{choices}. Received: {name}={value!r}"
        )


def validate_arguments(gamma, channels, normalize, data_format):
    """Raises `ValueError` for an unknown mode, naming the argument."""
    _check_choice("gamma", gamma, GAMMA_MODES)
    _check_choice("channels", channels, CHANNEL_MODES)
    _check_choice("normalize", normalize, NORMALIZE_MODES)
    _check_choice("data_format", data_format, ("channels_last", "channels_first"))


def drop_block_keep_mask(
    shape, rate, block_size, gamma="calibrated", channels="independent", seed=None
):
    """Samples a keep mask (1 kept, 0 dropped) in channels_last layout.

    Seeds are Bernoulli(gamma) on the valid grid only, `(H - bh + 1) x
    (W - bw + 1)` positions per map, and grow into `bh x bw` blocks with a
    separable max-pool. A block larger than the map is clipped per axis.

    Args:
        shape: `(batch, height, width, channels)`; entries may be tensors.
        rate: Target fraction of dropped units (float or scalar tensor).
        block_size: `(height, width)` tuple of ints.
        gamma: `"calibrated"` or `"paper"`.
        channels: `"independent"` (one mask per channel) or `"shared"`.
        seed: int, `keras.random.SeedGenerator` or None.

    Returns:
        A float16 tensor of 0s and 1s, of shape `(B, H, W, C)`, or
        `(B, H, W, 1)` for shared channels.
    """
    batch, height, width, num_channels = shape
    block_h, block_w = block_size
    solve = calibrated_gamma if gamma == "calibrated" else paper_gamma
    seed_probability = solve(rate, height, width, block_size)
    valid_h = static_maximum(height - block_h + 1, 1)
    valid_w = static_maximum(width - block_w + 1, 1)
    seed_channels = num_channels if channels == "independent" else 1
    noise = random.uniform((batch, valid_h, valid_w, seed_channels), seed=seed)
    # 0/1 masks are exact in float16, which halves the memory traffic of the
    # max-pools that grow the blocks (the dominant cost after the noise).
    seeds = ops.cast(ops.less(noise, seed_probability), "float16")
    return 1.0 - grow_blocks(seeds, block_size, height, width)


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
    blocks = ops.max_pool(seeds, (block_h, 1), strides=1, padding="valid")
    blocks = ops.max_pool(blocks, (1, block_w), strides=1, padding="valid")
    return blocks[:, :height, :width, :]


def _normalization(keep, normalize):
    """Rescaling factor that preserves the mean, counted in float32."""
    if normalize == "none":
        return ops.ones((), "float32")
    axes = (1, 2, 3) if normalize == "per_sample" else None
    kept = ops.mean(ops.cast(keep, "float32"), axis=axes, keepdims=normalize == "per_sample")
    # Everything dropped: the output is zero whatever the factor, so use 0
    # rather than dividing by zero.
    return ops.where(kept > 0, 1.0 / ops.maximum(kept, 1e-12), 0.0)


def drop_block_2d(
    inputs,
    rate,
    block_size,
    gamma="calibrated",
    channels="independent",
    normalize="per_sample",
    data_format="channels_last",
    seed=None,
    return_keep_mask=False,
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
        return_keep_mask: Also return the keep mask (channels_last).

    Returns:
        A tensor like `inputs`; with `return_keep_mask`, `(outputs, mask)`.

    Reference:
        - [Ghiasi et al., 2018](https://arxiv.org/abs/1810.12890)
    """
    validate_arguments(gamma, channels, normalize, data_format)
    block_size = normalize_block_size(block_size)
    shape = ops.shape(inputs)
    if data_format == "channels_first":
        shape = (shape[0], shape[2], shape[3], shape[1])
    keep = drop_block_keep_mask(shape, rate, block_size, gamma, channels, seed)
    scale = ops.cast(_normalization(keep, normalize), inputs.dtype)
    kept = keep if data_format == "channels_last" else ops.transpose(keep, (0, 3, 1, 2))
    if data_format == "channels_first" and normalize == "per_sample":
        scale = ops.transpose(scale, (0, 3, 1, 2))
    outputs = ops.where(kept > 0, inputs * scale, ops.zeros((), inputs.dtype))
    if return_keep_mask:
        return outputs, keep
    return outputs
