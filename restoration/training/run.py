"""One training run: build from the config, fit, checkpoint, resume, score.

`train_run` reads top to bottom: it is what `train.py` calls for every arm
and seed of an experiment.
"""

import contextlib
from pathlib import Path

import keras
import numpy as np

from data import grid
from dropblock.schedule import optimizer_step
from restoration import runs
from restoration.config import ConfigError
from restoration.config import RunConfig
from restoration.config.conversion import to_plain
from restoration.config.data_checks import paired_sets
from restoration.evaluation.metrics import conventions_for
from restoration.evaluation.predictors import Task
from restoration.evaluation.predictors import evaluate_paired
from restoration.evaluation.predictors import evaluate_predictor
from restoration.evaluation.predictors import load_keras_model
from restoration.evaluation.predictors import model_predictor
from restoration.evaluation.protocol import SELF_ENSEMBLE
from restoration.reporting.records import RunResults
from restoration.reporting.records import read_results
from restoration.reporting.tensorboard import SummaryWriter
from restoration.reporting.tensorboard import run_hparams
from restoration.reporting.tensorboard import write_run_hparams
from restoration.training import build
from restoration.training import callbacks
from restoration.training import distribution
from restoration.training.precision import resolve_policy
from restoration.training.state import RunState
from restoration.training.state import restore_state
from restoration.training.textlog import TextLog


@contextlib.contextmanager
def dtype_policy(name):
    """The Keras dtype policy `name` for the duration of a run."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def differing_keys(recorded, given, prefix=""):
    """Dotted keys whose values differ between two plain config trees, in tree order."""
    if not (isinstance(recorded, dict) and isinstance(given, dict)):
        return [] if recorded == given else [prefix or "(the whole config)"]
    keys = list(dict.fromkeys([*recorded, *given]))
    return [difference for key in keys
            for difference in differing_keys(recorded.get(key), given.get(key),
                                             f"{prefix}.{key}" if prefix else key)]


# Keys that say where a run's files and pixels are, not what it trains: a run resumes across them.
WHERE_KEYS = ("output.", "data.storage")


def check_resumable(config, run_dir):
    """Refuses to resume a run directory that another config has trained.

    `output.root` says where the directory is, and `data.storage` where the
    training pixels are read from, not what is trained, so a run moved or
    copied to another root, or switched between memory and disk, resumes. A directory whose config differs
    but that holds no checkpoint yet has trained nothing, so it is started
    over with the new config; so is one whose config.yaml cannot be read.
    """
    path = run_dir / runs.CONFIG_FILE
    if not path.exists():
        return
    try:
        recorded = RunConfig.from_file(run_dir).to_dict()
    except ConfigError as error:
        if runs.checkpoints(run_dir):
            raise runs.RunError(
                f"{error}. The checkpoints beside it were trained with the configuration it "
                f"held: restore it, or delete {run_dir} to start over") from None
        return
    given = config.to_dict()
    keys = [key for key in differing_keys(recorded, given) if not key.startswith(WHERE_KEYS)]
    if keys and runs.checkpoints(run_dir):
        shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
        raise runs.RunError(
            f"{path} was written by a different configuration (it differs in {shown}). "
            "Resuming would mix two experiments: use another experiment name, or delete the "
            "run directory to start over."
        )


def restore_or_build(config, run_dir):
    """The newest readable checkpoint with its optimizer and generator states, or a new model.

    A checkpoint that cannot be read (cut short, corrupted) is reported and the
    previous one is used; with none readable the run cannot resume.
    """
    candidates = runs.checkpoints(run_dir)
    for path in candidates:
        try:
            model = load_keras_model(path, compile=True)
        except Exception as error:  # Keras raises several types for a damaged archive.
            print(f"warning: {path} is unreadable ({type(error).__name__}: {error}); "
                  "trying the previous checkpoint", flush=True)
            continue
        step = optimizer_step(model)
        state = restore_state(run_dir, model, step)
        print(f"resuming {run_dir} from step {step} ({path.name})", flush=True)
        return model, state
    if candidates:
        raise runs.RunError(f"No readable checkpoint in {run_dir / 'checkpoints'}: delete the run "
                            "directory to start the run over.")
    return build.compile_model(build.build_model(config), config), RunState()


# Validations whose mean stands beside the peak: a peak is the maximum of noisy checks, biased
# upwards, the late mean is not.
LATE_VALIDATIONS = 5


def validation_summary(state, config):
    """Where validation peaked, the mean of the last validations, where it ended, the overfitting
    gap at the end, the curve, and what the validation crops were degraded by."""
    gap = None
    if state.train_psnr is not None and state.final_psnr is not None:
        gap = state.train_psnr - state.final_psnr
    history = [{"step": step, "psnr": psnr, "train_crops_psnr": train_psnr}
               for step, psnr, train_psnr in state.history]
    late = [entry["psnr"] for entry in history[-LATE_VALIDATIONS:]]
    return {"best_psnr": state.best_psnr, "best_step": state.best_step,
            "late_psnr": sum(late) / len(late) if late else None, "late_validations": len(late),
            "final_psnr": state.final_psnr, "final_step": state.final_step,
            "train_crops_psnr": state.train_psnr, "gap": gap,
            "selected_on": build.selection_distribution(config), "history": history}


def train_remaining_steps(model, config, run_dir, state, verbose, primary=True):
    """Trains until `training.steps`, continuing from the model's step.

    Only the primary process (`distribution.is_primary`) logs, validates and
    checkpoints; the others train alongside it.
    """
    training = config.training
    done = optimizer_step(model)
    if done >= training.steps:
        return
    # Micro-batches trained on, one accumulating towards the next step included.
    batches = int(keras.ops.convert_to_numpy(model.optimizer._iterations))
    remaining = training.steps * training.gradient_accumulation_steps - batches
    dataset = build.training_dataset(config, build.training_images(config), skip_batches=batches)
    # Keras puts the EMA in place of the weights when `fit` ends (on JAX also when it fails); the run
    # does so itself once training is over, so the checkpoint written at the end holds the weights
    # training reached and both can be scored.
    model.optimizer.finalize_variable_values = lambda variables: None
    steps = [callbacks.DivergenceGuard()]
    regularizer = config.regularizer
    if regularizer is not None:
        steps += regularizer.callbacks(training.steps)
    if not primary:
        model.fit(dataset, epochs=1, steps_per_epoch=remaining, callbacks=steps, verbose=0,
                  shuffle=False)
        return
    writer = SummaryWriter(run_dir / runs.LOGS, start_step=done)
    text_log = TextLog(run_dir / runs.TRAIN_LOG)
    text_log.section(("resuming" if done else "training") + f" {config.run.experiment}, arm "
                     f"{config.run.arm}, seed {config.run.seed} from step {done} to {training.steps}")
    steps.append(callbacks.TrainingLogger(writer, training.log_every, state, text_log, regularizer))
    best = callbacks.BestWeights(run_dir)
    if config.data.validation is not None and training.validate_every > 0:
        validation = build.validation_for(config, config.data.validation)
        steps.append(callbacks.Validator(
            run_dir, writer, text_log, validation, conventions_for(config.task),
            training.validate_every, training.image_panels, state, best,
            train_crops=build.training_crops(config),
        ))
    steps.append(callbacks.Checkpointer(run_dir, training.checkpoint_every, state, best))
    try:
        model.fit(dataset, epochs=1, steps_per_epoch=remaining, callbacks=steps, verbose=verbose,
                  shuffle=False)
    finally:
        writer.close()
        text_log.close()


def scored_cells(config):
    """The grid cells every test set is also scored under, less any the plain set already is."""
    task = config.task
    return [cell for cell in grid.cells(config.evaluation.grid, task.type)
            if not grid.same_as_plain(cell, task.type, task.sigma)]


def cell_ranges(config):
    """`{cell: {"in_range", "why"}}`: whether each scored cell lies in what the run trains on."""
    task, data = config.task, config.data
    degradation = None if data.degradation is None else to_plain(data.degradation)
    ranges = {}
    for cell in scored_cells(config):
        inside, why = grid.in_range(cell, task.type, degradation=degradation,
                                    noise_range=data.noise_range, sigma=task.sigma)
        ranges[cell.name] = {"in_range": inside, "why": why}
    return ranges


def _score_weights(model, config):
    """`(scores by set, prediction seconds, images)` of one set of weights on every set and cell
    (and with `evaluation.self_ensemble`, each again as `<set>+x8`, left out of the timing)."""
    model = distribution.local_model(model)
    task = Task.from_config(config.task)
    predictor = model_predictor(model, task)
    # One call traces the function for every image size, so the timing below excludes it.
    predictor.function_for(task.sigma)(np.zeros((1, 8, 8, task.channels), np.float32))
    evaluation = config.evaluation
    tiling = dict(tile=evaluation.tile, overlap=evaluation.tile_overlap, ssim=evaluation.ssim)
    variants = [("", predictor)]
    if evaluation.self_ensemble:
        variants.append((SELF_ENSEMBLE, predictor.self_ensembled()))
    test, seconds, images = {}, 0.0, 0
    for suffix, scorer in variants:
        for name in config.data.test_sets:
            for cell in [None, *scored_cells(config)]:
                result = evaluate_predictor(scorer, name, config.data.root, cell=cell, **tiling)
                test[name + suffix if cell is None else f"{name}{suffix}/{cell.name}"] = result.to_json()
                if not suffix:
                    seconds, images = seconds + result.predict_seconds, images + result.images
        # A user's pairs are scored on their own inputs: a grid cell would degrade the target instead.
        for index, entry in enumerate(config.data.paired_test_sets):
            found = paired_sets(entry, config.task, f"data.paired_test_sets[{index}]", "the configuration")
            result = evaluate_paired(scorer, found, **tiling)
            test[entry.name + suffix] = result.to_json()
            if not suffix:
                seconds, images = seconds + result.predict_seconds, images + result.images
    return test, seconds, images


def score_test_sets(model, config, run_dir, best_step=None):
    """Scores the final weights and the checkpoint chosen on validation on every test set.

    A checkpoint chosen at the last step holds the final weights, so it is
    not scored again (`best_step`: the step it was chosen at).

    Returns:
        `(checkpoint, test, final, seconds_per_image)`: which weights the
        selection rule names (`"best"`, or `"final"` for a run without
        validation), their JSON scores by set, the final weights' scores
        (the same dict when they are the selected ones), and the mean
        prediction time per test image (every tile included, tracing not).
    """
    final, seconds, images = _score_weights(model, config)
    best = run_dir / runs.BEST_CHECKPOINT
    checkpoint, selected = ("best" if best.exists() else "final"), final
    if best.exists() and best_step != config.training.steps:
        selected, more_seconds, more_images = _score_weights(load_keras_model(best), config)
        seconds, images = seconds + more_seconds, images + more_images
    return checkpoint, selected, final, seconds / images if images else None


def log_test_scores(run_dir, checkpoint, test):
    """The test scores as the last lines of the run's text log."""
    text_log = TextLog(run_dir / runs.TRAIN_LOG)
    text_log.section(f"test scores of the {checkpoint} weights")
    for name, scores in test.items():
        ssim = "" if scores.get("ssim") is None else f", SSIM {scores['ssim']:.4f}"
        text_log.section(f"{name}: PSNR {scores['psnr']:.3f} dB{ssim} ({scores['images']} images)")
    text_log.close()


def trainable_parameters(model):
    """Trainable weights only: a regularizer's rate variables are not parameters."""
    return int(sum(keras.ops.size(weight) for weight in model.trainable_weights))


def train_run(config, run_dir, verbose="auto"):
    """Trains one arm and seed, or resumes it, and writes its results.

    Args:
        config: The run's `RunConfig`.
        run_dir: Its run directory.
        verbose: Keras progress bar setting.

    Returns:
        The run's `RunResults`, also written to `<run_dir>/results.json`.

    Raises:
        restoration.training.callbacks.Diverged: a loss, weight or validation
            output was not finite; `diverged.json` records where, no results
            are written and no checkpoint holds the non-finite weights.
        restoration.runs.RunLocked: another process is training this run.
        ValueError: `training.distribution` does not fit the backend or the
            batch does not split over the devices (before any training).

    With several processes (`training.distribution: data_parallel` on
    several hosts) every process calls this; process 0 holds the lock and
    writes, and the others return None.
    """
    run_dir = Path(run_dir)
    if not distribution.prepare([(config.training.distribution, config.data.batch_size)]):
        return _train_locked(config, run_dir, verbose, primary=False)
    with runs.lock_run_directory(run_dir):
        return _train_locked(config, run_dir, verbose)


def _train_locked(config, run_dir, verbose, primary=True):
    """`train_run` once the run directory is locked (or, off process 0, without writing)."""
    finished = read_results(run_dir)
    if finished is not None:
        return finished if primary else None
    diverged = runs.read_json(run_dir / runs.DIVERGED_FILE)
    if diverged is not None:
        raise callbacks.Diverged(diverged["step"], diverged["what"])
    check_resumable(config, run_dir)
    if primary:
        config.save_resolved(run_dir)
    keras.utils.set_random_seed(config.run.seed)
    policy = resolve_policy(config.training.mixed_precision)
    with dtype_policy(policy), distribution.scope(config.training.distribution):
        model, state = restore_or_build(config, run_dir)
        # Under `mirrored`, a training function that runs steps_per_execution and jit_compile.
        distribution.prepare_training(model, config.training.distribution)
        try:
            train_remaining_steps(model, config, run_dir, state, verbose, primary)
            # The EMA in place of the weights, for the final model and the scores.
            averages, raw = callbacks.moving_average(model), None
            if averages is not None:
                if config.training.ema.score_raw:
                    raw = [keras.ops.convert_to_numpy(weight) for weight in model.trainable_variables]
                callbacks.assign_weights(model, averages)
        except callbacks.Diverged as error:
            # Recorded, so the report lists the run as diverged and a rerun does not retry it.
            if primary:
                runs.write_json_atomically(run_dir / runs.DIVERGED_FILE,
                                           {"step": error.step, "what": error.what})
            raise
        if not primary:
            return None
        with distribution.local():
            runs.save_model_atomically(model, run_dir / runs.FINAL_MODEL)
            checkpoint, test, final, seconds_per_image = score_test_sets(model, config, run_dir,
                                                                          state.best_step)
            if raw is not None:
                callbacks.assign_weights(model, raw)
                raw, _, _ = _score_weights(model, config)
    results = RunResults(
        experiment=config.run.experiment, arm=config.run.arm, seed=config.run.seed,
        regularizer=to_plain(config.regularizer),
        warnings=tuple(config.warnings()),
        task=to_plain(config.task), steps=config.training.steps, precision=policy, checkpoint=checkpoint,
        selected_step=state.best_step if checkpoint == "best" else config.training.steps,
        test=test, test_final=final, test_raw=raw or {}, cells=cell_ranges(config),
        weights="raw" if config.training.ema is None else "ema",
        validation=validation_summary(state, config),
        cost={"parameters": trainable_parameters(model), "train_step_seconds": state.step_seconds,
              "inference_seconds_per_image": seconds_per_image},
    )
    write_run_hparams(run_dir, run_hparams(results), test, step=config.training.steps)
    log_test_scores(run_dir, checkpoint, test)
    if checkpoint != "final":
        log_test_scores(run_dir, "final", final)
    if results.test_raw:
        log_test_scores(run_dir, "raw final (not averaged)", results.test_raw)
    runs.write_json_atomically(run_dir / runs.RESULTS_FILE, results.to_json())
    return results
