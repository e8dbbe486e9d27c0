"""What the training recipe's options cost per optimizer step: EMA, clipping, accumulation.

    python -m benchmarks.recipe_cost                     # configs/t91_edsr_x2_dropblock.yaml
    python -m benchmarks.recipe_cost --arm dropblock --steps 200 --no-write

Each variant trains one arm of a config with `fit` on one in-memory batch
repeated (the model alone, no callbacks but a clock): the config as it is, with
`training.ema`, with `optimizer.global_clipnorm`, and with the step's batch
split into k accumulated micro-batches (`gradient_accumulation_steps`, the
same patches per optimizer step). Seconds per optimizer step after a warm-up
execution, the fastest of interleaved rounds in one process (each round
starting one variant later), and each variant's ratio to the config as it
is. Writes its section of BENCHMARKS.md.
"""

import argparse
import dataclasses
import functools
import time

import keras

from benchmarks import common
from benchmarks import markdown
from restoration.config.schema import EmaConfig
from restoration.training import build


def variants(config):
    """Variant name to its config: the recipe's options one at a time."""
    training, optimizer = config.training, config.training.optimizer
    batch = config.data.batch_size
    named = {
        "as configured": training,
        "training.ema (decay 0.999)": dataclasses.replace(training, ema=EmaConfig(decay=0.999)),
        "optimizer.global_clipnorm 0.1": dataclasses.replace(
            training, optimizer=dataclasses.replace(optimizer, global_clipnorm=0.1)),
    }
    for k in (2, 4):
        if batch % k == 0:
            named[f"accumulation k={k}, micro-batches of {batch // k}"] = dataclasses.replace(
                training, gradient_accumulation_steps=k)
    return {name: dataclasses.replace(config, training=value) for name, value in named.items()}


class _Clock(keras.callbacks.Callback):
    """The time at the end of every execution."""

    def on_train_begin(self, logs=None):
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def step_seconds(config, batch, steps):
    """Seconds per optimizer step of `fit` on `batch` repeated, cut into the config's micro-batches.

    One `fit` call, timed from the end of its first two steps' executions: on JAX a second call
    on a model with Keras' EMA fails (`fit` leaves the average's buffers in the model).
    """
    import tensorflow as tf

    k = config.training.gradient_accumulation_steps
    micro = tuple(part[: len(part) // k] for part in batch)
    model = build.compile_model(build.build_model(config), config)
    data = tf.data.Dataset.from_tensors(micro).repeat()
    execution = config.training.steps_per_execution
    warm_up = 2 * k  # executions, each of `execution` micro-batches
    clock = _Clock()
    model.fit(data, epochs=1, steps_per_epoch=(warm_up * execution) + steps * k, verbose=0,
              callbacks=[clock])
    return (clock.times[-1] - clock.times[warm_up - 1]) / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200,
                        help="optimizer steps of each timed measurement (a multiple of steps_per_execution)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds; the fastest kept")
    arguments, config, command = common.arm_config("recipe_cost", parser, argv)
    if arguments.steps % config.training.steps_per_execution:
        parser.error(f"--steps must be a multiple of training.steps_per_execution "
                     f"({config.training.steps_per_execution}); received {arguments.steps}")
    batch = next(iter(build.training_dataset(config, build.load_images(config.data.train, config))))
    # Each round starts one variant later, so that no variant's place in the round favours it; the
    # fastest round of each variant is kept, the least disturbed one.
    samples = common.interleaved({name: functools.partial(step_seconds, variant, batch, arguments.steps)
                                  for name, variant in variants(config).items()}, arguments.repeats,
                                 rotate=True)
    seconds = {name: min(values) for name, values in samples.items()}
    plain = seconds["as configured"]
    rows = [f"| {name} | {value * 1000:.1f} | {value / plain:.2f} |" for name, value in seconds.items()]
    print("\n".join(rows))
    lines = [
        *markdown.header("The training recipe's cost per optimizer step: EMA, clipping, accumulation",
                         command, markdown.keras_version()),
        f"Arm `{arguments.arm}`: {config.data.batch_size} patches of {config.data.patch_size}x"
        f"{config.data.patch_size} per optimizer step, {config.training.steps_per_execution} "
        f"micro-batches per execution; `fit` on one batch repeated (no pipeline, no callbacks), "
        f"{arguments.steps} optimizer steps after a warm-up, the fastest of {arguments.repeats} "
        "interleaved rounds in one process, each round starting one variant later.",
        "",
        "| variant | ms per optimizer step | ratio to as configured |",
        "|---|---|---|",
        *rows,
        "",
        "Accumulation keeps the patches per step and splits them into k micro-batches: its ratio is "
        "what a smaller device pays to keep a recipe's batch.",
    ]
    if not arguments.no_write:
        markdown.write_section("recipe-cost", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
