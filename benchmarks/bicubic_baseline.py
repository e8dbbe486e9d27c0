"""Bicubic super-resolution baseline, compared with the published table.

Runs MATLAB-bicubic downscaling and upscaling through the same evaluation
path as the models (`restoration.evaluation.protocol.evaluate_sr`) and prints a
markdown table. Matching the published bicubic rows to about 0.01 dB is the
end-to-end check of the degradation and metric code.

    python -m benchmarks.bicubic_baseline --ssim      # writes its section of BENCHMARKS.md
    python -m benchmarks.bicubic_baseline --sets Set5 --no-write
"""

import argparse
import time

from benchmarks import markdown
from data.imagesets import load_set
from data.imagesets import resolve_data_root
from restoration.evaluation.metrics import sr_conventions
from restoration.evaluation.protocol import bicubic_predictor
from restoration.evaluation.protocol import evaluate_sr

# Bicubic rows of the SR tables (Y channel, border = scale), as reported by
# VDSR (Kim et al., CVPR 2016) and repeated by EDSR (Lim et al., 2017).
PUBLISHED_PSNR = {
    ("Set5", 2): 33.66, ("Set14", 2): 30.24, ("BSD100", 2): 29.56, ("Urban100", 2): 26.88,
    ("Set5", 3): 30.39, ("Set14", 3): 27.55, ("BSD100", 3): 27.21, ("Urban100", 3): 24.46,
    ("Set5", 4): 28.42, ("Set14", 4): 26.00, ("BSD100", 4): 25.96, ("Urban100", 4): 23.14,
}


def format_row(set_name, scale, evaluation, seconds):
    published = PUBLISHED_PSNR.get((set_name, scale))
    published_text, difference = ("", "") if published is None else (
        f"{published:.2f}", f"{evaluation.psnr - published:+.3f}")
    ssim = "" if evaluation.ssim is None else f"{evaluation.ssim:.4f}"
    return (f"| {set_name} | x{scale} | {len(evaluation.per_image)} | {evaluation.psnr:.3f} "
            f"| {published_text} | {difference} | {ssim} | {seconds:.1f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["Set5", "Set14", "BSD100", "Urban100"])
    parser.add_argument("--scales", nargs="+", type=int, default=[2, 3, 4])
    parser.add_argument("--data-root", default=None, help="folder holding the sets")
    parser.add_argument("--ssim", action="store_true", help="also compute SSIM")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    arguments = parser.parse_args()
    root = resolve_data_root(arguments.data_root)
    lines = [
        "## Bicubic super-resolution baseline against the published table",
        "",
        "Command: `make bench` (`python -m benchmarks.bicubic_baseline"
        + (" --ssim" if arguments.ssim else "") + "`), "
        f"revision {markdown.git_revision()}, data root `{root}`.",
        f"Machine: {markdown.machine_description()}.",
        "",
    ]
    lines += [f"Conventions x{scale}: {sr_conventions(scale).description}" for scale in arguments.scales]
    lines += [
        "",
        "| set | scale | images | PSNR (dB) | published | difference | SSIM | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for set_name in arguments.sets:
        images = load_set(set_name, arguments.data_root)
        for scale in arguments.scales:
            start = time.perf_counter()
            evaluation = evaluate_sr(
                bicubic_predictor(scale), images, scale, compute_ssim=arguments.ssim
            )
            lines.append(format_row(set_name, scale, evaluation, time.perf_counter() - start))
            print(lines[-1], flush=True)
    lines += ["", "Published values: bicubic rows of VDSR (Kim et al., CVPR 2016), Table 3, "
              "repeated by EDSR (Lim et al., 2017)."]
    if not arguments.no_write:
        markdown.write_section("bicubic-baseline", "\n".join(lines))


if __name__ == "__main__":
    main()
