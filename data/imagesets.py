"""Where benchmark and training image sets live, and how to load them.

Each set is described once (task, colour, folder names). Lookup searches
an explicit root, else `$RESTORATION_DATA`, else the repository's
`datasets/` folder (filled by `python -m data.download`) and the shared
`../shared/data` folder beside the repository.
"""

import dataclasses
import functools
import os
import pathlib

from data.images import list_images
from data.images import read_image

DATA_ROOT_VARIABLE = "RESTORATION_DATA"
REPOSITORY_ROOT = pathlib.Path(__file__).resolve().parents[1]
STEMS_FILE = pathlib.Path(__file__).resolve().parent / "set_stems.tsv"


@dataclasses.dataclass(frozen=True)
class ImageSet:
    """Description of one image set.

    Args:
        name: canonical name, also the command-line spelling.
        task: `"sr"` (super-resolution) or `"denoise"`.
        colour: `"rgb"` or `"gray"`, the channels its images are used with.
        split: `"test"` for benchmarks, `"train"` or `"valid"` for training data.
        folders: relative folders that may hold the images, first match wins.
        size: how many images the set holds; a folder with another count is refused.
        aliases: other names accepted for the set.
    """

    name: str
    task: str
    colour: str
    split: str
    folders: tuple
    size: int
    aliases: tuple = ()


IMAGE_SETS = {
    image_set.name: image_set
    for image_set in (
        ImageSet("Set5", "sr", "rgb", "test", ("Set5", "Set5/HR"), 5),
        ImageSet("Set14", "sr", "rgb", "test", ("Set14", "Set14/HR"), 14),
        ImageSet("BSD100", "sr", "rgb", "test", ("BSD100", "B100", "B100/HR"), 100, ("B100",)),
        ImageSet("Urban100", "sr", "rgb", "test", ("Urban100", "Urban100/HR"), 100),
        ImageSet("Manga109", "sr", "rgb", "test", ("Manga109", "Manga109/HR"), 109),
        ImageSet("Set12", "denoise", "gray", "test", ("Set12",), 12),
        ImageSet("BSD68", "denoise", "gray", "test", ("BSD68",), 68),
        ImageSet("CBSD68", "denoise", "rgb", "test", ("CBSD68",), 68),
        ImageSet("Kodak24", "denoise", "rgb", "test", ("Kodak24",), 24),
        ImageSet("McMaster", "denoise", "rgb", "test", ("McMaster",), 18),
        ImageSet("T91", "sr", "rgb", "train", ("T91",), 91),
        ImageSet("Train400", "denoise", "gray", "train", ("Train400",), 400),
        ImageSet("DIV2K_train_HR", "sr", "rgb", "train", ("DIV2K_train_HR", "DIV2K/DIV2K_train_HR"), 800,
                 ("DIV2K",)),
        ImageSet("DIV2K_valid_HR", "sr", "rgb", "valid", ("DIV2K_valid_HR", "DIV2K/DIV2K_valid_HR"), 100),
    )
}


def get_image_set(name):
    """Returns the `ImageSet` registered under `name` or one of its aliases.

    Args:
        name: set name, case-insensitive (e.g. `"Set5"`, `"b100"`).

    Returns:
        An `ImageSet`.
    """
    wanted = str(name).lower()
    for image_set in IMAGE_SETS.values():
        if wanted in (spelling.lower() for spelling in (image_set.name,) + image_set.aliases):
            return image_set
    known = ", ".join(spelling for s in IMAGE_SETS.values() for spelling in (s.name,) + s.aliases)
    raise ValueError(f"Unknown image set. Expected one of: {known}. Received: name={name}")


def candidate_roots(explicit=None):
    """Data roots searched in order: explicit, else `$RESTORATION_DATA`, else the defaults.

    Args:
        explicit: a root given by the caller, e.g. from `--data-root`.

    Returns:
        List of `pathlib.Path`, possibly not existing.
    """
    if explicit is not None:
        return [pathlib.Path(explicit)]
    if os.environ.get(DATA_ROOT_VARIABLE):
        return [pathlib.Path(os.environ[DATA_ROOT_VARIABLE])]
    return [REPOSITORY_ROOT / "datasets", REPOSITORY_ROOT.parent / "shared" / "data"]


def resolve_data_root(explicit=None):
    """The data root to use: the first candidate that exists, else the first one.

    Args:
        explicit: a root given by the caller; returned unchanged when given.

    Returns:
        `pathlib.Path` of the data root.
    """
    roots = candidate_roots(explicit)
    for root in roots:
        if root.is_dir():
            return root
    return roots[0]


def _download_hint(image_set):
    return (f"Fetch it with `make data SETS={image_set.name}` (python -m data.download --sets "
            f"{image_set.name}), or set ${DATA_ROOT_VARIABLE} to a folder that holds it.")


@functools.cache
def reference_stems(set_name):
    """The file stems the set's reference copy holds (`data/set_stems.tsv`); empty if unknown."""
    if set_name == "DIV2K_train_HR":
        return frozenset(f"{index:04d}" for index in range(1, 801))
    if set_name == "DIV2K_valid_HR":
        return frozenset(f"{index:04d}" for index in range(801, 901))
    lines = STEMS_FILE.read_text().splitlines()
    return frozenset(line.split("\t")[1] for line in lines
                     if not line.startswith("#") and line.split("\t")[0] == set_name)


def _difference(image_set, images):
    """Names the images a folder lacks and those it should not hold, where the set's files are known."""
    expected = reference_stems(image_set.name)
    if not expected:
        return ""
    present = {path.stem for path in images}

    def listing(names):
        names = sorted(names)
        return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")

    parts = []
    if expected - present:
        parts.append(f"missing: {listing(expected - present)}")
    if present - expected:
        parts.append(f"not in the set: {listing(present - expected)}")
    return f" ({'; '.join(parts)})" if parts else ""


def find_set(name, root=None):
    """Finds the folder holding the images of a set.

    Args:
        name: set name or alias.
        root: data root; `None` searches the default roots in order.

    Returns:
        `pathlib.Path` of the first candidate folder holding at least one image.
        A folder holding another number of images than the set has is a
        `FileNotFoundError` giving both counts and how to fetch the set again.
    """
    image_set = get_image_set(name)
    searched = []
    for data_root in candidate_roots(root):
        for folder in image_set.folders:
            path = data_root / folder
            searched.append(str(path))
            images = list_images(path) if path.is_dir() else []
            if images and len(images) != image_set.size:
                raise FileNotFoundError(
                    f"Image set {image_set.name} in {path} holds {len(images)} images, expected "
                    f"{image_set.size}{_difference(image_set, images)}. Delete {path}, then: "
                    + _download_hint(image_set)
                )
            if images:
                return path
    raise FileNotFoundError(f"Image set {image_set.name} not found; searched: {', '.join(searched)}. "
                            + _download_hint(image_set))


def load_set(name, root=None, channels=None):
    """Loads every image of a set, sorted by file name.

    Args:
        name: set name or alias.
        root: data root; `None` searches the default roots.
        channels: `None` keeps each file's channels, so the gray `bridge`
            of Set14 stays gray and is scored as published; 1 or 3 converts.

    Returns:
        List of `(stem, image)` with `image` a uint8 `(height, width, channels)` array.
    """
    folder = find_set(name, root)
    return [(path.stem, read_image(path, channels)) for path in list_images(folder)]
