"""Paired folders: matching by name and template, and every refusal naming its files."""

import numpy as np
import pytest

from data import pairs
from tests.helpers import write_image


def image(height, width, channels=3):
    return np.full((height, width, channels), 100, np.uint8)


def folders(tmp_path, inputs, targets):
    """Writes `{file name: (height, width)}` images into `tmp_path/lr` and `tmp_path/hr`."""
    for folder, files in (("lr", inputs), ("hr", targets)):
        (tmp_path / folder).mkdir(exist_ok=True)
        for name, size in files.items():
            write_image(tmp_path / folder / name, image(*size))
    return tmp_path / "lr", tmp_path / "hr"


def test_pairs_match_by_equal_stems_in_target_order_whatever_the_extensions(tmp_path):
    lr, hr = folders(tmp_path, {"b.png": (4, 4), "a.bmp": (5, 4)}, {"a.png": (10, 8), "b.jpg": (8, 8)})
    found = pairs.match_pairs(lr, hr)
    assert [(pair.name, pair.input.name, pair.target.name) for pair in found] == [
        ("a", "a.bmp", "a.png"), ("b", "b.png", "b.jpg")]
    pairs.check_sizes(found, 2)


@pytest.mark.parametrize("template, inputs", [("{}x4", ["0001x4.png", "0002x4.png"]),
                                              ("lr_{}", ["lr_0001.png", "lr_0002.png"])])
def test_a_template_names_the_input_of_each_target(tmp_path, template, inputs):
    targets = dict.fromkeys(["0001.png", "0002.png"], (16, 16))
    lr, hr = folders(tmp_path, dict.fromkeys(inputs, (4, 4)), targets)
    found = pairs.match_pairs(lr, hr, template)
    assert [(pair.name, pair.input.name) for pair in found] == [("0001", inputs[0]), ("0002", inputs[1])]
    pairs.check_sizes(found, 4)
    with pytest.raises(pairs.PairError):  # Without the template nothing pairs.
        pairs.match_pairs(lr, hr)


def test_every_missing_partner_and_the_count_are_one_line_each_naming_the_files(tmp_path):
    lr, hr = folders(tmp_path, {"0001x2.png": (4, 4), "0003x2.png": (4, 4), "junk.png": (4, 4)},
                     {"0001.png": (8, 8), "0002.png": (8, 8)})
    with pytest.raises(pairs.PairError) as raised:
        pairs.match_pairs(lr, hr, "{}x2")
    assert str(raised.value).splitlines() == [
        f"3 inputs in {lr} against 2 targets in {hr}",
        f"{hr / '0002.png'} has no input: expected {lr / '0002x2'}.*",
        f"{lr / '0003x2.png'} has no target: expected {hr / '0003'}.*",
        f"{lr / 'junk.png'} has no target: expected a stem of the form '{{}}x2'",
    ]
    assert isinstance(raised.value, ValueError)


def test_two_files_with_one_stem_are_refused(tmp_path):
    lr, hr = folders(tmp_path, {"a.png": (4, 4)}, {"a.png": (8, 8), "a.jpg": (8, 8)})
    with pytest.raises(pairs.PairError, match="share the stem 'a'"):
        pairs.match_pairs(lr, hr)


def test_a_size_that_is_not_scale_times_its_partner_after_modcrop_is_named(tmp_path):
    """A target one pixel over a multiple of the scale is cropped and pairs; any other size does not."""
    lr, hr = folders(tmp_path, {"a.png": (4, 5), "b.png": (4, 4), "c.png": (4, 4)},
                     {"a.png": (17, 21), "b.png": (16, 12), "c.png": (16, 16)})
    found = pairs.match_pairs(lr, hr)
    with pytest.raises(pairs.PairError) as raised:
        pairs.check_sizes(found, 4)
    assert str(raised.value).splitlines() == [
        f"{lr / 'b.png'} is 4x4 but {hr / 'b.png'} is 16x12: expected an input of 4x3 (scale 4)"]
    pairs.check_sizes(found[:1], 4)  # a: 17x21 crops to 16x20, four times 4x5
    expected = r"is 4x5 but .*a.png is 17x21: expected an input of 17x21 \(scale 1\)$"
    with pytest.raises(pairs.PairError, match=expected):
        pairs.check_sizes(found[:1], 1)  # Denoising pairs are the same size.


@pytest.mark.parametrize("template", ["x4", "{}{}", "{0}x4", "{}}", "sub/{}"])
def test_a_template_without_one_placeholder_is_refused(tmp_path, template):
    assert pairs.check_template(template) is not None
    with pytest.raises(pairs.PairError, match="template"):
        pairs.match_pairs(tmp_path, tmp_path, template)


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        pairs.match_pairs(tmp_path / "nowhere", tmp_path)
