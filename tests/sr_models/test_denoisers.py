"""What is particular to the noise-level denoisers: FFDNet's padding and phases, DRUNet's stages."""

import keras
import numpy as np
import pytest

from sr_models import Placement
from sr_models import Regularizer
from sr_models import build_model
from tests.sr_models.networks import SMALL


def small(name, channels=3, regularizer=None, seed=0):
    return build_model(name, channels=channels, regularizer=regularizer, seed=seed, **SMALL[name])


def noisy(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def test_ffdnet_pads_by_repeating_the_last_row_and_column():
    """Padding an odd image repeats its edge, as the reference code's ReplicationPad2d does."""
    from sr_models.layers import PadToMultiple

    inputs = noisy((1, 5, 11, 2))
    padded = keras.ops.convert_to_numpy(PadToMultiple(8)(inputs))
    assert padded.shape == (1, 8, 16, 2)
    np.testing.assert_array_equal(padded[:, :5, :11], inputs)
    for row in range(5, 8):
        np.testing.assert_array_equal(padded[:, row, :11], inputs[:, 4])
    for column in range(11, 16):
        np.testing.assert_array_equal(padded[:, :5, column], inputs[:, :, 10])


def test_ffdnet_sees_each_2x2_phase_as_a_channel():
    """The first convolution reads 4 * channels sub-images plus the map: 13 inputs for colour."""
    model = build_model("ffdnet", channels=3, seed=0)
    assert model.get_layer("first_conv").kernel.shape == (3, 3, 13, 96)
    assert model.get_layer("last_conv").kernel.shape == (3, 3, 96, 12)
    gray = build_model("ffdnet", channels=1, seed=0)
    assert gray.get_layer("first_conv").kernel.shape == (3, 3, 5, 64)


def test_drunet_is_bias_free_with_additive_skips():
    """No convolution of DRUNet has a bias, and its scales are 64-128-256-512."""
    model = build_model("drunet", channels=3, seed=0)
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
                    or isinstance(layer, keras.layers.Conv2DTranspose)]
    assert convolutions and not any(layer.use_bias for layer in convolutions)
    assert [model.get_layer(f"down{scale}_conv").filters for scale in range(3)] == [128, 256, 512]
    assert model.get_layer("head_conv").kernel.shape == (3, 3, 4, 64)
    assert not any(isinstance(layer, keras.layers.Concatenate) for layer in model.layers
                   if layer.name != "with_noise_level")


def dropout(name):
    return keras.layers.Dropout(0.5, name=name)


def test_drunet_stage_indices_are_checked():
    """DRUNet has seven stages; an eighth block index names the range."""
    with pytest.raises(ValueError, match=r"Expected indices in \[0, 6\]"):
        small("drunet", regularizer=Regularizer(layer=dropout, placement=Placement("blocks", (7,))))
    with pytest.raises(ValueError, match="a list of four integers > 0"):
        build_model("drunet", filters=(8, 16, 32))
