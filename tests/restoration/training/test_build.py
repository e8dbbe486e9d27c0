"""Building a run from its config: regularizer factories, seeds, resumability."""

import dataclasses

import numpy as np
import pytest

import dropblock
from restoration import runs
from restoration.config import ConfigError
from restoration.config import load_config
from restoration.training import build
from restoration.training.run import check_resumable
from tests.helpers import CONFIGS


def tiny(arm="dropblock", *overrides):
    return load_config(CONFIGS / "tiny_test.yaml", list(overrides)).arm(arm, 0)


def regularizer_layers(model, kind=dropblock.DropBlock2D):
    return [layer for layer in model.layers if isinstance(layer, kind)]


def test_configured_seed_gives_each_layer_its_own_seed():
    """With regularizer.seed set, layer k gets seed + k, so no two layers draw the same masks."""
    config = tiny("dropblock", "model.num_blocks=3", "experiment.arms.dropblock.regularizer.seed=10")
    layers = regularizer_layers(build.build_model(config))
    assert [layer.seed for layer in layers] == [10, 11, 12]
    assert all(layer.rate == 0.1 and layer.block_size == (3, 3) for layer in layers)


def test_without_a_seed_the_layers_draw_from_the_run_seed():
    """A null seed leaves each layer's generator to Keras' global seed (set per run)."""
    layers = regularizer_layers(build.build_model(tiny("dropblock", "model.num_blocks=2")))
    assert [layer.seed for layer in layers] == [None, None]


def test_dropconnect_replaces_the_placed_convolutions():
    """DropConnect comes as a convolution factory: the placed convs become DropConnectConv2D."""
    config = tiny("baseline", "regularizer={name: dropconnect, rate: 0.2, placement: before_last}")
    model = build.build_model(config)
    replaced = regularizer_layers(model, dropblock.DropConnectConv2D)
    assert len(replaced) == 1 and replaced[0].rate == 0.2


def test_no_regularizer_builds_the_plain_network():
    """The baseline arm has no regularizer layer at all."""
    model = build.build_model(tiny("baseline"))
    assert not [layer for layer in model.layers if layer.name.startswith("regularizer_")]


def test_a_run_directory_with_another_config_resumes_only_before_any_checkpoint(tmp_path):
    """A changed config may restart a run that trained nothing, never one with a checkpoint."""
    config = tiny("baseline")
    config.save_resolved(tmp_path)
    other = dataclasses.replace(config, training=dataclasses.replace(config.training, steps=9))
    check_resumable(other, tmp_path)
    (tmp_path / runs.LATEST_CHECKPOINT).parent.mkdir(parents=True)
    (tmp_path / runs.LATEST_CHECKPOINT).write_bytes(b"checkpoint")
    check_resumable(config, tmp_path)
    with pytest.raises(ValueError, match=r"different configuration \(it differs in training.steps\)"):
        check_resumable(other, tmp_path)


def test_a_run_moved_to_another_output_root_resumes(tmp_path):
    """output.root says where the run is, not what it trained."""
    config = tiny("baseline")
    config.save_resolved(tmp_path)
    (tmp_path / runs.LATEST_CHECKPOINT).parent.mkdir(parents=True)
    (tmp_path / runs.LATEST_CHECKPOINT).write_bytes(b"checkpoint")
    moved = dataclasses.replace(config, output=dataclasses.replace(config.output, root="/elsewhere"))
    check_resumable(moved, tmp_path)


def test_a_damaged_config_file_is_one_line_naming_it(tmp_path):
    """Unreadable config.yaml: a fresh directory starts over, one with checkpoints is refused."""
    config = tiny("baseline")
    (tmp_path / runs.CONFIG_FILE).write_text("run: [")
    check_resumable(config, tmp_path)
    (tmp_path / runs.LATEST_CHECKPOINT).parent.mkdir(parents=True)
    (tmp_path / runs.LATEST_CHECKPOINT).write_bytes(b"checkpoint")
    with pytest.raises(runs.RunError) as raised:
        check_resumable(config, tmp_path)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / runs.CONFIG_FILE}: expected valid YAML")
    assert f"delete {tmp_path} to start over" in message and "\n" not in message


def test_a_state_file_without_generator_states_still_resumes(tmp_path, capsys):
    """A state.json of the older layout restores the best score and warns the run is not exact."""
    import json

    from restoration.training.state import restore_state

    (tmp_path / runs.STATE_FILE).write_text(json.dumps(
        {"step": 4, "best_psnr": 21.5, "best_step": 2, "step_seconds": 0.1}))
    model = build.build_model(tiny("dropblock"))
    state = restore_state(tmp_path, model, 4)
    assert (state.best_psnr, state.best_step) == (21.5, 2)
    assert "resumes with new random streams" in capsys.readouterr().out
    with pytest.raises(runs.RunError, match="no record of step 6"):
        restore_state(tmp_path, model, 6)


def test_run_state_keeps_the_curve_and_reads_records_without_one():
    """The latest validation is the curve's last entry; a record from before the curve still loads."""
    from restoration.training.state import RunState

    state = RunState(best_psnr=30.0, best_step=2)
    state.add_validation(2, 30.0, 31.0)
    state.add_validation(4, 29.5, 32.0)
    state.add_validation(4, 29.0, 33.0)  # the same step again replaces it
    assert state.history == [[2, 30.0, 31.0], [4, 29.0, 33.0]]
    assert (state.final_step, state.final_psnr, state.train_psnr) == (4, 29.0, 33.0)
    copy = RunState.from_record(state.record())
    assert copy.record() == state.record()
    older = RunState.from_record({"best_psnr": 21.5, "best_step": 2, "step_seconds": 0.1,
                                  "final_psnr": 21.0, "final_step": 4, "train_psnr": 22.0})
    assert older.history == [[4, 21.0, 22.0]] and older.best_step == 2
    assert RunState.from_record({}).final_psnr is None


def _validation(config):
    return build.validation_data(config, build.load_images(config.data.validation, config))


def test_a_blind_run_validates_on_crops_degraded_by_its_own_chain():
    """Blind SR: the validation crops are fixed draws of the training chain, the same for every
    arm and seed, and not the benchmark's bicubic inputs; the gap is measured on the same chain."""
    chain = "data.degradation={noise_sigma: [20, 30], jpeg_quality: [30, 40]}"
    blind = tiny("dropblock", chain)
    inputs, targets, levels = _validation(blind)
    plain_inputs, plain_targets, _ = _validation(tiny("dropblock"))
    assert levels is None
    draws = build.VALIDATION_DRAWS
    assert inputs.shape[0] == targets.shape[0] == draws * plain_inputs.shape[0]
    assert inputs.shape[1:] == plain_inputs.shape[1:]
    np.testing.assert_array_equal(targets[: len(plain_targets)], plain_targets)
    # Noise of sigma 20-30 and JPEG 30-40: far from the clean bicubic crop, and each draw its own.
    assert np.abs(inputs[0] - plain_inputs[0]).mean() > 0.03
    assert np.abs(inputs[0] - inputs[len(plain_inputs)]).mean() > 0.01
    again = _validation(load_config(CONFIGS / "tiny_test.yaml", [chain]).arm("baseline", 1))
    np.testing.assert_array_equal(again[0], inputs)
    train_inputs, _, _ = build.training_crops(blind)
    assert train_inputs.shape[0] % draws == 0
    assert "training degradation chain" in build.selection_distribution(blind)


def test_a_blind_denoiser_validates_across_its_noise_range_with_each_crops_level():
    config = tiny("baseline", "task={type: denoise, sigma: 25, channels: 3}",
                  "model={name: ffdnet, depth: 3, filters: 8}", "data.noise_range=[0, 40]")
    inputs, targets, levels = _validation(config)
    assert build.validation_levels((0, 40)) == [5.0, 15.0, 25.0, 35.0]
    count = len(inputs) // 4
    np.testing.assert_allclose(levels[:, 0], np.repeat([5, 15, 25, 35], count) / 255.0)
    noise = (inputs - targets).reshape(4, -1).std(axis=1) * 255.0
    np.testing.assert_allclose(noise, [5, 15, 25, 35], rtol=0.05)
    assert "spread over the training range [0, 40]" in build.selection_distribution(config)


def test_select_on_degrades_the_validation_crops_by_the_named_cells():
    config = tiny("baseline", "evaluation.select_on=[noise15, jpeg10]")
    inputs, targets, levels = _validation(config)
    plain_inputs, _, _ = _validation(tiny("baseline"))
    count = len(plain_inputs)
    assert len(inputs) == 2 * count and levels is None
    noise = (inputs[:count] - plain_inputs).std() * 255.0
    assert 10 < noise < 20
    assert build.selection_distribution(config) == "the grid cells noise15, jpeg10"


def test_select_on_needs_validation_and_known_cells():
    with pytest.raises(ConfigError, match=r"evaluation.select_on\[0\]: expected a sr grid cell"):
        tiny("baseline", "evaluation.select_on=[blur9]")
    with pytest.raises(ConfigError, match="empty when training.validate_every is 0"):
        tiny("baseline", "evaluation.select_on=[noise15]", "training.validate_every=0")


def test_init_from_starts_a_run_from_a_saved_models_weights(tmp_path):
    """`model.init_from` copies every layer's weights by name, also into a network with DropBlock
    (whose rate variables keep their own); a layer that does not fit, or a missing file, is refused."""
    saved = tmp_path / "start.keras"
    source = build.build_model(load_config(CONFIGS / "tiny_test.yaml").arm("baseline", 5))
    source.save(saved)
    for arm in ("baseline", "dropblock"):
        config = load_config(CONFIGS / "tiny_test.yaml", [f"model.init_from={saved}"]).arm(arm, 0)
        model = build.build_model(config)
        for layer in source.layers:
            for expected, received in zip(layer.get_weights(), model.get_layer(layer.name).get_weights(),
                                          strict=True):
                np.testing.assert_array_equal(expected, received)
    fresh = build.build_model(load_config(CONFIGS / "tiny_test.yaml").arm("baseline", 0))
    assert not np.array_equal(fresh.get_layer("head_conv").get_weights()[0],
                              source.get_layer("head_conv").get_weights()[0])
    wider = load_config(CONFIGS / "tiny_test.yaml", [f"model.init_from={saved}", "model.filters=16"])
    with pytest.raises(ValueError) as raised:
        build.build_model(wider.arm("baseline", 0))
    message = str(raised.value)
    assert message.startswith(f"{saved}: model.init_from: layer ") and "shapes" in message
    assert "\n" not in message
    with pytest.raises(ConfigError) as raised:
        load_config(CONFIGS / "tiny_test.yaml", [f"model.init_from={tmp_path / 'missing.keras'}"])
    assert raised.value.key == "model.init_from" and "an existing .keras file" in str(raised.value)
