"""Natural photographs shipped inside scikit-image, split for offline runs.

A few colour photographs are installed with the scikit-image package itself,
so smoke tests, tutorials and continuous integration can train and validate
a model with no dataset on disk and no network access.

Which images. Only RGB photographs that scikit-image installs with the
package are used: `astronaut`, `chelsea`, `coffee`, `rocket`,
`motorcycle_left` and `motorcycle_right` (a stereo pair),
`hubble_deep_field` and `immunohistochemistry`. Left out are images that
need a download on first use (`eagle`, `lily`, `skin`, `cells3d`, ...),
gray ones (`camera`, `moon`, `coins`, `page`, `text`, the `brick`, `grass`
and `gravel` textures, and `clock`, which is motion-blurred), synthetic ones
(`colorwheel`, `logo`, `horse`, `checkerboard`), `cat` (the same picture as
`chelsea`) and `retina`, whose fundus photograph is mostly black border.
Gray versions (`channels=1`) are made from the RGB photographs with
MATLAB's `rgb2gray` weights, as the gray BSD68 benchmark is made from BSD.

The split is a fixed table, not a random draw, so it cannot change between
versions; both halves of the stereo pair sit in the same split because they
show nearly the same scene.
"""

import numpy as np
import skimage.data

from data.images import rgb_to_gray

BUILTIN_SPLITS = {
    "train": ("motorcycle_left", "motorcycle_right", "hubble_deep_field", "immunohistochemistry"),
    "validation": ("chelsea", "coffee"),
    "test": ("astronaut", "rocket"),
}


def _load_rgb(name):
    """Loads one photograph from `skimage.data` as uint8 `(height, width, 3)`."""
    loaders = {
        "motorcycle_left": lambda: skimage.data.stereo_motorcycle()[0],
        "motorcycle_right": lambda: skimage.data.stereo_motorcycle()[1],
    }
    loader = loaders[name] if name in loaders else getattr(skimage.data, name)
    image = np.asarray(loader())
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError("Expected skimage.data to return a uint8 RGB image. "
                         f"Received: name={name}, dtype={image.dtype}, shape={image.shape}")
    return image


def builtin_names(split):
    """Returns the names of the photographs in a split.

    Args:
        split: `"train"`, `"validation"` or `"test"`.

    Returns:
        tuple of image names, in a fixed order.
    """
    if split not in BUILTIN_SPLITS:
        raise ValueError(f"Unknown split. Expected one of {sorted(BUILTIN_SPLITS)}. "
                         f"Received: split={split!r}")
    return BUILTIN_SPLITS[split]


def load_builtin(split, channels=3):
    """Loads the built-in photographs of one split.

    Args:
        split: `"train"`, `"validation"` or `"test"`.
        channels: 3 for RGB, 1 for gray (MATLAB `rgb2gray`, rounded).

    Returns:
        list of `(name, image)` with `image` uint8 of shape
        `(height, width, channels)`, in a fixed order.
    """
    names = builtin_names(split)
    if channels not in (1, 3):
        raise ValueError(f"Expected `channels` to be 1 or 3. Received: channels={channels}")
    images = [(name, _load_rgb(name)) for name in names]
    if channels == 1:
        images = [(name, rgb_to_gray(image)) for name, image in images]
    return images
