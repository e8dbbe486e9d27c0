"""RRDBNet: the ESRGAN generator, residual-in-residual dense blocks."""

import keras

from sr_models.layers import CropToInput
from sr_models.layers import PadToMultiple
from sr_models.layers import PixelUnshuffle
from sr_models.placement import NetworkAssembler
from sr_models.specs import SPECS
from sr_models.srresnet import SMALL_KAIMING

SPEC = SPECS["rrdbnet"]
# PyTorch's default convolution initialisation, kept by the reference for the
# convolutions outside the dense blocks: uniform with bound 1 / sqrt(fan_in).
TORCH_DEFAULT = {"class_name": "VarianceScaling",
                 "config": {"scale": 1.0 / 3.0, "mode": "fan_in", "distribution": "uniform"}}


def build_rrdbnet(
    scale,
    num_blocks=23,
    filters=64,
    growth=32,
    channels=3,
    regularizer=None,
    seed=None,
    name="rrdbnet",
):
    """Builds RRDBNet (the ESRGAN generator) as a functional Keras model.

    A 3x3 head convolution, `num_blocks` residual-in-residual dense blocks,
    a body convolution with a long skip from the head, two stages of
    nearest-neighbour x2 upsampling each followed by a convolution and a
    leaky ReLU (slope 0.2), a high-resolution convolution with leaky ReLU and
    a last convolution. An RRDB is three residual dense blocks (five
    densely connected convolutions, `growth` channels each but the last,
    leaky ReLU, the output scaled by 0.2 and added to the block input), its
    output scaled by 0.2 and added to the RRDB input. The trunk always
    upsamples x4; at x2 the input is first pixel-unshuffled by 2, as in
    Real-ESRGAN (an odd height or width is padded by reflection and the
    output cropped back). The defaults are ESRGAN's
    (16,697,987 parameters at x4). Dense-block kernels are Kaiming-normal
    scaled by 0.1, the others PyTorch's default uniform; biases are zero.

    Stages, for the regularizer: the RRDBs are the blocks: `"every_block"`/
    `"blocks"` after each RRDB (after its skip), `"branch"` on each RRDB's
    scaled branch, `"after_body"` after the long skip, `"before_last"` before
    the last convolution, `"input"` the input.

    Args:
        scale: Upscaling factor, 2 or 4.
        num_blocks: Number of RRDBs.
        filters: Channels of the trunk.
        growth: Channels added by each dense convolution.
        channels: Image channels of input and output.
        regularizer: A `sr_models.placement.Regularizer`, or None for the plain network.
        seed: Base seed of the weight initializers; None draws one from Python's
            global generator (see `keras.utils.set_random_seed`).
        name: Model name.

    Returns:
        A `keras.Model` mapping `(batch, H, W, channels)` in [0, 1] to
        `(batch, scale*H, scale*W, channels)`, not clipped.

    Reference:
        - [Wang et al., ESRGAN: Enhanced Super-Resolution Generative
          Adversarial Networks, ECCV Workshops 2018](https://arxiv.org/abs/1809.00219)
    """
    SPEC.check(locals())
    assembler = NetworkAssembler(SPEC, regularizer, seed, num_blocks, TORCH_DEFAULT)
    leaky = lambda layer_name: keras.layers.LeakyReLU(negative_slope=0.2, name=layer_name)
    inputs = keras.Input(shape=(None, None, channels), name="low_resolution")
    features = assembler.insert(inputs, "input")
    if scale == 2:
        features = PadToMultiple(2, name="pad_to_even")(features)
        features = PixelUnshuffle(2, name="unshuffle")(features)
    head = assembler.conv(filters, "head_conv", site="input")(features)
    features = head
    for block in range(num_blocks):
        branch = features
        for dense in range(3):
            branch = _dense_block(branch, assembler, filters, growth, f"rrdb{block}_dense{dense}",
                                  block, leaky)
        branch = keras.layers.Rescaling(0.2, name=f"rrdb{block}_scale")(branch)
        branch = assembler.insert(branch, "branch", block)
        features = keras.layers.Add(name=f"rrdb{block}_add")([features, branch])
        features = assembler.insert(features, "block", block)
    features = assembler.conv(filters, "body_conv", ends_body=True)(features)
    features = keras.layers.Add(name="long_skip")([head, features])
    features = assembler.insert(features, "after_body")
    for stage in range(2):
        features = keras.layers.UpSampling2D(2, interpolation="nearest",
                                             name=f"upsample{stage}_nearest")(features)
        features = leaky(f"upsample{stage}_activation")(
            assembler.conv(filters, f"upsample{stage}_conv")(features))
    features = leaky("hr_activation")(assembler.conv(filters, "hr_conv")(features))
    outputs = assembler.output(features, channels)
    if scale == 2:
        outputs = CropToInput(2, name="crop", dtype="float32")([outputs, inputs])
    return keras.Model(inputs, outputs, name=name)


def _dense_block(inputs, assembler, filters, growth, prefix, block, leaky):
    """Five densely connected convolutions; the last, scaled by 0.2, is added to the input."""
    features = [inputs]
    for index in range(5):
        stacked = features[0] if index == 0 else keras.layers.Concatenate(
            name=f"{prefix}_concat{index}")(features)
        last = index == 4
        conv = assembler.conv(filters if last else growth, f"{prefix}_conv{index}", site="block",
                              block=block, initializer=SMALL_KAIMING)
        output = conv(stacked)
        if last:
            output = keras.layers.Rescaling(0.2, name=f"{prefix}_scale")(output)
            return keras.layers.Add(name=f"{prefix}_add")([inputs, output])
        features.append(leaky(f"{prefix}_activation{index}")(output))
