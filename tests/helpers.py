"""Paths and small fixtures-as-functions shared by the test modules."""

from pathlib import Path

import imageio.v3 as iio
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS = REPO_ROOT / "configs"
SHIPPED_CONFIGS = sorted(CONFIGS.rglob("*.yaml"))
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def write_image(path, image):
    """Writes a uint8 `(h, w)` or `(h, w, 1 or 3)` image; the format follows the extension."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, image)
