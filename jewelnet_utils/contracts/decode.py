"""Reading and resizing images: the one decoder and resizer the package uses.

Training arrays (``data.load_split_arrays``), prediction and the recommender
(``recommend.prepare_image``), Grad-CAM and the figures (``evaluate``) all decode photos with
:func:`open_rgb` / :func:`load_image` and resize them with :func:`resize_square` /
:func:`resize_array`, so a model sees at prediction time exactly what it was trained on.
Odd formats (grayscale, palette, alpha, CMYK, 16-bit, EXIF-rotated) are converted, not refused;
a file that cannot be used raises :class:`ImageProblem` naming it.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .config import JewelNetError

MIN_SIDE = 32  # pixels; smaller images carry too little detail to resize to 224 honestly
# Non-JPEG images above this are refused: decoding needs the whole bitmap in memory (a
# 10,000 x 10,000 RGB PNG is 300 MB). JPEGs above it are decoded at 1/2, 1/4 or 1/8 scale.
MAX_DECODE_PIXELS = 64_000_000

CONVERSION_KINDS: tuple[str, ...] = ("grayscale", "rgba/palette", "cmyk", "16-bit", "exif-rotated")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")


class ImageProblem(JewelNetError):
    """An image that cannot be used; ``path`` and ``reason`` are kept apart for reports."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot use image {self.path}: {reason}")


def open_rgb(path: Path, data: bytes | None = None) -> tuple[Image.Image, list[str]]:
    """Decode ``path`` (or its already-read ``data``) to an 8-bit RGB image.

    Returns the image and the conversions it needed (a subset of ``CONVERSION_KINDS``).
    """
    source: Any = io.BytesIO(data) if data is not None else path
    try:
        with warnings.catch_warnings():
            # We enforce our own size limit below; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(source)
    except UnidentifiedImageError as err:
        empty = len(data) == 0 if data is not None else _is_empty(path)
        detail = "empty file" if empty else "unknown or unsupported format"
        raise ImageProblem(path, f"not an image ({detail})") from err
    except Image.DecompressionBombError as err:
        raise ImageProblem(
            path, f"too large to decode safely ({err}); downscale it first"
        ) from err
    except FileNotFoundError as err:
        raise ImageProblem(path, "file not found") from err
    except IsADirectoryError as err:
        raise ImageProblem(path, "not a regular file") from err
    except OSError as err:
        raise ImageProblem(path, f"unreadable ({err.strerror or err})") from err
    except Exception as err:  # noqa: BLE001 - a plugin choking on a malformed header
        raise ImageProblem(path, f"corrupt image header ({err})") from err
    with img:
        return _convert(img, path)


def _is_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def _convert(img: Image.Image, path: Path) -> tuple[Image.Image, list[str]]:
    """Size checks, full decode, EXIF rotation and pixel-format conversion of an open image."""
    width, height = img.size
    if min(width, height) < MIN_SIDE:
        raise ImageProblem(
            path, f"too small ({width}x{height} px; at least {MIN_SIDE} px on each side needed)"
        )
    if width * height > MAX_DECODE_PIXELS:
        if img.format not in ("JPEG", "MPO"):  # MPO: multi-picture JPEG from cameras
            raise ImageProblem(
                path,
                f"too large ({width}x{height} px, {width * height / 1e6:.0f} megapixels; the "
                f"limit for non-JPEG files is {MAX_DECODE_PIXELS / 1e6:.0f}), downscale it first",
            )
        # JPEG can be decoded at 1/2, 1/4 or 1/8 scale directly, without the full bitmap.
        needed = math.sqrt(width * height / MAX_DECODE_PIXELS)
        scale = min(8, 2 ** math.ceil(math.log2(needed)))
        img.draft(None, (max(1, width // scale), max(1, height // scale)))
        if img.size[0] * img.size[1] > MAX_DECODE_PIXELS:
            raise ImageProblem(path, f"too large ({width}x{height} px) even at 1/8 scale")
    try:
        img.load()  # force the full decode so corrupt or truncated data shows up now
    except Exception as err:  # noqa: BLE001 - any decoder failure means unusable data
        raise ImageProblem(path, f"corrupt or truncated image data ({err})") from err

    kinds: list[str] = []
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - broken EXIF: keep the pixels as stored
        orientation = 1
    if orientation in range(2, 9):
        try:
            img = ImageOps.exif_transpose(img)
            kinds.append("exif-rotated")
        except Exception:  # noqa: BLE001
            pass
    try:
        return _to_rgb(img, kinds)
    except (ValueError, OSError) as err:
        raise ImageProblem(path, f"cannot convert pixel format {img.mode} to RGB ({err})") from err


def _to_rgb(img: Image.Image, kinds: list[str]) -> tuple[Image.Image, list[str]]:
    """Convert any Pillow mode to RGB, compositing transparency on white."""
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES or mode == "F":
        values = np.asarray(img)
        if mode == "F":
            gray = np.clip(np.nan_to_num(values), 0, 255).round().astype(np.uint8)
        else:  # 16-bit samples (32-bit "I" images are read as 16-bit, the usual source)
            wide = np.clip(values, 0, 65535).astype(np.uint32)
            gray = ((wide * 255 + 32767) // 65535).astype(np.uint8)
            kinds.append("16-bit")
        kinds.append("grayscale")
        return Image.fromarray(np.repeat(gray[:, :, None], 3, axis=2), "RGB"), kinds
    if mode in ("1", "L"):
        kinds.append("grayscale")
        return img.convert("RGB"), kinds
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in img.info):
        if mode in ("LA", "La"):
            kinds.append("grayscale")
        kinds.append("rgba/palette")
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB"), kinds
    if mode == "P":
        kinds.append("rgba/palette")
        return img.convert("RGB"), kinds
    if mode == "CMYK":
        kinds.append("cmyk")
        return img.convert("RGB"), kinds
    if mode == "RGB":
        return img.copy(), kinds
    return img.convert("RGB"), kinds  # YCbCr, LAB, HSV: lossless enough, nothing to report


def load_image(path: str | os.PathLike[str], size: int | None = None) -> np.ndarray:
    """Read one photo as uint8 RGB ``[H, W, 3]``, converting odd formats instead of refusing.

    With ``size``, also resize to ``size`` x ``size`` exactly as the training arrays are
    (so prediction sees what training saw). Raises :class:`ImageProblem` (a
    ``JewelNetError``) naming the file when it is not an image, is corrupt or truncated,
    unreadable, smaller than ``MIN_SIDE`` or too large.
    """
    img, _kinds = open_rgb(Path(path))
    if size is not None:
        img = resize_square(img, int(size))
    return np.asarray(img, dtype=np.uint8).copy()


def resize_square(img: Image.Image, size: int) -> Image.Image:
    """Square resize, thesis 4.2.1: area averaging when shrinking, bilinear when enlarging."""
    if img.size == (size, size):
        return img
    return _resize_to(img, size, size)


def _resize_to(img: Image.Image, height: int, width: int) -> Image.Image:
    """The thesis's rule (4.2.1) for any target shape: box (area) filter when both sides
    shrink, bilinear otherwise."""
    shrinking = img.width >= width and img.height >= height
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return img.resize((width, height), method)


def resize_array(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An HxWx3 array (any dtype, values in [0, 255]) resized to ``size`` (height, width) the
    way training resized its photos, as float32."""
    arr = np.asarray(image)
    if arr.shape[:2] == tuple(size):
        return arr.astype("float32")
    pil = Image.fromarray(np.uint8(np.clip(arr, 0, 255)))
    if size[0] == size[1]:
        return np.asarray(resize_square(pil, int(size[0])), dtype="float32")
    return np.asarray(_resize_to(pil, int(size[0]), int(size[1])), dtype="float32")


def thumbnail(image: np.ndarray, side: int = 160) -> np.ndarray:
    """A uint8 copy of ``image`` whose longer side is at most ``side`` pixels (for figures)."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return image
    return resize_array(image, (max(1, round(h * scale)), max(1, round(w * scale)))).astype(
        np.uint8)


__all__ = ["CONVERSION_KINDS", "MAX_DECODE_PIXELS", "MIN_SIDE", "ImageProblem", "load_image",
           "open_rgb", "resize_array", "resize_square", "thumbnail"]
