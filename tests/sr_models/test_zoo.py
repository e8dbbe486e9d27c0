"""The whole zoo, one parametrised test each: published sizes, shapes, placements, round trips, precision."""

import inspect

import keras
import numpy as np
import pytest

import sr_models
from sr_models import Placement
from sr_models import Regularizer
from sr_models import build_model
from sr_models import takes_noise_level
from sr_models.specs import SPECS
from tests.sr_models.networks import PUBLISHED
from tests.sr_models.networks import SMALL


def small(name, scale=2, regularizer=None, seed=0, channels=3):
    """The small version of network `name` (`tests.sr_models.networks.SMALL`)."""
    arguments = dict(SMALL[name], channels=channels, regularizer=regularizer, seed=seed)
    if SPECS[name].scales:
        arguments["scale"] = scale
    return build_model(name, **arguments)


def image(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def inputs_for(name, shape, sigma=25, seed=0):
    """A batch for network `name`: the image, with its noise level where the network takes one."""
    batch = image(shape, seed)
    return [batch, np.full((shape[0], 1), sigma / 255, np.float32)] if SPECS[name].noise_level else batch


def output_shape(name, shape, scale=2):
    factor = scale if SPECS[name].scales else 1
    return (shape[0], shape[1] * factor, shape[2] * factor, shape[3])


@pytest.mark.parametrize("name, kwargs, exact, rounded", PUBLISHED,
                         ids=[f"{name}_" + "_".join(f"{key}{value}" for key, value in kwargs.items())
                              for name, kwargs, _, _ in PUBLISHED])
@pytest.mark.slow
def test_models_have_the_published_parameter_counts(name, kwargs, exact, rounded):
    """Default arguments build the published network: its exact count, and the paper's within 3 %."""
    model = build_model(name, seed=0, **kwargs)
    assert model.count_params() == exact
    if rounded is not None:
        assert abs(exact - rounded) / rounded < 0.03
    assert takes_noise_level(model) == SPECS[name].noise_level


def test_every_network_has_a_small_version_and_a_published_count():
    """The test table covers the whole zoo."""
    assert set(SMALL) == set(SPECS) == {name for name, _, _, _ in PUBLISHED}


SCALED = [(name, scale) for name in SMALL for scale in (SPECS[name].scales or (1,))]


@pytest.mark.parametrize("name, scale", SCALED, ids=[f"{n}_x{s}" for n, s in SCALED])
def test_every_model_keeps_odd_non_square_inputs_and_scales_them(name, scale):
    """A 13x17 input becomes (13*scale)x(17*scale) (a denoiser's stays 13x17); a 9x6 one too."""
    model = small(name, scale)
    for height, width in ((13, 17), (9, 6)):
        outputs = model.predict(inputs_for(name, (2, height, width, 3)), verbose=0)
        assert outputs.shape == output_shape(name, (2, height, width, 3), scale)
        assert np.all(np.isfinite(outputs))


@pytest.mark.parametrize("name", sorted(name for name in SMALL if SPECS[name].noise_level))
@pytest.mark.parametrize("channels", [1, 3])
def test_the_noise_level_changes_the_output(name, channels):
    """Another sigma, another output, gray and colour."""
    model = small(name, channels=channels)
    low = model.predict(inputs_for(name, (2, 13, 17, channels), sigma=10), verbose=0)
    high = model.predict(inputs_for(name, (2, 13, 17, channels), sigma=50), verbose=0)
    assert np.abs(low - high).mean() > 0.01 * np.abs(low).mean() > 0


@pytest.mark.parametrize("name", sorted(SMALL))
def test_unsupported_scales_and_branchless_placements_are_refused(name):
    """A scale the paper does not define, or a branch site in a network without blocks, names the value."""
    for scale in sorted({1, 2, 3, 4, 5} - set(SPECS[name].scales)) if SPECS[name].scales else ():
        with pytest.raises(ValueError, match=f"Received: scale={scale}"):
            small(name, scale)
    if not SPECS[name].branches:
        with pytest.raises(ValueError, match="Received: where='branch'"):
            small(name, regularizer=Regularizer(layer=dropout, placement=Placement("branch")))


def dropout(name):
    return keras.layers.Dropout(0.5, name=name)


PLACEMENT_COUNTS = [("every_block", None), ("blocks", 1), ("after_body", 1), ("before_last", 1),
                    ("input", 1), ("branch", None)]


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("where, count", PLACEMENT_COUNTS, ids=[where for where, _ in PLACEMENT_COUNTS])
def test_every_placement_inserts_its_layers_and_keeps_the_initial_weights(name, where, count):
    """One layer per site (one per block for the block placements), no new weights, same outputs."""
    if where == "branch" and not SPECS[name].branches:
        pytest.skip("no residual branches")
    placement = Placement("blocks", (1,)) if where == "blocks" else Placement(where)
    plain = small(name)
    regularized = small(name, regularizer=Regularizer(layer=dropout, placement=placement))
    inserted = [layer.name for layer in regularized.layers if layer.name.startswith("regularizer_")]
    assert len(inserted) == (SPECS[name].block_count(SMALL[name], 3) if count is None else count)
    for first, second in zip(plain.get_weights(), regularized.get_weights(), strict=True):
        np.testing.assert_array_equal(first, second)
    inputs = inputs_for(name, (1, 16, 16, 3))
    np.testing.assert_array_equal(plain.predict(inputs, verbose=0), regularized.predict(inputs, verbose=0))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_keras_file_round_trip_gives_identical_outputs(name, tmp_path):
    """A saved model reloads without custom_objects and predicts the same, odd sizes included."""
    model = small(name, regularizer=Regularizer(layer=dropout, placement=Placement("before_last")))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    inputs = inputs_for(name, (1, 7, 9, 3))
    np.testing.assert_array_equal(reloaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0))
    assert takes_noise_level(reloaded) == SPECS[name].noise_level


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_model_trains_in_bfloat16_under_xla(name):
    """Mixed bfloat16 with jit_compile: a finite float32 image out and a loss that moves."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = small(name, regularizer=Regularizer(layer=dropout, placement=Placement("before_last")))
    finally:
        keras.config.set_dtype_policy(previous)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae", jit_compile=True)
    inputs = inputs_for(name, (4, 16, 16, 3))
    targets = image(output_shape(name, (4, 16, 16, 3)), seed=1)
    history = model.fit(inputs, targets, epochs=3, batch_size=4, verbose=0).history["loss"]
    outputs = model.predict(inputs, verbose=0)
    assert outputs.dtype == np.float32 and np.all(np.isfinite(outputs))
    assert np.all(np.isfinite(history)) and history[-1] != history[0]


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_interpolation_is_matlab_imresize(scale):
    """VDSR's input upscaling equals MATLAB's bicubic imresize, borders included."""
    from data.imresize import imresize
    from sr_models.layers import Interpolate

    inputs = image((2, 7, 10, 3))
    outputs = keras.ops.convert_to_numpy(Interpolate(scale, "bicubic")(inputs))
    for index in range(2):
        np.testing.assert_allclose(outputs[index], imresize(inputs[index].astype(np.float64), scale),
                                   atol=1e-6)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bilinear_interpolation_is_half_pixel_bilinear(scale):
    """SRResNet's skip equals half-pixel bilinear resizing with clamped borders."""
    import tensorflow as tf

    from sr_models.layers import Interpolate

    inputs = image((1, 6, 9, 2))
    expected = tf.image.resize(inputs, (6 * scale, 9 * scale), "bilinear").numpy()
    np.testing.assert_allclose(Interpolate(scale, "bilinear")(inputs), expected, atol=1e-6)


@pytest.mark.backend_agnostic
def test_pixel_unshuffle_inverts_pixel_shuffle_and_padding_is_cropped_back():
    """Unshuffle then shuffle is the identity; an odd size is padded by reflection and cropped."""
    from sr_models.layers import CropToInput
    from sr_models.layers import PadToMultiple
    from sr_models.layers import PixelShuffle
    from sr_models.layers import PixelUnshuffle

    inputs = image((2, 6, 8, 3))
    packed = PixelUnshuffle(2)(inputs)
    assert tuple(packed.shape) == (2, 3, 4, 12)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(PixelShuffle(2)(packed)), inputs)
    odd = image((1, 5, 7, 1))
    padded = keras.ops.convert_to_numpy(PadToMultiple(2)(odd))
    assert padded.shape == (1, 6, 8, 1)
    np.testing.assert_array_equal(padded[:, 5, :7], odd[:, 4])
    np.testing.assert_array_equal(padded[:, :5, 7], odd[:, :, 6])
    cropped = CropToInput(2)([image((1, 12, 16, 1)), odd])
    assert tuple(cropped.shape) == (1, 10, 14, 1)


# Builder arguments that a spec leaves to the task, the run or the builder's default.
NOT_CONFIGURED = {"scale", "channels", "regularizer", "seed", "name", "rgb_mean"}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_arguments_are_the_builder_keyword_arguments(name):
    """A spec's arguments are its builder's keyword arguments, with the builder's defaults."""
    parameters = inspect.signature(getattr(sr_models, f"build_{name}")).parameters
    defaults = {key: parameter.default for key, parameter in parameters.items()}
    assert SPECS[name].defaults() == {key: defaults[key] for key in defaults.keys() - NOT_CONFIGURED}


def test_the_network_listing_gives_each_key_with_its_default_and_range(capsys):
    """`python -m sr_models` lists every network with its traits, keys, defaults and ranges."""
    from sr_models.__main__ import main

    main()
    listing = capsys.readouterr().out
    assert "ffdnet (FFDNet): denoise, noise-level input, no branch site\n" in listing
    assert "rrdbnet (RRDBNet): sr, x2/x4\n" in listing
    assert "  filters: [64], an integer >= 2\n" in listing  # ESPCN's
    assert "  depth: [paper size for the channels], an integer >= 3\n" in listing
    assert "(DRUNet): denoise, noise-level input\n  blocks (for a regularizer): the 7 stages" in listing
    assert listing.count("\n  ") == sum(len(network.arguments) + 1 for network in SPECS.values())
