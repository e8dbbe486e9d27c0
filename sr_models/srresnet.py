"""MSRResNet: SRResNet without batch norm, the super-resolution baseline of BasicSR."""

import keras

from sr_models.layers import Interpolate
from sr_models.layers import residual_branch
from sr_models.layers import subpixel_upsampler
from sr_models.placement import NetworkAssembler
from sr_models.specs import SPECS

SPEC = SPECS["srresnet"]
# Kaiming-normal (fan in) scaled by 0.1: variance 2 / fan_in * 0.1**2.
SMALL_KAIMING = {"class_name": "VarianceScaling",
                 "config": {"scale": 0.02, "mode": "fan_in", "distribution": "untruncated_normal"}}


def build_srresnet(
    scale,
    num_blocks=16,
    filters=64,
    channels=3,
    regularizer=None,
    seed=None,
    name="srresnet",
):
    """Builds MSRResNet (modified SRResNet) as a functional Keras model.

    A 3x3 head convolution with leaky ReLU (slope 0.1); `num_blocks`
    residual blocks (conv-ReLU-conv plus the block input, no batch norm);
    sub-pixel upsampling (x2 or x3 in one stage, x4 in two), each stage
    followed by a leaky ReLU; a 3x3 convolution with leaky ReLU at the high
    resolution and a last convolution to `channels`, added to the bilinear
    upsampling of the input. The defaults are BasicSR's MSRResNet (1,517,571
    parameters at x4); kernels are Kaiming-normal scaled by 0.1, biases zero.

    Stages, for the regularizer: `"input"` the network input (the bilinear
    skip still sees the clean input), `"every_block"`/`"blocks"` after each
    residual block, `"branch"` each block's residual branch, `"after_body"`
    after the last block (its second convolution ends the body),
    `"before_last"` before the last convolution.

    Args:
        scale: Upscaling factor, one of 2, 3, 4.
        num_blocks: Number of residual blocks.
        filters: Channels of the feature maps.
        channels: Image channels of input and output.
        regularizer: A `sr_models.placement.Regularizer`, or None for the plain network.
        seed: Base seed of the weight initializers; None draws one from Python's
            global generator (see `keras.utils.set_random_seed`).
        name: Model name.

    Returns:
        A `keras.Model` mapping `(batch, H, W, channels)` in [0, 1] to
        `(batch, scale*H, scale*W, channels)`, not clipped.

    Reference:
        - [Ledig et al., Photo-Realistic Single Image Super-Resolution Using a
          Generative Adversarial Network, CVPR 2017](https://arxiv.org/abs/1609.04802)
        - [Wang et al., ESRGAN, ECCV Workshops 2018](https://arxiv.org/abs/1809.00219)
          (MSRResNet, the version without batch norm)
    """
    SPEC.check(locals())
    assembler = NetworkAssembler(SPEC, regularizer, seed, num_blocks, SMALL_KAIMING)
    leaky = lambda layer_name: keras.layers.LeakyReLU(negative_slope=0.1, name=layer_name)
    inputs = keras.Input(shape=(None, None, channels), name="low_resolution")
    features = assembler.insert(inputs, "input")
    features = assembler.conv(filters, "head_conv", site="input")(features)
    features = leaky("head_activation")(features)
    for block in range(num_blocks):
        branch = residual_branch(features, assembler, filters, f"block{block}", block,
                                 ends_body=block == num_blocks - 1)
        branch = assembler.insert(branch, "branch", block)
        features = keras.layers.Add(name=f"block{block}_add")([features, branch])
        features = assembler.insert(features, "block", block)
    features = assembler.insert(features, "after_body")
    features = subpixel_upsampler(features, assembler, scale, filters, activation=leaky)
    features = leaky("hr_activation")(assembler.conv(filters, "hr_conv")(features))
    residual = assembler.output(features, channels)
    upsampled = Interpolate(scale, "bilinear", name="bilinear_skip", dtype="float32")(inputs)
    outputs = keras.layers.Add(name="global_skip", dtype="float32")([upsampled, residual])
    return keras.Model(inputs, outputs, name=name)

