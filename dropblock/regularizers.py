"""The other regularizers the project compares DropBlock with.

All follow the conventions of `DropBlock2D`: a `rate` argument validated in
the constructor, a `SeedGenerator` owned by the layer, identity (or the
plain operation) when `training` is false, and `get_config` listing every
constructor argument.
"""

import keras
from keras import ops

from dropblock.drop_block import validate_rate
from dropblock.replicas import draw_rows


@keras.saving.register_keras_serializable(package="dropblock")
class StochasticDepth(keras.layers.Layer):
    """Drops a whole residual branch per sample and rescales the survivors.

    Place it on the residual branch, before the skip addition: a dropped
    sample then passes through the block unchanged.

    Args:
        rate: Probability of dropping the branch for a sample, in `[0, 1)`.
        seed: Optional int for the random number generator.

    Reference:
        - [Huang et al., Deep networks with stochastic depth, ECCV 2016](
          https://arxiv.org/abs/1603.09382)
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = validate_rate(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        self.built = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        keep_probability = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        noise = draw_rows(keras.random.uniform, shape, seed=self.seed_generator)
        keep = ops.cast(noise < keep_probability, inputs.dtype)
        return inputs * keep / ops.cast(keep_probability, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="dropblock")
class Cutout(keras.layers.Layer):
    """Zeroes one random rectangle of each input image during training.

    The centre is uniform over the image, so the rectangle may be cut by the
    border, as in the original method. Nothing is rescaled.

    Args:
        size: int or `(height, width)` of the rectangle in pixels.
        rate: Probability that a given sample is cut; `0 <= rate <= 1`.
        data_format: `"channels_last"` or `"channels_first"`.
        seed: Optional int for the random number generator.

    Reference:
        - [DeVries and Taylor, Improved regularization of convolutional
          neural networks with Cutout, 2017](https://arxiv.org/abs/1708.04552)
    """

    def __init__(self, size=16, rate=1.0, data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(size, int) and not isinstance(size, bool):
            size = (size, size)
        if not (isinstance(size, (tuple, list)) and len(size) == 2
                and all(isinstance(s, int) and s > 0 for s in size)):
            raise ValueError(
                "Invalid value for argument `size`. Expected a positive integer "
                f"or a tuple of two. Received: size={size}"
            )
        self.size = tuple(size)
        self.rate = validate_rate(rate, closed=True)
        self.data_format = data_format or keras.config.image_data_format()
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def _axis_mask(self, batch, length, extent):
        """`(batch, length)` mask, 1 inside a random interval of `extent`."""
        centre = draw_rows(keras.random.uniform, (batch, 1), 0.0, 1.0, seed=self.seed_generator)
        centre = ops.floor(centre * ops.cast(length, "float32"))
        positions = ops.cast(ops.arange(0, length), "float32")[None, :]
        start = centre - float(extent // 2)
        return ops.logical_and(positions >= start, positions < start + extent)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        shape = ops.shape(inputs)
        if self.data_format == "channels_last":
            batch, height, width = shape[0], shape[1], shape[2]
        else:
            batch, height, width = shape[0], shape[2], shape[3]
        rows = self._axis_mask(batch, height, self.size[0])
        cols = self._axis_mask(batch, width, self.size[1])
        applied = draw_rows(keras.random.uniform, (batch, 1, 1), seed=self.seed_generator) < self.rate
        cut = ops.logical_and(
            ops.logical_and(rows[:, :, None], cols[:, None, :]), applied
        )
        axis = -1 if self.data_format == "channels_last" else 1
        keep = ops.cast(ops.logical_not(ops.expand_dims(cut, axis)), inputs.dtype)
        return inputs * keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "rate": self.rate,
                "data_format": self.data_format, "seed": self.seed}


@keras.saving.register_keras_serializable(package="dropblock")
class DropConnectConv2D(keras.layers.Conv2D):
    """A `Conv2D` whose kernel entries are dropped during training.

    One Bernoulli mask over the kernel is drawn per training step and the
    surviving entries are scaled by `1 / (1 - rate)`. At inference the layer
    is a plain convolution with the full kernel.

    Args:
        rate: Fraction of kernel entries dropped, in `[0, 1)`.
        seed: Optional int for the random number generator.
        *args, **kwargs: Arguments of `keras.layers.Conv2D`.

    Reference:
        - [Wan et al., Regularization of neural networks using DropConnect,
          ICML 2013](https://proceedings.mlr.press/v28/wan13.html)
    """

    def __init__(self, *args, rate=0.1, seed=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.rate = validate_rate(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        kernel = self.kernel
        if training and self.rate > 0:
            keep_probability = 1.0 - self.rate
            noise = keras.random.uniform(ops.shape(kernel), seed=self.seed_generator)
            keep = ops.cast(noise < keep_probability, kernel.dtype)
            kernel = kernel * keep / ops.cast(keep_probability, kernel.dtype)
        outputs = self.convolution_op(inputs, kernel)
        if self.use_bias:
            if self.data_format == "channels_last":
                bias_shape = (1, 1, 1, self.filters)
            else:
                bias_shape = (1, self.filters, 1, 1)
            outputs = ops.add(outputs, ops.reshape(self.bias, bias_shape))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
