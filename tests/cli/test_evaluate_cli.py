"""Tests for the evaluation command line: run directories, .keras files and baselines."""

import csv
import json
import shutil

import numpy as np
import pytest

import evaluate
from data.imagesets import load_set
from restoration.config import load_config
from restoration.evaluation import sources
from restoration.evaluation.predictors import load_keras_model
from restoration.evaluation.protocol import bicubic_predictor
from restoration.evaluation.protocol import evaluate_denoise
from restoration.evaluation.protocol import evaluate_sr
from restoration.evaluation.protocol import identity_predictor
from tests.helpers import REPO_ROOT
from tests.helpers import write_image

PUBLISHED_SET5_BICUBIC_X2 = 33.66


def synthetic_image(height, width, channels, seed):
    """Smooth gradients and waves plus mild noise, so bicubic and models score sensibly."""
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float64)
    noise = np.random.default_rng(seed).normal(0, 8, (height, width, channels))
    phases = np.arange(channels) + seed
    waves = 60 * np.sin(rows[..., None] / 3.0 + phases) * np.cos(columns[..., None] / 5.0)
    ramp = 100 + 2 * rows[..., None] + columns[..., None]
    return np.clip(np.round(ramp + waves + noise), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """A data root with a 5-image `Set5` (one of them gray) and a 12-image gray `Set12`."""
    root = tmp_path_factory.mktemp("data")
    shapes = {"Set5": [(24, 30, 3), (20, 26, 3), (22, 22, 1), (18, 24, 3), (26, 20, 3)],
              "Set12": [(24, 24, 1), (20, 28, 1)] * 6}
    for set_name, set_shapes in shapes.items():
        (root / set_name).mkdir()
        for index, shape in enumerate(set_shapes):
            write_image(root / set_name / f"image{index}.png", synthetic_image(*shape, index))
    return root


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A 1-block, 8-filter EDSR x2 saved as a .keras file."""
    from sr_models import build_edsr

    path = tmp_path_factory.mktemp("model") / "edsr_x2.keras"
    build_edsr(scale=2, num_blocks=1, filters=8, seed=0).save(path)
    return path


@pytest.fixture
def run_dir(tmp_path, model_file, data_root):
    """A run directory as train.py writes it, whose config names Set5 and the data root."""
    overrides = ["data.test_sets=[Set5]", f"data.root={data_root}"]
    experiment = load_config(REPO_ROOT / "configs" / "tiny_test.yaml", overrides)
    directory = tmp_path / "run"
    experiment.arm("baseline", 0).save_resolved(directory)
    shutil.copy(model_file, directory / "model.keras")
    return directory


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_run_directory_scores_its_configured_sets(run_dir, tmp_path):
    """A run directory takes sets and data root from config.yaml; JSON holds every field."""
    output = tmp_path / "scores.json"
    assert evaluate.main([str(run_dir), "--output", str(output)]) == 0
    scores = json.loads(output.read_text())
    assert list(scores) == ["Set5"]
    entry = scores["Set5"]
    assert entry["images"] == len(entry["per_image"]) == 5
    assert [image["name"] for image in entry["per_image"]] == [f"image{index}" for index in range(5)]
    assert entry["psnr"] == pytest.approx(np.mean([image["psnr"] for image in entry["per_image"]]))
    assert 0 < entry["ssim"] <= 1
    assert entry["conventions"]["border"] == 2 and entry["conventions"]["y_channel"]
    assert entry["task"] == {"type": "sr", "scale": 2, "sigma": None, "channels": 3}
    assert entry["model_file"] == str(run_dir / "model.keras")


def test_run_directory_writes_per_image_csv(run_dir):
    """Per-image rows go to <run_dir>/evaluation/<Set>.csv and agree with the JSON."""
    results = sources.evaluate_paths([run_dir])
    rows = read_csv(run_dir / "evaluation" / "Set5.csv")
    per_image = results[str(run_dir)]["Set5"]["per_image"]
    assert len(rows) == len(per_image) == 5
    assert list(rows[0]) == ["name", "psnr", "ssim"]
    for row, image in zip(rows, per_image, strict=True):
        assert row["name"] == image["name"]
        assert float(row["psnr"]) == pytest.approx(image["psnr"], abs=1e-6)
        assert float(row["ssim"]) == pytest.approx(image["ssim"], abs=1e-6)
    assert not list((run_dir / "evaluation").glob(".*")), "no temporary file is left behind"


def test_model_scores_equal_a_direct_evaluate_sr_call(run_dir, data_root):
    """The loaded model's predict_fn scores as an eager call of the same model does."""
    results = sources.evaluate_paths([run_dir], ssim=False)
    model = load_keras_model(run_dir / "model.keras")
    direct = evaluate_sr(
        lambda batch: model(batch, training=False).numpy(),
        load_set("Set5", data_root),
        2,
        compute_ssim=False,
        input_channels=3,
    )
    # Float differences between graph and eager runs can flip a rounded pixel at most.
    assert results[str(run_dir)]["Set5"]["psnr"] == pytest.approx(direct.psnr, abs=1e-3)


def test_best_checkpoint_is_preferred_and_checkpoint_flag_overrides(run_dir):
    """best.keras is scored when present; --checkpoint final picks model.keras."""
    (run_dir / "checkpoints").mkdir()
    shutil.copy(run_dir / "model.keras", run_dir / "checkpoints" / "best.keras")
    chosen = sources.evaluate_paths([run_dir], ssim=False)[str(run_dir)]["Set5"]
    assert chosen["model_file"] == str(run_dir / "checkpoints" / "best.keras")
    final = sources.evaluate_paths([run_dir], ssim=False, checkpoint="final")
    assert final[str(run_dir)]["Set5"]["model_file"] == str(run_dir / "model.keras")


@pytest.mark.parametrize(
    "arguments, set_name",
    [
        (["--model", "bicubic", "--scale", "2"], "Set5"),
        (["--model", "noisy", "--sigma", "25"], "Set12"),
    ],
)
def test_baselines_equal_direct_evaluation(arguments, set_name, data_root, tmp_path):
    """The bicubic and noisy baselines give exactly what evaluate_sr / evaluate_denoise give."""
    output = tmp_path / "baseline.json"
    command = arguments + [
        "--sets",
        set_name,
        "--data-root",
        str(data_root),
        "--output",
        str(output),
    ]
    assert evaluate.main(command) == 0
    scores = json.loads(output.read_text())[set_name]
    images = load_set(set_name, data_root)
    if set_name == "Set5":
        direct = evaluate_sr(bicubic_predictor(2), images, 2)
    else:
        direct = evaluate_denoise(identity_predictor(), images, 25)
    assert scores["psnr"] == pytest.approx(direct.psnr, abs=1e-9)
    assert scores["ssim"] == pytest.approx(direct.ssim, abs=1e-9)
    assert scores["per_image"] == [dict(entry) for entry in direct.per_image]


def test_two_models_are_keyed_by_path(run_dir, model_file, data_root, tmp_path):
    """With several sources, JSON and CSV folders are keyed by each path as given."""
    output, csv_root = tmp_path / "both.json", tmp_path / "csv"
    command = [str(run_dir), str(model_file), "--scale", "2", "--sets", "Set5", "--no-ssim"]
    command += [
        "--data-root",
        str(data_root),
        "--output",
        str(output),
        "--per-image-csv",
        str(csv_root),
    ]
    assert evaluate.main(command) == 0
    scores = json.loads(output.read_text())
    assert set(scores) == {str(run_dir), str(model_file)}
    assert all(
        list(entry) == ["Set5"] and entry["Set5"]["ssim"] is None for entry in scores.values()
    )
    csv_files = sorted(csv_root.glob("*/Set5.csv"))
    assert len(csv_files) == 2
    assert all(len(read_csv(path)) == 5 for path in csv_files)
    assert not (run_dir / "evaluation").exists(), "--per-image-csv replaces the default folder"


def test_tile_option_reaches_tiled_prediction(model_file, data_root):
    """Tiles with enough overlap reproduce whole images; tiles without overlap do not."""

    def score(**tiling):
        results = sources.evaluate_paths(
            [model_file], ["Set5"], data_root, scale=2, ssim=False, **tiling
        )
        return results[str(model_file)]["Set5"]["psnr"]

    whole = score()
    assert score(tile=5, overlap=8) == pytest.approx(whole, abs=1e-3)
    assert abs(score(tile=5, overlap=0) - whole) > 1e-3


def test_bare_model_without_scale_is_a_clear_error(model_file, data_root, capsys):
    """A .keras file without --scale or --sigma exits with status 2 naming what is missing."""
    command = [str(model_file), "--sets", "Set5", "--data-root", str(data_root)]
    assert evaluate.main(command) == 2
    error = capsys.readouterr().err
    assert "--scale" in error and "--sigma" in error and str(model_file) in error
    assert "Traceback" not in error


def test_scale_disagreeing_with_run_config_is_an_error(run_dir, capsys):
    """--scale 4 on a x2 run directory names config.yaml instead of scoring nonsense."""
    assert evaluate.main([str(run_dir), "--scale", "4"]) == 2
    error = capsys.readouterr().err
    assert "config.yaml" in error and "scale=4" in error


def test_missing_set_exits_with_status_2_naming_the_path(data_root, capsys):
    """A missing test set prints the searched folder and the download command, no traceback."""
    command = [
        "--model",
        "bicubic",
        "--scale",
        "2",
        "--sets",
        "Set14",
        "--data-root",
        str(data_root),
    ]
    assert evaluate.main(command) == 2
    error = capsys.readouterr().err
    assert str(data_root / "Set14") in error and "data.download" in error
    assert "Traceback" not in error


def test_every_source_is_checked_before_any_evaluation(run_dir, capsys):
    """A baseline lacking --sets fails before the run directory is scored."""
    assert evaluate.main([str(run_dir), "--model", "bicubic", "--scale", "2"]) == 2
    assert "--sets" in capsys.readouterr().err
    assert not (run_dir / "evaluation").exists()


def test_missing_model_path_is_named(tmp_path, capsys):
    """A path that does not exist is named in the error."""
    missing = tmp_path / "no_such_run"
    assert evaluate.main([str(missing), "--scale", "2", "--sets", "Set5"]) == 2
    assert str(missing) in capsys.readouterr().err


def test_format_table_states_scores_and_conventions(data_root):
    """The table shows set, image count, PSNR, SSIM and the conventions sentence."""
    evaluation = evaluate_sr(bicubic_predictor(2), load_set("Set5", data_root), 2)
    table = evaluate.format_table("Set5", evaluation.to_json())
    assert f"| Set5 | 5 | {evaluation.psnr:.3f} | {evaluation.ssim:.4f} |" in table
    assert evaluation.conventions.description in table


def test_bicubic_x2_on_shared_set5_matches_published(shared_data, tmp_path):
    """The command-line bicubic baseline reproduces the published Set5 x2 PSNR."""
    output = tmp_path / "set5.json"
    command = ["--model", "bicubic", "--scale", "2", "--sets", "Set5", "--no-ssim"]
    assert evaluate.main(command + ["--data-root", str(shared_data), "--output", str(output)]) == 0
    scores = json.loads(output.read_text())["Set5"]
    assert scores["images"] == 5
    assert scores["psnr"] == pytest.approx(PUBLISHED_SET5_BICUBIC_X2, abs=0.02)


def test_grid_scores_every_cell_and_refuses_an_unknown_one(data_root, tmp_path, capsys):
    """--grid keys results "<set>/<cell>"; each cell equals a direct evaluation under that cell."""
    from data import grid

    output = tmp_path / "grid.json"
    assert evaluate.main(["--model", "bicubic", "--scale", "2", "--sets", "Set5", "--data-root",
                          str(data_root), "--grid", "--no-ssim", "--output", str(output)]) == 0
    scores = json.loads(output.read_text())
    assert list(scores) == [f"Set5/{cell.name}" for cell in grid.SR_GRID]
    images = load_set("Set5", data_root)
    for cell in grid.cells(["bicubic", "blur1.0+noise5+jpeg50"], "sr"):
        direct = evaluate_sr(bicubic_predictor(2), images, 2, compute_ssim=False, cell=cell)
        assert scores[f"Set5/{cell.name}"]["psnr"] == pytest.approx(direct.psnr, abs=1e-9)
        assert scores[f"Set5/{cell.name}"]["cell"]["name"] == cell.name
    noisy = tmp_path / "noisy.json"
    assert evaluate.main(["--model", "noisy", "--sigma", "25", "--sets", "Set12", "--data-root",
                          str(data_root), "--grid", "sigma15", "sigma75", "--no-ssim",
                          "--output", str(noisy)]) == 0
    levels = json.loads(noisy.read_text())
    assert levels["Set12/sigma15"]["psnr"] > levels["Set12/sigma75"]["psnr"] + 10
    capsys.readouterr()
    assert evaluate.main(["--model", "bicubic", "--scale", "2", "--sets", "Set5", "--data-root",
                          str(data_root), "--grid", "blur9"]) == 2
    assert "Unknown grid cell 'blur9'" in capsys.readouterr().err


def test_several_sources_get_one_side_by_side_table_per_set(run_dir, data_root, tmp_path, capsys):
    """The baseline comes first; each other column carries its difference to it."""
    output = tmp_path / "scores.json"
    command = ["--model", "bicubic", str(run_dir), "--scale", "2", "--sets", "Set5", "--data-root",
               str(data_root), "--output", str(output)]
    assert evaluate.main(command) == 0
    printed = capsys.readouterr().out
    scores = json.loads(output.read_text())
    bicubic, model = scores["bicubic"]["Set5"], scores[str(run_dir)]["Set5"]
    table = printed[printed.index("Set5: side by side"):].splitlines()
    assert table[0] == "Set5: side by side (in brackets: the difference to bicubic)"
    assert table[1] == f"| | bicubic | {run_dir} |"
    assert table[3] == (f"| PSNR (dB) | {bicubic['psnr']:.3f} | {model['psnr']:.3f} "
                        f"({model['psnr'] - bicubic['psnr']:+.3f}) |")
    assert table[4].startswith(f"| SSIM | {bicubic['ssim']:.4f} | {model['ssim']:.4f} (")
    assert table[5] == "| images | 5 | 5 |"
    assert evaluate.main([str(run_dir)]) == 0
    assert "side by side" not in capsys.readouterr().out


def test_saved_images_are_the_scored_outputs(run_dir, model_file, data_root, tmp_path, capsys):
    """--save-images writes each restored image; scoring the file again gives its per-image PSNR."""
    from data.degradations import modcrop
    from data.images import read_image
    from restoration.evaluation.metrics import psnr

    assert evaluate.main([str(run_dir), "--save-images", "--no-ssim"]) == 0
    folder = run_dir / "evaluation" / "images" / "Set5"
    rows = read_csv(run_dir / "evaluation" / "Set5.csv")
    assert sorted(path.name for path in folder.iterdir()) == [f"image{i}.png" for i in range(5)]
    for row in rows:
        reference = modcrop(read_image(data_root / "Set5" / f"{row['name']}.png"), 2)
        saved = read_image(folder / f"{row['name']}.png")
        assert saved.shape == reference.shape
        assert psnr(reference, saved, border=2, y_channel=True) == pytest.approx(float(row["psnr"]),
                                                                                  abs=1e-6)
    # A bare model file needs a folder; with one, its images land there.
    command = [str(model_file), "--scale", "2", "--sets", "Set5", "--data-root", str(data_root)]
    assert evaluate.main(command + ["--save-images"]) == 2
    assert "Expected a folder after --save-images" in capsys.readouterr().err
    assert evaluate.main(command + ["--save-images", str(tmp_path / "out"), "--no-ssim"]) == 0
    assert len(list((tmp_path / "out" / "Set5").glob("*.png"))) == 5


def test_outputs_never_land_on_inputs_and_replace_files_only_when_asked(
        run_dir, model_file, data_root, tmp_path, capsys):
    """Every output option is checked before scoring: inputs never, earlier outputs with --overwrite."""
    command = [str(model_file), "--scale", "2", "--sets", "Set5", "--data-root", str(data_root),
               "--no-ssim"]
    before = {path: path.read_bytes() for path in sorted(data_root.rglob("*.png"))}
    model_bytes = model_file.read_bytes()
    refused = {
        # The data root as the image folder: Set5/image0.png would be a test image.
        "--save-images": [str(data_root)],
        "--output": [str(model_file)],
        "--per-image-csv": [str(data_root)],
    }
    (data_root / "Set5.csv").symlink_to(data_root / "Set5" / "image0.png")
    for option, value in refused.items():
        for extra in ([], ["--overwrite"]):
            assert evaluate.main(command + [option, *value, *extra]) == 2
            captured = capsys.readouterr()
            assert "would be written over the input" in captured.err
            assert len(captured.err.strip().splitlines()) == 1 and "| Set5 |" not in captured.out
    (data_root / "Set5.csv").unlink()
    assert {path: path.read_bytes() for path in sorted(data_root.rglob("*.png"))} == before
    assert model_file.read_bytes() == model_bytes

    scores = tmp_path / "scores.json"
    scores.write_text("earlier scores")
    assert evaluate.main(command + ["--output", str(scores)]) == 2
    assert f"--output: {scores} exists already; give --overwrite" in capsys.readouterr().err
    assert scores.read_text() == "earlier scores"
    assert evaluate.main(command + ["--output", str(scores), "--overwrite"]) == 0
    assert "Set5" in json.loads(scores.read_text())
    # A run's own image folder: the second evaluation asks before replacing the first's images.
    assert evaluate.main([str(run_dir), "--save-images", "--no-ssim"]) == 0
    assert evaluate.main([str(run_dir), "--save-images", "--no-ssim"]) == 2
    assert "exists already; give --overwrite" in capsys.readouterr().err
    assert evaluate.main([str(run_dir), "--save-images", "--no-ssim", "--overwrite"]) == 0


@pytest.mark.parametrize("where", ["folder", "below_a_file"])
def test_an_unwritable_output_is_found_before_scoring(model_file, data_root, tmp_path, capsys,
                                                      where):
    (tmp_path / "afile").write_text("")
    output = {"folder": tmp_path, "below_a_file": tmp_path / "afile" / "scores.json"}[where]
    status = evaluate.main([str(model_file), "--scale", "2", "--sets", "Set5", "--data-root",
                            str(data_root), "--output", str(output)])
    captured = capsys.readouterr()
    assert status == 2 and "| Set5 |" not in captured.out
    expected = {"folder": f"--output: {tmp_path} is a folder where a file is to be written",
                "below_a_file": f"expected a folder, but {tmp_path / 'afile'} is a file"}[where]
    assert expected in captured.err


def test_a_layer_of_unknown_reach_matters_only_when_tiling(data_root, tmp_path, capsys):
    """A bare .keras with an Identity layer scores whole images; tiles need an explicit overlap."""
    import keras

    from sr_models.layers import PixelShuffle

    inputs = keras.Input((None, None, 3))
    features = keras.layers.Conv2D(12, 3, padding="same")(keras.layers.Identity()(inputs))
    outputs = PixelShuffle(2)(features)
    path = tmp_path / "identity_up.keras"
    keras.Model(inputs, outputs).save(path)
    command = [str(path), "--scale", "2", "--sets", "Set5", "--data-root", str(data_root), "--no-ssim"]
    assert evaluate.main(command) == 0
    whole = capsys.readouterr().out
    assert evaluate.main(command + ["--tile", "8"]) == 2
    error = capsys.readouterr().err
    assert "layer 'identity' (Identity) is not known" in error and "--tile-overlap" in error
    assert evaluate.main(command + ["--tile", "8", "--tile-overlap", "4"]) == 0
    assert "| Set5 | 5 |" in whole


def test_self_ensemble_adds_x8_scores_beside_the_plain_ones(run_dir, data_root, tmp_path):
    """`--self-ensemble` scores each set again as `<set>+x8`: the direct x8 evaluation's numbers."""
    from restoration.evaluation.protocol import self_ensemble

    output = tmp_path / "x8.json"
    assert evaluate.main([str(run_dir), "--self-ensemble", "--no-ssim", "--output", str(output)]) == 0
    scores = json.loads(output.read_text())
    assert list(scores) == ["Set5", "Set5+x8"]
    model = load_keras_model(run_dir / "model.keras")
    images = load_set("Set5", data_root)
    direct = evaluate_sr(self_ensemble(lambda batch: np.asarray(model(batch))), images, 2,
                         input_channels=3, compute_ssim=False)
    assert scores["Set5+x8"]["psnr"] == pytest.approx(direct.psnr, abs=1e-9)
    assert scores["Set5+x8"]["psnr"] != pytest.approx(scores["Set5"]["psnr"], abs=1e-6)
