"""How a run spreads over devices and processes, on the engines Keras and TensorFlow ship.

`training.distribution` picks one of three modes:

- `none`: the default device.
- `mirrored`: `tf.distribute.MirroredStrategy` on the TensorFlow backend, over
  every local GPU (or, without GPUs, every logical CPU device). One process.
- `data_parallel`: `keras.distribution.DataParallel` on the JAX backend, over
  every device of every process. Several processes (hosts) join through
  `keras.distribution.initialize`, which reads `KERAS_DISTRIBUTION_JOB_ADDRESSES`,
  `KERAS_DISTRIBUTION_NUM_PROCESSES` and `KERAS_DISTRIBUTION_PROCESS_ID`.

`data.batch_size` is the global batch in every mode: each device computes the
loss of its share and the gradients are averaged, so a step is the step of
one device on the whole batch (up to float summation order). With several
processes, Keras cuts each global batch of the one data stream into one
contiguous piece per process, so together they see exactly the batches a
single process would. Only process 0 writes (checkpoints, TensorBoard,
results, reports) and validates; every process resumes from the checkpoint
in the shared run folder.
"""

import contextlib
import os

import keras

MODES = ("none", "mirrored", "data_parallel")
_BACKENDS = {"mirrored": "tensorflow", "data_parallel": "jax"}
# Environment variables through which a launcher names the processes of a multi-host job.
PROCESS_VARIABLES = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)


def check_backend(mode):
    """Raises a ValueError when `mode` needs another Keras backend than the one in use."""
    needed = _BACKENDS.get(mode)
    backend = keras.backend.backend()
    if needed is not None and backend != needed:
        hint = "KERAS_BACKEND=jax" if needed == "jax" else "the default TensorFlow backend"
        own = [name for name in MODES if _BACKENDS.get(name, backend) == backend]
        raise ValueError(
            f"training.distribution: expected one of {', '.join(map(repr, own))} on the {backend} "
            f"backend, received {mode!r}, which runs on {needed} (use {hint})"
        )


def requested_processes():
    """How many processes the environment asks for (1 when it names none)."""
    value = os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES")
    return int(value) if value else 1


def initialize_processes():
    """Joins the other processes of a multi-host JAX job, once, when the environment names them.

    Must run before JAX touches a device. CPU hosts exchange gradients through
    Gloo (JAX's CPU collectives) unless `JAX_CPU_COLLECTIVES_IMPLEMENTATION`
    says otherwise; GPUs and TPUs use their own.
    """
    if requested_processes() <= 1 or keras.backend.backend() != "jax":
        return
    import jax

    if jax.distributed.is_initialized():
        return
    if "JAX_CPU_COLLECTIVES_IMPLEMENTATION" not in os.environ:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    keras.distribution.initialize()


def process_count():
    """Processes training together: `jax.process_count()` on JAX, else 1."""
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return jax.process_count()


def is_primary():
    """Whether this process writes: process 0, or the only one."""
    if keras.backend.backend() != "jax":
        return True
    import jax

    return jax.process_index() == 0


def device_count(mode):
    """The devices `mode` splits each batch over."""
    if mode == "mirrored":
        return _mirrored_strategy().num_replicas_in_sync
    if mode == "data_parallel":
        return len(keras.distribution.list_devices())
    return 1


def check_batch(batch_size, mode):
    """Raises a ValueError unless the global batch splits evenly over the devices of `mode`."""
    devices = device_count(mode)
    if batch_size % devices:
        raise ValueError(
            f"data.batch_size: expected a multiple of the {devices} devices the batch is split "
            f"over (training.distribution: {mode}), received {batch_size}"
        )
    return devices


def _mirrored_strategy():
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    devices = [device.name for device in gpus or tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=devices)


@contextlib.contextmanager
def scope(mode, batch_size):
    """Builds, loads and trains models inside this context to spread them over the devices of `mode`.

    Args:
        mode: One of `MODES`.
        batch_size: The global batch, which must split evenly over the devices.

    Yields:
        The number of devices (replicas) the batch is split over.

    Raises:
        ValueError: The mode belongs to another backend, or the batch does not
            split evenly over the devices.
    """
    check_backend(mode)
    if mode == "none":
        yield 1
        return
    if mode == "mirrored":
        check_batch(batch_size, mode)
        strategy = _mirrored_strategy()
        with strategy.scope():
            yield strategy.num_replicas_in_sync
        return
    initialize_processes()
    check_batch(batch_size, mode)
    devices = keras.distribution.list_devices()
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    try:
        yield len(devices)
    finally:
        keras.distribution.set_distribution(previous)


@contextlib.contextmanager
def local():
    """Creates variables on this process alone inside this context (no distribution)."""
    previous = keras.distribution.distribution() if keras.backend.backend() == "jax" else None
    if previous is None:
        yield
        return
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


def local_model(model):
    """`model` itself, or under a Keras distribution a copy whose weights live on this process only.

    A model spread over processes can only be called by all of them at once,
    and one spread over devices only on batches that split over them;
    validation and scoring run on process 0 alone, on any number of images,
    so they use this copy of the (replicated) weights.
    """
    if keras.backend.backend() != "jax" or keras.distribution.distribution() is None:
        return model
    weights = model.get_weights()
    with local():
        copy = keras.models.clone_model(model)
        copy.set_weights(weights)
    return copy
