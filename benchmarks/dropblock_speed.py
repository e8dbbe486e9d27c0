"""Forward + backward time of DropBlock2D against Keras' own dropout layers.

Run with `make bench` (or `python -m benchmarks.dropblock_speed`). Writes
its section of BENCHMARKS.md with the command and machine.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

import dropblock
from benchmarks import common
from benchmarks import markdown

SHAPE = (16, 96, 96, 64)


def candidates():
    return {
        "identity": keras.layers.Identity(),
        "keras.layers.Dropout(0.1)": keras.layers.Dropout(0.1),
        "keras.layers.SpatialDropout2D(0.1)": keras.layers.SpatialDropout2D(0.1),
        "DropBlock2D(0.1, 7), independent": dropblock.DropBlock2D(0.1, 7),
        "DropBlock2D(0.1, 7), shared": dropblock.DropBlock2D(0.1, 7, channels="shared"),
    }


def step_function(layer, compiled):
    def step(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(layer(inputs, training=True))
        return tape.gradient(loss, inputs)

    return tf.function(step) if compiled else step


def median_milliseconds(steps, inputs, repeats):
    """Median time of each step; runs are interleaved so load affects all alike."""
    for step in steps.values():
        for _ in range(3):  # Warm-up: tracing and first-call allocations.
            step(inputs).numpy()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            times[name].append(common.seconds(lambda step=step: step(inputs).numpy()))
    return {name: 1000 * float(np.median(values)) for name, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    inputs = tf.constant(np.random.default_rng(0).random(SHAPE, dtype=np.float32))
    layers = candidates()
    eager, graph = (median_milliseconds({name: step_function(layer, compiled)
                                         for name, layer in layers.items()}, inputs, args.repeats)
                    for compiled in (False, True))
    for name in layers:
        print(f"{name:40s} eager {eager[name]:8.1f} ms   tf.function {graph[name]:8.1f} ms", flush=True)
    dropout, independent = "keras.layers.Dropout(0.1)", "DropBlock2D(0.1, 7), independent"
    lines = [
        *markdown.header("DropBlock2D speed (forward + backward)",
                         f"`make bench` (`python -m benchmarks.dropblock_speed --repeats {args.repeats}`)",
                         f"TensorFlow {tf.__version__}, Keras {keras.__version__}"),
        f"Input {SHAPE} float32, `training=True`, gradient of the sum with respect to the input; "
        f"median of {args.repeats} runs in one process, after 3 warm-up runs; "
        "the layers take turns in every round so background load affects them alike.",
        "",
        "| layer | eager (ms) | tf.function (ms) | eager / Dropout | tf.function / Dropout |",
        "|---|---|---|---|---|",
        *[f"| {name} | {eager[name]:.1f} | {graph[name]:.1f} | "
          f"{eager[name] / eager[dropout]:.2f} | {graph[name] / graph[dropout]:.2f} |" for name in layers],
        "",
        f"DropBlock2D / Dropout: **{graph[independent] / graph[dropout]:.2f}** in tf.function, "
        f"**{eager[independent] / eager[dropout]:.2f}** eagerly (goal <= 1.0 for both).",
    ]
    if not args.no_write:
        markdown.write_section("dropblock-speed", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
