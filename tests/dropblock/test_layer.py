"""Behaviour of the `DropBlock2D` layer (runs under every backend)."""

import inspect

import keras
import numpy as np
import pytest
from keras import ops

import dropblock

pytestmark = pytest.mark.backend_agnostic


def to_numpy(x):
    return ops.convert_to_numpy(x)


def test_identity_at_inference_and_at_rate_zero():
    """Inference and rate 0 return the input unchanged."""
    inputs = np.random.default_rng(0).random((2, 9, 11, 4)).astype("float32")
    np.testing.assert_array_equal(to_numpy(dropblock.DropBlock2D(0.3, 3)(inputs)), inputs)
    np.testing.assert_array_equal(
        to_numpy(dropblock.DropBlock2D(0.0, 3)(inputs, training=True)), inputs
    )


def test_per_sample_normalization_preserves_each_sample_mean():
    """Per-sample rescaling keeps the mean of each sample of a constant map."""
    inputs = np.ones((8, 32, 32, 16), "float32") * np.arange(1, 9)[:, None, None, None]
    outputs = to_numpy(dropblock.DropBlock2D(0.3, 5, seed=1)(inputs, training=True))
    np.testing.assert_allclose(outputs.mean(axis=(1, 2, 3)), np.arange(1, 9), rtol=1e-5)
    assert (outputs == 0).mean() > 0.2


def test_batch_normalization_preserves_the_batch_mean():
    """Batch rescaling keeps the batch mean but not each sample's."""
    inputs = np.ones((8, 16, 16, 4), "float32")
    layer = dropblock.DropBlock2D(0.3, 5, normalize="batch", seed=2)
    outputs = to_numpy(layer(inputs, training=True))
    assert outputs.mean() == pytest.approx(1.0, rel=1e-5)
    assert np.ptp(outputs.mean(axis=(1, 2, 3))) > 0.01


def test_mean_preserved_in_expectation_for_random_inputs():
    """Over many draws the output mean matches the input mean."""
    inputs = np.random.default_rng(1).random((64, 24, 24, 16)).astype("float32")
    layer = dropblock.DropBlock2D(0.2, 3, seed=4)
    means = [to_numpy(layer(inputs, training=True)).mean() for _ in range(10)]
    assert np.mean(means) == pytest.approx(inputs.mean(), rel=2e-3)


def test_shared_masks_are_identical_across_channels():
    """`channels="shared"` drops the same positions in every channel."""
    outputs = to_numpy(
        dropblock.DropBlock2D(0.3, 3, channels="shared", seed=5)(
            np.ones((4, 20, 20, 6), "float32"), training=True
        )
    )
    assert np.all(outputs == outputs[..., :1])


def test_independent_masks_differ_across_channels():
    """`channels="independent"` draws a separate mask for each channel."""
    outputs = to_numpy(
        dropblock.DropBlock2D(0.3, 3, seed=5)(np.ones((4, 20, 20, 6), "float32"), training=True)
    )
    assert not np.all((outputs == 0) == (outputs[..., :1] == 0))


def test_masks_differ_across_samples():
    """Each sample of the batch gets its own mask."""
    outputs = to_numpy(
        dropblock.DropBlock2D(0.3, 3, seed=6)(np.ones((2, 20, 20, 3), "float32"), training=True)
    )
    assert not np.array_equal(outputs[0] == 0, outputs[1] == 0)


def run_widths(dropped, axis):
    """Lengths of the runs of dropped units along `axis` of a 2-D boolean map."""
    dropped = np.moveaxis(dropped, axis, -1).astype(int)
    edges = np.diff(np.pad(dropped, ((0, 0), (1, 1))), axis=1)
    return np.where(edges == -1)[1] - np.where(edges == 1)[1]


def test_channels_first_drops_blocks_of_each_plane_at_the_target_rate():
    """channels_first drops 4x2 blocks of each (H, W) plane, at the rate channels_last does."""
    inputs = np.ones((8, 6, 40, 30), "float32")
    first = dropblock.DropBlock2D(0.2, (4, 2), data_format="channels_first", seed=7)
    last = dropblock.DropBlock2D(0.2, (4, 2), data_format="channels_last", seed=7)
    transposed = np.transpose(inputs, (0, 2, 3, 1))
    fractions = {"first": [], "last": []}
    for _ in range(50):
        dropped = to_numpy(first(inputs, training=True)) == 0
        fractions["first"].append(dropped.mean())
        fractions["last"].append((to_numpy(last(transposed, training=True)) == 0).mean())
    # About 7,200 independent blocks a draw: the mean of 50 draws is within 0.0007 (1 sigma).
    assert np.mean(fractions["first"]) == pytest.approx(0.2, abs=0.004)
    assert np.mean(fractions["last"]) == pytest.approx(0.2, abs=0.004)
    plane = dropped[0, 0]
    widths, heights = run_widths(plane, axis=1), run_widths(plane, axis=0)
    assert widths.size and heights.size
    assert widths.min() >= 2 and heights.min() >= 4


def test_structure_follows_keras_regularization_layers():
    """Built at init, no trainable weights, two rate variables, one seed generator, masking."""
    layer = dropblock.DropBlock2D(0.1, 3, seed=1)
    assert layer.built and layer.supports_masking
    assert layer.trainable_weights == []
    assert [weight.name for weight in layer.non_trainable_weights] == [
        "current_rate", "realised_rate"
    ]
    generators = [value for value in vars(layer).values()
                  if isinstance(value, keras.random.SeedGenerator)]
    assert len(generators) == 1
    # The generator's state is tracked with the layer, so it is saved and restored with it.
    assert any(variable is generators[0].state for variable in layer.non_trainable_variables)
    assert len(layer.non_trainable_variables) == 3
    assert layer.compute_output_shape((2, 9, 9, 4)) == (2, 9, 9, 4)
    inputs = keras.Input((9, 9, 4))
    assert tuple(layer(inputs).shape) == (None, 9, 9, 4)


@pytest.mark.parametrize(
    "shape,rate,block",
    [((2, 1, 1, 4), 0.5, 7), ((2, 3, 5, 4), 0.99, 7), ((1, 8, 8, 2), 0.999, 8)],
)
def test_extreme_cases_stay_finite(shape, rate, block):
    """1x1 maps, blocks larger than the map and rates near 1 never give NaN/inf."""
    layer = dropblock.DropBlock2D(rate, block, seed=8)
    for _ in range(20):
        outputs = to_numpy(layer(np.ones(shape, "float32"), training=True))
        assert np.all(np.isfinite(outputs))


def test_everything_dropped_gives_zeros_not_nan():
    """A map covered by one block is all zeros when its seed falls."""
    outputs = to_numpy(
        dropblock.DropBlock2D(0.999, 4, seed=9)(np.ones((16, 4, 4, 8), "float32"), training=True)
    )
    assert np.all(np.isfinite(outputs))
    assert np.any(np.all(outputs == 0, axis=(1, 2)))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"rate": 1.0}, "rate=1.0"),
        ({"rate": -0.1}, "rate=-0.1"),
        ({"rate": 0.1, "block_size": 0}, "block_size=0"),
        ({"rate": 0.1, "block_size": (3, 2, 1)}, "block_size=(3, 2, 1)"),
        ({"rate": 0.1, "gamma": "exact"}, "gamma='exact'"),
        ({"rate": 0.1, "channels": "all"}, "channels='all'"),
        ({"rate": 0.1, "normalize": "global"}, "normalize='global'"),
    ],
)
def test_invalid_arguments_raise_naming_the_value(kwargs, message):
    """Bad constructor arguments raise ValueError naming the received value."""
    with pytest.raises(ValueError, match="Expected") as error:
        dropblock.DropBlock2D(**kwargs)
    assert message in str(error.value)


def test_get_config_lists_every_argument_and_round_trips():
    """get_config names every constructor argument and rebuilds the layer."""
    layer = dropblock.DropBlock2D(0.2, (5, 3), gamma="paper", channels="shared",
                                  normalize="batch", seed=3, scheduled=False)
    config = layer.get_config()
    arguments = set(inspect.signature(dropblock.DropBlock2D.__init__).parameters)
    assert arguments - {"self", "kwargs"} <= set(config)
    clone = dropblock.DropBlock2D.from_config(config)
    assert clone.get_config() == config


def test_saved_model_reloads_without_custom_objects(tmp_path):
    """A .keras file reloads without custom_objects and predicts identically."""
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = dropblock.DropBlock2D(0.1, 3)(x)
    x = dropblock.StochasticDepth(0.1)(x)
    x = dropblock.Cutout(4)(x)
    outputs = dropblock.DropConnectConv2D(3, 3, padding="same", rate=0.2)(x)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    images = np.random.default_rng(0).random((2, 13, 17, 3)).astype("float32")
    np.testing.assert_array_equal(
        to_numpy(model(images, training=False)), to_numpy(reloaded(images, training=False))
    )
    assert isinstance(reloaded.layers[2], dropblock.DropBlock2D)
