"""The memory of one training step, estimated without allocating, refuses what cannot fit."""

import pytest

import train
from restoration.config import load_config
from restoration.training import build
from restoration.training import memory
from tests.helpers import CONFIGS


def tiny(*overrides):
    return load_config(CONFIGS / "tiny_test.yaml", list(overrides)).arm("dropblock", 0)


def test_the_estimate_counts_the_real_parameters_and_scales_with_the_batch():
    config = tiny()
    parameters, values, total = memory.step_memory(config)
    assert parameters == build.build_model(config).count_params()
    doubled = memory.step_memory(tiny(f"data.batch_size={2 * config.data.batch_size}"))
    assert doubled[:2] == (parameters, 2 * values)
    # Every layer output at least holds the low-resolution patch; the x2 ones four times that.
    patch = config.data.patch_size
    assert values > 10 * config.data.batch_size * patch * patch * config.model.filters
    assert total == parameters * 16 + values * 4


def test_the_ema_and_gradient_accumulators_each_hold_one_more_copy_of_the_parameters():
    parameters, values, total = memory.step_memory(tiny())
    with_ema = memory.step_memory(tiny("training.ema.decay=0.9"))[2]
    both = memory.step_memory(tiny("training.ema.decay=0.9", "training.gradient_accumulation_steps=2"))[2]
    assert (with_ema - total, both - total) == (parameters * 4, parameters * 8)


def test_an_absurd_network_is_estimated_without_allocating_it():
    """10^6 filters: 10^13 parameters counted from shapes alone, then refused."""
    config = tiny("model.filters=1000000")
    parameters, _, total = memory.step_memory(config)
    assert parameters > 10**13 and total > 16 * 10**13
    with pytest.raises(ValueError, match=r"more than the 1.0 GiB of a test machine"):
        memory.check_fits(config, 2**30, "a test machine")
    memory.check_fits(tiny(), 2**30, "a test machine")


@pytest.mark.parametrize("override", ["data.batch_size=1000000000000", "model.filters=1000000"])
def test_train_refuses_a_step_beyond_the_machine_before_any_work(override, tmp_path, capsys):
    output = tmp_path / "runs"
    status = train.main(["--config", str(CONFIGS / "tiny_test.yaml"), "--set", override,
                         "--set", f"output.root={output}", "--quiet"])
    message = capsys.readouterr().err.strip()
    assert status == 2 and len(message.splitlines()) == 1, message
    assert message.startswith(f"error: {CONFIGS / 'tiny_test.yaml'}")
    assert "data.batch_size, data.patch_size and model: one training step needs about" in message
    assert "of this machine's memory" in message
    assert not output.exists()


def test_forward_flops_count_every_convolution_at_its_resolution():
    """EDSR-baseline x2 on one 48-pixel patch, counted by hand: head, 32 body convolutions and
    the body's last at 48x48, the upsampler's 64->256 at 48x48, the last convolution at 96x96."""
    config = load_config(CONFIGS / "edsr_baseline_x2_div2k.yaml", check_data=False).arm("baseline", 0)
    low = 9 * 3 * 64 + 33 * 9 * 64 * 64 + 9 * 64 * 256
    assert memory.forward_flops(config, batch=1) == 2 * 48 * 48 * low + 2 * 96 * 96 * 9 * 64 * 3
    assert memory.forward_flops(config) == 16 * memory.forward_flops(config, batch=1)
    # Strided convolutions count at their output, transposed ones at their input (an independent
    # count of the DRUNet recipe's convolutions gave the same).
    drunet = load_config(CONFIGS / "zoo" / "drunet_color_div2k.yaml", check_data=False)
    assert memory.forward_flops(drunet.arm("baseline", 0), batch=1) == 69_388_468_224
