"""export.py: SavedModel, ONNX and LiteRT files, each run by its own runtime against the .keras model."""

import sys

import numpy as np
import pytest

import export
import sr_models
from restoration.config import load_config
from restoration.evaluation import exporting
from restoration.evaluation.predictors import Task
from restoration.training import build
from tests.helpers import CONFIGS

pytestmark = pytest.mark.slow  # Each format converts a graph: seconds apiece.


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory of the tiny experiment's DropBlock arm, with its model file."""
    directory = tmp_path_factory.mktemp("run")
    config = load_config(CONFIGS / "tiny_test.yaml").arm("dropblock", 0)
    config.save_resolved(directory)
    build.build_model(config).save(directory / "model.keras")
    return directory


def test_every_format_reproduces_the_model_with_dynamic_sizes_and_no_regularizer(run_dir, capsys):
    """Each export equals the model at inference (DropBlock gone) on the check image and on
    another size; the printed line gives each difference."""
    assert export.main([str(run_dir)]) == 0
    out = capsys.readouterr().out
    folder = run_dir / "export"
    assert sorted(path.name for path in folder.iterdir()) == ["model.onnx", "model.tflite", "saved_model"]
    for kind in exporting.FORMATS:
        assert f"  {kind}: {folder}" in out
    from restoration.evaluation.predictors import load_keras_model

    model = load_keras_model(run_dir / "model.keras")
    image = np.random.default_rng(0).uniform(size=(1, 23, 34, 3)).astype(np.float32)
    expected = np.asarray(model(image, training=False))
    assert expected.shape == (1, 46, 68, 3)
    for kind, name in (("savedmodel", "saved_model"), ("onnx", "model.onnx"), ("litert", "model.tflite")):
        np.testing.assert_allclose(exporting.run_export(folder / name, kind, [image]), expected, atol=1e-4)
    assert export.main([str(run_dir), "--format", "onnx"]) == 2
    assert "existing export" in capsys.readouterr().err


def test_a_noise_level_network_exports_with_both_inputs(tmp_path):
    model = sr_models.build_ffdnet(depth=3, filters=8, channels=1, seed=0)
    task = Task("denoise", None, 25.0, 1)
    results = exporting.export_model(model, task, tmp_path, ["savedmodel", "litert"], log=lambda line: None)
    assert all(difference <= exporting.TOLERANCE for _, difference in results.values())
    # ONNX loses the crop of odd sizes for this network: refused, naming the layers.
    with pytest.raises(ValueError, match=r"as onnx: a 61x61 input gives a 60x60 output .*pad_to_even, crop"):
        exporting.export_model(model, task, tmp_path / "onnx", ["onnx"], log=lambda line: None)
    assert not (tmp_path / "onnx" / "model.onnx").exists()


def test_a_wrong_layout_would_be_caught(run_dir, tmp_path, monkeypatch):
    """The check compares real outputs: an export whose channels come out reversed fails it."""
    from restoration.evaluation.predictors import load_keras_model

    real = exporting.run_export
    monkeypatch.setattr(exporting, "run_export",
                        lambda path, kind, arguments: real(path, kind, arguments)[..., ::-1])
    model = load_keras_model(run_dir / "model.keras")
    with pytest.raises(ValueError, match="expected the litert export to reproduce the model within 0.0001"):
        exporting.export_model(model, Task("sr", 2, None, 3), tmp_path, ["litert"], log=lambda line: None)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind, module", [("litert", "ai_edge_litert"), ("onnx", "onnxruntime")])
def test_a_format_whose_package_is_missing_is_refused_before_any_file(run_dir, tmp_path, monkeypatch,
                                                                       kind, module):
    """A missing runtime is one line naming the package and how to install it; nothing is written."""
    from restoration.evaluation.predictors import load_keras_model

    monkeypatch.setitem(sys.modules, module, None)  # `import` of it now raises ImportError
    model = load_keras_model(run_dir / "model.keras")
    with pytest.raises(ValueError, match=f"The {kind} format needs the {module} package: `make export`"):
        exporting.export_model(model, Task("sr", 2, None, 3), tmp_path, ["savedmodel", kind],
                               log=lambda line: None)
    assert list(tmp_path.iterdir()) == []
