"""FSRCNN: fast super-resolution CNN with a learned deconvolution upsampler."""

import keras

from sr_models.placement import NetworkAssembler
from sr_models.specs import SPECS

SPEC = SPECS["fsrcnn"]


def build_fsrcnn(
    scale,
    d=56,
    s=12,
    m=4,
    channels=1,
    regularizer=None,
    seed=None,
    name="fsrcnn",
):
    """Builds FSRCNN as a functional Keras model.

    On the low-resolution image: 5x5 feature extraction to `d` channels,
    1x1 shrinking to `s`, `m` 3x3 mapping layers, 1x1 expanding back to `d`,
    each followed by a PReLU (one slope per channel); then a 9x9 transposed
    convolution with stride `scale` to `channels`. The paper's FSRCNN is
    d=56, s=12, m=4 (12,464 weights; 12,809 parameters with biases and
    PReLU slopes). Kernels are He-normal, the deconvolution's Gaussian with
    standard deviation 0.001, as in the paper.

    Stages, for the regularizer: the `m` mapping layers are the blocks
    (`"every_block"`/`"blocks"` after their PReLU), `"after_body"` and
    `"before_last"` both before the deconvolution, `"input"` the input. The
    conv factory never replaces the deconvolution. FSRCNN has no residual
    blocks, so `"branch"` is rejected.

    Args:
        scale: Upscaling factor, one of 2, 3, 4.
        d: Channels of the feature extraction and expanding layers.
        s: Channels of the shrunk mapping layers.
        m: Number of mapping layers.
        channels: Image channels of input and output.
        regularizer: A `sr_models.placement.Regularizer`, or None for the plain network.
        seed: Base seed of the weight initializers; None draws one from Python's
            global generator (see `keras.utils.set_random_seed`).
        name: Model name.

    Returns:
        A `keras.Model` mapping `(batch, H, W, channels)` in [0, 1] to
        `(batch, scale*H, scale*W, channels)`, not clipped.

    Reference:
        - [Dong et al., Accelerating the Super-Resolution Convolutional Neural
          Network, ECCV 2016](https://arxiv.org/abs/1608.00367)
    """
    SPEC.check(locals())
    assembler = NetworkAssembler(SPEC, regularizer, seed, m, "he_normal")
    prelu = lambda layer_name: keras.layers.PReLU(shared_axes=[1, 2], name=layer_name)
    inputs = keras.Input(shape=(None, None, channels), name="low_resolution")
    features = assembler.insert(inputs, "input")
    features = prelu("extract_prelu")(
        assembler.conv(d, "extract_conv", site="input", kernel_size=5)(features))
    features = prelu("shrink_prelu")(assembler.conv(s, "shrink_conv", kernel_size=1)(features))
    for layer in range(m):
        conv = assembler.conv(s, f"map{layer}_conv", site="block", block=layer)
        features = prelu(f"map{layer}_prelu")(conv(features))
        features = assembler.insert(features, "block", layer)
    expand = assembler.conv(d, "expand_conv", kernel_size=1, ends_body=True)
    features = prelu("expand_prelu")(expand(features))
    features = assembler.insert(features, "after_body")
    deconvolution = {"class_name": "RandomNormal", "config": {"stddev": 0.001}}
    outputs = assembler.output(features, channels, "deconvolution", kernel_size=9, strides=scale,
                               transpose=True, initializer=deconvolution)
    return keras.Model(inputs, outputs, name=name)
