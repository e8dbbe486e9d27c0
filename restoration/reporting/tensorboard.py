"""Every TensorBoard summary the project writes, and nothing else.

`SummaryWriter` is what the training callbacks log through (scalars and
image panels of one run, in `<run_dir>/logs/`). `write_run_hparams` makes
every run a session of the HParams dashboard, with its regularizer settings
as hyperparameters and its final test PSNR and SSIM as metrics
(`test/psnr/<set>`, `test/ssim/<set>`), in `<run_dir>/logs/test/`: a run of
its own, so the dashboard's metric columns are the test scores alone, not
every training curve. `write_experiment_summary` puts the report in the
Custom Scalars, Scalars, Images and Text dashboards, in
`<experiment_dir>/summary/`.

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
from restoration.reporting.plots import FIGURES
from restoration.reporting.summary import Interval


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
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = "none" if value is None else str(value)
    return flat


def run_hparams(results):
    """Hyperparameters of a run, taken from its `RunResults`.

    Args:
        results: the run's `restoration.reporting.records.RunResults`.

    Returns:
        A nested dict: experiment, arm, seed, regularizer settings, task,
        steps and checkpoint.
    """
    # A run without a regularizer drops nothing: rate 0 keeps the rate column
    # numeric, so the HParams dashboard can plot PSNR against it.
    return {
        "experiment": results.experiment,
        "arm": results.arm,
        "seed": results.seed,
        "regularizer": results.regularizer or {"name": "none", "rate": 0.0},
        "task": results.task,
        "steps": results.steps,
        "checkpoint": results.checkpoint,
    }


def write_run_hparams(run_dir, hparams, metrics, step=0):
    """Writes the HParams session and final test scores of one run.

    Both go to `<run_dir>/logs/test/`, the session's own run in TensorBoard,
    so that the HParams plugin pairs the scores with the hyperparameters and
    lists no other metric.

    Args:
        run_dir: the run directory, `runs/<experiment>/<arm>/seed<N>`.
        hparams: dict of hyperparameters, possibly nested (see `run_hparams`).
        metrics: dict from test-set name to a dict with `psnr` and `ssim`
            (`None` when not computed), as in the `test` entry of `results.json`.
        step: training step the scores belong to.

    Returns:
        The path of the log directory.
    """
    log_dir = Path(run_dir) / runs.TEST_LOGS
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


def summary_tags(experiment):
    """The scalar tags of an experiment's summary, each with its `/low` and `/high` band tags.

    `<experiment>/test_gain/<set>` and `<experiment>/test_psnr/<set>` are
    written at the last training step, the others at every validation step.
    """
    names = ("test_gain", "test_psnr", "validation_psnr", "validation_gain", "overfitting_gap")
    return {name: f"{experiment}/{name}" for name in names}


def _band_scalars(tag, band, step):
    """The mean at `tag` and its interval at `tag/low`, `tag/high` (the mean itself without one)."""
    tf.summary.scalar(tag, band.mean, step=step)
    for bound, value in (("low", band.low), ("high", band.high)):
        tf.summary.scalar(f"{tag}/{bound}", band.mean if value is None else value, step=step)


def _write_arm_scalars(report, arm, tags):
    """One arm's run of the summary: its test scores and gains, its validation curves."""
    step = report.arms[arm].steps or 0
    for test_set, entry in report.sets.items():
        scores = entry.arms[arm].psnr
        if scores is not None:
            _band_scalars(f"{tags['test_psnr']}/{test_set}", scores, step)
        gain = Interval(0.0, 0.0, 0.0) if arm == report.baseline else entry.gains[arm].psnr
        if gain is not None and scores is not None:
            _band_scalars(f"{tags['test_gain']}/{test_set}", gain, step)
    curves = report.validation_curves.get(arm)
    if curves is None:
        return
    series = [("validation_psnr", curves.steps, curves.psnr),
              ("overfitting_gap", curves.steps, curves.gap)]
    if arm == report.baseline:
        # The baseline's zero line, for the gain chart to be read against.
        zeros = [0.0] * len(curves.steps)
        series.append(("validation_gain", curves.steps, Interval(zeros, zeros, zeros)))
    elif curves.gain is not None:
        series.append(("validation_gain", curves.gain.steps, curves.gain))
    for name, steps, band in series:
        if band is not None:
            for at, *point in zip(steps, band.mean, band.low, band.high, strict=True):
                _band_scalars(tags[name], Interval(*point), at)


def experiment_layout(report):
    """The custom-scalars layout of an experiment: margin charts of its verdict and curves.

    Each margin chart draws one line per run that holds its tags; the
    summary writes one run per arm, so every line is an arm (mean over
    seeds) with its interval as the margin. Categories: the test gains (the
    verdict), validation over training, the test PSNR per arm, and every
    seed's own curves.
    """
    from tensorboard.plugins.custom_scalar import layout_pb2

    experiment, baseline = report.experiment, report.baseline
    tags = summary_tags(experiment)
    level = f"{report.level * 100:g} %"

    def margin(title, tag):
        series = layout_pb2.MarginChartContent.Series(value=tag, lower=f"{tag}/low", upper=f"{tag}/high")
        return layout_pb2.Chart(title=title, margin=layout_pb2.MarginChartContent(series=[series]))

    def multiline(title, pattern):
        return layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=[pattern]))

    sets = list(report.sets)
    categories = [
        (f"{experiment}: the verdict, PSNR gain over {baseline} (dB): mean over seeds with its {level} "
         "t interval (hover a test point for its bounds)",
         [margin("gain on validation, paired by seed, over training", tags["validation_gain"])]
         + [margin(f"gain on {test_set} (test, at the last step)", f"{tags['test_gain']}/{test_set}")
            for test_set in sets], False),
        (f"{experiment}: validation over training, mean over seeds with its {level} t interval",
         [margin("validation PSNR (dB)", tags["validation_psnr"]),
          margin("overfitting gap: training crops minus validation (dB)", tags["overfitting_gap"])],
         False),
        (f"{experiment}: test PSNR per arm (dB), mean over seeds with its {level} t interval",
         [margin(test_set, f"{tags['test_psnr']}/{test_set}") for test_set in sets], True),
        (f"{experiment}: every run (one line per arm and seed)",
         [multiline("validation PSNR (dB)", r"^validation/psnr$"),
          multiline("training loss", r"^train/loss$"),
          multiline("overfitting gap (dB)", r"^overfitting/gap$"),
          multiline("regularizer rate: target and realised", r"^\w+/(current|realised)_rate$")], True),
    ]
    # TensorBoard's Custom Scalars dashboard lays a category's charts out last first.
    categories = [layout_pb2.Category(title=title, chart=list(reversed(charts)), closed=closed)
                  for title, charts, closed in categories]
    return layout_pb2.Layout(category=categories)


def write_experiment_summary(experiment_dir, report):
    """Writes the report to TensorBoard: the verdict at a glance, then the details.

    `<experiment_dir>/summary/` holds the custom-scalars layout
    (`experiment_layout`), the markdown report as the text `report` (its
    verdict first), and the plots `write_report` drew, as the images
    `restoration.reporting.plots.FIGURES` names. `<experiment_dir>/summary/<arm>/`,
    one run per arm so that the colours of the charts follow arms, holds the
    arm's means over seeds with their intervals (`summary_tags`; the
    baseline's gain is 0, the line the others are read against). The summary
    is a snapshot of the latest report: older event files there are removed
    once the new ones are complete.

    Args:
        experiment_dir: path of `runs/<experiment>`.
        report: the `Report` of `restoration.reporting.report.build_report`.

    Returns:
        The path of the summary directory.
    """
    from tensorboard.summary import v1 as summary_v1

    summary_dir = Path(experiment_dir) / runs.SUMMARY
    summary_dir.mkdir(parents=True, exist_ok=True)
    previous = set(summary_dir.glob("**/events.out.tfevents.*"))
    writer = tf.summary.create_file_writer(str(summary_dir))
    with writer.as_default():
        layout = summary_v1.custom_scalar_pb(experiment_layout(report))
        tf.summary.experimental.write_raw_pb(layout.SerializeToString(), step=0)
        tf.summary.text("report", format_markdown(report), step=0)
        # The plots `write_report` drew beside report.md, not drawn again.
        for tag, name in FIGURES:
            path = Path(experiment_dir) / name
            if path.exists():
                tf.summary.image(tag, tf.io.decode_png(path.read_bytes(), channels=3)[None], step=0)
    writer.close()
    tags = summary_tags(report.experiment)
    for arm in report.arms:
        writer = tf.summary.create_file_writer(str(summary_dir / arm))
        with writer.as_default():
            _write_arm_scalars(report, arm, tags)
        writer.close()
    for path in previous:
        path.unlink(missing_ok=True)
    return summary_dir
