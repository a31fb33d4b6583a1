"""Synthetic printed Chinese text lines for the recogniser.

A line of :class:`~chinese_ocr.corpus.TextSampler` text is drawn with one installed face of the
split (:func:`chinese_ocr.fonts.faces`), then made to look like what the recogniser is served: a
text detector's crop of a photo or a page (uneven margins, pieces of the neighbour lines, slant),
a licence plate (white on blue, black on yellow, a border, 24 px high JPEG), a screenshot, a sign,
a table cell. Steps: size, weight and letter spacing; colours of either polarity on flat, shaded,
textured, cluttered or ruled backgrounds; rotation, shear, perspective, stretch and wobble; blur,
low resolution, noise and JPEG; last :func:`chinese_ocr.preprocess.normalize_line`, exactly as
serving runs it. The model is measured on faces it never saw and on real crops, so variety is the
lever: a model trained on a few clean faces reads those and little else.
"""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from chinese_ocr.charset import PLATES
from chinese_ocr.corpus import UNIFORM_SHARE, TextSampler
from chinese_ocr.fonts import Face, coverage, faces, font_file
from chinese_ocr.plates import LETTERS, PROVINCES, SERIAL
from chinese_ocr.preprocess import normalize_line, scaled_width
from ocr_common.ctc import Charset, encode_labels

SPLITS = {"train": 1, "heldout": 2, "eval": 3}  # also the split's part of the shard seed
MAX_CHARS = 12
SHORT_SHARE = 0.1  # of lines with 1-3 characters
PLATE_SHARE = 0.04  # of lines laid out as a Chinese licence plate
MAX_SQUEEZE = 0.1  # normalize_line may squeeze a line by this much; longer text is cut
# Font sizes come from these steps: each size of each face is a FreeType face kept open.
SIZES = (16, 18, 20, 23, 26, 29, 33, 37, 42, 48, 55, 63, 72)
WORK_PX = 36  # glyphs drawn bigger are scaled down to this before the per-pixel augmentation
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
HEAVY = ("bold", "black", "heib")  # face names that are already heavy


@dataclass
class Sample:
    image: np.ndarray  # (height, width) uint8, normalised, ink = 255
    text: str
    font: str  # face name


@functools.cache
def _font(path: str, index: int, size: int):
    """Like :func:`chinese_ocr.fonts.pil_font`, with Pillow's basic layout: Chinese and Latin lines
    need no shaping, and Raqm's per-call set-up costs 2-6x the glyph itself."""
    return ImageFont.truetype(path, size, index=index, layout_engine=ImageFont.Layout.BASIC)


# -- colours and backgrounds -----------------------------------------------------------------------
def _colour(rng: np.random.Generator, luma: float, sat: float) -> np.ndarray:
    """An RGB colour (float32) of about ``luma``: a random hue with chroma ``sat`` (0 grey, 1 vivid)."""
    hue = rng.random(3).astype(np.float32)
    c = np.clip(luma + sat * 255.0 * (hue - hue @ LUMA), 0, 255)
    return np.clip(c + (luma - c @ LUMA), 0, 255).astype(np.float32)


def _palette(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(background, text) colours: mostly dark on light paper, a quarter light on dark (plates,
    signs, dark screens), some vivid print; always far apart in grey, which is all the model sees."""
    r = rng.random()
    if r < 0.25:
        bg_l = rng.uniform(0, 110)
        text_l = rng.uniform(max(bg_l + 100, 190), 255)
        return _colour(rng, bg_l, rng.uniform(0.2, 1.0)), _colour(rng, text_l, rng.uniform(0, 0.6) ** 2)
    bg_l = rng.uniform(175, 255) if r < 0.4 else rng.uniform(150, 255)
    if r < 0.4:  # coloured print: red, blue, green headings, stamps, labels
        return _colour(rng, bg_l, rng.uniform(0, 0.4)), _colour(rng, rng.uniform(20, bg_l - 95), rng.uniform(0.4, 1))
    return _colour(rng, bg_l, rng.uniform(0, 0.25)), _colour(rng, rng.uniform(0, bg_l - 100), rng.uniform(0, 0.3))


def _plate_palette(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    r = rng.random()
    if r < 0.6:  # ordinary: white on blue
        return _colour(rng, rng.uniform(35, 90), rng.uniform(0.5, 0.9)), _colour(rng, rng.uniform(200, 255), 0.05)
    if r < 0.8:  # large vehicles: black on yellow
        return _colour(rng, rng.uniform(150, 215), rng.uniform(0.4, 0.8)), _colour(rng, rng.uniform(0, 50), 0.05)
    if r < 0.95:  # new energy: black on light green
        return _colour(rng, rng.uniform(160, 220), rng.uniform(0.3, 0.6)), _colour(rng, rng.uniform(0, 50), 0.05)
    return _colour(rng, rng.uniform(190, 245), 0.05), _colour(rng, rng.uniform(0, 50), 0.05)  # police: white


def _smooth(rng: np.random.Generator, h: int, w: int, cell: float, channels: int = 1) -> np.ndarray:
    """A smooth random field in about [-1, 1] with features ``cell`` px apart."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    field = rng.uniform(-1, 1, (gh, gw, channels) if channels > 1 else (gh, gw)).astype(np.float32)
    return cv2.resize(field, (w, h), interpolation=cv2.INTER_CUBIC)


def _background(rng: np.random.Generator, h: int, w: int, base: np.ndarray, amp: float) -> np.ndarray:
    """(h, w, 3) float32 paper, screen or photo around ``base``, its grey varying by about ``amp``."""
    bg = np.empty((h, w, 3), np.float32)
    bg[:] = base
    kind = rng.random()
    if kind < 0.3:
        return bg  # flat: screenshots, print on plain paper
    if kind < 0.5:  # shading across the line: uneven light, gradient fills
        phi = rng.uniform(0, 2 * np.pi)
        ramp = (np.arange(w, dtype=np.float32)[None, :] * np.cos(phi)
                + np.arange(h, dtype=np.float32)[:, None] * np.sin(phi)) / max(h, w)
        tint = 1.0 + rng.uniform(-0.3, 0.3, 3).astype(np.float32)
        bg += ((ramp - ramp.mean()) * (2 * amp))[..., None] * tint
    elif kind < 0.68:  # paper or card texture
        bg += (_smooth(rng, h, w, rng.uniform(2, 10)) * amp)[..., None]
    elif kind < 0.85:  # out-of-focus photo background: smooth random colour fields
        bg += _smooth(rng, h, w, rng.uniform(h / 2, 3 * h), 3) * amp
    else:  # shapes and strokes of a poster, packaging or a page behind the text
        for _ in range(int(rng.integers(1, 7))):
            c = tuple(float(v) for v in base + rng.uniform(-amp, amp, 3))
            p = (int(rng.integers(-w // 4, w)), int(rng.integers(-h // 2, h)))
            q = (int(rng.integers(0, w + w // 4 + 1)), int(rng.integers(0, h + h // 2 + 1)))
            shape = rng.integers(3)
            if shape == 0:
                cv2.line(bg, p, q, c, int(rng.integers(1, max(2, h // 6))), cv2.LINE_AA)
            elif shape == 1:
                cv2.circle(bg, p, int(rng.integers(2, max(3, h))), c, -1, cv2.LINE_AA)
            else:
                cv2.rectangle(bg, p, q, c, -1)
    return bg


# -- geometry --------------------------------------------------------------------------------------
def _transform(rng: np.random.Generator, band_h: float, stretch: float, clean: bool) -> np.ndarray:
    """3x3 map about the origin: vertical stretch, small rotation, sometimes shear and perspective."""
    m = np.diag([1.0, stretch, 1.0])
    if clean:
        return m
    a = np.deg2rad(np.clip(rng.normal(0, 0.8), -2, 2))
    m = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]) @ m
    if rng.random() < 0.3:
        m = np.array([[1, rng.uniform(-0.25, 0.25), 0], [0, 1, 0], [0, 0, 1]]) @ m
        if rng.random() < 0.5:  # a photo taken a little off-axis
            src = np.float32([[-1, -0.5], [1, -0.5], [1, 0.5], [-1, 0.5]]) * np.float32(band_h * 4)
            dst = src + rng.uniform(-0.15, 0.15, (4, 2)).astype(np.float32) * np.float32(band_h)
            m = cv2.getPerspectiveTransform(src, dst).astype(np.float64) @ m
    return m


def _project(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    q = np.c_[pts, np.ones(len(pts))] @ m.T
    return q[:, :2] / q[:, 2:3]


def _warp(canvas: np.ndarray, m: np.ndarray, box: tuple[float, float, float, float]
          ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """``canvas`` mapped by ``m`` (about its centre) onto a canvas big enough to keep all of it, and
    the bounding box of the mapped ``box``."""
    h, w = canvas.shape[:2]
    m = m @ np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1]])
    corners = _project(m, np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64))
    lo = np.floor(corners.min(axis=0))
    size = tuple(int(v) + 1 for v in np.ceil(corners.max(axis=0) - lo))
    m = np.array([[1, 0, -lo[0]], [0, 1, -lo[1]], [0, 0, 1]]) @ m
    if abs(m[2, 0]) + abs(m[2, 1]) > 1e-12:
        out = cv2.warpPerspective(canvas, m, size, flags=cv2.INTER_LINEAR)
    else:
        out = cv2.warpAffine(canvas, m[:2], size, flags=cv2.INTER_LINEAR)
    x0, y0, x1, y1 = box
    b = _project(m, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64))
    return out, (b[:, 0].min(), b[:, 1].min(), b[:, 0].max(), b[:, 1].max())


def _crop(a: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """``a[y0:y1, x0:x1]``, zero where the box leaves ``a``."""
    out = np.zeros((y1 - y0, x1 - x0) + a.shape[2:], a.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, a.shape[1]), min(y1, a.shape[0])
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = a[sy0:sy1, sx0:sx1]
    return out


def _wobble(rng: np.random.Generator, a: np.ndarray, amp: float) -> np.ndarray:
    """A slight elastic wobble of the strokes (paper not flat, a cheap lens)."""
    h, w = a.shape[:2]
    cell = rng.uniform(0.5, 1.5) * h
    dx, dy = _smooth(rng, h, w, cell) * amp, _smooth(rng, h, w, cell) * amp
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(a, gx + dx, gy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


# -- degradation -----------------------------------------------------------------------------------
def _degrade(rng: np.random.Generator, img: np.ndarray, height: int, low_res: float, text_h: float,
             contrast: float) -> np.ndarray:
    """Blur, low resolution, noise and JPEG of a camera, a scanner or a web thumbnail; uint8 RGB.
    ``text_h``: height of the text band in pixels of ``img``."""
    h, w = img.shape[:2]
    scale = height / h  # pixels of the model input per pixel of this image
    small = rng.random() < low_res
    r = rng.random()
    if r < (0.25 if small else 0.45):
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.2, 0.6) / scale)
    elif r < 0.55 and h >= 40:  # motion blur: a short line kernel (at least 3 px: only on big images)
        k = max(3, int(round(rng.uniform(1.5, 3.0) / scale)) | 1)
        kernel = np.zeros((k, k), np.float32)
        a = rng.uniform(0, np.pi)
        c = (k - 1) / 2
        cv2.line(kernel, (int(round(c - c * np.cos(a))), int(round(c - c * np.sin(a)))),
                 (int(round(c + c * np.cos(a))), int(round(c + c * np.sin(a)))), 1.0, 1)
        img = cv2.filter2D(img, -1, kernel / kernel.sum())
    if small:  # a small or distant line (a 94 x 24 plate crop), upscaled by normalize_line
        # 16-28 px high, but never below 14 px of text: smaller Chinese is unreadable to people too.
        hl = int(max(rng.integers(16, 29), np.ceil(14 * h / text_h)))
        if hl < h:
            img = cv2.resize(img, (max(4, int(round(w * hl / h))), hl), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.4:
        sigma = contrast * rng.uniform(0.01, 0.06)
        img = img + rng.normal(0, sigma, img.shape[:2])[..., None].astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < (0.8 if small else 0.5):
        # JPEG's 8 x 8 blocks are a third of a small line: keep the quality up there.
        q = int(rng.integers(25 if out.shape[0] >= 32 else 45, 96))
        ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
        out = cv2.cvtColor(cv2.imdecode(jpg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out


# -- lines -----------------------------------------------------------------------------------------
def plate_text(rng: np.random.Generator) -> str:
    """A Chinese plate number as its label is written: province, city letter, 5 (new energy: 6)
    letters and digits, without the separator dot."""
    n = 6 if rng.random() < 0.15 else 5
    tail = "".join(SERIAL[int(i)] for i in rng.integers(0, len(SERIAL), n))
    return PROVINCES[int(rng.integers(len(PROVINCES)))] + LETTERS[int(rng.integers(len(LETTERS)))] + tail


class Renderer:
    """Text-line samples drawn with the faces of one font split, deterministic for a given generator.

    ``clean=True`` turns augmentation off (black 48 px text on white, fixed margins): for tests and
    for looking at a face. ``natural_text=True``: words only, no lines of characters drawn evenly
    from the charset (:func:`print_lines`). ``charset`` :data:`~chinese_ocr.charset.PLATES` draws licence plates
    only (a plate reader's lines; no text sampler is loaded)."""

    def __init__(self, split: str = "train", charset: str = "GB2312", height: int = 32, width: int = 280,
                 clean: bool = False, natural_text: bool = False):
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {list(SPLITS)}")
        self.split, self.height, self.width, self.clean = split, height, width, clean
        self.faces = faces(split)
        self.families = sorted({f.family for f in self.faces})
        self.by_family = {fam: [f for f in self.faces if f.family == fam] for fam in self.families}
        self.plates_only = charset == PLATES
        # Held-out sets keep the plain text; plates need no sampler (no neighbour lines either).
        self.sampler = None if self.plates_only else TextSampler(
            charset, latin=split == "train", uniform_share=0.0 if natural_text else UNIFORM_SHARE)
        self.flipped = 0  # samples whose polarity normalize_line guessed wrong (fixed, see _polarity)
        self._bands: dict[tuple[str, int], tuple[int, int]] = {}
        self._paths = {f.name: font_file(f) for f in self.faces}
        self._cover = {f.name: coverage(self._paths[f.name], f.index) for f in self.faces}
        self._advances: dict[tuple[str, int, str], float] = {}

    def can_draw(self, face: Face, text: str) -> bool:
        """Whether ``face`` has a glyph for every character of ``text`` but spaces
        (:func:`chinese_ocr.fonts.can_draw`, with the face's cmap looked up once)."""
        cover = self._cover[face.name]
        return all(c in cover or c == " " for c in text)

    def _advance(self, face: Face, font, px: int, ch: str) -> float:
        # Ideographs share one advance in a CJK face (checked for every face of fonts.py): look it
        # up once, not per character (a FreeType glyph load each).
        key = (face.name, px, "田" if "\u4e00" <= ch <= "\u9fff" else ch)
        adv = self._advances.get(key)
        if adv is None:
            if len(self._advances) > 200_000:  # bounded: a worker renders many shards
                self._advances.clear()
            adv = self._advances[key] = font.getlength(ch)
        return adv

    # -- text and face
    def pick_face(self, rng: np.random.Generator, text: str) -> Face | None:
        """A family at random, a face of it; where that face lacks a glyph of ``text``, another face
        of the family, else of any family, that has them all (None: no face can draw ``text``)."""
        group = self.by_family[self.families[int(rng.integers(len(self.families)))]]
        face = group[int(rng.integers(len(group)))]
        if self.can_draw(face, text):
            return face
        # Same family first, so a traditional face's misses do not thin out its family.
        able = [f for f in group if self.can_draw(f, text)] or [f for f in self.faces if self.can_draw(f, text)]
        return able[int(rng.integers(len(able)))] if able else None

    def _choose(self, rng: np.random.Generator, text: str | None, plate: bool) -> tuple[Face, str]:
        if text is not None:
            face = self.pick_face(rng, text)
            if face is None:
                raise ValueError(f"no {self.split} face can draw {text!r}")
            return face, text
        for _ in range(100):
            if plate:
                text = plate_text(rng)
            elif rng.random() < SHORT_SHARE:
                text = self.sampler.line(rng, 1, 3)
            else:
                text = self.sampler.line(rng, 2, MAX_CHARS)
            face = self.pick_face(rng, text)
            if face is not None:
                return face, text
        raise RuntimeError(f"no {self.split} face draws the sampled texts")

    def _band(self, face: Face, font, px: int) -> tuple[int, int]:
        """Top and bottom of an ideograph relative to the baseline: the height of the line box."""
        key = (face.name, px)
        if key not in self._bands:
            _, top, _, bottom = font.getbbox("田", anchor="ls")  # in simplified and traditional faces
            self._bands[key] = (top, bottom)
        return self._bands[key]

    # -- one sample
    def sample(self, rng: np.random.Generator, text: str | None = None, plate: bool | None = None) -> Sample:
        """A normalised line image and its label; ``text`` given: that text (not cut to fit).
        ``plate``: laid out as a licence plate (True; a plate number is drawn when ``text`` is
        None), not (False), or now and then (None: always for a plates-only renderer, else
        :data:`PLATE_SHARE` of the sampled lines)."""
        clean = self.clean
        if plate is None:
            plate = self.plates_only or (text is None and not clean and rng.random() < PLATE_SHARE)
        face, text = self._choose(rng, text, plate)
        given = text
        # Size, weight, spacing and margins, in pixels of the font size px.
        px = 48 if clean else int(SIZES[int(rng.integers(len(SIZES)))])
        stroke = 0
        heavy = any(k in face.name for k in HEAVY)  # already bold: more weight fills the strokes in
        if not clean and not heavy and px >= 26 and rng.random() < 0.3:
            stroke = 2 if px >= 42 and rng.random() < 0.35 else 1
        if clean:
            spacing = 0.1
        elif plate:
            spacing = rng.uniform(0.1, 0.3)
        else:
            r = rng.random()
            spacing = rng.uniform(-0.05, 0.08) if r < 0.6 else rng.uniform(0.08, 0.4) if r < 0.93 else \
                rng.uniform(0.4, 1.0)  # signs and shop fronts
        spacing *= px
        stretch = 1.0 if clean else rng.uniform(1.25, 1.7) if plate else float(np.exp(rng.uniform(-0.22, 0.22)))
        if clean:
            mt = mb = 0.2
            ml = mr = 0.3
        elif plate:
            mt, mb = rng.uniform(0.1, 0.3, 2)
            ml, mr = rng.uniform(0.1, 0.5, 2)
        else:
            mt, mb = rng.uniform(0.3, 0.9, 2) if rng.random() < 0.15 else rng.uniform(0, 0.3, 2)
            ml, mr = rng.uniform(0, 1, 2) ** 2
        above = below = underline = False
        if not clean and not plate:
            if rng.random() < 0.2:  # pieces of the lines above or below, cut by the detector's box
                above = rng.random() < 0.65
                below = not above or rng.random() < 0.4
            underline = rng.random() < 0.1
        gap_above, gap_below = rng.uniform(0.08, 0.35, 2)
        if above:
            mt = max(mt, gap_above + rng.uniform(0.1, 0.4))
        if below:
            mb = max(mb, gap_below + rng.uniform(0.1, 0.4))
        ul_off, ul_thick = rng.uniform(0.05, 0.15), rng.uniform(0.04, 0.08)
        if underline:
            mb = max(mb, ul_off + ul_thick + 0.05)

        font = _font(self._paths[face.name], face.index, px)
        top, bottom = self._band(face, font, px)
        band_h = bottom - top + 2 * stroke
        draw_text = text[:2] + "\0" + text[2:] if plate else text  # \0: the plate's separator dot
        gaps = [0.0 if c == "\0" else spacing * (0.5 if c.isascii() else 1.0) for c in draw_text]
        adv = [px * 0.35 if c == "\0" else self._advance(face, font, px, c) + stroke for c in draw_text]
        starts = np.concatenate([[0.0], np.cumsum(np.add(adv, gaps))[:-1]])
        ends = starts + adv
        if given is None and not plate:
            # The longest prefix that fits the model input (squeezed by at most MAX_SQUEEZE) at
            # this size, height and margin; a reader's detector would have split the rest off.
            budget = self.width * (1 + MAX_SQUEEZE) * (band_h * stretch + (mt + mb) * px * stretch) / self.height
            budget -= (ml + mr) * px
            k = max(1, int(np.searchsorted(ends, budget, side="right")))
            draw_text = text = draw_text[:k].rstrip()
            ends = ends[: len(text)]
        # Draw at px: the text, and in a second layer, neighbour lines and underline.
        pad_x, pad_y = px + 4, int(0.5 * px) + 4 + stroke
        w, h = int(ends[-1]) + 2 * pad_x, band_h + 2 * pad_y
        base = pad_y + stroke - top
        ink, clutter = Image.new("L", (w, h), 0), Image.new("L", (w, h), 0)
        d = ImageDraw.Draw(ink)
        if abs(spacing) < 0.02 * px and not plate:
            d.text((pad_x, base), draw_text, fill=255, font=font, anchor="ls", stroke_width=stroke, stroke_fill=255)
        else:
            for c, x in zip(draw_text, starts):
                if c == "\0":
                    rad = max(1.0, px * 0.05)
                    cx, cy = pad_x + x + px * 0.17, base + (top + bottom) / 2
                    d.ellipse((cx - rad, cy - rad, cx + rad, cy + rad), fill=255)
                elif c != " ":
                    d.text((pad_x + x, base), c, fill=255, font=font, anchor="ls", stroke_width=stroke,
                           stroke_fill=255)
        dc = ImageDraw.Draw(clutter)
        for on, side, gap in ((above, -1, gap_above), (below, 1, gap_below)):
            if on:
                n = len(draw_text) + 2  # enough to run across the crop
                other = "".join(c for c in self.sampler.line(rng, n, n + 1) if self.can_draw(face, c))
                x0 = pad_x + rng.uniform(-1.0, 0.5) * px
                dc.text((x0, base + side * (band_h + gap * px)), other, fill=255, font=font, anchor="ls")
        if underline:
            y = base + bottom + ul_off * px
            dc.rectangle((pad_x, y, pad_x + ends[-1], y + max(1.0, ul_thick * px)), fill=255)
        canvas = np.dstack([np.asarray(ink), np.asarray(clutter)])
        box = (pad_x, base + top - stroke, pad_x + ends[-1], base + bottom + stroke)
        s = min(1.0, WORK_PX / px)
        if s < 1:
            canvas = cv2.resize(canvas, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
            box = tuple(v * s for v in box)
        sc = s * px  # one em in working pixels

        # Geometry, then the detector's crop: text band and all ink, plus margins.
        m = _transform(rng, band_h * s * stretch, stretch, clean)
        canvas, (bx0, by0, bx1, by1) = _warp(canvas, m, box)
        rows = np.nonzero(canvas[..., 0].max(axis=1) > 24)[0]
        cols = np.nonzero(canvas[..., 0].max(axis=0) > 24)[0]
        if len(rows):
            bx0, bx1 = min(bx0, cols[0]), max(bx1, cols[-1] + 1)
            by0, by1 = min(by0, rows[0]), max(by1, rows[-1] + 1)
        x0, x1 = int(np.floor(bx0 - ml * sc)), int(np.ceil(bx1 + mr * sc))
        y0, y1 = int(np.floor(by0 - mt * sc * stretch)), int(np.ceil(by1 + mb * sc * stretch))
        if not clean and rng.random() < 0.3:
            crop = _crop(canvas, x0 - 3, y0 - 3, x1 + 3, y1 + 3)
            crop = _wobble(rng, crop, rng.uniform(0.3, 0.8) * sc / WORK_PX)[3:-3, 3:-3]
        else:
            crop = _crop(canvas, x0, y0, x1, y1)
        ch, cw = crop.shape[:2]
        # Never squeeze by more than MAX_SQUEEZE: grow the crop's height instead (more margin).
        need = int(np.ceil(cw * self.height / (self.width * (1 + MAX_SQUEEZE))))
        if need > ch:
            extra = need - ch
            t = int(rng.integers(0, extra + 1))
            crop = np.pad(crop, ((t, extra - t), (0, 0), (0, 0)))
            y0 -= t
        text_ink = crop[..., 0].astype(np.float32) / 255.0
        clutter_ink = crop[..., 1].astype(np.float32) / 255.0
        if not clean:
            r = rng.random()
            if r < 0.15 and not heavy:
                text_ink = cv2.dilate(text_ink, np.ones((2, 2), np.uint8))
            elif r < 0.25 and stroke > 0:
                text_ink = cv2.erode(text_ink, np.ones((2, 2), np.uint8))

        rgb, contrast = self._compose(rng, text_ink, clutter_ink, plate, (bx0 - x0, by0 - y0, bx1 - x0, by1 - y0))
        if not clean:
            rgb = _degrade(rng, rgb, self.height, 0.9 if plate else 0.25, by1 - by0, contrast)
        else:
            rgb = rgb.astype(np.uint8)
        image = normalize_line(rgb, self.height, self.width, 4)
        image = self._polarity(image, text_ink, rgb.shape[:2])
        return Sample(image, text, face.name)

    def _compose(self, rng: np.random.Generator, text_ink: np.ndarray, clutter_ink: np.ndarray, plate: bool,
                 band: tuple[float, float, float, float]) -> tuple[np.ndarray, float]:
        """The ink layers coloured onto a background; table rules and plate borders around the band."""
        h, w = text_ink.shape
        if self.clean:
            return np.repeat((255.0 * (1.0 - np.maximum(text_ink, clutter_ink)))[..., None], 3, axis=2), 255.0
        bg, fg = _plate_palette(rng) if plate else _palette(rng)
        contrast = abs(float((bg - fg) @ LUMA))
        img = _background(rng, h, w, bg, 0.3 * rng.random() ** 2 * contrast)
        opacity = rng.uniform(0.75, 1.0) if rng.random() < 0.15 else 1.0
        alpha = text_ink * opacity
        if rng.random() < 0.15:  # uneven print or light
            alpha = alpha * np.clip(1 + 0.25 * _smooth(rng, h, w, rng.uniform(0.5, 2) * h), 0.5, 1)
        rules = np.zeros((h, w), np.float32)
        bx0, by0, bx1, by1 = band
        t = max(1, int(round(h / 32 * rng.uniform(0.7, 2.0))))
        if plate:  # the plate's border, just inside the crop
            ix, iy = int(rng.uniform(0, 0.7) * bx0), int(rng.uniform(0, 0.7) * by0)
            cv2.rectangle(rules, (ix, iy), (w - 1 - int(rng.uniform(0, 0.7) * (w - bx1)),
                                             h - 1 - int(rng.uniform(0, 0.7) * (h - by1))), 1.0, t)
        elif rng.random() < 0.12:  # a table cell or a box around the text
            for side in range(4):
                if rng.random() < 0.6:
                    continue
                room = (by0, h - by1, bx0, w - bx1)[side] - t - 1
                if room < 1:
                    continue
                p = int(rng.uniform(0, room))
                if side == 0:
                    cv2.line(rules, (0, p), (w - 1, p), 1.0, t)
                elif side == 1:
                    cv2.line(rules, (0, h - 1 - p), (w - 1, h - 1 - p), 1.0, t)
                elif side == 2:
                    cv2.line(rules, (p, 0), (p, h - 1), 1.0, t)
                else:
                    cv2.line(rules, (w - 1 - p, 0), (w - 1 - p, h - 1), 1.0, t)
        rule_colour = bg + (fg - bg) * (1.0 if plate else rng.uniform(0.5, 1.0))
        for a, colour in ((clutter_ink * opacity, fg), (rules, rule_colour), (alpha, fg)):
            if a.any():
                img += (colour - img) * a[..., None]
        return img, contrast

    def _polarity(self, image: np.ndarray, text_ink: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Ink high whatever normalize_line guessed: where the text came out darker than its paper
        (clutter or a border fooled the polarity test), invert the line; that is exactly what the
        other guess would have given."""
        sw = min(scaled_width(shape[0], shape[1], self.height), self.width)
        m = cv2.resize(text_ink, (sw, self.height), interpolation=cv2.INTER_AREA)
        region = image[:, :sw]
        ink, paper = region[m > 0.5], region[m < 0.02]
        if ink.size and paper.size and float(ink.mean()) < float(paper.mean()):
            self.flipped += 1
            image = image.copy()
            image[:, :sw] = 255 - region
        return image


class LiveLines:
    """Endless lines rendered as they are asked for (the stream interface of
    :func:`chinese_ocr.data.iterate_shards`): ``take(n) -> (x (n, height, width) uint8 ink-high, y
    (n, max_len) int32)``. A many-core machine renders fresh lines for every step instead of
    reading the same shards again (``python -m chinese_ocr.train --live-share``)."""

    def __init__(self, charset: Charset, charset_name: str, max_len: int, *, split: str = "train",
                 height: int = 32, width: int = 280, rng: np.random.Generator | None = None):
        self.charset, self.max_len = charset, max_len
        self.renderer = Renderer(split, charset_name, height, width)  # PLATES: plates only
        self.rng = rng or np.random.default_rng()

    def take(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        xs, texts = [], []
        while len(xs) < n:
            s = self.renderer.sample(self.rng)
            if s.text:
                xs.append(s.image)
                texts.append(s.text)
        y, keep = encode_labels(texts, self.charset, self.max_len)
        if not keep.all():  # a text the charset cannot write or too long: draw others in its place
            x2, y2 = self.take(int((~keep).sum()))
            return np.concatenate([np.stack(xs)[keep], x2]), np.concatenate([y[keep], y2])
        return np.stack(xs), y


def rendered_plates(n: int, *, split: str = "heldout", height: int = 32, width: int = 280, seed: int = 0
                    ) -> tuple[np.ndarray, list[str]]:
    """``n`` plates drawn in the faces of ``split`` (the same ones for the same seed), as
    ``(images (n, height, width) uint8 ink-high, texts)``: a plate reader's held-out set."""
    r = Renderer(split, PLATES, height, width)
    rng = np.random.default_rng([seed, SPLITS[split], 31])
    samples = [r.sample(rng) for _ in range(n)]
    return np.stack([s.image for s in samples]), [s.text for s in samples]


# -- shards ----------------------------------------------------------------------------------------
def _render_shard(job: tuple[str, int, int], *, seed: int, split: str, charset: str, height: int, width: int) -> int:
    from ocr_common.npz_cache import save_npz

    path, count, shard = job
    rng = np.random.default_rng([seed, SPLITS[split], shard])
    r = Renderer(split, charset, height, width)
    samples = [r.sample(rng) for _ in range(count)]
    save_npz(Path(path), images=np.stack([s.image for s in samples]), texts=np.array([s.text for s in samples]),
             fonts=np.array([s.font for s in samples]))
    return count


def render_shards(out_dir: str | Path, n: int, *, split: str = "train", seed: int = 0, charset: str = "GB2312",
                  height: int = 32, width: int = 280, shard_size: int = 2000, workers: int | None = None) -> list[Path]:
    """``out_dir/shard-*.npz`` with ``images`` (N, height, width) uint8 (ink 255), ``texts`` and
    ``fonts`` (face names); resumable, deterministic per (seed, split, shard index)."""
    from ocr_common import shards

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {list(SPLITS)}")
    render = functools.partial(_render_shard, seed=seed, split=split, charset=charset, height=height, width=width)
    return shards.render_shards(out_dir, n, render, shard_size=shard_size, workers=workers,
                                complete=lambda p, c: shards.has_rows(p, "texts", c, {"images", "texts", "fonts"}))


# Held-out evaluation sets: name -> (split, seed). Training and evaluate render them the same way.
HELDOUT_SETS: dict[str, tuple[str, int]] = {"heldout-font": ("heldout", 2), "eval-fonts": ("eval", 3)}


def render_heldout(synth_dir: str | Path, n: int, width: int = 280, *, charset: str = "GB2312") -> dict[str, Path]:
    """The held-out sets in ``synth_dir/<split>`` with at least ``n`` lines each, rendered where short."""
    out = {}
    for name, (split, seed) in HELDOUT_SETS.items():
        folder = Path(synth_dir) / split
        render_shards(folder, n, split=split, seed=seed, charset=charset, width=width, shard_size=1000)
        out[name] = folder
    return out


PRINT_SEED = 4
PRINT_MARGIN = 6  # px of paper kept right of the last ink column of a print line


def print_lines(n: int, *, split: str = "eval", seed: int = PRINT_SEED, charset: str = "GB2312",
                progress: bool = True) -> tuple[list[np.ndarray], list[str]]:
    """``n`` clean printed lines in ``split``'s faces: ``(images, texts)``, each image a uint8 line
    32 px high, black text on white cut ``PRINT_MARGIN`` px after its last stroke.

    The recogniser issue's yardstick is lines rendered in faces the project does not use, on which
    RapidOCR reads 0.997 and Tesseract 0.92. The held-out shards (``render_heldout``) are the
    training lines' look instead: blur, noise, clutter, 16-72 px type, and a sixth of their lines
    are characters drawn evenly from GB 2312 (RapidOCR reads them at 0.89). These are the plain
    case: the renderer's clean mode (48 px type on white, fixed margins, no augmentation) and text
    as the sampler draws words (jieba's dictionary by smoothed frequency, a fifth of the lines
    mixed with digits and Latin), with no lines of evenly drawn characters. Deterministic per
    (seed, split)."""
    r = Renderer(split, charset, clean=True, natural_text=True)
    rng = np.random.default_rng([seed, SPLITS[split]])
    import keras

    images, texts = [], []
    bar = keras.utils.Progbar(n, unit_name="line", verbose=int(progress))
    for _ in range(n):
        s = r.sample(rng)
        cols = np.nonzero(s.image.max(axis=0) > 24)[0]
        end = min(s.image.shape[1], int(cols[-1]) + 1 + PRINT_MARGIN) if len(cols) else s.image.shape[1]
        images.append(np.ascontiguousarray(255 - s.image[:, :end]))
        texts.append(s.text)
        bar.add(1)
    return images, texts


# -- command line ----------------------------------------------------------------------------------
SHEET_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def write_sheet(path: str | Path, images: np.ndarray, texts: list[str], fonts: list[str] | None = None,
                columns: int = 2) -> Path:
    """A PNG of line images (ink dark, as printed) with their labels (and faces) above them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.font_manager import FontProperties

    prop = FontProperties(fname=SHEET_FONT, size=9) if Path(SHEET_FONT).is_file() else None
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 0.75 * rows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < len(images):
            ax.imshow(255 - images[i], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            label = texts[i] if fonts is None else f"{texts[i]}   [{fonts[i]}]"
            ax.set_title(label, fontproperties=prop, fontsize=9, loc="left", pad=2)
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default="data/zh_synth/train", help="shard folder")
    p.add_argument("--n", type=int, default=100_000, help="number of lines")
    p.add_argument("--split", default="train", choices=list(SPLITS), help="font split")
    p.add_argument("--seed", type=int, default=0, help="shard i is seeded by (seed, split, i)")
    p.add_argument("--charset", default="GB2312", help="charset of the texts (GB2312 or GB2312-1)")
    p.add_argument("--height", type=int, default=32, help="model input height")
    p.add_argument("--width", type=int, default=280, help="model input width")
    p.add_argument("--shard-size", type=int, default=2000, help="lines per shard file")
    p.add_argument("--workers", type=int, default=None, help="render processes; None: the usable cores")
    p.add_argument("--sheet", default=None, help="also write a PNG sheet of the first lines here")
    p.add_argument("--sheet-lines", type=int, default=40, help="lines on the sheet")
    args = p.parse_args(argv)
    paths = render_shards(args.out, args.n, split=args.split, seed=args.seed, charset=args.charset,
                          height=args.height, width=args.width, shard_size=args.shard_size, workers=args.workers)
    if args.sheet and paths:
        with np.load(paths[0]) as z:
            k = min(args.sheet_lines, len(z["texts"]))
            write_sheet(args.sheet, z["images"][:k], [str(t) for t in z["texts"][:k]], [str(f) for f in z["fonts"][:k]])
        print(f"sheet: {args.sheet}")


if __name__ == "__main__":
    main()
