"""Scheduled DropBlock: ramp the rate of every DropBlock layer during training."""

import keras

from dropblock.layers import DropBlock2D


def scheduled_layers(model):
    """Returns the `DropBlock2D` layers of `model` (nested ones included)."""
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, DropBlock2D) and layer.scheduled
    ]


def optimizer_step(model):
    """The optimizer steps a model has taken, read correctly during `fit` on every backend.

    The JAX trainer keeps variables outside the model while an epoch runs,
    and a detached variable reads back its initial value (0 for the step
    counter); syncing first puts the current values back. Other backends
    have nothing to sync.

    Args:
        model: A compiled `keras.Model`.

    Returns:
        The value of `model.optimizer.iterations`, an int.
    """
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def ramp_value(target, step, ramp_steps):
    """Linear ramp from 0 at step 0 to `target` at `ramp_steps`, then flat."""
    if ramp_steps <= 0:
        return float(target)
    return float(target) * min(1.0, max(0.0, step / ramp_steps))


class DropBlockSchedule(keras.callbacks.Callback):
    """Ramps every DropBlock layer linearly from rate 0 to its target rate.

    The paper found a rate that grows over training more robust than a
    fixed one. The position in the ramp is read from the optimizer's
    iteration counter, which checkpoints save and restore, so a resumed run
    continues the ramp where it stopped. The rate lives in each layer's
    `current_rate` variable, so the change takes effect inside the compiled
    training step without retracing.

    Args:
        ramp_steps: Number of optimizer steps to reach the target rate.
            0 disables the ramp (the target rate from the first step).

    Reference:
        - [Ghiasi et al., 2018, Section 3](https://arxiv.org/abs/1810.12890)
    """

    def __init__(self, ramp_steps):
        super().__init__()
        if not isinstance(ramp_steps, int) or isinstance(ramp_steps, bool) or ramp_steps < 0:
            raise ValueError(
                "Invalid value for argument `ramp_steps`. Expected an integer "
                f">= 0. Received: ramp_steps={ramp_steps}"
            )
        self.ramp_steps = ramp_steps
        self._layers = []

    def on_train_begin(self, logs=None):
        self._layers = scheduled_layers(self.model)
        self._update(optimizer_step(self.model))

    def on_train_batch_begin(self, batch, logs=None):
        # After `optimizer_step` has synced the JAX state, the assignment
        # below reaches the next step.
        self._update(optimizer_step(self.model))

    def on_train_end(self, logs=None):
        # Leave each layer at the rate of the last step taken, so a model
        # saved after training records where the ramp stood.
        self._update(optimizer_step(self.model))

    def _update(self, step):
        for layer in self._layers:
            layer.current_rate.assign(ramp_value(layer.rate, step, self.ramp_steps))
