"""Reading and listing image files as uint8 arrays.

Every image leaves `read_image` as `uint8` of shape `(height, width, channels)`
with 1 or 3 channels, so the rest of the project never deals with file
formats, alpha channels or bit depths.
"""

import pathlib

import imageio.v3 as iio
import numpy as np
import png

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class ImageError(ValueError):
    """An image file that cannot be used; the message names the file."""

# MATLAB rgb2gray weights (ITU-R BT.601 luma); with them the BSD68 gray
# benchmark equals round(rgb2gray(CBSD68)) exactly.
_GRAY_WEIGHTS = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def _round_half_up(values):
    # Values are non-negative here, so this is MATLAB's round-half-away-from-zero.
    return np.floor(values + 0.5)


def _to_uint8(pixels, path):
    """Maps decoded samples of any supported bit depth onto uint8."""
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.bool_:
        return pixels.astype(np.uint8) * 255
    if pixels.dtype == np.uint16:
        return _round_half_up(pixels.astype(np.float64) * 255.0 / 65535.0).astype(np.uint8)
    raise ImageError(
        "Expected an image with 1-, 8- or 16-bit unsigned samples. "
        f"Received: dtype={pixels.dtype} in path={path}"
    )


def _to_channels_last(pixels, path):
    """Returns `(height, width, 1 or 3)`, dropping any alpha channel."""
    if pixels.ndim == 2:
        return pixels[..., None]
    if pixels.ndim == 3 and pixels.shape[-1] in (1, 3):
        return pixels
    # Alpha is dropped rather than composited, as SR data loaders
    # (OpenCV's IMREAD_COLOR) do; benchmark images carry no alpha.
    if pixels.ndim == 3 and pixels.shape[-1] == 2:
        return pixels[..., :1]
    if pixels.ndim == 3 and pixels.shape[-1] == 4:
        return pixels[..., :3]
    raise ImageError(
        "Expected a single gray, gray+alpha, RGB or RGBA image. "
        f"Received: shape={pixels.shape} in path={path}"
    )


def rgb_to_gray(image):
    """Converts uint8 RGB to uint8 gray with MATLAB's `rgb2gray` (BT.601 luma).

    Args:
        image: uint8 array of shape `(height, width, 3)`.

    Returns:
        uint8 array of shape `(height, width, 1)`.
    """
    luma = image.astype(np.float64) @ _GRAY_WEIGHTS
    return _round_half_up(np.clip(luma, 0.0, 255.0)).astype(np.uint8)[..., None]


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _is_deep_colour_png(path):
    """Whether a file is a 16-bit RGB(A) PNG, which Pillow truncates to 8 bits."""
    with open(path, "rb") as handle:
        header = handle.read(26)
    # IHDR follows the signature: bit depth at byte 24, colour type (2 RGB, 6 RGBA) at 25.
    return header[:8] == _PNG_SIGNATURE and len(header) == 26 and header[24] == 16 and (
        header[25] in (2, 6))


def _decode(path):
    """Decoded samples of an image file, in its own bit depth and channels (RGB for CMYK)."""
    if _is_deep_colour_png(path):
        width, height, rows, info = png.Reader(filename=str(path)).asDirect()
        pixels = np.vstack([np.asarray(row, np.uint16) for row in rows])
        return pixels.reshape(height, width, info["planes"])
    pixels = np.asarray(iio.imread(path))
    if pixels.ndim == 3 and pixels.shape[-1] == 4 and iio.immeta(path).get("mode") == "CMYK":
        # Pillow undoes the inverted CMYK of Adobe JPEGs and converts to RGB.
        pixels = np.asarray(iio.imread(path, mode="RGB"))
    return pixels


def read_image(path, channels=None):
    """Reads an image file into a uint8 array.

    Gray images get a channel axis, alpha is dropped, CMYK is converted to
    RGB, 16-bit samples (gray or colour) are scaled by `255 / 65535` and
    rounded.

    Args:
        path: png, jpg, bmp or tif file.
        channels: `None` keeps the file's channels (1 or 3); `1` converts
            RGB to gray with BT.601 luma weights; `3` replicates gray.

    Returns:
        uint8 array of shape `(height, width, channels)`.
    """
    if channels not in (None, 1, 3):
        raise ValueError(f"Expected `channels` to be None, 1 or 3. Received: channels={channels}")
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Image file not found: {path}")
    try:
        pixels = _decode(path)
    except Exception as error:
        raise ImageError(
            f"Could not decode image file. Expected a png, jpg, bmp or tif image. "
            f"Received: path={path} ({error})"
        ) from error
    image = _to_uint8(_to_channels_last(pixels, path), path)
    if channels == 1 and image.shape[-1] == 3:
        return rgb_to_gray(image)
    if channels == 3 and image.shape[-1] == 1:
        return np.repeat(image, 3, axis=-1)
    return np.ascontiguousarray(image)


def image_size(path):
    """Reads the `(height, width)` of an image file from its header, without decoding it.

    Args:
        path: png, jpg, bmp or tif file.

    Returns:
        Tuple of two ints.
    """
    try:
        shape = iio.improps(path).shape
    except Exception as error:
        raise ImageError(
            f"Could not read the image header. Expected a png, jpg, bmp or tif image. "
            f"Received: path={path} ({error})"
        ) from error
    return int(shape[0]), int(shape[1])


def list_images(folder):
    """Lists the image files of a folder, sorted by name.

    Args:
        folder: directory to scan (not recursively).

    Returns:
        Sorted list of `pathlib.Path` whose extension (any case) is one of
        `IMAGE_EXTENSIONS`. A symbolic link to nothing is an `ImageError`
        naming it, rather than an image silently left out.
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Image folder not found: {folder}")
    images = [entry for entry in folder.iterdir() if entry.suffix.lower() in IMAGE_EXTENSIONS]
    broken = sorted(entry.name for entry in images if entry.is_symlink() and not entry.exists())
    if broken:
        raise ImageError(f"Broken symbolic links in {folder}: {', '.join(broken)}")
    return sorted(entry for entry in images if entry.is_file())


def encode_png(image):
    """Encodes a uint8 image as PNG bytes (8 bits per sample, gray or RGB).

    Args:
        image: uint8 array `(height, width)` or `(height, width, 1 or 3)`.

    Returns:
        The bytes of a PNG file; `read_image` gives the same array back.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1]
                                                                not in (1, 3)):
        raise ValueError("Expected a uint8 image of shape (height, width[, 1 or 3]). "
                         f"Received: dtype={image.dtype}, shape={image.shape}")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    return iio.imwrite("<bytes>", image, extension=".png")
