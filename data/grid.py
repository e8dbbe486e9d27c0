"""Named, fixed degradations for testing how a model generalises: the cells of a grid.

A cell degrades a clean image deterministically, in the order of the
training chains (`data.blind`): Gaussian blur of the high-resolution image
(the same 21x21 kernel), MATLAB bicubic downsampling (the benchmark
`bicubic_downscale`), Gaussian noise drawn as the denoising benchmarks draw
it (NumPy's legacy generator reseeded per image, `add_gaussian_noise`), and
JPEG at a fixed quality. Every stage ends in uint8, as an image file would,
so the clean `bicubic` cell is exactly the benchmark input.

For denoising a cell is a noise level: `sigma15` ... `sigma75`.
"""

import dataclasses

import numpy as np

from data.degradations import add_gaussian_noise
from data.degradations import bicubic_downscale
from data.degradations import modcrop


@dataclasses.dataclass(frozen=True)
class Cell:
    """One fixed degradation.

    Attributes:
        name: How tables and TensorBoard call it.
        blur: Isotropic Gaussian sigma in high-resolution pixels (0: none).
        noise: Gaussian noise sigma on the 0-255 scale (0: none).
        jpeg: JPEG quality in [1, 100], or None for no compression.
    """

    name: str
    blur: float = 0.0
    noise: float = 0.0
    jpeg: int | None = None

    def __post_init__(self):
        if not (self.blur >= 0 and self.noise >= 0):
            raise ValueError(f"Expected blur and noise >= 0. Received: {self}")
        if self.jpeg is not None and not (isinstance(self.jpeg, int) and 1 <= self.jpeg <= 100):
            raise ValueError(
                f"Expected `jpeg` to be None or an integer in [1, 100]. Received: jpeg={self.jpeg!r}"
            )


SR_GRID = (
    Cell("bicubic"),
    Cell("blur1.0", blur=1.0),
    Cell("blur2.0", blur=2.0),
    Cell("noise5", noise=5.0),
    Cell("noise15", noise=15.0),
    Cell("jpeg50", jpeg=50),
    Cell("jpeg90", jpeg=90),
    Cell("blur1.0+noise5", blur=1.0, noise=5.0),
    Cell("blur1.0+noise5+jpeg50", blur=1.0, noise=5.0, jpeg=50),
)
# Inside the usual blind training range [0, 50], and beyond it.
DENOISE_SIGMAS = (15, 25, 50, 60, 75)
DENOISE_GRID = tuple(Cell(f"sigma{sigma}", noise=float(sigma)) for sigma in DENOISE_SIGMAS)
GRIDS = {"sr": SR_GRID, "denoise": DENOISE_GRID}


def cells(names, task_type):
    """The cells of a task's grid with these names, in the given order; a ValueError names an unknown one."""
    grid = {cell.name: cell for cell in GRIDS[task_type]}
    unknown = [name for name in names if name not in grid]
    if unknown:
        raise ValueError(f"Unknown grid cell {unknown[0]!r}. Expected one of: {', '.join(grid)}")
    return [grid[name] for name in names]


def _to_uint8(image):
    return np.clip(np.round(np.asarray(image, np.float64) * 255.0), 0, 255).astype(np.uint8)


def _compress(image, quality):
    """JPEG round trip of a uint8 `(h, w, c)` image at `quality`."""
    import tensorflow as tf

    encoded = tf.io.encode_jpeg(tf.constant(image), quality=quality)
    return tf.io.decode_jpeg(encoded, channels=image.shape[-1]).numpy()


def degrade_sr(hr_image, scale, cell, seed=0):
    """The uint8 low-resolution input of `hr_image` under `cell`.

    Args:
        hr_image: uint8 `(h, w, c)` clean image; it is cropped to a multiple of `scale`.
        scale: super-resolution factor.
        cell: a `Cell`.
        seed: seed of the noise, the same for every image as in the benchmarks.

    Returns:
        uint8 `(h / scale, w / scale, c)` array.
    """
    # TensorFlow (the training chain's kernel and JPEG codec) is imported here, not with the
    # module: configs name grid cells, and loading a config must not start TensorFlow.
    import tensorflow as tf

    from data import blind

    reference = modcrop(np.asarray(hr_image), scale)
    if cell.blur > 0:
        kernel = blind.gaussian_kernel(cell.blur, cell.blur, 0.0)
        blurred = blind.blur(tf.constant(reference, tf.float32) / 255.0, kernel).numpy()
        reference = _to_uint8(blurred)
    low = bicubic_downscale(reference, scale)
    if cell.noise > 0:
        low = _to_uint8(add_gaussian_noise(low.astype(np.float64) / 255.0, cell.noise, seed))
    if cell.jpeg is not None:
        low = _compress(low, cell.jpeg)
    return low
