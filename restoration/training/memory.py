"""What one training step holds in memory and computes, estimated before anything is allocated.

A batch, filter count or patch far beyond the machine would otherwise pass
the config check and fail at the first step with an out-of-memory traceback.
The network is built inside a Keras `StatelessScope` that never initialises
its variables, so even a network of 10^13 parameters costs no memory here;
its graph is then traced on symbolic tensors of the batch's shape. The
estimate counts the weights with their gradients and Adam's two moments
(four float32 copies of the parameters, one more each for an EMA of the
weights and for gradient accumulators) and every layer output of one
batch, which the backward pass keeps. It is compared with the memory of the
device the step runs on: the machine's RAM on a CPU, the accelerator's
memory where the backend reports it (JAX does; TensorFlow reports a GPU's
size only once it has allocated, so there the check is skipped). The same
trace counts the step's convolution FLOPs (`forward_flops`), which tell what
an accelerator would consume.
"""

import math
import os

import keras

from restoration.training import build
from restoration.training.precision import resolve_policy

PARAMETER_COPIES = 4  # weights, gradients, Adam's first and second moments
PARAMETER_BYTES = 4  # float32 weights, also under mixed precision


def parameter_copies(training):
    """Float32 copies of the parameters a step holds: `PARAMETER_COPIES`, the EMA, the accumulators."""
    return PARAMETER_COPIES + (training.ema is not None) + (training.gradient_accumulation_steps > 1)


def step_memory(config):
    """`(parameters, activation values, bytes)` of one training step of a run config."""
    with keras.StatelessScope(initialize_variables=False):
        model = build.build_model(config)
        parameters = sum(math.prod(variable.shape) for variable in model.weights)
        values = _activation_values(model, config.data.batch_size, config.data.patch_size)
    compute_dtype = keras.DTypePolicy(resolve_policy(config.training.mixed_precision)).compute_dtype
    per_value = 2 if compute_dtype in ("float16", "bfloat16") else 4
    total = parameters * parameter_copies(config.training) * PARAMETER_BYTES + values * per_value
    return parameters, values, total


def _trace(model, batch, patch):
    """`(operation, its inputs' specs, its output specs)` of every operation of the graph,
    traced on symbolic tensors of one batch of patches."""
    traced = []

    def recording(operation):
        def call(*args, **kwargs):
            output = operation.compute_output_spec(*args, **kwargs)
            traced.append((operation, keras.tree.flatten(args), keras.tree.flatten(output)))
            return output

        return call

    spatial, *others = model.inputs
    inputs = [keras.KerasTensor((batch, patch, patch, spatial.shape[-1]))]
    inputs += [keras.KerasTensor((batch, *tensor.shape[1:])) for tensor in others]
    model._run_through_graph(inputs if others else inputs[0], operation_fn=recording)
    return traced


def _activation_values(model, batch, patch):
    """How many values every operation of the graph outputs for one batch of patches."""
    return sum(math.prod(tensor.shape) for _, _, outputs in _trace(model, batch, patch)
               for tensor in outputs)


def forward_flops(config, batch=None, patch=None):
    """Floating-point operations (2 per multiply-add) of the convolutions and dense layers of
    one forward pass over a batch (by default the config's batch of training patches).

    A training step costs about three times this (the forward pass and the two gradients).
    """
    batch = config.data.batch_size if batch is None else batch
    patch = config.data.patch_size if patch is None else patch
    with keras.StatelessScope(initialize_variables=False):
        model = build.build_model(config)
        flops = 0
        for operation, inputs, outputs in _trace(model, batch, patch):
            kernel = getattr(operation, "kernel", None)
            if kernel is None or not isinstance(operation, (keras.layers.Conv2D,
                                                            keras.layers.Conv2DTranspose,
                                                            keras.layers.Dense)):
                continue
            # A multiply-add per kernel weight at each output position, or at each input
            # position of a transposed convolution (which spreads every input over the kernel).
            side = inputs[0] if isinstance(operation, keras.layers.Conv2DTranspose) else outputs[0]
            flops += 2 * math.prod(side.shape[:-1]) * math.prod(kernel.shape)
    return flops


def device_memory():
    """`(bytes, what)` of the memory one training step may use, or `(None, None)` if unknown."""
    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            limit = (device.memory_stats() or {}).get("bytes_limit")
            return (limit, f"the memory of {device.device_kind}") if limit else (None, None)
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return None, None
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's memory"


def describe_bytes(count):
    """`count` bytes in the largest binary unit that keeps it at or above 1."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024


def check_fits(config, limit, where):
    """Refuses a run config whose training step cannot fit in `limit` bytes.

    Raises:
        ValueError: one line giving the estimate, its parts and the keys to lower.
    """
    parameters, values, total = step_memory(config)
    if limit is None or total <= limit:
        return
    data = config.data
    raise ValueError(
        f"data.batch_size, data.patch_size and model: one training step needs about "
        f"{describe_bytes(total)} ({parameters:,} parameters with their gradients and optimizer "
        f"state, and {values:,} layer outputs for a batch of {data.batch_size} patches of "
        f"{data.patch_size}x{data.patch_size}), more than the {describe_bytes(limit)} of {where}; "
        "expected a smaller batch, patch or network"
    )
