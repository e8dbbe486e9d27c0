"""Tests for reading and listing image files (`data.images`)."""

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from data.images import image_size
from data.images import list_images
from data.images import read_image
from data.images import rgb_to_gray
from tests.helpers import write_image


def random_image(shape, dtype=np.uint8, high=256, seed=0):
    return np.random.default_rng(seed).integers(0, high, shape).astype(dtype)


def test_read_gray_png_gets_a_channel_axis(tmp_path):
    """A gray PNG is read as (height, width, 1) uint8."""
    gray = random_image((9, 7))
    iio.imwrite(tmp_path / "gray.png", gray)
    image = read_image(tmp_path / "gray.png")
    assert image.shape == (9, 7, 1) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[..., 0], gray)


@pytest.mark.parametrize("extension", [".png", ".bmp", ".tif"])
def test_read_rgb_round_trips_losslessly(tmp_path, extension):
    """RGB images written losslessly read back unchanged in lossless formats."""
    rgb = random_image((6, 8, 3), seed=1)
    write_image(tmp_path / f"rgb{extension}", rgb)
    np.testing.assert_array_equal(read_image(tmp_path / f"rgb{extension}"), rgb)


def test_read_jpeg_gives_rgb_uint8(tmp_path):
    """JPEG files are decoded to uint8 RGB."""
    iio.imwrite(tmp_path / "photo.JPG", random_image((16, 16, 3), seed=2))
    image = read_image(tmp_path / "photo.JPG")
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8


def test_read_rgba_drops_alpha(tmp_path):
    """The alpha channel of RGBA is dropped, colour values untouched."""
    rgba = random_image((5, 5, 4), seed=3)
    iio.imwrite(tmp_path / "rgba.png", rgba)
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), rgba[..., :3])


def test_read_16_bit_scales_to_8_bit_with_rounding(tmp_path):
    """16-bit samples map to round(x * 255 / 65535), for gray PNG and RGB TIFF."""
    samples = np.array([[0, 128, 129, 257], [32767, 32896, 65407, 65535]], np.uint16)
    expected = np.floor(samples * 255.0 / 65535.0 + 0.5).astype(np.uint8)
    iio.imwrite(tmp_path / "deep.png", samples)
    np.testing.assert_array_equal(read_image(tmp_path / "deep.png")[..., 0], expected)
    tifffile.imwrite(tmp_path / "deep.tif", np.stack([samples] * 3, axis=-1), photometric="rgb")
    np.testing.assert_array_equal(read_image(tmp_path / "deep.tif"), np.stack([expected] * 3, -1))


def test_channel_conversion_on_read(tmp_path):
    """channels=3 replicates gray; channels=1 applies BT.601 luma to RGB."""
    iio.imwrite(tmp_path / "gray.png", random_image((4, 4), seed=4))
    assert read_image(tmp_path / "gray.png", channels=3).shape == (4, 4, 3)
    colours = np.array([[[255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    iio.imwrite(tmp_path / "colours.png", colours)
    gray = read_image(tmp_path / "colours.png", channels=1)
    np.testing.assert_array_equal(gray[..., 0], [[255, 76, 150, 29]])
    np.testing.assert_array_equal(gray, rgb_to_gray(colours))


def test_undecodable_file_names_the_file(tmp_path):
    """A corrupt image raises ValueError naming its path."""
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="broken.png"):
        read_image(broken)


def test_list_images_is_sorted_and_case_insensitive(tmp_path):
    """Image extensions of any case are listed in name order; others are skipped."""
    for name in ("b.PNG", "a.jpeg", "c.TIF", "notes.txt", "d.bmp"):
        (tmp_path / name).write_bytes(b"")
    assert [path.name for path in list_images(tmp_path)] == ["a.jpeg", "b.PNG", "c.TIF", "d.bmp"]


def test_image_size_reads_the_header_only(tmp_path):
    """image_size gives (height, width) of gray and RGB files, and names a broken file."""
    write_image(tmp_path / "gray.png", random_image((9, 7)))
    write_image(tmp_path / "rgb.jpg", random_image((5, 12, 3)))
    assert image_size(tmp_path / "gray.png") == (9, 7)
    assert image_size(tmp_path / "rgb.jpg") == (5, 12)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.png"):
        image_size(tmp_path / "broken.png")


def test_16_bit_rgb_png_is_rounded_not_truncated(tmp_path):
    """16-bit colour PNGs map to round(x * 255 / 65535) too (Pillow alone would truncate)."""
    import png

    samples = np.array([[[129, 1129, 2129], [32896, 65407, 65535]]], np.uint16)
    png.from_array(samples.reshape(1, -1), mode="RGB;16").save(str(tmp_path / "deep.png"))
    expected = np.floor(samples.astype(np.float64) * 255.0 / 65535.0 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(read_image(tmp_path / "deep.png"), expected)
    assert expected[0, 0, 0] == 1  # truncation would give 0


def test_cmyk_jpeg_is_read_as_rgb(tmp_path):
    """A CMYK JPEG reads as the RGB colours it shows, not with inverted or dropped channels."""
    from PIL import Image

    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "red.jpg", quality=95)
    Image.new("CMYK", (16, 16), (0, 0, 0, 255)).save(tmp_path / "black.jpg", quality=95)
    red, black = read_image(tmp_path / "red.jpg"), read_image(tmp_path / "black.jpg")
    assert red.shape == (16, 16, 3)
    np.testing.assert_allclose(red.reshape(-1, 3).mean(axis=0), [255, 0, 0], atol=3)
    np.testing.assert_allclose(black.reshape(-1, 3).mean(axis=0), [0, 0, 0], atol=3)


def test_broken_symbolic_link_is_named_not_skipped(tmp_path):
    """list_images refuses a link to nothing instead of silently listing one image fewer."""
    write_image(tmp_path / "a.png", random_image((4, 4, 3)))
    (tmp_path / "b.png").symlink_to(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="Broken symbolic links .*: b.png"):
        list_images(tmp_path)
