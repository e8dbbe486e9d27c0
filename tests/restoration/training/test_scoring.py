"""score_test_sets: which weights are scored, and that the same weights are not scored twice."""

import pytest

from restoration import runs
from restoration.config import load_config
from restoration.training import run
from tests.helpers import CONFIGS


@pytest.fixture
def scored(monkeypatch, tmp_path):
    """A run directory with a best checkpoint, and a record of every set of weights scored."""
    (tmp_path / runs.BEST_CHECKPOINT).parent.mkdir()
    (tmp_path / runs.BEST_CHECKPOINT).write_bytes(b"")
    calls = []

    def score(model, config):
        calls.append(model)
        return {"Set5": {"psnr": 30.0 + len(calls)}}, 2.0, 4

    monkeypatch.setattr(run, "_score_weights", score)
    monkeypatch.setattr(run, "load_keras_model", lambda path: f"loaded {path.name}")
    return tmp_path, calls


def test_a_checkpoint_chosen_before_the_end_is_scored_besides_the_final_weights(scored):
    run_dir, calls = scored
    config = load_config(CONFIGS / "tiny_test.yaml").arm("baseline", 0)
    checkpoint, test, final, seconds = run.score_test_sets("final model", config, run_dir,
                                                           config.training.steps - 10)
    assert calls == ["final model", "loaded best.keras"]
    assert (checkpoint, test["Set5"]["psnr"], final["Set5"]["psnr"], seconds) == ("best", 32.0, 31.0, 0.5)


def test_a_checkpoint_chosen_at_the_last_step_is_the_final_weights_scored_once(scored):
    run_dir, calls = scored
    config = load_config(CONFIGS / "tiny_test.yaml").arm("baseline", 0)
    checkpoint, test, final, seconds = run.score_test_sets("final model", config, run_dir,
                                                           config.training.steps)
    assert calls == ["final model"]
    assert (checkpoint, test, seconds) == ("best", final, 0.5)
