"""Keras callbacks of a training run: logging, validation and checkpoints.

They act every N optimizer steps, read from `optimizer.iterations` with
`dropblock.schedule.optimizer_step` (correct on JAX too), so they work with
any `steps_per_execution` and continue correctly after a resume. They write
to TensorBoard through a `restoration.reporting.tensorboard.SummaryWriter`.
"""

import contextlib
import math
import time
from pathlib import Path

import keras
import numpy as np

from dropblock.schedule import optimizer_step
from restoration import runs
from restoration.evaluation.protocol import score_images
from restoration.evaluation.protocol import to_uint8
from restoration.training import distribution
from restoration.training.state import save_state


class Diverged(Exception):
    """Training produced a non-finite loss or weight; nothing non-finite was saved.

    Args:
        step: the optimizer step at which it was seen.
        what: what was not finite, e.g. `"loss nan"` or `"weight conv1/kernel"`.
    """

    def __init__(self, step, what):
        super().__init__(f"not finite at step {step}: {what}")
        self.step, self.what = step, what


def check_finite_weights(model, step):
    """Raises `Diverged` if any weight of the model is NaN or infinite (before saving it)."""
    for weight in model.weights:
        if not np.all(np.isfinite(keras.ops.convert_to_numpy(weight))):
            raise Diverged(step, f"weight {weight.path}")


def moving_average(model):
    """The optimizer's EMA of the trainable weights as NumPy copies, or None when it keeps none.

    Copies, because on JAX the arrays a model holds are donated to its next
    call, and an average shared with the model would be deleted with them.
    """
    if not model.optimizer.use_ema:
        return None
    # Where Keras keeps the averages (its SwapEMAWeights callback reads them there too).
    averages = model.optimizer._model_variables_moving_average
    return [keras.ops.convert_to_numpy(average) for average in averages]


def assign_weights(model, values):
    """Sets the trainable weights of `model` to `values`, in order."""
    for variable, value in zip(model.trainable_variables, values):
        variable.assign(value)


@contextlib.contextmanager
def averaged_weights(model):
    """Within the block, the model holds the optimizer's EMA of its weights (if it keeps one)."""
    averages = moving_average(model)
    if averages is None:
        yield
        return
    weights = [keras.ops.convert_to_numpy(variable) for variable in model.trainable_variables]
    assign_weights(model, averages)
    try:
        yield
    finally:
        assign_weights(model, weights)


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss (the first callback, so nothing acts on it)."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise Diverged(optimizer_step(self.model), f"loss {float(loss)}")


def _crossed(previous, current, every):
    """Whether a multiple of `every` lies in `(previous, current]`."""
    return every > 0 and current // every > previous // every


class TrainingLogger(keras.callbacks.Callback):
    """Writes loss, learning rate and the regularizer's values to TensorBoard.

    The loss is the mean over the steps since the previous log, recovered
    from Keras' running mean, so each point is a window, not a cumulative
    average. The regularizer section says what else to log (`logged`, such
    as DropBlock's target and realised rates). It also times the training
    steps (after the first execution, which includes tracing). The same
    values go to the run's text log.
    """

    def __init__(self, writer, every, state, text_log, regularizer=None):
        super().__init__()
        self.writer, self.every, self.state, self.text_log = writer, every, state, text_log
        self.regularizer = regularizer

    def on_train_begin(self, logs=None):
        self.start_step = self.last_step = optimizer_step(self.model)
        self.last_sum = 0.0
        self.timer_step, self.timer_start = None, None

    def on_train_batch_end(self, batch, logs=None):
        step = optimizer_step(self.model)
        if self.timer_start is None:
            self.timer_step, self.timer_start = step, time.perf_counter()
        elif step > self.timer_step:
            elapsed = time.perf_counter() - self.timer_start
            self.state.step_seconds = elapsed / (step - self.timer_step)
        if _crossed(self.last_step, step, self.every) and logs and "loss" in logs:
            self._write(step, float(logs["loss"]))

    def _write(self, step, running_mean):
        total = running_mean * (step - self.start_step)
        window = (total - self.last_sum) / max(step - self.last_step, 1)
        self.last_sum, self.last_step = total, step
        learning_rate = self.model.optimizer.learning_rate
        scalars = {"train/loss": window,
                   "train/learning_rate": float(keras.ops.convert_to_numpy(learning_rate))}
        logged = self.regularizer.logged(self.model) if self.regularizer is not None else {}
        self.writer.scalars(step, {**scalars, **logged})
        fields = {"loss": f"{window:.6f}", "lr": f"{scalars['train/learning_rate']:.3e}"}
        fields.update({tag.replace("/", "_"): f"{value:.4f}" for tag, value in logged.items()})
        self.text_log.line(step, fields)


class Validator(keras.callbacks.Callback):
    """Validation PSNR/SSIM on fixed held-out crops, image panels, best checkpoint.

    Scored exactly as the test sets are (uint8 rounding, Y channel and border
    for super-resolution), but on a validation split: the checkpoint chosen
    here never saw the reported test sets. Each validation is also a line of
    the run's text log.
    """

    def __init__(self, run_dir, writer, text_log, validation, conventions, every, panels, state,
                 best, train_crops=None):
        super().__init__()
        self.run_dir, self.writer, self.text_log, self.best = run_dir, writer, text_log, best
        # `(inputs, targets, noise_levels)`: the levels (sigma / 255 per input) are the second
        # input of a network that takes one, else None.
        self.inputs, targets, self.noise_levels = validation
        self.targets = [to_uint8(t) for t in targets]
        self.conventions, self.every, self.panels, self.state = conventions, every, panels, state
        # Fixed crops of training images, degraded like the validation crops: their PSNR
        # minus the validation PSNR is the overfitting gap.
        self.train_crops = None
        if train_crops is not None:
            inputs, targets, levels = train_crops
            self.train_crops = (inputs, [to_uint8(t) for t in targets], levels)

    def on_train_begin(self, logs=None):
        self.last_step = optimizer_step(self.model)

    def on_train_batch_end(self, batch, logs=None):
        step = optimizer_step(self.model)
        if _crossed(self.last_step, step, self.every):
            self.validate(step)
        self.last_step = step

    def on_train_end(self, logs=None):
        # The final weights are a candidate too when the run length is not a
        # multiple of the validation interval.
        step = optimizer_step(self.model)
        if step % self.every:
            self.validate(step)

    def validate(self, step):
        with averaged_weights(self.model):
            return self._validate(step)

    def _validate(self, step):
        # With several processes, a copy of the weights on this one (the model itself otherwise).
        model = distribution.local_model(self.model)
        outputs, scores = self._score(model, self.inputs, self.targets, self.noise_levels, step)
        psnr = scores.psnr
        self.writer.scalars(step, {"validation/psnr": psnr, "validation/ssim": scores.ssim})
        train_psnr = None
        if self.train_crops is not None:
            _, train_scores = self._score(model, *self.train_crops, step)
            train_psnr = train_scores.psnr
            self.writer.scalars(step, {"overfitting/train_crops_psnr": train_psnr,
                                       "overfitting/gap": train_psnr - psnr})
        self.state.add_validation(step, psnr, train_psnr)
        fields = {"validation_psnr": f"{psnr:.3f}"}
        if scores.ssim is not None:
            fields["validation_ssim"] = f"{scores.ssim:.4f}"
        if train_psnr is not None:
            fields["train_crops_gap"] = f"{train_psnr - psnr:+.3f}"
        self.text_log.line(step, fields)
        if self.panels:
            self.writer.images(step, "validation/input_output_target", self._panels(outputs),
                               self.panels)
        if self.state.best_psnr is None or psnr > self.state.best_psnr:
            check_finite_weights(self.model, step)
            self.state.best_psnr, self.state.best_step = psnr, step
            self.best.hold(self.model)
        return psnr

    def _score(self, model, inputs, targets, noise_levels, step):
        feed = inputs if noise_levels is None else [inputs, noise_levels]
        with distribution.local():
            outputs = model.predict(feed, batch_size=4, verbose=0).astype("float32")
        if not np.all(np.isfinite(outputs)):
            raise Diverged(step, "validation output")
        outputs = [to_uint8(output) for output in outputs]
        entries = [(index, target, output) for index, (target, output) in enumerate(zip(targets, outputs))]
        return outputs, score_images(entries, self.conventions)

    def _panels(self, outputs):
        count = min(self.panels, len(outputs))
        rows = []
        for index in range(count):
            target = self.targets[index]
            source = to_uint8(self.inputs[index])
            factor = target.shape[0] // source.shape[0]
            source = np.repeat(np.repeat(source, factor, axis=0), factor, axis=1)
            rows.append(np.concatenate([source, outputs[index], target], axis=1))
        return np.stack(rows)


class BestWeights:
    """The weights of the best validation so far, held in memory until a checkpoint writes them.

    Writing `best.keras` at every improvement would cost a save per
    validation; it is written with the latest checkpoint and at the end of
    training instead, as weights alone (no optimizer state: it is scored, never
    resumed from), from a copy of the network. A run killed before the write
    resumes from its latest checkpoint, whose state record holds the best
    score of that step, and finds the same best weights again.
    """

    def __init__(self, run_dir):
        self.path = Path(run_dir) / runs.BEST_CHECKPOINT
        self.weights, self.copy = None, None

    def hold(self, model):
        self.weights = model.get_weights()

    def write(self, model):
        """Writes the held weights to `best.keras`, if any are waiting."""
        if self.weights is None:
            return
        # Saving creates variables; under a distribution that would wait for the other processes.
        with distribution.local():
            if self.copy is None:
                # From the config alone: `clone_model` would also carry the compiled optimizer.
                self.copy = model.__class__.from_config(model.get_config())
            self.copy.set_weights(self.weights)
            runs.save_model_atomically(self.copy, self.path)
        self.weights = None


class Checkpointer(keras.callbacks.Callback):
    """Saves the latest checkpoint and the run state every N steps and at the end.

    A best checkpoint waiting in `best` is written first, then the state
    record (random generators, best score), so the checkpoint on disk always
    has its record, whenever the run is killed.
    """

    def __init__(self, run_dir, every, state, best=None):
        super().__init__()
        self.run_dir, self.every, self.state = run_dir, every, state
        self.best = best or BestWeights(run_dir)

    def on_train_begin(self, logs=None):
        # The checkpoint the run resumed from (or none, at step 0) holds this step already.
        self.last_step = self.saved_step = optimizer_step(self.model)

    def on_train_batch_end(self, batch, logs=None):
        step = optimizer_step(self.model)
        if _crossed(self.last_step, step, self.every):
            self.save(step)
        self.last_step = step

    def on_train_end(self, logs=None):
        self.save(optimizer_step(self.model))

    def save(self, step):
        """Saves the state record, and the checkpoint unless it holds this step already.

        The record is rewritten either way (the best score may have moved since);
        saving the same step twice would push the step before it out of
        `previous.keras`, leaving two copies of one checkpoint.
        """
        check_finite_weights(self.model, step)
        self.best.write(self.model)
        save_state(self.run_dir, self.model, self.state, step)
        if step == self.saved_step and runs.checkpoints(self.run_dir):
            return
        with distribution.local():
            runs.save_checkpoint(self.model, self.run_dir)
        self.saved_step = step
