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
import time
from pathlib import Path

import keras

from benchmarks import markdown
from restoration.config import load_config
from restoration.config.schema import EmaConfig
from restoration.training import build

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "t91_edsr_x2_dropblock.yaml"


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
    parser.add_argument("--config", default=str(CONFIG))
    parser.add_argument("--arm", default="baseline")
    parser.add_argument("--steps", type=int, default=200,
                        help="optimizer steps of each timed measurement (a multiple of steps_per_execution)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds; the fastest kept")
    parser.add_argument("--no-write", action="store_true")
    arguments = parser.parse_args(argv)
    experiment = load_config(arguments.config)
    config = experiment.arm(arguments.arm, experiment.seeds[0])
    if arguments.steps % config.training.steps_per_execution:
        parser.error(f"--steps must be a multiple of training.steps_per_execution "
                     f"({config.training.steps_per_execution}); received {arguments.steps}")
    keras.utils.set_random_seed(config.run.seed)
    batch = next(iter(build.training_dataset(config, build.load_images(config.data.train, config))))
    configs = variants(config)
    # Rounds interleave the variants, each round starting one variant later, so that neither a
    # change of machine load nor a variant's place in the round favours one; the fastest round
    # of each variant is kept, the least disturbed one.
    samples = {name: [] for name in configs}
    names = list(configs)
    for round_index in range(arguments.repeats):
        for name in names[round_index % len(names):] + names[:round_index % len(names)]:
            samples[name].append(step_seconds(configs[name], batch, arguments.steps))
    seconds = {name: min(samples[name]) for name in names}
    plain = seconds["as configured"]
    rows = [f"| {name} | {value * 1000:.1f} | {value / plain:.2f} |" for name, value in seconds.items()]
    print("\n".join(rows))
    relative = Path(arguments.config).resolve().relative_to(CONFIG.parent.parent)
    lines = [
        "## The training recipe's cost per optimizer step: EMA, clipping, accumulation",
        "",
        f"Command: `python -m benchmarks.recipe_cost --config {relative} --arm {arguments.arm} "
        f"--steps {arguments.steps}`, revision {markdown.git_revision()}.",
        f"Machine: {markdown.machine_description()}; Keras {keras.__version__} "
        f"({keras.backend.backend()}).",
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
