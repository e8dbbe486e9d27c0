"""Training throughput on one device against two, in every distribution mode, on this machine.

    python -m benchmarks.distribution_speed            # in `make bench`; writes BENCHMARKS.md
    python -m benchmarks.distribution_speed --variants jax jax-2-devices --rounds 1 --no-write
    python -m benchmarks.distribution_speed --steps-per-execution 10 --jit-compile true --no-write

Each variant trains EDSR (4x32 by default, x2, 24x24 patches, global batch
16, Adam on the L1 loss) under `restoration.training.distribution.scope`,
as `make train` does, in its own subprocess, on a `tf.data` stream of
random patches; the rate is patches per second over the timed steps, after
two warm-up steps (whole executions of `--steps-per-execution` steps, XLA as
`--jit-compile` says, as `training.steps_per_execution` and
`training.jit_compile` set them in a run). The variants run in interleaved
rounds and the table keeps each one's median, with its ratio to one device
of the same backend:

- `tensorflow`, `tensorflow-mirrored-2`: no strategy, then
  `MirroredStrategy` over the CPU split into 2 logical devices;
- `jax`, `jax-2-devices`: one device, then `DataParallel` over 2 host
  devices (`XLA_FLAGS=--xla_force_host_platform_device_count=2`);
- `jax-2-processes`: `DataParallel` over 2 processes of one device each,
  joined on 127.0.0.1 through Gloo, as two hosts would be.

On a CPU the devices share the same cores, so the ratios measure the cost
of splitting the batch and averaging the gradients, not a speed-up.
"""

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time

BATCH, SCALE, PATCH = 16, 2, 24
RESULT = "RESULT "
# variant: (backend, training.distribution, devices per process, processes)
VARIANTS = {
    "tensorflow": ("tensorflow", "none", 1, 1),
    "tensorflow-mirrored-2": ("tensorflow", "mirrored", 2, 1),
    "jax": ("jax", "none", 1, 1),
    "jax-2-devices": ("jax", "data_parallel", 2, 1),
    "jax-2-processes": ("jax", "data_parallel", 1, 2),
}
# --jit-compile: the values of training.jit_compile.
JIT_COMPILE = {"auto": "auto", "true": True, "false": False}
# TensorFlow splits the one CPU into two logical devices before it starts (also used by the tests).
TWO_TF_CPUS = (
    "import tensorflow as tf; cpu = tf.config.list_physical_devices('CPU')[0]; "
    "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)"
)


def worker(arguments):
    """Trains under one mode in this process and prints its patches per second."""
    import keras
    import tensorflow as tf

    from benchmarks import common
    from restoration.training import build
    from restoration.training import distribution

    distribution.prepare([(arguments.worker, BATCH)])
    batches = common.random_batch(4 * BATCH, PATCH, SCALE)
    dataset = tf.data.Dataset.from_tensor_slices(batches).repeat().batch(BATCH)
    keras.utils.set_random_seed(0)
    with distribution.scope(arguments.worker) as devices:
        # "auto": JAX compiles its step (an uncompiled one runs op by op); TensorFlow runs a graph.
        execution = arguments.steps_per_execution
        model = common.edsr(SCALE, arguments.blocks, arguments.filters,
                            jit_compile=build.jit_compile(JIT_COMPILE[arguments.jit_compile]),
                            steps_per_execution=execution)
        distribution.prepare_training(model, arguments.worker)
        # Whole executions: Keras runs every execution to its end.
        warm_up, steps = (math.ceil(count / execution) * execution for count in (2, arguments.steps))
        model.fit(dataset, epochs=1, steps_per_epoch=warm_up, verbose=0)
        start = time.perf_counter()
        history = model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
        seconds = time.perf_counter() - start
    loss = history.history["loss"][-1]
    print(RESULT + json.dumps({"patches_per_second": steps * BATCH / seconds,
                               "devices": devices, "loss": loss}), flush=True)
    return 0


def free_port():
    """A TCP port free on 127.0.0.1 now, for a coordinator."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_variant(name, arguments):
    """Patches per second of one variant, from its subprocesses (process 0's rate)."""
    backend, mode, devices, processes = VARIANTS[name]
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    prelude = ""
    if backend == "jax":
        environment["JAX_PLATFORMS"] = "cpu"
        environment["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    elif devices > 1:
        prelude = TWO_TF_CPUS + "; "
    if mode == "mirrored":  # As train.py runs it (train.MIRRORED_ONEDNN).
        environment["TF_ENABLE_ONEDNN_OPTS"] = "0"
    code = prelude + "import sys; from benchmarks import distribution_speed as b; sys.exit(b.main())"
    command = [sys.executable, "-c", code, "--worker", mode, "--steps", str(arguments.steps),
               "--blocks", str(arguments.blocks), "--filters", str(arguments.filters),
               "--steps-per-execution", str(arguments.steps_per_execution),
               "--jit-compile", arguments.jit_compile]
    address = f"127.0.0.1:{free_port()}"
    children = []
    for index in range(processes):
        if processes > 1:
            environment = {**environment, "KERAS_DISTRIBUTION_JOB_ADDRESSES": address,
                           "KERAS_DISTRIBUTION_NUM_PROCESSES": str(processes),
                           "KERAS_DISTRIBUTION_PROCESS_ID": str(index)}
        children.append(subprocess.Popen(command, env=environment, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True))
    outputs = [child.communicate(timeout=1800)[0] for child in children]
    for child, output in zip(children, outputs, strict=True):
        if child.returncode != 0:
            raise RuntimeError(f"variant {name} failed:\n{output[-3000:]}")
    line = next(line for line in outputs[0].splitlines() if line.startswith(RESULT))
    return json.loads(line[len(RESULT):])


def report(rates, arguments):
    from benchmarks import markdown

    command = f"python -m benchmarks.distribution_speed --steps {arguments.steps} --rounds {arguments.rounds}"
    if arguments.steps_per_execution != 1 or arguments.jit_compile != "auto":
        command = (f"`{command} --steps-per-execution {arguments.steps_per_execution} "
                   f"--jit-compile {arguments.jit_compile}`")
    else:
        command = f"`make bench` (`{command}`)"
    lines = [
        *markdown.header("Training throughput on one device and on two", command),
        "",
        f"EDSR {arguments.blocks}x{arguments.filters} x2 on {PATCH}x{PATCH} patches, global batch "
        f"{BATCH}, Adam/L1, `fit` on a `tf.data` stream under `training.distribution`; median of "
        f"{arguments.rounds} interleaved rounds of {arguments.steps} steps. The devices of a CPU share "
        "its cores, so two devices are not expected to be faster here: the ratio is the cost of "
        "splitting the batch and averaging gradients. `mirrored` runs with oneDNN's graph rewrites "
        "off, as `train.py` runs it.",
        "",
        "| variant | training.distribution | devices | patches/s | vs one device |",
        "|---|---|---|---|---|",
    ]
    for name, samples in rates.items():
        backend, mode, devices, processes = VARIANTS[name]
        rate = statistics.median(samples)
        single = rates.get(backend)
        ratio = f"{rate / statistics.median(single):.2f}x" if single else "-"
        where = f"{devices * processes}" + (f" ({processes} processes)" if processes > 1 else "")
        lines.append(f"| {name} | {mode} | {where} | {rate:.1f} | {ratio} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=30, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--steps-per-execution", type=int, default=1,
                        help="training.steps_per_execution (the published GPU recipes: 100)")
    parser.add_argument("--jit-compile", choices=list(JIT_COMPILE), default="auto",
                        help="training.jit_compile (the published GPU recipes: true)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md")
    parser.add_argument("--worker", choices=("none", "mirrored", "data_parallel"),
                        help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.worker:
        return worker(arguments)
    rates = {name: [] for name in arguments.variants}
    for _ in range(arguments.rounds):
        for name in arguments.variants:
            rates[name].append(run_variant(name, arguments)["patches_per_second"])
    text = report(rates, arguments)
    print(text)
    if not arguments.no_write:
        from benchmarks import markdown

        markdown.write_section("distribution-speed", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
