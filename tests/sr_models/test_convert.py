"""The converter of released DnCNN and FFDNet weights: readers, mapping, checks and refusals.

Synthetic MatConvNet files (written as MATLAB v7.3 writes them: HDF5 with the
axes reversed and the layers as object references) test the mapping without
the authors' files; the authors' files, where `../shared/weights` holds them,
test the conversion against the published tables.
"""

import h5py
import numpy as np
import pytest

from restoration.evaluation.predictors import Task
from restoration.evaluation.predictors import evaluate_predictor
from restoration.evaluation.predictors import load_keras_model
from restoration.evaluation.predictors import model_predictor
from sr_models import convert
from tests.helpers import REPO_ROOT
from tests.helpers import SHARED_DATA

WEIGHTS = REPO_ROOT.parent / "shared" / "weights"


def write_matconvnet(path, layers):
    """Writes `(type, settings)` layers as a MATLAB v7.3 MatConvNet `simplenn` file.

    A convolution's settings are its `(kh, kw, in, out)` kernel and bias; a
    one-output kernel loses its trailing axis, as in MATLAB.
    """
    with h5py.File(path, "w") as handle:
        refs = handle.create_group("#refs#")
        table = handle.create_group("net").create_dataset("layers", (len(layers), 1), dtype=h5py.ref_dtype)
        for index, (kind, settings) in enumerate(layers):
            group = refs.create_group(f"layer{index}")
            group["type"] = np.array([[ord(letter)] for letter in kind], np.uint16)
            group["name"] = np.array([[ord(letter)] for letter in f"{kind}{index}"], np.uint16)
            if kind == "conv":
                kernel, bias = settings
                if kernel.shape[-1] == 1:
                    kernel = kernel[..., 0]
                stored = [refs.create_dataset(f"weight{index}_{part}", data=np.transpose(value))
                          for part, value in enumerate((kernel, bias[None]))]
                weights = group.create_dataset("weights", (2, 1), dtype=h5py.ref_dtype)
                for part, dataset in enumerate(stored):
                    weights[part, 0] = dataset.ref
                group["stride"], group["pad"] = np.ones((1, 1)), np.ones((1, 1))
            elif kind == "relu":
                group["leak"] = np.zeros((1, 1))
            elif kind == "SubP":
                group["scale"] = np.full((1, 1), settings)
            table[index, 0] = group.ref


def conv_stack(channels_in, widths, generator):
    """conv + ReLU layers of the given output widths, the last without its ReLU."""
    layers = []
    for width in widths:
        kernel = generator.normal(0, 0.3, (3, 3, channels_in, width)).astype(np.float32)
        layers += [("conv", (kernel, generator.normal(0, 0.1, width).astype(np.float32))), ("relu", None)]
        channels_in = width
    return layers[:-1]


@pytest.fixture
def small_dncnn(tmp_path):
    path = tmp_path / "dncnn.mat"
    write_matconvnet(path, conv_stack(1, [8, 8, 8, 1], np.random.default_rng(0)))
    return path


@pytest.fixture
def small_ffdnet(tmp_path):
    path = tmp_path / "ffdnet.mat"
    body = conv_stack(13, [8, 8, 12], np.random.default_rng(1))
    write_matconvnet(path, [("SubP", 0.5), ("concat", None), *body, ("SubP", 2.0)])
    return path


def test_a_dncnn_is_read_mapped_and_checked_against_its_numpy_reference(small_dncnn):
    model, arguments, difference = convert.convert(small_dncnn, "dncnn")
    assert arguments == {"depth": 4, "filters": 8, "channels": 1, "batch_norm": False, "output_bias": True}
    assert difference < 1e-5
    layers = convert.read_source(small_dncnn)
    image = np.random.default_rng(5).uniform(size=(10, 14, 1))
    expected = convert.reference_forward(layers, image, residual=True)
    np.testing.assert_allclose(np.asarray(model(image[None].astype("float32")))[0], expected, atol=1e-5)


def test_ffdnet_sub_images_are_permuted_into_this_projects_order(small_ffdnet, monkeypatch):
    """The MATLAB pixel unshuffle orders channels otherwise; without the permutation the check fails."""
    _, arguments, difference = convert.convert(small_ffdnet, "ffdnet", sigma=30)
    assert arguments == {"depth": 3, "filters": 8, "channels": 3} and difference < 1e-5
    monkeypatch.setattr(convert, "_unshuffle_order", lambda channels: np.arange(4 * channels + 1))
    with pytest.raises(convert.ConversionError, match="reproduce the source's forward pass"):
        convert.convert(small_ffdnet, "ffdnet", sigma=30)


def test_a_source_of_another_network_or_an_unknown_layer_is_one_line_naming_it(small_dncnn, small_ffdnet,
                                                                                tmp_path):
    with pytest.raises(convert.ConversionError, match="expected the layers of ffdnet, received a plain"):
        convert.convert(small_dncnn, "ffdnet")
    with pytest.raises(convert.ConversionError, match="expected the layers of dncnn, received FFDNet"):
        convert.convert(small_ffdnet, "dncnn")
    path = tmp_path / "bnorm.mat"
    write_matconvnet(path, [*conv_stack(1, [4], np.random.default_rng(2)), ("bnorm", None)])
    with pytest.raises(convert.ConversionError) as raised:
        convert.read_source(path)
    assert str(raised.value) == (f"{path}: layer 1 (bnorm1): expected conv, relu, SubP or concat, "
                                 "received type 'bnorm'")


def test_the_command_writes_a_new_file_and_never_replaces_one(small_dncnn, tmp_path, capsys):
    output = tmp_path / "out.keras"
    assert convert.main([str(small_dncnn), "--model", "dncnn", "--output", str(output)]) == 0
    assert "forward pass equal to the source's NumPy reference" in capsys.readouterr().out
    model = load_keras_model(output)
    image = np.random.default_rng(3).uniform(size=(1, 12, 12, 1)).astype("float32")
    layers = convert.read_source(small_dncnn)
    expected = convert.reference_forward(layers, image[0].astype(float), residual=True)
    np.testing.assert_allclose(np.asarray(model(image))[0], expected, atol=1e-5)
    before = output.read_bytes()
    assert convert.main([str(small_dncnn), "--model", "dncnn", "--output", str(output)]) == 2
    assert "existing file" in capsys.readouterr().err and output.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dncnn.mat", "out.keras"]
    for source in (tmp_path / "missing.mat", tmp_path / "out.keras"):
        assert convert.main([str(source), "--model", "dncnn", "--output", str(tmp_path / "x.keras")]) == 2
        error = capsys.readouterr().err
        assert error.startswith(f"convert: error: {source}: expected ") and error.count("\n") == 1


@pytest.mark.skipif(not (WEIGHTS / "cszn-DnCNN" / "sigma=25.mat").is_file()
                    or not (SHARED_DATA / "Set12").is_dir(),
                    reason="needs the authors' DnCNN weights (../shared/weights) and Set12")
def test_the_authors_dncnn_s25_reproduces_its_published_set12_row():
    """DnCNN-S sigma 25 scores the paper's 30.44 dB on Set12 under the project's protocol; the
    difference is the noise draw (NumPy's seed 0 here, MATLAB's randn in the paper)."""
    model, _, _ = convert.convert(WEIGHTS / "cszn-DnCNN" / "sigma=25.mat", "dncnn")
    task = Task("denoise", None, 25.0, 1)
    psnr = evaluate_predictor(model_predictor(model, task), "Set12", SHARED_DATA, ssim=False).psnr
    assert psnr == pytest.approx(30.44, abs=0.03)


@pytest.mark.skipif(not (WEIGHTS / "cszn-KAIR" / "dncnn_25.pth").is_file()
                    or not (WEIGHTS / "cszn-DnCNN" / "sigma=25.mat").is_file(),
                    reason="needs the authors' DnCNN weights (../shared/weights)")
def test_the_pytorch_checkpoint_is_the_same_network_as_the_matconvnet_one():
    from_torch, arguments, _ = convert.convert(WEIGHTS / "cszn-KAIR" / "dncnn_25.pth", "dncnn")
    from_matlab, _, _ = convert.convert(WEIGHTS / "cszn-DnCNN" / "sigma=25.mat", "dncnn")
    assert arguments == {"depth": 17, "filters": 64, "channels": 1, "batch_norm": False, "output_bias": True}
    image = np.random.default_rng(4).uniform(size=(1, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(from_torch(image)), np.asarray(from_matlab(image)), atol=1e-5)
