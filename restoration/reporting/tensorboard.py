"""Every TensorBoard summary the project writes, and nothing else.

`SummaryWriter` is what the training callbacks log through (scalars and
image panels of one run). `write_run_hparams` makes every run a session of the HParams dashboard, with
its regularizer settings as hyperparameters and its final test PSNR and SSIM
as metrics (`test/psnr/<set>`, `test/ssim/<set>`), all in `<run_dir>/logs/`.
`write_experiment_summary` puts the gains of the report in the Scalars and
Text dashboards, in `<experiment_dir>/summary/`.

No `hp.hparams_config` is written. TensorBoard's HParams plugin takes the
first such experiment summary it finds anywhere under the logdir, arbitrarily,
and then shows only the hyperparameters and metrics it lists; with several
experiments under `runs/`, one experiment's config would hide the columns of
the others. Without one, the plugin builds the columns from the session
summaries and scalar tags of every run (`BackendContext.experiment_from_metadata`
in `tensorboard/plugins/hparams/backend_context.py`), so every run of the
logdir is listed against its test PSNR. The dashboard merges runs whose
hyperparameters are all equal into one row; `experiment`, `arm` and `seed`
are hyperparameters, so every run keeps its own row.
"""

import socket
import time
from pathlib import Path

import tensorflow as tf
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import api as hp
from tensorboard.summary.writer.record_writer import RecordWriter

from restoration import runs
from restoration.reporting.formatting import format_markdown
from restoration.reporting.formatting import grid_cells
from restoration.reporting.formatting import plot_grid
from restoration.reporting.formatting import plot_validation
from restoration.reporting.formatting import validation_curves


class SummaryWriter:
    """Scalars and images of one run, written to its `logs/` folder.

    Each start of training first writes a `SessionLog` START marker at the
    first step it will log. TensorBoard takes a START after the first as a
    restart and drops what an interrupted process had logged from that step
    on (after its last checkpoint), so the curves of a resumed run do not
    overlap.

    Args:
        log_dir: the folder of the event files, `<run_dir>/logs`.
        start_step: the optimizer step training starts (or resumes) from.
    """

    def __init__(self, log_dir, start_step=0):
        _mark_start(Path(log_dir), start_step + 1)
        self._writer = tf.summary.create_file_writer(str(log_dir))

    def scalars(self, step, values):
        """Writes `{tag: float}` at `step`."""
        with self._writer.as_default(step=step):
            for tag, value in values.items():
                tf.summary.scalar(tag, value)

    def images(self, step, tag, images, max_outputs):
        """Writes a batch of uint8 `(n, h, w, c)` images at `step`."""
        with self._writer.as_default(step=step):
            tf.summary.image(tag, images, max_outputs=max_outputs)

    def close(self):
        self._writer.close()


def _mark_start(log_dir, step):
    """Writes a SessionLog START event at `step` in a file that sorts before the next writer's.

    TensorBoard reads the event files of a folder in name order; TensorFlow
    names its files `events.out.tfevents.<seconds>.<host>.<pid>...`, and
    `0start` sorts before any pid written in the same second.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.0start{step}"
    now = time.time()
    # TensorBoard honours START markers only in files that declare the event format version.
    events = [event_pb2.Event(wall_time=now, file_version="brain.Event:2"),
              event_pb2.Event(step=step, wall_time=now,
                              session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START))]
    with open(log_dir / name, "wb") as handle:
        writer = RecordWriter(handle)
        for event in events:
            writer.write(event.SerializeToString())
        writer.flush()


def flatten_hparams(hparams, prefix=""):
    """Flattens nested hyperparameters into the scalar values HParams accepts.

    Nested keys are joined with dots (`regularizer.rate`), as in config
    overrides. `None` becomes the string "none"; lists and other values
    become their string form.

    Args:
        hparams: dict of hyperparameters, possibly nested.
        prefix: prepended to every name.

    Returns:
        A flat dict from name to a bool, int, float or str.
    """
    flat = {}
    for key, value in hparams.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_hparams(value, prefix=f"{name}."))
        elif value is None:
            flat[name] = "none"
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def run_hparams(results):
    """Hyperparameters of a run, taken from its `results.json` dict.

    Args:
        results: the dict train.py writes to `results.json`.

    Returns:
        A nested dict: experiment, arm, seed, regularizer settings, task,
        steps and checkpoint.
    """
    # A run without a regularizer drops nothing: rate 0 keeps the rate column
    # numeric, so the HParams dashboard can plot PSNR against it.
    regularizer = results.get("regularizer") or {"name": "none", "rate": 0.0}
    return {
        "experiment": results.get("experiment"),
        "arm": results.get("arm"),
        "seed": results.get("seed"),
        "regularizer": regularizer,
        "task": results.get("task") or {},
        "steps": results.get("steps"),
        "checkpoint": results.get("checkpoint"),
    }


def write_run_hparams(run_dir, hparams, metrics, step=0):
    """Writes the HParams session and final test scores of one run.

    Both go to `<run_dir>/logs/`, the session's own run in TensorBoard, so
    that the HParams plugin pairs the scores with the hyperparameters.

    Args:
        run_dir: the run directory, `runs/<experiment>/<arm>/seed<N>`.
        hparams: dict of hyperparameters, possibly nested (see `run_hparams`).
        metrics: dict from test-set name to a dict with `psnr` and `ssim`
            (`None` when not computed), as in the `test` entry of `results.json`.
        step: training step the scores belong to.

    Returns:
        The path of the log directory.
    """
    log_dir = Path(run_dir) / runs.LOGS
    log_dir.mkdir(parents=True, exist_ok=True)
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        hp.hparams(flatten_hparams(hparams))
        for test_set, scores in metrics.items():
            for metric in ("psnr", "ssim"):
                if scores.get(metric) is not None:
                    tf.summary.scalar(f"test/{metric}/{test_set}", scores[metric], step=step)
    writer.close()
    return log_dir


def _write_gain_scalars(report):
    for test_set, entry in report["sets"].items():
        for arm, gain in entry["gains"].items():
            psnr = gain["psnr"]
            if psnr is None:
                continue
            tf.summary.scalar(f"gain/{arm}/{test_set}", psnr["mean"], step=0)
            for bound in ("low", "high"):
                if psnr[bound] is not None:
                    tf.summary.scalar(f"gain_{bound}/{arm}/{test_set}", psnr[bound], step=0)


def write_experiment_summary(experiment_dir, report):
    """Writes the gains of a report as TensorBoard scalars and a markdown text.

    Scalars `gain/<arm>/<set>`, `gain_low/<arm>/<set>` and `gain_high/<arm>/<set>`
    (PSNR gain over the baseline and its interval over seeds, in dB; bounds
    are left out with a single seed), the text `report` (the markdown
    report), with grid cells the image `grid_gain` (the heatmap of
    `grid.png`) and with validation curves the image `validation_curves`
    (`validation.png`) go to `<experiment_dir>/summary/`. The summary is a snapshot of
    the latest report: older event files there are removed once the new one
    is complete.

    Args:
        experiment_dir: path of `runs/<experiment>`.
        report: the dict of `restoration.reporting.report.build_report`.

    Returns:
        The path of the summary directory.
    """
    summary_dir = Path(experiment_dir) / runs.SUMMARY
    summary_dir.mkdir(parents=True, exist_ok=True)
    previous = set(summary_dir.glob("events.out.tfevents.*"))
    writer = tf.summary.create_file_writer(str(summary_dir))
    with writer.as_default():
        _write_gain_scalars(report)
        tf.summary.text("report", format_markdown(report), step=0)
        if grid_cells(report) and len(report["arms"]) > 1:
            heatmap = tf.io.decode_png(plot_grid(report), channels=3)
            tf.summary.image("grid_gain", heatmap[None], step=0)
        if validation_curves(report):
            curves = tf.io.decode_png(plot_validation(report), channels=3)
            tf.summary.image("validation_curves", curves[None], step=0)
    writer.close()
    for path in previous:
        path.unlink(missing_ok=True)
    return summary_dir
