"""What a configuration needs on disk, checked before anything runs.

The schema checks names; this module checks that the images behind them
are there: every image set a run names exists under its data root (the
message gives the download command), a training folder holds images, and a
training patch fits in the smallest training image. Image sizes come from
file headers, so the check costs milliseconds even for large sets.
"""

import functools
import os

from data import pairs
from data.builtin import load_builtin
from data.images import ImageError
from data.images import image_size
from data.images import list_images
from data.imagesets import find_set
from restoration.config.loading import ConfigError
from restoration.config.loading import describe
from restoration.config.schema import BUILTIN_SET
from restoration.config.schema import PAIR_KEYS


def check_data_on_disk(config, source):
    """Raises `ConfigError` for the first data problem of a run configuration.

    Args:
        config: A `RunConfig`.
        source: The file the configuration came from, for error messages.
    """
    data = config.data
    for key in ("train", "validation"):
        entry = getattr(data, key)
        if entry is None:
            continue
        if entry.source == "paired":
            found = paired_sets(entry, config.task, f"data.{key}", source)
            sizes = [(str(pair.input), image_size(pair.input)) for pair in found]
        else:
            sizes = _source_sizes(entry, data.root, f"data.{key}", source)
        if key == "train":
            # A paired input is the low-resolution side already.
            downscaled = config.task.type == "sr" and entry.source != "paired"
            _check_patch_fits(config, sizes, source, config.task.scale if downscaled else 1)
    for index, name in enumerate(data.test_sets):
        if name != BUILTIN_SET:
            _find_set(name, data.root, f"data.test_sets[{index}]", source)
    for index, entry in enumerate(data.paired_test_sets):
        paired_sets(entry, config.task, f"data.paired_test_sets[{index}]", source)
    # After the data, whose errors name a download command: this file is the user's to make.
    init_from = config.model.init_from
    if init_from is not None and not (init_from.endswith(".keras") and os.path.isfile(init_from)):
        raise ConfigError(source, "model.init_from", "an existing .keras file (python -m sr_models.convert "
                          "writes the authors' weights as one)", describe(init_from))


def paired_sets(entry, task, key, source):
    """The `data.pairs.Pair`s of a paired source, every pair checked; `ConfigError` otherwise.

    Every problem is one line of the message, naming the files.
    """
    template = entry.template or pairs.DEFAULT_TEMPLATE
    scale = task.scale if task.type == "sr" else 1
    try:
        found = pairs.match_pairs(*entry.folders(task.type), template)
        pairs.check_sizes(found, scale)
    except FileNotFoundError as error:
        raise ConfigError(source, key, "existing folders of images", str(error)) from None
    except ImageError as error:
        raise ConfigError(source, key, "readable images", str(error)) from None
    except pairs.PairError as error:
        problems = str(error).splitlines()
        expected = (f"{' and '.join(PAIR_KEYS[task.type])} images that pair up (template "
                    f"{template!r}, scale {scale})")
        received = f"{len(problems)} problem(s):\n  " + "\n  ".join(problems)
        raise ConfigError(source, key, expected, received) from None
    return found[: entry.max_images] if entry.max_images else found


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


def _check_patch_fits(config, sizes, source, factor):
    """A training patch must fit in every training image, its sizes divided by `factor` (the
    scale for sr images that are not low-resolution already, else 1)."""
    name, (height, width) = min(sizes, key=lambda item: min(item[1]))
    limit = min(height, width) // factor
    if config.data.patch_size > limit:
        side = "low-resolution side" if factor > 1 else "side"
        expected = (
            f"at most {limit}, the shortest {side} of the training images "
            f"({name} is {height}x{width} pixels)"
        )
        raise ConfigError(source, "data.patch_size", expected, describe(config.data.patch_size))
