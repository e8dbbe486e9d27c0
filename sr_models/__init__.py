"""Restoration networks with pluggable regularizer placement.

`SPECS` names every network, super-resolution and denoising, with its
tasks, scales and arguments (`python -m sr_models` lists them); a network
whose spec says `noise_level` takes the noise level as a second input (see
`takes_noise_level`).

A config entry such as `{name: edsr, scale: 2, num_blocks: 16}` maps onto
`build_model("edsr", scale=2, num_blocks=16)`. A regularizer is passed as a
`Regularizer` (factories plus a `Placement`); None builds the plain network.
`SPECS` says what each network is (tasks, scales, blocks) without building
it. Importing this package does not import Keras: the builders and layers
are imported on first use, and importing `sr_models.layers` registers the
layers (`PixelShuffle`, `PixelUnshuffle`, `Interpolate`, ...) that saved
`.keras` models need. `receptive_field` gives the tile overlap that makes
tiled inference exact.
"""

import importlib
import inspect

from sr_models.specs import PLACEMENTS
from sr_models.specs import SPECS
from sr_models.specs import NetworkSpec

# The names this package exports from its modules that import Keras, by module.
_LAZY = {
    "Field": "field",
    "receptive_field": "field",
    "PixelShuffle": "layers",
    "PixelUnshuffle": "layers",
    "takes_noise_level": "layers",
    "Placement": "placement",
    "Regularizer": "placement",
    **{f"build_{name}": name for name in SPECS},
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"sr_models.{_LAZY[name]}"), name)
    if name == "MODELS":
        return {network: __getattr__(f"build_{network}") for network in SPECS}
    raise AttributeError(f"module 'sr_models' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *__all__})


def build_model(name, regularizer=None, **kwargs):
    """Builds a registered model by name.

    Args:
        name: Key of `SPECS`, e.g. `"edsr"` or `"dncnn"`.
        regularizer: A `Regularizer`, or None for the plain network.
        **kwargs: Arguments of the builder, e.g. `scale=2, num_blocks=16`.

    Returns:
        The `keras.Model` returned by the builder.
    """
    if name not in SPECS:
        raise ValueError(
            f"Unknown model. Expected one of {sorted(SPECS)}. "
            f"Received: name={name!r}"
        )
    builder = __getattr__(f"build_{name}")
    accepted = [
        parameter
        for parameter in inspect.signature(builder).parameters
        if parameter != "regularizer"
    ]
    for argument in kwargs:
        if argument not in accepted:
            raise ValueError(
                f"Unknown argument for model {name!r}. Expected one of "
                f"{accepted}. Received: argument={argument!r}"
            )
    return builder(regularizer=regularizer, **kwargs)


__all__ = ["MODELS", "PLACEMENTS", "SPECS", "NetworkSpec", "build_model", *_LAZY]
