"""VDSR: very deep super-resolution on the interpolated image."""

import keras

from sr_models.layers import Interpolate
from sr_models.layers import conv_relu_stages
from sr_models.placement import NetworkAssembler
from sr_models.specs import SPECS

SPEC = SPECS["vdsr"]


def build_vdsr(
    scale,
    depth=20,
    filters=64,
    channels=1,
    regularizer=None,
    seed=None,
    name="vdsr",
):
    """Builds VDSR as a functional Keras model.

    The low-resolution input is upscaled by bicubic interpolation inside the
    model (so it takes the same inputs as the other super-resolution
    networks); `depth` 3x3 convolutions with ReLU between them (the first to
    `filters`, the last back to `channels`) predict the residual that is
    added to the interpolated image. The paper's network is 20 layers x 64
    on the Y channel (665,921 parameters with biases). Kernels are He-normal
    (the paper's initialisation), biases zero.

    Stages, for the regularizer: the `depth - 2` middle conv+ReLU layers are
    the blocks (`"every_block"`/`"blocks"` after their ReLU), `"after_body"`
    and `"before_last"` both after the last middle layer, `"input"` the
    interpolated image (the skip still adds the unmodified one). VDSR has no
    residual blocks, so `"branch"` is rejected.

    Args:
        scale: Upscaling factor, one of 2, 3, 4.
        depth: Number of convolutions, at least 3.
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
        - [Kim et al., Accurate Image Super-Resolution Using Very Deep
          Convolutional Networks, CVPR 2016](https://arxiv.org/abs/1511.04587)
    """
    SPEC.check(locals())
    num_stages = depth - 2
    assembler = NetworkAssembler(SPEC, regularizer, seed, num_stages, "he_normal")
    inputs = keras.Input(shape=(None, None, channels), name="low_resolution")
    upscaled = Interpolate(scale, "bicubic", name="bicubic", dtype="float32")(inputs)
    features = assembler.insert(upscaled, "input")
    features = conv_relu_stages(features, assembler, filters, num_stages)
    residual = assembler.output(features, channels)
    outputs = keras.layers.Add(name="global_skip", dtype="float32")([upscaled, residual])
    return keras.Model(inputs, outputs, name=name)

