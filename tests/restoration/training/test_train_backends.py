"""The training application on the Keras backend under test (`make test-jax` runs it on JAX)."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import train
from restoration import runs
from restoration.evaluation.predictors import load_keras_model
from restoration.reporting.records import read_results
from tests.helpers import CONFIGS

pytestmark = pytest.mark.backend_agnostic


def tagged_steps(log_dir, tag):
    steps = set()
    for path in log_dir.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            if any(value.tag == tag for value in event.summary.value):
                steps.add(event.step)
    return steps


def test_the_application_runs_on_this_backend(tmp_path):
    """Training, logs, validation, checkpoints, scores and the report, at their steps."""
    status = train.main(["--config", str(CONFIGS / "tiny_test.yaml"), "--seed", "0",
                         "--set", f"output.root={tmp_path}", "--quiet"])
    assert status == 0
    report = json.loads((tmp_path / "tiny_test" / runs.REPORT_JSON).read_text())
    assert report["sets"]["builtin"]["gains"]["dropblock"]["seeds"] == [0]
    run_dir = tmp_path / "tiny_test" / "dropblock" / "seed0"
    logs = run_dir / runs.LOGS
    assert tagged_steps(logs, "train/loss") == {1, 2, 3, 4}
    assert tagged_steps(logs, "validation/psnr") == {2, 4}
    assert tagged_steps(logs, "dropblock/current_rate") == {1, 2, 3, 4}
    assert (run_dir / runs.BEST_CHECKPOINT).is_file()
    records = json.loads((run_dir / runs.STATE_FILE).read_text())["checkpoints"]
    assert [record["step"] for record in records] == [2, 4] and records[-1]["best_step"] in (2, 4)
    results = read_results(run_dir)
    assert results.cost["train_step_seconds"] > 0
    assert np.isfinite(results.test["builtin"]["psnr"])
    # The ramp (2 steps) ended at the target rate, and the saved model records it.
    model = load_keras_model(run_dir / runs.FINAL_MODEL)
    rates = [float(keras.ops.convert_to_numpy(layer.current_rate)) for layer in model.layers
             if layer.name.startswith("regularizer_")]
    assert rates == pytest.approx([0.1])
