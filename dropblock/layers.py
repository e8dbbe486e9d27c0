"""The `DropBlock2D` layer."""

import keras
from keras import ops

from dropblock import drop_block
from dropblock.gamma import normalize_block_size


@keras.saving.register_keras_serializable(package="dropblock")
class DropBlock2D(keras.layers.Layer):
    """Drops contiguous blocks of each feature map during training.

    Dropout removes single activations, which neighbouring activations of a
    convolutional feature map largely restore. DropBlock zeroes whole
    `bh x bw` regions instead and rescales the rest so the mean is kept.
    At inference (or with a rate of 0) the layer is the identity.

    The rate in effect is the non-trainable variable `current_rate`, so a
    schedule (see `DropBlockSchedule`) can change it inside an already
    compiled training step; it is clipped to `rate`, the bound that lets
    the layer draw only its block seeds when they are rare. `realised_rate` holds the fraction of units the
    last training call dropped, for logging.

    Args:
        rate: Target fraction of dropped units, `0 <= rate < 1`.
        block_size: int or `(height, width)` of the dropped blocks. A block
            larger than the feature map is clipped to it per axis.
        gamma: `"calibrated"` (default) solves the exact expectation of the
            dropped fraction for the actual map size so it equals `rate`;
            `"paper"` uses Eq. 1 of the paper (drops about 5 % less).
        channels: `"independent"` (default, as in the paper): one mask per
            sample and channel; `"shared"`: one mask per sample.
        normalize: `"per_sample"` (default), `"batch"` or `"none"`: how the
            kept units are rescaled to preserve the mean.
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `keras.config.image_data_format()`.
        seed: Optional int for the random number generator.
        scheduled: Whether `DropBlockSchedule` ramps this layer's rate.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Reference:
        - [Ghiasi, Lin and Le, DropBlock: A regularization method for
          convolutional networks, NeurIPS 2018](https://arxiv.org/abs/1810.12890)
    """

    def __init__(
        self,
        rate,
        block_size=7,
        gamma="calibrated",
        channels="independent",
        normalize="per_sample",
        data_format=None,
        seed=None,
        scheduled=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rate = drop_block.validate_rate(rate)
        data_format = data_format or keras.config.image_data_format()
        drop_block.validate_arguments(gamma, channels, normalize, data_format)
        self.block_size = normalize_block_size(block_size)
        self.gamma = gamma
        self.channels = channels
        self.normalize = normalize
        self.data_format = data_format
        self.seed = seed
        self.scheduled = scheduled
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        scalar = dict(shape=(), dtype="float32", trainable=False, autocast=False)
        self.current_rate = self.add_weight(
            initializer=keras.initializers.Constant(self.rate), name="current_rate", **scalar
        )
        # Each replica of a mirrored model measures its share; the mean is the batch's fraction.
        self.realised_rate = self.add_weight(
            initializer="zeros", aggregation="mean", name="realised_rate", **scalar
        )
        self.built = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        outputs, fraction = drop_block.drop_block_2d(
            inputs,
            rate=ops.convert_to_tensor(self.current_rate),
            block_size=self.block_size,
            gamma=self.gamma,
            channels=self.channels,
            normalize=self.normalize,
            data_format=self.data_format,
            seed=self.seed_generator,
            return_dropped_fraction=True,
            max_rate=self.rate,
        )
        self.realised_rate.assign(fraction)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        names = ("rate", "block_size", "gamma", "channels", "normalize", "data_format", "seed", "scheduled")
        return {**super().get_config(), **{name: getattr(self, name) for name in names}}
