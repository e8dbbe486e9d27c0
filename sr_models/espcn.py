"""ESPCN: efficient sub-pixel convolutional network."""

import keras

from sr_models.layers import PixelShuffle
from sr_models.placement import NetworkAssembler
from sr_models.specs import SPECS

SPEC = SPECS["espcn"]


def build_espcn(
    scale,
    filters=64,
    channels=1,
    regularizer=None,
    seed=None,
    name="espcn",
):
    """Builds ESPCN as a functional Keras model.

    On the low-resolution image: a 5x5 convolution to `filters`, a 3x3 one to
    `filters // 2`, both with tanh (the paper's choice), and a 3x3 one to
    `scale**2 * channels`, rearranged into the `scale` times larger image by
    a pixel shuffle. The paper's network (64, 32) has 22,729 parameters at x3
    on one channel. Kernels are Glorot-uniform, biases zero.

    Stages, for the regularizer: the two hidden layers are the blocks
    (`"every_block"`/`"blocks"` after their tanh); `"after_body"` and
    `"before_last"` both before the last convolution; `"input"` the input.
    ESPCN has no residual blocks, so `"branch"` is rejected.

    Args:
        scale: Upscaling factor, one of 2, 3, 4.
        filters: Channels of the first hidden layer (the second has half).
        channels: Image channels of input and output.
        regularizer: A `sr_models.placement.Regularizer`, or None for the plain network.
        seed: Base seed of the weight initializers; None draws one from Python's
            global generator (see `keras.utils.set_random_seed`).
        name: Model name.

    Returns:
        A `keras.Model` mapping `(batch, H, W, channels)` in [0, 1] to
        `(batch, scale*H, scale*W, channels)`, not clipped.

    Reference:
        - [Shi et al., Real-Time Single Image and Video Super-Resolution Using
          an Efficient Sub-Pixel Convolutional Neural Network, CVPR 2016](
            https://arxiv.org/abs/1609.05158)
    """
    SPEC.check(locals())
    assembler = NetworkAssembler(SPEC, regularizer, seed, 2, "glorot_uniform")
    inputs = keras.Input(shape=(None, None, channels), name="low_resolution")
    features = assembler.insert(inputs, "input")
    for layer, (width, size) in enumerate(((filters, 5), (filters // 2, 3))):
        conv = assembler.conv(width, f"hidden{layer}_conv", site="input" if layer == 0 else "block",
                              block=layer, kernel_size=size, ends_body=layer == 1)
        features = keras.layers.Activation("tanh", name=f"hidden{layer}_tanh")(conv(features))
        features = assembler.insert(features, "block", layer)
    features = assembler.insert(features, "after_body")
    outputs = assembler.output(features, scale * scale * channels)
    outputs = PixelShuffle(scale, name="shuffle", dtype="float32")(outputs)
    return keras.Model(inputs, outputs, name=name)
