"""EDSR: enhanced deep residual network for single-image super-resolution."""

import keras

from sr_models.layers import residual_branch
from sr_models.layers import subpixel_upsampler
from sr_models.placement import NetworkAssembler
from sr_models.specs import SPECS

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)
SPEC = SPECS["edsr"]


def build_edsr(
    scale,
    num_blocks=16,
    filters=64,
    res_scale=1.0,
    channels=3,
    regularizer=None,
    rgb_mean=DIV2K_RGB_MEAN,
    seed=None,
    name="edsr",
):
    """Builds EDSR as a functional Keras model.

    Mean shift, a 3x3 head convolution, `num_blocks` residual blocks
    (conv-ReLU-conv, branch scaled by `res_scale`, no batch norm), a body
    convolution with a global skip from the head, a sub-pixel upsampler
    (x2 and x3 in one stage, x4 as two x2 stages), a last convolution to
    `channels`, and the mean added back. The default 16 blocks x 64 filters
    is EDSR-baseline (about 1.37 M parameters at x2); the paper's large model
    is 32 x 256 with `res_scale=0.1`. Convolutions use Glorot-uniform
    kernels and zero biases, seeded so that inserting a regularizer leaves
    the initial weights unchanged.

    Args:
        scale: Upscaling factor, one of 2, 3, 4.
        num_blocks: Number of residual blocks.
        filters: Channels of the feature maps.
        res_scale: Factor applied to each residual branch before the addition.
        channels: Image channels of input and output.
        rgb_mean: Per-channel mean (images in [0, 1]) subtracted at the input
            and added back at the output, of length `channels`; None skips it.
            The default is the DIV2K training-set mean used by EDSR.
        regularizer: A `sr_models.placement.Regularizer`, or None for the plain network.
        seed: Base seed of the weight initializers; None draws one from Python's
            global generator (see `keras.utils.set_random_seed`).
        name: Model name.

    Returns:
        A `keras.Model` mapping a `(batch, H, W, channels)` float image in
        [0, 1] to `(batch, scale*H, scale*W, channels)`, not clipped.

    Reference:
        - [Lim et al., Enhanced Deep Residual Networks for Single Image
          Super-Resolution, CVPRW 2017](https://arxiv.org/abs/1707.02921)
    """
    SPEC.check(locals())
    if rgb_mean is not None and (not isinstance(rgb_mean, (list, tuple)) or len(rgb_mean) != channels):
        raise ValueError(
            "`rgb_mean` needs one value per channel. Expected a sequence of "
            f"length channels={channels}, or None to skip the mean shift. "
            f"Received: rgb_mean={rgb_mean!r}"
        )
    assembler = NetworkAssembler(SPEC, regularizer, seed, num_blocks, "glorot_uniform")
    inputs = keras.Input(shape=(None, None, channels), name="low_resolution")
    features = assembler.insert(inputs, "input")
    if rgb_mean is not None:
        offset = [-float(value) for value in rgb_mean]
        features = keras.layers.Rescaling(1.0, offset, name="subtract_mean")(features)
    head = assembler.conv(filters, "head_conv", site="input")(features)
    features = head
    for block in range(num_blocks):
        features = _residual_block(features, assembler, filters, res_scale, block)
    features = assembler.conv(filters, "body_conv", ends_body=True)(features)
    features = keras.layers.Add(name="global_skip")([head, features])
    features = assembler.insert(features, "after_body")
    features = subpixel_upsampler(features, assembler, scale, filters)
    # The output convolution and what follows stay float32 under mixed precision.
    outputs = assembler.output(features, channels)
    if rgb_mean is not None:
        offset = [float(value) for value in rgb_mean]
        outputs = keras.layers.Rescaling(1.0, offset, name="add_mean", dtype="float32")(outputs)
    return keras.Model(inputs, outputs, name=name)


def _residual_block(inputs, assembler, filters, res_scale, block):
    """conv-ReLU-conv branch, scaled, added to the block input."""
    prefix = f"block{block}"
    branch = residual_branch(inputs, assembler, filters, prefix, block)
    if res_scale != 1.0:
        branch = keras.layers.Rescaling(res_scale, name=f"{prefix}_scale")(branch)
    branch = assembler.insert(branch, "branch", block)
    outputs = keras.layers.Add(name=f"{prefix}_add")([inputs, branch])
    return assembler.insert(outputs, "block", block)

