"""Run directories: the one owner of where an experiment writes its files.

A run directory describes itself: the resolved config, checkpoints, the final
model, TensorBoard logs and the evaluation results sit side by side in
`<output root>/<experiment>/<arm>/seed<N>/`; the experiment directory above
holds `experiment.json` (which arms and seeds, which arm is the baseline) and
the report. Every file is written to a temporary name first and renamed, so
an interruption never leaves half a file.
"""

import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path

# Files of a run directory.
CONFIG_FILE = "config.yaml"
STATE_FILE = "state.json"
RESULTS_FILE = "results.json"
DIVERGED_FILE = "diverged.json"
FINAL_MODEL = "model.keras"
LATEST_CHECKPOINT = "checkpoints/latest.keras"
PREVIOUS_CHECKPOINT = "checkpoints/previous.keras"
BEST_CHECKPOINT = "checkpoints/best.keras"
LOGS = "logs"
# The HParams session and the final test scores: a run of its own, so they are its only metrics.
TEST_LOGS = "logs/test"
TRAIN_LOG = "train.log"
EVALUATION = "evaluation"
LOCK_FILE = ".lock"
# Every temporary file is named `.<name>.<random>.tmp` (or `.tmp.keras`) beside its target.
TEMPORARY_PATTERNS = (".*.tmp", ".*.tmp.keras")
# Model files of a run directory by name, in the order tried when none is
# named: the checkpoint chosen on validation, then the final weights.
CHECKPOINTS = {"best": BEST_CHECKPOINT, "final": FINAL_MODEL, "latest": LATEST_CHECKPOINT}

# Files of an experiment directory.
EXPERIMENT_FILE = "experiment.json"
REPORT_MARKDOWN = "report.md"
REPORT_JSON = "report.json"
GAIN_PLOT = "gain.png"
GRID_PLOT = "grid.png"
VALIDATION_PLOT = "validation.png"
SUMMARY = "summary"
BASELINE_ARM = "baseline"


class RunError(ValueError):
    """A run or experiment directory that cannot be used as it is; the message says why and what to do."""


class RunLocked(RunError):
    """Another process is training this run directory."""


def experiment_directory(output_root, experiment):
    """`<output root>/<experiment>`: the experiment's manifest, report and runs."""
    return Path(output_root) / experiment


def run_directory(output_root, experiment, arm, seed):
    """`<output root>/<experiment>/<arm>/seed<N>`: everything one run writes."""
    return experiment_directory(output_root, experiment) / arm / f"seed{seed}"


def baseline_arm(arms):
    """The arm every other arm is compared with: `baseline` if present, else the first."""
    arms = list(arms)
    return BASELINE_ARM if BASELINE_ARM in arms else arms[0]


def write_experiment_file(directory, name, arms, seeds, source, primary=None):
    """Writes `experiment.json`: the arms and seeds an experiment is meant to run, and its plan.

    The first write records the planned seeds and the primary endpoint. A
    later write (the config edited, then run again) keeps that record: seeds
    added once a report exists are listed as added after a look, and a
    primary endpoint changed after a look is flagged, so a report can say
    that its test was not the one registered. Before any report, an edit
    only updates the plan.

    Args:
        directory: The experiment directory; created if missing.
        name: The experiment name.
        arms: Arm names, in config order.
        seeds: The seeds every arm runs with.
        source: The config file (and overrides) it came from.
        primary: The primary endpoint as `ExperimentConfig.primary_record`
            gives it, or None.
    """
    directory, arms = Path(directory), list(arms)
    looked = (directory / REPORT_JSON).exists()
    previous = read_json(directory / EXPERIMENT_FILE) if (directory / EXPERIMENT_FILE).is_file() else None
    planned, added, registered, changed = list(seeds), [], primary, False
    if isinstance(previous, dict) and looked:
        planned = list(previous.get("planned_seeds", previous.get("seeds", [])))
        added = list(previous.get("added_after_look", []))
        added += [seed for seed in seeds if seed not in planned and seed not in added]
        registered = previous.get("registered_primary", previous.get("primary"))
        changed = previous.get("primary_changed_after_look", False) or registered != primary
    write_json_atomically(directory / EXPERIMENT_FILE, {
        "name": name, "arms": arms, "seeds": list(seeds),
        "baseline": baseline_arm(arms), "source": str(source),
        "planned_seeds": planned, "added_after_look": added,
        "primary": primary, "registered_primary": registered,
        "primary_changed_after_look": changed,
    })


def read_experiment_file(directory):
    """Reads `experiment.json` back, checked.

    Args:
        directory: An experiment directory written by `train.py`.

    Returns:
        Dict with `name`, `arms` (non-empty list), `seeds`, `baseline` (one
        of the arms) and `source`.
    """
    directory = Path(directory)
    path = directory / EXPERIMENT_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"No {EXPERIMENT_FILE} in {directory}. Expected an experiment directory written "
            f"by train.py, such as runs/<experiment>."
        )
    manifest = read_json(path)
    arms = manifest.get("arms") if isinstance(manifest, dict) else None
    if not arms or not isinstance(arms, list):
        raise RunError(f"{path}: expected a non-empty list of arms. Received: arms={arms!r}")
    baseline = manifest.get("baseline") or baseline_arm(arms)
    if baseline not in arms:
        raise RunError(f"{path}: expected the baseline to be one of {arms}. "
                         f"Received: baseline={baseline!r}")
    seeds = [int(seed) for seed in manifest.get("seeds", [])]
    return {"name": manifest.get("name", directory.name), "arms": arms, "seeds": seeds,
            "baseline": baseline, "source": manifest.get("source"),
            "planned_seeds": [int(seed) for seed in manifest.get("planned_seeds", seeds)],
            "added_after_look": [int(seed) for seed in manifest.get("added_after_look", [])],
            "primary": manifest.get("primary"),
            "primary_changed_after_look": bool(manifest.get("primary_changed_after_look")),
            "registered_primary": manifest.get("registered_primary", manifest.get("primary"))}


@contextlib.contextmanager
def lock_run_directory(run_dir):
    """Holds an exclusive lock on a run directory for as long as the block runs.

    A second process (or a second lock in this one) gets `RunLocked` at once
    instead of racing the first for the same files. The lock is the kernel's
    (`flock`), so it disappears with its process, however that process ends.
    Temporary files an interrupted writer left are removed once it is held.

    Args:
        run_dir: The run directory; created if missing.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunLocked(
                f"{run_dir} is being trained by another process (pid {holder}); run the "
                "command again when it has finished"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        remove_temporaries(run_dir)
        try:
            yield run_dir
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_temporaries(folder):
    """Deletes the temporary files interrupted writes left in `folder` and below."""
    for pattern in TEMPORARY_PATTERNS:
        for path in Path(folder).rglob(pattern):
            path.unlink(missing_ok=True)


def _fsync(path, optional=False):
    """fsyncs a file or folder; `optional`: a no-op where it cannot be opened (folders, on some systems)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        if optional:
            return
        raise
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _with_path(error, path):
    """The same OSError, naming the file being written rather than its temporary (or nothing)."""
    return OSError(error.errno, error.strerror or str(error), str(path))


def _replace_durably(temporary, path):
    """fsyncs `temporary`, renames it over `path` and fsyncs the folder."""
    _fsync(temporary)
    os.replace(temporary, path)
    _fsync(path.parent, optional=True)


@contextlib.contextmanager
def _replacing(path, suffix):
    """Yields a unique temporary path beside `path`; when the block succeeds it replaces `path`.

    The temporary is fsynced before the rename and the folder after, and it
    is removed if anything fails; an OSError then names `path`. The new file
    is readable by everyone (mkstemp would make it private to its owner).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    except OSError as error:
        # A read-only or full folder: the file the user asked for, not its temporary, is named.
        raise _with_path(error, path) from error
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, 0o644)
        _replace_durably(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _with_path(error, path) from error
        raise


def write_bytes_atomically(path, data):
    """Writes `data` to `path` through a temporary file in the same folder.

    Readers see the old file or the new one, never half of one, and the new
    one is on disk (fsync) before it replaces the old.
    """
    with _replacing(path, ".tmp") as temporary:
        Path(temporary).write_bytes(data)


def write_text_atomically(path, text):
    """`write_bytes_atomically` for UTF-8 text."""
    write_bytes_atomically(path, text.encode("utf-8"))


def write_json_atomically(path, data, allow_nan=True):
    """`write_text_atomically` for indented JSON; `allow_nan=False` makes it strict JSON."""
    write_text_atomically(path, json.dumps(data, indent=2, allow_nan=allow_nan) + "\n")


def read_json(path, default=None, remedy="Delete it to start over."):
    """Reads a JSON file this project wrote.

    Args:
        path: The file.
        default: Returned when the file does not exist.
        remedy: What the user can do about a damaged file, for the message.

    Returns:
        The parsed value; a file that does not parse is a `RunError` naming it.
    """
    path = Path(path)
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunError(f"{path}: not valid JSON ({error}). {remedy}") from None


def save_model_atomically(model, path):
    """Saves a `.keras` file under a unique temporary name, fsyncs it, then renames it."""
    with _replacing(path, ".tmp.keras") as temporary:
        model.save(temporary)


def save_checkpoint(model, run_dir):
    """Saves `checkpoints/latest.keras`, keeping the one it replaces as `previous.keras`.

    Should the new file be lost or unreadable, the run resumes from the
    previous one; at every moment at least one of the two is complete.
    """
    latest, previous = Path(run_dir) / LATEST_CHECKPOINT, Path(run_dir) / PREVIOUS_CHECKPOINT
    if latest.exists():
        os.replace(latest, previous)
    save_model_atomically(model, latest)


def checkpoints(run_dir):
    """The checkpoints a run can resume from, newest first."""
    paths = (Path(run_dir) / LATEST_CHECKPOINT, Path(run_dir) / PREVIOUS_CHECKPOINT)
    return [path for path in paths if path.exists()]
