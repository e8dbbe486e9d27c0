"""Every shipped config loads, documents itself, and every arm of it trains a step."""

import dataclasses
import re
import types
import typing

import numpy as np
import pytest

import dropblock
from restoration.config import ConfigError
from restoration.config import RunConfig
from restoration.config import load_config
from restoration.config.conversion import field_names
from restoration.training import build
from tests.helpers import CONFIGS
from tests.helpers import SHIPPED_CONFIGS
from tests.sr_models.networks import SMALL


def relative(path):
    return path.relative_to(CONFIGS.parent)


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=lambda path: str(relative(path)))
def test_shipped_config_starts_with_purpose_and_command(path):
    """The first lines say what the config is for and the command that runs it."""
    header = path.read_text().split("\n\n")[0]
    assert header.startswith("# ")
    assert f"CONFIG={relative(path)}" in header or f"--config {relative(path)}" in header


def test_configs_folder_holds_the_documented_experiments():
    """The experiments the README names are all shipped."""
    expected = {
        "default.yaml", "edsr_baseline_x2_div2k.yaml", "dncnn_sigma25_train400.yaml",
        "tiny_sr.yaml", "tiny_denoise.yaml", "tiny_test.yaml",
    }
    assert expected <= {path.name for path in SHIPPED_CONFIGS}




@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=lambda path: str(relative(path)))
def test_every_arm_trains_one_batch(path):
    """Each arm builds, places its regularizer where its config says, and takes a finite step."""
    experiment = load_config(path, check_data=False)
    for arm in experiment.arm_names:
        config = experiment.arm(arm, experiment.seeds[0])
        # XLA and float16 are tested end to end elsewhere; here they would only add compile time.
        training = dataclasses.replace(config.training, jit_compile=False, mixed_precision=False)
        config = dataclasses.replace(config, training=training)
        if config.model.init_from is not None:  # A converted file the user makes; tested in test_build.
            config = dataclasses.replace(config, model=dataclasses.replace(config.model, init_from=None))
        if path.parent.name == "zoo" and config.model.name in SMALL:
            model = dataclasses.replace(config.model, **SMALL[config.model.name])
            config = dataclasses.replace(config, model=model)
        model = build.compile_model(build.build_model(config), config)
        # One step: running it eagerly costs less than tracing the training graph of every arm.
        model.run_eagerly = True
        channels, scale = config.task.channels, config.task.scale or 1
        inputs = np.random.default_rng(0).uniform(size=(2, 12, 12, channels)).astype("float32")
        targets = np.repeat(np.repeat(inputs, scale, axis=1), scale, axis=2)
        feed = [inputs, np.full((2, 1), 0.1, np.float32)] if config.model.network.noise_level else inputs
        loss = model.train_on_batch(feed, targets)
        assert np.isfinite(loss), arm
        assert tuple(model.output_shape) == (None, None, None, channels)
        inserted = [layer for layer in model.layers if layer.name.startswith("regularizer_")]
        if config.regularizer is None:
            assert not inserted, arm
        elif config.regularizer.name == "dropconnect":
            assert any(isinstance(layer, dropblock.DropConnectConv2D) for layer in model.layers)
        else:
            expected = dropblock.REGULARIZERS[config.regularizer.name]
            assert inserted and all(isinstance(layer, expected) for layer in inserted), arm


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=lambda path: str(relative(path)))
def test_shipped_config_finds_its_data_or_names_the_missing_set(path, shared_data, monkeypatch):
    """With the benchmark images, a config loads, or fails naming a set that is not there."""
    monkeypatch.setenv("RESTORATION_DATA", str(shared_data))
    try:
        load_config(path)
    except ConfigError as error:
        if error.key == "model.init_from":  # Converted weights the config's header says how to make.
            assert "python -m sr_models.convert" in path.read_text().split("\n\n")[0]
            return
        assert re.search(r"data\.(train|validation)\.name|data\.test_sets\[\d+\]", error.key)
        assert "make data SETS=" in str(error)
        assert not (shared_data / error.received.strip("'")).is_dir()


def test_base_file_supplies_everything_a_preset_does_not_set():
    """A preset inherits seeds and sections from its base and lists only its own arms."""
    base = load_config(CONFIGS / "t91_edsr_x2_dropblock.yaml", check_data=False)
    preset = load_config(CONFIGS / "ablations" / "schedule.yaml", check_data=False)
    assert preset.seeds == base.seeds
    assert list(preset.arm_names) == ["baseline", "scheduled", "fixed"]
    assert preset.arm("fixed", 0).data == base.arm("baseline", 0).data
    assert preset.arm("fixed", 0).regularizer.schedule_steps == 0


def test_base_that_includes_itself_is_an_error(tmp_path):
    """A cycle of base files is reported with the file and key."""
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="base"):
        load_config(tmp_path / "a.yaml")


def schema_sections(cls=RunConfig, seen=None):
    """Every section class reachable from `cls`, by the dotted key it sits at."""
    seen = {} if seen is None else seen
    for name, hint in typing.get_type_hints(cls).items():
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        members = typing.get_args(hint) if union else (hint,)
        for member in members:
            if dataclasses.is_dataclass(member) and member not in seen.values():
                seen[f"{name}:{member.__name__}"] = member
                schema_sections(member, seen)
    return seen


def test_default_config_documents_every_key_of_the_schema():
    """The key reference at the top of configs/default.yaml names every key of every section.

    The model sections' keys are each network's arguments, which `python -m sr_models` lists.
    """
    reference = (CONFIGS / "default.yaml").read_text().split("\nexperiment:")[0]
    words = set(re.findall(r"[a-z_0-9]+", reference))
    missing = {
        f"{where}.{key}"
        for where, cls in schema_sections().items()
        for key in field_names(cls)
        if key not in words and not where.startswith("model:")
    }
    assert "`python -m\n#                   sr_models` lists every network" in reference
    assert not missing
    # The experiment section and the data sets are documented too.
    assert {"name", "seeds", "arms", "base"} <= words
    assert "builtin" in words and "data/imagesets.py" in reference
