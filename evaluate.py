"""Scores trained models and baselines on benchmark sets, as the published tables do.

    python evaluate.py runs/tiny_test/baseline/seed0                # task and sets from config.yaml
    python evaluate.py model.keras --scale 2 --sets Set5 Set14 --output scores.json
    python evaluate.py --model bicubic --scale 2 --sets Set5 BSD100  # interpolation baseline
    python evaluate.py --model noisy --sigma 25 --sets Set12         # noisy-input baseline
    python evaluate.py runs/tiny_sr/baseline/seed0 --grid            # every cell of the task's grid
    python evaluate.py --model bicubic runs/tiny_sr/*/seed0 --sets Set5  # one table, a column each
    python evaluate.py runs/tiny_sr/baseline/seed0 --save-images     # PNGs in <run>/evaluation/images
    python evaluate.py --model bicubic --scale 4 --sets Set5 --grid bicubic blur2.0 noise15
    python evaluate.py model.keras --scale 4 --pairs my_lr/ my_hr/ --template "{}x4"  # your own pairs
    python evaluate.py runs/tiny_sr/baseline/seed0 --self-ensemble   # also <set>+x8: 8 flips/rotations

A run directory brings its task, test sets, data root and tiling from its
config.yaml and is scored with checkpoints/best.keras if present, else
model.keras, else checkpoints/latest.keras (`--checkpoint` chooses). A bare
.keras file and a baseline need `--scale` or `--sigma` and `--sets`. Each set
prints a table with the conventions used; per-image scores go to
<run_dir>/evaluation/<Set>.csv, or to `--per-image-csv DIR`. With several
sources, each set also gets one table with a column per source and each
column's difference to the first (the baseline when `--model` is given).
`--save-images [DIR]` writes every restored test image as a PNG. Every file
these options name is checked before anything is scored: an input (a test
image, a model) is never written over, and an existing file is replaced only
with `--overwrite`.

`--pairs INPUT_DIR TARGET_DIR` scores a user's own pairs (a camera's
low-resolution shots, noisy captures) on their own inputs, matched by name
(`--template`); every pair is checked first, each problem a line naming the
files. A run directory scores its `data.paired_test_sets` too.

`--grid` scores every set under fixed degradations (data/grid.py): for
super-resolution bicubic, blur1.0, blur2.0, noise5, noise15, jpeg50, jpeg90,
blur1.0+noise5 and blur1.0+noise5+jpeg50; for denoising sigma15, sigma25,
sigma50, sigma60 and sigma75. Without names it takes the task's whole grid.
"""

import argparse
import sys

from restoration import console
from restoration import runs
from restoration.evaluation.sources import BASELINES
from restoration.evaluation.sources import evaluate_paths


def format_table(set_name, evaluation):
    """Formats one set's scores as a markdown table followed by its conventions.

    Args:
        set_name: name printed in the `set` column.
        evaluation: one set's entry of `evaluate_paths` (or `SetEvaluation.to_json()`).

    Returns:
        Multi-line string.
    """
    ssim = "-" if evaluation["ssim"] is None else f"{evaluation['ssim']:.4f}"
    return "\n".join(
        [
            "| set | images | PSNR (dB) | SSIM |",
            "|---|---:|---:|---:|",
            f"| {set_name} | {evaluation['images']} | {evaluation['psnr']:.3f} | {ssim} |",
            f"Conventions: {evaluation['conventions']['description']}",
        ]
    )


def format_comparison(set_name, results):
    """One set's scores side by side: a column per source, each with its difference to the first.

    Args:
        set_name: the set (or `"<set>/<cell>"`) key.
        results: `{label: {set key: scores}}` of `evaluate_paths`, in column order.

    Returns:
        Multi-line markdown string, or None when fewer than two sources scored the set.
    """
    columns = [(label, scores[set_name]) for label, scores in results.items() if set_name in scores]
    if len(columns) < 2:
        return None
    first = columns[0][1]

    def cell(scores, metric, digits):
        value = scores[metric]
        if value is None:
            return "-"
        if scores is first or first[metric] is None:
            return f"{value:.{digits}f}"
        return f"{value:.{digits}f} ({value - first[metric]:+.{digits}f})"

    lines = [f"{set_name}: side by side (in brackets: the difference to {columns[0][0]})",
             "| | " + " | ".join(label for label, _ in columns) + " |",
             "|---|" + "---:|" * len(columns),
             "| PSNR (dB) | " + " | ".join(cell(scores, "psnr", 3) for _, scores in columns) + " |",
             "| SSIM | " + " | ".join(cell(scores, "ssim", 4) for _, scores in columns) + " |",
             "| images | " + " | ".join(str(scores["images"]) for _, scores in columns) + " |"]
    return "\n".join(lines)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", metavar="RUN_DIR_OR_MODEL",
                        help="run directories or .keras files")
    parser.add_argument("--model", choices=BASELINES, help="also score a baseline")
    parser.add_argument("--sets", nargs="+", help="test sets (default: the run's data.test_sets)")
    parser.add_argument("--data-root", help="folder holding the sets")
    parser.add_argument(
        "--pairs", nargs=2, action="append", default=[], metavar=("INPUT_DIR", "TARGET_DIR"),
        help="also score your own pairs: low-resolution (or noisy) images and their targets, "
             "matched by name; the set is named after TARGET_DIR (repeatable)",
    )
    parser.add_argument(
        "--template", default="{}",
        help="input file stem with {} for the target's stem, e.g. {}x4 (default: {}, equal stems)",
    )
    task = parser.add_mutually_exclusive_group()
    task.add_argument("--scale", type=int, choices=(2, 3, 4), help="super-resolution factor")
    task.add_argument("--sigma", type=float, help="Gaussian noise level on the 0-255 scale")
    parser.add_argument("--channels", type=int, choices=(1, 3), help="model input channels")
    parser.add_argument("--checkpoint", choices=tuple(runs.CHECKPOINTS),
                        help="model file of a run directory (default: best, final, latest)")
    parser.add_argument("--tile", type=int, help="predict tiles of this many input pixels")
    parser.add_argument(
        "--tile-overlap", type=int,
        help="tile context in input pixels (default: the network's receptive field, which is exact)",
    )
    parser.add_argument("--ssim", action=argparse.BooleanOptionalAction, default=True,
                        help="also compute SSIM (default: yes)")
    parser.add_argument(
        "--grid", nargs="*", metavar="CELL",
        help="score under the fixed degradations of data/grid.py (no names: the task's whole grid)",
    )
    parser.add_argument(
        "--self-ensemble", action="store_true",
        help="also score each set with the output averaged over the 8 flips and rotations, as <set>+x8",
    )
    parser.add_argument("--output", help="write all scores to this JSON file")
    parser.add_argument("--per-image-csv", metavar="DIR", help="folder for <Set>.csv files")
    parser.add_argument(
        "--save-images", nargs="?", const="", metavar="DIR",
        help="save the restored images as <DIR>/<Set>/<image>.png (no DIR: <run_dir>/evaluation/images)",
    )
    parser.add_argument("--overwrite", action="store_true",
        help="replace files an earlier evaluation wrote at --output, --per-image-csv or "
             "--save-images (never an input)")
    parser.add_argument("--verbose", action="store_true",
        help="also print TensorFlow's native log lines (oneDNN, XLA, CPU notices)")
    arguments = parser.parse_args(argv)
    if not arguments.paths and arguments.model is None:
        parser.error("expected a run directory, a .keras file or --model bicubic|noisy")
    return arguments


def print_header(label, result):
    """Prints what is scored: the source, its model file and its task."""
    task = result["task"]
    problem = f"sr x{task['scale']}" if task["type"] == "sr" else f"denoise sigma {task['sigma']:g}"
    channels = f"{task['channels']} channels" if task["channels"] else "each image's channels"
    print(f"\n{label} ({result['model_file'] or 'baseline'}; {problem}, {channels})")


def main(argv=None):
    arguments = parse_arguments(argv)
    # A baseline comes first: the side-by-side tables give every run's difference to it.
    paths = ([arguments.model] if arguments.model else []) + arguments.paths
    printed = set()

    def print_set(label, set_name, result):
        if label not in printed:
            printed.add(label)
            print_header(label, result)
        print(format_table(set_name, result), flush=True)

    try:
        results = evaluate_paths(
            paths, arguments.sets, arguments.data_root, arguments.scale, arguments.sigma,
            arguments.tile, arguments.tile_overlap, arguments.ssim, channels=arguments.channels,
            checkpoint=arguments.checkpoint, per_image_dir=arguments.per_image_csv,
            progress=print_set, grid=arguments.grid, images_dir=arguments.save_images,
            overwrite=arguments.overwrite, output_file=arguments.output,
            pairs=[(inputs, targets, arguments.template) for inputs, targets in arguments.pairs],
            self_ensemble=arguments.self_ensemble,
        )
    except (OSError, ValueError) as error:
        # Missing data and paths, unreadable files, bad arguments and images: the user's to fix,
        # a line naming the value or the file, not a traceback.
        print(f"evaluate.py: error: {console.describe_error(error)}", file=sys.stderr)
        return 2
    if len(results) > 1:
        keys = dict.fromkeys(key for scores in results.values() for key in scores)
        tables = [table for key in keys if (table := format_comparison(key, results))]
        if tables:
            print("\n" + "\n\n".join(tables))
    if arguments.output:
        scores = results[paths[0]] if len(paths) == 1 else results
        try:
            runs.write_json_atomically(arguments.output, scores)
        except OSError as error:
            # Checked before scoring; what is left is the disk filling up meanwhile.
            print(f"evaluate.py: error: {console.describe_error(error)}", file=sys.stderr)
            return 2
        print(f"\nScores written to {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(console.run_main(main, "evaluate.py"))
