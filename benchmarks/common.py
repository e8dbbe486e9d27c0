"""Helpers shared by the benchmarks; keras, numpy and the libraries only (no TensorFlow on JAX)."""

import resource
import time
from pathlib import Path

import keras
import numpy as np

import dropblock
import sr_models

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds():
    """User and system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def seconds(function, *arguments):
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    function(*arguments)
    return time.perf_counter() - start


def pull(iterable, warm_up, count, clock=time.perf_counter):
    """`clock` seconds to pull `count` items of `iterable` after `warm_up` ones."""
    iterator = iter(iterable)
    for _ in range(warm_up):
        next(iterator)
    start = clock()
    for _ in range(count):
        next(iterator)
    return clock() - start


def random_batch(batch, patch, scale):
    """Uniform float32 `(inputs, targets)`: `patch`-side RGB patches and their x`scale` targets."""
    rng = np.random.default_rng(0)
    inputs = rng.uniform(size=(batch, patch, patch, 3)).astype("float32")
    return inputs, rng.uniform(size=(batch, patch * scale, patch * scale, 3)).astype("float32")


def edsr(scale, blocks, filters, dropblock_size=None, seed=0, policy="float32", **compile_arguments):
    """EDSR built under the dtype `policy` (float32 again after) and compiled with Adam(1e-4) on the
    L1 loss; DropBlock2D(0.1, dropblock_size) after every residual block where a size is given."""
    regularizer = None
    if dropblock_size:
        regularizer = sr_models.Regularizer(
            layer=lambda name: dropblock.DropBlock2D(0.1, dropblock_size, name=name),
            placement=sr_models.Placement("every_block"))
    keras.config.set_dtype_policy(policy)
    try:
        model = sr_models.build_edsr(scale=scale, num_blocks=blocks, filters=filters,
                                     regularizer=regularizer, seed=seed)
    finally:
        keras.config.set_dtype_policy("float32")
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mean_absolute_error",
                  **compile_arguments)
    return model


def interleaved(measurements, rounds, rotate=False):
    """Each measurement's results over `rounds` rounds that take them in turn, so that a change of
    machine load affects them alike; with `rotate`, each round starts one measurement later."""
    names = list(measurements)
    samples = {name: [] for name in names}
    for index in range(rounds):
        first = index % len(names) if rotate else 0
        for name in names[first:] + names[:first]:
            samples[name].append(measurements[name]())
    return samples


def arm_config(name, parser, argv):
    """Parses `argv` with --config, --arm and --no-write added. Returns the arguments, the arm's
    config (its seed set) and the command of `benchmarks.<name>` with the config, arm and steps."""
    from restoration.config import load_config

    parser.add_argument("--config", default=str(ROOT / "configs" / "t91_edsr_x2_dropblock.yaml"))
    parser.add_argument("--arm", default="baseline")
    parser.add_argument("--no-write", action="store_true")
    arguments = parser.parse_args(argv)
    experiment = load_config(arguments.config)
    config = experiment.arm(arguments.arm, experiment.seeds[0])
    keras.utils.set_random_seed(config.run.seed)
    relative = Path(arguments.config).resolve().relative_to(ROOT)
    command = (f"`python -m benchmarks.{name} --config {relative} --arm {arguments.arm} "
               f"--steps {arguments.steps}`")
    return arguments, config, command
