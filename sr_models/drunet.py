"""DRUNet: a bias-free residual U-Net denoiser with a noise-level map."""

import keras

from sr_models.layers import CropToInput
from sr_models.layers import NoiseLevelMap
from sr_models.layers import PadToMultiple
from sr_models.layers import noise_level_input
from sr_models.layers import residual_branch
from sr_models.placement import NetworkAssembler
from sr_models.specs import SPECS

SPEC = SPECS["drunet"]
# The reference training code initialises every kernel orthogonally with gain 0.2, so the
# residual blocks start near the identity.
SMALL_ORTHOGONAL = {"class_name": "Orthogonal", "config": {"gain": 0.2}}
# Encoder stages, bottleneck, decoder stages: the blocks a placement indexes.
STAGES = ("down0", "down1", "down2", "body", "up2", "up1", "up0")


def build_drunet(
    filters=(64, 128, 256, 512),
    num_blocks=4,
    channels=3,
    regularizer=None,
    seed=None,
    name="drunet",
):
    """Builds DRUNet as a functional Keras model with two inputs.

    The noisy image and its noise-level map, padded to multiples of 8 (the
    last row and column repeated), go through a 3x3 head convolution and a
    U-Net of four scales: at each of the three upper scales `num_blocks`
    residual blocks (conv-ReLU-conv plus the block input) and a 2x2 stride-2
    convolution down; at the lowest scale `num_blocks` blocks; on the way up
    a 2x2 stride-2 transposed convolution, the encoder features of that scale
    added (not concatenated), and `num_blocks` blocks; a 3x3 tail
    convolution after the head features are added back. No convolution has a
    bias, no layer normalises. The output is the clean image itself. The
    defaults (64-128-256-512, four blocks per scale) are the paper's:
    32,640,960 parameters for colour, 32,638,656 for gray.

    Stages, for the regularizer: the seven groups of residual blocks are the
    blocks, in order `STAGES` (`"every_block"`/`"blocks"` after the last
    residual block of a stage, before its down- or upsampling), `"branch"`
    on every residual block's branch before its skip, `"after_body"` after
    the bottleneck (`"body"`), `"before_last"` before the tail convolution,
    `"input"` the noisy image (not the map).

    Args:
        filters: Channels at the four scales, highest resolution first.
        num_blocks: Residual blocks per stage.
        channels: Image channels of input and output.
        regularizer: A `sr_models.placement.Regularizer`, or None for the plain network.
        seed: Base seed of the weight initializers; None draws one from Python's
            global generator (see `keras.utils.set_random_seed`).
        name: Model name.

    Returns:
        A `keras.Model` mapping `[noisy (batch, H, W, channels), noise_level
        (batch, 1)]` to the denoised `(batch, H, W, channels)`, not clipped;
        the level is sigma / 255.

    Reference:
        - [Zhang et al., Plug-and-Play Image Restoration with Deep Denoiser
          Prior, IEEE TPAMI 2021](https://arxiv.org/abs/2008.13751)
    """
    filters = tuple(filters)
    SPEC.check(locals())
    assembler = NetworkAssembler(SPEC, regularizer, seed, len(STAGES), SMALL_ORTHOGONAL)
    inputs = keras.Input(shape=(None, None, channels), name="noisy")
    level = noise_level_input()
    features = assembler.insert(inputs, "input")
    level_map = NoiseLevelMap(name="noise_level_map")([features, level])
    features = keras.layers.Concatenate(name="with_noise_level")([features, level_map])
    features = PadToMultiple(8, name="pad_to_multiple_of_8")(features)
    features = assembler.conv(filters[0], "head_conv", site="input", use_bias=False)(features)
    skips = [features]
    for scale in range(3):
        features = _stage(features, assembler, filters[scale], num_blocks, scale)
        features = assembler.conv(filters[scale + 1], f"down{scale}_conv", kernel_size=2,
                                  strides=2, padding="valid", use_bias=False)(features)
        skips.append(features)
    features = _stage(features, assembler, filters[3], num_blocks, STAGES.index("body"))
    features = assembler.insert(features, "after_body")
    for scale in (2, 1, 0):
        features = keras.layers.Add(name=f"up{scale}_skip")([features, skips.pop()])
        features = assembler.conv(filters[scale], f"up{scale}_conv", kernel_size=2, strides=2,
                                  padding="valid", use_bias=False, transpose=True)(features)
        features = _stage(features, assembler, filters[scale], num_blocks, STAGES.index(f"up{scale}"))
    features = keras.layers.Add(name="head_skip")([features, skips.pop()])
    outputs = assembler.output(features, channels, "tail_conv", use_bias=False)
    outputs = CropToInput(name="crop", dtype="float32")([outputs, inputs])
    return keras.Model([inputs, level], outputs, name=name)


def _stage(inputs, assembler, filters, num_blocks, stage):
    """`num_blocks` residual blocks, followed by the regularizer where it is placed."""
    prefix = STAGES[stage]
    features = inputs
    for block in range(num_blocks):
        branch = residual_branch(features, assembler, filters, f"{prefix}_block{block}", stage,
                                 ends_body=prefix == "body" and block == num_blocks - 1, use_bias=False)
        branch = assembler.insert(branch, "branch", stage, part=block)
        features = keras.layers.Add(name=f"{prefix}_block{block}_add")([features, branch])
    return assembler.insert(features, "block", stage)
