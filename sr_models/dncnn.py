"""DnCNN: residual-learning convolutional denoiser."""

import keras

from sr_models.layers import conv_relu_stages
from sr_models.placement import NetworkAssembler
from sr_models.specs import SPECS

SPEC = SPECS["dncnn"]


def build_dncnn(
    depth=17,
    filters=64,
    channels=1,
    batch_norm=True,
    output_bias=False,
    regularizer=None,
    seed=None,
    name="dncnn",
):
    """Builds DnCNN as a functional Keras model.

    Conv+ReLU, `depth - 2` conv+BN+ReLU stages, and a last convolution that
    predicts the noise; the model returns the input minus that prediction,
    so it maps a noisy image to a clean one. The default 17 layers x 64
    filters on gray images is DnCNN-S (about 0.56 M parameters). As in the
    authors' Keras code, kernels are orthogonal, convolutions followed by
    batch norm have no bias, and so has the last one. Batch norm uses
    momentum 0.9 so that its moving statistics settle within a few hundred
    steps.

    The regularizer sites are: `"input"` on the input of the noise estimator
    (the residual subtraction uses the unmodified input, so the network is
    still asked only for the noise), `"every_block"`/`"blocks"` after the
    ReLU of the middle stages (indexed from 0), `"after_body"` and
    `"before_last"` both after the last middle stage. The conv factory
    replaces the first convolution (`"input"`), the middle-stage
    convolutions (`"every_block"`, `"blocks"`), the last middle-stage
    convolution (`"after_body"`) or the last convolution (`"before_last"`).
    DnCNN has no residual blocks, so `"branch"` is rejected.

    Args:
        depth: Number of convolution layers, at least 3.
        filters: Channels of the feature maps.
        channels: Image channels (1 for gray, 3 for colour).
        batch_norm: Whether the middle stages use batch normalisation.
        output_bias: Whether the last convolution has a bias, as in the
            authors' released MatConvNet and PyTorch weights (whose batch norm
            is folded into the convolutions: `batch_norm=False`).
        regularizer: A `sr_models.placement.Regularizer`, or None for the plain network.
        seed: Base seed of the weight initializers; None draws one from Python's
            global generator (see `keras.utils.set_random_seed`).
        name: Model name.

    Returns:
        A `keras.Model` mapping a `(batch, H, W, channels)` noisy image to a
        denoised image of the same shape, not clipped.

    Reference:
        - [Zhang et al., Beyond a Gaussian Denoiser: Residual Learning of Deep
          CNN for Image Denoising, IEEE TIP 2017](
            https://arxiv.org/abs/1608.03981)
    """
    SPEC.check(locals())
    num_stages = depth - 2
    assembler = NetworkAssembler(SPEC, regularizer, seed, num_stages, "orthogonal")
    inputs = keras.Input(shape=(None, None, channels), name="noisy")
    features = assembler.insert(inputs, "input")
    features = conv_relu_stages(features, assembler, filters, num_stages, batch_norm)
    # The output convolution and the subtraction stay float32 under mixed precision.
    noise = assembler.output(features, channels, "noise_conv", use_bias=output_bias)
    outputs = keras.layers.Subtract(name="subtract_noise", dtype="float32")([inputs, noise])
    return keras.Model(inputs, outputs, name=name)

