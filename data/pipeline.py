"""`tf.data` pipelines that cut training patches for super-resolution and denoising.

Images of different sizes are packed into one flat uint8 tensor with
per-image offsets and shapes, so a patch is cut with two `tf.slice`s (the
image's own pixels, then the patch): no `tf.py_function`, no copy of the
whole image.

Randomness is stateless. Example `i` of a dataset built with `seed` takes
its image, crop offset, flip/rotation and noise from keys derived from
`(seed, i)` only, so two datasets built with the same seed yield
bit-identical batches however many threads `map` uses. Each epoch visits
every image once, in an order drawn from `(seed, epoch)`.

Super-resolution pairs follow the benchmark degradation: the high-resolution
image is cropped to a multiple of the scale and its low-resolution version is
made once, on the whole image, with MATLAB bicubic (`data.degradations`);
patches are then cut at aligned positions (high-resolution offset = scale x
low-resolution offset), never resized patch by patch.

Images are either packed in memory as uint8 (DIV2K's 800 training images
take 6.6 GB, plus a quarter of that for the x2 low-resolution copies, made
again by every run) or, given a `data.prepared.Prepared` set, read patch by
patch from the files it was prepared into once; the crops and augmentations
are drawn the same way, so both give the same batches. A stream can start
at any example (`start`), at the cost of its first batch.
"""

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from data import blind
from data.degradations import add_gaussian_noise
from data.degradations import bicubic_downscale
from data.degradations import check_positive_integer
from data.degradations import modcrop
from data.prepared import PackedFile
from data.prepared import Prepared

# Distinct stream numbers keep the epoch orders and the per-example draws independent.
_ORDER_STREAM = 1
_EXAMPLE_STREAM = 2
_TRANSFORM_COUNT = 8


class _PackedImages(NamedTuple):
    """Images of different sizes stored in one flat tensor, or in a prepared file on disk."""

    pixels: tf.Tensor | None  # uint8, every image flattened and concatenated; None on disk
    offsets: tf.Tensor  # int64 (count,), start of each image in `pixels`
    shapes: tf.Tensor  # int64 (count, 3), (height, width, channels)
    channels: int
    file: PackedFile | None = None  # the prepared file patches are read from, if on disk


def _as_arrays(images):
    """Accepts arrays or `(name, array)` pairs; returns uint8 `(h, w, c)` arrays."""
    arrays = []
    for index, item in enumerate(images):
        image = np.asarray(item[1] if isinstance(item, tuple) else item)
        if image.ndim == 2:
            image = image[..., None]
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] not in (1, 3):
            raise ValueError("Expected uint8 images of shape (height, width, 1 or 3). "
                             f"Received: images[{index}].dtype={image.dtype}, shape={image.shape}")
        arrays.append(image)
    if not arrays:
        raise ValueError("Expected at least one image. Received: images=[]")
    channels = {image.shape[-1] for image in arrays}
    if len(channels) != 1:
        raise ValueError(
            f"Expected every image to have the same channel count. Received: channels={channels}"
        )
    return arrays


def _check_training(seed, **sizes):
    """The positive integers (in the order given) and the integer seed of a training stream."""
    for name, value in sizes.items():
        check_positive_integer(value, name)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"Expected `seed` to be an integer. Received: seed={seed!r}")


def _check_crop(crop, scale):
    if crop % scale:
        raise ValueError(f"Expected `crop` to be a multiple of `scale` ({scale}). Received: crop={crop}")


def _check_min_size(shapes, size, what):
    """Every shape `(height, width, channels)` (of an array or a prepared image) holds the size."""
    for index, shape in enumerate(shapes):
        if min(shape[:2]) < size:
            raise ValueError(f"Expected every {what} to be at least {size}x{size} pixels. "
                             f"Received: images[{index}].shape={tuple(int(side) for side in shape)}")


def _pack(arrays):
    """Packs uint8 `(h, w, c)` arrays into one flat tensor with offsets and shapes."""
    shapes = np.array([image.shape for image in arrays], dtype=np.int64)
    sizes = shapes.prod(axis=1)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    # One buffer, filled in place and handed over: no concatenated copy beside the images.
    pixels = np.empty(int(sizes.sum()), np.uint8)
    for image, offset, size in zip(arrays, offsets, sizes, strict=True):
        pixels[offset:offset + size] = image.reshape(-1)
    return _PackedImages(tf.convert_to_tensor(pixels), tf.constant(offsets), tf.constant(shapes),
                         int(shapes[0, 2]))


def _on_disk(file):
    """A prepared `PackedFile` as packed images whose patches are read from disk."""
    return _PackedImages(None, tf.constant(file.offsets), tf.constant(file.shapes), file.channels, file)


def _gather_patch(packed, image, top, left, size):
    """Cuts the `size` x `size` patch at `(top, left)` of image `image`, as uint8."""
    if packed.file is not None:
        patch = tf.numpy_function(packed.file.read_patch, [image, top, left, size], tf.uint8, stateful=False)
        return tf.reshape(patch, [size, size, packed.channels])
    # The image's own pixels as a view, then one slice: three times cheaper than gathering
    # the patch's pixels by index.
    shape = packed.shapes[image]
    whole = tf.reshape(tf.slice(packed.pixels, [packed.offsets[image]], [tf.reduce_prod(shape)]), shape)
    origin = tf.stack([top, left, tf.constant(0, tf.int64)])
    return tf.slice(whole, origin, [size, size, packed.channels])


def _uniform_integer(seed, upper):
    """Draws an integer in `[0, upper)` from a stateless key."""
    return tf.random.stateless_uniform([], seed=seed, minval=0, maxval=upper, dtype=tf.int64)


def _transform(patch, choice):
    """Applies one of the 8 rotations/flips of the square: `choice` in [0, 8)."""
    rotated = tf.image.rot90(patch, k=tf.cast(choice % 4, tf.int32))
    return tf.cond(choice >= 4, lambda: tf.image.flip_left_right(rotated), lambda: rotated)


def _to_unit(patch):
    return tf.cast(patch, tf.float32) / 255.0


def _example_keys(seed, example, count):
    """Returns `count` independent stateless keys for one example."""
    key = tf.random.experimental.stateless_fold_in(tf.constant([seed, _EXAMPLE_STREAM], tf.int64), example)
    return tf.random.experimental.stateless_split(key, num=count)


def _example_stream(image_count, seed, repeat, start=0):
    """Dataset of `(example index, image index)`, every image once per epoch, from example `start`.

    Example `i` belongs to epoch `i // image_count`, whose order is drawn from
    `(seed, epoch)` alone, so the stream can begin at any example: only the
    index pairs of the first epoch's head are skipped, never a patch made.
    """
    first_epoch, offset = divmod(start, image_count)
    if not repeat and first_epoch:
        raise ValueError(f"Expected `start` below the {image_count} examples of one epoch. "
                         f"Received: start={start}")
    epochs = tf.data.Dataset.counter(first_epoch) if repeat else tf.data.Dataset.range(1)

    def one_epoch(epoch):
        key = tf.random.experimental.stateless_fold_in(tf.constant([seed, _ORDER_STREAM], tf.int64), epoch)
        order = tf.argsort(tf.random.stateless_uniform([image_count], seed=key))
        examples = epoch * image_count + tf.range(image_count, dtype=tf.int64)
        return tf.data.Dataset.from_tensor_slices((examples, tf.cast(order, tf.int64)))

    stream = epochs.flat_map(one_epoch)
    return stream.skip(offset) if offset else stream


def _random_crop_origin(packed, image, keys, size):
    """Draws the top-left corner of a `size` x `size` crop inside image `image`."""
    top = _uniform_integer(keys[0], packed.shapes[image, 0] - size + 1)
    left = _uniform_integer(keys[1], packed.shapes[image, 1] - size + 1)
    return top, left


def _finish(dataset, batch_size, repeat):
    # A repeated stream is endless, so dropping the remainder only fixes the batch shape.
    return dataset.batch(batch_size, drop_remainder=repeat).prefetch(tf.data.AUTOTUNE)


def sr_pairs(images, scale):
    """Makes the (low-resolution, high-resolution) uint8 pairs for super-resolution.

    Each image is cropped to a multiple of `scale` (`modcrop`) and shrunk once,
    whole, with MATLAB-compatible bicubic, exactly as benchmark inputs are made.

    Args:
        images: uint8 arrays `(height, width, channels)` or `(name, array)` pairs.
        scale: positive integer factor.

    Returns:
        list of `(lr, hr)` uint8 arrays with `hr.shape[:2] == scale * lr.shape[:2]`.
    """
    check_positive_integer(scale, "scale")
    arrays = _as_arrays(images)
    return [(bicubic_downscale(image, scale), modcrop(image, scale)) for image in arrays]


def make_sr_dataset(images, scale, patch_size, batch_size, seed, augment=True, repeat=True,
                    start=0):
    """Training batches of aligned low-/high-resolution patches.

    Args:
        images: uint8 high-resolution arrays `(height, width, channels)` or
            `(name, array)` pairs; sizes may differ, channels may not.
        scale: positive integer factor.
        patch_size: side of the low-resolution patch; the high-resolution
            patch is `scale * patch_size`.
        batch_size: patches per batch.
        seed: integer that fixes image order, crops and flips/rotations.
        augment: apply one of the 8 flips/rotations, the same to both patches.
        repeat: endless stream of epochs; otherwise one epoch (one patch per image).
        start: the example to begin with: `k * batch_size` gives the stream
            from its batch `k` on, at the cost of batch 0 (a resumed run).

    Returns:
        `tf.data.Dataset` of `(lr, hr)` float32 in [0, 1], shaped
        `(batch, patch_size, patch_size, channels)` and
        `(batch, scale * patch_size, scale * patch_size, channels)`.

    Reference:
    - [Lim et al., 2017](https://arxiv.org/abs/1707.02921) (EDSR patch sampling
      and the 8 geometric augmentations)
    """
    pairs = images if isinstance(images, Prepared) else sr_pairs(images, scale)
    return make_pair_dataset(pairs, scale, patch_size, batch_size, seed, augment, repeat, start)


def make_pair_dataset(pairs, scale, patch_size, batch_size, seed, augment=True, repeat=True, start=0,
                      noise_level=None):
    """Training batches of aligned patches from given (input, target) pairs.

    The input patch is cut at a random position of the input image and the
    target patch at `scale` times it, so the two stay aligned; both get the
    same flip/rotation. This is how the benchmark degradation trains
    (`make_sr_dataset`) and how a user's own pairs train (`data.pairs`):
    low-resolution and high-resolution images (`scale` > 1), or noisy and
    clean ones (`scale` 1).

    Args:
        pairs: `(input, target)` uint8 arrays `(height, width, channels)`,
            each target `scale` times its input, or a `data.prepared.Prepared`
            holding both (`low` the inputs).
        scale: positive integer factor; 1 for denoising pairs.
        patch_size: side of the input patch.
        batch_size, seed, augment, repeat, start: as for `make_sr_dataset`.
        noise_level: a noise level on the 0-255 scale handed to the network
            beside each input (FFDNet, DRUNet), or None.

    Returns:
        `tf.data.Dataset` of `(input, target)` float32 in [0, 1], or
        `((input, level), target)` with `noise_level`.
    """
    _check_training(seed, scale=scale, patch_size=patch_size, batch_size=batch_size)
    if isinstance(pairs, Prepared):
        low, high = _on_disk(pairs.low), _on_disk(pairs.high)
        _check_min_size(pairs.low.shapes, patch_size, "input image")
    else:
        _check_aligned(pairs, scale)
        _check_min_size([lr.shape for lr, _ in pairs], patch_size, "input image")
        low, high = _pack(_as_arrays([lr for lr, _ in pairs])), _pack(_as_arrays([hr for _, hr in pairs]))
    count = len(pairs)
    del pairs

    def example(index, image):
        keys = _example_keys(seed, index, 3)
        top, left = _random_crop_origin(low, image, keys, patch_size)
        lr = _gather_patch(low, image, top, left, patch_size)
        hr = _gather_patch(high, image, top * scale, left * scale, patch_size * scale)
        if augment:
            choice = _uniform_integer(keys[2], _TRANSFORM_COUNT)
            lr, hr = _transform(lr, choice), _transform(hr, choice)
        if noise_level is not None:
            return (_to_unit(lr), tf.fill([1], tf.constant(noise_level / 255.0, tf.float32))), _to_unit(hr)
        return _to_unit(lr), _to_unit(hr)

    dataset = _example_stream(count, seed, repeat, start)
    return _finish(dataset.map(example, num_parallel_calls=tf.data.AUTOTUNE), batch_size, repeat)


def _check_aligned(pairs, scale):
    """Each target is exactly `scale` times its input, with the same channels."""
    for index, (lr, hr) in enumerate(pairs):
        expected = (lr.shape[0] * scale, lr.shape[1] * scale, *lr.shape[2:])
        if tuple(hr.shape) != expected:
            raise ValueError(f"Expected each target to be {scale} times its input. Received: "
                             f"pairs[{index}] of shapes {lr.shape} and {hr.shape}")


def make_blind_sr_dataset(images, scale, patch_size, batch_size, seed, chain, augment=True,
                          repeat=True, start=0):
    """Training batches of (degraded, clean) patches under random degradation chains.

    Unlike `make_sr_dataset`, the low-resolution patch is made from its own
    high-resolution patch by a random `data.blind.Chain` (blur, downsampling,
    noise, JPEG), drawn from the example's stateless keys: the same seed
    gives the same patches and the same degradations.

    Args:
        images: uint8 high-resolution arrays `(height, width, channels)` or
            `(name, array)` pairs.
        scale: positive integer factor.
        patch_size: side of the low-resolution patch.
        batch_size: patches per batch.
        seed: integer that fixes image order, crops, flips/rotations and degradations.
        chain: a `data.blind.Chain`.
        augment: apply one of the 8 flips/rotations to the clean patch.
        repeat: endless stream of epochs; otherwise one epoch.
        start: the example to begin with, see `make_sr_dataset`.

    Returns:
        `tf.data.Dataset` of `(lr, hr)` float32 in [0, 1], shaped like
        `make_sr_dataset`'s.
    """
    _check_training(seed, scale=scale, patch_size=patch_size, batch_size=batch_size)
    size = patch_size * scale
    high = _packed_high(images, size, scale)

    def example(index, image):
        keys = _example_keys(seed, index, 3 + blind.KEY_COUNT)
        top, left = _random_crop_origin(high, image, keys, size)
        hr = _gather_patch(high, image, top, left, size)
        if augment:
            hr = _transform(hr, _uniform_integer(keys[2], _TRANSFORM_COUNT))
        hr = _to_unit(hr)
        lr = blind.degrade(hr, keys[3:], chain, scale)
        lr.set_shape([patch_size, patch_size, high.channels])
        return lr, hr

    dataset = _example_stream(len(images), seed, repeat, start)
    return _finish(dataset.map(example, num_parallel_calls=tf.data.AUTOTUNE), batch_size, repeat)


def _packed_high(images, size, scale=None):
    """The (modcropped, for a scale) high-resolution or clean images, in memory or on disk."""
    if isinstance(images, Prepared):
        _check_min_size(images.high.shapes, size, "image")
        return _on_disk(images.high)
    arrays = _as_arrays(images)
    if scale is not None:
        arrays = [modcrop(image, scale) for image in arrays]
    _check_min_size([image.shape for image in arrays], size, "image")
    return _pack(arrays)


def make_denoise_dataset(images, sigma, patch_size, batch_size, seed, augment=True, repeat=True,
                         noise_level=False, start=0):
    """Training batches of (noisy, clean) patches with additive white Gaussian noise.

    Noise of standard deviation `sigma / 255` is drawn per patch from a
    stateless key of `(seed, example index)` and added without clipping or
    rounding, as in the denoising benchmarks. A `(low, high)` sigma trains a
    blind denoiser: each patch draws its own sigma uniformly in that range.

    Args:
        images: uint8 clean arrays `(height, width, channels)` or `(name, array)` pairs.
        sigma: noise standard deviation on the 0-255 scale, e.g. 25, or a
            `(low, high)` range.
        patch_size: side of the square patches.
        batch_size: patches per batch.
        seed: integer that fixes image order, crops, flips/rotations and noise.
        augment: apply one of the 8 flips/rotations to the clean patch.
        repeat: endless stream of epochs; otherwise one epoch (one patch per image).
        noise_level: also hand the network each patch's noise level, for
            the denoisers that take a noise-level map (FFDNet, DRUNet).
        start: the example to begin with, see `make_sr_dataset`.

    Returns:
        `tf.data.Dataset` of `(noisy, clean)` float32, both
        `(batch, patch_size, patch_size, channels)`; clean is in [0, 1].
        With `noise_level` the inputs are `(noisy, level)`, the level
        `(batch, 1)` on the [0, 1] scale (sigma / 255).

    Reference:
    - [Zhang et al., 2017](https://arxiv.org/abs/1608.03981)
    """
    _check_training(seed, patch_size=patch_size, batch_size=batch_size)
    low, high = (sigma, sigma) if np.isscalar(sigma) else tuple(sigma)
    if not (np.isfinite(low) and np.isfinite(high) and 0 <= low <= high):
        raise ValueError("Expected `sigma` to be a non-negative number or a range [low, high] with "
                         f"0 <= low <= high. Received: sigma={sigma}")
    clean_images = _packed_high(images, patch_size)
    shape = [patch_size, patch_size, clean_images.channels]

    def example(index, image):
        # A fixed sigma keeps the four keys (and so the patches) it always had.
        keys = _example_keys(seed, index, 5 if high > low else 4)
        top, left = _random_crop_origin(clean_images, image, keys, patch_size)
        clean = _gather_patch(clean_images, image, top, left, patch_size)
        if augment:
            clean = _transform(clean, _uniform_integer(keys[2], _TRANSFORM_COUNT))
        clean = _to_unit(clean)
        level = float(low)
        if high > low:
            level = tf.random.stateless_uniform((), keys[4], minval=float(low), maxval=float(high))
        noise = tf.random.stateless_normal(shape, seed=keys[3]) * (level / 255.0)
        if noise_level:
            return (clean + noise, tf.fill([1], tf.cast(level, tf.float32) / 255.0)), clean
        return clean + noise, clean

    dataset = _example_stream(len(images), seed, repeat, start)
    return _finish(dataset.map(example, num_parallel_calls=tf.data.AUTOTUNE), batch_size, repeat)


def _center_origin(image, size):
    return (image.shape[0] - size) // 2, (image.shape[1] - size) // 2


def make_pair_validation_set(pairs, scale, crop):
    """Aligned center crops of (input, target) pairs, as float32 in [0, 1].

    Args:
        pairs: `(input, target)` uint8 arrays, each target `scale` times its input.
        scale: positive integer factor; 1 for denoising pairs.
        crop: side of the target crop, a multiple of `scale`.

    Returns:
        `(inputs, targets)` float32 arrays, inputs `crop // scale` pixels wide.
    """
    check_positive_integer(scale, "scale")
    _check_aligned(pairs, scale)
    _check_crop(crop, scale)
    size = crop // scale
    _check_min_size([lr.shape for lr, _ in pairs], size, "input image")
    inputs, targets = [], []
    for lr, hr in pairs:
        top, left = _center_origin(lr, size)
        inputs.append(lr[top:top + size, left:left + size])
        targets.append(hr[top * scale:(top + size) * scale, left * scale:(left + size) * scale])
    return np.stack(inputs).astype(np.float32) / 255.0, np.stack(targets).astype(np.float32) / 255.0


def _denoise_validation(images, sigma, crop, seed):
    """Center crops with benchmark-protocol noise, as float32."""
    if sigma is None or not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"Expected `sigma` to be a non-negative number. Received: sigma={sigma}")
    clean = _center_crops(_as_arrays(images), crop).astype(np.float32) / 255.0
    return np.stack([add_gaussian_noise(patch, sigma, seed) for patch in clean]), clean


def make_validation_set(images, task, scale=None, sigma=None, crop=256, seed=0):
    """Fixed center crops for validation PSNR and image panels during training.

    For super-resolution the low-resolution image is made from the whole
    image (as in the benchmarks) and both crops are cut at aligned centers.
    For denoising the noise follows the evaluation protocol: drawn with
    `data.degradations.add_gaussian_noise` and the same `seed` for every
    image, added without clipping.

    Args:
        images: uint8 arrays `(height, width, channels)` or `(name, array)` pairs.
        task: `"sr"` or `"denoise"`.
        scale: positive integer factor, for `"sr"`.
        sigma: noise standard deviation on the 0-255 scale, for `"denoise"`.
        crop: side of the high-resolution (or clean) crop in pixels; for
            `"sr"` it must be a multiple of `scale`.
        seed: noise seed, for `"denoise"`.

    Returns:
        `(inputs, targets)` float32 NumPy arrays of shape `(count, h, w, channels)`:
        `(lr, hr)` with inputs `crop // scale` and targets `crop` pixels wide,
        or `(noisy, clean)`, both `crop` pixels wide.
    """
    check_positive_integer(crop, "crop")
    if task == "sr":  # The arguments are checked before the whole images are shrunk.
        check_positive_integer(scale, "scale")
        _check_crop(crop, scale)
        return make_pair_validation_set(sr_pairs(images, scale), scale, crop)
    if task == "denoise":
        return _denoise_validation(images, sigma, crop, seed)
    raise ValueError(f"Unknown task. Expected 'sr' or 'denoise'. Received: task={task!r}")


# Seed of the fixed draws that degrade validation crops: the same for every arm and seed, so
# every run selects its checkpoint on the same inputs.
VALIDATION_SEED = 0
_VALIDATION_STREAM = 3


def _center_crops(arrays, crop, multiple=1):
    """The center `crop` x `crop` pixels of each image, cropped to a multiple of `multiple` first."""
    arrays = [modcrop(image, multiple) for image in arrays]
    _check_min_size([image.shape for image in arrays], crop, "image")
    crops = []
    for image in arrays:
        # On the grid of `multiple`, so the crop is the one `make_validation_set` cuts.
        top, left = (side * multiple for side in _center_origin(
            image[::multiple, ::multiple], crop // multiple))
        crops.append(image[top:top + crop, left:left + crop])
    return np.stack(crops)


def make_chain_validation_set(images, scale, chain, crop=256, draws=4, seed=VALIDATION_SEED):
    """Fixed center crops degraded by a training chain, `draws` fixed draws of it per crop.

    A network trained on a degradation chain is validated, and its
    checkpoint chosen, on the distribution it trains on: each crop is
    degraded `draws` times by `chain`, every draw keyed by `(seed, input
    index)` as training examples are, so the inputs are the same for every
    arm and seed.

    Args:
        images: uint8 arrays `(height, width, channels)` or `(name, array)` pairs.
        scale: positive integer factor.
        chain: a `data.blind.Chain`.
        crop: side of the high-resolution crop, a multiple of `scale`.
        draws: degradations per crop.
        seed: seed of the draws.

    Returns:
        `(inputs, targets)` float32 arrays: `draws * len(images)` degraded
        crops (every image once, then again for the next draw) and their clean
        high-resolution crops.
    """
    check_positive_integer(scale, "scale")
    check_positive_integer(draws, "draws")
    check_positive_integer(crop, "crop")
    _check_crop(crop, scale)
    crops = _center_crops(_as_arrays(images), crop, scale)
    clean = np.concatenate([crops] * draws).astype(np.float32) / 255.0
    key = tf.constant([seed, _VALIDATION_STREAM], tf.int64)
    keys = tf.stack([tf.random.experimental.stateless_split(
        tf.random.experimental.stateless_fold_in(key, index), num=blind.KEY_COUNT)
        for index in range(len(clean))])
    inputs = blind.degrade_batch(clean, keys, chain, scale).numpy()
    return inputs, clean


def make_cell_validation_set(images, task, cells, scale=None, crop=256, seed=0):
    """Fixed center crops under each of several grid cells (`data.grid`), one copy per cell.

    Args:
        images: uint8 arrays `(height, width, channels)` or `(name, array)` pairs.
        task: `"sr"` or `"denoise"`.
        cells: `data.grid.Cell`s; a denoising cell is its noise level.
        scale: positive integer factor, for `"sr"`.
        crop: side of the high-resolution (or clean) crop; a multiple of `scale`.
        seed: noise seed of the cells, as the benchmarks draw it.

    Returns:
        `(inputs, targets, sigmas)`: float32 arrays with every crop under the
        first cell, then under the next; `sigmas` holds each input's noise
        level on the 0-255 scale (denoising) or is None.
    """
    from data import grid

    arrays = _as_arrays(images)
    if task == "denoise":
        return make_noise_range_validation_set(arrays, [cell.noise for cell in cells], crop, seed)
    crops = _center_crops(arrays, crop, scale)
    inputs = [grid.degrade_sr(hr, scale, cell, seed) for cell in cells for hr in crops]
    targets = np.concatenate([crops] * len(cells))
    return (np.stack(inputs).astype(np.float32) / 255.0, targets.astype(np.float32) / 255.0, None)


def make_noise_range_validation_set(images, sigmas, crop=256, seed=0):
    """Fixed center crops at each of several noise levels: a blind denoiser's validation.

    Returns:
        `(inputs, targets, sigmas)` as `make_cell_validation_set` gives them.
    """
    arrays = _as_arrays(images)
    parts = [_denoise_validation(arrays, sigma, crop, seed) for sigma in sigmas]
    levels = np.repeat(np.asarray(sigmas, np.float32), len(arrays))
    return (np.concatenate([inputs for inputs, _ in parts]),
            np.concatenate([targets for _, targets in parts]), levels)
