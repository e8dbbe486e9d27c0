"""A DIV2K-sized training set: preparation, time to the first batch, peak memory, resume.

    python -m benchmarks.data_scale                   # 800 images of 2040x1356 (about 4 GB of PNG)
    python -m benchmarks.data_scale --images 64       # a quick look

Synthetic 2040x1356 RGB PNGs (smooth gradients, waves and noise, so that
MATLAB bicubic and PNG decoding cost what they cost on photographs) stand
in for DIV2K's 800 training images. Each measurement runs in a fresh
process under the EDSR-baseline x2 recipe (`configs/edsr_baseline_x2_div2k.yaml`,
48-pixel patches, batch 16) with the folder as its training set, and
reports wall time and the process's peak resident memory:

- `prepare`: `data.storage: disk` the first time, which decodes every image
  once, makes its bicubic input and writes both to `<output.root>/.prepared/`;
- `first batch`: the same command again (the set is prepared), from the
  start of the process to the first training batch, at step 0 and resumed at
  step 200,000;
- `memory`: `data.storage: memory` on a quarter of the images (the whole set
  would not fit here), the former path, to the first batch.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECIPE = Path(__file__).resolve().parent.parent / "configs" / "edsr_baseline_x2_div2k.yaml"
HEIGHT, WIDTH = 1356, 2040
RESUME_STEP = 200_000


def synthetic_image(index):
    import numpy as np

    rng = np.random.default_rng(index)
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    phases = rng.uniform(0, 6.28, 3)
    frequencies = rng.uniform(0.01, 0.2, 2)
    waves = 60 * np.sin(rows[..., None] * frequencies[0] + phases) * np.cos(
        columns[..., None] * frequencies[1])
    ramp = 80 + 0.04 * rows[..., None] + 0.03 * columns[..., None]
    noise = rng.normal(0, 12, (HEIGHT, WIDTH, 3)).astype(np.float32)
    return np.clip(ramp + waves + noise, 0, 255).astype(np.uint8)


def make_images(folder, count):
    """Writes the synthetic set (once; existing files are kept)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index in range(1, count + 1):
        path = folder / f"{index:04d}.png"
        if not path.exists():
            Image.fromarray(synthetic_image(index)).save(path, compress_level=1)


def child(folder, output_root, storage, step):
    """In a fresh process: the run's training images and dataset, to the first batch."""
    start = time.perf_counter()
    from restoration.config import load_config
    from restoration.training import build

    overrides = [f"data.train={{source: folder, path: {folder}}}", "data.validation=null",
                 "data.test_sets=[]", "training.validate_every=0", f"data.storage={storage}",
                 f"output.root={output_root}"]
    config = load_config(RECIPE, overrides).arm("baseline", 0)
    imported = time.perf_counter() - start
    images = build.training_images(config, log=lambda line: None)
    ready = time.perf_counter() - start
    batch = next(iter(build.training_dataset(config, images, skip_batches=step)))
    first = time.perf_counter() - start
    assert batch[0].shape == (16, 48, 48, 3)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"imports": imported, "images": ready, "first_batch": first, "peak": peak}))


def measure(folder, output_root, storage, step=0):
    command = [sys.executable, "-m", "benchmarks.data_scale", "--child", str(folder),
               str(output_root), storage, str(step)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=800)
    parser.add_argument("--folder", type=Path, help="where the synthetic set is (made if missing)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        folder, output_root, storage, step = arguments.child
        return child(folder, output_root, storage, int(step))
    from benchmarks import markdown

    scratch = Path(tempfile.mkdtemp(prefix="data_scale."))
    folder = arguments.folder or scratch / "DIV2K_like"
    started = time.perf_counter()
    make_images(folder, arguments.images)
    made = time.perf_counter() - started
    png_bytes = sum(path.stat().st_size for path in folder.glob("*.png"))
    rows, results = [], []

    def row(what, result):
        results.append(result)
        rows.append(f"| {what} | {result['first_batch']:.1f} s | "
                    f"{result['images'] - result['imports']:.1f} s | "
                    f"{result['peak'] / 2**30:.2f} GiB |")
        print(rows[-1], flush=True)

    row("disk, first run (prepares the set)", measure(folder, scratch / "runs", "disk"))
    row("disk, prepared: step 0", measure(folder, scratch / "runs", "disk"))
    row(f"disk, prepared: resumed at step {RESUME_STEP:,}",
        measure(folder, scratch / "runs", "disk", RESUME_STEP))
    quarter = scratch / "quarter"
    quarter.mkdir()
    for path in sorted(folder.glob("*.png"))[: max(1, arguments.images // 4)]:
        (quarter / path.name).symlink_to(path)
    row(f"memory, {len(list(quarter.iterdir()))} images (the path before `data.storage`)",
        measure(quarter, scratch / "runs", "memory"))
    prepared = sum(path.stat().st_size for path in (scratch / "runs" / ".prepared").rglob("*"))
    body = "\n".join([
        "## A DIV2K-sized training set: preparation, first batch, peak memory, resume",
        "",
        f"`python -m benchmarks.data_scale --images {arguments.images}` (commit "
        f"{markdown.git_revision()}; {markdown.machine_description()}).",
        f"{arguments.images} synthetic {WIDTH}x{HEIGHT} RGB PNGs ({png_bytes / 2**30:.2f} GiB of "
        f"PNG, {arguments.images * HEIGHT * WIDTH * 3 / 2**30:.2f} GiB decoded; written in "
        f"{made:.0f} s), the EDSR-baseline x2 recipe (48-pixel patches, batch 16), each row a "
        "fresh process timed from its start to its first training batch; the prepared folder "
        f"holds {prepared / 2**30:.2f} GiB.",
        "",
        "| storage | process start to the first batch | of which preparing or opening the "
        "images | peak resident memory |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"Goals: peak resident memory under 8 GB on the disk path: "
        f"{'met' if max(r['peak'] for r in results[:3]) < 8e9 else 'not met'}; under 30 s from "
        f"the start of a process to the first batch once prepared: "
        f"{'met' if max(r['first_batch'] for r in results[1:3]) < 30 else 'not met'} (the first "
        "training step adds the network's tracing and compilation, which does not depend on the "
        "data); a resume at step 200,000 within noise of step 0.",
    ])
    markdown.write_section("data-scale", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
