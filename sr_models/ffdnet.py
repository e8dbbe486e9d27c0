"""FFDNet: a fast non-blind denoiser on pixel-unshuffled images with a noise-level map."""

import keras

from sr_models.layers import CropToInput
from sr_models.layers import NoiseLevelMap
from sr_models.layers import PadToMultiple
from sr_models.layers import PixelShuffle
from sr_models.layers import PixelUnshuffle
from sr_models.layers import conv_relu_stages
from sr_models.layers import noise_level_input
from sr_models.placement import NetworkAssembler
from sr_models.specs import SPECS

SPEC = SPECS["ffdnet"]


def build_ffdnet(
    depth=None,
    filters=None,
    channels=1,
    regularizer=None,
    seed=None,
    name="ffdnet",
):
    """Builds FFDNet as a functional Keras model with two inputs.

    The noisy image is padded to even height and width (repeating the last
    row and column), rearranged into four half-resolution sub-images (a 2x2
    pixel unshuffle, `4 * channels` channels) and joined by the noise-level
    map; `depth` 3x3 convolutions (ReLU after all but the last, no batch norm)
    predict the four clean sub-images, which a pixel shuffle puts back
    together before the padding is cropped. The output is the clean image
    itself, not a residual. Defaults follow the paper: 15 x 64 for gray
    (485,316 parameters), 12 x 96 for colour (852,108).

    Stages, for the regularizer: the `depth - 2` middle conv+ReLU layers are
    the blocks (`"every_block"`/`"blocks"` after their ReLU), `"after_body"`
    and `"before_last"` both after the last middle layer, `"input"` the noisy
    image (not the map). FFDNet has no residual blocks, so `"branch"` is
    rejected.

    Args:
        depth: Number of convolutions, at least 3; None takes the paper's
            value for `channels` (15 gray, 12 colour).
        filters: Channels of the feature maps; None takes 64 (gray) or 96.
        channels: Image channels, 1 or 3.
        regularizer: A `sr_models.placement.Regularizer`, or None for the plain network.
        seed: Base seed of the weight initializers; None draws one from Python's
            global generator (see `keras.utils.set_random_seed`).
        name: Model name.

    Returns:
        A `keras.Model` mapping `[noisy (batch, H, W, channels), noise_level
        (batch, 1)]` to the denoised `(batch, H, W, channels)`, not clipped;
        the level is sigma / 255.

    Reference:
        - [Zhang et al., FFDNet: Toward a Fast and Flexible Solution for CNN
          based Image Denoising, IEEE TIP 2018](https://arxiv.org/abs/1710.04026)
    """
    if channels not in SPEC.paper_sizes:
        raise ValueError(f"FFDNet takes gray or colour images. Expected channels 1 or 3. "
                         f"Received: channels={channels!r}")
    SPEC.check(locals())
    sized = SPEC.sized({"depth": depth, "filters": filters}, channels)
    depth, filters = sized["depth"], sized["filters"]
    num_stages = depth - 2
    # He-normal kernels keep the signal of a plain ReLU stack without batch norm; a gain-0.2
    # orthogonal start shrinks it about sevenfold per layer, and 15 layers do not train.
    assembler = NetworkAssembler(SPEC, regularizer, seed, num_stages, "he_normal")
    inputs = keras.Input(shape=(None, None, channels), name="noisy")
    level = noise_level_input()
    features = assembler.insert(inputs, "input")
    features = PadToMultiple(2, name="pad_to_even")(features)
    features = PixelUnshuffle(2, name="unshuffle")(features)
    level_map = NoiseLevelMap(name="noise_level_map")([features, level])
    features = keras.layers.Concatenate(name="with_noise_level")([features, level_map])
    features = conv_relu_stages(features, assembler, filters, num_stages)
    outputs = assembler.output(features, 4 * channels)
    outputs = PixelShuffle(2, name="shuffle", dtype="float32")(outputs)
    outputs = CropToInput(name="crop", dtype="float32")([outputs, inputs])
    return keras.Model([inputs, level], outputs, name=name)
