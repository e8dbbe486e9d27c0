"""EDSR: enhanced deep residual network for single-image super-resolution."""

import keras
from keras import ops

from sr_models.placement import NetworkAssembler
from sr_models.placement import check_positive_integer

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)
SCALES = (2, 3, 4)


@keras.saving.register_keras_serializable(package="sr_models")
class PixelShuffle(keras.layers.Layer):
    """Rearranges channels into space: (H, W, r*r*C) -> (r*H, r*W, C).

    The sub-pixel convolution upsampler of ESPCN and EDSR. The channel order
    is that of `tf.nn.depth_to_space`: output pixel (r*y + i, r*x + j),
    channel c reads input channel (i*r + j)*C + c. Written with reshape and
    transpose so that it runs under every Keras backend and accepts inputs
    whose height and width are unknown until run time.

    Args:
        scale: Integer upscaling factor r, at least 2.
        **kwargs: Base layer keyword arguments, such as `name`.

    Reference:
        - [Shi et al., Real-Time Single Image and Video Super-Resolution
          Using an Efficient Sub-Pixel Convolutional Neural Network, CVPR 2016](
            https://arxiv.org/abs/1609.05158)
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        check_positive_integer(scale, "scale", minimum=2)
        self.scale = scale

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % (self.scale**2):
            raise ValueError(
                "PixelShuffle needs a known channel count divisible by "
                f"scale**2 = {self.scale**2}. Expected channels such as "
                f"{self.scale**2 * 16}. Received: input_shape={input_shape}"
            )

    def call(self, inputs):
        scale = self.scale
        shape = ops.shape(inputs)
        batch, height, width = shape[0], shape[1], shape[2]
        channels = inputs.shape[-1] // (scale * scale)
        outputs = ops.reshape(
            inputs, (batch, height, width, scale, scale, channels)
        )
        outputs = ops.transpose(outputs, (0, 1, 3, 2, 4, 5))
        return ops.reshape(
            outputs, (batch, height * scale, width * scale, channels)
        )

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape

        def upscale(size):
            return None if size is None else size * self.scale

        return (
            batch, upscale(height), upscale(width), channels // self.scale**2
        )

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config


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
        regularizer: A `sr_models.placement.Regularizer`, or None for the
            plain network.
        rgb_mean: Per-channel mean (images in [0, 1]) subtracted at the input
            and added back at the output, of length `channels`; None skips it.
            The default is the DIV2K training-set mean used by EDSR.
        seed: Base seed of the weight initializers; None draws it from
            Python's global RNG (see `keras.utils.set_random_seed`).
        name: Model name.

    Returns:
        A `keras.Model` mapping a `(batch, H, W, channels)` float image in
        [0, 1] to `(batch, scale*H, scale*W, channels)`, not clipped.

    Reference:
        - [Lim et al., Enhanced Deep Residual Networks for Single Image
          Super-Resolution, CVPRW 2017](https://arxiv.org/abs/1707.02921)
    """
    _check_edsr_arguments(scale, num_blocks, filters, res_scale, channels, rgb_mean)
    assembler = NetworkAssembler(regularizer, seed, num_blocks, "glorot_uniform")
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
    features = _upsampler(features, assembler, scale, filters)
    features = assembler.insert(features, "before_last")
    # The output convolution and what follows stay float32 under mixed precision.
    outputs = assembler.conv(channels, "last_conv", site="before_last", dtype="float32")(features)
    if rgb_mean is not None:
        offset = [float(value) for value in rgb_mean]
        outputs = keras.layers.Rescaling(1.0, offset, name="add_mean", dtype="float32")(outputs)
    return keras.Model(inputs, outputs, name=name)


def _residual_block(inputs, assembler, filters, res_scale, block):
    """conv-ReLU-conv branch, scaled, added to the block input."""
    prefix = f"block{block}"
    first = assembler.conv(filters, f"{prefix}_conv1", site="block", block=block)
    second = assembler.conv(filters, f"{prefix}_conv2", site="block", block=block)
    branch = keras.layers.ReLU(name=f"{prefix}_relu")(first(inputs))
    branch = second(branch)
    if res_scale != 1.0:
        branch = keras.layers.Rescaling(res_scale, name=f"{prefix}_scale")(branch)
    branch = assembler.insert(branch, "branch", block)
    outputs = keras.layers.Add(name=f"{prefix}_add")([inputs, branch])
    return assembler.insert(outputs, "block", block)


def _upsampler(inputs, assembler, scale, filters):
    """Sub-pixel upsampling: one x3 stage, or one or two x2 stages."""
    factors = (3,) if scale == 3 else (2,) * (scale // 2)
    outputs = inputs
    for stage, factor in enumerate(factors):
        conv = assembler.conv(factor * factor * filters, f"upsample{stage}_conv")
        outputs = conv(outputs)
        outputs = PixelShuffle(factor, name=f"upsample{stage}_shuffle")(outputs)
    return outputs


def _check_edsr_arguments(scale, num_blocks, filters, res_scale, channels, rgb_mean):
    if isinstance(scale, bool) or not isinstance(scale, int) or scale not in SCALES:
        raise ValueError(
            f"Unsupported EDSR scale. Expected one of {list(SCALES)}. "
            f"Received: scale={scale!r}"
        )
    check_positive_integer(num_blocks, "num_blocks")
    check_positive_integer(filters, "filters")
    check_positive_integer(channels, "channels")
    is_number = isinstance(res_scale, (int, float)) and not isinstance(res_scale, bool)
    if not is_number or res_scale <= 0:
        raise ValueError(
            "Expected `res_scale` to be a positive number. "
            f"Received: res_scale={res_scale!r}"
        )
    if rgb_mean is not None and (
        not isinstance(rgb_mean, (list, tuple)) or len(rgb_mean) != channels
    ):
        raise ValueError(
            "`rgb_mean` needs one value per channel. Expected a sequence of "
            f"length channels={channels}, or None to skip the mean shift. "
            f"Received: rgb_mean={rgb_mean!r}"
        )
