"""Restores your own images with a trained run or a .keras model, writing PNGs.

    python restore.py runs/tiny_sr/baseline/seed0 photo.png more_photos/ --output restored/
    python restore.py model.keras low_res.png --scale 2 --output restored/
    python restore.py runs/ffdnet/baseline/seed0 noisy/ --sigma 30 --output denoised/

A run directory brings its task from config.yaml and is applied with
checkpoints/best.keras if present, else model.keras, else
checkpoints/latest.keras (`--checkpoint` chooses). A bare .keras file needs
`--scale` (super-resolution: the input is the low-resolution image) or
`--sigma` (denoising: the input is the noisy image; the level matters only to
networks that take a noise-level map, FFDNet and DRUNet, where it may differ
from the run's). Every input image, or every image of an input folder, becomes
`<output>/<name>.png`. An output never replaces an input (so restoring a
folder of PNGs into itself is refused), and replaces an existing file only
with `--overwrite`; both are checked, with every input's header, before the
model loads. Images larger than 512 pixels on a side are restored in tiles
with the network's receptive field as context, which gives the same result
as the whole image at once (`--tile` sets the size, `--tile 0` never tiles).
`--self-ensemble` averages the outputs of the eight flips and rotations of
each image (eight times the work).
"""

import argparse
import pathlib
import sys

from restoration import console
from restoration import runs
from restoration.evaluation.restoring import plan_jobs
from restoration.evaluation.restoring import restore_files
from restoration.evaluation.sources import load_predictor
from restoration.evaluation.sources import resolve_source


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="RUN_DIR_OR_MODEL", help="a run directory or a .keras file")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders of images")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder for the restored PNGs")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace PNGs an earlier restore wrote there (never an input)")
    task = parser.add_mutually_exclusive_group()
    task.add_argument("--scale", type=int, choices=(2, 3, 4),
                      help="super-resolution factor of a bare .keras file")
    task.add_argument("--sigma", type=float,
                      help="noise level on the 0-255 scale (a bare .keras denoiser; for a run, "
                           "the level given to a network that takes a noise map)")
    parser.add_argument("--checkpoint", choices=tuple(runs.CHECKPOINTS),
                        help="model file of a run directory (default: best, final, latest)")
    parser.add_argument("--tile", type=int, help="tile side in input pixels (0: never tile)")
    parser.add_argument("--tile-overlap", type=int,
                        help="tile context in input pixels (default: the receptive field, exact)")
    parser.add_argument("--self-ensemble", action="store_true",
                        help="average the outputs of the 8 flips and rotations of each image (x8)")
    parser.add_argument("--verbose", action="store_true",
                        help="also print TensorFlow's native log lines (oneDNN, XLA, CPU notices)")
    arguments = parser.parse_args(argv)
    if arguments.sigma is not None and not arguments.sigma > 0:
        parser.error(f"--sigma: expected a noise level > 0, received {arguments.sigma:g}")
    if arguments.tile is not None and arguments.tile < 0:
        parser.error(f"--tile: expected 0 (no tiles) or a tile side >= 1, received {arguments.tile}")
    if arguments.tile_overlap is not None and arguments.tile_overlap < 0:
        parser.error(f"--tile-overlap: expected an overlap >= 0, received {arguments.tile_overlap}")
    return arguments


def resolve(arguments):
    """The checked source and the noise level to use, before any weights load."""
    is_run = pathlib.Path(arguments.model).is_dir()
    # A run's own noise level is its training level; --sigma then only sets the noise map.
    sigma = None if is_run else arguments.sigma
    source = resolve_source(arguments.model, arguments.checkpoint, arguments.scale, sigma)
    if source.task.type == "sr" and arguments.sigma is not None:
        raise ValueError(f"--sigma is for denoising; {arguments.model} does super-resolution "
                         f"x{source.task.scale}")
    level = arguments.sigma if arguments.sigma is not None else source.task.sigma
    return source, level


def main(argv=None):
    arguments = parse_arguments(argv)
    try:
        source, sigma = resolve(arguments)
        jobs = plan_jobs(arguments.inputs, arguments.output, arguments.overwrite,
                         [source.model_file])
        predictor = load_predictor(source)
        if predictor.noise_level and sigma is None:
            raise ValueError(f"{source.model_file} takes a noise-level map: give --sigma")
        task = predictor.task
        what = f"x{task.scale} super-resolution" if task.type == "sr" else f"denoising, sigma {sigma:g}"
        if arguments.self_ensemble:
            predictor, what = predictor.self_ensembled(), f"{what}, self-ensemble x8"
        print(f"{source.model_file}: {what}, {len(jobs)} image(s) -> {arguments.output}", flush=True)

        def report(job, shape):
            print(f"  {job.source} -> {job.target} ({shape[1]}x{shape[0]})", flush=True)

        restore_files(predictor, jobs, sigma, arguments.tile, arguments.tile_overlap, report)
    except (OSError, ValueError) as error:
        # Missing or unreadable files, bad arguments and images: a line naming them, status 2.
        print(f"restore.py: error: {console.describe_error(error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(console.run_main(main, "restore.py"))
