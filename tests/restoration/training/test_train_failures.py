"""Expected failures during training: one line naming the path, a non-zero exit, a resumable run."""

import errno

import keras
import numpy as np
import pytest
import yaml

import train
from restoration import runs
from restoration.evaluation.predictors import load_keras_model
from restoration.training import callbacks
from tests.helpers import CONFIGS
from tests.helpers import write_image

# Trains runs that fail on the way: left out of `make test-fast`.
pytestmark = pytest.mark.slow


def tiny_config(tmp_path, **training):
    tree = yaml.safe_load((CONFIGS / "tiny_test.yaml").read_text())
    tree["experiment"]["seeds"] = [0]
    tree["training"].update(steps=6, checkpoint_every=2, **training)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def run_train(config, root, capsys, arm="dropblock"):
    status = train.main(["--config", str(config), "--set", f"output.root={root}", "--quiet",
                         "--arm", arm, "--no-report"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err.strip()


def weights(run_dir):
    model = load_keras_model(run_dir / runs.FINAL_MODEL)
    return [keras.ops.convert_to_numpy(weight) for weight in model.weights]


@pytest.fixture
def straight_run(tmp_path, capsys, op_determinism):
    """The DropBlock arm trained without interruption, for comparison."""
    config = tiny_config(tmp_path)
    status, _, _ = run_train(config, tmp_path / "straight", capsys)
    assert status == 0
    return config, tmp_path / "straight" / "tiny_test" / "dropblock" / "seed0"


def assert_same_run(run_dir, reference):
    for resumed, straight in zip(weights(run_dir), weights(reference)):
        np.testing.assert_array_equal(resumed, straight)


def test_full_disk_names_the_file_and_the_run_resumes(straight_run, tmp_path, capsys, monkeypatch):
    """ENOSPC while saving a checkpoint: exit 1, one line with the file, no temporary left."""
    config, reference = straight_run
    real = runs._replace_durably
    calls = {"checkpoints": 0}

    def full_disk_on_second_checkpoint(temporary, path):
        if path.name == "latest.keras":
            calls["checkpoints"] += 1
            if calls["checkpoints"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(temporary, path)

    monkeypatch.setattr(runs, "_replace_durably", full_disk_on_second_checkpoint)
    status, _, message = run_train(config, tmp_path / "full", capsys)
    run_dir = tmp_path / "full" / "tiny_test" / "dropblock" / "seed0"
    assert status == 1
    assert message == f"error: {run_dir / runs.LATEST_CHECKPOINT}: No space left on device"
    assert not [path for path in run_dir.rglob("*.tmp*")]
    monkeypatch.setattr(runs, "_replace_durably", real)
    status, out, _ = run_train(config, tmp_path / "full", capsys)
    assert status == 0 and "resuming" in out
    assert_same_run(run_dir, reference)


def test_unreadable_checkpoint_falls_back_to_the_previous_one(straight_run, tmp_path, capsys,
                                                              monkeypatch):
    """A damaged latest.keras is reported, previous.keras resumes the run to the same result."""
    config, reference = straight_run
    original = callbacks.Checkpointer.save

    def stop_after_second_save(self, step):
        original(self, step)
        if step == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.Checkpointer, "save", stop_after_second_save)
    status, _, message = run_train(config, tmp_path / "damaged", capsys)
    assert status == 130 and message.startswith("interrupted: run the same command again")
    monkeypatch.setattr(callbacks.Checkpointer, "save", original)
    run_dir = tmp_path / "damaged" / "tiny_test" / "dropblock" / "seed0"
    latest = run_dir / runs.LATEST_CHECKPOINT
    latest.write_bytes(latest.read_bytes()[:1000])
    status, out, _ = run_train(config, tmp_path / "damaged", capsys)
    assert status == 0
    assert f"warning: {latest} is unreadable" in out
    assert f"resuming {run_dir} from step 2 (previous.keras)" in out
    assert_same_run(run_dir, reference)


def test_bad_training_image_is_named(tmp_path, capsys):
    """An image whose header reads but whose pixels do not stops the run naming the file."""
    folder = tmp_path / "images"
    for index in range(2):
        write_image(folder / f"image{index}.png", np.full((40, 40, 3), 90 + index, np.uint8))
    broken = folder / "image1.png"
    broken.write_bytes(broken.read_bytes()[:60])
    tree = yaml.safe_load(tiny_config(tmp_path).read_text())
    tree["data"]["train"] = {"source": "folder", "path": str(folder)}
    config = tmp_path / "folder.yaml"
    config.write_text(yaml.safe_dump(tree))
    status, _, message = run_train(config, tmp_path / "runs", capsys, arm="baseline")
    assert status == 1
    assert message.count("\n") == 0 and "image1.png" in message and "Traceback" not in message


def test_unusable_output_folder_is_named(tmp_path, capsys):
    """An output root that is a file, not a folder, is one line naming it."""
    (tmp_path / "runs").write_text("not a folder")
    status, _, message = run_train(tiny_config(tmp_path), tmp_path / "runs", capsys)
    assert status == 1
    assert message.count("\n") == 0 and str(tmp_path / "runs") in message
