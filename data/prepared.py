"""Training images prepared once on disk, read patch by patch.

A training set far larger than memory (DIV2K, DF2K, LSDIR) cannot be decoded
and packed into one in-memory tensor for every run. `prepare` decodes each
image once, makes what the pipeline would make of it (the modcropped
high-resolution image and its MATLAB-bicubic low-resolution version for
super-resolution, the clean image for denoising) and appends the uint8
pixels to raw files, one image at a time, so memory stays that of one image
whatever the set's size. A JSON index beside each file holds every image's
name, offset and shape. The folder is named by a fingerprint of what it was
made from (the files' names, sizes and modification times, the scale and
the channels), written under a temporary name and renamed when complete,
and guarded by a lock: every arm, seed and resume of an experiment, and
every experiment over the same images, reuses it.

`PackedFile.read_patch` reads one patch with a `pread` per row, so a patch
costs its own bytes and the files stay in the page cache, not in the
process. The pipeline's crops and augmentations are drawn exactly as for
images in memory, so both give the same batches.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from data.degradations import bicubic_downscale
from data.degradations import modcrop

# Bumped whenever what a prepared folder holds changes, so old folders are not read.
FORMAT = 1
HIGH, LOW = "high", "low"


class PackedFile:
    """Images of different sizes packed in one raw uint8 file, with their index.

    Attributes:
        path: the raw file.
        names: image names, in the packed order.
        offsets: int64 `(count,)`, the first byte of each image.
        shapes: int64 `(count, 3)`, `(height, width, channels)` of each image.
        channels: the channels every image has.
    """

    def __init__(self, path):
        self.path = Path(path)
        index = json.loads(self.path.with_suffix(".json").read_text(encoding="utf-8"))
        self.names = index["names"]
        self.offsets = np.asarray(index["offsets"], np.int64)
        self.shapes = np.asarray(index["shapes"], np.int64).reshape(-1, 3)
        self.channels = int(self.shapes[0, 2])
        self._descriptor = None

    def read_patch(self, image, top, left, size):
        """The `size` x `size` patch at `(top, left)` of image `image`, as uint8 `(size, size, c)`."""
        if self._descriptor is None:
            # Opened lazily: one descriptor per process, shared by tf.data's threads (pread
            # takes its own offset, so concurrent reads never interfere).
            self._descriptor = os.open(self.path, os.O_RDONLY)
        image, top, left, size = int(image), int(top), int(left), int(size)
        width, channels = int(self.shapes[image, 1]), self.channels
        row = size * channels
        start = int(self.offsets[image]) + (top * width + left) * channels
        data = b"".join(os.pread(self._descriptor, row, start + step * width * channels)
                        for step in range(size))
        return np.frombuffer(data, np.uint8).reshape(size, size, channels)

    def __getstate__(self):
        # Copies (tf.data may pickle) open their own descriptor.
        return {**self.__dict__, "_descriptor": None}


class Prepared:
    """A prepared training set: the high-resolution (or clean) images, and for
    super-resolution their low-resolution versions."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.high = PackedFile(self.folder / f"{HIGH}.raw")
        low = self.folder / f"{LOW}.raw"
        self.low = PackedFile(low) if low.exists() else None

    def __len__(self):
        return len(self.high.names)


def fingerprint(paths, channels, scale=None, low_resolution=False):
    """A name for what `prepare` makes of these files: their names, sizes and times, and the task.

    Args:
        paths: the image files, in the order they are packed.
        channels: 1 or 3 to convert each image, None to keep each file's channels.
        scale, low_resolution: as given to `prepare`.
    """
    digest = hashlib.sha256(json.dumps([FORMAT, channels, scale, low_resolution]).encode())
    for path in map(Path, paths):
        status = path.stat()
        digest.update(f"{path.name}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def prepare(cache_root, key, images, scale=None, low_resolution=False, log=print):
    """The prepared folder `<cache_root>/<key>`, made from `images` if it does not exist yet.

    Args:
        cache_root: the folder holding prepared sets.
        key: their fingerprint (`fingerprint`).
        images: an iterable of `(name, uint8 image)`, or of `(name, target,
            input)` for a user's pairs, read only when the folder has to be
            made; one image is held at a time.
        scale: crop each image to a multiple of this factor (super-resolution);
            None keeps it whole (denoising).
        low_resolution: also keep each image's low-resolution version: the
            given input of a pair, else made with MATLAB bicubic at `scale`
            (the fixed bicubic degradation). `"paired"` in the fingerprint
            keeps pairs and made versions apart.
        log: called with a line when the folder is made.

    Returns:
        A `Prepared`.
    """
    cache_root = Path(cache_root)
    folder = cache_root / key
    if folder.is_dir():
        return Prepared(folder)
    cache_root.mkdir(parents=True, exist_ok=True)
    with _locked(cache_root / f".{key}.lock"):
        if folder.is_dir():  # another process made it while this one waited
            return Prepared(folder)
        staging = Path(tempfile.mkdtemp(dir=cache_root, prefix=f".{key}."))
        try:
            count = _write(staging, images, scale, low_resolution)
            os.replace(staging, folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    log(f"prepared {count} training images in {folder}")
    return Prepared(folder)


@contextlib.contextmanager
def _locked(path):
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(folder, images, scale, low_resolution):
    """Appends every image (and its low-resolution version, made or given) to the raw files;
    returns the count."""
    kinds = (HIGH, LOW) if low_resolution else (HIGH,)
    indexes = {kind: {"names": [], "offsets": [], "shapes": []} for kind in kinds}
    with contextlib.ExitStack() as stack:
        files = {kind: stack.enter_context(open(folder / f"{kind}.raw", "wb")) for kind in kinds}
        for name, image, *given in images:
            first = indexes[HIGH]["shapes"][:1]
            if first and image.shape[-1] != first[0][-1]:
                raise ValueError(f"Expected every training image to have the channels of the first "
                                 f"({indexes[HIGH]['names'][0]}). Received: {name} with shape "
                                 f"{image.shape}")
            made = {HIGH: modcrop(image, scale) if scale else image}
            if low_resolution:
                made[LOW] = given[0] if given else bicubic_downscale(made[HIGH], scale)
            for kind, pixels in made.items():
                index = indexes[kind]
                index["names"].append(name)
                index["offsets"].append(files[kind].tell())
                index["shapes"].append(list(pixels.shape))
                files[kind].write(np.ascontiguousarray(pixels, np.uint8).tobytes())
        for handle in files.values():
            handle.flush()
            os.fsync(handle.fileno())
    for kind, index in indexes.items():
        (folder / f"{kind}.json").write_text(json.dumps(index), encoding="utf-8")
    return len(indexes[HIGH]["names"])
