"""RCAN: residual channel attention network for super-resolution."""

import keras

from sr_models.edsr import DIV2K_RGB_MEAN
from sr_models.layers import residual_branch
from sr_models.layers import subpixel_upsampler
from sr_models.placement import NetworkAssembler
from sr_models.specs import SPECS

SPEC = SPECS["rcan"]


def build_rcan(
    scale,
    num_groups=10,
    num_blocks=20,
    filters=64,
    reduction=16,
    res_scale=1.0,
    channels=3,
    regularizer=None,
    rgb_mean=DIV2K_RGB_MEAN,
    seed=None,
    name="rcan",
):
    """Builds RCAN as a functional Keras model.

    Mean shift (the DIV2K mean subtracted and the image scaled to 0-255, as
    in the reference code), a 3x3 head convolution, `num_groups` residual
    groups, a body convolution with a long skip from the head, a sub-pixel
    upsampler and a last convolution; the output is scaled back to [0, 1]
    and the mean added. A residual group is `num_blocks` residual channel
    attention blocks (conv-ReLU-conv, then the features weighted per channel
    by a sigmoid of two 1x1 convolutions, `filters` -> `filters // reduction`
    -> `filters`, on their spatial mean; scaled by `res_scale` and added to
    the block input), a 3x3 convolution, and a skip from the group input. The
    defaults are the paper's (15,444,643 parameters at x2, 15,592,355 at x4).

    Stages, for the regularizer: the residual groups are the blocks:
    `"every_block"`/`"blocks"` after each group (after its skip), `"branch"`
    on each group's branch before its skip, `"after_body"` after the long
    skip, `"before_last"` before the last convolution, `"input"` the input.

    Args:
        scale: Upscaling factor, one of 2, 3, 4.
        num_groups: Residual groups.
        num_blocks: Channel attention blocks per group.
        filters: Channels of the feature maps.
        reduction: Channel reduction of the attention, dividing `filters`.
        res_scale: Factor on each block's branch before its addition.
        channels: Image channels of input and output.
        rgb_mean: Per-channel mean subtracted at the input and added back at
            the output, of length `channels`; None subtracts nothing (the
            0-255 scaling stays).
        regularizer: A `sr_models.placement.Regularizer`, or None for the plain network.
        seed: Base seed of the weight initializers; None draws one from Python's
            global generator (see `keras.utils.set_random_seed`).
        name: Model name.

    Returns:
        A `keras.Model` mapping `(batch, H, W, channels)` in [0, 1] to
        `(batch, scale*H, scale*W, channels)`, not clipped.

    Reference:
        - [Zhang et al., Image Super-Resolution Using Very Deep Residual
          Channel Attention Networks, ECCV 2018](https://arxiv.org/abs/1807.02758)
    """
    SPEC.check(locals())
    if rgb_mean is not None and len(rgb_mean) != channels:
        raise ValueError(
            f"`rgb_mean` needs one value per channel. Expected length {channels} or None. "
            f"Received: rgb_mean={rgb_mean!r}"
        )
    assembler = NetworkAssembler(SPEC, regularizer, seed, num_groups, "glorot_uniform")
    inputs = keras.Input(shape=(None, None, channels), name="low_resolution")
    features = assembler.insert(inputs, "input")
    mean = [0.0] * channels if rgb_mean is None else [float(value) for value in rgb_mean]
    features = keras.layers.Rescaling(255.0, [-255.0 * value for value in mean],
                                      name="subtract_mean")(features)
    head = assembler.conv(filters, "head_conv", site="input")(features)
    features = head
    for group in range(num_groups):
        branch = features
        for block in range(num_blocks):
            branch = _attention_block(branch, assembler, filters, reduction, res_scale,
                                      f"group{group}_block{block}", group)
        branch = assembler.conv(filters, f"group{group}_conv", site="block", block=group)(branch)
        branch = assembler.insert(branch, "branch", group)
        features = keras.layers.Add(name=f"group{group}_add")([features, branch])
        features = assembler.insert(features, "block", group)
    features = assembler.conv(filters, "body_conv", ends_body=True)(features)
    features = keras.layers.Add(name="long_skip")([head, features])
    features = assembler.insert(features, "after_body")
    features = subpixel_upsampler(features, assembler, scale, filters)
    outputs = assembler.output(features, channels)
    outputs = keras.layers.Rescaling(1.0 / 255.0, mean, name="add_mean", dtype="float32")(outputs)
    return keras.Model(inputs, outputs, name=name)


def _attention_block(inputs, assembler, filters, reduction, res_scale, prefix, group):
    """conv-ReLU-conv, channel attention, scaled branch plus the block input."""
    branch = residual_branch(inputs, assembler, filters, prefix, group)
    weights = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}_pool")(branch)
    weights = assembler.conv(filters // reduction, f"{prefix}_squeeze", kernel_size=1)(weights)
    weights = keras.layers.ReLU(name=f"{prefix}_squeeze_relu")(weights)
    weights = assembler.conv(filters, f"{prefix}_excite", kernel_size=1)(weights)
    weights = keras.layers.Activation("sigmoid", name=f"{prefix}_sigmoid")(weights)
    branch = keras.layers.Multiply(name=f"{prefix}_attention")([branch, weights])
    if res_scale != 1.0:
        branch = keras.layers.Rescaling(res_scale, name=f"{prefix}_scale")(branch)
    return keras.layers.Add(name=f"{prefix}_add")([inputs, branch])
