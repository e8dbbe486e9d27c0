"""Colour models other than gray and RGB, per container: decoded right or refused in one line."""

import numpy as np
import png
import pytest
import tifffile
from PIL import Image

from data.images import ImageError
from data.images import image_size
from data.images import read_image

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8)
# Random inks with black (K) too, so a dropped or inverted channel shows everywhere.
CMYK = RNG.integers(0, 256, (12, 10, 4), dtype=np.uint8)


def pillow_rgb(path):
    """What Pillow shows: the reference for CMYK and palette files."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def cmyk_to_rgb(cmyk):
    """The textbook CMYK to RGB, (255 - ink) * (255 - K) / 255, independent of Pillow."""
    cmyk = cmyk.astype(np.float64)
    return np.rint((255 - cmyk[..., :3]) * (255 - cmyk[..., 3:]) / 255).astype(int)


def assert_one_line_naming(error, path):
    message = str(error.value)
    assert "\n" not in message and path.name in message, message
    assert "pip install" not in message, message


def write_cmyk(path, writer):
    if writer == "pillow":
        Image.fromarray(CMYK, mode="CMYK").save(path, **({"quality": 100} if path.suffix ==
                                                          ".jpg" else {}))
    elif writer == "tifffile":
        tifffile.imwrite(path, CMYK, photometric="separated")
    else:  # 16-bit samples, which Pillow reads as their top 8 bits.
        tifffile.imwrite(path, CMYK.astype(np.uint16) * 257, photometric="separated")


@pytest.mark.parametrize("name, writer", [("pillow.tif", "pillow"), ("tifffile.tif", "tifffile"),
                                          ("deep.tif", "tifffile16"), ("pillow.jpg", "pillow")])
def test_cmyk_reads_as_the_rgb_it_shows(tmp_path, name, writer):
    """CMYK TIFF (8- or 16-bit, any writer) and CMYK JPEG equal Pillow's RGB conversion.

    The TIFFs once lost K and read the inverted inks as RGB: ~100+ levels off.
    """
    path = tmp_path / name
    write_cmyk(path, writer)
    image = read_image(path)
    assert image.shape == (12, 10, 3) and image.dtype == np.uint8
    np.testing.assert_allclose(image.astype(int), pillow_rgb(path), atol=1)
    if path.suffix == ".tif":  # Lossless: the exact colours of the inks.
        np.testing.assert_allclose(image.astype(int), cmyk_to_rgb(CMYK), atol=1)
    else:
        assert np.abs(image.astype(int) - cmyk_to_rgb(CMYK)).mean() < 8


def test_cmyk_tiff_known_colours(tmp_path):
    """Pure inks give the colours they print: red, black, white, blue."""
    inks = np.array([[[0, 255, 255, 0], [0, 0, 0, 255], [0, 0, 0, 0], [255, 255, 0, 0]]],
                    np.uint8)
    Image.fromarray(inks, mode="CMYK").save(tmp_path / "inks.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "inks.tif")[0],
                                  [[255, 0, 0], [0, 0, 0], [255, 255, 255], [0, 0, 255]])


@pytest.mark.parametrize("name", ["ycbcr.tif", "lab.tif"])
def test_ycbcr_and_lab_tiffs_are_refused_in_one_line(tmp_path, name):
    """Colour models read_image does not convert are refused, naming the file and the model."""
    path = tmp_path / name
    Image.fromarray(RGB).convert("YCbCr" if name.startswith("ycbcr") else "LAB").save(path)
    with pytest.raises(ImageError, match="colour model (YCbCr|LAB).*convert it to RGB|"
                                         "convert it to RGB.*colour model (YCbCr|LAB)") as error:
        read_image(path)
    assert_one_line_naming(error, path)
    assert image_size(path) == (12, 10)


def test_tiff_pillow_cannot_open_is_judged_by_its_photometric_tag(tmp_path):
    """16-bit CIELab (Pillow cannot open it) is refused; 16-bit gray+alpha is read as gray."""
    lab = tmp_path / "lab16.tif"
    tifffile.imwrite(lab, RNG.integers(0, 65536, (4, 5, 3), dtype=np.uint16),
                     photometric="cielab")
    with pytest.raises(ImageError, match="CIELAB") as error:
        read_image(lab)
    assert_one_line_naming(error, lab)
    gray_alpha = tmp_path / "gray_alpha16.tif"
    samples = RNG.integers(0, 65536, (4, 5, 2), dtype=np.uint16)
    tifffile.imwrite(gray_alpha, samples, photometric="minisblack", extrasamples=[2])
    expected = np.floor(samples[..., :1] * 255.0 / 65535.0 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(read_image(gray_alpha), expected)
    assert image_size(gray_alpha) == (4, 5)


@pytest.mark.parametrize("extension", [".png", ".bmp", ".tif"])
def test_palette_images_read_as_their_rgb(tmp_path, extension):
    """Palette PNG, BMP and TIFF give their colours (the TIFF once gave its indices as gray)."""
    path = tmp_path / f"palette{extension}"
    Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(path)
    image = read_image(path)
    assert image.shape == (12, 10, 3)
    np.testing.assert_array_equal(image, pillow_rgb(path))
    assert np.abs(image.astype(int) - RGB).mean() < 40  # Near the source, 16 colours or not.


def test_white_is_zero_tiff_reads_as_shown(tmp_path):
    """A MINISWHITE gray TIFF reads as displayed (255 - stored), not as stored."""
    path = tmp_path / "white_is_zero.tif"
    tifffile.imwrite(path, RGB[..., 0], photometric="miniswhite")
    np.testing.assert_array_equal(read_image(path)[..., 0], 255 - RGB[..., 0])


@pytest.mark.parametrize("extension", [".png", ".tif"])
def test_gray_alpha_reads_as_gray(tmp_path, extension):
    """Gray+alpha PNG and TIFF give their gray channel."""
    path = tmp_path / f"gray_alpha{extension}"
    Image.fromarray(np.stack([RGB[..., 0], RGB[..., 1]], axis=-1), mode="LA").save(path)
    np.testing.assert_array_equal(read_image(path), RGB[..., :1])


def test_16_bit_gray_alpha_png_is_gray_and_rounded(tmp_path):
    """16-bit gray+alpha PNG is read by pypng: one gray channel, rounded (Pillow truncates)."""
    samples = np.array([[[129, 65535], [32896, 0], [65151, 7]]], np.uint16)
    png.from_array(samples.reshape(1, -1), mode="LA;16").save(str(tmp_path / "deep.png"))
    image = read_image(tmp_path / "deep.png")
    np.testing.assert_array_equal(image, [[[1], [128], [254]]])  # Truncation: 0, 128, 253.


def test_jpeg_compressed_tiff_is_decoded(tmp_path):
    """A JPEG-compressed TIFF (tifffile alone would need imagecodecs) reads as Pillow shows it."""
    path = tmp_path / "jpeg.tif"
    Image.fromarray(RGB).save(path, compression="jpeg", quality=95)
    image = read_image(path)
    np.testing.assert_array_equal(image, pillow_rgb(path))
    assert np.abs(image.astype(int) - RGB).mean() < 15


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
@pytest.mark.parametrize("name, content", [("text.png", b"not an image, only its name says so"),
                                           ("html.jpg", b"<html><body>404</body></html>"),
                                           ("empty.png", b""), ("text.tif", b"II*\x00 no IFD")])
def test_undecodable_file_message_is_one_line(tmp_path, name, content):
    """A file that is no image is refused in one line naming it, with no plugin hints."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError, match="Could not decode") as error:
        read_image(path)
    assert_one_line_naming(error, path)
    with pytest.raises(ImageError, match="Could not read the image header") as error:
        image_size(path)
    assert_one_line_naming(error, path)


def test_a_file_of_another_format_is_refused_by_name_in_header_and_pixels(tmp_path):
    """A GIF named .png: one line naming the file and its real format, from either reader."""
    path = tmp_path / "animated.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(path, format="GIF")
    for reader in (read_image, image_size):
        with pytest.raises(ImageError, match=f"Received: a GIF file in path={path}$"):
            reader(path)
