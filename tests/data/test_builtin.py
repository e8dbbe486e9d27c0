"""Tests for `data.builtin`: the scikit-image photographs and their fixed split."""

import socket

import numpy as np
import pytest

from data import builtin
from data.images import rgb_to_gray


@pytest.fixture
def no_network(monkeypatch):
    """Makes every attempt to open a network connection fail."""

    def refuse(*arguments, **keywords):
        raise OSError("network access is disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_splits_are_disjoint_and_large_enough():
    """No photograph is in two splits; validation and test hold at least two each."""
    splits = {split: set(builtin.builtin_names(split)) for split in ("train", "validation", "test")}
    assert not splits["train"] & splits["validation"]
    assert not splits["train"] & splits["test"]
    assert not splits["validation"] & splits["test"]
    assert len(splits["validation"]) >= 2 and len(splits["test"]) >= 2
    assert len(splits["train"]) >= len(splits["validation"])


def test_stereo_pair_stays_in_one_split():
    """Both motorcycle views are in the same split, so no scene leaks across splits."""
    holding = [split for split, names in builtin.BUILTIN_SPLITS.items()
               if {"motorcycle_left", "motorcycle_right"} & set(names)]
    assert len(holding) == 1


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_every_split_loads_as_uint8_rgb_without_network(no_network, split):
    """All images load offline as distinct uint8 (height, width, 3) photographs."""
    images = builtin.load_builtin(split)
    assert [name for name, _ in images] == list(builtin.builtin_names(split))
    for name, image in images:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3, name
        assert min(image.shape[:2]) >= 256, name
        # A natural photograph uses most of the 8-bit range and is not flat.
        assert image.std() > 20, name
    pixels = [image.tobytes() for _, image in images]
    assert len(set(pixels)) == len(pixels)


def test_gray_images_are_rgb2gray_of_the_colour_ones():
    """`channels=1` gives (height, width, 1) equal to MATLAB rgb2gray of the RGB image."""
    colour = dict(builtin.load_builtin("validation"))
    for name, gray in builtin.load_builtin("validation", channels=1):
        assert gray.shape == colour[name].shape[:2] + (1,)
        np.testing.assert_array_equal(gray, rgb_to_gray(colour[name]))


def test_loading_twice_gives_identical_images():
    """The split and pixels are deterministic across calls."""
    first = builtin.load_builtin("test")
    second = builtin.load_builtin("test")
    for (name_a, image_a), (name_b, image_b) in zip(first, second):
        assert name_a == name_b
        np.testing.assert_array_equal(image_a, image_b)


def test_invalid_arguments_raise_value_error():
    """Unknown split and unsupported channel count are rejected with the received value."""
    with pytest.raises(ValueError, match="Received: split='valid'"):
        builtin.load_builtin("valid")
    with pytest.raises(ValueError, match="Received: channels=4"):
        builtin.load_builtin("test", channels=4)
