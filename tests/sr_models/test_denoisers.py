"""Tests for the non-blind denoisers with a noise-level map: FFDNet and DRUNet."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from sr_models import Placement
from sr_models import Regularizer
from sr_models import build_model
from sr_models import takes_noise_level
from sr_models.specs import SPECS

# Counts worked out from the reference layer shapes (KAIR's FFDNet and UNetRes); the DRUNet
# paper's comparison quotes them rounded: FFDNet 0.49 M (gray), DRUNet 32.64 M.
PUBLISHED = [
    ("ffdnet", 1, 485_316, 0.49e6),
    ("ffdnet", 3, 852_108, None),
    ("drunet", 3, 32_640_960, 32.64e6),
    ("drunet", 1, 32_638_656, None),
]


@pytest.mark.parametrize("name, channels, exact, rounded", PUBLISHED,
                         ids=[f"{name}_{channels}ch" for name, channels, _, _ in PUBLISHED])
def test_denoisers_have_the_published_parameter_counts(name, channels, exact, rounded):
    """Default arguments build the paper's network for gray and colour images."""
    model = build_model(name, channels=channels, seed=0)
    assert model.count_params() == exact
    if rounded is not None:
        assert abs(exact - rounded) / rounded < 0.03
    assert takes_noise_level(model)
    assert [tensor.name for tensor in model.inputs] == ["noisy", "noise_level"]


SMALL = {
    "ffdnet": {"depth": 5, "filters": 8},
    "drunet": {"filters": (4, 8, 8, 16), "num_blocks": 1},
}


def small(name, channels=3, regularizer=None, seed=0):
    return build_model(name, channels=channels, regularizer=regularizer, seed=seed, **SMALL[name])


def noisy(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def levels(count, sigma):
    return np.full((count, 1), sigma / 255.0, np.float32)


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("channels", [1, 3])
def test_odd_sizes_keep_their_shape_and_the_level_changes_the_output(name, channels):
    """A 13x17 image comes back 13x17 (padded inside, cropped back); another sigma, another output."""
    model = small(name, channels)
    for height, width in ((13, 17), (9, 6)):
        inputs = noisy((2, height, width, channels))
        low = model.predict([inputs, levels(2, 10)], verbose=0)
        high = model.predict([inputs, levels(2, 50)], verbose=0)
        assert low.shape == inputs.shape
        assert np.all(np.isfinite(low))
        assert np.abs(low - high).mean() > 0.01 * np.abs(low).mean() > 0


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


# Layers each placement inserts; None: one per block (the small DRUNet has one residual block a stage).
PLACEMENTS = [("every_block", None), ("blocks", 1), ("after_body", 1), ("before_last", 1), ("input", 1),
              ("branch", None)]


def dropout(name):
    return keras.layers.Dropout(0.5, name=name)


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("where, count", PLACEMENTS, ids=[where for where, _ in PLACEMENTS])
def test_every_placement_inserts_its_layers_and_keeps_the_initial_weights(name, where, count):
    """One layer per site; the same initial weights and inference outputs as the plain network."""
    if where == "branch" and not SPECS[name].branches:
        with pytest.raises(ValueError, match="Received: where='branch'"):
            small(name, regularizer=Regularizer(layer=dropout, placement=Placement(where)))
        return
    placement = Placement("blocks", (1,)) if where == "blocks" else Placement(where)
    plain = small(name)
    regularized = small(name, regularizer=Regularizer(layer=dropout, placement=placement))
    inserted = [layer.name for layer in regularized.layers if layer.name.startswith("regularizer_")]
    assert len(inserted) == (SPECS[name].block_count(SMALL[name], 3) if count is None else count)
    for first, second in zip(plain.get_weights(), regularized.get_weights(), strict=True):
        np.testing.assert_array_equal(first, second)
    inputs = [noisy((1, 16, 16, 3)), levels(1, 25)]
    np.testing.assert_array_equal(plain.predict(inputs, verbose=0), regularized.predict(inputs, verbose=0))


def test_drunet_stage_indices_are_checked():
    """DRUNet has seven stages; an eighth block index names the range."""
    with pytest.raises(ValueError, match=r"Expected indices in \[0, 6\]"):
        small("drunet", regularizer=Regularizer(layer=dropout, placement=Placement("blocks", (7,))))
    with pytest.raises(ValueError, match="four channel counts"):
        build_model("drunet", filters=(8, 16, 32))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_keras_file_round_trip_gives_identical_outputs(name, tmp_path):
    """A saved denoiser reloads without custom_objects, both inputs included."""
    model = small(name, regularizer=Regularizer(layer=dropout, placement=Placement("before_last")))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    inputs = [noisy((1, 11, 9, 3)), levels(1, 15)]
    np.testing.assert_array_equal(reloaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0))
    assert takes_noise_level(reloaded)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_denoiser_trains_in_bfloat16_under_xla(name):
    """Mixed bfloat16 with jit_compile: a finite float32 image out and a loss that moves."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = small(name, regularizer=Regularizer(layer=dropout, placement=Placement("before_last")))
    finally:
        keras.config.set_dtype_policy(previous)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae", jit_compile=True)
    inputs = [noisy((4, 16, 16, 3)), levels(4, 25)]
    targets = noisy((4, 16, 16, 3), seed=1)
    history = model.fit(inputs, targets, epochs=3, batch_size=4, verbose=0).history["loss"]
    outputs = model.predict(inputs, verbose=0)
    assert outputs.dtype == np.float32 and np.all(np.isfinite(outputs))
    assert np.all(np.isfinite(history)) and history[-1] != history[0]
