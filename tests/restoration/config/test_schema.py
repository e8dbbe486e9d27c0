"""The schema agrees with the libraries it configures: names, choices, layer and builder arguments."""

import inspect
import typing

import pytest

import dropblock
from data.builtin import BUILTIN_SPLITS
from restoration.config.conversion import build_section
from restoration.config.conversion import field_names
from restoration.config.loading import ConfigError
from restoration.config.regularizers import REGULARIZERS
from restoration.config.regularizers import DropBlockConfig
from restoration.config.schema import DataSourceConfig
from restoration.config.schema import EvaluationConfig
from restoration.config.schema import RunConfig


def choices(cls, key):
    return typing.get_args(typing.get_type_hints(cls)[key])


def test_regularizer_sections_are_the_regularizers_of_the_library():
    """One section per `dropblock.REGULARIZERS` name, no more, no less."""
    assert set(REGULARIZERS) == set(dropblock.REGULARIZERS)


def test_sources_and_splits_are_the_ones_data_reads():
    """A data source is builtin, folder, set or paired; the built-in splits are data.builtin's."""
    assert set(choices(DataSourceConfig, "source")) == {"builtin", "folder", "set", "paired"}
    assert set(BUILTIN_SPLITS) == {"train", "validation", "test"}


@pytest.mark.parametrize("name", sorted(REGULARIZERS))
def test_every_layer_key_is_a_constructor_argument(name):
    """A section's layer keys are arguments of its layer (a key is a constructor argument)."""
    cls = REGULARIZERS[name]
    layer_keys = set(field_names(cls)) - set(cls.non_layer_keys)
    parameters = set(inspect.signature(dropblock.REGULARIZERS[name].__init__).parameters)
    assert layer_keys and layer_keys <= parameters


# Boundary values of every range the schema accepts; each must build its layer.
EDGES = {
    "dropblock": [{"rate": 0.0}, {"rate": 0.999, "block_size": [2, 5], "gamma": "paper",
                                  "channels": "shared", "normalize": "none", "seed": 0}],
    "dropout": [{"rate": 0.0}, {"rate": 0.999, "seed": 3}],
    "spatial_dropout": [{"rate": 0.0}, {"rate": 0.999}],
    "stochastic_depth": [{"rate": 0.0}, {"rate": 0.999}],
    "cutout": [{}, {"size": [1, 30], "rate": 1.0}, {"size": 1, "rate": 0.0}],
    "dropconnect": [{"rate": 0.0}, {"rate": 0.999}],
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_what_the_schema_accepts_the_layer_accepts(name):
    """Every edge of the schema's ranges builds the layer without an error."""
    for values in EDGES[name]:
        section = build_section(REGULARIZERS[name], {"name": name, **values}, "r", "test")
        extra = {"filters": 4, "kernel_size": 3} if name == "dropconnect" else {}
        layer = dropblock.get(name, **section.layer_kwargs(), **extra)
        assert isinstance(layer, dropblock.REGULARIZERS[name])


@pytest.mark.parametrize("name, values, key", [
    ("dropblock", {"rate": 1.0}, "r.rate"),
    ("dropblock", {"rate": -0.1}, "r.rate"),
    ("dropblock", {"rate": 0.1, "block_size": 0}, "r.block_size"),
    ("dropblock", {"rate": 0.1, "block_size": [3, 0]}, "r.block_size"),
    ("dropblock", {"rate": 0.1, "seed": -1}, "r.seed"),
    ("cutout", {"rate": 1.5}, "r.rate"),
    ("cutout", {"size": [4]}, "r.size"),
    ("dropout", {"rate": True}, "r.rate"),
    ("dropout", {}, "r.rate"),
])
def test_what_the_layer_refuses_the_schema_refuses(name, values, key):
    """Values the layers reject are ConfigErrors at the right key, never layer errors."""
    with pytest.raises(ConfigError) as raised:
        build_section(REGULARIZERS[name], {"name": name, **values}, "r", "test.yaml")
    assert raised.value.key == key


def test_tile_overlap_defaults_to_the_receptive_field_and_tiles_need_one():
    """No fixed default overlap: null is the network's own, and a tiled call without one is refused."""
    import numpy as np

    from restoration.evaluation import protocol

    assert EvaluationConfig().tile_overlap is None
    with pytest.raises(ValueError, match="Received: tile=4, overlap=None"):
        protocol.predict_tiled(lambda batch: batch, np.zeros((8, 8, 1), np.float32), 1, tile=4)


def test_every_run_section_has_a_docstring():
    """Each section says what it is for (the schema is read as documentation)."""
    for cls in [RunConfig, *REGULARIZERS.values()]:
        assert cls.__doc__ and cls.__doc__.strip()


@pytest.mark.parametrize("values", [
    {"blur_sigma": [0.001, 50]}, {"noise_sigma": [0, 255]}, {"jpeg_quality": [1, 100]},
    {"downsampling": ["area"]}, {"blur_probability": 0, "noise_probability": 1, "jpeg_probability": 0.5},
    {"order": 2}, {"order": 1, "kernel_probabilities": [1, 0, 0, 0, 0, 0], "kernel_size": [7, 21]},
    {"order": 2, "kernel_probabilities": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03], "sinc_probability": 0},
    {"order": 1, "gaussian_noise_probability": 0.5, "poisson_scale": [0, 50], "sinc_probability": 0.1},
    {"order": 2, "resize_probabilities": [0, 0, 1], "resize_range": [0.01, 4], "second_resize_range": [1, 1]},
    {"order": 2, "second_order_probability": 0, "second_blur_probability": 1, "second_blur_sigma": [1, 1],
     "second_kernel_probabilities": [0, 0, 0.5, 0.5, 0, 0], "second_sinc_probability": 1,
     "second_resize_probabilities": [0.5, 0.5, 0], "second_gaussian_noise_probability": 0,
     "second_noise_sigma": [0, 255], "second_poisson_scale": [1, 2], "second_gray_noise_probability": 1,
     "second_jpeg_quality": [1, 100], "final_sinc_probability": 0, "sinc_before_jpeg_probability": 1},
    {"order": 2, "generalized_beta": [1, 1], "plateau_beta": [0.001, 10], "kernel_size": [21, 21]},
])
def test_what_the_degradation_schema_accepts_the_chain_accepts(values):
    from data import blind
    from restoration.config.conversion import to_plain
    from restoration.config.degradation import DegradationConfig

    section = build_section(DegradationConfig, values, "data.degradation", "test.yaml")
    blind.Chain(**to_plain(section))


@pytest.mark.parametrize("values, key", [
    ({"blur_sigma": [3.0, 1.0]}, "blur_sigma"),
    ({"blur_sigma": [0.0, 1.0]}, "blur_sigma"),
    ({"noise_sigma": [1.0]}, "noise_sigma"),
    ({"jpeg_quality": [30, 101]}, "jpeg_quality"),
    ({"jpeg_quality": [30.5, 90]}, "jpeg_quality[0]"),
    ({"downsampling": ["nearest"]}, "downsampling[0]"),
    ({"downsampling": ["area", "area"]}, "downsampling"),
    ({"gray_noise_probability": 1.5}, "gray_noise_probability"),
    ({"order": 3}, "order"),
    ({"order": 2.0}, "order"),
    ({"kernel_probabilities": [0.5, 0.5]}, "kernel_probabilities"),
    ({"kernel_probabilities": [0.5, 0.5, 0.5, 0, 0, 0]}, "kernel_probabilities"),
    ({"second_kernel_probabilities": [1.5, -0.5, 0, 0, 0, 0]}, "second_kernel_probabilities"),
    ({"kernel_size": [8, 21]}, "kernel_size"),
    ({"kernel_size": [7, 23]}, "kernel_size"),
    ({"generalized_beta": [1.5, 4]}, "generalized_beta"),
    ({"sinc_probability": 1.5}, "sinc_probability"),
    ({"order": 2, "resize_range": [1.2, 1.5]}, "resize_range"),
    ({"order": 2, "second_resize_range": [0.3, 5]}, "second_resize_range"),
    ({"order": 2, "resize_probabilities": [0.5, 0.6, 0]}, "resize_probabilities"),
    ({"order": 2, "second_jpeg_quality": [0, 95]}, "second_jpeg_quality"),
    ({"order": 2, "final_sinc_probability": -0.1}, "final_sinc_probability"),
    ({"second_blur_probability": 0.5}, "second_blur_probability"),
    ({"resize_range": [0.5, 1.0]}, "resize_range"),
    ({"order": 2, "anisotropic_probability": 0.3}, "anisotropic_probability"),
    ({"kernel_probabilities": [1, 0, 0, 0, 0, 0], "anisotropic_probability": 0.2}, "anisotropic_probability"),
])
def test_what_the_chain_refuses_the_degradation_schema_refuses(values, key):
    from data import blind
    from restoration.config.degradation import DegradationConfig

    with pytest.raises(ConfigError) as raised:
        build_section(DegradationConfig, values, "data.degradation", "test.yaml")
    assert raised.value.key == f"data.degradation.{key}"
    with pytest.raises(ValueError):
        blind.Chain(**{name: tuple(v) if isinstance(v, list) else v for name, v in values.items()})


def test_degradation_order_two_is_real_esrgan_and_order_one_is_unchanged():
    """`{order: 2}` alone gives the reference second-order chain; `{}` the first-order chain as before."""
    from data import blind
    from data import realesrgan
    from restoration.config.conversion import to_plain
    from restoration.config.degradation import DegradationConfig

    section = build_section(DegradationConfig, {"order": 2}, "data.degradation", "t.yaml")
    second = blind.Chain(**to_plain(section))
    assert second == blind.Chain(order=2)
    assert second.first_round() == (realesrgan.KERNEL_PROBABILITIES, (7, 21), 0.1, 0.5)
    assert (second.second_blur_probability, second.final_sinc_probability) == (0.8, 0.8)
    first = blind.Chain(**to_plain(build_section(DegradationConfig, {}, "data.degradation", "t.yaml")))
    assert first == blind.Chain() and first.first_round() == (None, (21, 21), 0.0, 1.0)


def test_a_regularizer_section_names_its_callbacks_warnings_and_logged_values():
    """DropBlock's section adds its ramp, warns of a ramp past the end, logs its layers' rates."""
    import keras

    from dropblock.schedule import DropBlockSchedule

    ramped = build_section(DropBlockConfig, {"name": "dropblock", "rate": 0.1, "schedule_steps": 40},
                           "regularizer", "test.yaml")
    assert ramped.warnings(10) == ["regularizer.schedule_steps (40) is longer than training.steps (10): "
                                   "the rate ends at 0.25 of its target 0.1"]
    assert ramped.warnings(40) == []
    [callback] = ramped.callbacks(40)
    assert isinstance(callback, DropBlockSchedule) and callback.ramp_steps == 40
    assert build_section(DropBlockConfig, {"name": "dropblock", "rate": 0.1}, "r", "t").callbacks(40) == []
    inputs = keras.Input((8, 8, 2))
    model = keras.Model(inputs, dropblock.DropBlock2D(0.2, block_size=3)(inputs))
    assert ramped.logged(model) == {"dropblock/current_rate": pytest.approx(0.2),
                                    "dropblock/realised_rate": pytest.approx(0.0)}
    dropout = build_section(REGULARIZERS["dropout"], {"name": "dropout", "rate": 0.5}, "r", "t")
    assert dropout.callbacks(10) == [] and dropout.warnings(10) == [] and dropout.logged(model) == {}
