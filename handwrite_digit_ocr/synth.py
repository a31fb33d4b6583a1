"""Synthetic handwritten letters rendered from handwriting fonts.

Real handwritten letters are scarce (a few thousand crops) and EMNIST needs a download, so
letters are also drawn from handwriting-style fonts (Debian packages ``fonts-dkg-handwriting``,
``fonts-sjfonts``, ``fonts-femkeklaver``, ``fonts-breip``, ``fonts-humor-sans``,
``fonts-rufscript``, ``fonts-dancingscript``, ``fonts-kaushanscript``, ``fonts-ecolier-court``,
``fonts-comic-neue``, ``fonts-cabinsketch``, ``fonts-leckerli-one``, ``fonts-lobster``).
Each glyph gets a random pen width, slant, rotation, elastic wobble and blur, is drawn in
dark ink on light, uneven paper at the low resolution of a real letter crop, and then goes
through :func:`~handwrite_digit_ocr.preprocess.normalize_char` like every real image.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from handwrite_digit_ocr.config import LETTERS
from handwrite_digit_ocr.preprocess import normalize_char

FONT_ROOT = Path("/usr/share/fonts")
# Font folder (= Debian package) names of the handwriting fonts; the folder is the font
# *family*, so bold/italic files of one family always land on the same side of a split.
HANDWRITING_FAMILIES: tuple[str, ...] = (
    "fifthhorseman", "sjfonts", "femkeklaver", "breip", "humor-sans", "rufscript", "dancingscript",
    "kaushanscript", "ecolier-court", "comic-neue", "cabinsketch", "leckerli-one", "lobster",
)
# Never trained on: the synthetic validation split measures generalisation to unseen fonts.
# Two plain, print-like hands, so the number says something about ordinary handwriting.
HELD_OUT_FAMILIES: tuple[str, ...] = ("rufscript", "humor-sans")
# Glyphs drawn as hollow outlines: no pen writes like that, so they would teach the wrong shape.
OUTLINE_GLYPHS: dict[str, str] = {"femkeklaver": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
APT_PACKAGES = ("fonts-dkg-handwriting fonts-sjfonts fonts-femkeklaver fonts-breip fonts-humor-sans fonts-rufscript "
                "fonts-dancingscript fonts-kaushanscript fonts-ecolier-court fonts-comic-neue fonts-cabinsketch "
                "fonts-leckerli-one fonts-lobster")


def find_fonts(root: str | Path = FONT_ROOT, families: Sequence[str] = HANDWRITING_FAMILIES) -> list[Path]:
    """Every .ttf/.otf file under ``root`` whose folder is one of ``families``, sorted."""
    root = Path(root)
    fonts = [p for p in root.rglob("*") if p.suffix.lower() in (".ttf", ".otf") and p.parent.name in families]
    return sorted(fonts)


def font_family(path: str | Path) -> str:
    return Path(path).parent.name


@functools.lru_cache(maxsize=32)
def _charset(font_path: str) -> frozenset[str]:
    """Characters the font really has a glyph for (missing ones render as an empty box)."""
    import logging

    from fontTools.ttLib import TTFont

    # Some Debian fonts have a slightly malformed 'post' table; fontTools warns but reads it fine.
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    with TTFont(font_path, lazy=True) as f:
        cmap = f.getBestCmap() or {}
    return frozenset(chr(c) for c in cmap)


def has_glyph(font_path: str | Path, ch: str) -> bool:
    """True when the font has a usable (filled, not outline-only) glyph for ``ch``."""
    return ch in _charset(str(font_path)) and ch not in OUTLINE_GLYPHS.get(font_family(font_path), "")


@functools.lru_cache(maxsize=512)
def _font(font_path: str, px: int):
    from PIL import ImageFont

    return ImageFont.truetype(font_path, px)


def _glyph_mask(ch: str, font_path: str, px: int, stroke: int) -> np.ndarray:
    """Anti-aliased ink coverage of one glyph, float32 [0, 1], cropped to the ink."""
    from PIL import Image, ImageDraw

    font = _font(font_path, px)
    pad = px + 2 * stroke
    canvas = Image.new("L", (3 * pad, 3 * pad), 0)
    ImageDraw.Draw(canvas).text((1.5 * pad, 1.5 * pad), ch, fill=255, font=font, anchor="mm",
                                stroke_width=stroke, stroke_fill=255)
    m = np.asarray(canvas, np.float32) / 255.0
    ys, xs = np.nonzero(m > 0.05)
    if len(ys) == 0:
        return np.zeros((1, 1), np.float32)
    return m[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _elastic(mask: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float) -> np.ndarray:
    """Simard-style elastic distortion: a smooth random displacement field (pen wobble)."""
    h, w = mask.shape
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) * alpha
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) * alpha
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(mask, gx + dx, gy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _affine(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotation, slant (shear) and squash, on a canvas large enough to keep the whole glyph."""
    h, w = mask.shape
    angle = np.deg2rad(rng.uniform(-12, 12))
    shear = rng.uniform(-0.3, 0.3)
    sx, sy = np.exp(rng.uniform(-0.2, 0.2)), 1.0
    a = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ np.array([[sx, shear], [0, sy]])
    side = int(np.ceil(1.6 * max(h, w))) + 4
    centre_in, centre_out = np.array([w / 2, h / 2]), np.array([side / 2, side / 2])
    m = np.hstack([a, (centre_out - a @ centre_in)[:, None]]).astype(np.float32)
    return cv2.warpAffine(mask, m, (side, side), flags=cv2.INTER_LINEAR, borderValue=0)


def _crop_ink(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask > 0.05)
    if len(ys) == 0:
        return mask
    return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _paper(size: int, rng: np.random.Generator) -> np.ndarray:
    """Light grey/beige paper with a lighting gradient and grain, float32 0..255 (as in the real crops)."""
    level = rng.uniform(160, 245)
    gy, gx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1) - 0.5
    tilt = rng.uniform(-25, 25, 2)
    paper = level + tilt[0] * gx + tilt[1] * gy
    return paper + rng.normal(0, rng.uniform(1, 6), (size, size)).astype(np.float32)


def render_char(ch: str, font_path: str | Path, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """One augmented character as a ``size`` x ``size`` uint8 grayscale photo crop (dark ink, light paper).

    Drawn 4x larger and shrunk at the end, so strokes are anti-aliased and as soft as in a
    low-resolution photo. Raises ``ValueError`` when the font has no glyph for ``ch``.
    """
    return _render(ch, font_path, rng, size)[0]


def _render(ch: str, font_path: str | Path, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`render_char` plus the clean ink coverage (``size`` x ``size`` float32) it was drawn from."""
    font_path = str(font_path)
    if not has_glyph(font_path, ch):
        raise ValueError(f"font {font_path} has no glyph for {ch!r}")
    big = 4 * size
    px = int(big * rng.uniform(0.6, 0.9))
    # Pen width: a stroke outline thickens the font's own strokes (felt pen vs. fine liner).
    stroke = int(rng.choice([0, 0, 0, 1, 2, 3]) * px / 100)
    mask = _glyph_mask(ch, font_path, px, stroke)
    if rng.random() < 0.25:  # thinner pen
        k = max(1, px // 60)
        mask = cv2.erode(mask, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
        if mask.max() < 0.5:  # an erosion that wipes out a thin font is undone
            mask = _glyph_mask(ch, font_path, px, stroke)
    mask = _affine(mask, rng)
    if rng.random() < 0.7:
        mask = _elastic(mask, rng, alpha=rng.uniform(2, 6) * px / 100, sigma=rng.uniform(4, 8) * px / 100)
    mask = _crop_ink(mask)

    # Place the glyph as a real crop frames it: filling 55-90 % of the longer side, off-centre.
    fill = rng.uniform(0.55, 0.9)
    scale = fill * big / max(mask.shape)
    gh, gw = max(1, round(mask.shape[0] * scale)), max(1, round(mask.shape[1] * scale))
    glyph = cv2.resize(mask, (gw, gh), interpolation=cv2.INTER_AREA)
    ink = np.zeros((big, big), np.float32)
    oy, ox = rng.integers(0, big - gh + 1), rng.integers(0, big - gw + 1)
    ink[oy : oy + gh, ox : ox + gw] = glyph
    if rng.random() < 0.08:  # a ruled/form line through the crop, as in some real crops
        # Mostly a base line under the letter, sometimes one crossing it.
        lo, hi = (big // 8, big - big // 8) if rng.random() < 0.3 else (big - big // 8, big)
        y, t = int(rng.integers(lo, hi)), big // 80
        band = ink[max(0, y - t) : y + t + 1]
        band[:] = np.maximum(band, 0.8)
    ink = cv2.resize(ink, (size, size), interpolation=cv2.INTER_AREA)

    paper = _paper(size, rng)
    # Ink always clearly darker than the paper (real crops are legible photos, not near-blank).
    ink_level = max(0.0, float(paper.mean()) - rng.uniform(90, 220))
    strength = rng.uniform(0.75, 1.0)  # faint pens never reach full darkness
    img = paper - (paper - ink_level) * np.clip(ink * strength, 0, 1)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.0))
    return np.clip(img, 0, 255).round().astype(np.uint8), ink


def legible(normalized: np.ndarray, clean: np.ndarray, min_iou: float = 0.5) -> bool:
    """Did ``normalize_char`` find the letter, not the paper grain? Compares the ink it kept with
    the normalised clean glyph (IoU of the ink masks). Thin strokes shrunk to a few pixels on
    noisy paper sometimes vanish; such samples would be label noise, so they are redrawn."""
    # The clean coverage is 0..1; scaled to grey levels so it reads as a high-contrast image.
    a, b = normalized > 0.3, normalize_char(clean * 255.0) > 0.3
    union = (a | b).sum()
    return bool(union) and (a & b).sum() / union >= min_iou


def synthetic_letters(n_per_class: int, fonts: Sequence[str | Path], seed: int = 0,
                      sizes: tuple[int, int] = (24, 56)) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_class`` images of each letter a..z (half upper, half lower case), normalised.

    Returns ``x`` (N, 28, 28) uint8 with ink = 255 (the output of ``normalize_char``) and ``y``
    (N,) int32 indexing :data:`~handwrite_digit_ocr.config.LETTERS`. Fonts are cycled so each
    font draws every letter about equally often; a font without a glyph is skipped for it.
    Crop sizes are drawn from ``sizes`` (real crops are 14-74 px, median 33), small enough that
    ``normalize_char`` treats them as crops, like the real ones.
    """
    fonts = [str(f) for f in fonts]
    if not fonts:
        raise ValueError(f"no fonts given; install them with: apt-get install {APT_PACKAGES}")
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for label, letter in enumerate(LETTERS):
        for i in range(n_per_class):
            ch = letter.upper() if i % 2 == 0 else letter
            candidates = [f for f in fonts if has_glyph(f, ch)]
            if not candidates:
                raise ValueError(f"none of the fonts has a glyph for {ch!r}")
            font = candidates[(i // 2) % len(candidates)]
            for _ in range(5):
                img, clean = _render(ch, font, rng, size=int(rng.integers(sizes[0], sizes[1] + 1)))
                norm = normalize_char(img)
                if legible(norm, clean):
                    break
            xs.append((norm * 255).round().astype(np.uint8))
            ys.append(label)
    return np.stack(xs), np.array(ys, np.int32)
