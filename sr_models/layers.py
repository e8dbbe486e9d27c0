"""Layers and stages shared by the restoration networks: sub-pixel shuffles, upsamplers, residual
branches, plain conv stacks, padding to a multiple, interpolation and the noise-level map."""

import keras
import numpy as np
from keras import ops


def _check_positive_integer(value, argument, minimum=1):
    """Raises a ValueError unless `value` is an integer of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"Expected `{argument}` to be an integer >= {minimum}. "
            f"Received: {argument}={value!r}"
        )


def _resized(shape, size, channels):
    """`(batch, size(height), size(width), channels)` from `shape`, an unknown side staying None."""
    return (shape[0], *(None if side is None else size(side) for side in shape[1:3]), channels)


class _Scaled(keras.layers.Layer):
    """A layer with an integer `scale` of at least `minimum`, which its config records."""

    minimum = 2

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        _check_positive_integer(scale, "scale", minimum=self.minimum)
        self.scale = scale

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="sr_models")
class PixelShuffle(_Scaled):
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
        batch, height, width = ops.shape(inputs)[:3]
        channels = inputs.shape[-1] // (scale * scale)
        outputs = ops.reshape(inputs, (batch, height, width, scale, scale, channels))
        outputs = ops.transpose(outputs, (0, 1, 3, 2, 4, 5))
        return ops.reshape(outputs, (batch, height * scale, width * scale, channels))

    def compute_output_shape(self, input_shape):
        return _resized(input_shape, lambda side: side * self.scale, input_shape[3] // self.scale**2)


@keras.saving.register_keras_serializable(package="sr_models")
class PixelUnshuffle(_Scaled):
    """Rearranges space into channels: (H, W, C) -> (H/r, W/r, r*r*C), the inverse of `PixelShuffle`.

    Output channel (i*r + j)*C + c of pixel (y, x) reads input pixel
    (r*y + i, r*x + j), channel c (the order of `tf.nn.space_to_depth`).
    Height and width must be multiples of r.

    Args:
        scale: Integer downscaling factor r, at least 2.
        **kwargs: Base layer keyword arguments, such as `name`.
    """

    def call(self, inputs):
        scale = self.scale
        batch, height, width = ops.shape(inputs)[:3]
        channels = inputs.shape[-1]
        outputs = ops.reshape(inputs, (batch, height // scale, scale, width // scale, scale, channels))
        outputs = ops.transpose(outputs, (0, 1, 3, 2, 4, 5))
        return ops.reshape(outputs, (batch, height // scale, width // scale, scale * scale * channels))

    def compute_output_shape(self, input_shape):
        return _resized(input_shape, lambda side: side // self.scale, input_shape[3] * self.scale**2)


def subpixel_upsampler(inputs, assembler, scale, filters, activation=None):
    """Sub-pixel upsampling: per stage a convolution to factor**2 * filters and a shuffle.

    x2 and x3 take one stage, x4 two x2 stages.

    Args:
        inputs: Symbolic feature tensor with `filters` channels.
        assembler: The network's `NetworkAssembler` (seeded convolutions).
        scale: 2, 3 or 4.
        filters: Feature channels before and after each stage.
        activation: Optional factory `activation(name) -> layer` applied after
            each shuffle (SRResNet's leaky ReLU).

    Returns:
        The upsampled tensor, `scale` times larger, with `filters` channels.
    """
    outputs = inputs
    for stage, factor in enumerate((3,) if scale == 3 else (2,) * (scale // 2)):
        conv = assembler.conv(factor * factor * filters, f"upsample{stage}_conv")
        outputs = conv(outputs)
        outputs = PixelShuffle(factor, name=f"upsample{stage}_shuffle")(outputs)
        if activation is not None:
            outputs = activation(f"upsample{stage}_activation")(outputs)
    return outputs


def residual_branch(inputs, assembler, filters, prefix, block, ends_body=False, use_bias=True):
    """The conv-ReLU-conv branch of a residual block, with convolutions of block `block`.

    Its layers are `{prefix}_conv1`, `{prefix}_relu` and `{prefix}_conv2`; `ends_body` marks the
    second convolution as the one that ends the network body.
    """
    branch = assembler.conv(filters, f"{prefix}_conv1", site="block", block=block, use_bias=use_bias)(inputs)
    branch = keras.layers.ReLU(name=f"{prefix}_relu")(branch)
    second = assembler.conv(filters, f"{prefix}_conv2", site="block", block=block, ends_body=ends_body,
                            use_bias=use_bias)
    return second(branch)


def conv_relu_stages(inputs, assembler, filters, num_stages, batch_norm=False):
    """A conv+ReLU, then `num_stages` conv(+BN)+ReLU stages: the plain stack of DnCNN, FFDNet and VDSR.

    The first convolution is the `"input"` site's; the stages are the blocks, each followed by the
    regularizer where it is placed, and the last one ends the body, which the `"after_body"` site
    follows. With `batch_norm` (DnCNN's, momentum 0.9) the stage convolutions have no bias.
    """
    features = assembler.conv(filters, "first_conv", site="input")(inputs)
    features = keras.layers.ReLU(name="first_relu")(features)
    for stage in range(num_stages):
        conv = assembler.conv(filters, f"stage{stage}_conv", site="block", block=stage,
                              ends_body=stage == num_stages - 1, use_bias=not batch_norm)
        features = conv(features)
        if batch_norm:
            features = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-4,
                                                       name=f"stage{stage}_batch_norm")(features)
        features = keras.layers.ReLU(name=f"stage{stage}_relu")(features)
        features = assembler.insert(features, "block", stage)
    return assembler.insert(features, "after_body")


@keras.saving.register_keras_serializable(package="sr_models")
class PadToMultiple(keras.layers.Layer):
    """Pads height and width at the bottom and right, repeating the edge, up to multiples of `multiple`.

    For networks that need sizes divisible by a factor (a pixel unshuffle, a
    U-Net's downsamplings); `CropToInput` removes the padding from the output.
    The last row and column are repeated, as the reference FFDNet and DRUNet
    code pads (`ReplicationPad2d`).

    Args:
        multiple: Integer the padded height and width are divisible by, >= 2.
        **kwargs: Base layer keyword arguments, such as `name`.
    """

    def __init__(self, multiple, **kwargs):
        super().__init__(**kwargs)
        _check_positive_integer(multiple, "multiple", minimum=2)
        self.multiple = multiple

    def call(self, inputs):
        outputs = inputs
        for axis in (1, 2):
            size = ops.shape(outputs)[axis]
            # Gathering clamped indices repeats the edge for any padding amount.
            index = ops.minimum(ops.arange(size + (-size) % self.multiple), size - 1)
            outputs = ops.take(outputs, index, axis=axis)
        return outputs

    def compute_output_shape(self, input_shape):
        return _resized(input_shape, lambda side: -(-side // self.multiple) * self.multiple, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="sr_models")
class CropToInput(_Scaled):
    """Crops `outputs` to `scale` times the height and width of `reference`: `[outputs, reference]`.

    Args:
        scale: Integer ratio of the output size to the reference size.
        **kwargs: Base layer keyword arguments, such as `name`.
    """

    minimum = 1

    def __init__(self, scale=1, **kwargs):
        super().__init__(scale, **kwargs)

    def call(self, inputs):
        outputs, reference = inputs
        shape = ops.shape(reference)
        return outputs[:, : shape[1] * self.scale, : shape[2] * self.scale, :]

    def compute_output_shape(self, input_shape):
        outputs, reference = input_shape
        return (outputs[0], *_resized(reference, lambda side: side * self.scale, outputs[3])[1:])


def _cubic(distance):
    """Keys' cubic convolution kernel with a = -0.5, MATLAB's bicubic."""
    distance = np.abs(distance)
    return np.where(
        distance <= 1, 1.5 * distance**3 - 2.5 * distance**2 + 1,
        np.where(distance < 2, -0.5 * distance**3 + 2.5 * distance**2 - 4 * distance + 2, 0.0),
    )


def _linear(distance):
    return np.maximum(0.0, 1.0 - np.abs(distance))


_KERNELS = {"bilinear": _linear, "bicubic": _cubic}


@keras.saving.register_keras_serializable(package="sr_models")
class Interpolate(_Scaled):
    """Upscales height and width by an integer factor, bilinear or MATLAB-bicubic.

    Output pixel `x` samples the input at `(x + 0.5) / scale - 0.5` (half-pixel
    centres), with the borders mirrored as MATLAB's `imresize` does (for
    bilinear this equals clamping, as PyTorch's `align_corners=False`). Since
    the scale is an integer, every output phase is a fixed 5-tap filter: the
    layer is two depthwise convolutions and two interleavings, so it runs
    under XLA and on images whose size is known only at run time.

    Args:
        scale: Integer upscaling factor, at least 2.
        interpolation: `"bilinear"` or `"bicubic"`.
        **kwargs: Base layer keyword arguments, such as `name`.
    """

    def __init__(self, scale, interpolation="bilinear", **kwargs):
        super().__init__(scale, **kwargs)
        if interpolation not in _KERNELS:
            raise ValueError(
                "Expected `interpolation` to be 'bilinear' or 'bicubic'. "
                f"Received: interpolation={interpolation!r}"
            )
        self.interpolation = interpolation
        offsets = (np.arange(scale) + 0.5) / scale - 0.5
        # taps[phase, k]: weight of input sample (i + k - 2) for output (scale * i + phase).
        self.taps = _KERNELS[interpolation](offsets[:, None] - np.arange(-2, 3)[None, :])

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"Interpolate needs a known channel count. Received: input_shape={input_shape}")
        kernel = np.repeat(self.taps.T[:, None, :], channels, axis=1)  # (5, channels, scale)
        self.kernels = (kernel[:, None], kernel[None, :])  # height, then width filter

    def call(self, inputs):
        outputs = inputs
        for axis, kernel in ((1, self.kernels[0]), (2, self.kernels[1])):
            padding = [[0, 0], [0, 0], [0, 0], [0, 0]]
            padding[axis] = [2, 2]
            outputs = ops.pad(outputs, padding, mode="symmetric")
            outputs = ops.depthwise_conv(outputs, ops.cast(kernel, outputs.dtype), padding="valid")
            shape = ops.shape(outputs)
            channels = inputs.shape[-1]
            outputs = ops.reshape(outputs, (shape[0], shape[1], shape[2], channels, self.scale))
            if axis == 1:
                outputs = ops.transpose(outputs, (0, 1, 4, 2, 3))
                outputs = ops.reshape(outputs, (shape[0], shape[1] * self.scale, shape[2], channels))
            else:
                outputs = ops.transpose(outputs, (0, 1, 2, 4, 3))
                outputs = ops.reshape(outputs, (shape[0], shape[1], shape[2] * self.scale, channels))
        return outputs

    def compute_output_shape(self, input_shape):
        return _resized(input_shape, lambda side: side * self.scale, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


@keras.saving.register_keras_serializable(package="sr_models")
class NoiseLevelMap(keras.layers.Layer):
    """Spreads a per-image noise level over an image: `[image, level] -> (batch, H, W, 1)`.

    The noise-level map of the non-blind denoisers (FFDNet, DRUNet): `level`
    is `(batch, 1)`, the noise standard deviation on the [0, 1] scale
    (sigma / 255), and the map has the height and width of `image`.
    """

    def call(self, inputs):
        image, level = inputs
        level = ops.cast(level, image.dtype)
        return ops.ones_like(image[..., :1]) * level[:, None, None, :]

    def compute_output_shape(self, input_shape):
        image, _ = input_shape
        return (*image[:3], 1)


# Name of the second input of the networks that take a noise level.
NOISE_LEVEL_INPUT = "noise_level"


def noise_level_input():
    """The `(batch, 1)` noise-level input (sigma / 255) of a non-blind denoiser."""
    return keras.Input(shape=(1,), name=NOISE_LEVEL_INPUT)


def takes_noise_level(model):
    """Whether `model` has a noise-level input besides the image (FFDNet, DRUNet)."""
    return any(tensor.name == NOISE_LEVEL_INPUT for tensor in model.inputs[1:])
