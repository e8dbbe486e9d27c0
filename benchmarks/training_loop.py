"""The real training loop against the model alone and the input pipeline alone, in one process.

    python -m benchmarks.training_loop                      # configs/t91_edsr_x2_dropblock.yaml
    python -m benchmarks.training_loop --arm dropblock --steps 500 --no-write

Three rates of one arm of a config, in interleaved rounds:

- the model alone: `fit` on one in-memory batch repeated, with the config's
  compile settings and steps per execution and no callbacks;
- the input pipeline alone: batches per second of the run's `tf.data` pipeline;
- the real loop: `train_remaining_steps` as `make train` runs it (the
  pipeline, logging, validation and checkpoints at the config's periods),
  steady state after the first execution.

Goals (issue "Speed"): the real loop at >= 0.9 of the model alone, the
pipeline at >= 5x what training consumes. Writes its section of BENCHMARKS.md.
"""

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from benchmarks import common
from benchmarks import markdown
from restoration.training import build
from restoration.training.run import train_remaining_steps
from restoration.training.state import RunState


def model_alone(config, batch, steps):
    """Steps per second of `fit` on one batch repeated, after a warm-up execution."""
    import tensorflow as tf

    model = build.compile_model(build.build_model(config), config)
    data = tf.data.Dataset.from_tensors(batch).repeat()
    model.fit(data, epochs=1, steps_per_epoch=2 * config.training.steps_per_execution, verbose=0)
    return steps / common.seconds(lambda: model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0))


def real_loop(config, steps):
    """Steady-state steps per second of the run's own training loop, callbacks included."""
    config = dataclasses.replace(config, training=dataclasses.replace(config.training, steps=steps))
    model = build.compile_model(build.build_model(config), config)
    state = RunState()
    with tempfile.TemporaryDirectory() as run_dir:
        train_remaining_steps(model, config, Path(run_dir), state, verbose=0)
    return 1.0 / state.step_seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=500, help="steps of each timed measurement")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; medians kept")
    arguments, config, command = common.arm_config("training_loop", parser, argv)
    images = build.load_images(config.data.train, config)
    dataset = build.training_dataset(config, images)
    batch = next(iter(dataset))
    measurements = {
        "model alone (steps/s)": lambda: model_alone(config, batch, arguments.steps),
        "input pipeline alone (batches/s)":  # after 5 warm-up batches
            lambda: arguments.steps / common.pull(dataset, 5, arguments.steps),
        "real training loop (steps/s)": lambda: real_loop(config, arguments.steps),
    }
    samples = common.interleaved(measurements, arguments.repeats)
    rates = {name: float(np.median(values)) for name, values in samples.items()}
    model, pipeline, loop = rates.values()
    for name, rate in rates.items():
        print(f"{name:34s} {rate:8.1f}")
    print(f"real loop / model alone: {loop / model:.2f} (goal >= 0.9); "
          f"pipeline / training: {pipeline / loop:.1f}x (goal >= 5x)")
    lines = [
        *markdown.header("The real training loop against the model and the pipeline alone", command,
                         markdown.keras_version()),
        f"Arm `{arguments.arm}`: batch {config.data.batch_size} of {config.data.patch_size}x"
        f"{config.data.patch_size} patches, {config.training.steps_per_execution} steps per "
        f"execution; each rate over {arguments.steps} steps after a warm-up, the median of "
        f"{arguments.repeats} interleaved rounds in one process.",
        "",
        "| measurement | rate |",
        "|---|---|",
        *[f"| {name} | {rate:.1f} |" for name, rate in rates.items()],
        "",
        f"Real loop / model alone: **{loop / model:.2f}** (goal >= 0.9); input pipeline / what "
        f"training consumes: **{pipeline / loop:.1f}x** (goal >= 5x).",
    ]
    if not arguments.no_write:
        markdown.write_section("training-loop", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
