"""The EDSR training step on this CPU: DropBlock's cost inside it, its efficiency, and PyTorch's step.

    python -m benchmarks.step_speed                 # in `make bench`; writes BENCHMARKS.md
    TORCH_PYTHON=~/torch-env/bin/python python -m benchmarks.step_speed

For EDSR 4x32 on 24x24 low-resolution patches (the CPU experiments' model)
and EDSR-baseline 16x64 on 48x48, batch 16, x2, Adam on the L1 loss, the
benchmark times Keras' own compiled training function (`steps_per_execution`
10, one in-memory batch, no callbacks) in interleaved rounds in one process:

- with and without `DropBlock2D(0.1, 7)` after every residual block, in
  TensorFlow graph mode, under XLA and in mixed bfloat16;
- the step's convolution GFLOP/s against those of one bare 3x3 convolution
  (forward and both gradients) at the same shape and dtype;
- PyTorch's step for the same network (`benchmarks/torch_step.py`), run in
  a subprocess between the Keras rounds, when an interpreter with torch is
  given by `--torch-python` or `TORCH_PYTHON` (torch is never a dependency).
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from benchmarks import common
from benchmarks import markdown
from benchmarks.gpu_step import convolution_flops

TORCH_STEP = Path(__file__).resolve().parent / "torch_step.py"
BATCH, SCALE, EXECUTION = 16, 2, 10
# name: (blocks, filters, patch, timed steps per round, variants)
MODELS = {
    "EDSR 4x32, 24x24": (4, 32, 24, 50, ("float32", "float32 XLA", "bfloat16")),
    "EDSR-baseline 16x64, 48x48": (16, 64, 48, 10, ("float32", "bfloat16")),
}
# variant: (dtype policy, XLA)
VARIANTS = {
    "float32": ("float32", False),
    "float32 XLA": ("float32", True),
    "bfloat16": ("mixed_bfloat16", False),
}
# Goals of the DropBlock overhead per model and variant.
OVERHEAD_GOALS = {
    ("EDSR 4x32, 24x24", "float32"): 0.10,
    ("EDSR 4x32, 24x24", "float32 XLA"): 0.05,
    ("EDSR 4x32, 24x24", "bfloat16"): 0.05,
    ("EDSR-baseline 16x64, 48x48", "float32"): 0.03,
    ("EDSR-baseline 16x64, 48x48", "bfloat16"): 0.03,
}
EFFICIENCY_GOAL = 0.7


def build_step(blocks, filters, patch, policy, jit_compile, regularized):
    """Keras' compiled training function for EDSR and an iterator over one batch."""
    model = common.edsr(SCALE, blocks, filters, 7 if regularized else None, policy=policy,
                        jit_compile=jit_compile, steps_per_execution=EXECUTION)
    iterator = iter(tf.data.Dataset.from_tensors(common.random_batch(BATCH, patch, SCALE)).repeat())
    model.make_train_function()
    train_function = model.train_function

    def run(steps):
        for _ in range(max(1, steps // EXECUTION)):
            logs = train_function(iterator)
        float(logs["loss"])

    return model, run


def bare_convolution(filters, patch, policy):
    """One 3x3 convolution's forward and both gradients, at the step's shape and dtype."""
    layer = keras.layers.Conv2D(filters, 3, padding="same", dtype=policy)
    layer.build((BATCH, patch, patch, filters))
    inputs = tf.random.uniform((BATCH, patch, patch, filters), dtype=layer.compute_dtype)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(tf.cast(layer(inputs), "float32"))
        return tape.gradient(loss, [inputs, layer.kernel])

    def run(steps):
        for _ in range(steps):
            gradients = step()
        gradients[0].numpy()

    flops = 3 * 2 * BATCH * patch * patch * 9 * filters * filters
    return flops, run


def torch_interpreter(requested):
    """The interpreter to run the PyTorch step with, or None with the reason."""
    python = requested or os.environ.get("TORCH_PYTHON") or sys.executable
    probe = subprocess.run([python, "-c", "import torch"], capture_output=True, text=True)
    if probe.returncode:
        return None, (f"not measured: torch is not importable by `{python}` "
                      "(set TORCH_PYTHON to an interpreter that has it)")
    return python, ""


def torch_round(python, blocks, filters, patch, steps):
    """Seconds per PyTorch step for float32 and bfloat16, from one subprocess."""
    command = [python, str(TORCH_STEP), "--blocks", str(blocks), "--filters", str(filters),
               "--patch", str(patch), "--batch", str(BATCH), "--scale", str(SCALE),
               "--steps", str(steps)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_model(name, arguments, python):
    """Median seconds per step of every Keras variant, the bare convolutions and PyTorch."""
    *defaults, variants = MODELS[name]
    given = (arguments.blocks, arguments.filters, arguments.patch, arguments.steps)
    blocks, filters, patch, steps = (value or default for value, default in zip(given, defaults))
    runs, flops = {}, {}
    for variant in variants:
        policy, jit_compile = VARIANTS[variant]
        for regularized in (False, True):
            model, runs[(variant, regularized)] = build_step(
                blocks, filters, patch, policy, jit_compile, regularized)
            flops[variant] = 3 * convolution_flops(model, BATCH, patch, SCALE)
    for variant in ("float32", "bfloat16"):
        flops[("bare", variant)], runs[("bare", variant)] = bare_convolution(
            filters, patch, VARIANTS[variant][0])
    for run in runs.values():  # Warm-up: tracing, compilation and first allocations.
        run(2 * EXECUTION)
    measurements = {key: lambda run=run: common.seconds(run, steps) / steps for key, run in runs.items()}
    if python:  # After the Keras runs in every round.
        measurements["torch"] = lambda: torch_round(python, blocks, filters, patch, steps)
    samples = common.interleaved(measurements, arguments.rounds)
    torch = samples.pop("torch", None)
    seconds = {key: float(np.median(values)) for key, values in samples.items()}
    version = f"torch {torch[-1]['torch']} ({torch[-1]['threads']} threads)" if torch else None
    return {"variants": variants, "seconds": seconds, "flops": flops,
            "torch": {key: float(np.median([result["seconds"][key] for result in torch]))
                      for key in torch[0]["seconds"]} if torch else {},
            "torch_version": version}


def verdict(value, goal, at_most):
    return "met" if (value <= goal if at_most else value >= goal) else "not met"


def report(results, arguments, torch_note):
    command = f"python -m benchmarks.step_speed --rounds {arguments.rounds}"
    versions = next((r["torch_version"] for r in results.values() if r["torch_version"]), None)
    lines = [
        *markdown.header("The EDSR training step: DropBlock's cost, efficiency, PyTorch",
                         f"`make bench` (`{command}`)", f"TensorFlow {tf.__version__}, "
                         f"Keras {keras.__version__}; PyTorch: {versions or torch_note}"),
        f"Batch {BATCH}, x{SCALE}, Adam, L1 loss; Keras' compiled training function with "
        f"{EXECUTION} steps per execution on one in-memory batch; medians of {arguments.rounds} "
        "interleaved rounds in one process (PyTorch in a subprocess between the Keras rounds).",
        "",
        "### DropBlock2D(0.1, 7) after every residual block",
        "",
        "| model | variant | step (ms) | with DropBlock (ms) | overhead | goal |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        for variant in result["variants"]:
            plain, regularized = (result["seconds"][(variant, r)] for r in (False, True))
            overhead = regularized / plain - 1
            goal = OVERHEAD_GOALS.get((name, variant))
            goal_text = f"<= {goal:.0%}: {verdict(overhead, goal, True)}" if goal else "-"
            lines.append(f"| {name} | {variant} | {1000 * plain:.1f} | {1000 * regularized:.1f} | "
                         f"{overhead:+.1%} | {goal_text} |")
    lines += [
        "",
        "### Step efficiency: convolution GFLOP/s of the step against one bare 3x3 convolution",
        "",
        "| model | dtype | step GFLOP/s | bare convolution GFLOP/s | ratio | goal |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        for variant in ("float32", "bfloat16"):
            step = result["flops"][variant] / result["seconds"][(variant, False)] / 1e9
            bare = result["flops"][("bare", variant)] / result["seconds"][("bare", variant)] / 1e9
            goal = (f">= {EFFICIENCY_GOAL}: {verdict(step / bare, EFFICIENCY_GOAL, False)}"
                    if name.startswith("EDSR-baseline") else "-")
            lines.append(f"| {name} | {variant} | {step:.0f} | {bare:.0f} | {step / bare:.2f} | {goal} |")
    lines += [
        "",
        "### Against PyTorch (the same network, channels_last, bfloat16 by autocast)",
        "",
    ]
    if not any(result["torch"] for result in results.values()):
        lines.append(f"PyTorch {torch_note}.")
    else:
        lines += ["| model | dtype | Keras step (ms) | PyTorch step (ms) | PyTorch / Keras | goal >= 1 |",
                  "|---|---|---|---|---|---|"]
        for name, result in results.items():
            for variant in ("float32", "bfloat16"):
                keras_ms = 1000 * result["seconds"][(variant, False)]
                torch_ms = 1000 * result["torch"][variant]
                lines.append(f"| {name} | {variant} | {keras_ms:.1f} | {torch_ms:.1f} | "
                             f"{torch_ms / keras_ms:.2f} | {verdict(torch_ms / keras_ms, 1.0, False)} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--torch-python", help="interpreter with torch (default: $TORCH_PYTHON)")
    parser.add_argument("--no-write", action="store_true")
    for size in ("--blocks", "--filters", "--patch", "--steps"):  # a quick check; the table uses defaults
        parser.add_argument(size, type=int)
    arguments = parser.parse_args(argv)
    python, torch_note = torch_interpreter(arguments.torch_python)
    print(f"PyTorch: {python or torch_note}", flush=True)
    results = {name: measure_model(name, arguments, python) for name in arguments.models}
    text = report(results, arguments, torch_note)
    print(text)
    if not arguments.no_write:
        markdown.write_section("step-speed", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
