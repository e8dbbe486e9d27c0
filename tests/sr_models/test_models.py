"""Tests for the EDSR and DnCNN builders and regularizer placement."""

import keras
import numpy as np
import pytest

from sr_models import PixelShuffle
from sr_models import Placement
from sr_models import Regularizer
from sr_models import build_dncnn
from sr_models import build_edsr
from sr_models import build_model


def _dropout(name):
    return keras.layers.Dropout(0.5, name=name)


class MarkedConv2D(keras.layers.Conv2D):
    """Conv2D subclass that marks the convolutions a conv factory replaced."""


def _marked_conv(filters, kernel_size, **kwargs):
    return MarkedConv2D(filters, kernel_size, **kwargs)


def _small_edsr(regularizer=None, seed=0, **kwargs):
    arguments = dict(scale=2, num_blocks=4, filters=8, seed=seed)
    arguments.update(kwargs)
    return build_edsr(regularizer=regularizer, **arguments)


def _small_dncnn(regularizer=None, seed=0, **kwargs):
    arguments = dict(depth=6, filters=8, seed=seed)
    arguments.update(kwargs)
    return build_dncnn(regularizer=regularizer, **arguments)


def _image(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def _regularizer_names(model):
    return [layer.name for layer in model.layers if layer.name.startswith("regularizer_")]


def _neighbours(model, layer_name):
    """Names of the layer feeding `layer_name` and of the layers it feeds."""
    layer = model.get_layer(layer_name)
    producer = [other.name for other in model.layers if other.output is layer.input]
    consumers = [
        other.name
        for other in model.layers
        if any(tensor is layer.output for tensor in keras.tree.flatten(other.input))
    ]
    return producer, consumers


def _assert_same_weights(first, second):
    first_weights = first.get_weights()
    second_weights = second.get_weights()
    assert len(first_weights) == len(second_weights)
    for first_array, second_array in zip(first_weights, second_weights):
        np.testing.assert_array_equal(first_array, second_array)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_edsr_upscales_odd_non_square_input_by_scale(scale):
    """A 13x17 input becomes (13*scale)x(17*scale) with the same channels."""
    model = build_edsr(scale, num_blocks=1, filters=8, seed=0)
    outputs = model(_image((1, 13, 17, 3)))
    assert tuple(outputs.shape) == (1, 13 * scale, 17 * scale, 3)


@pytest.mark.parametrize("builder", [_small_edsr, _small_dncnn])
def test_models_accept_two_different_input_sizes(builder):
    """One model built for (None, None, C) runs compiled on two image sizes."""
    model = builder()
    channels = model.input_shape[-1]
    factor = 2 if builder is _small_edsr else 1
    for height, width in [(9, 11), (16, 6)]:
        outputs = model.predict(_image((2, height, width, channels)), verbose=0)
        assert outputs.shape == (2, height * factor, width * factor, channels)


def test_pixel_shuffle_follows_depth_to_space_channel_order():
    """Output pixel (r*y+i, r*x+j), channel c reads input channel (i*r+j)*C+c."""
    scale, channels = 3, 2
    inputs = _image((2, 4, 5, scale * scale * channels))
    outputs = keras.ops.convert_to_numpy(PixelShuffle(scale)(inputs))
    expected = np.zeros((2, 4 * scale, 5 * scale, channels), np.float32)
    for i in range(scale):
        for j in range(scale):
            start = (i * scale + j) * channels
            expected[:, i::scale, j::scale, :] = inputs[..., start : start + channels]
    np.testing.assert_array_equal(outputs, expected)


def test_dncnn_output_is_input_minus_predicted_noise():
    """With the noise convolution zeroed, DnCNN returns its input unchanged."""
    model = _small_dncnn(channels=3)
    noise_conv = model.get_layer("noise_conv")
    noise_conv.set_weights([np.zeros_like(w) for w in noise_conv.get_weights()])
    inputs = _image((1, 7, 9, 3))
    np.testing.assert_allclose(model.predict(inputs, verbose=0), inputs, atol=1e-7)


def test_no_regularizer_builds_the_plain_network():
    """regularizer=None inserts nothing; a Dropout adds only its own layers."""
    plain = _small_edsr()
    regularized = _small_edsr(Regularizer(layer=_dropout))
    assert _regularizer_names(plain) == []
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in plain.layers)
    assert len(regularized.layers) == len(plain.layers) + 4


def _per_block(site, anchor, blocks):
    return {f"regularizer_{site}{i}": anchor.format(i) for i in blocks}


# (builder, placement, inserted layer -> neighbouring layer, side of the neighbour)
LAYER_SITES = [
    (_small_edsr, Placement("every_block"), _per_block("block", "block{}_add", range(4)), "producer"),
    (_small_edsr, Placement("blocks", (1, 3)), _per_block("block", "block{}_add", (1, 3)), "producer"),
    (_small_edsr, Placement("branch"), _per_block("branch", "block{}_add", range(4)), "consumer"),
    (_small_edsr, Placement("after_body"), {"regularizer_after_body": "global_skip"}, "producer"),
    (_small_edsr, Placement("before_last"), {"regularizer_before_last": "last_conv"}, "consumer"),
    (_small_edsr, Placement("input"), {"regularizer_input": "subtract_mean"}, "consumer"),
    (_small_dncnn, Placement("every_block"), _per_block("block", "stage{}_relu", range(4)), "producer"),
    (_small_dncnn, Placement("blocks", (0, 2)), _per_block("block", "stage{}_relu", (0, 2)), "producer"),
    (_small_dncnn, Placement("after_body"), {"regularizer_after_body": "stage3_relu"}, "producer"),
    (_small_dncnn, Placement("before_last"), {"regularizer_before_last": "noise_conv"}, "consumer"),
    (_small_dncnn, Placement("input"), {"regularizer_input": "first_conv"}, "consumer"),
]


@pytest.mark.parametrize("builder, placement, anchors, side", LAYER_SITES)
def test_regularizer_layers_are_inserted_exactly_where_placed(
    builder, placement, anchors, side
):
    """Each placement inserts one layer per site, next to the stated layer."""
    model = builder(Regularizer(layer=_dropout, placement=placement))
    assert sorted(_regularizer_names(model)) == sorted(anchors)
    for name, anchor in anchors.items():
        producer, consumers = _neighbours(model, name)
        assert (producer if side == "producer" else consumers) == [anchor]


def test_drunet_branch_placement_regularizes_every_residual_block_of_a_stage():
    """Two residual blocks per stage give two branch layers per stage, each before its own skip."""
    model = build_model("drunet", filters=(4, 8, 8, 16), num_blocks=2, channels=1, seed=0,
                        regularizer=Regularizer(layer=_dropout, placement=Placement("branch")))
    expected = {f"regularizer_branch{stage}{suffix}": f"{prefix}_block{block}_add"
                for stage, prefix in enumerate(("down0", "down1", "down2", "body", "up2", "up1", "up0"))
                for block, suffix in enumerate(("", "_1"))}
    assert sorted(_regularizer_names(model)) == sorted(expected)
    for name, anchor in expected.items():
        assert _neighbours(model, name)[1] == [anchor]


def test_dncnn_residual_uses_the_unregularized_input():
    """With an input regularizer, the noise is still subtracted from the raw input."""
    model = _small_dncnn(Regularizer(layer=_dropout, placement=Placement("input")))
    subtract_inputs = model.get_layer("subtract_noise").input
    assert subtract_inputs[0] is model.input


@pytest.mark.parametrize("builder", [_small_edsr, _small_dncnn])
@pytest.mark.parametrize("where", ["every_block", "before_last", "input"])
def test_regularizer_adds_no_weights_and_keeps_initial_weights(builder, where):
    """Under the same global seed, inserting Dropout changes no initial weight."""
    keras.utils.set_random_seed(7)
    plain = builder(seed=None)
    keras.utils.set_random_seed(7)
    regularized = builder(Regularizer(layer=_dropout, placement=Placement(where)), seed=None)
    _assert_same_weights(plain, regularized)
    inputs = _image((1, 8, 8, plain.input_shape[-1]))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(plain(inputs)),
        keras.ops.convert_to_numpy(regularized(inputs)),
    )


def test_seed_argument_fixes_weights_regardless_of_global_seed():
    """seed=3 gives the same weights under any global seed; seed=4 differs."""
    keras.utils.set_random_seed(1)
    first = _small_dncnn(seed=3)
    keras.utils.set_random_seed(2)
    second = _small_dncnn(seed=3)
    third = _small_dncnn(seed=4)
    _assert_same_weights(first, second)
    assert not np.array_equal(first.get_weights()[0], third.get_weights()[0])


BLOCK_CONVS = {f"block{i}_conv{k}" for i in range(4) for k in (1, 2)}
STAGE_CONVS = {f"stage{i}_conv" for i in range(4)}
CONV_SITES = [
    (_small_edsr, Placement("every_block"), BLOCK_CONVS),
    (_small_edsr, Placement("blocks", (1,)), {"block1_conv1", "block1_conv2"}),
    (_small_edsr, Placement("branch"), BLOCK_CONVS),
    (_small_edsr, Placement("after_body"), {"body_conv"}),
    (_small_edsr, Placement("before_last"), {"last_conv"}),
    (_small_edsr, Placement("input"), {"head_conv"}),
    (_small_dncnn, Placement("every_block"), STAGE_CONVS),
    (_small_dncnn, Placement("blocks", (2,)), {"stage2_conv"}),
    (_small_dncnn, Placement("after_body"), {"stage3_conv"}),
    (_small_dncnn, Placement("before_last"), {"noise_conv"}),
    (_small_dncnn, Placement("input"), {"first_conv"}),
]


@pytest.mark.parametrize("builder, placement, expected", CONV_SITES)
def test_conv_factory_replaces_only_the_placed_convolutions(builder, placement, expected):
    """Only the placed convolutions come from the factory, with the same weights."""
    model = builder(Regularizer(conv=_marked_conv, placement=placement))
    marked = {layer.name for layer in model.layers if isinstance(layer, MarkedConv2D)}
    assert marked == expected
    assert _regularizer_names(model) == []
    _assert_same_weights(builder(), model)


def _randomize_batch_norm(model):
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            shapes = [w.shape for w in layer.get_weights()]
            layer.set_weights([rng.uniform(0.5, 1.5, shape) for shape in shapes])


@pytest.mark.parametrize(
    "build",
    [
        lambda: build_edsr(3, num_blocks=2, filters=8, res_scale=0.1, seed=0,
                           regularizer=Regularizer(layer=_dropout)),
        lambda: build_edsr(4, num_blocks=1, filters=8, channels=1, rgb_mean=(0.45,), seed=0),
        lambda: _small_dncnn(channels=3),
    ],
    ids=["edsr_x3_dropout", "edsr_x4_gray", "dncnn"],
)
def test_keras_file_round_trip_gives_identical_outputs(build, tmp_path):
    """A saved .keras model reloads without custom_objects and predicts the same."""
    model = build()
    _randomize_batch_norm(model)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    inputs = _image((2, 7, 10, model.input_shape[-1]))
    np.testing.assert_allclose(
        reloaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0),
        rtol=0, atol=1e-6,
    )


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Placement("middle"), "Received: where='middle'"),
        (lambda: Placement("blocks"), "Received: blocks=None"),
        (lambda: Placement("blocks", (1, -2)), r"Received: blocks=\(1, -2\)"),
        (lambda: Placement("blocks", (1, 1)), r"Received: blocks=\(1, 1\)"),
        (lambda: Placement("every_block", (1,)), r"Received: blocks=\(1,\)"),
        (lambda: Regularizer(), "Received: layer=None, conv=None"),
        (lambda: Regularizer(layer=_dropout, placement="input"), "Received: placement='input'"),
        (lambda: _small_edsr(Regularizer(layer=_dropout, placement=Placement("blocks", [4]))),
         r"Received: blocks=\(4,\)"),
        (lambda: _small_dncnn(Regularizer(layer=_dropout, placement=Placement("branch"))),
         "Received: where='branch'"),
        (lambda: _small_edsr(Regularizer(layer=lambda name: "not a layer")), "keras.layers.Layer"),
    ],
)
def test_bad_placements_raise_clear_errors(make, message):
    """Invalid placements and factories fail with a message naming the value."""
    with pytest.raises(ValueError, match=message):
        make()


def test_placement_stores_a_list_of_blocks_as_a_tuple():
    """A YAML list of block indices becomes a hashable tuple."""
    placement = Placement("blocks", [3, 1])
    assert placement.blocks == (3, 1)
    assert hash(placement) == hash(Placement("blocks", (3, 1)))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: build_edsr(5), "Received: scale=5"),
        (lambda: build_edsr(2, channels=1), r"Received: rgb_mean=\(0.4488"),
        (lambda: build_edsr(2, num_blocks=0), "Received: num_blocks=0"),
        (lambda: build_dncnn(depth=2), "Received: depth=2"),
        (lambda: build_model("swinir"), "Received: name='swinir'"),
        (lambda: build_model("edsr", scale=2, blocks=4), "Received: argument='blocks'"),
    ],
)
def test_bad_builder_arguments_raise_clear_errors(make, message):
    """Unsupported scales, sizes, names and arguments fail naming the value."""
    with pytest.raises(ValueError, match=message):
        make()


def test_build_model_forwards_arguments_and_regularizer():
    """build_model('dncnn', ...) builds what build_dncnn builds."""
    regularizer = Regularizer(layer=_dropout, placement=Placement("before_last"))
    model = build_model("dncnn", regularizer=regularizer, depth=5, filters=4, seed=2)
    direct = build_dncnn(depth=5, filters=4, seed=2, regularizer=regularizer)
    assert _regularizer_names(model) == ["regularizer_before_last"]
    _assert_same_weights(model, direct)
