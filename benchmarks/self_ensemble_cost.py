"""What the x8 self-ensemble costs per test image, against plain inference.

    python -m benchmarks.self_ensemble_cost                 # DnCNN-S sigma 25 on Set12
    python -m benchmarks.self_ensemble_cost --repeats 1 --no-write

Scores one set with one network plainly and with the self-ensemble (the
output averaged over the eight flips and rotations), in interleaved rounds
in one process, and keeps each one's fastest round: seconds of prediction per
image (the model calls and the eight transforms; decoding, noise and scoring
left out) and their ratio. The network is DnCNN-S sigma 25 converted from its
authors' weights where `../shared/weights` holds them (its PSNR gain is then
printed too), else the same architecture with random weights, whose speed is
the same. Writes its section of BENCHMARKS.md.
"""

import argparse
import functools
from pathlib import Path

import sr_models
from benchmarks import common
from benchmarks import markdown
from restoration.evaluation.predictors import Task
from restoration.evaluation.predictors import evaluate_predictor
from restoration.evaluation.predictors import model_predictor

WEIGHTS = (Path(__file__).resolve().parent.parent.parent / "shared" / "weights" / "cszn-DnCNN"
           / "sigma=25.mat")


def network():
    """`(model, description)`: the authors' DnCNN-S sigma 25, or its architecture untrained."""
    if WEIGHTS.is_file():
        from sr_models.convert import convert

        return convert(WEIGHTS, "dncnn")[0], "DnCNN-S sigma 25 (the authors' weights, converted)"
    model = sr_models.build_dncnn(depth=17, filters=64, channels=1, batch_norm=False, output_bias=True,
                                  seed=0)
    return model, "DnCNN-S architecture, random weights (the authors' weights are absent)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="Set12", help="test set (gray; default Set12)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the fastest kept")
    parser.add_argument("--data-root", help="folder holding the set")
    parser.add_argument("--no-write", action="store_true")
    arguments = parser.parse_args(argv)
    model, description = network()
    plain = model_predictor(model, Task("denoise", None, 25.0, 1))
    variants = {"plain": plain, "self-ensemble x8": plain.self_ensembled()}

    def measure(predictor):
        result = evaluate_predictor(predictor, arguments.set, arguments.data_root, ssim=False)
        return result.predict_seconds / result.images, result.psnr, result.images

    samples = common.interleaved({name: functools.partial(measure, predictor)
                                  for name, predictor in variants.items()}, arguments.repeats, rotate=True)
    best = {name: min(values, key=lambda value: value[0]) for name, values in samples.items()}
    ratio = best["self-ensemble x8"][0] / best["plain"][0]
    rows = [f"| {name} | {seconds:.3f} | {seconds / best['plain'][0]:.2f} | {psnr:.3f} |"
            for name, (seconds, psnr, _) in best.items()]
    print("\n".join(rows))
    lines = [
        *markdown.header("The x8 self-ensemble's cost per test image",
                         f"`python -m benchmarks.self_ensemble_cost --set {arguments.set}`",
                         markdown.keras_version()),
        f"{description}, sigma 25, the {best['plain'][2]} images of {arguments.set}; seconds of "
        f"prediction per image, the fastest of {arguments.repeats} interleaved rounds in one process.",
        "",
        "| inference | seconds per image | ratio to plain | PSNR (dB) |",
        "|---|---|---|---|",
        *rows,
        "",
        f"The self-ensemble predicts each image eight times: {ratio:.1f} times the plain cost here.",
    ]
    if not arguments.no_write:
        markdown.write_section("self-ensemble-cost", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
