"""Exports a trained run or .keras model as SavedModel, ONNX and LiteRT, each checked numerically.

    python export.py runs/tiny_sr/baseline/seed0                      # every format, into <run>/export/
    python export.py runs/tiny_sr/baseline/seed0 --format onnx litert
    python export.py model.keras --scale 2 --output exported/
    python export.py dncnn_s25.keras --sigma 25 --format onnx --output exported/

A run directory brings its task from config.yaml and exports
checkpoints/best.keras if present, else model.keras (`--checkpoint` chooses);
a bare .keras file needs `--scale` or `--sigma`. Each format is written with
a dynamic height and width from the model's inference graph (regularizers
vanish there), then run by its own runtime (TensorFlow, ONNX Runtime, the
LiteRT interpreter) on a crop of a built-in test photograph degraded as the
task says, and compared with the .keras model: the largest absolute
difference is printed, and one above 1e-4 is an error. No existing file is
replaced. The onnx format needs onnx, onnxruntime and tf2onnx (`make export`
installs them).
"""

import argparse
import pathlib
import sys

from restoration import console
from restoration import runs
from restoration.evaluation.exporting import FORMATS
from restoration.evaluation.exporting import check_formats
from restoration.evaluation.exporting import export_model
from restoration.evaluation.predictors import load_keras_model
from restoration.evaluation.sources import resolve_source


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="RUN_DIR_OR_MODEL", help="a run directory or a .keras file")
    parser.add_argument("--format", nargs="+", default=list(FORMATS), choices=tuple(FORMATS),
                        help="formats to write (default: all)")
    parser.add_argument("--output", metavar="DIR", help="folder to write into (default: <run>/export)")
    task = parser.add_mutually_exclusive_group()
    task.add_argument("--scale", type=int, choices=(2, 3, 4), help="super-resolution factor of a .keras file")
    task.add_argument("--sigma", type=float, help="noise level of a .keras denoiser (0-255)")
    parser.add_argument("--checkpoint", choices=tuple(runs.CHECKPOINTS),
                        help="model file of a run directory (default: best, final, latest)")
    parser.add_argument("--verbose", action="store_true",
                        help="also print TensorFlow's native log lines (oneDNN, XLA, CPU notices)")
    return parser.parse_args(argv)


def main(argv=None):
    arguments = parse_arguments(argv)
    try:
        source = resolve_source(arguments.model, arguments.checkpoint, arguments.scale, arguments.sigma)
        if arguments.output is None and source.config is None:
            raise ValueError(f"Expected --output for {arguments.model}, which is not a run directory")
        output = pathlib.Path(arguments.output or pathlib.Path(arguments.model) / "export")
        check_formats(arguments.format)
        model = load_keras_model(source.model_file)
        print(f"{source.model_file} -> {output}", flush=True)
        export_model(model, source.task, output, list(dict.fromkeys(arguments.format)),
                     log=lambda line: print(f"  {line}", flush=True))
    except (OSError, ValueError) as error:
        print(f"export.py: error: {console.describe_error(error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(console.run_main(main, "export.py"))
