"""ocr_common.image: decoding, colour modes, EXIF, and the malformed-input guards."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ocr_common.image import SUPPORTED_FORMATS, ImageDecodeError, decode_image, load_image_file


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def gradient_rgb(w: int = 40, h: int = 30) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, 128)], -1).astype(np.uint8)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` but carries almost no data (a bomb's shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP"])
def test_lossless_rgb_round_trip(fmt):
    rgb = gradient_rgb()
    extra = {"lossless": True} if fmt == "WEBP" else {}
    out = decode_image(encode(Image.fromarray(rgb), fmt, **extra))
    assert out.dtype == np.uint8 and out.shape == (30, 40, 3)
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "JPEG", "GIF"])  # WebP has no grayscale mode
def test_grayscale_stays_2d(fmt):
    gray = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (20, 1))
    out = decode_image(encode(Image.fromarray(gray), fmt))
    assert out.dtype == np.uint8 and out.shape == gray.shape
    tolerance = 3 if fmt == "JPEG" else 0
    assert np.abs(out.astype(int) - gray).max() <= tolerance


def test_jpeg_round_trip_is_close():
    rgb = gradient_rgb()
    out = decode_image(encode(Image.fromarray(rgb), "JPEG", quality=95))
    assert out.shape == (30, 40, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - rgb).mean() < 3


def test_rgba_is_composited_on_white():
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., :3] = (200, 0, 0)
    rgba[:10, :, 3] = 0  # top half fully transparent (black underneath) -> must become white
    rgba[10:, :, 3] = 255
    out = decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert out.shape == (20, 20, 3)
    assert (out[:10] == 255).all()
    assert (out[10:] == (200, 0, 0)).all()


def test_half_transparent_blends_with_white():
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 3] = 128  # black ink at ~50 % alpha -> mid grey, not black
    out = decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert 120 <= int(out.mean()) <= 135


def test_gray_alpha_is_gray_on_white():
    la = Image.merge("LA", [Image.new("L", (12, 12), 0), Image.new("L", (12, 12), 0)])  # black, invisible
    out = decode_image(encode(la, "PNG"))
    assert out.shape == (12, 12) and (out == 255).all()


def test_palette_with_transparency():
    img = Image.new("P", (16, 16), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))
    img.paste(1, (0, 8, 16, 16))
    out = decode_image(encode(img, "PNG", transparency=0))
    assert out.shape == (16, 16, 3)
    assert (out[:8] == 255).all() and (out[8:] == (255, 0, 0)).all()


def test_sixteen_bit_gray_is_scaled_not_clipped():
    a = np.full((10, 10), 32768, np.uint16)
    out = decode_image(encode(Image.fromarray(a), "PNG"))
    assert out.dtype == np.uint8 and out.shape == (10, 10)
    assert 126 <= int(out[0, 0]) <= 128


def test_cmyk_tiff_becomes_rgb():
    out = decode_image(encode(Image.new("CMYK", (10, 10), (0, 255, 255, 0)), "TIFF"))
    assert out.shape == (10, 10, 3) and tuple(out[0, 0]) == (255, 0, 0)


def test_one_bit_image():
    img = Image.new("1", (16, 16), 1)
    out = decode_image(encode(img, "PNG"))
    assert out.shape == (16, 16) and (out == 255).all()


def test_exif_orientation_is_applied():
    stored = np.full((20, 40, 3), 255, np.uint8)  # 40 wide, 20 high as stored
    stored[:10, :10] = 0  # dark block at the stored top-left
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display", what phones write for portrait shots
    out = decode_image(encode(img, "JPEG", exif=exif, quality=95))
    assert out.shape == (40, 20, 3)
    # After a 90-degree clockwise turn the stored top-left corner sits at the top-right.
    assert out[:10, -10:].mean() < 40 and out[:10, :10].mean() > 200


def test_truncated_file_is_rejected():
    data = encode(Image.fromarray(gradient_rgb(200, 200)), "PNG")
    with pytest.raises(ImageDecodeError) as e:
        decode_image(data[: len(data) // 2])
    assert e.value.code == "bad_image"


def test_truncated_jpeg_is_rejected():
    rng = np.random.default_rng(0)
    data = encode(Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)), "JPEG")
    with pytest.raises(ImageDecodeError, match="truncated|corrupt"):
        decode_image(data[: len(data) // 3])


@pytest.mark.parametrize("data", [b"", b"hello, not an image", b"\x89PNG\r\n\x1a\n garbage", b"%!PS-Adobe-3.0 EPSF"])
def test_garbage_is_rejected(data):
    with pytest.raises(ImageDecodeError) as e:
        decode_image(data)
    assert e.value.code == "bad_image" and str(e.value)


def test_unsupported_format_is_rejected():
    with pytest.raises(ImageDecodeError, match="PNG, JPEG"):
        decode_image(encode(Image.fromarray(gradient_rgb()), "PPM"))


def test_bomb_header_is_rejected_before_decoding():
    with pytest.raises(ImageDecodeError) as e:
        decode_image(png_header_only(50_000, 50_000))
    assert e.value.code == "too_many_pixels"
    with pytest.raises(ImageDecodeError) as e:  # under Pillow's own limit, over ours
        decode_image(png_header_only(8_000, 8_000))
    assert e.value.code == "too_many_pixels" and "64,000,000" in str(e.value)


def test_real_image_over_small_limit():
    data = encode(Image.fromarray(gradient_rgb(200, 100)), "PNG")
    with pytest.raises(ImageDecodeError) as e:
        decode_image(data, max_pixels=10_000)
    assert e.value.code == "too_many_pixels"
    assert decode_image(data, max_pixels=20_000).shape == (100, 200, 3)


def test_too_small():
    with pytest.raises(ImageDecodeError) as e:
        decode_image(encode(Image.new("L", (5, 40)), "PNG"))
    assert e.value.code == "too_small"
    assert decode_image(encode(Image.new("L", (5, 40)), "PNG"), min_side=5).shape == (40, 5)


def test_error_is_a_value_error():
    assert issubclass(ImageDecodeError, ValueError)
    assert set(SUPPORTED_FORMATS) >= {"PNG", "JPEG", "BMP", "TIFF", "WEBP"}


def test_load_image_file(tmp_path):
    path = tmp_path / "x.bmp"
    Image.fromarray(gradient_rgb()).save(path)
    np.testing.assert_array_equal(load_image_file(path), gradient_rgb())
    with pytest.raises(OSError):
        load_image_file(tmp_path / "missing.png")
