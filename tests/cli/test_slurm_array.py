"""`scripts/slurm_array.sh`: a bad array index or a failed run listing ends in one line on stderr.

Most cases run the script with a stand-in interpreter that lists ten runs and echoes the training
command, so nothing is trained; the listing failures use the real `train.py --list-runs`, which only
loads the config (well under a second).
"""

import os
import subprocess
import sys

import pytest

from tests.helpers import CONFIGS
from tests.helpers import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "slurm_array.sh"
TINY = str(CONFIGS / "tiny_test.yaml")
STAND_IN = """#!/bin/bash
# Lists ten runs for --list-runs (none when NO_RUNS is set), else echoes the training command.
if [[ " $* " == *" --list-runs "* ]]; then
  [[ -n ${NO_RUNS:-} ]] || for i in 0 1 2 3 4 5 6 7 8 9; do echo "--arm arm$i --seed $i"; done
  exit 0
fi
echo "trains: $*"
"""


@pytest.fixture
def stand_in(tmp_path):
    """Path of an executable stand-in for the Python interpreter."""
    path = tmp_path / "python"
    path.write_text(STAND_IN)
    path.chmod(0o755)
    return str(path)


def _run(task_id, python, *arguments, config=TINY, **variables):
    """Runs the script as array task `task_id` (unset when None); returns the completed process."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("SLURM_")}
    environment.update(SLURM_SUBMIT_DIR=str(REPO_ROOT), CONFIG=config, PYTHON=python,
                       TF_CPP_MIN_LOG_LEVEL="2", **variables)
    if task_id is not None:
        environment["SLURM_ARRAY_TASK_ID"] = task_id
    return subprocess.run(["bash", str(SCRIPT), *arguments], env=environment,
                          capture_output=True, text=True, timeout=120)


def test_index_with_leading_zeros_is_decimal(stand_in):
    """`08` is run 8 (bash alone would read it as a bad octal number); the arguments follow."""
    result = _run("08", stand_in, "--set", "output.root=/shared/runs")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"trains: train.py --config {TINY} --arm arm8 --seed 8 --no-report "
                             "--quiet --set output.root=/shared/runs\n")
    assert result.stderr == ""


@pytest.mark.parametrize("task_id", ["abc", "-1", "1.5", " 3", "0x1", "3abc"])
def test_index_that_is_not_a_decimal_integer_is_one_line_and_exit_status_2(stand_in, task_id):
    """No bash "unbound variable" or arithmetic error: one line saying what is expected."""
    result = _run(task_id, stand_in)
    assert result.returncode == 2
    assert result.stderr == (f"error: SLURM_ARRAY_TASK_ID={task_id}: "
                             "expected a non-negative integer\n")
    assert result.stdout == ""


@pytest.mark.parametrize("task_id", ["10", "010", "99999999999999999999999"])
def test_index_past_the_last_run_names_the_range(stand_in, task_id):
    """An index past the list (however long its digits) is refused with the valid indices."""
    result = _run(task_id, stand_in)
    assert result.returncode == 2
    assert result.stderr == (f"error: SLURM_ARRAY_TASK_ID={task_id}, but {TINY} has 10 runs "
                             "(indices 0-9)\n")


def test_empty_listing_and_unset_variables_are_one_line_each(stand_in):
    """A config listing no runs, and an unset index or CONFIG, are refused with exit status 2."""
    result = _run("0", stand_in, NO_RUNS="1")
    assert (result.returncode, result.stderr) == (2, f"error: SLURM_ARRAY_TASK_ID=0, but {TINY} "
                                                     "lists no runs\n")
    result = _run(None, stand_in)
    assert result.returncode == 2 and result.stderr.startswith("error: SLURM_ARRAY_TASK_ID is not")
    assert result.stderr.count("\n") == 1
    result = _run("0", stand_in, config="")
    assert (result.returncode, result.stderr.count("\n")) == (2, 1)
    assert result.stderr.startswith("error: CONFIG is not set")


@pytest.mark.parametrize("config, arguments, says", [
    ("configs/no_such_file.yaml", (), "expected an existing YAML file"),
    (TINY, ("--set", "no_such_key=1"), "received unknown key 'no_such_key'"),
])
def test_failed_listing_exits_with_its_status_after_its_own_message_only(config, arguments, says):
    """train.py's config error (exit status 2) is the only line: no "has 0 runs" after it."""
    result = _run("0", sys.executable, *arguments, config=config)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and says in result.stderr
    assert result.stderr.count("\n") == 1 and "runs" not in result.stderr
    assert result.stdout == ""
