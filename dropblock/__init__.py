"""DropBlock and the regularizers it is compared with, for Keras 3.

A standalone package: it imports nothing else from the project and uses
`keras.ops` and `keras.random` only, so it runs on every Keras backend.

Example:

```python
import keras
import dropblock

inputs = keras.Input((None, None, 64))
x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(inputs)
x = dropblock.DropBlock2D(rate=0.1, block_size=7)(x)
model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(x))
model.compile("adam", "mae")
model.fit(data, epochs=10, callbacks=[dropblock.DropBlockSchedule(ramp_steps=5000)])
```
"""

import keras

from dropblock.drop_block import drop_block_2d
from dropblock.gamma import calibrated_gamma
from dropblock.gamma import expected_drop_fraction
from dropblock.gamma import paper_gamma
from dropblock.layers import DropBlock2D
from dropblock.regularizers import Cutout
from dropblock.regularizers import DropConnectConv2D
from dropblock.regularizers import StochasticDepth
from dropblock.schedule import DropBlockSchedule

# Every regularizer the project compares, by the name configs use.
REGULARIZERS = {
    "dropblock": DropBlock2D,
    "dropout": keras.layers.Dropout,
    "spatial_dropout": keras.layers.SpatialDropout2D,
    "stochastic_depth": StochasticDepth,
    "cutout": Cutout,
    "dropconnect": DropConnectConv2D,
}

# Regularizers that replace a convolution rather than follow one.
CONVOLUTIONS = frozenset({"dropconnect"})


def get(identifier, **kwargs):
    """Instantiates the regularizer registered under `identifier`.

    Args:
        identifier: A key of `REGULARIZERS`, such as `"dropblock"`.
        **kwargs: Constructor arguments of that layer.

    Returns:
        A new `keras.layers.Layer`.
    """
    if identifier not in REGULARIZERS:
        raise ValueError(
            "Unknown regularizer. Expected one of "
            f"{sorted(REGULARIZERS)}. Received: identifier={identifier!r}"
        )
    return REGULARIZERS[identifier](**kwargs)


__all__ = [
    "CONVOLUTIONS",
    "Cutout",
    "DropBlock2D",
    "DropBlockSchedule",
    "DropConnectConv2D",
    "REGULARIZERS",
    "StochasticDepth",
    "calibrated_gamma",
    "drop_block_2d",
    "expected_drop_fraction",
    "get",
    "paper_gamma",
]
