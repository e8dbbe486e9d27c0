"""Tests for image files (`data.images`) and image-set lookup (`data.testsets`)."""

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from data import images
from data import testsets
from data.images import list_images
from data.images import read_image
from data.images import rgb_to_gray
from data.images import write_image

SHARED_DATA = testsets.REPOSITORY_ROOT.parent / "shared" / "data"
needs_shared_data = pytest.mark.skipif(
    not (SHARED_DATA / "Set5").is_dir(), reason=f"benchmark images not found in {SHARED_DATA}"
)


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
    """RGB images written by write_image read back unchanged in lossless formats."""
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


def test_write_image_failure_keeps_old_file_and_no_temporary(tmp_path, monkeypatch):
    """A failed write leaves the previous file intact and no temporary file behind."""
    original = random_image((3, 3, 1))
    write_image(tmp_path / "out.png", original)

    def failing_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(images.iio, "imwrite", failing_write)
    with pytest.raises(OSError, match="disk full"):
        write_image(tmp_path / "out.png", random_image((3, 3, 1), seed=9))
    assert [path.name for path in tmp_path.iterdir()] == ["out.png"]
    np.testing.assert_array_equal(read_image(tmp_path / "out.png"), original)


def test_list_images_is_sorted_and_case_insensitive(tmp_path):
    """Image extensions of any case are listed in name order; others are skipped."""
    for name in ("b.PNG", "a.jpeg", "c.TIF", "notes.txt", "d.bmp"):
        (tmp_path / name).write_bytes(b"")
    assert [path.name for path in list_images(tmp_path)] == ["a.jpeg", "b.PNG", "c.TIF", "d.bmp"]


def test_every_set_has_a_task_and_colour():
    """Each registered set says whether it is for SR or denoising, gray or RGB."""
    for image_set in testsets.IMAGE_SETS.values():
        assert image_set.task in ("sr", "denoise") and image_set.colour in ("gray", "rgb")
        assert image_set.split in ("train", "valid", "test") and image_set.folders


def test_names_and_aliases_are_case_insensitive():
    """B100 and b100 resolve to BSD100; DIV2K to its training split."""
    assert testsets.get_image_set("b100").name == "BSD100"
    assert testsets.get_image_set("DIV2K").name == "DIV2K_train_HR"


def test_unknown_name_lists_known_sets():
    """An unknown set name raises ValueError listing the known names."""
    with pytest.raises(ValueError, match="Set5.*Urban100.*Received: name=Set6"):
        testsets.get_image_set("Set6")


def test_missing_set_names_every_path_and_the_download_command(tmp_path):
    """A missing set's error lists the folders searched and how to fetch the set."""
    with pytest.raises(FileNotFoundError) as error:
        testsets.find_set("BSD100", tmp_path)
    message = str(error.value)
    for folder in ("BSD100", "B100", "B100/HR"):
        assert str(tmp_path / folder) in message
    assert "make data SETS=BSD100" in message and "python -m data.download --sets BSD100" in message


def test_data_root_resolution_order(tmp_path, monkeypatch):
    """An explicit root wins, then $RESTORATION_DATA, then the repository defaults."""
    monkeypatch.setenv(testsets.DATA_ROOT_VARIABLE, str(tmp_path / "from_env"))
    assert testsets.resolve_data_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert testsets.resolve_data_root() == tmp_path / "from_env"
    monkeypatch.delenv(testsets.DATA_ROOT_VARIABLE)
    defaults = testsets.candidate_roots()
    assert defaults[0] == testsets.REPOSITORY_ROOT / "datasets"
    assert testsets.resolve_data_root() in defaults


def test_load_set_reads_sorted_images_from_nested_layout(tmp_path):
    """Sets stored as <name>/HR are found and loaded in name order."""
    (tmp_path / "Set5" / "HR").mkdir(parents=True)
    for index, name in enumerate(("woman", "baby")):
        write_image(tmp_path / "Set5" / "HR" / f"{name}.png", random_image((4, 6, 3), seed=index))
    loaded = testsets.load_set("set5", tmp_path)
    assert [name for name, _ in loaded] == ["baby", "woman"]
    assert all(image.dtype == np.uint8 and image.shape == (4, 6, 3) for _, image in loaded)


@needs_shared_data
def test_shared_set14_keeps_gray_bridge_gray():
    """Set14 loads 14 images; `bridge` stays single-channel as in the original set."""
    images = dict(testsets.load_set("Set14", SHARED_DATA))
    assert len(images) == 14
    assert images["bridge"].shape[-1] == 1 and images["lenna"].shape[-1] == 3


@needs_shared_data
def test_shared_bsd68_is_rgb_to_gray_of_cbsd68():
    """BSD68 equals rgb_to_gray of CBSD68 pixel for pixel (first three images)."""
    gray = [path for path in list_images(SHARED_DATA / "BSD68")][:3]
    colour = [path for path in list_images(SHARED_DATA / "CBSD68")][:3]
    for gray_path, colour_path in zip(gray, colour):
        np.testing.assert_array_equal(read_image(gray_path), read_image(colour_path, channels=1))
