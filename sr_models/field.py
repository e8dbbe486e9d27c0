"""The receptive field of a restoration network, read off its Keras graph, and the tile overlap it needs.

Tiled inference equals whole-image inference when every kept output pixel
sees, inside its tile's context, all the input pixels it depends on, and when
every tile starts on the grid of the network's downsamplings (a pixel
unshuffle by 2, a U-Net's three stride-2 convolutions). `receptive_field`
walks the layers of a functional model in order and tracks, per tensor, how
far its pixels reach into the input (the radius, in input pixels), the
spacing of its pixels (in input pixels), and the multiple its grid is aligned
to. The rules are conservative (a centred bound per layer), so the overlap
is never too small; a layer that pools the whole image (RCAN's channel
attention) has no finite radius, and a layer of unknown kind is an error
rather than a guess.
"""

import dataclasses
import math
from fractions import Fraction

import keras

from sr_models.layers import CropToInput
from sr_models.layers import Interpolate
from sr_models.layers import NoiseLevelMap
from sr_models.layers import PadToMultiple
from sr_models.layers import PixelShuffle
from sr_models.layers import PixelUnshuffle

# Layers that map each pixel to itself (or combine aligned tensors pixel by pixel).
_POINTWISE = (
    keras.layers.Activation, keras.layers.Add, keras.layers.BatchNormalization,
    keras.layers.Concatenate, keras.layers.Dropout, keras.layers.LeakyReLU, keras.layers.Multiply,
    keras.layers.PReLU, keras.layers.ReLU, keras.layers.Rescaling, keras.layers.Subtract,
    CropToInput, NoiseLevelMap,
)
_GLOBAL = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)


@dataclasses.dataclass(frozen=True)
class Field:
    """How far an output pixel reaches into the input, and the grid tiles must start on.

    Args:
        radius: Distance in input pixels from an output pixel's centre to the
            farthest input pixel it depends on; `math.inf` when it depends on
            the whole image.
        multiple: Tile origins (and tile sides) must be multiples of this
            many input pixels.
        unbounded_by: Name of the layer that makes the radius infinite, or None.
    """

    radius: float
    multiple: int = 1
    unbounded_by: str | None = None

    @property
    def bounded(self):
        return math.isfinite(self.radius)

    def overlap(self, requested=None):
        """Context pixels per tile side: `requested`, else the radius, rounded up to `multiple`."""
        if requested is not None:
            return math.ceil(requested / self.multiple) * self.multiple
        if not self.bounded:
            raise ValueError(
                f"Layer {self.unbounded_by!r} sees the whole image, so no tile overlap makes tiled "
                "inference equal whole-image inference. Expected whole-image evaluation "
                "(evaluation.tile: null) or an explicit evaluation.tile_overlap, accepting an "
                "approximation."
            )
        return math.ceil(math.ceil(self.radius) / self.multiple) * self.multiple

    def tile(self, tile):
        """`tile` rounded up to a multiple of `multiple`."""
        return math.ceil(tile / self.multiple) * self.multiple


@dataclasses.dataclass(frozen=True)
class _Reach:
    radius: Fraction
    spacing: Fraction
    multiple: int


def receptive_field(model):
    """The `Field` of a functional Keras model's first input at its first output.

    Args:
        model: A functional `keras.Model` from `sr_models` (or built from the
            same layers); a second, non-spatial input such as the noise level
            is ignored.

    Returns:
        A `Field`.

    Raises:
        ValueError: For a layer whose reach is not known, naming it.
    """
    reaches = {}
    for tensor in model.inputs:
        if len(tensor.shape) == 4:
            reaches[id(tensor)] = _Reach(Fraction(0), Fraction(1), 1)
    for layer in model.layers:
        for node in layer._inbound_nodes:
            inputs = [reaches.get(id(tensor)) for tensor in node.input_tensors]
            spatial = [reach for reach in inputs if reach is not None]
            if isinstance(layer, keras.layers.InputLayer) or not spatial:
                continue
            if isinstance(layer, _GLOBAL):
                return Field(math.inf, unbounded_by=layer.name)
            reach = _layer_reach(layer, spatial)
            for tensor in node.output_tensors:
                reaches[id(tensor)] = reach
    reach = reaches.get(id(model.outputs[0]))
    if reach is None:
        return Field(math.inf, unbounded_by=model.outputs[0].name)
    return Field(float(reach.radius), reach.multiple)


def _layer_reach(layer, inputs):
    radius = max(reach.radius for reach in inputs)
    spacing = inputs[0].spacing
    multiple = math.lcm(*(reach.multiple for reach in inputs))
    # A regularizer layer is the identity at inference; DropConnect is a convolution (below).
    regularizer = type(layer).__module__.startswith("dropblock.")
    if isinstance(layer, _POINTWISE) or (regularizer and not isinstance(layer, keras.layers.Conv2D)):
        return _Reach(radius, spacing, multiple)
    if isinstance(layer, keras.layers.Conv2DTranspose):
        (kernel, _), (stride, _) = layer.kernel_size, layer.strides
        return _Reach(radius + Fraction(kernel) / 2 * spacing, spacing / stride, multiple)
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
        (kernel, _), (stride, _) = layer.kernel_size, layer.strides
        dilation = layer.dilation_rate[0]
        radius += Fraction(kernel - 1, 2) * dilation * spacing
        return _downsampled(radius, spacing, multiple, stride)
    if isinstance(layer, PixelUnshuffle):
        radius += Fraction(layer.scale - 1, 2) * spacing
        return _downsampled(radius, spacing, multiple, layer.scale)
    if isinstance(layer, PixelShuffle):
        return _Reach(radius + spacing / 2, spacing / layer.scale, multiple)
    if isinstance(layer, keras.layers.UpSampling2D):
        extent = Fraction(1, 2) if layer.interpolation == "nearest" else Fraction(3, 2)
        return _Reach(radius + extent * spacing, spacing / layer.size[0], multiple)
    if isinstance(layer, Interpolate):
        # Five taps, centred within half a pixel of the output.
        return _Reach(radius + Fraction(5, 2) * spacing, spacing / layer.scale, multiple)
    if isinstance(layer, PadToMultiple):
        return _Reach(radius, spacing, math.lcm(multiple, _whole(spacing * layer.multiple, layer)))
    raise ValueError(
        f"The receptive field of layer {layer.name!r} ({type(layer).__name__}) is not known. "
        "Expected convolutions, shuffles, interpolation, padding and pointwise layers; to tile "
        "this model, give the overlap (--tile-overlap, or evaluation.tile_overlap in a config), "
        "or score whole images."
    )


def _downsampled(radius, spacing, multiple, stride):
    spacing = spacing * stride
    if stride > 1:
        multiple = math.lcm(multiple, _whole(spacing, None))
    return _Reach(radius, spacing, multiple)


def _whole(value, layer):
    if value.denominator != 1:
        name = "a downsampling" if layer is None else repr(layer.name)
        raise ValueError(
            f"The grid of {name} does not fall on whole input pixels (spacing {value}); "
            "tiles cannot be aligned to it."
        )
    return int(value)
