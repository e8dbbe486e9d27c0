"""Tests for `data.pipeline`: patch alignment, augmentation, noise and determinism."""

import collections

import numpy as np
import pytest

from data import blind
from data import pipeline
from data.degradations import add_gaussian_noise
from data.degradations import bicubic_downscale
from data.degradations import modcrop


def _random_image(height, width, channels, seed):
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), np.uint8)


def _transform(patch, choice):
    """The 8 symmetries of the square, labelled as the pipeline labels them."""
    rotated = np.rot90(patch, choice % 4)
    return np.fliplr(rotated) if choice >= 4 else rotated


def _to_uint8(patch):
    return np.rint(np.asarray(patch) * 255.0).astype(np.uint8)


def _collect(dataset, batches):
    """Returns the first `batches` batches as two stacked NumPy arrays."""
    pairs = list(dataset.take(batches).as_numpy_iterator())
    return np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs])


def _locate_sr_patches(lr_patches, hr_patches, lr_full, hr_full, scale):
    """Finds (choice, top, left) of every LR patch in the full LR image.

    Also checks that each HR patch is the same symmetry of the HR region at
    exactly `scale` times the LR offset.
    """
    size = lr_patches.shape[1]
    lookup = {}
    for choice in range(8):
        for top in range(lr_full.shape[0] - size + 1):
            for left in range(lr_full.shape[1] - size + 1):
                key = _transform(lr_full[top:top + size, left:left + size], choice).tobytes()
                assert key not in lookup, "test image has repeated patches"
                lookup[key] = (choice, top, left)
    found = []
    for lr, hr in zip(_to_uint8(lr_patches), _to_uint8(hr_patches)):
        if lr.tobytes() not in lookup:
            pytest.fail("An LR patch is not a flip/rotation of any slice of the whole-image LR.")
        choice, top, left = lookup[lr.tobytes()]
        region = hr_full[top * scale:(top + size) * scale, left * scale:(left + size) * scale]
        np.testing.assert_array_equal(hr, _transform(region, choice))
        found.append((choice, top, left))
    return found


@pytest.fixture(scope="module")
def sr_draws():
    """4000 augmented x2 patches of one non-square random image, with their positions."""
    hr_image = _random_image(50, 40, 3, seed=0)
    dataset = pipeline.make_sr_dataset([hr_image], scale=2, patch_size=6, batch_size=500, seed=7)
    lr_patches, hr_patches = _collect(dataset, 8)
    lr_full, hr_full = bicubic_downscale(hr_image, 2), modcrop(hr_image, 2)
    return _locate_sr_patches(lr_patches, hr_patches, lr_full, hr_full, 2), lr_full.shape


def test_sr_patches_are_slices_of_whole_image_lr_aligned_with_hr(sr_draws):
    """Each LR patch is a slice of the whole-image bicubic LR; HR sits at scale x its offset."""
    found, _ = sr_draws  # _locate_sr_patches raises on any misaligned or resized patch
    assert len(found) == 4000


def test_all_eight_flips_and_rotations_occur_equally_often(sr_draws):
    """Over 4000 draws each symmetry appears 500 +- 100 times (about 4.8 sigma)."""
    counts = collections.Counter(choice for choice, _, _ in sr_draws[0])
    assert sorted(counts) == list(range(8))
    for choice, count in counts.items():
        assert abs(count - 500) < 100, (choice, count)


def test_crop_offsets_cover_every_valid_position(sr_draws):
    """Top and left offsets reach both ends of the valid range, including the last one."""
    found, (height, width, _) = sr_draws
    tops = {top for _, top, _ in found}
    lefts = {left for _, _, left in found}
    assert tops == set(range(height - 6 + 1))
    assert lefts == set(range(width - 6 + 1))


def test_sr_dataset_shapes_dtypes_and_range():
    """Batches are float32 in [0, 1] with LR (B, p, p, C) and HR (B, s*p, s*p, C)."""
    images = [_random_image(40, 60, 3, 1), ("named", _random_image(70, 33, 3, 2))]
    dataset = pipeline.make_sr_dataset(images, scale=3, patch_size=8, batch_size=5, seed=0)
    assert [spec.shape.as_list() for spec in dataset.element_spec] == [[5, 8, 8, 3],
                                                                        [5, 24, 24, 3]]
    lr, hr = next(iter(dataset))
    assert lr.dtype.name == hr.dtype.name == "float32"
    for tensor in (lr, hr):
        values = tensor.numpy()
        assert values.min() >= 0.0 and values.max() <= 1.0
        np.testing.assert_array_equal(_to_uint8(values) / np.float32(255.0), values)


def _dataset(builder, images, batch, seed, start=0):
    """One of the four training pipelines at a small size: x2 8-pixel patches, 12-pixel for
    denoising (a fixed sigma, or a range for blind denoising)."""
    if builder == "sr":
        return pipeline.make_sr_dataset(images, 2, 8, batch, seed, start=start)
    if builder == "blind_sr":
        return pipeline.make_blind_sr_dataset(images, 2, 8, batch, seed, blind.Chain(), start=start)
    sigma = 25 if builder == "denoise" else (0, 50)
    return pipeline.make_denoise_dataset(images, sigma, 12, batch, seed, start=start)


@pytest.mark.parametrize("builder", ["sr", "denoise", "blind_sr", "blind_denoise"])
def test_same_seed_gives_identical_batches_and_other_seed_differs(builder):
    """Two datasets built with one seed match bit for bit; another seed changes them."""
    images = [_random_image(48, 40, 3, 3), _random_image(36, 52, 3, 4)]

    first, second, other = (_collect(_dataset(builder, images, 4, seed), 3) for seed in (11, 11, 12))
    for part in range(2):
        np.testing.assert_array_equal(first[part], second[part])
        assert not np.array_equal(first[part], other[part])


@pytest.mark.parametrize("builder", ["sr", "denoise", "blind_sr", "blind_denoise"])
def test_a_stream_started_at_batch_k_is_the_straight_stream_from_batch_k(builder):
    """Starting at example k x batch (a resumed run) gives the same batches, bit for bit,
    across an epoch boundary (3 images, batches of 2), without making the skipped patches."""
    images = [_random_image(48, 40, 3, 3), _random_image(36, 52, 3, 4),
              _random_image(40, 40, 3, 5)]

    straight = _collect(_dataset(builder, images, 2, 7), 7)
    for batch in (1, 4, 5):
        started = _collect(_dataset(builder, images, 2, 7, start=batch * 2), 7 - batch)
        for part in range(2):
            np.testing.assert_array_equal(started[part], straight[part][batch * 2:])


def test_the_start_of_a_single_epoch_stays_inside_it():
    images = [_random_image(20, 20, 3, 1)]
    with pytest.raises(ValueError, match="Expected `start` below the 1 examples of one epoch"):
        pipeline.make_sr_dataset(images, 2, 4, 1, 0, repeat=False, start=1)


def test_denoise_noise_is_unclipped_with_requested_std():
    """noisy - clean has std sigma/255 within 1 %, zero mean, and goes below 0 on dark images."""
    dark = np.full((64, 64, 1), 2, np.uint8)
    dataset = pipeline.make_denoise_dataset([dark], sigma=25, patch_size=32, batch_size=64,
                                            seed=5)
    noisy, clean = _collect(dataset, 1)
    noise = (noisy - clean).astype(np.float64)
    expected = 25 / 255
    assert abs(noise.std() / expected - 1) < 0.01  # relative standard error is 0.28 %
    assert abs(noise.mean()) < 4 * expected / np.sqrt(noise.size)
    assert noisy.min() < 0.0
    np.testing.assert_array_equal(clean, np.float32(2 / 255))
    # Patches get independent noise, not one pattern repeated.
    correlation = np.corrcoef(noise[0].ravel(), noise[1].ravel())[0, 1]
    assert abs(correlation) < 0.1


def test_denoise_gray_images_keep_one_channel():
    """Gray (C=1) clean images give (B, p, p, 1) noisy and clean batches."""
    images = [_random_image(30, 45, 1, 6)[..., 0], _random_image(50, 30, 1, 7)]
    dataset = pipeline.make_denoise_dataset(images, 15, 20, 3, seed=1)
    noisy, clean = next(iter(dataset))
    assert noisy.shape == clean.shape == (3, 20, 20, 1)
    assert noisy.dtype.name == clean.dtype.name == "float32"


def test_one_epoch_visits_every_image_once():
    """repeat=False yields one patch per image; repeated epochs are permutations of the set."""
    images = [np.full((16, 16, 1), value, np.uint8) for value in (10, 20, 30, 40, 50)]
    single = pipeline.make_denoise_dataset(images, 0, 8, 2, seed=0, augment=False, repeat=False)
    _, clean = _collect(single, 10)
    assert sorted(_to_uint8(clean[:, 0, 0, 0])) == [10, 20, 30, 40, 50]
    endless = pipeline.make_denoise_dataset(images, 0, 8, 5, seed=0, augment=False)
    _, clean = _collect(endless, 3)
    epochs = _to_uint8(clean[:, 0, 0, 0]).reshape(3, 5)
    for epoch in epochs:
        assert sorted(epoch) == [10, 20, 30, 40, 50]
    assert len({tuple(epoch) for epoch in epochs}) > 1


def test_sr_validation_set_is_aligned_center_crop_of_whole_image_lr():
    """Validation LR is the center of the whole-image bicubic LR; HR is its aligned region."""
    image = _random_image(61, 83, 3, 8)
    lr, hr = pipeline.make_validation_set([image], "sr", scale=4, crop=32)
    assert lr.shape == (1, 8, 8, 3) and hr.shape == (1, 32, 32, 3)
    lr_full, hr_full = bicubic_downscale(image, 4), modcrop(image, 4)  # 15 x 20 LR
    top, left = (15 - 8) // 2, (20 - 8) // 2
    np.testing.assert_array_equal(_to_uint8(lr[0]), lr_full[top:top + 8, left:left + 8])
    np.testing.assert_array_equal(
        _to_uint8(hr[0]), hr_full[4 * top:4 * top + 32, 4 * left:4 * left + 32])


def test_denoise_validation_set_uses_protocol_noise_and_is_repeatable():
    """Validation noise is add_gaussian_noise with the given seed on each center crop."""
    images = [_random_image(40, 50, 3, 9), _random_image(44, 44, 3, 10)]
    noisy, clean = pipeline.make_validation_set(images, "denoise", sigma=50, crop=24, seed=3)
    assert noisy.shape == clean.shape == (2, 24, 24, 3)
    np.testing.assert_array_equal(clean[0], images[0][8:32, 13:37] / np.float32(255))
    for index in range(2):
        np.testing.assert_array_equal(noisy[index], add_gaussian_noise(clean[index], 50, 3))
    again, _ = pipeline.make_validation_set(images, "denoise", sigma=50, crop=24, seed=3)
    np.testing.assert_array_equal(noisy, again)


def test_invalid_inputs_raise_value_errors_naming_the_value():
    """Small images, mixed channels, bad crops and unknown tasks are rejected up front."""
    small = _random_image(20, 30, 3, 11)
    with pytest.raises(ValueError, match=r"at least 12x12.*Received: images\[0\].shape=\(10, 15"):
        pipeline.make_sr_dataset([small], 2, 12, 4, seed=0)
    with pytest.raises(ValueError, match="same channel count"):
        pipeline.make_denoise_dataset([small, small[..., :1]], 25, 8, 2, seed=0)
    with pytest.raises(ValueError, match="Received: crop=30"):
        pipeline.make_validation_set([small], "sr", scale=4, crop=30)
    with pytest.raises(ValueError, match="Received: task='deblur'"):
        pipeline.make_validation_set([small], "deblur")
    with pytest.raises(ValueError, match="Received: seed=0.5"):
        pipeline.make_denoise_dataset([small], 25, 8, 2, seed=0.5)


def test_blind_sr_pairs_are_the_chain_applied_to_hr_patches():
    """With only area downsampling, every LR patch is the area-shrunk HR patch, quantised."""
    import tensorflow as tf

    image = _random_image(64, 56, 3, 8)
    chain = blind.Chain(blur_probability=0, noise_probability=0, jpeg_probability=0,
                        downsampling=("area",))
    lr, hr = _collect(pipeline.make_blind_sr_dataset([image], 4, 6, 8, 3, chain), 2)
    assert lr.shape == (16, 6, 6, 3) and hr.shape == (16, 24, 24, 3)
    expected = tf.image.resize(hr, (6, 6), method="area").numpy()
    np.testing.assert_allclose(lr, np.round(expected * 255) / 255, atol=1e-6)
    # HR patches are (symmetries of) slices of the image, on the whole-pixel grid.
    np.testing.assert_array_equal(_to_uint8(hr) / np.float32(255), hr)


def test_blind_sr_degradations_vary_between_patches():
    """The default chain draws each patch's own blur, noise and quality: the LR errors differ."""
    import tensorflow as tf

    image = np.full((64, 64, 3), 128, np.uint8)
    lr, hr = _collect(pipeline.make_blind_sr_dataset([image], 2, 16, 16, 4, blind.Chain()), 1)
    noise = (lr - tf.image.resize(hr, (16, 16), method="area").numpy()).std(axis=(1, 2, 3))
    # Weak noise can vanish under JPEG and rounding on a flat image, so some errors may be 0.
    assert len(np.unique(np.round(noise, 4))) > 8 and noise.max() > 2 * np.median(noise) > 0


def test_blind_denoise_draws_a_noise_level_per_patch_inside_the_range():
    """Per-patch noise std spans [5, 40] / 255, never outside it (each estimate within about 2 %)."""
    flat = np.full((64, 64, 1), 128, np.uint8)
    dataset = pipeline.make_denoise_dataset([flat], sigma=(5, 40), patch_size=48, batch_size=64, seed=2)
    noisy, clean = _collect(dataset, 1)
    sigmas = (noisy - clean).std(axis=(1, 2, 3)) * 255
    assert sigmas.min() > 5 * 0.94 and sigmas.max() < 40 * 1.06
    assert sigmas.min() < 10 and sigmas.max() > 35


@pytest.mark.parametrize("builder", ["sr", "denoise", "blind_sr", "blind_denoise"])
def test_a_prepared_set_on_disk_gives_the_batches_of_the_set_in_memory(builder, tmp_path):
    """The on-disk form (made once, read patch by patch) and memory give identical batches,
    and a second preparation with the same key reuses the folder."""
    from data import prepared

    images = [("b", _random_image(48, 41, 3, 3)), ("a", _random_image(37, 52, 3, 4)),
              ("c", _random_image(40, 40, 3, 5))]
    scale = 2 if builder in ("sr", "blind_sr") else None
    made = prepared.prepare(tmp_path, "key", iter(images), scale, low_resolution=builder == "sr",
                            log=lambda line: None)
    assert made.high.names == ["b", "a", "c"] and (made.low is not None) == (builder == "sr")
    assert prepared.prepare(tmp_path, "key", iter(()), scale).folder == made.folder

    in_memory, on_disk = (_collect(_dataset(builder, source, 2, 7), 5) for source in (images, made))
    started = _collect(_dataset(builder, made, 2, 7, start=6), 2)
    for part in range(2):
        np.testing.assert_array_equal(on_disk[part], in_memory[part])
        np.testing.assert_array_equal(started[part], in_memory[part][6:])
