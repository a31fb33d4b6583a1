"""Decode uploaded or on-disk image bytes into plain uint8 arrays.

One function, :func:`decode_image`, is shared by the server, ``evaluate`` and ``predict`` so
every entry point accepts the same files and fails the same way. It guards against
decompression bombs (the size in the header is checked before any pixel is decoded), applies
EXIF orientation (phone photos are stored sideways with a rotation tag) and flattens every
Pillow mode to either ``HxW`` grayscale or ``HxWx3`` RGB, alpha composited on white, because
transparent PNG strokes drawn in a browser would otherwise vanish on a black background.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow format names we open. Restricting ``Image.open`` to these keeps exotic decoders out of
# the attack surface (EPS would even run Ghostscript). Phone JPEGs that Pillow reports as "MPO"
# come through the JPEG plugin, so they are covered by "JPEG".
SUPPORTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF")

log = logging.getLogger(__name__)

_GRAY_MODES = {"1", "L", "LA", "La"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}


class ImageDecodeError(ValueError):
    """The bytes are not an image we can use. ``code`` is a short machine-readable reason:
    ``bad_image`` (empty, unknown format, truncated, corrupt), ``too_many_pixels`` or ``too_small``."""

    def __init__(self, message: str, code: str = "bad_image"):
        super().__init__(message)
        self.code = code


def decode_image(data: bytes, max_pixels: int = 40_000_000, min_side: int = 8) -> np.ndarray:
    """Image file bytes -> ``HxW`` uint8 (grayscale sources) or ``HxWx3`` uint8 RGB.

    Only the first frame of animated GIF/WebP or multi-page TIFF is used. Raises
    :class:`ImageDecodeError` for anything that is not a usable image; never anything else.
    """
    if not data:
        raise ImageDecodeError("empty file: no image data")
    try:
        img = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # The header is over Pillow's own global limit (the warning only arrives as an exception when
        # warnings are errors). Pillow's message quotes its limit, not ours, so restate it.
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise ImageDecodeError(f"image has {size}, over the limit of {max_pixels:,}", "too_many_pixels") from None
    except UnidentifiedImageError:
        raise ImageDecodeError(f"not a recognised image format (supported: {', '.join(SUPPORTED_FORMATS)})") from None
    except Exception as e:  # noqa: BLE001 - any decoder failure is bad input, never a crash
        raise ImageDecodeError(
            f"not a readable image (supported: {', '.join(SUPPORTED_FORMATS)}): {_reason(e)}"
        ) from None

    with img:
        # Image.open has only parsed the header, so this rejects a bomb before allocating pixels.
        w, h = img.size
        if w * h > max_pixels:
            raise ImageDecodeError(
                f"image is {w}x{h} = {w * h:,} pixels, over the limit of {max_pixels:,}", "too_many_pixels"
            )
        if min(w, h) < min_side:
            raise ImageDecodeError(f"image is {w}x{h}; both sides must be at least {min_side} pixels", "too_small")
        try:
            img.load()
        except Exception as e:  # noqa: BLE001 - truncated or corrupt pixel data
            raise ImageDecodeError(f"corrupt or truncated {img.format} image: {_reason(e)}") from None
        try:
            img = ImageOps.exif_transpose(img)
        except Exception as e:  # noqa: BLE001 - a broken EXIF block should not cost the user the picture
            log.debug("ignoring unreadable EXIF orientation: %s", _reason(e))
        try:
            return _to_array(img)
        except ImageDecodeError:
            raise
        except Exception as e:  # noqa: BLE001 - unusual modes Pillow cannot convert
            raise ImageDecodeError(
                f"cannot convert {img.format or ''} image in mode {img.mode}: {_reason(e)}"
            ) from None


def load_image_file(path: str | Path, max_pixels: int = 40_000_000, min_side: int = 8) -> np.ndarray:
    """Read ``path`` and :func:`decode_image` it (``OSError`` if the file cannot be read)."""
    return decode_image(Path(path).read_bytes(), max_pixels=max_pixels, min_side=min_side)


def for_each_image_file(paths: list[str], handle) -> int:
    """Command-line predictors: ``handle(path, image)`` for each readable file; a file that cannot
    be read is reported as ``path<TAB>error: ...`` on stdout and skipped, so one bad file does not
    stop the rest. Returns the exit status: 1 if any file was unreadable, else 0."""
    status = 0
    for path in paths:
        try:
            image = load_image_file(path)
        except (ImageDecodeError, OSError) as e:
            print(f"{path}\terror: {e}")
            status = 1
            continue
        handle(path, image)
    return status


def _reason(e: BaseException) -> str:
    return str(e) or type(e).__name__


def _to_array(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
        return _wide_gray_to_uint8(np.asarray(img), mode)
    gray = mode in _GRAY_MODES or (mode in ("P", "PA") and _gray_palette(img))
    # "transparency" covers PNG tRNS colour keys on L / RGB / P images as well as GIF.
    if mode in ("LA", "La", "RGBA", "RGBa", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        out = Image.alpha_composite(white, rgba).convert("L" if gray else "RGB")
    else:  # 1, L, P, RGB, RGBX, CMYK, YCbCr, LAB, HSV ...
        out = img.convert("L" if gray else "RGB")
    return np.ascontiguousarray(np.asarray(out, dtype=np.uint8))


def _gray_palette(img: Image.Image) -> bool:
    """True when every palette entry has r == g == b, so the image is grayscale in disguise."""
    pal = img.getpalette("RGB") or []
    return bool(pal) and all(pal[i] == pal[i + 1] == pal[i + 2] for i in range(0, len(pal) - 2, 3))


def _wide_gray_to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    """16-bit, 32-bit int or float grayscale -> uint8. Pillow's own ``convert("L")`` clips
    instead of scaling, which turns most 16-bit scans pure white."""
    a = a.astype(np.float32)  # float32 halves the peak memory of float64 on big scans
    if mode in _SIXTEEN_BIT_MODES:
        scaled = a / 257.0
    elif mode == "F" and a.size and np.nanmax(a) <= 1.0 and np.nanmin(a) >= 0.0:
        scaled = a * 255.0  # float images in [0, 1]
    else:
        hi = float(np.nanmax(a)) if a.size else 0.0
        scaled = a / 257.0 if 255.0 < hi <= 65535.0 else a
    return np.clip(np.nan_to_num(np.rint(scaled)), 0, 255).astype(np.uint8)
