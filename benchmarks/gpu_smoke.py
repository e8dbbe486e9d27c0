"""A GPU machine checked in one command: the EDSR-baseline step, the blind chain beside it, a tiny experiment.

    make gpu-smoke                                   # KERAS_BACKEND=jax; a few minutes on an H100
    KERAS_BACKEND=jax python -m benchmarks.gpu_smoke --steps 300
    python -m benchmarks.gpu_smoke --quick           # a small look, on a CPU too

Needs numpy, scipy, keras and one backend; TensorFlow only for the blind
chain (`data.blind`, whose JPEG stage is TensorFlow's libjpeg op), which is
reported as skipped without it. It prints:

1. the device, and the EDSR-baseline x2 recipe's training step (16 blocks of
   64 filters, batch 16 of 48x48, Adam on L1, XLA, bfloat16 on an
   accelerator, float32 on a CPU) over `--steps` steps: steps/s, convolution
   TFLOP/s and their fraction of the device's dense bfloat16 peak;
2. the first-order blind chain degrading that batch (`blind.degrade_batch`,
   the recipe's 96x96 high-resolution patches) on the backend's device, and
   its share of a step that also degrades its own batch;
3. a 2-arm x 2-seed experiment end to end, on synthetic photographs: EDSR
   2x16 x2 with and without DropBlock after every block, trained on
   MATLAB-bicubic patches, scored by PSNR (Y channel, 2-pixel border) on
   held-out images, and the paired gain with its t interval over the seeds.
"""

import argparse
import importlib.util
import time

import keras
import numpy as np

from benchmarks import common
from benchmarks.gpu_step import convolution_flops
from benchmarks.gpu_step import device_description
from benchmarks.gpu_step import device_peak
from benchmarks.gpu_step import median_step_seconds
from data.degradations import bicubic_downscale
from data.degradations import bicubic_upscale
from restoration.evaluation.metrics import psnr
from restoration.reporting.statistics import paired_gain

SCALE, BATCH, PATCH = 2, 16, 48


def step_report(arguments, description):
    """Part 1: the recipe's step. Returns (seconds per step, targets)."""
    policy = "float32" if "cpu" in description.split(",")[-1].split()[:1] else "mixed_bfloat16"
    peak = device_peak(description)
    model = common.edsr(SCALE, arguments.blocks, arguments.filters, policy=policy, jit_compile=True)
    side = arguments.patch
    inputs, targets = common.random_batch(BATCH, side, SCALE)
    seconds = median_step_seconds({"recipe": model}, inputs, targets, arguments.steps, 1)["recipe"]
    tflops = 3 * convolution_flops(model, BATCH, side, SCALE) / seconds / 1e12
    fraction = f", {tflops / peak:.1%} of the {peak:g} TFLOP/s bf16 peak" if peak else ""
    print(f"1. EDSR {arguments.blocks}x{arguments.filters} x{SCALE}, batch {BATCH} of {side}x{side}, "
          f"{policy}, XLA: {1 / seconds:,.1f} steps/s ({1000 * seconds:.2f} ms); {tflops:.3g} conv "
          f"TFLOP/s{fraction}", flush=True)
    return seconds, targets


def chain_report(step_seconds, targets, repeats):
    """Part 2: the blind chain on this backend's device, and its share of a step."""
    if importlib.util.find_spec("tensorflow") is None:
        print("2. blind chain: skipped (data.blind is TensorFlow, not installed here)", flush=True)
        return
    import tensorflow as tf

    from data import blind

    chain = blind.Chain()
    keys = tf.random.experimental.stateless_split(tf.constant([0, 1], tf.int64),
                                                  num=BATCH * blind.KEY_COUNT)
    keys = tf.reshape(keys, [BATCH, blind.KEY_COUNT, 2])
    degrade = tf.function(lambda images: blind.degrade_batch(images, keys, chain, SCALE))
    for _ in range(2):
        degrade(targets).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        degraded = degrade(targets)
    degraded.numpy()
    seconds = (time.perf_counter() - start) / repeats
    device = degraded.device.split("/")[-1] if hasattr(degraded, "device") else "?"
    print(f"2. first-order blind chain on {device}: {1000 * seconds:.2f} ms per batch of {BATCH} "
          f"{targets.shape[1]}x{targets.shape[2]} patches, {seconds / (seconds + step_seconds):.1%} "
          "of a step that degrades its own batch", flush=True)


def synthetic_photographs(count, side, seed):
    """Smooth shapes, edges and texture: enough structure that SR beats bicubic on it."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:side, 0:side].astype(np.float64)
    images = []
    for _ in range(count):
        image = 110 + 40 * np.sin(rows[..., None] / rng.uniform(3, 9) + rng.uniform(0, 6, 3)) * (
            np.cos(columns[..., None] / rng.uniform(3, 9)))
        for _ in range(6):
            top, left = rng.integers(0, side, 2)
            image[top:top + side // 4, left:left + side // 4] += rng.uniform(-60, 60, 3)
        images.append(np.clip(np.round(image + rng.normal(0, 3, image.shape)), 0, 255).astype(
            np.uint8))
    return images


def experiment_report(steps, side):
    """Part 3: 2 arms x 2 seeds, trained and scored; the paired gain over seeds."""
    train = synthetic_photographs(8, side, seed=1)
    test = synthetic_photographs(4, side, seed=2)
    low = [bicubic_downscale(image, SCALE) for image in train]
    test_low_uint8 = [bicubic_downscale(image, SCALE) for image in test]
    test_low = np.stack(test_low_uint8).astype("float32") / 255
    patch = 24
    scores = {"baseline": {}, "dropblock": {}}
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(train), (steps, BATCH))
        tops = rng.integers(0, low[0].shape[0] - patch + 1, (steps, BATCH, 2))
        for arm in scores:
            model = common.edsr(SCALE, 2, 16, 3 if arm == "dropblock" else None, seed, jit_compile=True)
            for step in range(steps):
                inputs = np.stack([low[i][t:t + patch, s:s + patch]
                                   for i, (t, s) in zip(picks[step], tops[step], strict=True)])
                targets = np.stack([train[i][SCALE * t:SCALE * (t + patch), SCALE * s:SCALE * (s + patch)]
                                    for i, (t, s) in zip(picks[step], tops[step], strict=True)])
                model.train_on_batch(inputs.astype("float32") / 255, targets.astype("float32") / 255)
            outputs = keras.ops.convert_to_numpy(model.predict(test_low, verbose=0))
            restored = np.clip(np.round(outputs * 255), 0, 255).astype(np.uint8)
            scores[arm][seed] = float(np.mean([
                psnr(reference, output, border=SCALE, y_channel=True)
                for reference, output in zip(test, restored, strict=True)]))
    bicubic = np.mean([psnr(reference, bicubic_upscale(image, SCALE), border=SCALE, y_channel=True)
                       for reference, image in zip(test, test_low_uint8, strict=True)])
    gain = paired_gain(scores["baseline"], scores["dropblock"])
    print(f"3. 2 arms x 2 seeds, EDSR 2x16 x{SCALE}, {steps} steps each, 4 held-out "
          f"{side}x{side} images (bicubic {bicubic:.2f} dB):", flush=True)
    for arm, by_seed in scores.items():
        print(f"   {arm:>9}: " + ", ".join(f"seed {seed} {value:.3f} dB"
                                          for seed, value in by_seed.items()))
    print(f"   gain of dropblock: {gain.mean:+.3f} dB [{gain.low:+.3f}, {gain.high:+.3f}] "
          "(95 % t interval over 2 seeds)", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="timed steps of the recipe's step")
    parser.add_argument("--experiment-steps", type=int, default=500,
                        help="training steps of each run of the tiny experiment")
    parser.add_argument("--quick", action="store_true",
                        help="a small model and few steps, to check the script on a CPU")
    arguments = parser.parse_args(argv)
    arguments.blocks, arguments.filters, arguments.patch = 16, 64, PATCH
    if arguments.quick:
        arguments.blocks, arguments.filters, arguments.patch = 2, 16, 24
        arguments.steps, arguments.experiment_steps = 3, 5
    started = time.perf_counter()
    description = device_description()
    print(f"device: {description}", flush=True)
    step_seconds, targets = step_report(arguments, description)
    chain_report(step_seconds, targets, repeats=3 if arguments.quick else 20)
    experiment_report(arguments.experiment_steps, side=64 if arguments.quick else 128)
    print(f"done in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
