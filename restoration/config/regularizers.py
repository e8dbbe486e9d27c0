"""The regularizer sections of a run configuration, one per regularizer name.

Each section's fields beyond `name`, `placement` and `blocks` are the
constructor arguments of its layer (`dropblock.get(name, **layer_kwargs())`),
checked here with the ranges the layer accepts: a typo or an out-of-range
value is a `ConfigError` naming the dotted key before any run starts, never
an error from the layer after another arm has trained.

A section is also all the training application knows of its regularizer:
the callbacks it needs (`callbacks`), the warnings a run should print and
record (`warnings`) and the values it logs while training (`logged`).
"""

import typing
from typing import ClassVar
from typing import Literal

from dropblock.modes import CHANNEL_MODES
from dropblock.modes import GAMMA_MODES
from dropblock.modes import NORMALIZE_MODES
from restoration.config.conversion import fraction
from restoration.config.conversion import non_negative
from restoration.config.conversion import optional_seed
from restoration.config.conversion import section
from restoration.config.conversion import spec
from restoration.config.conversion import to_plain
from restoration.config.conversion import unique
from sr_models.specs import PLACEMENTS


def _block_size(default):
    return spec(
        "a positive integer or a list of two (height, width)",
        lambda value: value > 0 if isinstance(value, int) else len(value) == 2 and min(value) > 0,
        default,
    )


@section
class _Regularizer:
    """Where a regularizer goes; the fields of a subclass are its layer's arguments.

    `blocks` lists zero-based block indices and is used with placement
    `blocks` only.
    """

    # Keys that are not arguments of the layer: where it goes, and how training drives it.
    non_layer_keys: ClassVar[tuple] = ("name", "placement", "blocks")

    name: str
    placement: Literal[PLACEMENTS] = "every_block"
    blocks: tuple[int, ...] = spec(
        "a list of unique block indices >= 0",
        lambda values: unique(values) and all(value >= 0 for value in values),
        (),
    )

    def layer_kwargs(self):
        """The constructor arguments of the layer (`dropblock.get(name, **kwargs)`)."""
        return {
            key: tuple(value) if isinstance(value, list) else value
            for key, value in to_plain(self).items()
            if key not in self.non_layer_keys
        }

    def callbacks(self, steps):
        """The Keras callbacks a run of `steps` training steps needs for this regularizer."""
        return []

    def warnings(self, steps):
        """Sentences a run of `steps` training steps should print and record in results.json."""
        return []

    def logged(self, model):
        """Values to log while training, tag to float (`<name>/<value>`); empty if none."""
        return {}

    def relations(self):
        if self.placement == "blocks" and not self.blocks:
            yield "blocks", "a non-empty list with placement 'blocks'", []
        if self.placement != "blocks" and self.blocks:
            yield "blocks", "an empty list unless placement is 'blocks'", list(self.blocks)

    def fits(self, model, channels):
        """Yields `(dotted key, expected, received)` where the placement does not fit the network.

        Args:
            model: The run's model section (`restoration.config.models`).
            channels: The task's image channels, which can size the network.
        """
        if self.placement == "branch" and not model.network.branches:
            expected = f"a placement {model.name} has (it has no residual branches)"
            yield "regularizer.placement", expected, self.placement
        count = model.network.block_count(model.builder_kwargs(), channels)
        if any(index >= count for index in self.blocks):
            expected = f"block indices in [0, {count - 1}] ({model.name} has {count} blocks)"
            yield "regularizer.blocks", expected, list(self.blocks)


@section
class _RateAndSeed(_Regularizer):
    """A regularizer whose layer takes a drop `rate` in [0, 1) and a `seed`."""

    rate: float = fraction()
    seed: int | None = optional_seed()


@section
class DropBlockConfig(_Regularizer):
    """DropBlock after convolution stages (`dropblock.DropBlock2D`).

    `schedule_steps` ramps the rate linearly from 0 over that many steps
    (scheduled DropBlock); 0 turns the ramp off. `seed` fixes the masks of
    the first layer, the next layers take the following seeds; null derives
    them from the run seed.

    Reference:
        - [Ghiasi et al., DropBlock, NeurIPS 2018](https://arxiv.org/abs/1810.12890)
    """

    non_layer_keys: ClassVar[tuple] = (*_Regularizer.non_layer_keys, "schedule_steps")

    name: Literal["dropblock"]
    schedule_steps: int = non_negative(0)
    rate: float = fraction()
    block_size: int | tuple[int, ...] = _block_size(7)
    gamma: Literal[GAMMA_MODES] = "calibrated"
    channels: Literal[CHANNEL_MODES] = "independent"
    normalize: Literal[NORMALIZE_MODES] = "per_sample"
    seed: int | None = optional_seed()

    def callbacks(self, steps):
        import dropblock

        return [dropblock.DropBlockSchedule(self.schedule_steps)] if self.schedule_steps else []

    def warnings(self, steps):
        if self.schedule_steps <= steps:
            return []
        return [f"regularizer.schedule_steps ({self.schedule_steps}) is longer than training.steps "
                f"({steps}): the rate ends at {steps / self.schedule_steps:.3g} of its target {self.rate:g}"]

    def logged(self, model):
        """The mean target (`current_rate`) and realised drop rates of the model's DropBlock layers."""
        import keras

        from dropblock.schedule import scheduled_layers

        layers = scheduled_layers(model)
        if not layers:
            return {}
        return {f"dropblock/{value}": sum(float(keras.ops.convert_to_numpy(getattr(layer, value)))
                                          for layer in layers) / len(layers)
                for value in ("current_rate", "realised_rate")}


@section
class DropoutConfig(_RateAndSeed):
    """Unit dropout (`keras.layers.Dropout`)."""

    name: Literal["dropout"]


@section
class SpatialDropoutConfig(_RateAndSeed):
    """Channel dropout (`keras.layers.SpatialDropout2D`).

    Reference:
        - [Kong et al., Reflash Dropout in Image Super-Resolution, CVPR 2022](
          https://arxiv.org/abs/2112.12089)
    """

    name: Literal["spatial_dropout"]


@section
class StochasticDepthConfig(_RateAndSeed):
    """Drops whole residual branches (`dropblock.StochasticDepth`); place it on `branch`."""

    name: Literal["stochastic_depth"]
    placement: Literal[PLACEMENTS] = "branch"


@section
class CutoutConfig(_Regularizer):
    """One zeroed rectangle per image (`dropblock.Cutout`); place it on `input`.

    `size` is the rectangle in pixels, `rate` the probability that an image is cut.
    """

    name: Literal["cutout"]
    placement: Literal[PLACEMENTS] = "input"
    size: int | tuple[int, ...] = _block_size(16)
    rate: float = spec("a number in [0, 1]", lambda value: 0 <= value <= 1, 1.0)
    seed: int | None = optional_seed()


@section
class DropConnectConfig(_RateAndSeed):
    """Dropped kernel entries in the placed convolutions (`dropblock.DropConnectConv2D`)."""

    name: Literal["dropconnect"]


RegularizerConfig = (
    DropBlockConfig | DropoutConfig | SpatialDropoutConfig | StochasticDepthConfig
    | CutoutConfig | DropConnectConfig
)
REGULARIZERS = {
    typing.get_args(typing.get_type_hints(cls)["name"])[0]: cls
    for cls in typing.get_args(RegularizerConfig)
}
