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

`training.steps_per_execution` and `training.jit_compile` hold in every mode.
JAX's trainer runs them under `data_parallel` as on one device. Under
`mirrored`, Keras' own TensorFlow training function fails at its first
execution with either (its multi-step loop reads the distributed iterator
through optionals inside a `tf.cond`, and its XLA cluster spans every
replica's variables), so `prepare_training` gives the model a training
function of its own (`_mirrored_train_function`): a plain `tf.while_loop` of
`steps_per_execution` steps and, with `jit_compile`, each replica's forward
and backward pass compiled with XLA on its own device, the variable updates
(gradients all-reduced by the optimizer, layer state such as DropBlock's
generators) applied after it, as one device's step applies them.
"""

import contextlib
import functools
import os

import keras

MODES = ("none", "mirrored", "data_parallel")
_BACKENDS = {"mirrored": "tensorflow", "data_parallel": "jax"}


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


@functools.cache
def _mirrored_strategy():
    """The process's one `MirroredStrategy`, shared by its runs.

    Every new strategy numbers its collective operations from the same keys,
    and TensorFlow keeps what it learnt of a key (the shape it reduces): a
    second strategy in the process (the next arm of `train.py`) whose model
    has other shapes would fail at its first step ("Shape mismatch in the
    collective instance 100").
    """
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    devices = [device.name for device in gpus or tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=devices)


def prepare(runs):
    """Readies this process for the runs' modes, once, before anything touches a device.

    Checks each mode's backend, joins the other processes of a multi-host JAX
    job (`initialize_processes`), and checks that each global batch splits
    evenly over its mode's devices. `train.py` prepares every planned run
    before the first trains; `train_run` prepares its own run (a second call
    costs nothing), so that calling it directly is just as safe.

    Args:
        runs: `(mode, batch_size)` pairs: a run's `training.distribution` and
            `data.batch_size`.

    Returns:
        Whether this process is the primary one, which writes (`is_primary`).

    Raises:
        ValueError: A mode belongs to another backend, or a batch does not
            split evenly over the devices.
    """
    runs = list(runs)
    for mode in sorted({mode for mode, _ in runs}):
        check_backend(mode)
    if any(mode == "data_parallel" for mode, _ in runs):
        initialize_processes()
    for mode, batch_size in runs:
        check_batch(batch_size, mode)
    return is_primary()


@contextlib.contextmanager
def scope(mode):
    """Builds, loads and trains models inside this context to spread them over the devices of `mode`.

    The process must have been prepared for `mode` (`prepare`).

    Args:
        mode: One of `MODES`.

    Yields:
        The number of devices (replicas) the batch is split over.
    """
    if mode == "none":
        yield 1
        return
    if mode == "mirrored":
        strategy = _mirrored_strategy()
        with strategy.scope():
            yield strategy.num_replicas_in_sync
        return
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


def prepare_training(model, mode):
    """Makes `model.fit` train `mode` with the model's `steps_per_execution` and `jit_compile`.

    Only `mirrored` needs it, and only when one of the two is on; the other
    modes train with Keras' own training function. Call it on the compiled
    (or loaded) model, inside `scope`.
    """
    if mode == "mirrored" and (model.steps_per_execution > 1 or model.jit_compile):
        model.make_train_function = functools.partial(_make_mirrored_train_function, model)
    return model


def _make_mirrored_train_function(model, force=False):
    """Stands in for `model.make_train_function` under `mirrored` (see `prepare_training`)."""
    if model.train_function is None or force:
        model.train_function = _mirrored_train_function(model)
    return model.train_function


def _mirrored_train_function(model):
    """What `fit` calls on the distributed iterator: `steps_per_execution` steps, their last logs.

    Keras reads the next batch of a multi-step execution as an optional
    inside a `tf.cond`, which a `MirroredStrategy` iterator cannot feed
    ("You must feed a value for placeholder tensor"); here each step reads it
    with `get_next`. The stream is endless (`build.training_dataset`) and
    `fit` asks for whole executions, so a step never finds it empty; if one
    did, the `OutOfRangeError` would end the epoch as in Keras.
    """
    import tensorflow as tf
    from keras.src.backend.tensorflow.trainer import reduce_per_replica

    strategy = model.distribute_strategy
    replica_step = _xla_replica_step(model) if model.jit_compile else model.train_step

    def one_step(iterator):
        outputs = strategy.run(replica_step, args=(iterator.get_next(),))
        return reduce_per_replica(outputs, strategy, reduction="auto")

    def multi_step(iterator):
        outputs = one_step(iterator)
        if model.steps_per_execution > 1:
            _, outputs = tf.while_loop(
                lambda done, _: done < model.steps_per_execution,
                lambda done, _: (done + 1, one_step(iterator)),
                (tf.constant(1), outputs),
            )
        return outputs

    return tf.function(multi_step, reduce_retracing=True, autograph=False)


def _xla_replica_step(model):
    """One replica's training step with its forward and backward pass compiled by XLA.

    Keras compiles the whole distributed step into one XLA cluster on the
    first device, which cannot reach the other replicas' variables ("Trying to
    access resource .../replica_1 located in device CPU:1 from device CPU:0").
    Compiling each replica's whole `train_step` fails too: over CPU devices
    TensorFlow updates the optimizer's variables, and a variable aggregated
    over the replicas (DropBlock's realised rate, batch statistics), through a
    `merge_call` across the replicas, which an XLA function cannot hold (the
    same resource error, or "`merge_call` called while defining a new graph").
    So XLA computes the loss and gradients on the replica's own device (the
    function is traced once per device, on that replica's variables),
    collecting the updates the layers make (random generator states,
    statistics) in a `keras.StatelessScope`; after it, as in Keras'
    `train_step`, the updates are assigned, the loss is tracked and the
    optimizer all-reduces the gradients and applies them, in graph mode.
    """
    import tensorflow as tf

    def state():
        # Variables a forward pass may assign: layer state (non-trainable weights, random
        # generators) and the compiled loss's metrics.
        return [*model.non_trainable_variables, *model.metrics_variables]

    def forward_backward(data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape, keras.StatelessScope(collect_losses=True) as scope:
            y_pred = model(x, training=True) if model._call_has_training_arg else model(x)
            loss = model._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                       training=True)
            scaled = model.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, model.trainable_variables)
        updates = {index: scope.get_current_value(variable)
                   for index, variable in enumerate(state())
                   if scope.get_current_value(variable) is not None}
        return gradients, loss, y_pred, updates

    forward_backward = tf.function(forward_backward, jit_compile=True, reduce_retracing=True,
                                   autograph=False)

    def replica_step(data):
        gradients, loss, y_pred, updates = forward_backward(data)
        variables = state()
        for index, value in updates.items():
            variables[index].assign(value)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        batch = tf.shape(next(value for value in keras.tree.flatten(x) if value is not None))[0]
        # `_compute_loss` divides the loss by the replicas (their gradients are summed).
        model._loss_tracker.update_state(loss * replicas, sample_weight=batch)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    return replica_step
