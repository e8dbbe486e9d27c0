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

Importing the package does not import Keras: the layers are imported on
first use, and `dropblock.modes` holds the argument choices a configuration
offers.
"""

import importlib

from dropblock.modes import CHANNEL_MODES
from dropblock.modes import GAMMA_MODES
from dropblock.modes import NORMALIZE_MODES

# The names this package exports from its modules that import Keras, by module.
_LAZY = {
    "drop_block_2d": "drop_block",
    "calibrated_gamma": "gamma",
    "expected_drop_fraction": "gamma",
    "paper_gamma": "gamma",
    "DropBlock2D": "layers",
    "Cutout": "regularizers",
    "DropConnectConv2D": "regularizers",
    "StochasticDepth": "regularizers",
    "DropBlockSchedule": "schedule",
}

# The layer of every regularizer the project compares, by the name configs use.
_REGULARIZERS = {
    "dropblock": "dropblock.layers.DropBlock2D",
    "dropout": "keras.layers.Dropout",
    "spatial_dropout": "keras.layers.SpatialDropout2D",
    "stochastic_depth": "dropblock.regularizers.StochasticDepth",
    "cutout": "dropblock.regularizers.Cutout",
    "dropconnect": "dropblock.regularizers.DropConnectConv2D",
}

# Regularizers that replace a convolution rather than follow one.
CONVOLUTIONS = frozenset({"dropconnect"})


def _load(path):
    module, _, attribute = path.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"dropblock.{_LAZY[name]}"), name)
    if name == "REGULARIZERS":
        return {key: _load(path) for key, path in _REGULARIZERS.items()}
    raise AttributeError(f"module 'dropblock' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *__all__})


def get(identifier, **kwargs):
    """Instantiates the regularizer registered under `identifier`.

    Args:
        identifier: A key of `REGULARIZERS`, such as `"dropblock"`.
        **kwargs: Constructor arguments of that layer.

    Returns:
        A new `keras.layers.Layer`.
    """
    if identifier not in _REGULARIZERS:
        raise ValueError(
            "Unknown regularizer. Expected one of "
            f"{sorted(_REGULARIZERS)}. Received: identifier={identifier!r}"
        )
    return _load(_REGULARIZERS[identifier])(**kwargs)


__all__ = ["CHANNEL_MODES", "CONVOLUTIONS", "GAMMA_MODES", "NORMALIZE_MODES", "REGULARIZERS", "get", *_LAZY]
