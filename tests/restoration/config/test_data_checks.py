"""What a config needs on disk is checked at load: sets, folders, image and patch sizes."""

import numpy as np
import pytest
import yaml

from restoration.config import ConfigError
from restoration.config import load_config
from tests.helpers import write_image

TREE = {
    "experiment": {"name": "disk", "seeds": [0]},
    "task": {"type": "sr", "scale": 2},
    "model": {"name": "edsr", "num_blocks": 1, "filters": 4},
    "data": {"train": {"source": "builtin", "name": "train"}, "patch_size": 12, "batch_size": 2},
    "training": {"steps": 1},
}


def write(tmp_path, **data):
    tree = {**TREE, "data": {**TREE["data"], **data}}
    path = tmp_path / "disk.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def image_folder(folder, shapes):
    for index, shape in enumerate(shapes):
        write_image(folder / f"image{index}.png", np.full(shape, 100, np.uint8))
    return folder


def test_folder_source_sizes_decide_the_largest_patch(tmp_path):
    """An sr patch fits when the smallest image's low-resolution side holds it, not otherwise."""
    folder = image_folder(tmp_path / "train", [(60, 50, 3), (41, 80, 3)])
    train = {"source": "folder", "path": str(folder)}
    assert load_config(write(tmp_path, train=train, patch_size=20)).arm("main", 0)
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, train=train, patch_size=21))
    assert raised.value.key == "data.patch_size"
    assert "at most 20" in str(raised.value)
    assert f"{folder / 'image1.png'} is 41x80 pixels" in str(raised.value)


def test_max_images_limits_the_images_that_must_fit(tmp_path):
    """Only the images a run reads (the first max_images by name) bound the patch."""
    folder = image_folder(tmp_path / "train", [(60, 60, 3), (20, 20, 3)])
    train = {"source": "folder", "path": str(folder), "max_images": 1}
    assert load_config(write(tmp_path, train=train, patch_size=30)).arm("main", 0)


def test_missing_or_empty_folder_is_named(tmp_path):
    """A training folder that does not exist, or holds no image, is a ConfigError at its path."""
    for path in (tmp_path / "absent", tmp_path):
        with pytest.raises(ConfigError) as raised:
            load_config(write(tmp_path, train={"source": "folder", "path": str(path)}))
        assert raised.value.key == "data.train.path"


def test_unreadable_image_is_named(tmp_path):
    """A training file that is not an image is reported with its path."""
    folder = image_folder(tmp_path / "train", [(40, 40, 3)])
    (folder / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ConfigError, match="broken.png") as raised:
        load_config(write(tmp_path, train={"source": "folder", "path": str(folder)}))
    assert raised.value.key == "data.train"


@pytest.mark.parametrize("link", ["broken", "loop"])
def test_a_dangling_link_in_a_training_folder_or_set_is_named(tmp_path, link):
    """A symbolic link to nothing (or to itself) is a ConfigError naming it, at load."""
    folder = image_folder(tmp_path / "train", [(40, 40, 3)])
    target = tmp_path / "gone.png" if link == "broken" else folder / "dead.png"
    (folder / "dead.png").symlink_to(target)
    with pytest.raises(ConfigError, match="Broken symbolic links in .*train: dead.png") as raised:
        load_config(write(tmp_path, train={"source": "folder", "path": str(folder)}))
    assert raised.value.key == "data.train.path"
    image_folder(tmp_path / "Set5", [(30, 30, 3)] * 4)
    (tmp_path / "Set5" / "dead.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(ConfigError, match="dead.png") as raised:
        load_config(write(tmp_path, root=str(tmp_path), test_sets=["Set5"]))
    assert raised.value.key == "data.test_sets[0]"


def test_sets_are_looked_up_under_the_data_root(tmp_path):
    """A named set must be under data.root; the message gives the download command."""
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, root=str(tmp_path), test_sets=["builtin", "Set14"]))
    assert raised.value.key == "data.test_sets[1]"
    assert "make data SETS=Set14" in str(raised.value)
    image_folder(tmp_path / "Set14", [(30, 30, 3)] * 14)
    assert load_config(write(tmp_path, root=str(tmp_path), test_sets=["Set14"])).arm("main", 0)


def test_check_data_can_be_turned_off(tmp_path):
    """Tools that never read images may skip the disk checks."""
    path = write(tmp_path, root=str(tmp_path), test_sets=["Set14"], patch_size=5000)
    assert load_config(path, check_data=False).arm("main", 0).data.patch_size == 5000


def test_an_arm_with_other_data_is_checked_and_named(tmp_path):
    """An arm that reads other data is checked too, its error under the arm's key."""
    tree = dict(TREE, experiment={"name": "disk", "seeds": [0], "arms": {
        "same": {}, "big": {"data.patch_size": 900},
    }})
    path = tmp_path / "arms.yaml"
    path.write_text(yaml.safe_dump(tree))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.key == "experiment.arms.big.data.patch_size"
