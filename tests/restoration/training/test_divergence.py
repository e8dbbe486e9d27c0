"""A diverged run stops with exit 3, saves nothing non-finite, and is listed, not scored."""

import json

import keras
import numpy as np
import pytest
import yaml

import train
from restoration import runs
from tests.helpers import CONFIGS

# Trains until a run diverges: left out of `make test-fast`.
pytestmark = pytest.mark.slow


def diverging_config(tmp_path):
    """tiny_test with a learning rate of 1e3 in the DropBlock arm only."""
    tree = yaml.safe_load((CONFIGS / "tiny_test.yaml").read_text())
    tree["experiment"]["seeds"] = [0]
    tree["experiment"]["arms"]["dropblock"]["training"] = {"optimizer": {"learning_rate": 1000.0}}
    tree["training"].update(steps=12, checkpoint_every=1, validate_every=1)
    path = tmp_path / "diverge.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_divergence_stops_the_run_with_status_3_and_one_line(tmp_path, capsys):
    """The diverged arm stops, names step, run and what to try; the other arm still trains."""
    config = diverging_config(tmp_path)
    status = train.main(["--config", str(config), "--set", f"output.root={tmp_path}", "--quiet"])
    captured = capsys.readouterr()
    assert status == 3
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    run_dir = tmp_path / "tiny_test" / "dropblock" / "seed0"
    assert len(errors) == 1 and str(run_dir) in errors[0]
    assert "not finite at step" in errors[0] and "learning_rate than 1000" in errors[0]
    assert "Traceback" not in captured.err

    record = json.loads((run_dir / runs.DIVERGED_FILE).read_text())
    assert record["step"] >= 1 and record["what"]
    assert not (run_dir / runs.RESULTS_FILE).exists()
    for name in (runs.LATEST_CHECKPOINT, runs.BEST_CHECKPOINT, runs.FINAL_MODEL):
        if (run_dir / name).exists():
            model = keras.saving.load_model(run_dir / name, compile=False)
            assert all(np.all(np.isfinite(keras.ops.convert_to_numpy(w))) for w in model.weights)
    assert not (run_dir / runs.FINAL_MODEL).exists()
    assert (tmp_path / "tiny_test" / "baseline" / "seed0" / runs.RESULTS_FILE).exists()

    report = json.loads((tmp_path / "tiny_test" / runs.REPORT_JSON).read_text())
    assert [(run["arm"], run["seed"]) for run in report["diverged_runs"]] == [("dropblock", 0)]
    assert report["missing_runs"] == []
    assert report["sets"]["builtin"]["arms"]["dropblock"]["seeds"] == 0
    assert "Diverged runs (not scored)" in (tmp_path / "tiny_test" / runs.REPORT_MARKDOWN).read_text()


def test_a_diverged_run_is_not_retrained_by_a_rerun(tmp_path, capsys):
    """Running the command again reports the divergence instead of training it again."""
    config = diverging_config(tmp_path)
    arguments = ["--config", str(config), "--set", f"output.root={tmp_path}", "--quiet",
                 "--arm", "dropblock", "--no-report"]
    assert train.main(arguments) == 3
    run_dir = tmp_path / "tiny_test" / "dropblock" / "seed0"
    before = sorted(path.name for path in (run_dir / runs.LOGS).iterdir())
    capsys.readouterr()
    assert train.main(arguments) == 3
    assert "diverged" in capsys.readouterr().err
    assert sorted(path.name for path in (run_dir / runs.LOGS).iterdir()) == before
