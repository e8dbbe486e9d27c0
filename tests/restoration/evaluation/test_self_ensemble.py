"""The x8 self-ensemble: the mean of the eight flipped and rotated predictions, turned back."""

import numpy as np
import pytest

import sr_models
from restoration.evaluation.predictors import Task
from restoration.evaluation.predictors import model_predictor
from restoration.evaluation.protocol import predict_tiled
from restoration.evaluation.protocol import self_ensemble

# The eight symmetries of the square as (forward, inverse) on (height, width, ...) arrays, written
# out by hand rather than with the rotation loop of the code under test.
SYMMETRIES = [
    (lambda x: x, lambda y: y),
    (lambda x: x[:, ::-1], lambda y: y[:, ::-1]),
    (lambda x: x[::-1], lambda y: y[::-1]),
    (lambda x: x[::-1, ::-1], lambda y: y[::-1, ::-1]),
    (lambda x: x.swapaxes(0, 1), lambda y: y.swapaxes(0, 1)),
    (lambda x: x.swapaxes(0, 1)[:, ::-1], lambda y: y[:, ::-1].swapaxes(0, 1)),
    (lambda x: x.swapaxes(0, 1)[::-1], lambda y: y[::-1].swapaxes(0, 1)),
    (lambda x: x.swapaxes(0, 1)[::-1, ::-1], lambda y: y[::-1, ::-1].swapaxes(0, 1)),
]


def positional(batch, scale=2, sigma=0.0):
    """A network that is not equivariant: nearest upscaling plus a ramp over output positions."""
    upscaled = batch.repeat(scale, axis=1).repeat(scale, axis=2)
    height, width = upscaled.shape[1:3]
    ramp = np.arange(height * width, dtype=np.float32).reshape(1, height, width, 1) / (height * width)
    return upscaled + ramp + sigma


def test_x8_of_an_identity_network_is_the_identity():
    image = np.random.default_rng(0).uniform(size=(1, 7, 9, 3)).astype(np.float32)
    np.testing.assert_array_equal(self_ensemble(lambda batch: batch)(image), image)


@pytest.mark.parametrize("sigma", [None, 0.25])
def test_x8_is_the_mean_of_the_eight_transformed_predictions(sigma):
    """Also for a network given a noise level, which passes through to every prediction."""
    image = np.random.default_rng(1).uniform(size=(5, 8, 2)).astype(np.float32)
    extra = {} if sigma is None else {"sigma": sigma}
    expected = np.mean([inverse(positional(forward(image)[None], **extra)[0])
                        for forward, inverse in SYMMETRIES], axis=0)
    received = self_ensemble(positional)(image[None], **extra)[0]
    assert received.shape == (10, 16, 2)
    np.testing.assert_allclose(received, expected, atol=1e-6)
    # A positional network's ensemble differs from its plain output: the test can tell them apart.
    assert np.abs(received - positional(image[None], **extra)[0]).max() > 0.1


def test_x8_composes_with_exact_tiling_of_a_network():
    model = sr_models.build_edsr(scale=2, num_blocks=1, filters=8, seed=0)
    predictor = model_predictor(model, Task("sr", 2, None, 3))
    ensembled = predictor.self_ensembled()
    image = np.random.default_rng(2).uniform(size=(20, 26, 3)).astype(np.float32)
    tile, overlap = ensembled.tiling(8)
    whole = predict_tiled(ensembled.predict_fn, image, 2)
    tiled = predict_tiled(ensembled.predict_fn, image, 2, tile, overlap)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    plain = predict_tiled(predictor.predict_fn, image, 2)
    assert np.abs(whole - plain).max() > 1e-3
