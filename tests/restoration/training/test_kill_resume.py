"""A `train.py` process killed with SIGKILL mid-run resumes to the run that was never interrupted."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import yaml

from restoration import runs
from restoration.evaluation.predictors import load_keras_model
from tests.helpers import CONFIGS
from tests.helpers import REPO_ROOT

# Kills and resumes a training process: left out of `make test-fast`.
pytestmark = pytest.mark.slow


def write_config(tmp_path):
    tree = yaml.safe_load((CONFIGS / "tiny_test.yaml").read_text())
    tree["experiment"]["seeds"] = [0]
    # With the EMA of the weights: a resumed run continues the average too.
    tree["training"].update(steps=40, checkpoint_every=5, validate_every=5, log_every=5,
                            ema={"decay": 0.9})
    tree["experiment"]["arms"]["dropblock"]["regularizer"].update(schedule_steps=20, rate=0.2)
    path = tmp_path / "kill.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def command(config, root):
    return [sys.executable, "train.py", "--config", str(config), "--arm", "dropblock", "--seed",
            "0", "--set", f"output.root={root}", "--quiet", "--no-report"]


def checkpoint_steps(run_dir):
    try:
        state = json.loads((run_dir / runs.STATE_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [record["step"] for record in state["checkpoints"]]


def final_weights(run_dir):
    model = load_keras_model(run_dir / runs.FINAL_MODEL)
    return [keras.ops.convert_to_numpy(weight) for weight in model.weights]


def test_sigkill_after_a_checkpoint_resumes_bit_identically(tmp_path):
    """Killed once past step 10 and rerun, the DropBlock run equals a straight run exactly."""
    config = write_config(tmp_path)
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    straight = subprocess.run(command(config, tmp_path / "straight"), cwd=REPO_ROOT,
                              env=environment, capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr[-2000:]

    run_dir = tmp_path / "killed" / "tiny_test" / "dropblock" / "seed0"
    process = subprocess.Popen(command(config, tmp_path / "killed"), cwd=REPO_ROOT,
                               env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while max(checkpoint_steps(run_dir), default=0) < 10 and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint at step 10 in time"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert not (run_dir / runs.RESULTS_FILE).exists(), "the run finished before it was killed"

    resumed = subprocess.run(command(config, tmp_path / "killed"), cwd=REPO_ROOT,
                             env=environment, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming {run_dir} from step " in resumed.stdout

    straight_dir = tmp_path / "straight" / "tiny_test" / "dropblock" / "seed0"
    for reference, weights in zip(final_weights(straight_dir), final_weights(run_dir)):
        np.testing.assert_array_equal(weights, reference)
    scores = [json.loads((folder / runs.RESULTS_FILE).read_text())["test"]["builtin"]["per_image"]
              for folder in (straight_dir, run_dir)]
    assert scores[0] == scores[1]
