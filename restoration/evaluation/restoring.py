"""Restoring a user's own images with a trained model: the core of `restore.py`.

Inputs are image files and folders of them; each output is a PNG named after
its input. Large images are predicted in tiles whose context is the
network's receptive field, so the result equals whole-image inference.
"""

import dataclasses
import pathlib

import numpy as np

from data.images import IMAGE_EXTENSIONS
from data.images import encode_png
from data.images import image_size
from data.images import list_images
from data.images import read_image
from restoration import runs
from restoration.evaluation.protocol import match_input_channels
from restoration.evaluation.protocol import match_reference_channels
from restoration.evaluation.protocol import predict_tiled
from restoration.evaluation.protocol import to_uint8
from restoration.evaluation.targets import check_targets

# Images with a side longer than this many input pixels are tiled unless a tile is given.
AUTO_TILE = 512


@dataclasses.dataclass(frozen=True)
class Job:
    """One image to restore: where it comes from and where its PNG goes."""

    source: pathlib.Path
    target: pathlib.Path


def plan_jobs(inputs, output_dir, overwrite=False, model_files=()):
    """Lists the images to restore and their output files, checking everything first.

    Every input's header is read (not its pixels), and no output may be an
    input; an existing output is replaced only with `overwrite`.

    Args:
        inputs: image files and folders (not searched recursively).
        output_dir: folder for the outputs, `<output_dir>/<input stem>.png`.
        overwrite: whether outputs that exist already (never inputs) may be replaced.
        model_files: the files the model comes from, which are inputs too.

    Returns:
        List of `Job`, in the order given (a folder's images by name).

    Raises:
        FileNotFoundError: an input does not exist.
        ValueError: an input is not an image, a folder holds none, two
            inputs would write the same output file, or an output would
            replace an input or (without `overwrite`) an existing file.
    """
    output_dir = pathlib.Path(output_dir)
    jobs, targets = [], {}
    for given in inputs:
        path = pathlib.Path(given)
        if path.is_dir():
            files = list_images(path)
            if not files:
                raise ValueError(f"{path}: expected a folder with {'/'.join(IMAGE_EXTENSIONS)} "
                                 "images, found none")
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                raise ValueError(f"{path}: expected an image file ({', '.join(IMAGE_EXTENSIONS)}) "
                                 "or a folder of them")
            files = [path]
        else:
            raise FileNotFoundError(f"Input not found: {path} (an image file or a folder)")
        for source in files:
            target = output_dir / f"{source.stem}.png"
            if target in targets:
                raise ValueError(f"{targets[target]} and {source} would both be written to {target}: "
                                 "restore them into different --output folders")
            targets[target] = source
            jobs.append(Job(source, target))
    for job in jobs:
        image_size(job.source)
    check_targets(targets, [*targets.values(), *model_files], overwrite, "--output")
    return jobs


def restore_image(predictor, image, sigma=None, tile=None, overlap=None):
    """Restores one uint8 image with a `Predictor`.

    Args:
        predictor: a `restoration.evaluation.predictors.Predictor`.
        image: uint8 `(height, width, 1 or 3)`: the low-resolution image for
            super-resolution, the noisy image for denoising.
        sigma: the noise level (0-255 scale) for a network that takes it.
        tile: tile side in input pixels; `None` tiles only images with a
            side over `AUTO_TILE`, 0 never tiles.
        overlap: context around each tile; `None` takes the receptive field.

    Returns:
        uint8 image with the input's channels (a gray image through an RGB
        network comes back gray), `scale` times larger for super-resolution.
    """
    if tile is None:
        tile = AUTO_TILE if max(image.shape[:2]) > AUTO_TILE else 0
    tile, overlap = predictor.tiling(tile or None, overlap)
    task = predictor.task
    model_input = match_input_channels(image, task.channels).astype(np.float32) / 255.0
    scale = task.scale if task.type == "sr" else 1
    output = predict_tiled(predictor.function_for(sigma), model_input, scale, tile, overlap)
    return to_uint8(match_reference_channels(output, image))


def restore_files(predictor, jobs, sigma=None, tile=None, overlap=None, progress=None):
    """Restores every job's image and writes its PNG atomically.

    Args:
        predictor: a `Predictor`.
        jobs: from `plan_jobs`.
        sigma, tile, overlap: see `restore_image`.
        progress: called as `progress(job, output_shape)` after each image.
    """
    # A gray network restores the gray version of a colour image.
    channels = 1 if predictor.task.channels == 1 else None
    for job in jobs:
        output = restore_image(predictor, read_image(job.source, channels), sigma, tile, overlap)
        job.target.parent.mkdir(parents=True, exist_ok=True)
        runs.write_bytes_atomically(job.target, encode_png(output))
        if progress is not None:
            progress(job, output.shape)
