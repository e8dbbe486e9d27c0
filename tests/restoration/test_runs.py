"""Run directories: layout, experiment.json, locks, temporaries and durable atomic writes."""

import os
import subprocess
import sys

import pytest

from restoration import runs
from tests.helpers import REPO_ROOT

HOLD_LOCK = (
    "import sys, time\n"
    "from restoration import runs\n"
    "with runs.lock_run_directory(sys.argv[1]):\n"
    "    print('locked', flush=True)\n"
    "    time.sleep(60)\n"
)


def hold_lock(run_dir):
    """A child process that holds the lock of `run_dir` until it is killed."""
    child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir)], cwd=REPO_ROOT,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    return child


@pytest.fixture
def locked_by_another_process(tmp_path):
    """tmp_path/root/tiny_test/baseline/seed0, locked by a child process during the test."""
    run_dir = tmp_path / "root" / "tiny_test" / "baseline" / "seed0"
    child = hold_lock(run_dir)
    yield run_dir, child.pid
    child.kill()
    child.wait()


def test_a_locked_run_directory_names_the_process_that_holds_it(locked_by_another_process):
    """A second lock fails at once with the holder's pid; it is free once the holder is gone."""
    run_dir, pid = locked_by_another_process
    with pytest.raises(runs.RunLocked, match=f"pid {pid}"):
        with runs.lock_run_directory(run_dir):
            pass


def test_the_lock_dies_with_its_process(tmp_path):
    """A holder killed with SIGKILL leaves no stale lock behind."""
    run_dir = tmp_path / "run"
    child = hold_lock(run_dir)
    child.kill()
    child.wait()
    with runs.lock_run_directory(run_dir):
        assert (run_dir / runs.LOCK_FILE).read_text().strip() == str(os.getpid())


def test_train_skips_a_run_another_process_trains(locked_by_another_process, tmp_path, capsys):
    """train.py exits 4 with one line for a locked run and writes nothing into it."""
    import train

    run_dir, pid = locked_by_another_process
    root = tmp_path / "root"
    status = train.main(["--config", str(REPO_ROOT / "configs" / "tiny_test.yaml"), "--arm",
                         "baseline", "--seed", "0", "--set", f"output.root={root}", "--quiet",
                         "--no-report"])
    message = capsys.readouterr().err.strip()
    assert status == 4
    assert message.count("\n") == 0 and f"pid {pid}" in message and "another process" in message
    assert sorted(path.name for path in run_dir.iterdir()) == [runs.LOCK_FILE]


def test_temporaries_of_an_interrupted_writer_are_removed_at_the_next_start(tmp_path):
    """Half-written files (a killed save) disappear when the run is next locked."""
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    leftovers = [run_dir / ".model.a1b2.tmp.keras", run_dir / "checkpoints" / ".latest.x.tmp.keras",
                 run_dir / ".state.json.q9.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    (run_dir / runs.RESULTS_FILE).write_text("{}")
    with runs.lock_run_directory(run_dir):
        assert not any(path.exists() for path in leftovers)
    assert (run_dir / runs.RESULTS_FILE).exists()


def test_atomic_write_syncs_before_it_renames(tmp_path, monkeypatch):
    """The new bytes are fsynced before they replace the old file, and the folder after."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(runs.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(runs.os, "replace",
                        lambda a, b: (events.append("replace"), real_replace(a, b)))
    runs.write_text_atomically(tmp_path / "out.json", "new")
    assert events == ["fsync", "replace", "fsync"]
    assert (tmp_path / "out.json").read_text() == "new"


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    """A write that fails (a full disk, say) leaves the previous file and nothing else."""
    runs.write_text_atomically(tmp_path / "out.json", "old")

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        runs.write_text_atomically(tmp_path / "out.json", "new")
    assert [path.name for path in tmp_path.iterdir()] == ["out.json"]
    assert (tmp_path / "out.json").read_text() == "old"


def test_experiment_file_round_trips_with_its_baseline_rule(tmp_path):
    """experiment.json names the baseline arm: `baseline` if present, else the first arm."""
    runs.write_experiment_file(tmp_path / "a", "a", ["x", "baseline"], [0, 1], "c.yaml")
    runs.write_experiment_file(tmp_path / "b", "b", ["x", "y"], [3], "c.yaml")
    assert runs.read_experiment_file(tmp_path / "a")["baseline"] == "baseline"
    assert runs.read_experiment_file(tmp_path / "b") == {
        "name": "b", "arms": ["x", "y"], "seeds": [3], "baseline": "x", "source": "c.yaml",
        "planned_seeds": [3], "added_after_look": [], "primary": None,
        "primary_changed_after_look": False, "registered_primary": None}
    (tmp_path / "b" / runs.EXPERIMENT_FILE).write_text('{"arms": []}')
    with pytest.raises(ValueError, match="non-empty list of arms"):
        runs.read_experiment_file(tmp_path / "b")


@pytest.mark.slow
def test_two_train_processes_on_one_run_train_it_once(tmp_path):
    """Started together, one process trains the run; the other exits 4 (or, had it come after
    the first had finished, finds the run finished)."""
    command = [sys.executable, "train.py", "--config", str(REPO_ROOT / "configs" / "tiny_test.yaml"),
               "--arm", "baseline", "--seed", "0", "--set", f"output.root={tmp_path}",
               "--set", "training.steps=200", "--quiet", "--no-report"]
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    processes = [subprocess.Popen(command, cwd=REPO_ROOT, env=environment, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(2)]
    outputs = [process.communicate(timeout=300) for process in processes]
    outcomes = sorted(process.returncode for process in processes)
    finished_earlier = sum("(finished earlier)" in out for out, _ in outputs)
    assert outcomes == [0, 4] or (outcomes == [0, 0] and finished_earlier == 1), outputs
    if outcomes == [0, 4]:
        assert any("another process" in err for _, err in outputs)
    assert (tmp_path / "tiny_test" / "baseline" / "seed0" / runs.RESULTS_FILE).exists()


def test_a_folder_that_cannot_be_written_is_named_by_the_target(tmp_path, monkeypatch):
    """A read-only folder refuses the temporary; the error names the file asked for."""
    import errno
    import tempfile

    def read_only(dir, prefix, suffix):
        raise OSError(errno.EROFS, "Read-only file system", os.path.join(dir, f"{prefix}x{suffix}"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OSError) as raised:
        runs.write_text_atomically(tmp_path / "scores.json", "{}")
    assert raised.value.filename == str(tmp_path / "scores.json")
    assert raised.value.strerror == "Read-only file system"


def test_a_damaged_state_file_says_to_delete_the_run_directory(tmp_path):
    from restoration.training.state import restore_state

    (tmp_path / runs.STATE_FILE).write_text("{not json")
    with pytest.raises(runs.RunError, match="not valid JSON .*delete the run directory to start it"):
        restore_state(tmp_path, None, 10)


def test_experiment_file_keeps_the_plan_of_the_first_start_once_a_report_exists(tmp_path):
    """Seeds and a primary endpoint changed before any report update the plan; after a report,
    the added seeds are listed as added after a look and a changed endpoint is flagged."""
    directory = tmp_path / "e"
    primary = {"arms": ["x"], "sets": ["Set5"], "cells": [], "checkpoint": "final", "margin": 0.02,
               "entries": ["Set5"]}
    runs.write_experiment_file(directory, "e", ["baseline", "x"], [0, 1], "c.yaml", primary)
    # Edited before anything was reported: still the plan.
    runs.write_experiment_file(directory, "e", ["baseline", "x"], [0, 1, 2], "c.yaml", primary)
    manifest = runs.read_experiment_file(directory)
    assert manifest["planned_seeds"] == [0, 1, 2] and manifest["added_after_look"] == []
    (directory / runs.REPORT_JSON).write_text("{}")
    runs.write_experiment_file(directory, "e", ["baseline", "x"], [0, 1, 2, 3, 4], "c.yaml", primary)
    manifest = runs.read_experiment_file(directory)
    assert manifest["planned_seeds"] == [0, 1, 2]
    assert manifest["added_after_look"] == [3, 4]
    assert manifest["seeds"] == [0, 1, 2, 3, 4]
    assert not manifest["primary_changed_after_look"]
    changed = dict(primary, margin=0.0)
    runs.write_experiment_file(directory, "e", ["baseline", "x"], [0, 1, 2, 3, 4], "c.yaml", changed)
    manifest = runs.read_experiment_file(directory)
    assert manifest["primary_changed_after_look"]
    assert manifest["registered_primary"] == primary and manifest["primary"] == changed
    # Changing it back does not erase that it was changed once.
    runs.write_experiment_file(directory, "e", ["baseline", "x"], [0, 1, 2, 3, 4], "c.yaml", primary)
    assert runs.read_experiment_file(directory)["primary_changed_after_look"]
    assert runs.read_experiment_file(directory)["added_after_look"] == [3, 4]
