"""Named, fixed degradations to test a model on, some inside the training chain's ranges and some outside.

A cell degrades a clean image deterministically, in the order of the
training chains (`data.blind`): Gaussian blur of the high-resolution image
(the same 21x21 kernel), MATLAB bicubic downsampling (the benchmark
`bicubic_downscale`), Gaussian noise drawn as the denoising benchmarks draw
it (NumPy's legacy generator reseeded per image, `add_gaussian_noise`), and
JPEG at a fixed quality. Every stage ends in uint8, as an image file would,
so the clean `bicubic` cell is exactly the benchmark input.

The super-resolution grid holds the first cells (`bicubic` ... `blur1.0+noise5+jpeg50`, in
their order: configs name them), then Reflash Dropout's evaluation cells (Kong et al.,
"Reflash Dropout in Image Super-Resolution", CVPR 2022: bicubic, blur2, noise20, jpeg50 and
their combinations), then cells beyond the first-order training chain's ranges (blur sigma
[0.2, 3], noise sigma [1, 30], JPEG quality [30, 95]): `blur4.0`, `noise40`, `noise50`,
`jpeg20`, `jpeg10` and two combinations. `in_range` tells which cells lie in the support of
what a run trains on, `same_as_plain` which one the plain test set already scores.

For denoising a cell is a noise level: `sigma15` ... `sigma75`.
"""

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from data.degradations import add_gaussian_noise
from data.degradations import bicubic_downscale
from data.degradations import modcrop
from data.realesrgan import DEFAULTS
from data.realesrgan import GAUSSIAN_NOISE_PROBABILITY


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
    # Reflash Dropout's cells (with `bicubic`, `blur2.0` and `jpeg50` above).
    Cell("noise20", noise=20.0),
    Cell("blur2.0+noise20", blur=2.0, noise=20.0),
    Cell("blur2.0+jpeg50", blur=2.0, jpeg=50),
    Cell("noise20+jpeg50", noise=20.0, jpeg=50),
    Cell("blur2.0+noise20+jpeg50", blur=2.0, noise=20.0, jpeg=50),
    # Beyond the first-order chain's ranges: blur sigma [0.2, 3], noise [1, 30], JPEG [30, 95].
    Cell("blur4.0", blur=4.0),
    Cell("noise40", noise=40.0),
    Cell("noise50", noise=50.0),
    Cell("jpeg20", jpeg=20),
    Cell("jpeg10", jpeg=10),
    Cell("blur4.0+noise40", blur=4.0, noise=40.0),
    Cell("noise40+jpeg20", noise=40.0, jpeg=20),
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


# Strengths at which a stage is as good as absent: a chain whose range reaches one of them can
# stand in for a cell without that stage. A Gaussian of sigma 0.3 keeps ~98.5 % of its weight on
# the centre pixel (0.2, the chains' usual low end: all but 2e-5); noise of sigma 1 on 0-255 is
# about one 8-bit gray level; JPEG at quality 95 is close to lossless.
NEGLIGIBLE_BLUR_SIGMA = 0.3
NEGLIGIBLE_NOISE_SIGMA = 1.0
NEGLIGIBLE_JPEG_QUALITY = 95

# The settings `in_range` reads, with their defaults (`None` takes the order's value, as in the chain).
CHAIN_DEFAULTS = {name: DEFAULTS[name] for name in (
    "order", "blur_probability", "blur_sigma", "noise_probability", "noise_sigma",
    "gaussian_noise_probability", "jpeg_probability", "jpeg_quality", "second_order_probability",
    "second_blur_probability", "second_blur_sigma", "second_gaussian_noise_probability",
    "second_noise_sigma", "second_jpeg_quality")}

# How reasons name each component: (in the cell, its strength in the chain).
_WORDS = {"blur": ("blur", "blur sigma"), "noise": ("noise", "noise sigma"),
          "jpeg": ("JPEG quality", "JPEG quality")}


def _cell(cell, task_type):
    return cells([cell], task_type)[0] if isinstance(cell, str) else cell


def _components(cell):
    """The cell's stages that are present, in the chains' order, with their strengths."""
    present = {"blur": cell.blur if cell.blur > 0 else None, "noise": cell.noise if cell.noise > 0 else None,
               "jpeg": cell.jpeg}
    return [(stage, value) for stage, value in present.items() if value is not None]


def _settings(degradation):
    """The chain settings `in_range` reads, from a plain dict (or a chain object), defaults filled in."""
    settings = {}
    for name, default in CHAIN_DEFAULTS.items():
        if isinstance(degradation, Mapping):
            value = degradation.get(name)
        else:
            value = getattr(degradation, name, None)
        settings[name] = default if value is None else value
    if settings["order"] not in (1, 2) or isinstance(settings["order"], bool):
        raise ValueError(f"Expected `order` to be 1 or 2. Received: order={settings['order']!r}")
    if settings["gaussian_noise_probability"] is None:
        settings["gaussian_noise_probability"] = GAUSSIAN_NOISE_PROBABILITY if settings["order"] == 2 else 1.0
    return settings


@dataclasses.dataclass(frozen=True)
class _Round:
    """One round of one stage of a chain.

    Attributes:
        name: "first round" or "second round".
        probability: Chance that the stage happens in this round.
        gaussian: Chance that the noise is Gaussian when it happens (1 for blur and JPEG).
        bounds: `(low, high)` strength.
        negligible: Whether the round can draw a negligible strength.
    """

    name: str
    probability: float
    gaussian: float
    bounds: tuple
    negligible: bool

    @property
    def happens(self):
        """Whether the stage can happen with the cell's kind (Gaussian noise for noise)."""
        return self.probability > 0 and self.gaussian > 0

    @property
    def free(self):
        """Whether the round can leave the stage out, or draw it too weak to matter."""
        return self.probability < 1 or self.negligible


def _rounds(settings):
    """Per stage ("blur", "noise", "jpeg"), its `_Round`s: one at order 1, two at order 2."""
    s = settings
    # (name, settings prefix, chance the round happens, chance of its blur, of Gaussian noise)
    rounds = [("first round", "", 1.0, s["blur_probability"], s["gaussian_noise_probability"])]
    if s["order"] == 2:
        rounds.append(("second round", "second_", s["second_order_probability"],
                       s["second_blur_probability"], s["second_gaussian_noise_probability"]))
    stages = {"blur": [], "noise": [], "jpeg": []}
    for name, prefix, again, blur, gaussian in rounds:
        sigma, noise, quality = (tuple(s[prefix + key])
                                 for key in ("blur_sigma", "noise_sigma", "jpeg_quality"))
        stages["blur"].append(_Round(name, again * blur, 1.0, sigma, sigma[0] <= NEGLIGIBLE_BLUR_SIGMA))
        stages["noise"].append(_Round(name, again * s["noise_probability"], gaussian, noise,
                                      gaussian > 0 and noise[0] <= NEGLIGIBLE_NOISE_SIGMA))
        stages["jpeg"].append(_Round(name, again * s["jpeg_probability"], 1.0, quality,
                                     quality[1] >= NEGLIGIBLE_JPEG_QUALITY))
    return stages


def _number(value):
    return f"{value:g}"


def _present_reason(stage, value, rounds):
    """Why a stage of strength `value` is outside the chain's support, or None when it is inside."""
    named, strength = _WORDS[stage]
    ranges = [entry.bounds for entry in rounds if entry.happens]
    if not ranges:
        verb = {"blur": "blurs", "noise": "adds Gaussian noise", "jpeg": "compresses with JPEG"}[stage]
        return f"{named} {_number(value)}, but the training chain never {verb}"
    if any(low <= value <= high for low, high in ranges):
        return None
    low, high = min(low for low, _ in ranges), max(high for _, high in ranges)
    if value > high:
        return f"{named} {_number(value)} > {_number(high)}, the training chain's highest {strength}"
    if value < low:
        return f"{named} {_number(value)} < {_number(low)}, the training chain's lowest {strength}"
    union = " U ".join(f"[{_number(a)}, {_number(b)}]" for a, b in ranges)
    return f"{named} {_number(value)} outside {union}, the training chain's {strength}s"


def _absent_reason(stage, rounds, order):
    """Why leaving a stage out is outside the chain's support, or None when every round can leave it out."""
    for entry in rounds:
        if entry.free:
            continue
        where = f" ({entry.name})" if order == 2 else ""
        low, high = entry.bounds
        if stage == "blur":
            return f"no blur, but the training chain always blurs{where}, with sigma >= {_number(low)}"
        if stage == "jpeg":
            return f"no JPEG, but the training chain always compresses{where}, at quality <= {_number(high)}"
        if entry.gaussian <= 0:
            return f"no noise, but the training chain always adds Poisson noise{where}"
        poisson = " (or Poisson noise)" if entry.gaussian < 1 else ""
        return (f"no noise, but the training chain always adds noise{where}, "
                f"with sigma >= {_number(low)}{poisson}")
    return None


def in_range(cell, task_type, degradation=None, noise_range=None, sigma=None):
    """Whether every component of `cell` lies in the support of what a run trains on.

    Super-resolution (`task_type` "sr"):

    - `degradation` None (plain bicubic training): only the clean cell (no
      blur, noise or JPEG) is in range.
    - `degradation` a plain dict (what `restoration.config.conversion.to_plain`
      makes of `config.data.degradation`: the `data.blind.Chain` keys, ranges
      as 2-lists, `None` or a missing key for a default, the order-dependent
      ones resolved as the chain resolves them). A stage present in the cell
      is in range when its strength lies in the union of the chain's ranges
      for that stage (order 2: the first round's and the `second_*` round's,
      e.g. noise sigma [1, 30] U [1, 25]) over the rounds where the stage can
      happen (probability > 0; for noise, Gaussian noise with probability
      > 0). A stage absent from the cell is in range when every round can
      leave it out: the stage can be skipped (probability < 1; at order 2 the
      second round's also when the second round or its blur can be skipped),
      or its range reaches a negligible strength: blur sigma low <=
      `NEGLIGIBLE_BLUR_SIGMA`, Gaussian noise sigma low <=
      `NEGLIGIBLE_NOISE_SIGMA`, JPEG quality high >= `NEGLIGIBLE_JPEG_QUALITY`.

    The check is on the three strengths the cells have. The kernel's shape
    (anisotropic, generalised, plateau, sinc), Poisson noise, the random
    resizes and the final sinc of the second order are not part of it, and
    the second round's blur sigma, measured there on the resized image, is
    compared with the cell's as it is.

    Denoising (`task_type` "denoise"): the cell's noise sigma is in range
    when it lies in `noise_range` (low, high) when given (blind training),
    else when it equals `sigma` (the fixed training sigma); a cell with blur
    or JPEG never is.

    Args:
        cell: a `Cell` of the task's grid, or its name.
        task_type: "sr" or "denoise".
        degradation: sr: the run's `data.degradation` as a plain dict, or None.
        noise_range: denoise: the run's `data.noise_range`, or None.
        sigma: denoise: the run's fixed noise sigma, used when `noise_range` is None.

    Returns:
        `(bool, str)`: whether the cell is in range, and "in range" or a
        short reason naming the first component out of range.
    """
    cell = _cell(cell, task_type)
    if task_type == "denoise":
        return _denoise_in_range(cell, noise_range, sigma)
    if task_type != "sr":
        raise ValueError(f"Expected `task_type` to be one of {', '.join(GRIDS)}. Received: {task_type!r}")
    if degradation is None:
        for stage, value in _components(cell):
            return False, f"{_WORDS[stage][0]} {_number(value)}: the run trains on bicubic inputs only"
        return True, "in range"
    settings = _settings(degradation)
    rounds = _rounds(settings)
    present = dict(_components(cell))
    for stage in ("blur", "noise", "jpeg"):
        if stage in present:
            reason = _present_reason(stage, present[stage], rounds[stage])
        else:
            reason = _absent_reason(stage, rounds[stage], settings["order"])
        if reason is not None:
            return False, reason
    return True, "in range"


def _denoise_in_range(cell, noise_range, sigma):
    for stage, value in _components(cell):
        if stage != "noise":
            return False, f"{_WORDS[stage][0]} {_number(value)}: denoising trains on noise only"
    if noise_range is not None:
        low, high = noise_range
        noise = _number(cell.noise)
        if cell.noise > high:
            return False, f"noise {noise} > {_number(high)}, the training range's highest noise sigma"
        if cell.noise < low:
            return False, f"noise {noise} < {_number(low)}, the training range's lowest noise sigma"
        return True, "in range"
    if sigma is None:
        raise ValueError("Expected `noise_range` or `sigma` for a denoising run. Received neither.")
    if not math.isclose(cell.noise, sigma, rel_tol=0, abs_tol=1e-9):
        return False, f"noise {_number(cell.noise)} != {_number(sigma)}, the fixed training noise sigma"
    return True, "in range"


def same_as_plain(cell, task_type, sigma=None):
    """Whether `cell` is exactly what the plain test set already scores, so a scorer can skip it.

    Super-resolution: no blur, no noise, no JPEG (`bicubic`, the benchmark
    input). Denoising: no blur, no JPEG and noise `sigma`, the task's
    noise level; `sigma` is required there.
    """
    cell = _cell(cell, task_type)
    if task_type == "sr":
        return cell.blur == 0 and cell.noise == 0 and cell.jpeg is None
    if task_type != "denoise":
        raise ValueError(f"Expected `task_type` to be one of {', '.join(GRIDS)}. Received: {task_type!r}")
    if sigma is None:
        raise ValueError("Expected the task's noise `sigma` for a denoising cell. Received: sigma=None")
    return cell.blur == 0 and cell.jpeg is None and math.isclose(cell.noise, sigma, rel_tol=0, abs_tol=1e-9)


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
