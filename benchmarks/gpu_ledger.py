"""The GPU ledger: what one H100 would consume per recipe, what a CPU core feeds, what a checkpoint costs.

    python -m benchmarks.gpu_ledger                  # in `make bench`; writes BENCHMARKS.md
    python -m benchmarks.gpu_ledger --quick          # fewer batches, for a look

For the published GPU recipes (EDSR-baseline x2, MSRResNet x4, RRDBNet x4,
RCAN x2, DRUNet colour) at their own sizes, patches and batches:

- the forward FLOPs of one patch and of one training step (three forward
  passes), counted from the network's graph (`restoration.training.memory`),
  and the step rate one H100 or H200 would reach at 40 % of its dense
  bfloat16 peak (989 TFLOP/s): the patches per second it would consume;
- the patches per CPU-second the project's input pipeline makes for that
  recipe (user + system time of this process over the batches, after a
  warm-up), with the fixed bicubic degradation and with the blind chains,
  and from that the CPU cores that would keep one GPU fed;
- the seconds to save and to load (with Adam's state) a checkpoint of the
  model at full size, and the share of training time the recipe's
  checkpoint and best-model intervals would take at the modelled step rate.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import common  # noqa: E402
from benchmarks import markdown  # noqa: E402
from restoration import runs  # noqa: E402
from restoration.config import load_config  # noqa: E402
from restoration.evaluation.predictors import load_keras_model  # noqa: E402
from restoration.training import build  # noqa: E402
from restoration.training import memory  # noqa: E402

PEAK_TFLOPS = 989.0  # H100 and H200 SXM, dense bfloat16
UTILISATION = 0.4
CORE_GOAL = 8
RECIPES = {
    "EDSR-baseline x2": "configs/edsr_baseline_x2_div2k.yaml",
    "MSRResNet x4": "configs/zoo/srresnet_x4_div2k.yaml",
    "RRDBNet x4": "configs/zoo/rrdbnet_x4_div2k.yaml",
    "RCAN x2": "configs/zoo/rcan_x2_div2k.yaml",
    "DRUNet colour": "configs/zoo/drunet_color_div2k.yaml",
}
# The data paths timed per recipe: the recipe's own, then the blind chains for the sr recipes.
BLIND = {"first-order chain": "{}", "second-order chain": "{order: 2}"}


# What the numbers above say about the goals, and why (measured where it says so).
GOALS = [
    "What this says. With the blind chain on the host, at most 8 cores per GPU holds for every "
    "recipe's own pipeline and for RRDBNet's and RCAN's first-order chain, not for the small "
    "networks' blind chains nor for the second-order chain. Run on the accelerator instead "
    "(`blind.degrade_batch` on the batch beside the training step, with per-example keys, as "
    "`benchmarks.gpu_smoke` does), a blind recipe leaves the host only the crops, the fixed "
    "pipeline's rate, and on this CPU the chain on the step's own device costs about 1 to 2 % (first "
    "order) and 3 to 5 % (second order) of an EDSR-baseline step (`python -m "
    "benchmarks.blind_chain`): within the 10 % goal; on a GPU it is not measured. Its JPEG is "
    "libjpeg, a CPU op, outside XLA.",
    "",
    "Checkpoints: the time of a save is not bytes but Keras' Python walk over every layer's state "
    "(a profile of RCAN's save puts 80 % of it in `saving_lib._save_state`), so a writer thread "
    "would hold the interpreter lock the training loop needs. The best checkpoint is therefore "
    "held in memory at an improvement and written, weights alone, with the next checkpoint, and "
    "the recipes checkpoint every 20,000 (EDSR-baseline) to 100,000 (RRDBNet) steps, a few "
    "minutes of GPU time at most, so that both saves stay under 2 % of training at the modelled "
    "rate; a crash costs the steps since the last checkpoint, and resumes exactly.",
]


def recipe(path, *overrides):
    return load_config(path, list(overrides), check_data=False).arm("baseline", 0)


def synthetic_images(count, side=480):
    """Photograph-like uint8 images (gradients, waves and noise) for the pipeline to cut."""
    rows, columns = np.mgrid[0:side, 0:side].astype(np.float32)
    images = []
    for index in range(count):
        rng = np.random.default_rng(index)
        waves = 60 * np.sin(rows[..., None] * rng.uniform(0.02, 0.2) + rng.uniform(0, 6, 3))
        noise = rng.normal(0, 10, (side, side, 3))
        images.append((f"{index:04d}", np.clip(100 + waves + noise + 0.1 * columns[..., None],
                                                0, 255).astype(np.uint8)))
    return images


def checkpoint_seconds(config, folder):
    """`(megabytes, save seconds, best-save seconds, load seconds)` of the model: the latest
    checkpoint with Adam's state built, and the best one, weights alone (as `BestWeights` writes it)."""
    model = build.compile_model(build.build_model(config), config)
    model.optimizer.build(model.trainable_variables)
    path = folder / "checkpoint.keras"
    saved = common.seconds(runs.save_model_atomically, model, path)
    best = common.seconds(runs.save_model_atomically, build.build_model(config), folder / "best.keras")
    loaded = common.seconds(lambda: load_keras_model(path, compile=True))
    return path.stat().st_size / 1e6, saved, best, loaded


def main(argv=None):
    import restoration.training.schedules  # noqa: F401  (the learning rate, for compile=True loads)

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer batches, no checkpoints")
    parser.add_argument("--only", nargs="+", choices=sorted(RECIPES), help="these recipes only")
    arguments = parser.parse_args(argv)
    batches = 5 if arguments.quick else 40
    images = synthetic_images(16)
    folder = Path(tempfile.mkdtemp(prefix="ledger."))
    demand_rows, feed_rows, checkpoint_rows = [], [], []
    for name, path in RECIPES.items():
        if arguments.only and name not in arguments.only:
            continue
        config = recipe(path)
        flops = memory.forward_flops(config, batch=1)
        step_flops = 3 * flops * config.data.batch_size
        steps_per_second = UTILISATION * PEAK_TFLOPS * 1e12 / step_flops
        demand = steps_per_second * config.data.batch_size
        demand_rows.append(
            f"| {name} | {config.data.batch_size} x {config.data.patch_size}px | "
            f"{flops / 1e9:.2f} | {step_flops / 1e12:.3f} | {steps_per_second:,.0f} | "
            f"{demand:,.0f} |")
        paths = {"recipe's own (bicubic or noise)": ()}
        if config.task.type == "sr":
            paths.update({label: (f"data.degradation={value}",) for label, value in BLIND.items()})
        for label, overrides in paths.items():
            try:
                feeding = recipe(path, *overrides)
                seconds = common.pull(build.training_dataset(feeding, images), 3, batches, common.cpu_seconds)
                rate = batches * feeding.data.batch_size / seconds
            except Exception as error:  # a chain this checkout does not have
                feed_rows.append(f"| {name} | {label} | not available ({type(error).__name__}) "
                                 "| | |")
                continue
            cores = demand / rate
            verdict = "met" if cores <= CORE_GOAL else "not met"
            feed_rows.append(f"| {name} | {label} | {rate:,.0f} | {cores:,.1f} | {verdict} |")
            print(feed_rows[-1], flush=True)
        if not arguments.quick:
            size, saved, best, loaded = checkpoint_seconds(config, folder)
            every = config.training.checkpoint_every
            share = (saved + best) / (every / steps_per_second)
            checkpoint_rows.append(
                f"| {name} | {size:,.1f} | {saved:.2f} | {best:.2f} | {loaded:.2f} | {every:,} | "
                f"{share:.1%} | {'met' if share <= 0.02 else 'not met'} |")
            print(checkpoint_rows[-1], flush=True)
    body = "\n".join([
        "## The GPU ledger: what one H100 consumes, what a CPU core feeds",
        "",
        f"`python -m benchmarks.gpu_ledger` (commit {markdown.git_revision()}; "
        f"{markdown.machine_description()}). One H100/H200 modelled at {UTILISATION:.0%} of its "
        f"{PEAK_TFLOPS:g} TFLOP/s dense bfloat16 peak; a training step is three forward passes.",
        "",
        "| recipe | batch | forward GFLOP / patch | TFLOP / step | steps/s | patches/s demanded |",
        "|---|---|---:|---:|---:|---:|",
        *demand_rows,
        "",
        f"Patches per CPU-second of the pipeline (this CPU, {batches} batches after a warm-up, "
        f"16 synthetic 480x480 images in memory) and the cores that would feed one GPU (goal: at "
        f"most {CORE_GOAL}):",
        "",
        "| recipe | data | patches per CPU-second | cores per GPU | goal |",
        "|---|---|---:|---:|---|",
        *feed_rows,
        *([] if not checkpoint_rows else [
            "",
            "Checkpoints at full size: the latest (model and Adam's state, saved atomically with "
            "fsync, loaded with the optimizer) and the best (weights alone, held in memory at an "
            "improvement and written with the next checkpoint), and the share of training time "
            "both take every `checkpoint_every` steps of the recipe at the modelled step rate "
            "(a new best at every checkpoint: the worst case; goal: at most 2 %):",
            "",
            "| recipe | MB | save (s) | best save (s) | load (s) | checkpoint every | share of "
            "training | goal |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
            *checkpoint_rows]),
        "",
        *GOALS,
    ])
    if not arguments.quick and not arguments.only:
        markdown.write_section("gpu-ledger", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
