"""Training spread over devices and processes matches one device; job arrays train the right run."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import report
import train
from benchmarks.distribution_speed import TWO_TF_CPUS as TWO_LOGICAL_CPUS
from benchmarks.distribution_speed import free_port
from restoration import runs
from restoration.evaluation.predictors import load_keras_model
from tests.helpers import CONFIGS
from tests.helpers import REPO_ROOT

# Trains in several devices and processes: left out of `make test-fast`.
pytestmark = pytest.mark.slow

TINY = str(CONFIGS / "tiny_test.yaml")
# Six steps of the tiny config's DropBlock arm (its masks must match one device's too); the
# validation and test images go through as well.
RUN = ["--config", TINY, "--arm", "dropblock", "--seed", "0", "--quiet", "--no-report",
       "--set", "training.steps=6", "--set", "data.batch_size=4"]
# How the published GPU recipes compile their step (configs/edsr_baseline_x2_div2k.yaml and
# configs/zoo/*.yaml set 100 and true): several steps per execution (2 splits the 6 steps into
# whole executions) and XLA, against the tiny config's 1 and "auto" (off on TensorFlow).
RECIPE = ["--set", "training.steps_per_execution=2", "--set", "training.jit_compile=true"]
SETTINGS = {"tiny": [], "recipe": RECIPE}
# TensorFlow splits the one CPU into two logical devices before it starts (the benchmark's prelude);
# that loads TensorFlow before train.main could turn oneDNN's rewrites off for `mirrored`, so the
# prelude does it first, as train.main does.
TWO_TF_CPUS = ("import os, train; os.environ.setdefault(*train.MIRRORED_ONEDNN); "
               + TWO_LOGICAL_CPUS + "; ")
JAX = {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}


def train_in_subprocess(root, extra, environment=None, prelude="", wait=True, run=RUN):
    code = prelude + "import sys, train; sys.exit(train.main(sys.argv[1:]))"
    command = [sys.executable, "-c", code, *run, "--set", f"output.root={root}", *extra]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(environment or {})}
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    if not wait:
        return process
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output[-3000:]
    return output


def run_dir(root):
    return root / "tiny_test" / "dropblock" / "seed0"


def final_weights(root):
    return load_keras_model(run_dir(root) / runs.FINAL_MODEL).get_weights()


def assert_same_training(root, reference):
    """Same final weights and test PSNR as the one-device run, up to float summation order."""
    for weight, expected in zip(final_weights(root), final_weights(reference), strict=True):
        np.testing.assert_allclose(weight, expected, atol=2e-4, rtol=1e-3)
    scores = [json.loads((run_dir(folder) / runs.RESULTS_FILE).read_text())["test"]["builtin"]["psnr"]
              for folder in (root, reference)]
    assert scores[0] == pytest.approx(scores[1], abs=0.02)


@pytest.fixture(scope="module", params=list(SETTINGS))
def one_device(request, tmp_path_factory):
    """The one-device run and the settings it trained with: the tiny config's, then the recipes'."""
    root = tmp_path_factory.mktemp(f"one_device_{request.param}")
    train_in_subprocess(root, SETTINGS[request.param])
    return root, SETTINGS[request.param]


@pytest.fixture(scope="module")
def one_jax_device(tmp_path_factory):
    """One JAX device with the recipes' settings (XLA is JAX's "auto" too)."""
    root = tmp_path_factory.mktemp("one_jax_device")
    train_in_subprocess(root, RECIPE, JAX)
    return root


def test_mirrored_over_two_cpu_devices_trains_as_one_device(tmp_path, one_device):
    """tf.distribute.MirroredStrategy over 2 logical CPUs: the global batch of 4 split in 2 x 2,
    with the tiny config's step (Keras' own) and with the recipes' (2 steps per execution, each
    replica's forward and backward pass compiled by XLA: restoration.training.distribution)."""
    reference, settings = one_device
    output = train_in_subprocess(tmp_path, ["--set", "training.distribution=mirrored", *settings],
                                 prelude=TWO_TF_CPUS)
    assert "builtin: PSNR" in output
    assert_same_training(tmp_path, reference)


def test_mirrored_trains_arms_of_other_shapes_one_after_the_other(tmp_path):
    """train.py trains every arm in one process: after a narrower model (4 filters), the next arm's
    trains too (each run once made its own MirroredStrategy, whose collectives reused the first
    one's keys and the shapes they had reduced)."""
    config = tmp_path / "narrow_baseline.yaml"
    text = (CONFIGS / "tiny_test.yaml").read_text()
    config.write_text(text.replace("    baseline: {}\n", "    baseline: {model: {filters: 4}}\n"))
    run = ["--config", str(config), "--seed", "0", "--quiet", "--no-report",
           "--set", "training.steps=2", "--set", "data.batch_size=4",
           "--set", "training.validate_every=0", "--set", "training.checkpoint_every=0"]
    train_in_subprocess(tmp_path, ["--set", "training.distribution=mirrored"], prelude=TWO_TF_CPUS,
                        run=run)
    finished = sorted(path.parent.parent.name for path in tmp_path.rglob(runs.RESULTS_FILE))
    assert finished == ["baseline", "dropblock"]


def test_data_parallel_over_two_jax_devices_trains_as_one_device(tmp_path, one_jax_device):
    """keras.distribution.DataParallel over 2 host devices of one process, with the recipes'
    settings (2 steps per execution, XLA)."""
    environment = {**JAX, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    train_in_subprocess(tmp_path, ["--set", "training.distribution=data_parallel", *RECIPE],
                        environment)
    assert_same_training(tmp_path, one_jax_device)


def test_two_jax_processes_train_as_one_and_only_process_zero_writes(tmp_path, one_jax_device):
    """Two processes on 127.0.0.1 (Gloo CPU collectives), with the recipes' settings, end with the
    one-process weights; the second, pointed at its own output root, writes nothing there."""
    address = f"127.0.0.1:{free_port()}"
    processes = []
    for index in range(2):
        environment = {**JAX, "KERAS_DISTRIBUTION_JOB_ADDRESSES": address,
                       "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
                       "KERAS_DISTRIBUTION_PROCESS_ID": str(index)}
        processes.append(train_in_subprocess(tmp_path / f"process{index}",
                                             ["--set", "training.distribution=data_parallel",
                                              *RECIPE],
                                             environment, wait=False))
    for process in processes:
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, output[-3000:]
    assert_same_training(tmp_path / "process0", one_jax_device)
    second = tmp_path / "process1"
    assert not second.exists() or not [path for path in second.rglob("*") if path.is_file()]


def test_a_mode_of_the_other_backend_is_refused_before_training(tmp_path, capsys):
    """data_parallel needs JAX: on TensorFlow the command names the key and exits 2."""
    assert keras.backend.backend() == "tensorflow"
    status = train.main([*RUN, "--set", f"output.root={tmp_path}",
                         "--set", "training.distribution=data_parallel"])
    assert status == 2
    error = capsys.readouterr().err
    assert "training.distribution: expected one of 'none', 'mirrored' on the tensorflow backend, " \
           "received 'data_parallel', which runs on jax (use KERAS_BACKEND=jax)" in error
    assert not any(tmp_path.iterdir())


def test_list_runs_prints_one_line_per_arm_and_seed(capsys):
    """The lines are train.py options, in the experiment's order."""
    assert train.main(["--config", TINY, "--list-runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["--arm baseline --seed 0", "--arm baseline --seed 1",
                     "--arm dropblock --seed 0", "--arm dropblock --seed 1"]


def test_slurm_array_script_trains_the_run_of_its_index(tmp_path, capsys):
    """SLURM_ARRAY_TASK_ID=2 is the third listed run (dropblock, seed 0), and only it is trained;
    `make report` then reports it; an index past the end is refused."""
    script = REPO_ROOT / "scripts" / "slurm_array.sh"
    environment = {**os.environ, "SLURM_ARRAY_TASK_ID": "2", "SLURM_SUBMIT_DIR": str(REPO_ROOT),
                   "CONFIG": TINY, "PYTHON": sys.executable, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(["bash", str(script), "--set", f"output.root={tmp_path}"],
                            env=environment, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    finished = sorted(path.parent.relative_to(tmp_path / "tiny_test").as_posix()
                      for path in tmp_path.rglob(runs.RESULTS_FILE))
    assert finished == ["dropblock/seed0"]
    # The report of a partly finished grid reports what has finished and counts the rest.
    assert report.main([str(tmp_path / "tiny_test"), "--no-tensorboard"]) == 0
    assert "3 run(s) missing" in capsys.readouterr().out
    environment["SLURM_ARRAY_TASK_ID"] = "4"
    result = subprocess.run(["bash", str(script), "--set", f"output.root={tmp_path}"],
                            env=environment, capture_output=True, text=True, timeout=900)
    assert result.returncode == 2 and "has 4 runs" in result.stderr
