"""Tests for image-set lookup and loading (`data.imagesets`)."""

import numpy as np
import pytest

from data import imagesets
from data.images import list_images
from data.images import read_image
from tests.helpers import SHARED_DATA
from tests.helpers import write_image

needs_shared_data = pytest.mark.skipif(
    not (SHARED_DATA / "Set5").is_dir(), reason=f"benchmark images not found in {SHARED_DATA}"
)


def random_image(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def test_every_set_has_a_task_and_colour():
    """Each registered set says whether it is for SR or denoising, gray or RGB."""
    for image_set in imagesets.IMAGE_SETS.values():
        assert image_set.task in ("sr", "denoise") and image_set.colour in ("gray", "rgb")
        assert image_set.split in ("train", "valid", "test") and image_set.folders


def test_names_and_aliases_are_case_insensitive():
    """B100 and b100 resolve to BSD100; DIV2K to its training split."""
    assert imagesets.get_image_set("b100").name == "BSD100"
    assert imagesets.get_image_set("DIV2K").name == "DIV2K_train_HR"


def test_unknown_name_lists_known_sets():
    """An unknown set name raises ValueError listing the known names."""
    with pytest.raises(ValueError, match="Set5.*Urban100.*Received: name=Set6"):
        imagesets.get_image_set("Set6")


def test_missing_set_names_every_path_and_the_download_command(tmp_path):
    """A missing set's error lists the folders searched and how to fetch the set."""
    with pytest.raises(FileNotFoundError) as error:
        imagesets.find_set("BSD100", tmp_path)
    message = str(error.value)
    for folder in ("BSD100", "B100", "B100/HR"):
        assert str(tmp_path / folder) in message
    assert "make data SETS=BSD100" in message and "python -m data.download --sets BSD100" in message


def test_data_root_resolution_order(tmp_path, monkeypatch):
    """An explicit root wins, then $RESTORATION_DATA, then the repository defaults."""
    monkeypatch.setenv(imagesets.DATA_ROOT_VARIABLE, str(tmp_path / "from_env"))
    assert imagesets.resolve_data_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert imagesets.resolve_data_root() == tmp_path / "from_env"
    monkeypatch.delenv(imagesets.DATA_ROOT_VARIABLE)
    defaults = imagesets.candidate_roots()
    assert defaults[0] == imagesets.REPOSITORY_ROOT / "datasets"
    assert imagesets.resolve_data_root() in defaults


def test_load_set_reads_sorted_images_from_nested_layout(tmp_path):
    """Sets stored as <name>/HR are found and loaded in name order."""
    (tmp_path / "Set5" / "HR").mkdir(parents=True)
    names = ("woman", "baby", "head", "bird", "butterfly")
    for index, name in enumerate(names):
        write_image(tmp_path / "Set5" / "HR" / f"{name}.png", random_image((4, 6, 3), seed=index))
    loaded = imagesets.load_set("set5", tmp_path)
    assert [name for name, _ in loaded] == sorted(names)
    assert all(image.dtype == np.uint8 and image.shape == (4, 6, 3) for _, image in loaded)


def test_a_set_with_another_image_count_is_refused(tmp_path):
    """A folder with fewer (or more) images than the set has is an error with both counts."""
    for index in range(4):
        write_image(tmp_path / "Set5" / f"image{index}.png", random_image((4, 4, 3), seed=index))
    with pytest.raises(FileNotFoundError, match="holds 4 images, expected 5") as raised:
        imagesets.find_set("Set5", tmp_path)
    assert "make data SETS=Set5" in str(raised.value)


def test_an_incomplete_set_lists_the_images_it_lacks(tmp_path):
    """With the reference file list, the error names the missing and the foreign images."""
    for index, name in enumerate(("baby", "bird", "butterfly", "notes")):
        write_image(tmp_path / "Set5" / f"{name}.png", random_image((4, 4, 3), seed=index))
    with pytest.raises(FileNotFoundError) as raised:
        imagesets.find_set("Set5", tmp_path)
    assert "missing: head, woman; not in the set: notes" in str(raised.value)


def test_reference_file_lists_match_the_registered_sizes():
    """Every set with a reference file list lists exactly as many files as it has images."""
    for name, image_set in imagesets.IMAGE_SETS.items():
        stems = imagesets.reference_stems(name)
        assert not stems or len(stems) == image_set.size, name


def test_a_broken_link_in_a_set_is_named(tmp_path):
    """A symbolic link to nothing is named instead of being silently left out."""
    for index in range(5):
        write_image(tmp_path / "Set5" / f"image{index}.png", random_image((4, 4, 3), seed=index))
    (tmp_path / "Set5" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(ValueError, match="Broken symbolic links in .*Set5: gone.png"):
        imagesets.find_set("Set5", tmp_path)


@needs_shared_data
def test_shared_set14_keeps_gray_bridge_gray():
    """Set14 loads 14 images; `bridge` stays single-channel as in the original set."""
    images = dict(imagesets.load_set("Set14", SHARED_DATA))
    assert len(images) == 14
    assert images["bridge"].shape[-1] == 1 and images["lenna"].shape[-1] == 3


@needs_shared_data
def test_shared_bsd68_is_rgb_to_gray_of_cbsd68():
    """BSD68 equals rgb_to_gray of CBSD68 pixel for pixel (first three images)."""
    gray = [path for path in list_images(SHARED_DATA / "BSD68")][:3]
    colour = [path for path in list_images(SHARED_DATA / "CBSD68")][:3]
    for gray_path, colour_path in zip(gray, colour):
        np.testing.assert_array_equal(read_image(gray_path), read_image(colour_path, channels=1))


@needs_shared_data
def test_shared_sets_are_complete_and_match_their_reference_lists():
    """Every benchmark set beside the repository is found whole, with the reference file names."""
    for name in ("Set5", "Set14", "BSD100", "Urban100", "Set12", "BSD68", "CBSD68", "Kodak24",
                 "McMaster", "T91", "Train400"):
        folder = imagesets.find_set(name, SHARED_DATA)
        assert {path.stem for path in list_images(folder)} == imagesets.reference_stems(name)
