"""Training-step time of EDSR on an accelerator: float32, bfloat16, and the cost of DropBlock.

Needs only keras, numpy and one Keras backend (no tf.data, no TensorFlow on
JAX), so it runs on a bare GPU machine:

    KERAS_BACKEND=jax python -m benchmarks.gpu_step              # EDSR-baseline x2, batch 16, 48x48
    python -m benchmarks.gpu_step --blocks 4 --filters 32 --patch 24 --steps 20   # the CPU model

For each precision it prints the median step time (forward, backward and
Adam update of one batch of random patches, compiled, interleaved over
repeats), the step time with DropBlock (rate 0.1, block 7) after every
residual block and its overhead, and the achieved convolution TFLOP/s with
their fraction of the device's dense bfloat16 peak where the device is known.
"""

import argparse
import platform
import time

import keras
import numpy as np

from benchmarks import common

# Dense bfloat16 tensor-core peaks in TFLOP/s (vendor data sheets, without sparsity).
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0}


def device_description():
    """The backend's first device, in words."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return f"jax {jax.__version__}, {device.platform} {getattr(device, 'device_kind', '')}"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name") if gpus else ""
        return f"tensorflow {tf.__version__}, {'gpu ' + name if gpus else 'cpu ' + platform.processor()}"
    return backend


def device_peak(description):
    """The bfloat16 peak of the device, if it is in the table."""
    return next((peak for name, peak in BF16_PEAK_TFLOPS.items() if name in description), None)


def convolution_flops(model, batch, patch, scale):
    """Multiply-adds x 2 of EDSR's convolutions in one forward pass.

    Every convolution sees the low-resolution patch, except the upsampler's
    later stages (x2 per stage) and the last one (the high-resolution side).
    """
    flops = 0
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        side = patch
        if layer.name == "last_conv":
            side = patch * scale
        elif layer.name.startswith("upsample"):
            side = patch * 2 ** int(layer.name[len("upsample")])
        rows, columns, channels_in, channels_out = layer.kernel.shape
        flops += 2 * batch * side * side * rows * columns * channels_in * channels_out
    return flops


def median_step_seconds(models, inputs, targets, steps, repeats):
    """Median seconds per step of each model, after three warm-up steps; repeats interleave the models."""
    for model in models.values():
        for _ in range(3):
            keras.ops.convert_to_numpy(model.train_on_batch(inputs, targets))
    times = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            start = time.perf_counter()
            for _ in range(steps):
                loss = model.train_on_batch(inputs, targets)
            float(keras.ops.convert_to_numpy(loss))
            times[name].append((time.perf_counter() - start) / steps)
    return {name: float(np.median(values)) for name, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=16)
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=48, help="low-resolution patch side")
    parser.add_argument("--steps", type=int, default=50, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precisions", nargs="+", default=["float32", "mixed_bfloat16"])
    arguments = parser.parse_args(argv)
    description = device_description()
    peak = device_peak(description)
    print(f"device: {description}; EDSR {arguments.blocks}x{arguments.filters} x{arguments.scale}, "
          f"batch {arguments.batch} of {arguments.patch}x{arguments.patch}")
    side = arguments.patch
    inputs, targets = common.random_batch(arguments.batch, side, arguments.scale)
    shape = (arguments.scale, arguments.blocks, arguments.filters)
    for policy in arguments.precisions:
        models = {"plain": common.edsr(*shape, policy=policy, jit_compile=True),
                  "dropblock": common.edsr(*shape, dropblock_size=7, policy=policy, jit_compile=True)}
        seconds = median_step_seconds(models, inputs, targets, arguments.steps, arguments.repeats)
        # Forward plus backward (input and weight gradients) is about 3x the forward work.
        flops = convolution_flops(models["plain"], arguments.batch, side, arguments.scale)
        tflops = 3 * flops / seconds["plain"] / 1e12
        fraction = f", {tflops / peak:.1%} of the {peak:g} TFLOP/s bf16 peak" if peak else ""
        overhead = seconds["dropblock"] / seconds["plain"] - 1
        print(f"{policy:>15}: step {1000 * seconds['plain']:.2f} ms, with DropBlock "
              f"{1000 * seconds['dropblock']:.2f} ms ({overhead:+.1%}); "
              f"{tflops:.3g} conv TFLOP/s{fraction}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
