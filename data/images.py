"""Reading and listing image files as uint8 arrays.

Every image leaves `read_image` as `uint8` of shape `(height, width, channels)`
with 1 or 3 channels, so the rest of the project never deals with file
formats, colour models, alpha channels or bit depths.
"""

import pathlib

import imageio.v3 as iio
import numpy as np
import png
import tifffile
from PIL import Image
from PIL import UnidentifiedImageError

from data.imresize import round_to_uint8

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class ImageError(ValueError):
    """An image file that cannot be used; the message names the file."""

# MATLAB rgb2gray weights (ITU-R BT.601 luma); with them the BSD68 gray
# benchmark equals round(rgb2gray(CBSD68)) exactly.
_GRAY_WEIGHTS = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def _to_uint8(pixels, path):
    """Maps decoded samples of any supported bit depth onto uint8."""
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.bool_:
        return pixels.astype(np.uint8) * 255
    if pixels.dtype == np.uint16:
        return round_to_uint8(pixels.astype(np.float64) * 255.0 / 65535.0)
    raise ImageError("Expected an image with 1-, 8- or 16-bit unsigned samples. "
                     f"Received: dtype={pixels.dtype} in path={path}")


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
    raise ImageError("Expected a single gray, gray+alpha, RGB or RGBA image. "
                     f"Received: shape={pixels.shape} in path={path}")


def rgb_to_gray(image):
    """Converts uint8 RGB to uint8 gray with MATLAB's `rgb2gray` (BT.601 luma).

    Args:
        image: uint8 array of shape `(height, width, 3)`.

    Returns:
        uint8 array of shape `(height, width, 1)`.
    """
    luma = image.astype(np.float64) @ _GRAY_WEIGHTS
    return round_to_uint8(luma)[..., None]


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # Classic and BigTIFF.
_TIFF_BITS_PER_SAMPLE = 258

# Pillow modes whose samples `read_image` takes as they are: binary, gray,
# gray+alpha, RGB(A) (straight, premultiplied or padded), palette (imageio
# applies it) and 16- or 32-bit gray (`_to_uint8` checks the sample type).
_SAMPLE_MODES = frozenset(
    ("1", "L", "LA", "La", "P", "RGB", "RGBA", "RGBa", "RGBX", "I;16", "I;16L", "I;16B",
     "I;16N", "I", "F"))
# Colour models Pillow converts to RGB itself: CMYK (whose inversion in Adobe
# JPEGs Pillow's decoder undoes first) and palette+alpha.
_CONVERTED_TO_RGB = frozenset(("CMYK", "PA"))
# The containers `IMAGE_EXTENSIONS` name, as Pillow calls them (MPO: a JPEG with a second image).
_FORMATS = frozenset(("PNG", "JPEG", "MPO", "BMP", "TIFF"))
# TIFF photometric interpretations whose samples tifffile returns ready to use;
# it leaves the others (white-is-zero, palette, CMYK, YCbCr, CIELab) undone.
_TIFFFILE_PHOTOMETRICS = ("MINISBLACK", "RGB")


def _first_line(error):
    """The error's type and the first line of its message (imageio adds lines of plugin hints)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _colour_model_error(model, path):
    """The one-line refusal of a colour model `read_image` does not convert."""
    return ImageError("Expected a gray, RGB(A), palette or CMYK image (convert it to RGB). "
                      f"Received: colour model {model} in path={path}")


def _is_deep_png(path):
    """Whether a file is a 16-bit RGB(A) or gray+alpha PNG, which Pillow truncates to 8 bits."""
    with open(path, "rb") as handle:
        header = handle.read(26)
    # IHDR follows the signature: bit depth at byte 24, colour type at 25
    # (2 RGB, 4 gray+alpha, 6 RGBA; 16-bit gray, type 0, Pillow keeps).
    return header[:8] == _PNG_SIGNATURE and len(header) == 26 and header[24] == 16 and (
        header[25] in (2, 4, 6))


def _is_tiff(path):
    """Whether a file starts like a TIFF (whatever its extension)."""
    with open(path, "rb") as handle:
        return handle.read(4) in _TIFF_SIGNATURES


def _decode_png_with_pypng(path):
    """All 16 bits of a PNG's samples, in its own channels."""
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    pixels = np.vstack([np.asarray(row, np.uint16) for row in rows])
    return pixels.reshape(height, width, info["planes"])


def _decode_tiff_with_tifffile(path):
    """Samples of a TIFF whose colour model tifffile leaves as stored: gray or RGB(A) only."""
    with tifffile.TiffFile(path) as tiff:
        if not len(tiff.pages):
            raise ValueError("no image in the TIFF file")
        page = tiff.pages[0]
        photometric, bits = page.photometric.name, page.bitspersample
    if photometric not in _TIFFFILE_PHOTOMETRICS:
        raise _colour_model_error(f"{photometric} (TIFF photometric)", path)
    if bits not in (1, 8, 16):
        raise ImageError("Expected an image with 1-, 8- or 16-bit unsigned samples. "
                         f"Received: {bits}-bit samples in path={path}")
    return np.asarray(iio.imread(path, plugin="tifffile"))


def _tifffile_decodes(image):
    """Whether a TIFF that Pillow opened goes to tifffile instead: it has more
    than 8 bits a sample (Pillow truncates 16-bit colour) or several pages
    (tifffile reads them all, which `read_image` refuses)."""
    bits = image.tag_v2.get(_TIFF_BITS_PER_SAMPLE, 1)
    return max(np.atleast_1d(bits)) > 8 or getattr(image, "n_frames", 1) > 1


def _decode(path):
    """Decoded samples of an image file, in its own bit depth and channels.

    Pillow names the colour model of any file it opens, whatever the
    container: CMYK and palette+alpha are converted to RGB as Pillow does,
    other models than gray and RGB(A) (YCbCr, CIELab, HSV) are refused, and
    gray and RGB(A) samples are decoded as they are: by Pillow (through
    imageio), except where it would drop bits, 16-bit colour PNGs (pypng) and
    TIFFs of more than 8 bits a sample (tifffile). A TIFF that Pillow cannot
    open goes to tifffile, whose photometric tag decides the same way.
    """
    if _is_deep_png(path):
        return _decode_png_with_pypng(path)
    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        if _is_tiff(path):
            return _decode_tiff_with_tifffile(path)
        raise
    with image:
        _check_format(image, path)
        if image.mode in _CONVERTED_TO_RGB:
            return np.asarray(image.convert("RGB"))
        if image.mode not in _SAMPLE_MODES:
            raise _colour_model_error(image.mode, path)
        if image.format == "TIFF" and _tifffile_decodes(image):
            return _decode_tiff_with_tifffile(path)
    return np.asarray(iio.imread(path, plugin="pillow"))


def read_image(path, channels=None):
    """Reads an image file into a uint8 array.

    Gray images get a channel axis, alpha is dropped, palettes are applied,
    CMYK is converted to RGB as Pillow does, 16-bit samples (gray or colour)
    are scaled by `255 / 65535` and rounded. Any other colour model (YCbCr or
    CIELab TIFF, ...) is an `ImageError` naming the file, never pixels in the
    wrong colours.

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
    except ImageError:
        raise
    except Exception as error:
        raise ImageError(
            "Could not decode image file. Expected a png, jpg, bmp or tif image. "
            f"Received: path={path} ({_first_line(error)})"
        ) from error
    image = _to_uint8(_to_channels_last(pixels, path), path)
    if channels == 1 and image.shape[-1] == 3:
        return rgb_to_gray(image)
    if channels == 3 and image.shape[-1] == 1:
        return np.repeat(image, 3, axis=-1)
    return np.ascontiguousarray(image)


def _check_format(image, path):
    """Refuses a file Pillow opened that is none of the containers read (a GIF named .png)."""
    if image.format not in _FORMATS:
        raise ImageError("Expected a png, jpg, bmp or tif image. "
                         f"Received: a {image.format} file in path={path}")


def _header_size(path):
    """`(height, width)` of the first image in a file, from the decoder `_decode` picks."""
    try:
        with Image.open(path) as image:
            _check_format(image, path)
            return image.size[::-1]
    except UnidentifiedImageError:
        if not _is_tiff(path):
            raise
    with tifffile.TiffFile(path) as tiff:
        return tiff.pages[0].imagelength, tiff.pages[0].imagewidth


def image_size(path):
    """Reads the `(height, width)` of an image file from its header, without decoding it.

    Args:
        path: png, jpg, bmp or tif file.

    Returns:
        Tuple of two ints.
    """
    try:
        height, width = _header_size(path)
    except ImageError:
        raise
    except Exception as error:
        raise ImageError(
            "Could not read the image header. Expected a png, jpg, bmp or tif image. "
            f"Received: path={path} ({_first_line(error)})"
        ) from error
    return int(height), int(width)


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
