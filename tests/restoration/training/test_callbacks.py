"""The best checkpoint: held in memory at an improvement, written with the next checkpoint."""

import zipfile

import numpy as np

from restoration.config import load_config
from restoration.evaluation.predictors import load_keras_model
from restoration.training import build
from restoration.training.callbacks import BestWeights
from tests.helpers import CONFIGS


def test_held_weights_are_written_later_as_weights_alone(tmp_path):
    config = load_config(CONFIGS / "tiny_test.yaml", check_data=False).arm("dropblock", 0)
    model = build.compile_model(build.build_model(config), config)
    model.optimizer.build(model.trainable_variables)
    best = BestWeights(tmp_path)
    best.write(model)
    assert not best.path.exists(), "nothing held, nothing written"
    held = [weight.copy() for weight in model.get_weights()]
    best.hold(model)
    model.set_weights([weight + 1.0 for weight in held])  # training moves on
    best.write(model)
    written = load_keras_model(best.path).get_weights()
    assert len(written) == len(held)
    for saved, expected in zip(written, held, strict=True):
        np.testing.assert_array_equal(saved, expected)
    with zipfile.ZipFile(best.path) as archive:
        assert b"optimizer" not in archive.read("model.weights.h5")
    # Written once: a second write without a new improvement leaves the file alone.
    stamp = best.path.stat().st_mtime_ns
    best.write(model)
    assert best.path.stat().st_mtime_ns == stamp
