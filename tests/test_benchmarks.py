"""The GPU step benchmark runs on this backend at a tiny size and reports what it promises."""

import re

import keras
import pytest

from benchmarks import gpu_step
from tests.helpers import SHARED_DATA

# Runs the benchmarks: left out of `make test-fast`.
pytestmark = [pytest.mark.backend_agnostic, pytest.mark.slow]


def test_gpu_step_reports_both_precisions_and_the_dropblock_overhead(capsys):
    """One line per precision with the step time, the DropBlock overhead and the TFLOP/s."""
    arguments = ["--blocks", "1", "--filters", "8", "--patch", "12", "--batch", "2",
                 "--steps", "1", "--repeats", "1"]
    assert gpu_step.main(arguments) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("device: ")
    for policy, line in zip(("float32", "mixed_bfloat16"), lines[1:], strict=True):
        assert re.fullmatch(rf"\s*{policy}: step [\d.]+ ms, with DropBlock [\d.]+ ms \([+-][\d.]+%\);"
                            r" [\d.e+-]+ conv TFLOP/s", line), line


def test_convolution_flops_follow_the_resolution_of_each_convolution():
    """The last convolution works at the high-resolution side, the others at the patch side."""
    import sr_models

    model = sr_models.build_edsr(scale=2, num_blocks=1, filters=4, seed=0)
    flops = gpu_step.convolution_flops(model, batch=1, patch=10, scale=2)
    low = 2 * 100 * 9 * (3 * 4 + 4 * 4 * 3 + 4 * 16)  # head, block (2) + body, upsampler
    high = 2 * 400 * 9 * 4 * 3  # last_conv
    assert flops == low + high


def test_step_speed_reports_every_goal_and_says_when_torch_is_missing(capsys, tmp_path, monkeypatch):
    """A tiny run prints the three tables; without torch the PyTorch table says why it is absent."""
    from benchmarks import step_speed

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the CPU step benchmark times the TensorFlow training function")
    no_torch = tmp_path / "python"
    no_torch.write_text("#!/bin/sh\nexit 1\n")
    no_torch.chmod(0o755)
    monkeypatch.setenv("TORCH_PYTHON", str(no_torch))
    arguments = ["--blocks", "1", "--filters", "4", "--patch", "8", "--steps", "10", "--rounds", "1",
                 "--models", "EDSR 4x32, 24x24", "--no-write"]
    assert step_speed.main(arguments) == 0
    out = capsys.readouterr().out
    for variant in ("float32", "float32 XLA", "bfloat16"):
        assert re.search(rf"\| EDSR 4x32, 24x24 \| {variant} \| [\d.]+ \| [\d.]+ \| [+-][\d.]+% \| <= \d+%: "
                         r"(met|not met) \|", out), variant
    assert re.search(r"\| EDSR 4x32, 24x24 \| bfloat16 \| \d+ \| \d+ \| [\d.]+ \| - \|", out)
    assert f"PyTorch not measured: torch is not importable by `{no_torch}`" in out


def test_distribution_speed_reports_each_variant_against_one_device(capsys):
    """One row per variant, with its rate and its ratio to one device of the same backend."""
    from benchmarks import distribution_speed

    arguments = ["--variants", "jax", "jax-2-devices", "--steps", "1", "--rounds", "1",
                 "--blocks", "1", "--filters", "4", "--no-write"]
    assert distribution_speed.main(arguments) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| jax")]
    assert re.fullmatch(r"\| jax \| none \| 1 \| [\d.]+ \| 1\.00x \|", rows[0]), rows
    assert re.fullmatch(r"\| jax-2-devices \| data_parallel \| 2 \| [\d.]+ \| [\d.]+x \|", rows[1]), rows


def test_gpu_smoke_reports_the_step_the_chain_and_a_paired_gain(capsys):
    """--quick: the three parts print, with a steps/s, a chain share and a gain with its interval."""
    from benchmarks import gpu_smoke

    assert gpu_smoke.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^1\. EDSR 2x16 x2, batch 16 of 24x24, .*: [\d.,]+ steps/s", out, re.M)
    assert re.search(r"^2\. first-order blind chain on .*: [\d.]+ ms per batch of 16 48x48 patches, "
                     r"[\d.]+% of a step", out, re.M)
    assert re.search(r"^   gain of dropblock: [+-][\d.]+ dB \[[+-][\d.]+, [+-][\d.]+\]", out, re.M)


def test_recipe_cost_reports_each_option_against_the_config_as_it_is(capsys):
    """One row per option: ms per optimizer step and the ratio to the plain config (1.00 itself)."""
    from benchmarks import recipe_cost

    arguments = ["--config", "configs/tiny_test.yaml", "--steps", "2", "--repeats", "1", "--no-write"]
    assert recipe_cost.main(arguments) == 0
    rows = capsys.readouterr().out.splitlines()
    names = [row.split(" | ")[0].lstrip("| ") for row in rows]
    assert names == ["as configured", "training.ema (decay 0.999)", "optimizer.global_clipnorm 0.1",
                     "accumulation k=2, micro-batches of 1"]
    assert rows[0].endswith("| 1.00 |")
    for row in rows:
        assert re.fullmatch(r"\| [^|]+ \| [\d.]+ \| [\d.]+ \|", row), row


@pytest.mark.skipif(not (SHARED_DATA / "Set12").is_dir(), reason="needs Set12 (../shared/data)")
def test_self_ensemble_cost_reports_plain_and_x8_per_image(capsys):
    """Two rows, seconds per image and the ratio to plain; x8 costs several plain passes."""
    from benchmarks import self_ensemble_cost

    assert self_ensemble_cost.main(["--repeats", "1", "--no-write", "--data-root", str(SHARED_DATA)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [row.split(" | ")[0].lstrip("| ") for row in rows] == ["plain", "self-ensemble x8"]
    ratio = float(rows[1].split(" | ")[2])
    assert rows[0].split(" | ")[2] == "1.00" and ratio > 3
