"""Every shipped config loads, and every arm of it builds a working network."""

from pathlib import Path

import numpy as np
import pytest

import dropblock
from restoration import builders
from restoration.config import ConfigError
from restoration.config import load_config

CONFIGS = sorted(Path("configs").rglob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=str)
def test_shipped_config_starts_with_purpose_and_command(path):
    """The first lines say what the config is for and the command that runs it."""
    header = path.read_text().split("\n\n")[0]
    assert header.startswith("# ")
    assert f"CONFIG={path}" in header or f"--config {path}" in header


@pytest.mark.parametrize("path", CONFIGS, ids=str)
def test_every_arm_builds_and_trains_one_batch(path):
    """Each arm's regularizer is placed where its config says, and runs in training."""
    experiment = load_config(path)
    for arm in experiment.arm_names:
        config = experiment.arm(arm, experiment.seeds[0])
        model = builders.build_model(config)
        channels = config.task.channels
        scale = config.task.scale or 1
        outputs = model(np.zeros((1, 12, 12, channels), "float32"), training=True)
        assert tuple(outputs.shape) == (1, 12 * scale, 12 * scale, channels), arm
        names = [layer.name for layer in model.layers]
        inserted = [name for name in names if name.startswith("regularizer_")]
        if config.regularizer is None:
            assert not inserted
        elif config.regularizer.name == "dropconnect":
            assert any(isinstance(layer, dropblock.DropConnectConv2D) for layer in model.layers)
        else:
            assert inserted, arm


def test_base_file_supplies_everything_a_preset_does_not_set(tmp_path):
    """A preset inherits seeds and sections from its base and lists only its own arms."""
    base = load_config("configs/t91_edsr_x2_dropblock.yaml")
    preset = load_config("configs/ablations/schedule.yaml")
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
