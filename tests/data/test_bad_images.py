"""A corpus of odd and broken image files: each is read correctly or refused naming the file."""

import numpy as np
import png
import pytest
from PIL import Image

from data.images import ImageError
from data.images import image_size
from data.images import list_images
from data.images import read_image
from tests.helpers import write_image

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8)


def truncated(path, keep):
    write_image(path, RGB)
    path.write_bytes(path.read_bytes()[:keep])


def build_corpus(folder):
    """Writes the corpus; returns {file name: expected (uint8 array) or None for refused}."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = {}
    write_image(folder / "rgb.png", RGB)
    cases["rgb.png"] = RGB
    (folder / "empty.png").write_bytes(b"")
    cases["empty.png"] = None
    (folder / "text.png").write_text("not an image, only its name says so")
    cases["text.png"] = None
    truncated(folder / "header_only.png", 60)
    cases["header_only.png"] = None
    truncated(folder / "half.png", 120)
    cases["half.png"] = None
    (folder / "html.jpg").write_text("<html><body>404 Not Found</body></html>")
    cases["html.jpg"] = None
    write_image(folder / "tiny.png", RGB[:1, :1])
    cases["tiny.png"] = RGB[:1, :1]
    write_image(folder / "gray.png", RGB[..., 0])
    cases["gray.png"] = RGB[..., :1]
    gray_alpha = np.stack([RGB[..., 0], RGB[..., 1]], axis=-1)
    Image.fromarray(gray_alpha, mode="LA").save(folder / "gray_alpha.png")
    cases["gray_alpha.png"] = RGB[..., :1]
    rgba = np.concatenate([RGB, RGB[..., :1]], axis=-1)
    write_image(folder / "rgba.png", rgba)
    cases["rgba.png"] = RGB
    Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    cases["palette.png"] = np.asarray(Image.open(folder / "palette.png").convert("RGB"))
    deep = (RGB.astype(np.uint16) * 257)
    png.from_array(deep.reshape(12, -1), mode="RGB;16").save(str(folder / "deep_rgb.png"))
    cases["deep_rgb.png"] = RGB
    Image.new("CMYK", (6, 4), (0, 0, 255, 0)).save(folder / "cmyk.jpg", quality=100)
    cases["cmyk.jpg"] = np.full((4, 6, 3), (255, 255, 0), np.uint8)
    # Pillow's RGB to CMYK is 255 - RGB with no black, so the TIFF converts back exactly.
    Image.fromarray(RGB).convert("CMYK").save(folder / "cmyk.tif")
    cases["cmyk.tif"] = RGB
    Image.fromarray(RGB).convert("LAB").save(folder / "lab.tif")
    cases["lab.tif"] = None
    Image.fromarray(np.zeros((3, 5), bool)).save(folder / "bilevel.png")
    cases["bilevel.png"] = np.zeros((3, 5, 1), np.uint8)
    (folder / "folder.png").mkdir()
    (folder / "link.png").symlink_to(folder / "rgb.png")
    cases["link.png"] = RGB
    return cases


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad_images")
    return folder, build_corpus(folder)


def test_the_corpus_is_large_and_mixed(corpus):
    """Enough cases of both kinds for the test below to mean something."""
    _, cases = corpus
    assert len(cases) >= 15
    assert sum(value is None for value in cases.values()) >= 5


def test_every_file_is_read_correctly_or_refused_with_its_name(corpus):
    """Readable files give the right uint8 pixels; broken ones raise ImageError naming them in
    one line."""
    folder, cases = corpus
    for name, expected in cases.items():
        if expected is None:
            with pytest.raises(ImageError, match=name) as error:
                read_image(folder / name)
            assert "\n" not in str(error.value), str(error.value)
            continue
        image = read_image(folder / name)
        assert image.dtype == np.uint8 and image.ndim == 3, name
        tolerance = 2 if name.endswith(".jpg") else 0
        np.testing.assert_allclose(image.astype(int), expected.astype(int), atol=tolerance,
                                   err_msg=name)


def test_headers_give_sizes_or_name_the_file(corpus):
    """image_size reads the readable ones and refuses files with no image header by name."""
    folder, cases = corpus
    for name in ("empty.png", "text.png", "html.jpg"):
        with pytest.raises(ImageError, match=name):
            image_size(folder / name)
    assert image_size(folder / "tiny.png") == (1, 1)
    assert image_size(folder / "deep_rgb.png") == (12, 10)


def test_listing_skips_folders_and_follows_links(corpus):
    """A folder named like an image is not listed; a working link is."""
    folder, cases = corpus
    names = [path.name for path in list_images(folder)]
    assert "folder.png" not in names and "link.png" in names
    assert set(names) == set(cases)
