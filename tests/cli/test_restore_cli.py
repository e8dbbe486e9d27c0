"""restore.py: a trained model applied to the user's own images and folders."""

import numpy as np
import pytest

import restore
from data.images import read_image
from restoration.evaluation.protocol import to_uint8
from tests.helpers import write_image


def pattern(height, width, channels, seed):
    """Waves plus noise: enough structure for a model's output to depend on every pixel."""
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float64)
    waves = 80 * np.sin(rows[..., None] / 4.0 + np.arange(channels)) * np.cos(columns[..., None] / 3.0)
    noise = np.random.default_rng(seed).normal(0, 10, (height, width, channels))
    return np.clip(np.round(120 + waves + noise), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def sr_model(tmp_path_factory):
    """A 1-block, 8-filter EDSR x2 in a .keras file, and the model itself."""
    from sr_models import build_edsr

    model = build_edsr(scale=2, num_blocks=1, filters=8, seed=0)
    path = tmp_path_factory.mktemp("model") / "edsr_x2.keras"
    model.save(path)
    return path, model


@pytest.fixture
def inputs(tmp_path):
    """A folder of two images (RGB and gray) and one loose JPEG-free PNG."""
    folder = tmp_path / "photos"
    write_image(folder / "rgb.png", pattern(20, 28, 3, 0))
    write_image(folder / "gray.png", pattern(18, 22, 1, 1))
    write_image(tmp_path / "single.bmp", pattern(16, 16, 3, 2))
    (folder / "notes.txt").write_text("not an image")
    return folder, tmp_path / "single.bmp"


def direct(model, image):
    """What the network gives for the whole image, with a gray image through the RGB network."""
    feed = image if image.shape[-1] == 3 else np.repeat(image, 3, axis=-1)
    output = np.asarray(model(feed[None].astype(np.float32) / 255.0, training=False))[0]
    return to_uint8(output if image.shape[-1] == 3 else output.mean(axis=-1, keepdims=True))


def test_folders_and_files_are_restored_to_pngs(sr_model, inputs, tmp_path, capsys):
    path, model = sr_model
    folder, single = inputs
    output = tmp_path / "out"
    assert restore.main([str(path), str(folder), str(single), "--scale", "2",
                         "--output", str(output)]) == 0
    assert sorted(entry.name for entry in output.iterdir()) == ["gray.png", "rgb.png", "single.png"]
    for name, source in (("rgb", folder / "rgb.png"), ("gray", folder / "gray.png"),
                         ("single", single)):
        image = read_image(source)
        restored = read_image(output / f"{name}.png")
        assert restored.shape == (2 * image.shape[0], 2 * image.shape[1], image.shape[2])
        # Up to one level where float rounding of the two calls lands on either side of .5.
        assert np.abs(restored.astype(int) - direct(model, image)).max() <= 1
    assert "3 image(s)" in capsys.readouterr().out


def test_tiles_give_the_whole_image_result(sr_model, inputs, tmp_path):
    path, _ = sr_model
    folder, _ = inputs
    for tile in ("0", "7"):
        assert restore.main([str(path), str(folder / "rgb.png"), "--scale", "2", "--tile", tile,
                             "--output", str(tmp_path / tile)]) == 0
    whole, tiled = (read_image(tmp_path / tile / "rgb.png").astype(int) for tile in ("0", "7"))
    assert np.abs(whole - tiled).max() <= 1 and np.mean(whole != tiled) < 0.01
    # Without context the tile seams show.
    assert restore.main([str(path), str(folder / "rgb.png"), "--scale", "2", "--tile", "7",
                         "--tile-overlap", "0", "--output", str(tmp_path / "seams")]) == 0
    assert np.abs(read_image(tmp_path / "seams" / "rgb.png").astype(int) - whole).max() > 1


def test_the_noise_level_reaches_a_noise_map_network(tmp_path):
    from sr_models import build_ffdnet

    model = build_ffdnet(depth=3, filters=8, channels=1, seed=0)
    path = tmp_path / "ffdnet.keras"
    model.save(path)
    image = pattern(16, 20, 1, 3)
    write_image(tmp_path / "noisy.png", image)
    outputs = {}
    for sigma in (15, 50):
        assert restore.main([str(path), str(tmp_path / "noisy.png"), "--sigma", str(sigma),
                             "--output", str(tmp_path / str(sigma))]) == 0
        outputs[sigma] = read_image(tmp_path / str(sigma) / "noisy.png").astype(int)
        level = np.full((1, 1), sigma / 255.0, np.float32)
        expected = to_uint8(np.asarray(model([image[None] / np.float32(255), level]))[0])
        assert np.abs(outputs[sigma] - expected).max() <= 1
    assert np.any(outputs[15] != outputs[50])


@pytest.mark.parametrize("case, message", [
    ("missing", "Input not found: {tmp}/nowhere.png"),
    ("not_image", "{tmp}/photos/notes.txt: expected an image file"),
    ("collision", "would both be written to {tmp}/out/rgb.png"),
    ("no_task", "Expected exactly one of --scale (super-resolution) or --sigma"),
    ("empty", "{tmp}/empty: expected a folder with"),
])
def test_bad_inputs_stop_before_any_work(sr_model, inputs, tmp_path, capsys, case, message):
    path, _ = sr_model
    folder, _ = inputs
    (tmp_path / "empty").mkdir()
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "rgb.png").write_bytes((folder / "rgb.png").read_bytes())
    given = {"missing": [str(tmp_path / "nowhere.png")], "not_image": [str(folder / "notes.txt")],
             "collision": [str(folder), str(tmp_path / "copy")], "no_task": [str(folder)],
             "empty": [str(tmp_path / "empty")]}[case]
    task = [] if case == "no_task" else ["--scale", "2"]
    status = restore.main([str(path), *given, *task, "--output", str(tmp_path / "out")])
    assert status == 2
    assert message.format(tmp=tmp_path) in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_run_directory_brings_its_task_and_checkpoint(sr_model, inputs, tmp_path, capsys):
    """A run restores with its best checkpoint and its config's scale; --sigma is refused for SR."""
    import shutil

    from restoration import runs
    from restoration.config import load_config
    from tests.helpers import CONFIGS

    path, model = sr_model
    folder, _ = inputs
    run_dir = tmp_path / "run"
    load_config(CONFIGS / "tiny_test.yaml", check_data=False).arm("baseline", 0).save_resolved(run_dir)
    (run_dir / "checkpoints").mkdir()
    shutil.copy(path, run_dir / runs.BEST_CHECKPOINT)
    assert restore.main([str(run_dir), str(folder / "rgb.png"), "--output", str(tmp_path / "out")]) == 0
    assert f"{run_dir / runs.BEST_CHECKPOINT}: x2 super-resolution" in capsys.readouterr().out
    image = read_image(folder / "rgb.png")
    restored = read_image(tmp_path / "out" / "rgb.png").astype(int)
    assert np.abs(restored - direct(model, image)).max() <= 1
    assert restore.main([str(run_dir), str(folder), "--sigma", "25", "--output", str(tmp_path / "x")]) == 2
    assert "--sigma is for denoising" in capsys.readouterr().err


def test_restoring_into_the_inputs_folder_leaves_every_input_unchanged(sr_model, inputs, tmp_path,
                                                                       capsys):
    """The photo's own folder as --output: refused before the model loads, even with --overwrite."""
    path, _ = sr_model
    folder, _ = inputs
    before = {entry.name: entry.read_bytes() for entry in folder.iterdir()}
    for given in ([str(folder / "rgb.png")], [str(folder)]):
        for extra in ([], ["--overwrite"]):
            status = restore.main([str(path), *given, "--scale", "2", "--output", str(folder), *extra])
            assert status == 2
            error = capsys.readouterr().err
            assert f"would be written over the input {folder / 'gray.png'}" in error or (
                f"{folder / 'rgb.png'} would be written over the input {folder / 'rgb.png'}" in error)
            assert len(error.strip().splitlines()) == 1
    assert {entry.name: entry.read_bytes() for entry in folder.iterdir()} == before


def test_an_input_reached_through_a_link_is_still_an_input(sr_model, inputs, tmp_path, capsys):
    path, _ = sr_model
    folder, _ = inputs
    output = tmp_path / "out"
    output.mkdir()
    (output / "rgb.png").symlink_to(folder / "rgb.png")
    before = (folder / "rgb.png").read_bytes()
    assert restore.main([str(path), str(folder / "rgb.png"), "--scale", "2", "--output",
                         str(output), "--overwrite"]) == 2
    assert f"would be written over the input {folder / 'rgb.png'}" in capsys.readouterr().err
    assert (folder / "rgb.png").read_bytes() == before


def test_an_earlier_output_is_replaced_only_with_overwrite(sr_model, inputs, tmp_path, capsys):
    path, _ = sr_model
    folder, _ = inputs
    output = tmp_path / "out"
    output.mkdir()
    (output / "rgb.png").write_bytes(b"an earlier result")
    command = [str(path), str(folder / "rgb.png"), "--scale", "2", "--output", str(output)]
    assert restore.main(command) == 2
    assert f"{output / 'rgb.png'} exists already; give --overwrite" in capsys.readouterr().err
    assert (output / "rgb.png").read_bytes() == b"an earlier result"
    assert restore.main(command + ["--overwrite"]) == 0
    assert read_image(output / "rgb.png").shape == (40, 56, 3)


def test_inputs_are_read_before_the_model_loads(inputs, tmp_path, capsys):
    """An image that does not decode, or an output below a file, stops the command first.

    The model named is not a model at all, so loading it would fail with another message.
    """
    folder, _ = inputs
    (tmp_path / "text.keras").write_text("not a model")
    (folder / "fake.png").write_text("not an image")
    assert restore.main([str(tmp_path / "text.keras"), str(folder), "--scale", "2", "--output",
                         str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert f"{folder / 'fake.png'}" in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    (folder / "fake.png").unlink()
    (tmp_path / "afile").write_text("")
    assert restore.main([str(tmp_path / "text.keras"), str(folder), "--scale", "2", "--output",
                         str(tmp_path / "afile" / "out")]) == 2
    assert f"expected a folder, but {tmp_path / 'afile'} is a file" in capsys.readouterr().err
