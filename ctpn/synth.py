"""Synthetic pages of Chinese (and mixed Latin/digit) text with a ground-truth box per text line,
for training and measuring the CTPN text-line detector.

A page is one of several layouts (paragraphs, columns, heading + body, table, receipt, signs,
subtitles over a photo, packaging labels, a phone screenshot) on a background (paper, gradient,
texture, photo-like colour fields, flat UI colours), with non-text distractors (rules, boxes,
circles, stripes, hatching, barcodes, QR-like blocks, stamps, stains) kept off the text so that
the detector learns what text looks like rather than "anything dark", then slightly rotated in
some pages and spoilt (uneven light, low contrast, blur, noise, JPEG).

Ground truth: a line is a horizontal run of text whose internal gaps are under ``MERGE_GAP`` em;
runs of one row further apart (receipt item and price, table cells) are separate lines, and
layouts keep such runs at least ``SPLIT_GAP`` em apart so nothing sits in between. Each box is
computed from the drawn coverage (pixels with coverage >= ``INK``), never from font metrics, in
pixel-edge coordinates (a box around pixel columns 3..5 spans x = 3..6), as a quad ``[tl, tr, br,
bl]`` that rotates with the page. Lines never overlap: a placement that would is dropped.

Faces come from :func:`chinese_ocr.fonts.faces` of the split (train, heldout, eval), and a line is
drawn only with a face that has every glyph of it (:func:`chinese_ocr.fonts.can_draw`).

Speed: about 35 ms for a 448 x 448 page on one core (``python -m ctpn.synth --bench 100``), almost
all of it FreeType rasterising glyphs.
"""

from __future__ import annotations

import argparse
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from chinese_ocr.fonts import Face, can_draw, faces, font_file

SPLITS: dict[str, int] = {"train": 1, "heldout": 2, "eval": 3}
# Training pages are small (CPU training); all sides are multiples of the stride 16.
TRAIN_SHAPES: tuple[tuple[int, int], ...] = ((384, 512), (512, 384), (448, 448), (320, 512), (512, 320),
                                             (384, 384), (512, 512), (416, 480))
EVAL_SIZE = (720, 960)  # the benchmark's pages, H x W
MIN_EM, MAX_EM = 14, 68  # font sizes; a Chinese glyph's ink is ~0.9 em, so text is about 12-64 px high
INK = 64  # coverage (of 255) that counts as ink for a box
MERGE_GAP = 1.0  # runs on one row closer than this (em) are one line
SPLIT_GAP = 1.4  # distinct lines sharing a row keep at least this far apart (em)
ROTATE_P, MAX_ANGLE = 0.3, 3.0
LATIN_WORDS = ("OPEN", "EXIT", "Welcome", "Hotel", "Coffee", "SALE", "New", "Best", "Shop", "Market", "Station",
               "Service", "Hello", "Menu", "Free", "Parking", "Bank", "Tea", "Fresh", "Delivery", "Food", "City",
               "Park", "Center", "Music", "Online", "Home", "Travel", "Fashion", "Beauty", "Club", "Store", "News",
               "the", "of", "and", "to", "in", "for", "with", "our", "your", "we", "you", "is", "a", "day")


@dataclass
class Page:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    lines: list[np.ndarray]  # (4, 2) float32 quads tl, tr, br, bl in pixels
    texts: list[str]
    faces: list[str] = field(default_factory=list)  # the face name each line is drawn with


# ------------------------------------------------------------------------------------------------
# Text: faces, sampling and drawing


@functools.cache
def _sampler(natural_text: bool = False):
    """The corpus sampler; ``natural_text``: words only, no lines of characters drawn evenly from
    the charset (``chinese_ocr.corpus.UNIFORM_SHARE``)."""
    from chinese_ocr.corpus import TextSampler

    return TextSampler(uniform_share=0.0) if natural_text else TextSampler()


@functools.lru_cache(maxsize=4096)
def _font(path: str, index: int, em: int):
    from PIL import ImageFont

    # Basic layout: Chinese needs no shaping, and it measures text 3x faster than Raqm.
    return ImageFont.truetype(path, em, index=index, layout_engine=ImageFont.Layout.BASIC)


@functools.lru_cache(maxsize=4096)
def _face_font(face: Face, em: int):
    return _font(font_file(face), face.index, int(em))


_ADVANCE: dict[tuple[Face, int, str], float] = {}


@functools.lru_cache(maxsize=4096)
def _ideograph_advance(face: Face, em: int) -> float:
    return float(_face_font(face, em).getlength("一"))


def _advances(face: Face, em: int, text: str) -> np.ndarray:
    """Advance widths of the characters of ``text``. Measuring a string costs a FreeType glyph load
    per character, every time; but every ideograph of a CJK face has the same advance, and the
    few other characters are remembered."""
    out = np.empty(len(text), np.float64)
    for i, ch in enumerate(text):
        if "\u4e00" <= ch <= "\u9fff":
            out[i] = _ideograph_advance(face, em)
            continue
        key = (face, em, ch)
        v = _ADVANCE.get(key)
        if v is None:
            if len(_ADVANCE) > 200_000:
                _ADVANCE.clear()
            v = _ADVANCE[key] = float(_face_font(face, em).getlength(ch))
        out[i] = v
    return out


def _text_width(face: Face, em: int, text: str, tracking_px: float = 0.0) -> float:
    return float(_advances(face, em, text).sum()) + tracking_px * max(0, len(text) - 1)


def _mask(font, text: str, stroke: int = 0) -> tuple[np.ndarray, int, int]:
    """Coverage of ``text`` (uint8) and its top-left relative to the pen at the baseline."""
    from PIL import Image

    core, (ox, oy) = font.getmask2(text, mode="L", anchor="ls", stroke_width=stroke)
    w, h = core.size
    if w == 0 or h == 0:
        return np.zeros((0, 0), np.uint8), 0, 0
    # getmask2 skips ImageDraw's canvas and paste, which cost more than drawing a short line.
    return np.asarray(Image.Image()._new(core)), int(ox), int(oy)


@dataclass
class _Ink:
    """One run of text, drawn: coverage masks and where they sit relative to the pen origin."""

    mask: np.ndarray  # (h, w) uint8, all ink (fill and outline)
    fill: np.ndarray | None  # (h, w) uint8 fill of outlined text, else None
    ox: int  # mask's left edge from the pen origin
    oy: int  # mask's top from the baseline (negative: above it)
    box: tuple[int, int, int, int]  # ink x0, y0, x1, y1 (exclusive) from the pen origin
    text: str
    face: Face


def _stack(parts: list[tuple[np.ndarray, int, int]]) -> tuple[np.ndarray, int, int]:
    """Max-composite masks at their (x, y) offsets onto one canvas spanning them all."""
    parts = [p for p in parts if p[0].size]
    if not parts:
        return np.zeros((0, 0), np.uint8), 0, 0
    x0, y0 = min(x for _, x, _ in parts), min(y for _, _, y in parts)
    x1 = max(x + m.shape[1] for m, x, _ in parts)
    y1 = max(y + m.shape[0] for m, _, y in parts)
    out = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for m, x, y in parts:
        r = out[y - y0 : y - y0 + m.shape[0], x - x0 : x - x0 + m.shape[1]]
        np.maximum(r, m, out=r)
    return out, x0, y0


def _draw(face: Face, em: int, text: str, tracking: float = 0.0, stroke: int = 0) -> _Ink | None:
    """Draw ``text``; ``tracking`` (em) spaces the characters apart, ``stroke`` (px) outlines them."""
    font = _face_font(face, em)
    if tracking <= 0:
        runs = [(text, 0)]
    else:
        runs, pen = [], 0.0
        for i, ch in enumerate(text):
            if ch != " ":
                runs.append((ch, int(round(pen))))
            # Spread only between visible characters: a space plus spacing could open a gap
            # wide enough to read as two lines.
            spread = ch != " " and i + 1 < len(text) and text[i + 1] != " "
            pen += _advances(face, em, ch)[0] + (tracking * em if spread else 0.0)
    outer = [(m, x + px, y) for t, px in runs for m, x, y in [_mask(font, t, stroke)]]
    inner = [(m, x + px, y) for t, px in runs for m, x, y in [_mask(font, t)]] if stroke else []
    # An outline's bitmap does not always contain its fill's (faces with embedded bitmaps), so
    # the masks go on a canvas spanning both.
    mask, ox, oy = _stack(outer + inner)
    if not mask.size:
        return None
    fill = None
    if stroke:
        f, fx, fy = _stack(inner)
        fill = np.zeros_like(mask)
        if f.size:
            fill[fy - oy : fy - oy + f.shape[0], fx - ox : fx - ox + f.shape[1]] = f
    rows = np.flatnonzero(mask.max(axis=1) >= INK)
    if not len(rows):
        return None
    cols = np.flatnonzero(mask.max(axis=0) >= INK)
    box = (ox + int(cols[0]), oy + int(rows[0]), ox + int(cols[-1]) + 1, oy + int(rows[-1]) + 1)
    return _Ink(mask, fill, ox, oy, box, text, face)


def _trim(face: Face, em: int, text: str, width: float, tracking_px: float = 0.0) -> str:
    """The longest prefix of ``text`` (trailing spaces dropped) at most ``width`` px wide."""
    if not text:
        return text
    ends = np.cumsum(_advances(face, em, text)) + tracking_px * np.arange(len(text))
    k = int(np.searchsorted(ends, width, side="right"))
    return text[:k].rstrip()


# ------------------------------------------------------------------------------------------------
# Colours and small helpers


_DARK_INKS = ((15, 15, 15), (35, 35, 40), (60, 60, 60), (10, 30, 100), (120, 20, 20), (20, 70, 30), (70, 40, 20),
              (60, 20, 90))
_BRIGHT_INKS = ((200, 30, 30), (210, 80, 0), (0, 80, 170), (0, 120, 60), (150, 0, 120))
_LIGHT_INKS = ((250, 250, 250), (255, 255, 255), (255, 235, 110), (225, 240, 255), (255, 215, 195), (200, 255, 215))
_PANELS = ((200, 20, 30), (20, 70, 160), (0, 110, 60), (250, 200, 0), (240, 240, 235), (30, 30, 30), (230, 110, 0),
           (120, 30, 110), (0, 140, 160), (90, 60, 40))


def _lum(c) -> float:
    c = np.asarray(c, np.float32)
    return float(0.299 * c[..., 0] + 0.587 * c[..., 1] + 0.114 * c[..., 2])


def _jitter(rng: np.random.Generator, colour, amount: float = 12.0) -> np.ndarray:
    return np.clip(np.float32(colour) + rng.uniform(-amount, amount, 3), 0, 255).astype(np.float32)


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _choose(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _contrast_colour(rng: np.random.Generator, bg, min_contrast: float = 90.0) -> np.ndarray:
    """An ink colour that stands out from background colour ``bg``: mostly dark on light, light on
    dark, sometimes a bright colour on white."""
    lum = _lum(bg)
    if lum >= 150:
        pool = _BRIGHT_INKS if lum > 200 and rng.random() < 0.25 else _DARK_INKS
    elif lum <= 105:
        pool = _LIGHT_INKS
    else:
        pool = ((0, 0, 0),) if lum > 128 else ((255, 255, 255),)
    col = _jitter(rng, _pick(rng, pool), 10)
    if abs(_lum(col) - lum) < min_contrast:
        col = np.float32([0, 0, 0] if lum > 128 else [255, 255, 255])
    return col


def _blend(img: np.ndarray, mask: np.ndarray, x: int, y: int, colour, alpha: float = 1.0) -> None:
    """Paint ``colour`` through coverage ``mask`` (uint8) with its top-left at (x, y), clipped."""
    h, w = mask.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, img.shape[1]), min(y + h, img.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    a = mask[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)[..., None] * np.float32(alpha / 255)
    roi = img[y0:y1, x0:x1]
    roi += (np.asarray(colour, np.float32) - roi) * a


def _smooth(rng: np.random.Generator, h: int, w: int, cell: float, ch: int = 1) -> np.ndarray:
    """Value noise in about [0, 1] with features ``cell`` px apart: (h, w) or (h, w, ch) float32."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    small = rng.random((gh, gw, ch) if ch > 1 else (gh, gw), dtype=np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


@functools.cache
def _noise_tile() -> np.ndarray:
    """Standard-normal noise cropped at random: cheaper than drawing fresh noise per page."""
    return np.random.default_rng(1234).standard_normal((1024, 1024), dtype=np.float32)


def _fine_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    tile = _noise_tile()
    if h > tile.shape[0] or w > tile.shape[1]:
        tile = np.tile(tile, (h // tile.shape[0] + 1, w // tile.shape[1] + 1))
    y, x = int(rng.integers(tile.shape[0] - h + 1)), int(rng.integers(tile.shape[1] - w + 1))
    return tile[y : y + h, x : x + w]


# ------------------------------------------------------------------------------------------------
# Backgrounds: float32 (h, w, 3) RGB in 0..255

_PAPERS = ((248, 248, 245), (242, 236, 218), (228, 228, 226), (250, 244, 210), (232, 240, 248), (246, 232, 232),
           (255, 255, 255), (236, 230, 214))
_DARKS = ((25, 25, 28), (35, 60, 48), (20, 30, 62), (55, 55, 60), (60, 35, 30), (15, 45, 70))


def _bg_flat(rng, h, w, colour=None):
    colour = _jitter(rng, colour if colour is not None else _pick(rng, _PAPERS), 6)
    return np.broadcast_to(colour, (h, w, 3)).copy()


def _bg_paper(rng, h, w, dark: bool = False):
    img = _bg_flat(rng, h, w, _pick(rng, _DARKS if dark else _PAPERS))
    amp = rng.uniform(0, 14)
    img += ((_smooth(rng, h, w, rng.uniform(30, 200)) - 0.5) * amp)[..., None]
    if rng.random() < 0.5:
        img += (_fine_noise(rng, h, w) * rng.uniform(0.5, 3))[..., None]
    return img


def _bg_gradient(rng, h, w):
    light = rng.random() < 0.8
    pool = _PAPERS + ((200, 220, 240), (240, 210, 180), (210, 235, 210)) if light else _DARKS + ((80, 40, 90),)
    a, b = _jitter(rng, _pick(rng, pool), 20), _jitter(rng, _pick(rng, pool), 20)
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = xx * np.float32(np.cos(ang)) + yy * np.float32(np.sin(ang))
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    return a + t[..., None] * (b - a)


def _bg_texture(rng, h, w):
    a = _jitter(rng, _pick(rng, _PAPERS + ((200, 170, 130), (180, 190, 200), (210, 200, 170))), 25)
    b = a * np.float32(rng.uniform(0.6, 0.9))
    p = _smooth(rng, h, w, rng.uniform(4, 12)) * 0.5 + _smooth(rng, h, w, rng.uniform(20, 80)) * 0.5
    if rng.random() < 0.4:  # grain along one direction: wood, brushed metal, fibre board
        k = int(rng.integers(9, 31))
        p = cv2.blur(p, (k, 1) if rng.random() < 0.5 else (1, k))
        p = (p - p.min()) / max(float(p.max() - p.min()), 1e-3)
    return b + p[..., None] * (a - b)


def _bg_photo(rng, h, w):
    """Photo-like clutter: smooth random colour fields, large soft shapes, some fine detail. Drawn
    at half resolution (it is soft anyway): a quarter of the cost."""
    sh, sw = h // 2 + 1, w // 2 + 1
    img = _smooth(rng, sh, sw, rng.uniform(min(sh, sw) / 4, min(sh, sw) / 1.5), 3) * 255
    img = img * np.float32(rng.uniform(0.5, 1.0)) + np.float32(rng.uniform(0, 80))
    for _ in range(int(rng.integers(2, 9))):
        r = rng.uniform(0.08, 0.45) * min(sh, sw)
        sigma = rng.uniform(0.3, 4)
        side = int(2 * r + 6 * sigma) + 4
        m = np.zeros((side, side), np.uint8)
        c = side / 2
        kind = rng.integers(3)
        if kind == 0:
            cv2.ellipse(m, (int(c), int(c)), (int(r), int(r * rng.uniform(0.4, 1.0))), rng.uniform(0, 180), 0, 360,
                        255, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(m, (int(c - r), int(c - r * rng.uniform(0.3, 1.0))), (int(c + r), int(c + r)), 255, -1)
        else:
            ang = np.linspace(0, 2 * np.pi, 6)[:-1] + rng.uniform(-0.5, 0.5, 5)
            pts = np.stack([c + r * np.cos(ang), c + r * np.sin(ang)], -1)
            cv2.fillPoly(m, [pts.astype(np.int32)], 255, cv2.LINE_AA)
        m = cv2.GaussianBlur(m, (0, 0), sigma)
        x, y = int(rng.uniform(-c, sw - c)), int(rng.uniform(-c, sh - c))
        _blend(img, m, x, y, rng.uniform(0, 255, 3), rng.uniform(0.4, 1.0))
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    detail = _smooth(rng, h, w, rng.uniform(2, 6)) - 0.5
    img += (detail * rng.uniform(0, 40))[..., None]
    return np.clip(img, 0, 255)


# ------------------------------------------------------------------------------------------------
# The page under construction


class _Canvas:
    """A page being composed: background, the text lines drawn so far and their boxes."""

    def __init__(self, rng: np.random.Generator, h: int, w: int, split: str, clean: bool, scale: float,
                 natural_text: bool = False):
        self.rng, self.h, self.w, self.clean, self.scale = rng, h, w, clean, scale
        self.natural_text = natural_text
        self.deco = not clean  # decoration: panels, rules, bars; none on clean pages
        self.faces = faces(split)
        self.img = np.zeros((h, w, 3), np.float32)
        self.cov = np.zeros((h, w), np.uint8)  # text coverage, for tests
        self.boxes: list[tuple[float, float, float, float]] = []
        self.ems: list[float] = []
        self.texts: list[str] = []
        self.face_names: list[str] = []
        self.taken: list[tuple[float, float, float, float]] = []  # graphics distractors keep off
        self.min_em = float(MAX_EM * 2)
        self.area = h * w / 448**2  # page area relative to a middle training page

    # -- sizes, faces, text
    def em(self, lo: float, hi: float) -> int:
        """A font size between ``lo`` and ``hi`` (log-uniform), scaled for the page size."""
        v = math.exp(self.rng.uniform(math.log(lo), math.log(hi))) * self.scale
        return int(np.clip(round(v), MIN_EM, MAX_EM * self.scale))

    def face(self) -> Face:
        return _pick(self.rng, self.faces)

    def drawable(self, face: Face, text: str) -> Face | None:
        """``face`` if it draws ``text``, else another face of the split that does, else None."""
        if can_draw(face, text):
            return face
        others = [f for f in self.faces if f != face and can_draw(f, text)]
        return _pick(self.rng, others) if others else None

    def text(self, face: Face, lo: int, hi: int) -> tuple[Face, str] | None:
        """Corpus text of ``lo``..``hi`` characters that ``face`` (or, failing that, another face) draws."""
        lo, hi = max(1, lo), max(1, lo, hi)
        text = ""
        for _ in range(6):
            text = _sampler(self.natural_text).line(self.rng, lo, hi).strip()
            if text and can_draw(face, text):
                return face, text
        alt = self.drawable(face, text) if text else None
        return (alt, text) if alt is not None else None

    def fit(self, face: Face, em: int, width: float, lo: int = 1, hi: int | None = None, tracking: float = 0.0,
            stroke: int = 0, fill: bool = False) -> _Ink | None:
        """A line of corpus text at most ``width`` px wide; ``fill``: as long as fits (a full line)."""
        cap = max(1, int(width / em * (1.35 if fill else 1.0)))
        hi = cap if hi is None else min(hi, cap)
        lo = max(1, int(cap * 0.85)) if fill else min(lo, hi)
        got = self.text(face, lo, hi)
        if got is None:
            return None
        face, text = got
        text = _trim(face, em, text, width - 2 * stroke, tracking * em)
        return _draw(face, em, text, tracking, stroke) if text else None

    def ink(self, face: Face, em: int, text: str, tracking: float = 0.0, stroke: int = 0) -> _Ink | None:
        """A fixed string (a price, a Latin word), with a face that can draw it."""
        face = self.drawable(face, text)
        return None if face is None else _draw(face, em, text, tracking, stroke)

    # -- placing
    def bg_colour(self, box) -> np.ndarray:
        x0, y0, x1, y1 = (int(v) for v in box)
        roi = self.img[max(y0, 0) : max(y1, y0 + 1), max(x0, 0) : max(x1, x0 + 1)]
        return roi.reshape(-1, 3).mean(0) if roi.size else np.float32([255, 255, 255])

    def free(self, box, em: float, my: float = 1.0) -> bool:
        """No line within ``my`` px above/below ``box``, nor within ``SPLIT_GAP`` em beside it on its row."""
        if not self.boxes:
            return True
        b, e = np.asarray(self.boxes), np.asarray(self.ems)
        gap = SPLIT_GAP * np.maximum(e, em)
        row = (box[1] < b[:, 3] + my) & (box[3] > b[:, 1] - my)
        near = (box[0] < b[:, 2] + gap) & (box[2] > b[:, 0] - gap)
        return not bool(np.any(row & near))

    def clear(self, rect, margin: float = 4.0, graphics: bool = False) -> bool:
        """No line box (``graphics``: nor table, panel...) within ``margin`` px of ``rect`` (x0, y0, x1, y1)."""
        b = self.boxes + self.taken if graphics else self.boxes
        if not b:
            return True
        b = np.asarray(b)
        return not bool(np.any((rect[0] < b[:, 2] + margin) & (rect[2] > b[:, 0] - margin)
                               & (rect[1] < b[:, 3] + margin) & (rect[3] > b[:, 1] - margin)))

    def inside(self, box, margin: float = 2.0) -> bool:
        return box[0] >= margin and box[1] >= margin and box[2] <= self.w - margin and box[3] <= self.h - margin

    def add(self, runs: list[tuple[_Ink, float]], baseline: float, colour=None, em: float | None = None,
            outline=None, alpha: float = 1.0, my: float = 1.0) -> list[tuple[float, float, float, float]] | None:
        """Draw ``runs`` (ink, pen x) on one baseline and record their lines: runs closer than
        ``MERGE_GAP`` em join into one line. Nothing is drawn (None) when a line would leave the page
        or come too close to another line. ``colour`` None: one that stands out from the background."""
        runs = [r for r in runs if r[0] is not None]
        if not runs:
            return None
        em = float(em or max(int(r[0].mask.shape[0]) for r in runs))
        base = int(round(baseline))
        placed = sorted(((int(round(x)), ink) for ink, x in runs), key=lambda r: r[0] + r[1].box[0])
        groups: list[list] = []
        for x, ink in placed:
            box = [x + ink.box[0], base + ink.box[1], x + ink.box[2], base + ink.box[3]]
            if groups and box[0] - groups[-1][0][2] < MERGE_GAP * em:
                g = groups[-1]
                sep = "" if box[0] - g[0][2] < 0.3 * em else " "
                g[0] = [min(g[0][0], box[0]), min(g[0][1], box[1]), max(g[0][2], box[2]), max(g[0][3], box[3])]
                g[1] += sep + ink.text
                g[2].append(ink.face.name)
            else:
                groups.append([box, ink.text, [ink.face.name]])
        if not all(self.inside(g[0]) and self.free(g[0], em, my) for g in groups):
            return None
        if colour is None or abs(_lum(colour) - _lum(self.bg_colour(groups[0][0]))) < 70:
            colour = _contrast_colour(self.rng, self.bg_colour(groups[0][0]))
        for x, ink in placed:
            px, py = x + ink.ox, base + ink.oy
            if outline is not None and ink.fill is not None:
                _blend(self.img, ink.mask, px, py, outline, alpha)
                _blend(self.img, ink.fill, px, py, colour, alpha)
            else:
                _blend(self.img, ink.mask, px, py, colour, alpha)
            h, w = ink.mask.shape
            roi = self.cov[py : py + h, px : px + w]
            np.maximum(roi, ink.mask[: roi.shape[0], : roi.shape[1]], out=roi)
        out = []
        for box, text, names in groups:
            self.boxes.append(tuple(float(v) for v in box))
            self.ems.append(em)
            self.texts.append(text)
            self.face_names.append(names[0] if len(set(names)) == 1 else "+".join(dict.fromkeys(names)))
            out.append(self.boxes[-1])
        self.min_em = min(self.min_em, em)
        return out

    # -- graphics
    def shape(self, draw: Callable[[np.ndarray], None], rect, colour, alpha: float = 1.0) -> None:
        """Draw into a local mask over ``rect`` (x0, y0, x1, y1) with ``draw(mask)``, then paint it."""
        x0, y0, x1, y1 = (int(round(v)) for v in rect)
        if x1 <= x0 or y1 <= y0:
            return
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        draw(m)
        _blend(self.img, m, x0, y0, colour, alpha)

    def rect(self, rect, colour, alpha: float = 1.0, radius: float = 0.0, thickness: int = -1) -> None:
        def draw(m):
            h, w = m.shape
            r = int(min(radius, h / 2 - 1, w / 2 - 1))
            if r <= 1 or thickness > 0:
                cv2.rectangle(m, (0, 0), (w - 1, h - 1), 255, thickness)
                return
            cv2.rectangle(m, (r, 0), (w - 1 - r, h - 1), 255, -1)
            cv2.rectangle(m, (0, r), (w - 1, h - 1 - r), 255, -1)
            for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
                cv2.circle(m, (cx, cy), r, 255, -1, cv2.LINE_AA)

        self.shape(draw, rect, colour, alpha)

    def hline(self, x0: float, x1: float, y: float, colour, thickness: int = 1, dashed: bool = False) -> None:
        def draw(m):
            if dashed:
                step = 6 + thickness * 2
                for xs in range(0, m.shape[1], step):
                    cv2.line(m, (xs, m.shape[0] // 2), (xs + step // 2, m.shape[0] // 2), 255, thickness)
            else:
                cv2.line(m, (0, m.shape[0] // 2), (m.shape[1] - 1, m.shape[0] // 2), 255, thickness)

        self.shape(draw, (x0, y - thickness - 1, x1, y + thickness + 2), colour)

    def vline(self, x: float, y0: float, y1: float, colour, thickness: int = 1) -> None:
        self.shape(lambda m: cv2.line(m, (m.shape[1] // 2, 0), (m.shape[1] // 2, m.shape[0] - 1), 255, thickness),
                   (x - thickness - 1, y0, x + thickness + 2, y1), colour)

    def region(self) -> tuple[float, float, float, float]:
        """The page minus a margin."""
        m = self.rng.uniform(0.03, 0.09) * min(self.h, self.w) + 4
        return m, m * self.rng.uniform(0.7, 1.3), self.w - m, self.h - m


# ------------------------------------------------------------------------------------------------
# Layouts: each fills the canvas (or a region of it) with text and the graphics around it


def _paragraphs(c: _Canvas, region, em: int | None = None, face: Face | None = None, colour=None,
                max_lines: int = 1000) -> int:
    """Left-aligned, justified, centred or right-aligned paragraphs filling ``region``; returns the
    number of lines drawn."""
    rng = c.rng
    x0, y0, x1, y1 = region
    em = em or c.em(14, 34)
    face = face or c.face()
    colour = colour if colour is not None else _contrast_colour(rng, c.bg_colour(region))
    spacing = rng.uniform(1.2, 2.0)
    align = _choose(rng, {"left": 0.5, "justify": 0.35, "centre": 0.1, "right": 0.05})
    indent = 2 * em if rng.random() < 0.5 and align in ("left", "justify") else 0
    width = x1 - x0
    if width < 2 * em:
        return 0
    base = y0 + 0.9 * em
    left, first, n, drawn = int(rng.integers(1, 7)), True, 0, []
    while base + 0.25 * em <= y1 and n < max_lines:
        last = left == 1
        ind = indent if first else 0
        target = width - ind if not last else max(em, (width - ind) * rng.uniform(0.15, 0.9))
        ink = c.fit(face, em, target, lo=1, fill=not last)
        if ink is not None and align == "justify" and not last and len(ink.text) > 4:
            t = (target - (ink.box[2] - ink.box[0])) / em / (len(ink.text) - 1)
            if 0.02 < t < 0.3:
                ink = _draw(ink.face, em, ink.text, t) or ink
        if ink is not None:
            iw = ink.box[2] - ink.box[0]
            x = {"left": x0 + ind, "justify": x0 + ind, "centre": x0 + (width - iw) / 2,
                 "right": x1 - iw}[align] - ink.box[0]
            got = c.add([(ink, x)], base, colour, em)
            if got:
                drawn.extend(got)
                n += 1
        base += spacing * em
        left -= 1
        first = False
        if left == 0:
            left, first = int(rng.integers(1, 7)), True
            base += rng.uniform(0, 0.8) * em
    if c.deco and drawn and rng.random() < 0.12:  # ruled paper: rules midway between lines
        rule = _jitter(rng, (150, 170, 200), 30)
        for (_, _, _, b0), (_, t1, _, _) in zip(drawn, drawn[1:]):
            if t1 - b0 >= 4:
                c.hline(x0, x1, (b0 + t1) / 2, rule)
    if c.deco and drawn and rng.random() < 0.1:  # a marker highlight over one line
        bx0, by0, bx1, by1 = (int(v) for v in _pick(rng, drawn))
        tone = np.float32(_pick(rng, ((255, 240, 60), (140, 240, 140), (255, 170, 200))))
        roi = c.img[max(by0 - 2, 0) : by1 + 2, max(bx0 - 2, 0) : bx1 + 2]
        roi *= tone / 255 * 0.6 + 0.4  # multiplied: the ink stays dark
    return n


def _lay_paragraphs(c: _Canvas) -> None:
    _paragraphs(c, c.region())


def _lay_columns(c: _Canvas, region=None, em: int | None = None) -> None:
    rng = c.rng
    x0, y0, x1, y1 = region or c.region()
    em = em or c.em(14, 26)
    ncol = 3 if x1 - x0 > 36 * em and rng.random() < 0.5 else 2
    gutter = max(SPLIT_GAP * em + 4, em * rng.uniform(1.6, 3.0))
    colw = (x1 - x0 - gutter * (ncol - 1)) / ncol
    if colw < 4 * em:
        _paragraphs(c, (x0, y0, x1, y1), em)
        return
    face, colour = c.face(), _contrast_colour(rng, c.bg_colour((x0, y0, x1, y1)))
    rule = c.deco and rng.random() < 0.3
    for k in range(ncol):
        cx = x0 + k * (colw + gutter)
        _paragraphs(c, (cx, y0, cx + colw, y1), em, face, colour)
        if rule and k:
            c.vline(cx - gutter / 2, y0, y1, _jitter(rng, (120, 120, 120), 40))


def _lay_heading(c: _Canvas) -> None:
    rng = c.rng
    x0, y0, x1, y1 = c.region()
    body = c.em(14, 28)
    head = int(min(MAX_EM * c.scale, body * rng.uniform(1.5, 2.6)))
    face, width = c.face(), x1 - x0
    centre = rng.random() < 0.5
    colour = _contrast_colour(rng, c.bg_colour((x0, y0, x1, y1)))
    base = y0 + 0.9 * head
    for _ in range(int(rng.integers(1, 3))):
        ink = c.fit(face, head, width * rng.uniform(0.4, 1.0), lo=2)
        if ink is not None:
            iw = ink.box[2] - ink.box[0]
            got = c.add([(ink, (x0 + (width - iw) / 2 if centre else x0) - ink.box[0])], base, colour, head)
            if got and c.deco and rng.random() < 0.12:  # underlined
                c.hline(got[0][0], got[0][2], got[0][3] + max(2, 0.12 * head), colour, max(1, head // 20))
        base += rng.uniform(1.25, 1.6) * head
    if rng.random() < 0.5:  # by-line or date in small grey type
        small = max(MIN_EM, int(body * 0.85))
        base += small * 0.2 - head * 0.3
        ink = c.fit(c.face(), small, width * rng.uniform(0.3, 0.7), lo=4)
        if ink is not None:
            iw = ink.box[2] - ink.box[0]
            grey = _jitter(rng, (110, 110, 110), 20) if _lum(c.bg_colour((x0, y0, x1, y1))) > 160 else None
            c.add([(ink, (x0 + (width - iw) / 2 if centre else x0) - ink.box[0])], base, grey, small)
        base += 1.4 * small
    top = base - 0.9 * head + 0.5 * body
    if c.boxes:
        top = max(top, max(b[3] for b in c.boxes) + 0.6 * body)
    if c.deco and rng.random() < 0.4:
        c.hline(x0, x1, top - 0.3 * body, _jitter(rng, (90, 90, 90), 40), int(rng.integers(1, 3)))
        top += 0.3 * body
    body_kind = _choose(rng, {"paragraphs": 0.6, "columns": 0.25, "table": 0.15})
    if body_kind == "paragraphs":
        _paragraphs(c, (x0, top, x1, y1), body)
    elif body_kind == "columns":
        _lay_columns(c, (x0, top, x1, y1), body)
    else:
        _table(c, (x0, top, x1, y1))


def _cell_text(c: _Canvas, face: Face, em: int, width: float, numeric: bool) -> _Ink | None:
    rng = c.rng
    if numeric:
        r = rng.random()
        s = (f"{rng.integers(0, 10000)}.{rng.integers(0, 100):02d}" if r < 0.4 else str(rng.integers(0, 100000))
             if r < 0.7 else f"{rng.integers(1, 100)}%" if r < 0.85
             else f"{rng.integers(2000, 2031)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}")
        if _text_width(face, em, s) > width:
            s = str(rng.integers(0, 100))
        text = _trim(face, em, s, width)
        return c.ink(face, em, text) if text else None
    return c.fit(face, em, width, lo=1, hi=int(rng.integers(2, 9)))


def _table(c: _Canvas, region) -> int:
    """A grid of cells with short text; each cell's text is its own line. Returns lines drawn."""
    rng = c.rng
    x0, y0, x1, y1 = region
    em = c.em(14, 26)
    pad = em * rng.uniform(0.75, 1.2)  # cells' texts stay >= SPLIT_GAP em apart
    row_h = em * rng.uniform(1.6, 2.4)
    ncol = int(rng.integers(2, 6))
    weights = rng.uniform(0.6, 1.6, ncol)
    width = (x1 - x0) * rng.uniform(0.7, 1.0)
    if width / ncol < 2 * pad + em:
        ncol = max(1, int(width / (2 * pad + 2 * em)))
        weights = weights[:ncol]
    cols = width * weights / weights.sum()
    tx0 = x0 + (x1 - x0 - width) * rng.uniform(0, 1)
    nrow = int(min((y1 - y0) // row_h, rng.integers(3, 13) * c.area ** 0.5))
    if nrow < 1:
        return 0
    edges = tx0 + np.concatenate([[0], np.cumsum(cols)])
    face, hface = c.face(), c.face()
    colour = _contrast_colour(rng, c.bg_colour(region))
    style = _choose(rng, {"grid": 0.5, "rows": 0.25, "zebra": 0.15, "none": 0.1})
    header = rng.random() < 0.7
    numeric = rng.random(ncol) < 0.4
    numeric[0] = False
    align = [("right" if n and rng.random() < 0.6 else _pick(rng, ("left", "left", "centre"))) for n in numeric]
    rule = _jitter(rng, (60, 60, 60), 40)
    if c.deco:
        if header and rng.random() < 0.6:
            c.rect((edges[0], y0, edges[-1], y0 + row_h), _jitter(rng, (215, 225, 240), 25))
        if style == "zebra":
            for r in range(1 + header, nrow, 2):
                c.rect((edges[0], y0 + r * row_h, edges[-1], y0 + (r + 1) * row_h), _jitter(rng, (232, 236, 240), 8))
    n = 0
    for r in range(nrow):
        mid = y0 + (r + 0.5) * row_h
        for k in range(ncol):
            if rng.random() < 0.1 and r > 0:
                continue  # an empty cell
            cw = cols[k] - 2 * pad
            ink = (c.fit(hface, em, cw, lo=1, hi=6) if header and r == 0 else
                   _cell_text(c, face, em, cw, bool(numeric[k])))
            if ink is None:
                continue
            iw = ink.box[2] - ink.box[0]
            left = {"left": edges[k] + pad, "centre": edges[k] + (cols[k] - iw) / 2,
                    "right": edges[k + 1] - pad - iw}[align[k]]
            base = mid - (ink.box[1] + ink.box[3]) / 2
            if c.add([(ink, left - ink.box[0])], base, colour, em):
                n += 1
    c.taken.append((edges[0], y0, edges[-1], y0 + nrow * row_h))
    if c.deco and style != "none":
        bottom = y0 + nrow * row_h
        t = int(rng.integers(1, 3))
        for r in range(nrow + 1):
            if style == "grid" or r in (0, nrow) or (style == "rows") or (header and r == 1):
                c.hline(edges[0], edges[-1], y0 + r * row_h, rule, t)
        if style == "grid":
            for e in edges:
                c.vline(e, y0, bottom, rule, t)
    return n


def _lay_table(c: _Canvas) -> None:
    rng = c.rng
    x0, y0, x1, y1 = c.region()
    if rng.random() < 0.5:  # a title above the table
        em = c.em(18, 36)
        ink = c.fit(c.face(), em, (x1 - x0) * rng.uniform(0.3, 0.8), lo=3)
        if ink is not None:
            iw = ink.box[2] - ink.box[0]
            if c.add([(ink, x0 + (x1 - x0 - iw) / 2 - ink.box[0])], y0 + 0.9 * em, None, em):
                y0 = c.boxes[-1][3] + 0.6 * em
    _table(c, (x0, y0, x1, y1))
    bottom = max((b[3] for b in c.taken), default=y1)
    if rng.random() < 0.5 and y1 - bottom > 4 * MIN_EM * c.scale:  # text under the table
        _paragraphs(c, (x0, bottom + rng.uniform(0.5, 2) * MIN_EM, x1, y1))


def _price(rng: np.random.Generator) -> str:
    p = f"{rng.integers(1, 1000)}.{rng.integers(0, 100):02d}"
    return ("¥" + p) if rng.random() < 0.3 else p


def _lay_receipt(c: _Canvas) -> None:
    """A till receipt: a narrow column with a centred header, items with prices on the right
    (joined by dot leaders, or by spaces: a wide gap makes item and price two lines), a total."""
    rng = c.rng
    sw = c.w * rng.uniform(0.45, 0.75)
    sx0 = (c.w - sw) * rng.uniform(0.2, 0.8)
    sy0 = rng.uniform(0, 0.08) * c.h
    sy1 = c.h - rng.uniform(0, 0.08) * c.h
    c.taken.append((sx0, sy0, sx0 + sw, sy1))
    if c.deco:
        paper = _jitter(rng, (246, 244, 238), 8)
        c.rect((sx0 + 3, sy0 + 4, sx0 + sw + 4, sy1 + 4), (30, 30, 30), 0.25)  # shadow
        c.rect((sx0, sy0, sx0 + sw, sy1), paper)
    em = c.em(14, 22)
    face = c.face()
    colour = _jitter(rng, (40, 40, 45), 25)
    mx = max(6.0, em * rng.uniform(0.6, 1.2))
    x0, x1 = sx0 + mx, sx0 + sw - mx
    width = x1 - x0
    base = sy0 + mx + 1.3 * em
    leader = rng.random() < 0.4

    def centred(size: int, lo: int):
        nonlocal base
        ink = c.fit(face, size, width * rng.uniform(0.4, 0.95), lo=lo)
        if ink is not None:
            iw = ink.box[2] - ink.box[0]
            c.add([(ink, x0 + (width - iw) / 2 - ink.box[0])], base, colour, size)
        base += size * rng.uniform(1.3, 1.7)

    centred(int(min(MAX_EM * c.scale, em * rng.uniform(1.2, 1.8))), 2)
    for _ in range(int(rng.integers(0, 3))):
        centred(em, 4)
    rule = rng.random() < 0.8

    def separator():
        nonlocal base
        if c.deco and rule:
            c.hline(x0, x1, base - 0.35 * em, colour, 1, dashed=rng.random() < 0.6)
        base += 0.6 * em

    separator()
    for _ in range(int(rng.integers(3, 12))):
        if base + 0.3 * em > sy1 - mx:
            break
        price = c.ink(face, em, _price(rng))
        if price is None:
            base += 1.5 * em
            continue
        pw = price.box[2] - price.box[0]
        px = x1 - pw - price.box[0]
        room = width - pw
        runs: list[tuple[_Ink, float]] = [(price, px)]
        if leader:
            name = c.fit(face, em, room * rng.uniform(0.3, 0.75), lo=2, hi=8)
            if name is not None:
                nx = x0 - name.box[0]
                runs.append((name, nx))
                dot_from, dot_to = x0 + name.box[2] - name.box[0] + 0.3 * em, x1 - pw - 0.3 * em
                k = int((dot_to - dot_from) / max(_text_width(face, em, "."), 1.0))
                dots = c.ink(face, em, "." * k) if k >= 2 else None
                if dots is not None:
                    runs.append((dots, dot_from - dots.box[0]))
        else:
            # Item and price closer than SPLIT_GAP em but not touching would be ambiguous: the name
            # is cut until the gap is clearly small (one line) or clearly wide (two).
            wide = rng.random() < 0.75
            limit = room - (SPLIT_GAP + 0.2) * em if wide else room - 0.3 * em
            name = c.fit(face, em, limit, lo=2, hi=10) if limit > em else None
            if name is not None:
                nw = name.box[2] - name.box[0]
                gap = room - nw
                nx = x0 if wide or gap < 0.7 * em else x1 - pw - 0.5 * em - nw
                runs.append((name, nx - name.box[0]))
        c.add(runs, base, colour, em)
        base += em * rng.uniform(1.4, 1.9)
    separator()
    if base + 0.3 * em < sy1 - mx:
        label = c.ink(face, em, _pick(rng, ("合计", "总计", "实收", "应付", "TOTAL", "小计")))
        price = c.ink(face, em, _price(rng))
        if label is not None and price is not None:
            c.add([(label, x0 - label.box[0]), (price, x1 - price.box[2])], base, colour, em)
        base += em * 1.6
    if base + 0.3 * em < sy1 - mx and rng.random() < 0.7:
        centred(em, 4)


def _latin(c: _Canvas, face: Face, em: int, lo: int, hi: int, width: float, stroke: int = 0) -> _Ink | None:
    """A few English words (whole words only) at most ``width`` px wide."""
    rng = c.rng
    case = _pick(rng, (str, str.capitalize, str.upper, str.title))
    words = [_pick(rng, LATIN_WORDS) for _ in range(int(rng.integers(lo, hi + 1)))]
    while len(words) > 1 and _text_width(face, em, case(" ".join(words))) + 2 * stroke > width:
        words.pop()
    text = case(" ".join(words))
    return c.ink(face, em, text, stroke=stroke) if _text_width(face, em, text) + 2 * stroke <= width else None


def _lay_signs(c: _Canvas) -> None:
    """1-3 big lines on a coloured panel (or two panels), over a photo-like scene."""
    rng = c.rng
    for _panel in range(1 if rng.random() < 0.75 else 2):
        nlines = int(rng.choice([1, 1, 2, 2, 3]))
        em = c.em(28, MAX_EM)
        face = c.face()
        tracking = rng.uniform(0, 0.35) if rng.random() < 0.5 else 0.0
        inks = []
        for i in range(nlines):
            size = em if i == 0 else int(max(MIN_EM, em * rng.uniform(0.45, 1.0)))
            if i and rng.random() < 0.4:  # an English line under the Chinese one
                ink = _latin(c, face, size, 1, 3, c.w * 0.8)
            else:
                ink = c.fit(face, size, c.w * rng.uniform(0.4, 0.85), lo=2, hi=8, tracking=tracking)
            if ink is not None:
                inks.append((ink, size))
        if not inks:
            continue
        lead = rng.uniform(1.2, 1.5)
        widths = [i.box[2] - i.box[0] for i, _ in inks]
        tops, bases, y = [], [], 0.0
        for ink, size in inks:
            y += -ink.box[1] if not bases else lead * size
            bases.append(y)
            tops.append(y + ink.box[1])
        height = bases[-1] + inks[-1][0].box[3] - tops[0]
        pad = em * rng.uniform(0.3, 0.9)
        pw, ph = max(widths) + 2 * pad, height + 2 * pad
        if pw > c.w - 8 or ph > c.h - 8:
            continue
        for _ in range(10):
            px, py = rng.uniform(4, c.w - pw - 4), rng.uniform(4, c.h - ph - 4)
            if c.clear((px, py, px + pw, py + ph), 6, graphics=True):
                break
        else:
            continue
        panel = _jitter(rng, _pick(rng, _PANELS), 15)
        c.taken.append((px, py, px + pw, py + ph))
        if c.deco:
            c.rect((px, py, px + pw, py + ph), panel, 1.0, radius=pad * rng.uniform(0, 1))
            if rng.random() < 0.3:  # an inner frame
                d = pad * 0.35
                c.rect((px + d, py + d, px + pw - d, py + ph - d), _contrast_colour(rng, panel), 1.0,
                       thickness=int(rng.integers(1, 4)))
        colour = _contrast_colour(rng, panel if c.deco else c.bg_colour((px, py, px + pw, py + ph)), 110)
        for (ink, size), w_, b in zip(inks, widths, bases):
            c.add([(ink, px + (pw - w_) / 2 - ink.box[0])], py + pad + b, colour, size)


def _lay_subtitles(c: _Canvas) -> None:
    """Subtitles: 1-2 centred lines near the bottom, light text with a dark outline or on a dark
    band, over a photo; sometimes a channel mark in a corner."""
    rng = c.rng
    em = c.em(16, 40)
    face = c.face()
    style = _choose(rng, {"outline": 0.6, "band": 0.25, "plain": 0.15})
    weight = rng.uniform(0.05, 0.1) if style == "outline" else 0.0  # outline width per em
    fill = _jitter(rng, _pick(rng, ((255, 255, 255), (255, 255, 255), (255, 235, 90))), 5)
    lines = []
    for i in range(1 if rng.random() < 0.5 else 2):
        size = em if i == 0 else int(max(MIN_EM, em * rng.uniform(0.6, 1.0)))
        stroke = int(np.clip(round(size * weight), 1, 3)) if weight else 0
        if i and rng.random() < 0.5:
            ink = _latin(c, face, size, 3, 7, c.w * 0.9, stroke)
        else:
            ink = c.fit(face, size, c.w * rng.uniform(0.3, 0.9), lo=4, hi=20, stroke=stroke)
        if ink is not None:
            lines.append((ink, size))
    base = c.h * rng.uniform(0.8, 0.92)
    bases = []
    for ink, size in reversed(lines):
        bases.append(min(base, c.h - 6 - ink.box[3]))
        base = bases[-1] - size * rng.uniform(1.3, 1.6)
    bases.reverse()
    if c.deco and style == "band" and lines:
        top = bases[0] + lines[0][0].box[1] - 0.4 * em
        bot = bases[-1] + lines[-1][0].box[3] + 0.4 * em
        wmax = max(i.box[2] - i.box[0] for i, _ in lines) + em
        c.rect(((c.w - wmax) / 2, top, (c.w + wmax) / 2, bot), (0, 0, 0), rng.uniform(0.55, 0.8))
    elif c.deco and style == "plain":  # a darker bottom of the picture keeps plain text readable
        ramp = np.clip((np.arange(c.h, dtype=np.float32) / c.h - 0.55) * 2.5, 0, 0.75)
        c.img *= (1 - ramp)[:, None, None]
    for (ink, size), b in zip(lines, bases):
        iw = ink.box[2] - ink.box[0]
        c.add([(ink, (c.w - iw) / 2 - ink.box[0])], b, fill if c.deco else None, size,
              outline=_jitter(rng, (10, 10, 10), 10) if weight else None)
    if rng.random() < 0.3:  # a channel mark
        size = c.em(14, 24)
        ink = c.fit(c.face(), size, c.w * 0.3, lo=2, hi=5)
        if ink is not None:
            iw = ink.box[2] - ink.box[0]
            x = 10 if rng.random() < 0.5 else c.w - 10 - iw
            c.add([(ink, x - ink.box[0])], 10 - ink.box[1] + c.h * rng.uniform(0, 0.05), None, size,
                  alpha=rng.uniform(0.8, 1.0))


def _lay_labels(c: _Canvas) -> None:
    """Packaging: words at random places, sizes and colours, some on badges, maybe a small
    block of fine print."""
    rng = c.rng
    if rng.random() < 0.4:  # ingredients, address: a small block of paragraphs
        bw, bh = c.w * rng.uniform(0.35, 0.6), c.h * rng.uniform(0.2, 0.4)
        bx, by = rng.uniform(6, c.w - bw - 6), rng.uniform(6, c.h - bh - 6)
        if c.deco and rng.random() < 0.5:
            c.rect((bx - 4, by - 4, bx + bw + 4, by + bh + 4), _jitter(rng, _pick(rng, _PAPERS), 10))
        _paragraphs(c, (bx, by, bx + bw, by + bh), c.em(14, 18))
    n = int(rng.integers(3, 10) * c.area ** 0.7)
    for _ in range(n):
        big = rng.random() < 0.3
        em = c.em(30, MAX_EM) if big else c.em(14, 30)
        tracking = rng.uniform(0.05, 0.3) if rng.random() < 0.25 else 0.0
        if rng.random() < 0.15:
            ink = _latin(c, c.face(), em, 1, 2, c.w * 0.6)
        else:
            ink = c.fit(c.face(), em, c.w * rng.uniform(0.2, 0.7), lo=2, hi=10, tracking=tracking)
        if ink is None:
            continue
        iw, ih = ink.box[2] - ink.box[0], ink.box[3] - ink.box[1]
        badge = c.deco and rng.random() < 0.3
        pad = em * rng.uniform(0.3, 0.7) if badge else 0.0
        for _ in range(12):
            x = rng.uniform(4 + pad, max(5 + pad, c.w - iw - 4 - pad))
            y = rng.uniform(4 + pad, max(5 + pad, c.h - ih - 4 - pad))
            box = (x, y, x + iw, y + ih)
            if c.inside(box, 3) and c.free(box, em, 2) and (not badge or c.clear(
                    (x - pad, y - pad, x + iw + pad, y + ih + pad), 4, graphics=True)):
                break
        else:
            continue
        colour = None
        if badge:
            panel = _jitter(rng, _pick(rng, _PANELS), 15)
            c.rect((x - pad, y - pad, x + iw + pad, y + ih + pad), panel, 1.0, radius=pad * rng.uniform(0, 1.5))
            c.taken.append((x - pad, y - pad, x + iw + pad, y + ih + pad))
            colour = _contrast_colour(rng, panel, 110)
        elif rng.random() < 0.5:
            colour = _contrast_colour(rng, c.bg_colour(box), 110)
        c.add([(ink, x - ink.box[0])], y - ink.box[1], colour, em, my=2)


def _lay_screen(c: _Canvas) -> None:
    """A phone or desktop screenshot: a title bar, then a list (icons, titles, grey details) or a
    chat (bubbles with wrapped text, time stamps)."""
    rng = c.rng
    dark = _lum(c.bg_colour((0, 0, c.w, c.h))) < 128
    em = c.em(14, 26)
    face = c.face()
    bar_h = em * rng.uniform(2.0, 3.0)
    bar = _jitter(rng, _pick(rng, ((30, 120, 220), (40, 40, 45), (245, 245, 245), (7, 193, 96), (200, 40, 40))), 10)
    if c.deco:
        c.rect((0, 0, c.w, bar_h), bar)
    title = c.fit(face, int(em * 1.1), c.w * 0.6, lo=2, hi=8)
    if title is not None:
        iw = title.box[2] - title.box[0]
        c.add([(title, (c.w - iw) / 2 - title.box[0])], bar_h / 2 - (title.box[1] + title.box[3]) / 2,
              _contrast_colour(rng, bar if c.deco else c.bg_colour((0, 0, c.w, bar_h)), 110), em)
    y = bar_h + em * 0.6
    text_col = np.float32([230, 230, 230]) if dark else np.float32([25, 25, 25])
    grey = np.float32([150, 150, 150]) if dark else np.float32([120, 120, 120])
    if rng.random() < 0.5:  # list
        row_h = em * rng.uniform(2.8, 4.0)
        icon = em * rng.uniform(1.4, 2.0)
        while y + row_h < c.h - 4:
            if c.deco:
                ic = _jitter(rng, _pick(rng, _PANELS), 30)
                r = icon / 2 if rng.random() < 0.5 else icon * 0.2
                c.rect((em * 0.6, y + (row_h - icon) / 2, em * 0.6 + icon, y + (row_h + icon) / 2), ic, radius=r)
            tx = em * 0.6 + icon + em * 0.6
            two = rng.random() < 0.6
            t = c.fit(face, em, (c.w - tx - em) * rng.uniform(0.3, 1.0), lo=2)
            if t is not None:
                b = y + row_h * (0.42 if two else 0.5) - (t.box[3] + t.box[1]) / 2 * (0 if two else 1)
                c.add([(t, tx - t.box[0])], b if not two else y + row_h * 0.45, text_col, em)
            if two:
                s_em = max(MIN_EM, int(em * 0.8))
                s = c.fit(face, s_em, (c.w - tx - em) * rng.uniform(0.3, 1.0), lo=3)
                if s is not None:
                    c.add([(s, tx - s.box[0])], y + row_h * 0.45 + s_em * 1.35, grey, s_em)
            if c.deco:
                c.hline(tx, c.w, y + row_h, np.float32([60, 60, 60]) if dark else np.float32([225, 225, 225]))
            c.taken.append((0, y, c.w, y + row_h))
            y += row_h
    else:  # chat
        while y + 2 * em < c.h - 4:
            if rng.random() < 0.2:  # time stamp
                s_em = max(MIN_EM, int(em * 0.8))
                ink = c.ink(face, s_em, f"{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}")
                if ink is not None:
                    iw = ink.box[2] - ink.box[0]
                    c.add([(ink, (c.w - iw) / 2 - ink.box[0])], y + s_em, grey, s_em)
                y += s_em * 2
                continue
            mine = rng.random() < 0.5
            pad = em * 0.6
            maxw = c.w * rng.uniform(0.4, 0.7)
            inks = []
            for _ in range(int(rng.choice([1, 1, 2, 3]))):
                ink = c.fit(face, em, maxw - 2 * pad, lo=2, fill=rng.random() < 0.5)
                if ink is not None:
                    inks.append(ink)
            if not inks:
                break
            lead = em * 1.5
            bw = max(i.box[2] - i.box[0] for i in inks) + 2 * pad
            bh = lead * (len(inks) - 1) + em + 2 * pad
            if y + bh > c.h - 4:
                break
            bx = c.w - em * 3 - bw if mine else em * 3
            if c.deco:
                bubble = (_jitter(rng, (150, 230, 110), 10) if mine else
                          _jitter(rng, (60, 60, 65) if dark else (255, 255, 255), 5))
                c.rect((bx, y, bx + bw, y + bh), bubble, radius=em * 0.4)
                c.taken.append((0, y, c.w, y + bh))
                c.rect((em * 0.6 if not mine else c.w - em * 0.6 - em * 1.8, y, em * 0.6 + em * 1.8 if not mine
                        else c.w - em * 0.6, y + em * 1.8), _jitter(rng, _pick(rng, _PANELS), 30), radius=em * 0.3)
            for k, ink in enumerate(inks):
                c.add([(ink, bx + pad - ink.box[0])], y + pad + 0.88 * em + k * lead, text_col, em)
            y += bh + em * rng.uniform(0.6, 1.2)


# name -> (weight, function, background kinds with weights)
_LAYOUTS: dict[str, tuple[float, Callable[[_Canvas], None], dict[str, float]]] = {
    "paragraphs": (0.15, _lay_paragraphs, {"paper": 0.7, "gradient": 0.1, "texture": 0.1, "dark": 0.1}),
    "columns": (0.1, _lay_columns, {"paper": 0.8, "gradient": 0.1, "dark": 0.1}),
    "heading": (0.13, _lay_heading, {"paper": 0.75, "gradient": 0.1, "texture": 0.05, "dark": 0.1}),
    "table": (0.13, _lay_table, {"paper": 0.8, "flat": 0.15, "dark": 0.05}),
    "receipt": (0.09, _lay_receipt, {"texture": 0.5, "photo": 0.3, "paper": 0.2}),
    "signs": (0.1, _lay_signs, {"photo": 0.6, "texture": 0.3, "gradient": 0.1}),
    "subtitles": (0.09, _lay_subtitles, {"photo": 1.0}),
    "labels": (0.13, _lay_labels, {"gradient": 0.3, "photo": 0.3, "texture": 0.2, "flat": 0.2}),
    "screen": (0.08, _lay_screen, {"flat": 1.0}),
}
LAYOUTS = tuple(_LAYOUTS)


def _background(c: _Canvas, kind: str, layout: str) -> np.ndarray:
    rng, h, w = c.rng, c.h, c.w
    if c.clean:
        return _bg_flat(rng, h, w, _pick(rng, _DARKS) if rng.random() < 0.2 else None)
    if layout == "screen":
        return _bg_flat(rng, h, w, (30, 30, 32) if rng.random() < 0.25 else (248, 248, 248))
    return {"paper": lambda: _bg_paper(rng, h, w), "dark": lambda: _bg_paper(rng, h, w, dark=True),
            "gradient": lambda: _bg_gradient(rng, h, w), "texture": lambda: _bg_texture(rng, h, w),
            "photo": lambda: _bg_photo(rng, h, w), "flat": lambda: _bg_flat(rng, h, w)}[kind]()


def _under(c: _Canvas) -> None:
    """Large faint shapes under the text (watermarks, printed decoration)."""
    rng = c.rng
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.uniform(0, c.w), rng.uniform(0, c.h)
        r = rng.uniform(0.1, 0.4) * min(c.h, c.w)
        colour = rng.uniform(0, 255, 3)
        rect = (cx - r, cy - r, cx + r, cy + r)
        if rng.random() < 0.5:
            c.shape(lambda m: cv2.ellipse(m, (m.shape[1] // 2, m.shape[0] // 2), (m.shape[1] // 2 - 1,
                    int(m.shape[0] / 2 * rng.uniform(0.4, 1))), rng.uniform(0, 180), 0, 360, 255, -1, cv2.LINE_AA),
                    rect, colour, rng.uniform(0.06, 0.2))
        else:
            c.rect(rect, colour, rng.uniform(0.06, 0.2), thickness=-1 if rng.random() < 0.7 else int(r // 8 + 1))


# ------------------------------------------------------------------------------------------------
# Distractors: non-text marks in free space


def _d_barcode(rng, m):
    x, w = 0, m.shape[1]
    while x < w:
        bw = int(rng.integers(1, 5))
        m[:, x : x + bw] = 255
        x += bw + int(rng.integers(1, 5))


def _d_stripes(rng, m):
    h, w = m.shape
    step, t = int(rng.integers(4, 12)), int(rng.integers(1, 4))
    vertical = rng.random() < 0.3
    slope = rng.uniform(-1, 1) * (0 if vertical or rng.random() < 0.5 else 1)
    for k in range(-h - w, h + w, step):
        if vertical:
            cv2.line(m, (k, 0), (k, h - 1), 255, t)
        else:
            cv2.line(m, (0, k), (w - 1, int(k + slope * w)), 255, t, cv2.LINE_AA)
    if rng.random() < 0.3:  # cross-hatching
        for k in range(-h - w, h + w, step):
            cv2.line(m, (k, 0), (k + h, h - 1), 255, 1, cv2.LINE_AA)


def _d_qr(rng, m):
    h, w = m.shape
    n = int(rng.integers(12, 26))
    cell = min(h, w) / n
    grid = (rng.random((n, n)) < 0.5).astype(np.uint8) * 255
    for fy, fx in ((0, 0), (0, n - 7), (n - 7, 0)):
        grid[fy : fy + 7, fx : fx + 7] = 255
        grid[fy + 1 : fy + 6, fx + 1 : fx + 6] = 0
        grid[fy + 2 : fy + 5, fx + 2 : fx + 5] = 255
    s = int(cell * n)
    m[:s, :s] = cv2.resize(grid, (s, s), interpolation=cv2.INTER_NEAREST)


def _d_stamp(rng, m):
    h, w = m.shape
    c, r = (w // 2, h // 2), min(h, w) // 2 - 2
    t = max(1, r // 12)
    cv2.circle(m, c, r, 255, t, cv2.LINE_AA)
    if rng.random() < 0.5:
        cv2.circle(m, c, int(r * 0.85), 255, 1, cv2.LINE_AA)
    ang = np.linspace(-np.pi / 2, 1.5 * np.pi, 11)[:-1]
    rad = np.where(np.arange(10) % 2 == 0, r * 0.35, r * 0.14)
    pts = np.stack([c[0] + rad * np.cos(ang), c[1] + rad * np.sin(ang)], -1).astype(np.int32)
    cv2.fillPoly(m, [pts], 255, cv2.LINE_AA)


def _d_shapes(rng, m):
    h, w = m.shape
    kind = rng.integers(6)
    t = int(rng.integers(1, 4)) if rng.random() < 0.7 else -1
    if kind == 0:
        cv2.ellipse(m, (w // 2, h // 2), (w // 2 - 2, h // 2 - 2), 0, 0, 360, 255, t, cv2.LINE_AA)
    elif kind == 1:
        cv2.rectangle(m, (1, 1), (w - 2, h - 2), 255, t)
    elif kind == 2:  # a line across
        cv2.line(m, (0, int(rng.integers(h))), (w - 1, int(rng.integers(h))), 255, abs(t), cv2.LINE_AA)
    elif kind == 3:  # a wave or zigzag
        xs = np.linspace(0, w - 1, 60)
        ys = h / 2 + (h / 2 - 2) * np.sin(xs / w * 2 * np.pi * rng.uniform(1, 4))
        cv2.polylines(m, [np.stack([xs, ys], -1).astype(np.int32)], False, 255, abs(t), cv2.LINE_AA)
    elif kind == 4:  # a dot grid
        step = int(rng.integers(5, 12))
        rad = max(1, step // 4)
        for yy in range(rad + 1, h - rad, step):
            for xx in range(rad + 1, w - rad, step):
                cv2.circle(m, (xx, yy), rad, 255, -1, cv2.LINE_AA)
    else:  # an arrow or triangle
        pts = np.array([[0, h // 3], [w * 2 // 3, h // 3], [w * 2 // 3, 0], [w - 1, h // 2], [w * 2 // 3, h - 1],
                        [w * 2 // 3, h * 2 // 3], [0, h * 2 // 3]], np.int32)
        cv2.fillPoly(m, [pts if rng.random() < 0.6 else pts[[2, 3, 4]]], 255, cv2.LINE_AA)


def _d_boxes(rng, m):
    """A row of check boxes or an empty grid: box shapes where text often is."""
    h, w = m.shape
    step = int(rng.integers(8, 24))
    if rng.random() < 0.5:
        for xx in range(1, w - step, int(step * rng.uniform(1.2, 2.5))):
            cv2.rectangle(m, (xx, (h - step) // 2), (xx + step, (h + step) // 2), 255, 1)
    else:
        for yy in range(0, h, step):
            cv2.line(m, (0, yy), (w - 1, yy), 255, 1)
        for xx in range(0, w, int(step * rng.uniform(1, 3))):
            cv2.line(m, (xx, 0), (xx, h - 1), 255, 1)


def _d_stain(rng, m):
    h, w = m.shape
    p = _smooth(rng, h, w, max(3.0, min(h, w) / rng.uniform(2, 6)))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    falloff = 1 - ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) * 4
    m[:] = np.where(p * falloff > 0.35, 255, 0).astype(np.uint8)
    m[:] = cv2.GaussianBlur(m, (0, 0), 1.0)


_DISTRACTORS: dict[str, tuple[float, Callable]] = {
    "shapes": (0.35, _d_shapes), "stripes": (0.15, _d_stripes), "barcode": (0.12, _d_barcode), "qr": (0.07, _d_qr),
    "stamp": (0.1, _d_stamp), "boxes": (0.08, _d_boxes), "stain": (0.09, _d_stain),
}


def _distractors(c: _Canvas) -> None:
    rng = c.rng
    n = int(rng.integers(0, 7) * c.area ** 0.5)
    weights = {k: v[0] for k, v in _DISTRACTORS.items()}
    for _ in range(n):
        kind = _choose(rng, weights)
        side = min(c.h, c.w)
        if kind in ("barcode", "boxes"):
            dw, dh = side * rng.uniform(0.15, 0.45), side * rng.uniform(0.05, 0.15)
        elif kind in ("qr", "stamp"):
            dw = dh = side * rng.uniform(0.1, 0.3)
        else:
            dw, dh = side * rng.uniform(0.05, 0.4), side * rng.uniform(0.05, 0.4)
        for _ in range(8):
            x, y = rng.uniform(0, c.w - dw), rng.uniform(0, c.h - dh)
            rect = (x, y, x + dw, y + dh)
            if c.clear(rect, 6, graphics=True):
                break
        else:
            continue
        if kind == "stamp":
            colour, alpha = _jitter(rng, (200, 30, 40), 25), rng.uniform(0.5, 0.9)
        else:
            colour = _contrast_colour(rng, c.bg_colour(rect)) if rng.random() < 0.7 else rng.uniform(0, 255, 3)
            alpha = rng.uniform(0.4, 1.0) if kind == "stain" else 1.0
        draw = _DISTRACTORS[kind][1]
        c.shape(lambda m, draw=draw: draw(rng, m), rect, colour, alpha)
        c.taken.append(rect)
        if kind == "barcode" and rng.random() < 0.5:  # its digits, which are text
            em = c.em(14, 20)
            digits = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(8, 14))))
            ink = c.ink(c.face(), em, _trim(c.faces[0], em, digits, dw))
            if ink is not None:
                c.add([(ink, x + (dw - ink.box[2] + ink.box[0]) / 2 - ink.box[0])], y + dh + 3 - ink.box[1], colour,
                      em)


# ------------------------------------------------------------------------------------------------
# Whole pages: rotation and degradations


def _rotate(rng: np.random.Generator, img: np.ndarray, quads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotate the page by up to ``MAX_ANGLE`` degrees about its centre, shrunk just enough that every
    quad stays inside; quads are in pixel-edge coordinates."""
    h, w = img.shape[:2]
    ang = rng.uniform(-MAX_ANGLE, MAX_ANGLE)
    ce = np.array([w / 2, h / 2])
    a = cv2.getRotationMatrix2D((0, 0), ang, 1.0)[:, :2]
    scale = 1.0
    if len(quads):
        r = np.abs((quads.reshape(-1, 2) - ce) @ a.T).max(0)
        scale = min(1.0, (w / 2 - 1) / max(r[0], 1e-6), (h / 2 - 1) / max(r[1], 1e-6))
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), ang, scale)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    lin = m[:, :2]
    quads = (quads.reshape(-1, 2) - ce) @ lin.T + ce
    return out, quads.reshape(-1, 4, 2)


def _degrade(rng: np.random.Generator, img: np.ndarray, min_em: float) -> np.ndarray:
    """Uneven light, low contrast, colour cast, blur or low resolution, noise, JPEG; float32 in, uint8 out.
    Blur is limited by the smallest text so that it stays text, not a smudge."""
    h, w = img.shape[:2]
    if rng.random() < 0.6:  # uneven light
        light = 1 - rng.uniform(0, 0.45) * _smooth(rng, h, w, rng.uniform(0.3, 1.0) * max(h, w))
        img = img * light[..., None]
    if rng.random() < 0.15:  # low contrast
        mean = img.reshape(-1, 3).mean(0)
        img = mean + (img - mean) * np.float32(rng.uniform(0.35, 0.7))
    if rng.random() < 0.3:
        img = img * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    soft = min(1.3, 0.07 * min_em)
    r = rng.random()
    if r < 0.4:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, max(0.35, soft)))
    elif r < 0.5 and min_em >= 16:
        f = rng.uniform(max(0.5, 11 / min_em), 0.9)
        small = cv2.resize(out, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        n = _fine_noise(rng, h, w)
        out = cv2.addWeighted(out, 1.0, cv2.merge([n, n, n]), rng.uniform(1, 8), 0, dtype=cv2.CV_8U)
    if rng.random() < 0.7:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 96))])
        out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return out


def _compose(rng: np.random.Generator, split: str, size: tuple[int, int], clean: bool, scale: float,
             layout: str | None, natural_text: bool = False) -> tuple[Page, np.ndarray]:
    """A page and its text coverage (H, W) uint8 (before rotation), which tests compare with the boxes."""
    _split_id(split)
    if layout is not None and layout not in _LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {LAYOUTS}")
    h, w = int(size[0]), int(size[1])
    c = _Canvas(rng, h, w, split, clean, scale, natural_text)
    name = layout or _choose(rng, {k: v[0] for k, v in _LAYOUTS.items()})
    _, fn, bgs = _LAYOUTS[name]
    c.img = _background(c, _choose(rng, bgs), name).astype(np.float32)
    if c.deco and name not in ("screen", "subtitles") and rng.random() < 0.2:
        _under(c)
    fn(c)
    if c.deco:
        _distractors(c)
    quads = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]] for x0, y0, x1, y1 in c.boxes],
                     np.float32).reshape(-1, 4, 2)
    img = c.img
    if c.deco and rng.random() < ROTATE_P:
        img, quads = _rotate(rng, img, quads)
    image = np.clip(img, 0, 255).astype(np.uint8) if clean else _degrade(rng, img, c.min_em)
    page = Page(image, [q.astype(np.float32) for q in quads], list(c.texts), list(c.face_names))
    return page, c.cov


def render_page(rng: np.random.Generator, split: str = "train", size: tuple[int, int] | None = None, *,
                clean: bool = False, layout: str | None = None) -> Page:
    """One training page of ``size`` (H, W; default one of ``TRAIN_SHAPES``). ``clean``: a flat
    background, no decoration, distractors, rotation or degradation (for tests). ``layout``: one of
    ``LAYOUTS`` (default: drawn at random)."""
    if size is None:
        size = TRAIN_SHAPES[int(rng.integers(len(TRAIN_SHAPES)))]
    return _compose(rng, split, size, clean, 1.0, layout)[0]


def render_eval_page(rng: np.random.Generator, split: str = "eval", size: tuple[int, int] = EVAL_SIZE, *,
                     clean: bool = False, layout: str | None = None, natural_text: bool = False) -> Page:
    """A page at the benchmark's size (720 x 960): the same layouts, slightly larger type, more lines.
    ``natural_text``: words only, no lines of evenly drawn characters."""
    return _compose(rng, split, size, clean, float(rng.uniform(1.0, 1.25)), layout, natural_text)[0]


EVAL_PAGE_SEED = 1000  # page i of eval_pages is render_eval_page(np.random.default_rng(EVAL_PAGE_SEED + i))
PRINT_PAGE_SEED = 3000  # page i of print_pages: the same with clean=True, natural_text=True


def eval_pages(n: int, seed: int = EVAL_PAGE_SEED) -> list[Page]:
    """``n`` seeded 960x720 pages in faces the project never trains on: the same pages for the
    benchmarks (``bench_chinese``, ``bench_peers``) and the orientation measurement."""
    return [render_eval_page(np.random.default_rng(seed + i), "eval") for i in range(n)]


def print_pages(n: int, seed: int = PRINT_PAGE_SEED) -> list[Page]:
    """``n`` seeded 960x720 printed pages in faces the project never trains on: the page issue's
    yardstick, as ``chinese_ocr.synth.print_lines`` is the recogniser issue's.

    The issue measures pages "in fonts the project does not use", on which RapidOCR (PP-OCRv4)
    "reaches F 0.98". ``eval_pages`` are the training pages' look instead (paper textures,
    photo-like clutter, distractors, rotation, blur, noise and JPEG, and a sixth of the lines
    characters drawn evenly from GB 2312), on which RapidOCR scores about F 0.72. These are the
    plain case: the same layouts, sizes and faces in the renderer's clean mode (a flat background,
    a fifth of them dark; no decoration, distractors, rotation or degradation) and text as the
    sampler draws words, with no lines of evenly drawn characters."""
    return [render_eval_page(np.random.default_rng(seed + i), "eval", clean=True, natural_text=True)
            for i in range(n)]


# ------------------------------------------------------------------------------------------------
# Shards

SHARD_KEYS = {"images", "offsets", "sizes", "boxes", "line_offsets", "texts", "faces"}


def _split_id(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {list(SPLITS)}")
    return SPLITS[split]


def _render_shard(job: tuple[str, int, int], *, seed: int, split: str, serving: bool) -> int:
    """Worker: render one shard and write it; returns its page count."""
    from ocr_common.npz_cache import save_npz

    path, count, shard = job
    rng = np.random.default_rng([seed, _split_id(split), shard, int(serving)])
    pages = [(render_eval_page(rng, split) if serving else render_page(rng, split)) for _ in range(count)]
    save_npz(Path(path), compresslevel=1, **pack_pages(pages))
    return count


def pack_pages(pages: list[Page]) -> dict[str, np.ndarray]:
    """Pages as object-free arrays: ``images`` (concatenated JPEG bytes, quality 95) cut at ``offsets``
    (N + 1,), ``sizes`` (N, 2) H, W, all line quads ``boxes`` (M, 4, 2) cut at ``line_offsets``
    (N + 1,), ``texts`` and ``faces`` (M,) str."""
    jpegs = []
    for p in pages:
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(p.image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        jpegs.append(buf.reshape(-1))
    lines = [q for p in pages for q in p.lines]
    texts = [t for p in pages for t in p.texts]
    names = [f for p in pages for f in (p.faces or [""] * len(p.lines))]
    return {
        "images": np.concatenate(jpegs) if jpegs else np.zeros(0, np.uint8),
        "offsets": np.cumsum([0] + [len(j) for j in jpegs]).astype(np.int64),
        "sizes": np.array([p.image.shape[:2] for p in pages], np.int32).reshape(-1, 2),
        "boxes": np.array(lines, np.float32).reshape(-1, 4, 2),
        "line_offsets": np.cumsum([0] + [len(p.lines) for p in pages]).astype(np.int64),
        "texts": np.array(texts, dtype=str) if texts else np.zeros(0, "<U1"),
        "faces": np.array(names, dtype=str) if names else np.zeros(0, "<U1"),
    }


def load_pages(path: str | Path) -> list[Page]:
    """The pages of one shard written by :func:`render_shards`, images decoded to RGB."""
    with np.load(path, allow_pickle=False) as d:
        a = {k: d[k] for k in d.files}
    out = []
    for i in range(len(a["sizes"])):
        buf = a["images"][a["offsets"][i] : a["offsets"][i + 1]]
        image = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
        lo, hi = int(a["line_offsets"][i]), int(a["line_offsets"][i + 1])
        out.append(Page(image, list(a["boxes"][lo:hi]), [str(t) for t in a["texts"][lo:hi]],
                        [str(f) for f in a["faces"][lo:hi]]))
    return out


def render_shards(out_dir: str | Path, n: int, *, split: str = "train", seed: int = 0, shard_size: int = 200,
                  workers: int | None = None, serving: bool = False) -> list[Path]:
    """Write ``n`` pages to ``out_dir/shard-*.npz`` (see :func:`pack_pages`). Shard i depends only on
    (seed, split, i, serving); complete shards on disk are kept (resume). ``serving``: pages at the
    benchmark size (:func:`render_eval_page`) instead of training sizes."""
    from ocr_common import shards

    _split_id(split)
    render = functools.partial(_render_shard, seed=seed, split=split, serving=serving)
    return shards.render_shards(out_dir, n, render, shard_size=shard_size, workers=workers,
                                complete=lambda p, c: shards.has_rows(p, "sizes", c, SHARD_KEYS))


# Held-out evaluation sets: name -> (font split, seed). Training and evaluation render them alike.
HELDOUT_SETS: dict[str, tuple[str, int]] = {"heldout-font": ("heldout", 2), "eval-fonts": ("eval", 3)}


def render_heldout(synth_dir: str | Path, n: int, *, serving: bool = False) -> dict[str, Path]:
    """The held-out sets under ``synth_dir/<split>`` with at least ``n`` pages each, rendered where short."""
    out = {}
    for name, (split, seed) in HELDOUT_SETS.items():
        folder = Path(synth_dir) / (f"{split}-serving" if serving else split)
        render_shards(folder, n, split=split, seed=seed, shard_size=200, serving=serving)
        out[name] = folder
    return out


# ------------------------------------------------------------------------------------------------
# Sheets, timing, CLI


def draw_boxes(page: Page, colour=(255, 0, 0)) -> np.ndarray:
    """The page with its line quads drawn (for looking at)."""
    img = page.image.copy()
    for q in page.lines:
        pts = np.round((np.asarray(q, np.float64) - 0.5) * 16).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [pts], True, colour, 1, cv2.LINE_AA, 4)
    return img


def contact_sheet(pages: list[Page], cols: int = 3) -> np.ndarray:
    """Pages with their boxes, tiled on grey."""
    th = max(p.image.shape[0] for p in pages) + 8
    tw = max(p.image.shape[1] for p in pages) + 8
    rows = math.ceil(len(pages) / cols)
    sheet = np.full((rows * th, cols * tw, 3), 128, np.uint8)
    for i, p in enumerate(pages):
        y, x = (i // cols) * th + 4, (i % cols) * tw + 4
        img = draw_boxes(p)
        sheet[y : y + img.shape[0], x : x + img.shape[1]] = img
    return sheet


def _bench(n: int, split: str, size: tuple[int, int]) -> float:
    """Milliseconds per page in this process with one OpenCV thread, after a warm-up page."""
    import time

    cv2.setNumThreads(1)
    rng = np.random.default_rng(123)
    for f in faces(split):  # load every face's coverage before timing
        can_draw(f, "字")
    render_page(rng, split, size)
    t = time.perf_counter()
    for _ in range(n):
        render_page(rng, split, size)
    return (time.perf_counter() - t) / n * 1000


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", help="output folder of the shards (none: only --sheet or --bench)")
    p.add_argument("--n", type=int, default=2000, help="number of pages")
    p.add_argument("--split", choices=list(SPLITS), default="train", help="font split")
    p.add_argument("--seed", type=int, default=0, help="shard i depends only on (seed, split, i)")
    p.add_argument("--shard-size", type=int, default=200, help="pages per .npz shard")
    p.add_argument("--workers", type=int, default=None, help="worker processes; None: one per usable core")
    p.add_argument("--serving", action="store_true", help="pages at the benchmark size 720x960")
    p.add_argument("--sheet", help="also write a PNG of a few pages with their line boxes drawn")
    p.add_argument("--sheet-pages", type=int, default=9, help="pages on the sheet")
    p.add_argument("--layout", choices=LAYOUTS, default=None, help="sheet pages of one layout only")
    p.add_argument("--clean", action="store_true", help="sheet pages without decoration and degradation")
    p.add_argument("--bench", type=int, default=0, metavar="N", help="only time N 448x448 pages in one process")
    a = p.parse_args(argv)
    if a.bench:
        print(f"{a.split}: {_bench(a.bench, a.split, (448, 448)):.1f} ms per 448x448 page (one core)")
        return
    if not a.out and not a.sheet:
        p.error("give --out, --sheet or --bench")
    if a.out:
        paths = render_shards(a.out, a.n, split=a.split, seed=a.seed, shard_size=a.shard_size, workers=a.workers,
                              serving=a.serving)
        print(f"{len(paths)} shards in {a.out}")
    if a.sheet:
        rng = np.random.default_rng([a.seed, _split_id(a.split), 10**6])
        render = render_eval_page if a.serving else render_page
        pages = [render(rng, a.split, clean=a.clean, layout=a.layout) for _ in range(a.sheet_pages)]
        cv2.imwrite(a.sheet, contact_sheet(pages, 2 if a.serving else 3)[..., ::-1])
        print(f"sheet of {len(pages)} pages ({sum(len(p.lines) for p in pages)} lines) in {a.sheet}")


if __name__ == "__main__":
    main()
