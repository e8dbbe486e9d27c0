"""What a configuration needs on disk, checked before anything runs.

The schema checks names; this module checks that the images behind them
are there: every image set a run names exists under its data root (the
message gives the download command), a training folder holds images, and a
training patch fits in the smallest training image. Image sizes come from
file headers, so the check costs milliseconds even for large sets.
"""

import functools

from data.builtin import load_builtin
from data.images import ImageError
from data.images import image_size
from data.images import list_images
from data.imagesets import find_set
from restoration.config.loading import ConfigError
from restoration.config.loading import describe
from restoration.config.schema import BUILTIN_SET


def check_data_on_disk(config, source):
    """Raises `ConfigError` for the first data problem of a run configuration.

    Args:
        config: A `RunConfig`.
        source: The file the configuration came from, for error messages.
    """
    data = config.data
    for key in ("train", "validation"):
        if getattr(data, key) is not None:
            sizes = _source_sizes(getattr(data, key), data.root, f"data.{key}", source)
            if key == "train":
                _check_patch_fits(config, sizes, source)
    for index, name in enumerate(data.test_sets):
        if name != BUILTIN_SET:
            _find_set(name, data.root, f"data.test_sets[{index}]", source)


def _find_set(name, root, key, source):
    try:
        return find_set(name, root)
    except (FileNotFoundError, ImageError) as error:
        raise ConfigError(source, key, f"an image set on disk ({error})", describe(name)) from None


def _source_sizes(data_source, root, key, source):
    """`(path or name, (height, width))` of the images a data source reads, in name order."""
    if data_source.source == "builtin":
        sizes = _builtin_sizes(data_source.name)
    else:
        if data_source.source == "set":
            folder = _find_set(data_source.name, root, f"{key}.name", source)
        else:
            folder = data_source.path
        try:
            paths = list_images(folder)
        except FileNotFoundError:
            raise ConfigError(source, f"{key}.path", "an existing folder of images",
                              describe(data_source.path)) from None
        except ImageError as error:
            # A symbolic link to nothing: an image the folder means to hold but cannot.
            raise ConfigError(source, f"{key}.path", "a folder of readable images",
                              str(error)) from None
        if not paths:
            raise ConfigError(source, f"{key}.path", "a folder that holds png, jpg, bmp or tif "
                              "images", f"{describe(data_source.path)}, which holds none")
        try:
            sizes = [(str(path), image_size(path)) for path in paths]
        except ValueError as error:
            raise ConfigError(source, key, "readable images", str(error)) from None
    sizes = sorted(sizes)
    return sizes[: data_source.max_images] if data_source.max_images else sizes


@functools.cache
def _builtin_sizes(split):
    return tuple((name, image.shape[:2]) for name, image in load_builtin(split))


def _check_patch_fits(config, sizes, source):
    """A training patch must fit in every training image (its low-resolution version for sr)."""
    factor = config.task.scale if config.task.type == "sr" else 1
    name, (height, width) = min(sizes, key=lambda item: min(item[1]))
    limit = min(height, width) // factor
    if config.data.patch_size > limit:
        side = "low-resolution side" if factor > 1 else "side"
        expected = (
            f"at most {limit}, the shortest {side} of the training images "
            f"({name} is {height}x{width} pixels)"
        )
        raise ConfigError(source, "data.patch_size", expected, describe(config.data.patch_size))
