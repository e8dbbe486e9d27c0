"""One training run: build from the config, fit, checkpoint, resume, evaluate.

`train_run` reads top to bottom: it is what `train.py` calls for every arm
and seed of an experiment.
"""

import contextlib
import time
from pathlib import Path

import keras
import tensorflow as tf

import dropblock
from restoration import builders
from restoration import callbacks
from restoration import metrics
from restoration import runs
from restoration.config import RunConfig
from restoration.predictors import Predictor
from restoration.predictors import Task
from restoration.predictors import evaluate_predictor
from restoration.predictors import keras_predictor
from restoration.predictors import load_keras_model
from restoration.tensorboard_summaries import run_hparams
from restoration.tensorboard_summaries import write_run_hparams


@contextlib.contextmanager
def dtype_policy(mixed_precision):
    """Float16 compute for the duration of a run when the config asks for it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16" if mixed_precision else "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def check_resumable(config, run_dir):
    """Refuses to resume a run directory that was started with another config."""
    path = run_dir / runs.CONFIG_FILE
    if path.exists() and RunConfig.from_file(run_dir).to_dict() != config.to_dict():
        raise ValueError(
            f"{path} was written by a different configuration. Resuming would mix "
            "two experiments: use another experiment name, or delete the run directory "
            "to start over."
        )


def restore_or_build(config, run_dir):
    """The latest checkpoint with its optimizer state, or a freshly built model."""
    latest = run_dir / runs.LATEST_CHECKPOINT
    state = runs.read_json(run_dir / runs.STATE_FILE, default={})
    if latest.exists():
        model = load_keras_model(latest, compile=True)
        return model, callbacks.RunState(
            state.get("best_psnr"), state.get("best_step"), state.get("step_seconds")
        )
    return builders.compile_model(builders.build_model(config), config), callbacks.RunState()


def fit(model, config, run_dir, state, verbose):
    """Trains until `training.steps`, continuing from the model's step."""
    training = config.training
    done = callbacks.optimizer_step(model)
    remaining = training.steps - done
    if remaining <= 0:
        return
    images = builders.load_images(config.data.train, config)
    dataset = builders.training_dataset(config, images, skip_steps=done)
    writer = tf.summary.create_file_writer(str(run_dir / runs.LOGS))
    steps = [callbacks.TrainingLogger(writer, training.log_every, state)]
    if config.regularizer is not None and config.regularizer.schedule_steps > 0:
        steps.append(dropblock.DropBlockSchedule(config.regularizer.schedule_steps))
    if config.data.validation is not None and training.validate_every > 0:
        validation = builders.load_images(config.data.validation, config)
        inputs, targets = builders.validation_data(config, validation)
        steps.append(callbacks.Validator(
            run_dir, writer, inputs, targets, conventions(config), training.validate_every,
            training.image_panels, state,
        ))
    steps.append(callbacks.Checkpointer(run_dir, training.checkpoint_every, state))
    model.fit(dataset, epochs=1, steps_per_epoch=remaining, callbacks=steps, verbose=verbose,
              shuffle=False)
    writer.close()


def conventions(config):
    task = config.task
    return metrics.sr_conventions(task.scale) if task.type == "sr" else metrics.denoise_conventions()


def evaluate(model, config, run_dir):
    """Scores the chosen checkpoint on every configured test set."""
    best = run_dir / runs.BEST_CHECKPOINT
    checkpoint = "best" if best.exists() else "final"
    if best.exists():
        model = load_keras_model(best)
    task = config.task
    predict = keras_predictor(model)
    timer = {"seconds": 0.0, "images": 0}

    def timed_predict(batch):
        start = time.perf_counter()
        output = predict(batch)
        timer["seconds"] += time.perf_counter() - start
        timer["images"] += 1
        return output

    predictor = Predictor(None, timed_predict, Task(task.type, task.scale, task.sigma, task.channels))
    evaluation = config.evaluation
    tile_options = dict(tile=evaluation.tile, ssim=evaluation.ssim)
    if evaluation.tile is not None:
        tile_options["overlap"] = evaluation.tile_overlap
    test = {}
    for name in config.data.test_sets:
        result = evaluate_predictor(predictor, name, config.data.root, **tile_options)
        test[name] = dict(result.to_dict(), images=len(result.per_image))
    seconds_per_image = timer["seconds"] / timer["images"] if timer["images"] else None
    return checkpoint, test, seconds_per_image


def trainable_parameters(model):
    """Trainable weights only: a regularizer's rate variables are not parameters."""
    return int(sum(keras.ops.size(weight) for weight in model.trainable_weights))


def regularizer_summary(config):
    settings = config.regularizer
    if settings is None:
        return None
    return {"name": settings.name, "placement": settings.placement,
            "blocks": list(settings.blocks), "schedule_steps": settings.schedule_steps,
            **dict(settings.layer_kwargs)}


def train_run(config, run_dir, verbose="auto"):
    """Trains one arm and seed, or resumes it, and writes its results.

    Args:
        config: The run's `RunConfig`.
        run_dir: Its run directory.
        verbose: Keras progress bar setting.

    Returns:
        The results dict, also written to `<run_dir>/results.json`.
    """
    run_dir = Path(run_dir)
    finished = runs.read_json(run_dir / runs.RESULTS_FILE)
    if finished is not None:
        return finished
    check_resumable(config, run_dir)
    config.save_resolved(run_dir)
    keras.utils.set_random_seed(config.run.seed)
    with dtype_policy(config.training.mixed_precision):
        model, state = restore_or_build(config, run_dir)
        fit(model, config, run_dir, state, verbose)
        runs.save_model_atomically(model, run_dir / runs.FINAL_MODEL)
        checkpoint, test, seconds_per_image = evaluate(model, config, run_dir)
    results = {
        "experiment": config.run.experiment, "arm": config.run.arm, "seed": config.run.seed,
        "regularizer": regularizer_summary(config),
        "task": {"type": config.task.type, "scale": config.task.scale,
                 "sigma": config.task.sigma, "channels": config.task.channels},
        "steps": config.training.steps, "checkpoint": checkpoint, "test": test,
        "validation": {"best_psnr": state.best_psnr, "best_step": state.best_step},
        "cost": {"parameters": trainable_parameters(model),
                 "train_step_seconds": state.step_seconds,
                 "inference_seconds_per_image": seconds_per_image},
    }
    write_run_hparams(run_dir, run_hparams(results), test, step=config.training.steps)
    runs.write_json_atomically(run_dir / runs.RESULTS_FILE, results)
    return results
