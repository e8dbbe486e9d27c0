"""Tests for tiled inference and the SR / denoising evaluation protocols."""

import json

import numpy as np
import pytest

from data import imagesets
from data.degradations import bicubic_downscale
from data.degradations import bicubic_upscale
from data.degradations import modcrop
from restoration.evaluation.metrics import psnr
from restoration.evaluation.protocol import bicubic_predictor
from restoration.evaluation.protocol import evaluate_denoise
from restoration.evaluation.protocol import evaluate_sr
from restoration.evaluation.protocol import identity_predictor
from restoration.evaluation.protocol import predict_tiled
from restoration.evaluation.protocol import to_uint8
from tests.helpers import SHARED_DATA

PUBLISHED_SET5_BICUBIC = {2: 33.66, 4: 28.42}
# The noisy input at sigma 25 under the reference noise protocol (../shared/REFERENCE.md).
REFERENCE_NOISY_INPUT = {"Set12": 20.369, "BSD68": 20.498}


def random_image(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def small_conv_model(scale):
    """Fully convolutional model with receptive-field radius 3 (input pixels)."""
    import keras

    keras.utils.set_random_seed(0)
    layers = [
        keras.Input((None, None, 3)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
    ]
    if scale > 1:
        layers.append(keras.layers.UpSampling2D(scale))
    layers += [
        keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid"),
    ]
    model = keras.Sequential(layers)
    return lambda batch: keras.ops.convert_to_numpy(model(batch, training=False))


@pytest.mark.parametrize("scale", [1, 2])
def test_tiled_prediction_equals_whole_image_after_rounding(scale):
    """Tiles with overlap >= receptive field stitch to the whole-image result."""
    predict_fn = small_conv_model(scale)
    image = np.random.default_rng(1).uniform(size=(37, 45, 3)).astype(np.float32)
    whole = predict_tiled(predict_fn, image, scale)
    tiled = predict_tiled(predict_fn, image, scale, tile=16, overlap=4)
    assert tiled.shape == whole.shape == (37 * scale, 45 * scale, 3)
    np.testing.assert_array_equal(to_uint8(tiled), to_uint8(whole))
    # Too little overlap changes pixels along the seams, so the check has teeth.
    seams = predict_tiled(predict_fn, image, scale, tile=16, overlap=0)
    assert not np.array_equal(to_uint8(seams), to_uint8(whole))


def test_prediction_of_wrong_shape_is_reported():
    """A predict_fn returning the wrong size raises ValueError with both shapes."""
    with pytest.raises(ValueError, match=r"Received: shape=\(1, 8, 8, 3\)"):
        predict_tiled(lambda batch: batch, np.zeros((8, 8, 3), np.float32), scale=2)


def test_to_uint8_clips_and_rounds():
    """Outputs are clipped to [0, 1] and rounded to the nearest level."""
    values = np.array([-0.2, 0.0, 0.6 / 255, 1.4 / 255, 0.5, 1.0, 1.3])
    np.testing.assert_array_equal(to_uint8(values), [0, 0, 1, 1, 128, 255, 255])


def test_evaluate_sr_scores_bicubic_like_direct_computation():
    """evaluate_sr with the bicubic predictor equals the hand-written protocol."""
    images = [("a", random_image((50, 43, 3), 2)), ("b", random_image((31, 40, 3), 3))]
    evaluation = evaluate_sr(bicubic_predictor(3), images, 3)
    for (name, hr_image), entry in zip(images, evaluation.per_image):
        reference = modcrop(hr_image, 3)
        output = bicubic_upscale(bicubic_downscale(hr_image, 3), 3)
        assert entry["name"] == name
        assert entry["psnr"] == pytest.approx(psnr(reference, output, 3, True), abs=1e-12)
    assert evaluation.psnr == pytest.approx(np.mean([e["psnr"] for e in evaluation.per_image]))
    assert evaluation.conventions.y_channel and evaluation.conventions.border == 3
    json.dumps(evaluation.to_json())


def test_evaluate_sr_replicates_gray_for_rgb_models():
    """A gray image fed to a 3-channel model is scored on the gray channel."""
    gray = [("bridge", random_image((40, 40, 1), 4))]
    direct = evaluate_sr(bicubic_predictor(2), gray, 2, compute_ssim=False)
    replicated = evaluate_sr(bicubic_predictor(2), gray, 2, compute_ssim=False, input_channels=3)
    assert replicated.psnr == pytest.approx(direct.psnr, abs=1e-12)
    assert direct.ssim is None


def test_evaluate_denoise_identity_scores_the_noise_level():
    """The noisy input itself scores 10 log10(255^2 / (sigma^2 + 1/12)) on mid-gray."""
    clean = [("flat", np.full((256, 256, 1), 128, np.uint8))]
    evaluation = evaluate_denoise(identity_predictor(), clean, sigma=10, compute_ssim=False)
    # Rounding adds variance 1/12; the MSE over 65536 pixels has 0.55 % standard error.
    expected = 10 * np.log10(255**2 / (10**2 + 1 / 12))
    assert evaluation.psnr == pytest.approx(expected, abs=0.06)
    assert not evaluation.conventions.y_channel and evaluation.conventions.border == 0


def test_evaluate_denoise_reuses_the_seed_for_every_image():
    """Every image gets the same noise (reference protocol); the seed changes it."""
    flat = np.full((32, 32, 1), 128, np.uint8)
    clean = [("one", flat), ("two", flat.copy())]
    evaluation = evaluate_denoise(identity_predictor(), clean, sigma=25)
    first, second = (entry["psnr"] for entry in evaluation.per_image)
    assert first == second
    other_seed = evaluate_denoise(identity_predictor(), clean[:1], sigma=25, seed=1)
    assert other_seed.psnr != first


@pytest.mark.skipif(not (SHARED_DATA / "Set5").is_dir(), reason=f"Set5 not found in {SHARED_DATA}")
@pytest.mark.parametrize("scale", [2, 4])
def test_set5_bicubic_baseline_matches_published_table(scale):
    """Bicubic on Set5 reproduces the published PSNR within 0.02 dB."""
    images = imagesets.load_set("Set5", SHARED_DATA)
    evaluation = evaluate_sr(bicubic_predictor(scale), images, scale, compute_ssim=False)
    assert evaluation.psnr == pytest.approx(PUBLISHED_SET5_BICUBIC[scale], abs=0.02)


def test_prediction_time_is_counted_per_image_with_every_tile(monkeypatch):
    """predict_seconds covers all tiles of an image: 4 tiles of one clock tick each per image."""
    from restoration.evaluation import protocol

    clock = {"now": 0.0}
    monkeypatch.setattr(protocol.time, "perf_counter", lambda: clock["now"])

    def predict(batch):
        clock["now"] += 1.0
        return bicubic_predictor(2)(batch)

    images = [("a", random_image((40, 40, 3), 7)), ("b", random_image((40, 40, 3), 8))]
    tiled = evaluate_sr(predict, images, 2, tile=10, overlap=2, compute_ssim=False)
    assert tiled.images == 2 and tiled.predict_seconds == 8.0
    whole = evaluate_sr(predict, images, 2, compute_ssim=False)
    assert whole.predict_seconds == 2.0
    assert tiled.to_json()["images"] == 2


def test_an_image_too_small_to_score_is_named():
    """An image smaller than the border it must lose is an error naming the image."""
    for shape in ((4, 4, 3), (1, 1, 3), (1, 40, 1)):
        images = [("fine", random_image((40, 40, 3), 1)), ("tiny", random_image(shape, 2))]
        with pytest.raises(ValueError, match=f"Cannot score image tiny: expected sides longer "
                                             f"than 4 pixels at x2, received {shape[0]}x{shape[1]}"):
            evaluate_sr(bicubic_predictor(2), images, 2, compute_ssim=False)


@pytest.mark.parametrize("set_name", sorted(REFERENCE_NOISY_INPUT))
def test_noisy_input_scores_the_reference_realisation(set_name):
    """At sigma 25 the noisy input scores what the DnCNN/KAIR scripts' noise scores, within 0.002 dB."""
    if not (SHARED_DATA / set_name).is_dir():
        pytest.skip(f"{set_name} not found in {SHARED_DATA}")
    images = imagesets.load_set(set_name, SHARED_DATA, channels=1)
    evaluation = evaluate_denoise(identity_predictor(), images, sigma=25, compute_ssim=False)
    assert evaluation.psnr == pytest.approx(REFERENCE_NOISY_INPUT[set_name], abs=0.002)


def test_grid_cells_change_the_input_and_the_clean_cell_is_the_benchmark():
    """Bicubic scores the same on the clean cell as on the benchmark input, and less on degraded cells."""
    from data import grid

    rng = np.random.default_rng(5)
    base = np.kron(rng.integers(0, 256, (12, 10, 3)), np.ones((8, 8, 1))).astype(np.uint8)
    images = [("blocks", base)]
    benchmark = evaluate_sr(bicubic_predictor(2), images, 2, compute_ssim=False).psnr
    scores = {cell.name: evaluate_sr(bicubic_predictor(2), images, 2, compute_ssim=False, cell=cell).psnr
              for cell in grid.SR_GRID}
    assert scores["bicubic"] == benchmark
    assert all(score < benchmark - 0.1 for name, score in scores.items() if name != "bicubic")
