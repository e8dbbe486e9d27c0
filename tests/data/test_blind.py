"""Random degradation chains: kernels, determinism, ranges and every stage really applied."""

import dataclasses
import math

import numpy as np
import pytest
import tensorflow as tf

from data import blind
from data import realesrgan

NOTHING = dict(blur_probability=0.0, noise_probability=0.0, jpeg_probability=0.0)


def keys(seed):
    return tf.random.stateless_uniform((blind.KEY_COUNT, 2), (seed, 0), maxval=2**31 - 1, dtype=tf.int32)


def textured(size=48, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(size=(size // 4, size // 4, channels))
    return tf.constant(np.kron(base, np.ones((4, 4, 1))), tf.float32)


def test_gaussian_kernels_sum_to_one_with_the_requested_covariance():
    """Second moments of the kernel are the covariance R diag(sx^2, sy^2) R^T."""
    sigma_x, sigma_y, angle = 2.0, 1.0, 0.6
    kernel = blind.gaussian_kernel(sigma_x, sigma_y, angle).numpy().astype(np.float64)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-5)
    grid = np.arange(-10, 11)
    y, x = np.meshgrid(grid, grid, indexing="ij")
    moments = np.array([[np.sum(kernel * x * x), np.sum(kernel * x * y)],
                        [np.sum(kernel * x * y), np.sum(kernel * y * y)]])
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    expected = rotation @ np.diag([sigma_x**2, sigma_y**2]) @ rotation.T
    np.testing.assert_allclose(moments, expected, atol=2e-3)
    isotropic = blind.gaussian_kernel(1.5, 1.5, 0.0).numpy()
    np.testing.assert_allclose(isotropic, isotropic.T, atol=1e-7)
    np.testing.assert_allclose(isotropic, isotropic[::-1, ::-1], atol=1e-7)


def test_a_chain_is_deterministic_for_its_keys_and_differs_between_keys():
    image = textured()
    chain = blind.Chain()
    first = blind.degrade(image, keys(1), chain, scale=2).numpy()
    np.testing.assert_array_equal(first, blind.degrade(image, keys(1), chain, scale=2).numpy())
    assert not np.array_equal(first, blind.degrade(image, keys(2), chain, scale=2).numpy())
    assert first.shape == (24, 24, 3)
    np.testing.assert_array_equal(np.round(first * 255), first * 255)  # 8-bit levels
    assert first.min() >= 0 and first.max() <= 1


def test_without_stages_the_chain_only_quantises():
    image = textured()
    out = blind.degrade(image, keys(3), blind.Chain(**NOTHING)).numpy()
    np.testing.assert_allclose(out, np.round(image.numpy() * 255) / 255, atol=1e-7)


def test_blur_turns_an_impulse_into_the_kernel():
    """Isotropic sigma 2: an impulse in the middle of a black image becomes the kernel."""
    chain = blind.Chain(**{**NOTHING, "blur_probability": 1.0}, blur_sigma=(2.0, 2.0),
                        anisotropic_probability=0.0)
    image = np.zeros((41, 41, 1), np.float32)
    image[20, 20, 0] = 1.0
    kernel = blind.random_kernel(keys(4)[0:5], chain).numpy()
    np.testing.assert_allclose(kernel, blind.gaussian_kernel(2.0, 2.0, 0.0).numpy(), atol=1e-7)
    blurred = blind.blur(tf.constant(image), kernel).numpy()[10:31, 10:31, 0]
    np.testing.assert_allclose(blurred, kernel, atol=1e-6)


def test_downsampling_uses_the_configured_method():
    image = textured(channels=1)
    for method in realesrgan.DEFAULTS["downsampling"]:
        chain = blind.Chain(**NOTHING, downsampling=(method,))
        out = blind.degrade(image, keys(5), chain, scale=4).numpy()
        expected = tf.image.resize(image, (12, 12), method=method, antialias=method != "area").numpy()
        np.testing.assert_allclose(out, np.round(np.clip(expected, 0, 1) * 255) / 255, atol=1e-6)


def test_noise_levels_stay_in_range_and_gray_noise_is_shared_by_channels():
    """Over 60 draws the measured sigma of noise on flat gray stays inside [5, 20] and spans it."""
    chain = blind.Chain(**{**NOTHING, "noise_probability": 1.0}, noise_sigma=(5.0, 20.0),
                        gray_noise_probability=0.0)
    flat = tf.fill((96, 96, 3), 0.5)
    sigmas = [255 * blind.degrade(flat, keys(seed), chain).numpy().std() for seed in range(60)]
    # 27,648 samples per draw: the std is within about 1 % of sigma; rounding adds 1/12 variance.
    assert min(sigmas) > 5 * 0.97 and max(sigmas) < 20 * 1.03
    assert min(sigmas) < 7 and max(sigmas) > 18
    gray = blind.Chain(**{**NOTHING, "noise_probability": 1.0}, gray_noise_probability=1.0)
    out = blind.degrade(flat, keys(6), gray).numpy()
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_jpeg_is_really_applied_at_the_drawn_quality():
    image = textured(seed=7)
    chain = blind.Chain(**{**NOTHING, "jpeg_probability": 1.0}, jpeg_quality=(10, 10))
    out = blind.degrade(image, keys(8), chain).numpy()
    expected = tf.image.adjust_jpeg_quality(image, 10).numpy()
    np.testing.assert_allclose(out, np.round(expected * 255) / 255, atol=1e-6)
    assert np.abs(out - image.numpy()).mean() > 0.01


def test_stage_probabilities_are_respected():
    """Noise with probability 0.3 is present in 30 % +- 10 % of 100 draws."""
    chain = blind.Chain(**{**NOTHING, "noise_probability": 0.3}, noise_sigma=(10.0, 10.0))
    flat = tf.fill((32, 32, 1), 0.5)
    noisy = [blind.degrade(flat, keys(seed), chain).numpy().std() > 0 for seed in range(100)]
    assert 0.2 <= np.mean(noisy) <= 0.4


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"blur_probability": 1.5}, "blur_probability"),
        ({"blur_sigma": (3.0, 1.0)}, "blur_sigma"),
        ({"noise_sigma": (-1.0, 5.0)}, "noise_sigma"),
        ({"jpeg_quality": (30, 101)}, "jpeg_quality"),
        ({"jpeg_quality": (30.0, 90)}, "jpeg_quality"),
        ({"downsampling": ("nearest",)}, "downsampling"),
        ({"downsampling": ()}, "downsampling"),
    ],
)
def test_invalid_chains_name_the_field(arguments, message):
    with pytest.raises(ValueError, match=message):
        blind.Chain(**arguments)


# ---------------------------------------------------------------- the FFT blur


def levels(patches):
    """8-bit levels of patches in [0, 1]."""
    return np.round(np.asarray(patches) * 255).astype(np.uint8)


def batch_keys(seed, count):
    shape = (count, blind.KEY_COUNT, 2)
    return tf.random.stateless_uniform(shape, (seed, 1), maxval=2**31 - 1, dtype=tf.int32)


def random_kernels(count, seed):
    """Gaussian, anisotropic, generalised, plateau and sinc kernels of several sizes."""
    rng = np.random.default_rng(seed)
    kernels = []
    for index in range(count):
        kind = index % len(realesrgan.KERNELS)
        size = int(rng.choice([7, 13, 21]))
        if index % 4 == 3:
            kernels.append(blind.sinc_kernel(float(rng.uniform(math.pi / 5, math.pi)), size))
        else:
            kernels.append(blind.mixed_kernel(kind, rng.uniform(0.2, 3), rng.uniform(0.2, 3),
                                              rng.uniform(-math.pi, math.pi), rng.uniform(0.5, 4), size))
    return tf.stack(kernels)


def test_fft_blur_agrees_with_the_depthwise_blur():
    """convolve (batched FFT) matches tf.nn.depthwise_conv2d of the reflect-padded patch to float rounding."""
    images = tf.stack([textured(96, seed=seed) for seed in range(6)])
    kernels = random_kernels(6, seed=1)
    batched = blind.convolve(images, kernels).numpy()
    for index in range(6):
        reference = blind.blur(images[index], kernels[index]).numpy()
        np.testing.assert_allclose(batched[index], reference, atol=3e-6)
    single = blind.convolve(images[2:3], kernels[2:3]).numpy()[0]
    np.testing.assert_allclose(single, batched[2], atol=1e-7)


def test_fft_blur_reflects_at_the_edges_of_an_image_in_a_larger_canvas():
    """An image in the corner of a canvas is blurred as if alone; small images reflect periodically."""
    rng = np.random.default_rng(3)
    canvas = rng.uniform(size=(2, 40, 40, 3)).astype(np.float32) * 9  # garbage around the images
    image = rng.uniform(size=(30, 23, 3)).astype(np.float32)
    tiny = rng.uniform(size=(5, 4, 3)).astype(np.float32)
    canvas[0, :30, :23], canvas[1, :5, :4] = image, tiny
    kernels = random_kernels(2, seed=4)
    out = blind.convolve(tf.constant(canvas), kernels, tf.constant([30, 5]), tf.constant([23, 4])).numpy()
    alone = blind.blur(tf.constant(image), kernels[0]).numpy()
    np.testing.assert_allclose(out[0, :30, :23], alone, atol=3e-6)
    # numpy's reflect padding mirrors again and again when the pad exceeds the image.
    padded = np.pad(tiny, [(10, 10), (10, 10), (0, 0)], mode="reflect")
    kernel = kernels[1].numpy()
    expected = np.stack([[np.einsum("ij,ijc->c", kernel, padded[y:y + 21, x:x + 21]) for x in range(4)]
                         for y in range(5)])
    np.testing.assert_allclose(out[1, :5, :4], expected, atol=3e-6)


# ---------------------------------------------------------------- kernels


def test_every_kernel_kind_sums_to_one_and_is_truncated_to_its_size():
    for kind, name in enumerate(realesrgan.KERNELS):
        for size in (7, 13, 21):
            kernel = blind.mixed_kernel(kind, 2.5, 1.0, 0.7, 1.5, size).numpy()
            assert kernel.sum() == pytest.approx(1.0, abs=1e-5), name
            outside = np.abs(np.arange(21) - 10) > size // 2
            assert not kernel[outside].any() and not kernel[:, outside].any(), name
            assert kernel.min() >= 0 and kernel[10, 10] == kernel.max(), name
            np.testing.assert_allclose(kernel, kernel[::-1, ::-1], atol=1e-7)  # point-symmetric
        if name.endswith("iso") and not name.endswith("aniso"):
            iso = blind.mixed_kernel(kind, 2.0, 0.3, 0.9, 1.5).numpy()  # sigma_y and angle are ignored
            np.testing.assert_allclose(iso, iso.T, atol=1e-7)


def test_kernel_families_have_their_shapes():
    """beta 1 makes the generalised Gaussian a Gaussian; plateau kernels are flat-topped with heavy tails."""
    gaussian = blind.mixed_kernel(1, 2.0, 1.0, 0.4).numpy()
    np.testing.assert_allclose(blind.mixed_kernel(3, 2.0, 1.0, 0.4, beta=1.0).numpy(), gaussian, atol=1e-7)
    np.testing.assert_allclose(gaussian, blind.gaussian_kernel(2.0, 1.0, 0.4).numpy(), atol=1e-7)
    flat = blind.mixed_kernel(2, 2.0, 2.0, 0.0, beta=4.0).numpy()  # generalised, beta 4: a flat top
    assert flat[10, 11] / flat[10, 10] > 0.99 > gaussian[10, 11] / gaussian[10, 10]
    plateau = blind.mixed_kernel(4, 1.0, 1.0, 0.0, beta=1.0).numpy()
    same_width = blind.mixed_kernel(0, 1.0, 1.0, 0.0).numpy()
    assert plateau[10, 20] / plateau[10, 10] > 100 * same_width[10, 20] / same_width[10, 10]


def test_sinc_kernel_is_a_circular_low_pass_filter():
    """Sum 1, symmetric, negative lobes (ringing), and its response is ~1 inside the cut-off, ~0 beyond."""
    cutoff = math.pi / 2
    kernel = blind.sinc_kernel(cutoff).numpy()
    assert kernel.sum() == pytest.approx(1.0, abs=1e-5)
    assert kernel.min() < -0.01 and kernel[10, 10] == kernel.max()
    np.testing.assert_allclose(kernel, kernel.T, atol=1e-7)
    np.testing.assert_allclose(kernel, kernel[::-1], atol=1e-7)
    # cutoff J1(cutoff r) / (2 pi r), cutoff^2 / (4 pi) at r = 0, J1 by its power series, normalised.
    y, x = np.mgrid[-10:11, -10:11]
    radius = np.hypot(x, y)
    half = cutoff * radius / 2
    bessel = sum((-1) ** m * half ** (2 * m + 1) / (math.factorial(m) * math.factorial(m + 1))
                 for m in range(80))
    expected = np.where(radius > 0, cutoff * bessel / (2 * math.pi * np.maximum(radius, 1)),
                        cutoff**2 / (4 * math.pi))
    np.testing.assert_allclose(kernel, expected / expected.sum(), atol=2e-6)
    response = np.abs(np.fft.fft2(kernel, (256, 256)))
    frequency = np.fft.fftfreq(256) * 2 * math.pi
    radius = np.hypot(frequency[:, None], frequency[None, :])
    assert 0.8 < response[radius < 0.7 * cutoff].mean() < 1.2
    assert response[radius > 1.3 * cutoff].mean() < 0.05
    small = blind.sinc_kernel(cutoff, 7).numpy()
    assert small.sum() == pytest.approx(1.0, abs=1e-5) and not small[:7].any()


# ---------------------------------------------------------------- first order: old and new paths


def test_the_first_order_chain_reproduces_the_original_depthwise_chain():
    """`degrade` (FFT blur, batched arithmetic) makes the patches of the original per-patch chain."""
    chain = blind.Chain()
    for seed in range(6):
        for scale in (1, 2, 4):
            image = textured(48, seed=seed)
            new = blind.degrade(image, keys(seed), chain, scale).numpy()
            old = blind.degrade_reference(image, keys(seed), chain, scale).numpy()
            # The blurs agree to ~1e-6; a level may flip where a value sits on a rounding edge.
            assert np.mean(new != old) < 1e-3, (seed, scale)


@pytest.mark.slow
@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("scale, size, channels", [(2, 96, 3), (4, 128, 3), (2, 48, 1), (1, 32, 3)])
def test_batched_and_per_patch_paths_give_the_same_patches(order, scale, size, channels):
    """degrade_batch's example i is degrade(images[i], keys[i]): identical 8-bit patches."""
    chain = blind.Chain(order=order)
    images = tf.stack([textured(size, channels, seed=seed) for seed in range(5)])
    example_keys = batch_keys(10 + order, 5)
    batched = blind.degrade_batch(images, example_keys, chain, scale).numpy()
    assert batched.shape == (5, size // scale, size // scale, channels)
    for index in range(5):
        single = blind.degrade(images[index], example_keys[index], chain, scale).numpy()
        np.testing.assert_array_equal(batched[index], single)
    reordered = blind.degrade_batch(tf.reverse(images, [0]), tf.reverse(example_keys, [0]), chain, scale)
    np.testing.assert_array_equal(reordered.numpy()[::-1], batched)


@pytest.mark.slow
@pytest.mark.parametrize("order", [1, 2])
def test_the_same_keys_always_give_the_same_patches(order):
    """Deterministic per key: eagerly, in a tf.function, in tf.data, with int32 or int64 keys."""
    chain = blind.Chain(order=order)
    images = tf.stack([textured(64, seed=seed) for seed in range(4)])
    example_keys = batch_keys(20, 4)
    first = blind.degrade_batch(images, example_keys, chain, 2).numpy()
    np.testing.assert_array_equal(blind.degrade_batch(images, example_keys, chain, 2).numpy(), first)
    # Graph mode may divide by 255 as a product by 1/255: the 8-bit levels are the same.
    compiled = tf.function(lambda x, k: blind.degrade_batch(x, k, chain, 2))
    np.testing.assert_array_equal(levels(compiled(images, example_keys)), levels(first))
    np.testing.assert_array_equal(levels(compiled(images, tf.cast(example_keys, tf.int64))), levels(first))
    dataset = tf.data.Dataset.from_tensor_slices((images, example_keys)).map(
        lambda x, k: blind.degrade(x, k, chain, 2), num_parallel_calls=4)
    np.testing.assert_array_equal(levels(np.stack(list(dataset.as_numpy_iterator()))), levels(first))
    other = blind.degrade_batch(images, batch_keys(21, 4), chain, 2).numpy()
    assert all(not np.array_equal(a, b) for a, b in zip(first, other))
    np.testing.assert_array_equal(np.round(first * 255), first * 255)
    assert first.min() >= 0 and first.max() <= 1


# ---------------------------------------------------------------- second order


def map_compiled(function, elements, signature):
    """tf.map_fn in a graph (eager map_fn runs op by op)."""
    return tf.function(lambda: tf.map_fn(function, elements, fn_output_signature=signature))()


def draws(chain, count, shape=(96, 96, 3), scale=2, seed=30):
    """The second-order draws of `count` examples, as numpy arrays."""
    example_keys = batch_keys(seed, count)
    signature = {name: tf.TensorSpec(value.shape, value.dtype)
                 for name, value in blind.second_order_draws(example_keys[0], chain, shape, scale).items()}
    result = map_compiled(lambda k: blind.second_order_draws(k, chain, shape, scale), example_keys, signature)
    return {name: value.numpy() for name, value in result.items()}


def round_draws(chain, count, seed=31):
    """Both rounds' kernel parameters for `count` examples."""
    settings = blind.round_settings(chain)
    example_keys = batch_keys(seed, count)
    result = []
    for offset, round_settings in zip((0, blind._ROUND), settings):
        def one(k, offset=offset, round_settings=round_settings):
            u = blind._uniforms(k)[offset:offset + blind._ROUND]
            return blind.round_parameters(u, round_settings, chain)
        sample = one(example_keys[0])
        signature = {name: tf.TensorSpec((), value.dtype) for name, value in sample.items()}
        mapped = map_compiled(one, example_keys, signature)
        result.append({name: value.numpy() for name, value in mapped.items()})
    return result


def test_second_order_kernel_draws_follow_the_reference_ranges():
    """Kinds in Real-ESRGAN's proportions, sigmas, betas, sizes and cut-offs in their ranges."""
    chain = blind.Chain(order=2)
    first, second = round_draws(chain, 1500)
    for parameters, sigma in ((first, (0.2, 3.0)), (second, (0.2, 1.5))):
        shares = np.bincount(parameters["kind"], minlength=6) / 1500
        np.testing.assert_allclose(shares, realesrgan.KERNEL_PROBABILITIES, atol=0.04)
        for name in ("sigma_x", "sigma_y"):
            assert sigma[0] <= parameters[name].min() < sigma[0] + 0.1
            assert sigma[1] - 0.1 < parameters[name].max() <= sigma[1]
        assert np.all(np.abs(parameters["angle"]) <= math.pi)
        generalized = parameters["kind"] // 2 == 1
        plateau = parameters["kind"] // 2 == 2
        assert 0.5 <= parameters["beta"][generalized].min() < 0.6
        assert 3.7 < parameters["beta"][generalized].max() <= 4
        assert 1.0 <= parameters["beta"][plateau].min() and parameters["beta"][plateau].max() <= 2
        assert set(parameters["size"]) == {7, 9, 11, 13, 15, 17, 19, 21}
        assert 0.07 < parameters["sinc"].mean() < 0.13
        small = parameters["size"] < 13
        assert parameters["cutoff"][small].min() >= math.pi / 3 - 1e-6
        assert parameters["cutoff"][~small].min() < math.pi / 3
        assert parameters["cutoff"].max() <= math.pi + 1e-6
    assert first["blur"].all()  # blur_probability 1
    assert 0.75 < second["blur"].mean() < 0.85  # second_blur_probability 0.8


def test_second_order_sizes_resizes_and_final_filter_follow_the_reference():
    chain = blind.Chain(order=2)
    result = draws(chain, 600)
    for kernel in ("kernel1", "kernel2", "final_kernel"):
        np.testing.assert_allclose(result[kernel].sum(axis=(1, 2)), 1.0, atol=1e-5)
    height1 = result["height1"]
    assert height1.min() >= math.floor(96 * 0.15) and height1.max() <= 96 * 1.5
    shares = [np.mean(height1 > 96), np.mean(height1 < 96), np.mean(height1 == 96)]
    np.testing.assert_allclose(shares, [0.2, 0.7, 0.1], atol=0.05)  # up, down, keep
    height2 = result["height2"]
    assert height2.min() >= math.floor(48 * 0.3) and height2.max() <= 48 * 1.2
    np.testing.assert_allclose([np.mean(height2 > 48), np.mean(height2 < 48)], [0.3, 0.4], atol=0.06)
    assert 0.75 < result["final"].mean() < 0.85  # final_sinc_probability 0.8
    assert (result["final_kernel"].min(axis=(1, 2)) < 0).mean() > 0.5  # sinc lobes
    # The resampling matrices map each image into its canvas and nothing beyond.
    for index in range(20):
        rows = result["rows1"][index]
        assert not rows[height1[index]:].any()
        np.testing.assert_allclose(rows[:height1[index]].sum(axis=1), 1.0, atol=1e-5)
        assert not result["rows2"][index][:, height1[index]:].any()
        assert not result["rows3"][index][:, height2[index]:].any()


@pytest.mark.parametrize("method", realesrgan.DEFAULTS["downsampling"])
@pytest.mark.parametrize("source, target", [(40, 17), (17, 40), (30, 30)])
def test_resize_matrices_are_tensorflows_resize(method, source, target):
    image = textured(40, seed=5)[:source, :source]
    matrix = blind.resize_matrix(source, target, 0, (method,), target + 3, source + 2)
    assert not matrix[target:].numpy().any() and not matrix[:, source:].numpy().any()
    canvas = tf.pad(image, [[0, 2], [0, 2], [0, 0]], constant_values=7.0)
    resized = blind._resample(canvas[None], matrix[None], matrix[None])[0, :target, :target]
    expected = tf.image.resize(image, (target, target), method=method)
    np.testing.assert_allclose(resized.numpy(), expected.numpy(), atol=2e-6)


OFF = dict(order=2, blur_probability=0.0, sinc_probability=0.0, resize_probabilities=(0.0, 0.0, 1.0),
           noise_probability=0.0, second_blur_probability=0.0, second_resize_probabilities=(0.0, 0.0, 1.0),
           final_sinc_probability=0.0)


def test_second_order_jpeg_is_really_applied():
    """Only the first JPEG on: the output is tf.image.adjust_jpeg_quality's, with 8x8 block edges."""
    y, x = np.mgrid[0:64, 0:64] / 64.0
    smooth = np.stack([0.3 + 0.4 * x * y, 0.5 + 0.3 * np.sin(3 * x), 0.2 + 0.5 * y], -1)
    smooth = tf.constant(smooth, tf.float32)
    chain = blind.Chain(**OFF, jpeg_quality=(20, 20), second_order_probability=0.0)
    out = blind.degrade(smooth, keys(40), chain).numpy()
    expected = tf.image.adjust_jpeg_quality(smooth, 20).numpy()
    np.testing.assert_allclose(out, np.round(expected * 255) / 255, atol=1e-6)
    assert np.abs(out - smooth.numpy()).mean() > 0.002
    steps = np.abs(np.diff(out, axis=1)).mean(axis=(0, 2))
    assert steps[7::8].mean() > 1.5 * np.delete(steps, np.arange(7, 63, 8)).mean()


@pytest.mark.slow
@pytest.mark.parametrize("sinc_first", [True, False])
def test_the_final_sinc_and_jpeg_come_in_either_order(sinc_first):
    """[resize back + sinc] then JPEG, or JPEG then [resize back + sinc], as drawn."""
    image = textured(64, seed=8)
    chain = blind.Chain(**{**OFF, "final_sinc_probability": 1.0}, jpeg_quality=(40, 40),
                        second_jpeg_quality=(25, 25), sinc_before_jpeg_probability=float(sinc_first))
    example_keys = batch_keys(41, 1)
    out = blind.degrade_batch(image[None], example_keys, chain).numpy()[0]
    kernel = draws(chain, 1, shape=(64, 64, 3), scale=1, seed=41)["final_kernel"]
    first = tf.image.adjust_jpeg_quality(image, 40)
    if sinc_first:
        filtered = blind.convolve(first[None], kernel)[0]
        expected = tf.image.adjust_jpeg_quality(tf.clip_by_value(filtered, 0, 1), 25)
    else:
        expected = blind.convolve(tf.image.adjust_jpeg_quality(first, 25)[None], kernel)[0]
    expected = np.round(np.clip(expected.numpy(), 0, 1) * 255) / 255
    assert np.mean(out != expected) < 1e-3
    assert np.abs(out - expected).max() <= 1 / 255 + 1e-6


def test_poisson_noise_variance_scales_with_intensity():
    """Var = intensity / v, v the distinct levels rounded up to a power of 2 (here 256); gray is shared."""
    variances = []
    for level in (0.1, 0.3, 0.6, 0.9):
        image = np.full((96, 96, 3), round(level * 255) / 255, np.float32)
        image.reshape(-1)[:200] = np.arange(200) / 255  # 200 or 201 distinct levels: v = 256
        noise = blind.poisson_noise(tf.constant(image), tf.constant([5, int(level * 100)], tf.int32),
                                    tf.constant(False)).numpy().reshape(-1)[200:]
        assert abs(noise.mean()) < 3e-4
        variances.append(noise.var())
        assert noise.var() == pytest.approx(round(level * 255) / 255 / 256, rel=0.06)
    assert np.all(np.diff(variances) > 0)
    gray = blind.poisson_noise(tf.constant(image), tf.constant([6, 0], tf.int32), tf.constant(True)).numpy()
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    assert gray.std() > 0


def test_noise_type_and_gray_noise_follow_their_probabilities():
    """Second-order rounds: Gaussian noise half the time (else Poisson); gray noise shared by channels."""
    flat = tf.fill((64, 64, 3), 0.5)
    gaussian = blind.Chain(**{**OFF, "noise_probability": 1.0}, jpeg_probability=0.0,
                           second_order_probability=0.0, gaussian_noise_probability=1.0,
                           gray_noise_probability=1.0, noise_sigma=(10.0, 10.0))
    out = blind.degrade(flat, keys(50), gaussian).numpy()
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    assert 255 * out.std() == pytest.approx(10, rel=0.1)
    # On a flat image Poisson noise has v = 1: (Poisson(0.5) - 0.5) / 100, a std of ~1.8 on 0-255.
    mixed = dataclasses.replace(gaussian, gaussian_noise_probability=0.5, gray_noise_probability=0.0,
                                poisson_scale=(0.01, 0.01))
    stds = [255 * blind.degrade(flat, keys(seed), mixed).numpy().std() for seed in range(60)]
    poisson = np.mean([abs(std - 10) > 2 for std in stds])
    assert 0.3 < poisson < 0.7


def test_a_skipped_second_round_goes_straight_to_the_target():
    """second_order_probability 0: round one, then the resize to the target and the final sinc only."""
    image = textured(96, seed=9)
    skipped = blind.Chain(**OFF, jpeg_quality=(50, 50), second_order_probability=0.0,
                          downsampling=("bicubic",))
    out = blind.degrade(image, keys(60), skipped, scale=2).numpy()
    expected = tf.image.resize(tf.image.adjust_jpeg_quality(image, 50), (48, 48), method="bicubic")
    expected = np.round(np.clip(expected.numpy(), 0, 1) * 255) / 255
    np.testing.assert_allclose(out, expected, atol=1 / 255 + 1e-6)
    assert np.mean(out != expected) < 1e-3


@pytest.mark.parametrize("shape, scale", [((64, 48, 3), 4), ((40, 40, 1), 2), ((16, 16, 3), 1)])
def test_second_order_chain_handles_odd_shapes(shape, scale):
    image = tf.random.stateless_uniform(shape, (7, 7))
    out = blind.degrade_batch(tf.stack([image] * 3), batch_keys(70, 3), blind.Chain(order=2), scale).numpy()
    assert out.shape == (3, shape[0] // scale, shape[1] // scale, shape[2])
    assert out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(np.round(out * 255), out * 255)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"order": 3}, "order"),
        ({"order": 2.0}, "order"),
        ({"kernel_probabilities": (0.5, 0.5, 0.5, 0, 0, 0)}, "kernel_probabilities"),
        ({"second_kernel_probabilities": (1.0,)}, "second_kernel_probabilities"),
        ({"kernel_size": (8, 21)}, "kernel_size"),
        ({"kernel_size": (7, 23)}, "kernel_size"),
        ({"order": 2, "resize_range": (1.2, 1.5)}, "resize_range"),
        ({"order": 2, "resize_probabilities": (0.5, 0.5)}, "resize_probabilities"),
        ({"generalized_beta": (1.5, 4.0)}, "generalized_beta"),
        ({"sinc_probability": 1.5}, "sinc_probability"),
        ({"second_jpeg_quality": (0, 95)}, "second_jpeg_quality"),
        ({"second_blur_probability": 0.5}, "second_blur_probability"),  # order 1
        ({"order": 2, "anisotropic_probability": 0.3}, "anisotropic_probability"),
        ({"kernel_probabilities": (1, 0, 0, 0, 0, 0), "anisotropic_probability": 0.3},
         "anisotropic_probability"),
    ],
)
def test_invalid_second_order_settings_name_the_field(arguments, message):
    with pytest.raises(ValueError, match=message):
        blind.Chain(**arguments)


def test_first_order_chain_can_use_real_esrgan_kernels_and_poisson_noise():
    chain = blind.Chain(kernel_probabilities=realesrgan.KERNEL_PROBABILITIES, kernel_size=(7, 21),
                        sinc_probability=0.1, gaussian_noise_probability=0.5)
    images = tf.stack([textured(48, seed=seed) for seed in range(4)])
    batched = blind.degrade_batch(images, batch_keys(80, 4), chain, 2).numpy()
    for index in range(4):
        single = blind.degrade(images[index], batch_keys(80, 4)[index], chain, 2).numpy()
        np.testing.assert_array_equal(batched[index], single)
    with pytest.raises(ValueError, match="first-order chain"):
        blind.degrade_reference(images[0], keys(0), chain, 2)
