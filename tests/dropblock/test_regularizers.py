"""Training and inference behaviour of every registered regularizer."""

import keras
import numpy as np
import pytest
from keras import ops

import dropblock

pytestmark = pytest.mark.backend_agnostic


def to_numpy(x):
    return ops.convert_to_numpy(x)


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("dropblock", {"rate": 0.3, "block_size": 3}),
        ("dropout", {"rate": 0.3}),
        ("spatial_dropout", {"rate": 0.3}),
        ("stochastic_depth", {"rate": 0.3}),
        ("cutout", {"size": 4}),
    ],
)
def test_registered_layers_drop_in_training_only(name, kwargs):
    """Each registered layer changes its input in training, never at inference."""
    layer = dropblock.get(name, seed=1, **kwargs)
    inputs = np.ones((8, 12, 12, 4), "float32")
    np.testing.assert_array_equal(to_numpy(layer(inputs, training=False)), inputs)
    assert np.any(to_numpy(layer(inputs, training=True)) == 0)


def test_get_rejects_unknown_names():
    """An unknown regularizer name lists the known ones."""
    with pytest.raises(ValueError, match="dropblock.*Received: identifier='dropbock'"):
        dropblock.get("dropbock")


def test_spatial_dropout_drops_whole_channels():
    """spatial_dropout zeroes entire feature maps."""
    outputs = to_numpy(dropblock.get("spatial_dropout", rate=0.5, seed=2)(
        np.ones((4, 6, 6, 16), "float32"), training=True))
    per_map = (outputs == 0).mean(axis=(1, 2))
    assert set(np.unique(per_map)) <= {0.0, 1.0}


def test_stochastic_depth_drops_whole_samples_at_the_rate():
    """Each sample is kept whole (scaled by 1/(1-rate)) or dropped whole."""
    layer = dropblock.StochasticDepth(0.25, seed=3)
    outputs = to_numpy(layer(np.ones((4000, 3, 3, 2), "float32"), training=True))
    values = np.unique(outputs.reshape(4000, -1), axis=1)
    assert values.shape[1] == 1
    np.testing.assert_allclose(np.unique(values), [0.0, 1 / 0.75], rtol=1e-6)
    # Binomial(4000, 0.25): standard deviation of the fraction is 0.0068.
    assert (values == 0).mean() == pytest.approx(0.25, abs=0.03)
    assert outputs.mean() == pytest.approx(1.0, abs=0.04)


def test_cutout_zeroes_one_rectangle_of_the_given_size():
    """A cut fully inside the image is exactly size[0] x size[1] in every channel."""
    layer = dropblock.Cutout((5, 3), seed=4)
    outputs = to_numpy(layer(np.ones((200, 32, 32, 3), "float32"), training=True))
    assert np.all(outputs == outputs[..., :1])
    cut = outputs[..., 0] == 0
    rows, cols = cut.any(axis=2), cut.any(axis=1)
    inside = (~rows[:, 0]) & (~rows[:, -1]) & (~cols[:, 0]) & (~cols[:, -1])
    assert inside.sum() > 100
    for sample in np.flatnonzero(inside):
        assert rows[sample].sum() == 5 and cols[sample].sum() == 3
        assert cut[sample].sum() == 15


def test_cutout_rate_is_the_probability_of_cutting():
    """With rate 0.5 about half of the samples are left untouched."""
    layer = dropblock.Cutout(8, rate=0.5, seed=5)
    outputs = to_numpy(layer(np.ones((2000, 16, 16, 1), "float32"), training=True))
    untouched = np.all(outputs == 1, axis=(1, 2, 3)).mean()
    assert untouched == pytest.approx(0.5, abs=0.04)


def test_dropconnect_is_a_plain_convolution_at_inference():
    """At inference DropConnectConv2D equals Conv2D with the same weights."""
    images = np.random.default_rng(0).random((2, 9, 9, 3)).astype("float32")
    layer = dropblock.DropConnectConv2D(4, 3, padding="same", rate=0.5, seed=6)
    plain = keras.layers.Conv2D(4, 3, padding="same")
    layer.build(images.shape)
    plain.build(images.shape)
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        to_numpy(layer(images, training=False)), to_numpy(plain(images)), atol=1e-6
    )


def test_dropconnect_drops_kernel_entries_in_training():
    """Training draws a new kernel mask each call; its mean is the full kernel."""
    images = np.ones((1, 3, 3, 1), "float32")
    layer = dropblock.DropConnectConv2D(1, 3, rate=0.5, use_bias=False, seed=7,
                                        kernel_initializer="ones")
    samples = np.array([to_numpy(layer(images, training=True)).item() for _ in range(400)])
    # Each output sums 9 kernel entries, each 0 or 2: a Binomial(9, 0.5) times 2.
    assert set(np.unique(samples)) <= set(range(0, 19, 2))
    assert samples.mean() == pytest.approx(9.0, abs=0.5)
    np.testing.assert_array_equal(to_numpy(layer.kernel), np.ones((3, 3, 1, 1)))
