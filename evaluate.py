"""Scores trained models and baselines on benchmark sets, as the published tables do.

    python evaluate.py runs/tiny_test/baseline/seed0                # task and sets from config.yaml
    python evaluate.py model.keras --scale 2 --sets Set5 Set14 --output scores.json
    python evaluate.py --model bicubic --scale 2 --sets Set5 BSD100  # interpolation baseline
    python evaluate.py --model noisy --sigma 25 --sets Set12         # noisy-input baseline

A run directory brings its task, test sets, data root and tiling from its
config.yaml and is scored with checkpoints/best.keras if present, else
model.keras, else checkpoints/latest.keras (`--checkpoint` chooses). A bare
.keras file and a baseline need `--scale` or `--sigma` and `--sets`. Each set
prints a table with the conventions used; per-image scores go to
<run_dir>/evaluation/<Set>.csv, or to `--per-image-csv DIR`.
"""

import argparse
import csv
import dataclasses
import io
import json
import os
import pathlib
import re
import sys

from restoration.evaluation import DEFAULT_OVERLAP
from restoration.evaluation import SetEvaluation
from restoration.predictors import BASELINES
from restoration.predictors import CHECKPOINTS
from restoration.predictors import evaluate_predictor
from restoration.predictors import load_predictor
from restoration.predictors import plan_sets
from restoration.predictors import resolve_source
from restoration.runs import write_text_atomically


def evaluate_paths(
    paths,
    sets=None,
    data_root=None,
    scale=None,
    sigma=None,
    tile=None,
    overlap=None,
    ssim=True,
    *,
    channels=None,
    checkpoint=None,
    per_image_dir=None,
    progress=None,
):
    """Scores run directories, `.keras` files and baselines on test sets.

    Args:
        paths: run directories, `.keras` files, or the baseline names `"bicubic"`
            and `"noisy"`.
        sets: test set names; `None` takes each run's `data.test_sets`.
        data_root: folder holding the sets; `None` takes a run's `data.root`,
            else searches the default roots.
        scale: super-resolution factor, required for a `.keras` file or `bicubic`.
        sigma: noise level, required for a `.keras` file or `noisy`.
        tile: tile side in input pixels; `None` takes a run's `evaluation.tile`,
            else predicts whole images.
        overlap: context around each tile; `None` takes the run's
            `evaluation.tile_overlap` with its tile, else `DEFAULT_OVERLAP`.
        ssim: also compute SSIM.
        channels: model input channels, checked against the model; 1 makes a
            baseline score gray versions of the images.
        checkpoint: `"best"`, `"final"` or `"latest"` model file of a run directory.
        per_image_dir: folder for the per-image CSV files; `None` writes them to
            `<run_dir>/evaluation/` for a run directory and nowhere otherwise.
        progress: called as `progress(path, set_name, result)` after each set.

    Returns:
        Dict keyed by path as given, each a dict keyed by set name of
        `{"psnr", "ssim", "images", "conventions", "per_image", "task", "model_file"}`.
    """
    labels = [os.fspath(path) for path in paths]
    if len(set(labels)) != len(labels) or not labels:
        raise ValueError(f"Expected distinct paths to evaluate. Received: paths={labels}")
    # Every source and set is checked first, so a mistake costs no evaluation time.
    sources = [resolve_source(label, checkpoint, scale, sigma, channels) for label in labels]
    plans = [(source, *plan_sets(source, sets, data_root)) for source in sources]
    results = {}
    for source, set_names, root in plans:
        predictor = load_predictor(source)
        folder = _per_image_folder(source, per_image_dir, several=len(labels) > 1)
        results[source.label] = {}
        for set_name in set_names:
            evaluation = evaluate_predictor(
                predictor, set_name, root, *_tiling(source.config, tile, overlap), ssim=ssim
            )
            result = results[source.label][set_name] = set_result(evaluation, predictor)
            if folder is not None:
                write_per_image_csv(folder / f"{set_name}.csv", result)
            if progress is not None:
                progress(source.label, set_name, result)
    return results


def set_result(evaluation, predictor):
    """One set's scores as JSON: `psnr`, `ssim`, `images`, `conventions`, `per_image`, `task`."""
    result = evaluation.to_dict()
    result["images"] = len(evaluation.per_image)
    result["task"] = dataclasses.asdict(predictor.task)
    result["model_file"] = predictor.source.model_file
    return result


def _tiling(config, tile, overlap):
    """The `(tile, overlap)` to use: given values, else the run's, else whole images."""
    if tile is None and config is not None and config.evaluation.tile is not None:
        tile = config.evaluation.tile
        overlap = config.evaluation.tile_overlap if overlap is None else overlap
    return tile, DEFAULT_OVERLAP if overlap is None else overlap


def _per_image_folder(source, per_image_dir, several):
    if per_image_dir is None:
        return None if source.config is None else pathlib.Path(source.label) / "evaluation"
    if not several:
        return pathlib.Path(per_image_dir)
    # One subfolder per source, named after its path, so that equal set names never collide.
    return pathlib.Path(per_image_dir) / re.sub(r"[^A-Za-z0-9._-]+", "_", source.label).strip("_.")


def format_table(set_name, evaluation):
    """Formats one set's scores as a markdown table followed by its conventions.

    Args:
        set_name: name printed in the `set` column.
        evaluation: a `SetEvaluation`, or one set's entry of `evaluate_paths`.

    Returns:
        Multi-line string.
    """
    if isinstance(evaluation, SetEvaluation):
        evaluation = {**evaluation.to_dict(), "images": len(evaluation.per_image)}
    ssim = "-" if evaluation["ssim"] is None else f"{evaluation['ssim']:.4f}"
    return "\n".join(
        [
            "| set | images | PSNR (dB) | SSIM |",
            "|---|---:|---:|---:|",
            f"| {set_name} | {evaluation['images']} | {evaluation['psnr']:.3f} | {ssim} |",
            f"Conventions: {evaluation['conventions']['description']}",
        ]
    )


def write_per_image_csv(path, result):
    """Writes `name,psnr,ssim` rows, one per image; SSIM is empty when skipped."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "psnr", "ssim"])
    for entry in result["per_image"]:
        ssim = "" if entry["ssim"] is None else f"{entry['ssim']:.6f}"
        writer.writerow([entry["name"], f"{entry['psnr']:.6f}", ssim])
    write_text_atomically(path, buffer.getvalue())


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "paths", nargs="*", metavar="RUN_DIR_OR_MODEL", help="run directories or .keras files"
    )
    parser.add_argument("--model", choices=BASELINES, help="also score a baseline")
    parser.add_argument("--sets", nargs="+", help="test sets (default: the run's data.test_sets)")
    parser.add_argument("--data-root", help="folder holding the sets")
    task = parser.add_mutually_exclusive_group()
    task.add_argument("--scale", type=int, choices=(2, 3, 4), help="super-resolution factor")
    task.add_argument("--sigma", type=float, help="Gaussian noise level on the 0-255 scale")
    parser.add_argument("--channels", type=int, choices=(1, 3), help="model input channels")
    parser.add_argument(
        "--checkpoint",
        choices=tuple(CHECKPOINTS),
        help="model file of a run directory (default: best, final, latest)",
    )
    parser.add_argument("--tile", type=int, help="predict tiles of this many input pixels")
    parser.add_argument(
        "--tile-overlap", type=int, help=f"tile context (default {DEFAULT_OVERLAP})"
    )
    parser.add_argument(
        "--ssim",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also compute SSIM (default: yes)",
    )
    parser.add_argument("--output", help="write all scores to this JSON file")
    parser.add_argument("--per-image-csv", metavar="DIR", help="folder for <Set>.csv files")
    arguments = parser.parse_args(argv)
    if not arguments.paths and arguments.model is None:
        parser.error("expected a run directory, a .keras file or --model bicubic|noisy")
    return arguments


def print_header(label, result):
    task = result["task"]
    problem = f"sr x{task['scale']}" if task["type"] == "sr" else f"denoise sigma {task['sigma']:g}"
    channels = f"{task['channels']} channels" if task["channels"] else "each image's channels"
    print(f"\n{label} ({result['model_file'] or 'baseline'}; {problem}, {channels})")


def main(argv=None):
    arguments = parse_arguments(argv)
    paths = arguments.paths + ([arguments.model] if arguments.model else [])
    printed = set()

    def print_set(label, set_name, result):
        if label not in printed:
            printed.add(label)
            print_header(label, result)
        print(format_table(set_name, result), flush=True)

    try:
        results = evaluate_paths(
            paths,
            arguments.sets,
            arguments.data_root,
            arguments.scale,
            arguments.sigma,
            arguments.tile,
            arguments.tile_overlap,
            arguments.ssim,
            channels=arguments.channels,
            checkpoint=arguments.checkpoint,
            per_image_dir=arguments.per_image_csv,
            progress=print_set,
        )
    except (FileNotFoundError, ValueError) as error:
        # Missing data, paths and arguments are the user's to fix: a message, not a traceback.
        print(f"evaluate.py: error: {error}", file=sys.stderr)
        return 2
    if arguments.output:
        scores = results[paths[0]] if len(paths) == 1 else results
        write_text_atomically(arguments.output, json.dumps(scores, indent=2) + "\n")
        print(f"\nScores written to {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
