"""The blind degradation chains' CPU cost: blur alternatives, per-patch and batched chains, the training step.

    python -m benchmarks.blind_chain                 # writes its section of BENCHMARKS.md
    python -m benchmarks.blind_chain --no-write --seconds 2
    python -m benchmarks.blind_chain --no-onednn     # as train.py runs a `mirrored` grid

In one process, with patches per CPU-second measured by the process's CPU
time (all threads) while `tf.data` pulls batches of 16:

- the blur alone, one 21x21 kernel per 96x96x3 patch: the original
  `tf.nn.depthwise_conv2d` per patch, channels folded into the batch of a
  `tf.nn.conv2d`, a grouped (depthwise) convolution of the whole batch, an
  im2col matrix product, and the FFT (`data.blind.convolve`) per patch and
  per batch, each with its largest difference from the original;
- the chains on a pool of clean patches: (a) the original per-patch chain
  (`blind.degrade_reference`, depthwise blur), (b) the new per-patch chain
  (`blind.degrade` in the map), (c) the batched chain (`blind.degrade_batch`
  mapped after `batch`), first and second order, at x2 (96-px clean, 48-px
  low-resolution patches) and x4 (128 -> 32);
- the training pipelines as `data.pipeline` builds them: the fixed bicubic
  one (`make_sr_dataset`) and the blind one (`make_blind_sr_dataset`, which
  degrades per patch), for the ratios;
- an EDSR-baseline training step (16 blocks x 64 filters, x2, batch 16,
  48-px patches, Adam, L1; Keras' compiled train function), to which the
  chain's CPU time per batch is compared.

`--no-onednn` sets TF_ENABLE_ONEDNN_OPTS=0 before TensorFlow loads: without
oneDNN the depthwise convolution runs ~10x slower on this CPU.
"""

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "--no-onednn" in sys.argv:  # Must precede TensorFlow's import.
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import common  # noqa: E402
from benchmarks import markdown  # noqa: E402
from data import blind  # noqa: E402
from data.pipeline import make_blind_sr_dataset  # noqa: E402
from data.pipeline import make_sr_dataset  # noqa: E402

BATCH = 16
# scale: (clean patch side, low-resolution patch side)
SCALES = {2: (96, 48), 4: (128, 32)}
CHAINS = {"first order": blind.Chain(), "second order": blind.Chain(order=2)}
POOL = 64  # clean patches cycled through by the chain benchmarks
ONEDNN = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0"


def rate(dataset, seconds, batches_at_least=3):
    """Patches per CPU-second and per wall-second of a dataset of batches, after two warm-up batches."""
    iterator = iter(dataset)
    for _ in range(2):
        next(iterator)
    start_cpu, start_wall, patches, pulled = common.cpu_seconds(), time.perf_counter(), 0, 0
    while pulled < batches_at_least or time.perf_counter() - start_wall < seconds:
        batch = next(iterator)
        patches += int(tf.shape(batch[0] if isinstance(batch, tuple) else batch)[0])
        pulled += 1
    return patches / (common.cpu_seconds() - start_cpu), patches / (time.perf_counter() - start_wall)


def textures(count, size, seed):
    """Clean uint8 images with edges and texture at several scales (blocks plus noise, smoothed)."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        coarse = rng.uniform(size=(size // 8, size // 8, 3))
        fine = np.kron(coarse, np.ones((8, 8, 1))) + 0.15 * rng.standard_normal((size, size, 3))
        images.append(np.clip(255 * fine, 0, 255).astype(np.uint8))
    return images


def key_rows(index):
    key = tf.random.experimental.stateless_fold_in(tf.constant([7, 11], tf.int64), index)
    return tf.random.experimental.stateless_split(key, blind.KEY_COUNT)


def chain_datasets(pool, chain, scale):
    """(a) original per patch, (b) new per patch, (c) batched: datasets of degraded batches."""
    pool = tf.constant(pool, tf.float32) / 255.0
    examples = tf.data.Dataset.range(10**9)

    def per_patch(degrade):
        return examples.map(lambda i: degrade(pool[i % POOL], key_rows(i), chain, scale),
                            num_parallel_calls=tf.data.AUTOTUNE).batch(BATCH).prefetch(2)

    batched = examples.map(lambda i: (pool[i % POOL], key_rows(i))).batch(BATCH).map(
        lambda clean, keys: blind.degrade_batch(clean, keys, chain, scale),
        num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
    variants = {}
    if chain.order == 1:
        variants["(a) original per patch"] = per_patch(blind.degrade_reference)
    variants["(b) per patch"] = per_patch(blind.degrade)
    variants["(c) batched"] = batched
    return variants


def blur_alternatives(seconds):
    """CPU ms per 96x96x3 patch of each blur, and its largest difference from the original."""
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(size=(BATCH, 96, 96, 3)), tf.float32)
    kernels = tf.stack([blind.mixed_kernel(i % 6, 2.5, 1.2, 0.5 * i, 1.5) for i in range(BATCH)])
    radius = blind.KERNEL_SIZE // 2
    paddings = [[0, 0], [radius, radius], [radius, radius], [0, 0]]

    def folded(image, kernel):
        padded = tf.transpose(tf.pad(image[None], paddings, mode="REFLECT"), [3, 1, 2, 0])
        return tf.transpose(tf.nn.conv2d(padded, kernel[:, :, None, None], 1, "VALID"), [3, 1, 2, 0])[0]

    def grouped(images, kernels):
        n, h, w, c = images.shape
        padded = tf.pad(images, paddings, mode="REFLECT")
        padded = tf.reshape(tf.transpose(padded, [1, 2, 0, 3]), [1, h + 2 * radius, w + 2 * radius, n * c])
        filters = tf.reshape(tf.repeat(tf.transpose(kernels, [1, 2, 0]), c, axis=2), [21, 21, n * c, 1])
        out = tf.nn.depthwise_conv2d(padded, filters, [1, 1, 1, 1], "VALID")
        return tf.transpose(tf.reshape(out, [h, w, n, c]), [2, 0, 1, 3])

    def im2col(images, kernels):
        n, h, w, c = images.shape
        patches = tf.image.extract_patches(tf.pad(images, paddings, mode="REFLECT"), [1, 21, 21, 1],
                                           [1, 1, 1, 1], [1, 1, 1, 1], "VALID")
        patches = tf.reshape(patches, [n, h * w, 21 * 21, c])
        return tf.reshape(tf.einsum("npkc,nk->npc", patches, tf.reshape(kernels, [n, -1])), [n, h, w, c])

    def each(function):
        return lambda: tf.stack([function(images[i], kernels[i]) for i in range(BATCH)])

    reference = each(blind.blur)()
    variants = {
        "depthwise_conv2d per patch (the original)": each(blind.blur),
        "conv2d per patch, channels folded into the batch": each(folded),
        "grouped (depthwise) convolution of the batch": lambda: grouped(images, kernels),
        "im2col matrix product of the batch": lambda: im2col(images, kernels),
        "FFT per patch (blind.convolve, batch of 1)": each(lambda x, k: blind.convolve(x[None], k[None])[0]),
        "FFT of the batch (blind.convolve)": lambda: blind.convolve(images, kernels),
    }
    rows = []
    for name, function in variants.items():
        compiled = tf.function(function)
        error = float(tf.reduce_max(tf.abs(compiled() - reference)))
        start_cpu, start_wall, calls = common.cpu_seconds(), time.perf_counter(), 0
        while calls < 2 or time.perf_counter() - start_wall < seconds / 3:
            compiled().numpy()
            calls += 1
        rows.append((name, 1000 * (common.cpu_seconds() - start_cpu) / (calls * BATCH), error))
        print(f"  blur: {name}: {rows[-1][1]:.2f} ms CPU per patch, max difference {error:.1e}", flush=True)
    return rows


def training_step(steps):
    """CPU and wall seconds of one EDSR-baseline x2 step (batch 16, 48-px), after two warm-up steps."""
    model = common.edsr(2, 16, 64, policy="float32", jit_compile=False)
    iterator = iter(tf.data.Dataset.from_tensors(common.random_batch(BATCH, 48, 2)).repeat())
    model.make_train_function()
    for _ in range(2):
        logs = model.train_function(iterator)
    float(logs["loss"])
    start_cpu, start_wall = common.cpu_seconds(), time.perf_counter()
    for _ in range(steps):
        logs = model.train_function(iterator)
    float(logs["loss"])
    return (common.cpu_seconds() - start_cpu) / steps, (time.perf_counter() - start_wall) / steps


def measure(arguments):
    results = {"blur": blur_alternatives(arguments.seconds), "chains": {}, "pipelines": {}}
    for scale in arguments.scales:
        clean, low = SCALES[scale]
        images = textures(8, 256, seed=scale)
        pipelines = {
            "bicubic (make_sr_dataset)": make_sr_dataset(images, scale, low, BATCH, seed=0),
            "blind, first order, per patch (make_blind_sr_dataset)":
                make_blind_sr_dataset(images, scale, low, BATCH, seed=0, chain=CHAINS["first order"]),
        }
        for name, dataset in pipelines.items():
            measured = results["pipelines"][(scale, name)] = rate(dataset, arguments.seconds)
            print(f"  x{scale} pipeline {name}: {measured[0]:.0f} patches/CPU-s", flush=True)
        pool = np.stack([image[:clean, :clean] for image in textures(POOL, clean, seed=10 + scale)])
        for order, chain in CHAINS.items():
            for variant, dataset in chain_datasets(pool, chain, scale).items():
                measured = results["chains"][(scale, order, variant)] = rate(dataset, arguments.seconds)
                print(f"  x{scale} {order} {variant}: {measured[0]:.0f} patches/CPU-s", flush=True)
    results["step"] = training_step(arguments.steps)
    print(f"  EDSR-baseline step: {results['step'][0]:.2f} CPU-s, {results['step'][1]:.2f} s", flush=True)
    return results


def report(results, arguments, command):
    state = "on" if ONEDNN else "off (TF_ENABLE_ONEDNN_OPTS=0)"
    lines = [
        *markdown.header("Blind degradation chains: the blur, per-patch and batched chains, against training",
                         f"`{command}`", f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
                         f"Python {platform.python_version()}; oneDNN {state}"),
        f"Rates: patches per CPU-second of the process (all threads), batches of {BATCH} pulled from "
        "`tf.data` "
        f"for {arguments.seconds:g} s after two warm-up batches; one run, so a few percent of noise.",
        "",
        "### The blur: one 21x21 kernel per 96x96x3 patch, reflect padding",
        "",
        "| method | CPU ms per patch | max difference from the original |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {ms:.2f} | {error:.1e} |" for name, ms, error in results["blur"]]
    lines += [
        "",
        "### The chains (patches per CPU-second) and their share of a training step",
        "",
        "The clean patches come from a pool in memory, so the rates are the chain's (with `tf.data`'s "
        "overhead). Ratio: to the bicubic pipeline's rate at the same scale. Share of a step: the chain's "
        f"CPU time for one batch of {BATCH} over the CPU time of one EDSR-baseline x2 step "
        f"({results['step'][0]:.2f} CPU-s, {results['step'][1]:.2f} s wall; 16x64, batch {BATCH}, 48-px).",
        "",
        "| scale | chain | path | patches / CPU-s | patches / s | ratio to bicubic | share of a step |",
        "|---|---|---|---|---|---|---|",
    ]
    step_cpu = results["step"][0]
    for (scale, order, variant), (per_cpu, per_wall) in results["chains"].items():
        clean, low = SCALES[scale]
        bicubic = results["pipelines"][(scale, "bicubic (make_sr_dataset)")][0]
        share = BATCH / per_cpu / step_cpu
        lines.append(f"| x{scale} ({clean} -> {low} px) | {order} | {variant} | {per_cpu:.0f} "
                     f"| {per_wall:.0f} | {per_cpu / bicubic:.2f} | {share:.1%} |")
    lines += [
        "",
        "### The training pipelines (`data.pipeline`)",
        "",
        "| scale | pipeline | patches / CPU-s | patches / s |",
        "|---|---|---|---|",
    ]
    for (scale, name), (per_cpu, per_wall) in results["pipelines"].items():
        lines.append(f"| x{scale} | {name} | {per_cpu:.0f} | {per_wall:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measuring time per rate")
    parser.add_argument("--scales", nargs="+", type=int, choices=sorted(SCALES), default=sorted(SCALES))
    parser.add_argument("--steps", type=int, default=3, help="timed EDSR-baseline steps")
    parser.add_argument("--no-onednn", action="store_true", help="TF_ENABLE_ONEDNN_OPTS=0 (set at import)")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    arguments = parser.parse_args(argv)
    command = "python -m benchmarks.blind_chain" + " ".join(
        [""] + [word for word in (argv if argv is not None else sys.argv[1:]) if word != "--no-write"])
    print(f"Machine: {markdown.machine_description()}; oneDNN {'on' if ONEDNN else 'off'}", flush=True)
    text = report(measure(arguments), arguments, command)
    print(text)
    if not arguments.no_write:
        markdown.write_section("blind-chain" + ("" if ONEDNN else "-no-onednn"), text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
