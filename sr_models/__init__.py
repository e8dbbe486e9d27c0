"""Restoration networks with pluggable regularizer placement.

Super-resolution: EDSR, MSRResNet, RCAN, RRDBNet, VDSR, FSRCNN, ESPCN;
denoising: DnCNN, FFDNet, DRUNet (the last two take a noise level as a second
input, see `takes_noise_level`).

A config entry such as `{name: edsr, scale: 2, num_blocks: 16}` maps onto
`build_model("edsr", scale=2, num_blocks=16)`. A regularizer is passed as a
`Regularizer` (factories plus a `Placement`); None builds the plain network.
Importing this package registers its layers (`PixelShuffle`, `PixelUnshuffle`,
`Interpolate`, ...), so saved `.keras` models load without `custom_objects`.
`receptive_field` gives the tile overlap that makes tiled inference exact.
"""

import inspect

from sr_models.dncnn import build_dncnn
from sr_models.drunet import build_drunet
from sr_models.edsr import build_edsr
from sr_models.espcn import build_espcn
from sr_models.ffdnet import build_ffdnet
from sr_models.fsrcnn import build_fsrcnn
from sr_models.layers import PixelShuffle
from sr_models.layers import PixelUnshuffle
from sr_models.layers import takes_noise_level as takes_noise_level
from sr_models.placement import PLACEMENTS
from sr_models.placement import Placement
from sr_models.placement import Regularizer
from sr_models.rcan import build_rcan
from sr_models.receptive_field import Field as Field
from sr_models.receptive_field import receptive_field as receptive_field
from sr_models.rrdbnet import build_rrdbnet
from sr_models.srresnet import build_srresnet
from sr_models.vdsr import build_vdsr

MODELS = {
    "edsr": build_edsr,
    "srresnet": build_srresnet,
    "rcan": build_rcan,
    "rrdbnet": build_rrdbnet,
    "vdsr": build_vdsr,
    "fsrcnn": build_fsrcnn,
    "espcn": build_espcn,
    "dncnn": build_dncnn,
    "ffdnet": build_ffdnet,
    "drunet": build_drunet,
}


def build_model(name, regularizer=None, **kwargs):
    """Builds a registered model by name.

    Args:
        name: Key of `MODELS`, e.g. `"edsr"` or `"dncnn"`.
        regularizer: A `Regularizer`, or None for the plain network.
        **kwargs: Arguments of the builder, e.g. `scale=2, num_blocks=16`.

    Returns:
        The `keras.Model` returned by the builder.
    """
    if name not in MODELS:
        raise ValueError(
            f"Unknown model. Expected one of {sorted(MODELS)}. "
            f"Received: name={name!r}"
        )
    builder = MODELS[name]
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


__all__ = [
    "MODELS",
    "PLACEMENTS",
    "PixelShuffle",
    "PixelUnshuffle",
    "Placement",
    "Regularizer",
    "build_dncnn",
    "build_edsr",
    "build_model",
]
