"""Turn any picture of one text line into what the recogniser saw in training.

Training renders every synthetic line as a photo-like colour image and runs it through
:func:`normalize_line`; serving runs uploads and the page pipeline's line crops through the same
function. Steps: grey, polarity (light text on a dark plate or sign is turned into dark on
light), contrast stretched between the 2nd and 98th percentile, inverted so that ink is high
and the padding (0) reads as paper, scaled to the model height with the aspect kept, padded on
the right (or squeezed, when a line is wider than ``width`` / ``max_width``).
"""

from __future__ import annotations

import cv2
import numpy as np

# A line wider than this (at model height) is squeezed: 1,600 px is ~55 Chinese characters.
MAX_WIDTH = 1600


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grey of a grey, RGB or RGBA image (alpha composited on white)."""
    a = np.asarray(image)
    if a.ndim == 2:
        return a.astype(np.uint8)
    if a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    if a.shape[2] == 1:
        return a[..., 0].astype(np.uint8)
    return cv2.cvtColor(a[..., :3].astype(np.uint8), cv2.COLOR_RGB2GRAY)


def text_is_light(gray: np.ndarray) -> bool:
    """Whether the text is lighter than its background: Otsu splits the pixels in two and the
    background is the class that owns more of the image border."""
    g = cv2.GaussianBlur(gray, (3, 3), 0)
    t, _ = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    h, w = g.shape
    bh, bw = max(1, h // 6), max(1, w // 12)
    border = np.concatenate([g[:bh].ravel(), g[-bh:].ravel(), g[:, :bw].ravel(), g[:, -bw:].ravel()])
    light_border = float(np.mean(border > t))
    if abs(light_border - 0.5) > 0.1:
        return light_border < 0.5
    return float(np.mean(g > t)) < 0.5  # border undecided: text is the smaller class


def ink(image: np.ndarray) -> np.ndarray:
    """float32 ink map in [0, 1] (text high, background low) at the image's own size."""
    g = to_gray(image).astype(np.float32)
    if not text_is_light(g.astype(np.uint8)):
        g = 255.0 - g
    lo, hi = np.percentile(g, (2, 98))
    if hi - lo < 8:  # a blank or flat image
        return np.zeros(g.shape, np.float32)
    return np.clip((g - lo) / (hi - lo), 0.0, 1.0)


def scaled_width(h: int, w: int, height: int = 32) -> int:
    return max(1, int(round(w * height / max(h, 1))))


def normalize_line(image: np.ndarray, height: int = 32, width: int | None = 280, stride: int = 4,
                   max_width: int = MAX_WIDTH) -> np.ndarray:
    """A line image -> uint8 ``(height, W)``, ink 255. ``width`` given: W = width (padded or
    squeezed); None: W = the scaled width rounded up to a multiple of ``stride`` (at most
    ``max_width``, at least ``4 * stride``)."""
    m = ink(image)
    h, w = m.shape
    sw = scaled_width(h, w, height)
    limit = width if width is not None else max_width
    sw = min(sw, limit)
    out_w = width if width is not None else max(4 * stride, -(-sw // stride) * stride)
    interp = cv2.INTER_AREA if h > height else cv2.INTER_LINEAR
    scaled = cv2.resize(m, (sw, height), interpolation=interp)
    out = np.zeros((height, out_w), np.float32)
    out[:, :sw] = scaled
    return np.round(out * 255.0).astype(np.uint8)


def reading_variants(image: np.ndarray) -> list[np.ndarray]:
    """A line as given, cropped a little tighter (1/24 of its height off the top and bottom, twice
    that off the ends) and stretched 15 % wider: the recogniser reads all three and keeps the most
    confident reading (:meth:`chinese_ocr.recognize.LineRecognizer.refine`). A crop's margin and a face's width
    each sway a CTC reading; the most confident of three readings had CER 0.122 against 0.141 on
    the real ``zh_dev`` lines and 0.132 against 0.151 on the held-out face
    (``docs/chinese.md``, "Reading a line three ways")."""
    h, w = image.shape[:2]
    dy = max(1, round(h / 24))
    dx = 2 * dy
    tight = image[dy : h - dy, dx : w - dx] if h > 2 * dy + 4 and w > 2 * dx + 4 else image
    wide = cv2.resize(image, (max(1, round(w * 1.15)), h), interpolation=cv2.INTER_LINEAR)
    return [image, tight, wide]


def normalize_batch(images, height: int = 32, width: int | None = 280, stride: int = 4) -> list[np.ndarray]:
    return [normalize_line(im, height, width, stride) for im in images]
