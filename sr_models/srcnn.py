"""SRCNN: the first convolutional network for single-image super-resolution."""

import keras

from sr_models.layers import Interpolate
from sr_models.placement import NetworkAssembler
from sr_models.specs import SPECS

SPEC = SPECS["srcnn"]


def build_srcnn(
    scale,
    filters=64,
    mapping_filters=32,
    mapping_kernel=5,
    channels=1,
    regularizer=None,
    seed=None,
    name="srcnn",
):
    """Builds SRCNN as a functional Keras model.

    The low-resolution input is upscaled by bicubic interpolation inside the
    model; a 9x9 convolution to `filters` (patch extraction), a
    `mapping_kernel` one to `mapping_filters` (non-linear mapping), both with
    ReLU, and a 5x5 one back to `channels` (reconstruction). The default is
    the paper's 9-5-5 network with 64 and 32 filters, 57,281 parameters with
    biases on the Y channel (57,184 weights, as the paper counts); 9-1-5 is
    `mapping_kernel=1`. Kernels are Glorot-uniform, biases zero.

    Stages, for the regularizer: the two hidden layers are the blocks
    (`"every_block"`/`"blocks"` after their ReLU); `"after_body"` and
    `"before_last"` both before the last convolution; `"input"` the
    interpolated image. SRCNN has no residual blocks, so `"branch"` is rejected.

    Args:
        scale: Upscaling factor, one of 2, 3, 4.
        filters: Channels of the patch-extraction layer.
        mapping_filters: Channels of the mapping layer.
        mapping_kernel: Kernel size of the mapping layer.
        channels: Image channels of input and output.
        regularizer: A `sr_models.placement.Regularizer`, or None for the plain network.
        seed: Base seed of the weight initializers; None draws one from Python's
            global generator (see `keras.utils.set_random_seed`).
        name: Model name.

    Returns:
        A `keras.Model` mapping `(batch, H, W, channels)` in [0, 1] to
        `(batch, scale*H, scale*W, channels)`, not clipped.

    Reference:
        - [Dong et al., Image Super-Resolution Using Deep Convolutional
          Networks, IEEE TPAMI 2016](https://arxiv.org/abs/1501.00092)
    """
    SPEC.check(locals())
    assembler = NetworkAssembler(SPEC, regularizer, seed, 2, "glorot_uniform")
    inputs = keras.Input(shape=(None, None, channels), name="low_resolution")
    features = Interpolate(scale, "bicubic", name="bicubic", dtype="float32")(inputs)
    features = assembler.insert(features, "input")
    for layer, (width, size) in enumerate(((filters, 9), (mapping_filters, mapping_kernel))):
        conv = assembler.conv(width, f"hidden{layer}_conv", site="input" if layer == 0 else "block",
                              block=layer, kernel_size=size, ends_body=layer == 1)
        features = keras.layers.ReLU(name=f"hidden{layer}_relu")(conv(features))
        features = assembler.insert(features, "block", layer)
    features = assembler.insert(features, "after_body")
    outputs = assembler.output(features, channels, kernel_size=5)
    return keras.Model(inputs, outputs, name=name)
