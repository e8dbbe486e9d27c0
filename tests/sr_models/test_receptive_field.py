"""Tests for the receptive field read off each network, and the exact tiled inference it gives."""

import math

import keras
import numpy as np
import pytest

from restoration.evaluation.predictors import Task
from restoration.evaluation.predictors import model_predictor
from restoration.evaluation.protocol import predict_tiled
from sr_models import Placement
from sr_models import Regularizer
from sr_models import build_model
from sr_models import receptive_field
from sr_models.specs import SPECS
from tests.sr_models.networks import SMALL

SCALES = {"srresnet": 3, "vdsr": 3, "fsrcnn": 4, "espcn": 3}

# Every network whose output does not depend on the whole image, at its small size, at a scale
# other than 2 where that exercises more of the upsampler.
NETWORKS = {name: {**SMALL[name], **({"scale": SCALES.get(name, 2)} if SPECS[name].scales else {})}
            for name in SMALL if not SPECS[name].global_context}
def network(name, regularizer=None):
    return build_model(name, channels=3, seed=0, regularizer=regularizer, **NETWORKS[name])


def test_radius_of_plain_convolution_stacks_is_the_textbook_value():
    """n 3x3 convolutions reach n pixels; FFDNet's reach doubles at half resolution; DRUNet needs /8."""
    assert receptive_field(build_model("dncnn", seed=0)).radius == 17
    assert receptive_field(build_model("dncnn", depth=5, seed=0)).radius == 5
    # EDSR-baseline: head, 2 x 16 block convolutions and the body convolution at LR, then the
    # upsampler (a convolution and a half-pixel shuffle) and the last convolution at HR.
    assert receptive_field(build_model("edsr", scale=2, seed=0)).radius == 34 + 1 + 0.5 + 0.5
    ffdnet = receptive_field(build_model("ffdnet", channels=1, seed=0))
    assert (ffdnet.radius, ffdnet.multiple) == (15 * 2 + 0.5 + 1, 2)
    assert receptive_field(build_model("drunet", seed=0)).multiple == 8


def test_global_attention_has_no_exact_overlap():
    """RCAN's channel attention pools the whole image: the overlap is refused, naming the layer."""
    field = receptive_field(build_model("rcan", scale=2, num_groups=1, num_blocks=1, filters=8,
                                        reduction=4, seed=0))
    assert not field.bounded and math.isinf(field.radius)
    with pytest.raises(ValueError, match="group0_block0_pool.*sees the whole image"):
        field.overlap()
    assert field.overlap(12) == 12


def test_unknown_layers_are_an_error_not_a_guess():
    """A layer whose reach is not known stops the computation with its name."""
    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.MaxPooling2D(name="mystery_pool")(inputs)
    with pytest.raises(ValueError, match="'mystery_pool' \\(MaxPooling2D\\)"):
        receptive_field(keras.Model(inputs, outputs))


def task_of(name):
    scale = NETWORKS[name].get("scale")
    return Task("sr", scale=scale) if scale else Task("denoise", sigma=25.0)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_tiles_with_the_computed_overlap_equal_the_whole_image(name):
    """Tiled inference with the receptive-field overlap matches the whole image; a thin overlap does not."""
    regularizer = Regularizer(layer=lambda layer_name: keras.layers.Dropout(0.3, name=layer_name),
                              placement=Placement("every_block"))
    model = network(name, regularizer)
    if name == "drunet":
        # Its gain-0.2 initialisation lets far pixels fade below float noise; gain 1 keeps them.
        model.set_weights([weight * 5 for weight in model.get_weights()])
    predictor = model_predictor(model, task_of(name))
    predict = predictor.function_for(25.0)
    scale = predictor.task.scale or 1
    rng = np.random.default_rng(1)
    field = predictor.field
    tile, overlap = predictor.tiling(10)
    assert overlap >= field.radius and overlap % field.multiple == 0
    # A tile side off the network's grid is rounded up onto it (DRUNet: 10 -> 16).
    assert tile % field.multiple == 0 and 10 <= tile < 10 + field.multiple
    # Large enough that interior tiles have context on every side, odd so that edge tiles are ragged.
    size = 2 * tile + 2 * overlap + 3
    image = rng.random((size, size + 5, 3), dtype=np.float32)
    whole = predict_tiled(predict, image, scale)
    tiled = predict_tiled(predict, image, scale, tile, overlap)
    np.testing.assert_allclose(tiled, whole, atol=2e-5)
    # Float rounding differs between tile and image sizes; a missing context is far larger.
    rounding = max(np.abs(tiled - whole).max(), 1e-7)
    thin = predict_tiled(predict, image, scale, tile, field.multiple)
    assert np.abs(thin - whole).max() > 50 * rounding
