"""Synthetic phone photos of paper documents with their 4 page corners, for edge and corner nets.

No labelled set of real document photos big enough to train on exists, so pages are drawn
(letters, forms, tables, OMR bubble sheets, ruled and grid notes, receipts, business and note
cards, dark folders, printed photos), warped in perspective onto a procedural table top and then
spoilt like a phone photo (uneven and coloured light, cast shadows, glare, fingers, blur, noise,
JPEG). Variety is the point: a net trained on one kind of page on one kind of table learns the
table, not the page edge.

Ground truth follows the annotation convention of the real photo sets (``shared/data/doc_photos*``):
corners are ordered top-left, top-right, bottom-right, bottom-left of the page *content*, and a
rounded, folded (dog-ear), bent or serrated corner is the intersection of the straight edges,
extended. Corners are in pixel-centre coordinates (the centre of pixel (i, j) is x = i, y = j).

Splits (disjoint, so ``heldout`` measures generalisation to unseen textures and fonts, not just
to unseen seeds):

* ``train``: backgrounds wood, fabric, desk mat, plain table, gradient; printed fonts DejaVu,
  Liberation, Carlito; handwriting fonts of every family in ``HAND_FAMILIES`` but the two below.
* ``heldout``: backgrounds stone/granite, marble, carpet, tiles; printed fonts FreeFont
  (FreeSans/Serif/Mono) and Caladea; handwriting ``rufscript`` and ``humor-sans`` (the same
  held-out hands as ``handwrite_digit_ocr.synth``).

Desk clutter (mugs, keyboards, cables, phones, pens, books, sticky notes, other sheets, a hand),
page types, paper colours and the photometric effects are shared by both splits. Fonts come from
Debian packages (``fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-crosextra-carlito
fonts-freefont-ttf fonts-crosextra-caladea`` plus the handwriting packages of
``.ci/apt-packages.txt``); with none installed, Pillow's default font is used.

Speed: about 30 ms a sample (photo at 512 px, stretched to 256 x 256, plus its edge map) in one
process once the text strips are cached (``python -m doc_edge_detection.synth --bench 200``), so
40,000 training samples take about 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SPLITS = ("train", "heldout")
FONT_ROOT = Path("/usr/share/fonts")
# Printed fonts by file-name prefix (a family's bold/italic files share it, so stay on one side).
PRINT_PREFIXES: dict[str, tuple[str, ...]] = {
    "train": ("DejaVuSans", "DejaVuSerif", "LiberationSans", "LiberationSerif", "LiberationMono", "Carlito"),
    "heldout": ("FreeSans", "FreeSerif", "FreeMono", "Caladea"),
}
# Handwriting fonts by folder (= Debian package) name, as in handwrite_digit_ocr.synth.
HAND_FAMILIES: tuple[str, ...] = (
    "fifthhorseman", "sjfonts", "femkeklaver", "breip", "humor-sans", "rufscript", "dancingscript",
    "kaushanscript", "ecolier-court", "comic-neue", "cabinsketch", "leckerli-one", "lobster",
)
HELD_OUT_HANDS: tuple[str, ...] = ("rufscript", "humor-sans")
BACKGROUNDS: dict[str, tuple[str, ...]] = {
    "train": ("wood", "fabric", "mat", "plain", "gradient"),
    "heldout": ("stone", "marble", "carpet", "tiles"),
}
# Page types and how often they are drawn.
DOC_KINDS: dict[str, float] = {
    "letter": 0.22, "form": 0.11, "table": 0.07, "omr": 0.10, "notes": 0.14, "receipt": 0.07,
    "card": 0.08, "notecard": 0.06, "folder": 0.05, "sparse": 0.06, "photo": 0.04,
}
NO_PAGE_P = 0.05
CROSS_FRAME_P = 0.13
# Photo aspect ratios (width:height) a phone produces, with their frequency.
# Mostly portrait: people turn the phone to match the (mostly portrait) page.
PHOTO_ASPECTS: tuple[tuple[int, int, float], ...] = ((4, 3, 0.2), (3, 4, 0.42), (16, 9, 0.08), (9, 16, 0.15),
                                                     (1, 1, 0.15))

WORDS = (
    "the of and to in is for on with as by at from this that are be or an will your our date name total amount "
    "invoice page section report answer question student number address phone email signature please note "
    "account payment due order item price quantity description summary results method data table figure "
    "project meeting review office department university company service customer contact details reference "
    "information required complete form below above each following there their which should would could about "
    "after before during between through under over into other some more most such only also very well new"
).split()


@dataclass
class Sample:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    corners: np.ndarray  # (4, 2) float32 x, y: TL, TR, BR, BL of the page; NaN when has_page is False
    has_page: bool


# ----------------------------------------------------------------------------------------------
# Fonts and cached text strips


@dataclass(frozen=True)
class _Fonts:
    print: tuple[str, ...]
    mono: tuple[str, ...]
    hand: tuple[str, ...]

    def pick(self, rng: np.random.Generator, kind: str) -> str:
        fonts = getattr(self, kind)
        return fonts[int(rng.integers(len(fonts)))]


def _fonts(split: str) -> _Fonts:
    """Font files of ``split``; "" stands for Pillow's default font when none is installed."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return _find_fonts(split, str(FONT_ROOT))


@functools.lru_cache(maxsize=8)
def _find_fonts(split: str, root: str) -> _Fonts:
    files = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in (".ttf", ".otf"))
    prefixes = PRINT_PREFIXES[split]
    printed = [str(p) for p in files if p.stem.startswith(prefixes) and "Math" not in p.stem]
    mono = [f for f in printed if "Mono" in Path(f).stem]
    hands = [h for h in HAND_FAMILIES if (h in HELD_OUT_HANDS) == (split == "heldout")]
    hand = [str(p) for p in files if p.parent.name in hands]
    return _Fonts(tuple(printed) or ("",), tuple(mono or printed) or ("",), tuple(hand or printed) or ("",))


@functools.lru_cache(maxsize=512)
def _font(path: str, px: int):
    from PIL import ImageFont

    if path:
        try:
            return ImageFont.truetype(path, px)
        except OSError:  # a font removed since the folder was listed
            pass
    return ImageFont.load_default(size=px)


def _word(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.08:
        return f"{rng.integers(1, 999)}.{rng.integers(0, 100):02d}"
    if r < 0.12:
        return str(rng.integers(1, 3000))
    w = WORDS[int(rng.integers(len(WORDS)))]
    return w.capitalize() if r < 0.25 else (w + "," if r > 0.95 else w)


# Text is drawn in these sizes only (4 per octave) and cropped from cached strips.
STRIP_SIZES = tuple(int(round(8 * 2 ** (k / 4))) for k in range(10))


@functools.lru_cache(maxsize=1024)
def _strip(font: str, px: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
    """A few long lines of random words in one font and size: (coverage (h, W) uint8, word
    starts, word ends). Rendered once per process and cropped for every line of text drawn,
    because Pillow text costs milliseconds a line and a page has dozens. Seeded by the key
    only, so a sample never depends on what a worker rendered before."""
    from PIL import Image, ImageDraw

    f = _font(font, px)
    rng = np.random.default_rng(zlib.crc32(f"{Path(font).name}/{px}".encode()))
    try:
        asc, desc = f.getmetrics()
        height = asc + desc + 1
    except AttributeError:  # Pillow's bitmap fallback font
        height = int(px * 1.3) + 2
    width = int(np.clip(80 * px, 700, 2500))
    space = f.getlength(" ")
    rows = []
    for _ in range(3):
        words, starts, ends, x = [], [], [], 0.0
        while True:
            word = _word(rng)
            wl = f.getlength(word)
            if x + wl >= width - 2:
                break
            words.append(word)
            starts.append(int(x))
            ends.append(int(math.ceil(x + wl)) + 1)  # +1: kerning makes the joined line a bit longer
            x += wl + space
        im = Image.new("L", (width, height), 0)
        # One call per line: Pillow's per-call overhead dominates for single words.
        ImageDraw.Draw(im).text((0, 0), " ".join(words), font=f, fill=255)
        rows.append((np.asarray(im), np.array(starts or [0]), np.array(ends or [1])))
    return tuple(rows)


def _paste(layer: np.ndarray, mask: np.ndarray, x: float, y: float) -> None:
    """Max-blend ``mask`` into ``layer`` with its top-left at (x, y), clipped to the layer."""
    h, w = mask.shape
    x, y = int(round(x)), int(round(y))
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, layer.shape[1]), min(y + h, layer.shape[0])
    if x1 > x0 and y1 > y0:
        roi = layer[y0:y1, x0:x1]
        np.maximum(roi, mask[y0 - y : y1 - y, x0 - x : x1 - x], out=roi)


def _text(layer: np.ndarray, rng: np.random.Generator, font: str, px: float, x: float, y: float, width: float,
          align: str = "left", slope: float = 0.0) -> int:
    """One line of random words at most ``width`` wide; returns the line height in pixels."""
    px = float(np.clip(px, 3, 1000))
    size = STRIP_SIZES[min(int(np.searchsorted(STRIP_SIZES, px * 0.94)), len(STRIP_SIZES) - 1)]
    # Tiny text is a shrunk crop of the smallest size, big text an enlarged crop of the largest
    # (soft, as big print in a phone photo is anyway): few strip sizes keep the cache small.
    zoom = px / size if px < STRIP_SIZES[0] or px > STRIP_SIZES[-1] else 1.0
    rows = _strip(font, size)
    mask, starts, ends = rows[int(rng.integers(len(rows)))]
    i = int(rng.integers(max(1, len(starts) // 5)))
    j = i + max(0, int(np.searchsorted(ends[i:] - starts[i], width / zoom, side="right")) - 1)
    crop = mask[:, starts[i] : ends[j]][:, : max(1, int(width / zoom))]
    if zoom != 1.0:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * zoom)), max(1, round(crop.shape[0] * zoom))),
                          interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR)
    if slope:  # handwriting drifts off the horizontal
        h, w = crop.shape
        pad = int(abs(slope) * w) + 1
        m = np.float32([[1, 0, 0], [slope, 1, pad]])
        crop = cv2.warpAffine(crop, m, (w, h + 2 * pad))
        y -= pad
    off = {"left": 0.0, "center": (width - crop.shape[1]) / 2, "right": width - crop.shape[1]}[align]
    _paste(layer, crop, x + off, y)
    return int(round(mask.shape[0] * zoom))


# ----------------------------------------------------------------------------------------------
# Small drawing helpers


def _choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _pts(points, shift: int = 4) -> np.ndarray:
    """Float points as int32 for cv2 drawing with ``shift`` fractional bits (sub-pixel)."""
    return np.round(np.asarray(points, np.float64) * (1 << shift)).astype(np.int32).reshape(-1, 1, 2)


def _poly_area(q: np.ndarray) -> float:
    x, y = q[:, 0], q[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Value noise in [0, 1] with features about ``cell`` pixels apart, float32 (h, w)."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    return cv2.resize(rng.random((gh, gw), np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


@functools.lru_cache(maxsize=1)
def _noise_tile() -> np.ndarray:
    """1024 x 1024 standard-normal noise, cropped at random offsets: drawing 200k normals per
    sample would cost more than the rest of the photometric pipeline."""
    return np.random.default_rng(12345).standard_normal((1024, 1024), dtype=np.float32)


def _fine_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Per-pixel standard-normal noise (h, w) float32, a random crop of :func:`_noise_tile` (a view)."""
    tile = _noise_tile()
    if h > tile.shape[0] or w > tile.shape[1]:
        tile = np.tile(tile, (h // tile.shape[0] + 1, w // tile.shape[1] + 1))
    y, x = int(rng.integers(tile.shape[0] - h + 1)), int(rng.integers(tile.shape[1] - w + 1))
    out = tile[y : y + h, x : x + w]
    return out.T if rng.random() < 0.5 and h == w else out


def _plane_warp(pattern: np.ndarray, rng: np.random.Generator, h: int, w: int, angle: float,
                tilt: float = 0.25, res: float = 1.0) -> np.ndarray:
    """View a flat texture (a table top) in perspective: the far side of the frame shows more of
    it. ``pattern`` (``res`` of its pixels per frame pixel) must cover a rotated frame."""
    ph, pw = pattern.shape[:2]
    frame = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    c = frame - [w / 2, h / 2]
    k = rng.uniform(0, tilt)
    far = rng.integers(4)  # which frame side is far from the camera
    scale = np.ones(4)
    scale[[far, (far + 1) % 4]] += k
    scale[[(far + 2) % 4, (far + 3) % 4]] -= k * 0.5
    a = np.deg2rad(angle)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    src = (c * scale[:, None] * 0.9 * res) @ rot.T + [pw / 2, ph / 2]
    m = cv2.getPerspectiveTransform(frame, src.astype(np.float32))
    return cv2.warpPerspective(pattern, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT)


def _jitter(rng: np.random.Generator, colour, amount: float = 12) -> np.ndarray:
    return np.clip(np.float32(colour) + rng.uniform(-amount, amount, 3), 0, 255)


# ----------------------------------------------------------------------------------------------
# Backgrounds (procedural): a float32 pattern coloured through a lookup table, uint8 RGB


def _tint(p: np.ndarray, dark, light, gamma: float = 1.0) -> np.ndarray:
    """Colour a [0, 1] pattern (values above 1 saturate) with a ramp from ``dark`` to ``light``;
    uint8 RGB through a lookup table, which is one pass where NumPy broadcasting costs several."""
    t = (np.arange(256, dtype=np.float32) / 255) ** np.float32(gamma)
    lut = np.float32(dark) + t[:, None] * (np.float32(light) - np.float32(dark))
    q = cv2.convertScaleAbs(p, alpha=255)
    return cv2.LUT(cv2.merge([q, q, q]), np.clip(lut, 0, 255).astype(np.uint8).reshape(256, 1, 3))


def _pick(rng: np.random.Generator, options: tuple | list):
    return options[int(rng.integers(len(options)))]


def _bg_wood(rng, h, w):
    # Drawn at half resolution (the plane warp upsamples it): a third of the cost, no visible loss.
    n = int(np.hypot(h, w) * 1.25 * 0.5) + 2
    f = max(h, w) * 0.5  # frame size in pattern pixels
    # Streaks vary fast across the grain (rows) and slowly along it (columns).
    streak = cv2.resize(rng.random((n // int(rng.integers(1, 4)), int(rng.integers(3, 10))), np.float32), (n, n),
                        interpolation=cv2.INTER_LINEAR)
    period = rng.uniform(0.015, 0.1) * f
    warp = (_smooth_noise(rng, n, n, n / rng.uniform(2, 6)) * np.float32(rng.uniform(0.5, 3) * period)
            + _smooth_noise(rng, n, n, n / 12) * np.float32(period * 0.3))
    rows = np.arange(n, dtype=np.float32)[:, None]
    rings = np.sin((rows + warp) * np.float32(2 * np.pi / period)) * 0.5 + 0.5
    p = streak * np.float32(0.6) + rings ** np.float32(rng.uniform(1, 5)) * np.float32(0.4)
    plank = f * rng.uniform(0.15, 0.6)
    p *= (1 + rng.uniform(0, 0.2) * (np.floor(rows / plank) % 3 - 1)).astype(np.float32)
    if rng.random() < 0.7:  # seams between planks
        p[(rows[:, 0] % plank) < max(1.0, n / 400)] *= 0.3
    p = _plane_warp(p, rng, h, w, float(rng.choice([0.0, 90.0]) + rng.normal(0, 12)), res=0.5)
    light = _jitter(rng, _pick(rng, [(205, 160, 110), (225, 190, 140), (120, 75, 45), (75, 50, 35), (185, 175, 160),
                                     (230, 220, 205), (170, 110, 70), (150, 95, 60)]), 12)
    return _tint(p, light * rng.uniform(0.45, 0.8), light, rng.uniform(0.7, 1.5))


def _bg_fabric(rng, h, w):
    period = rng.uniform(2.2, 6)
    xs = np.sin(np.arange(w, dtype=np.float32) * np.float32(2 * np.pi / period))
    ys = np.sin(np.arange(h, dtype=np.float32) * np.float32(2 * np.pi / period * rng.uniform(0.8, 1.2)))
    folds = np.abs(_smooth_noise(rng, h, w, rng.uniform(60, 250) * max(h, w) / 512) - 0.5)
    p = (0.6 + np.float32(rng.uniform(0.1, 0.7)) * folds) + np.outer(ys, xs) * 0.05 + _fine_noise(rng, h, w) * 0.04
    c = _jitter(rng, _pick(rng, [(28, 28, 30), (40, 38, 42), (20, 22, 30), (200, 180, 150), (150, 150, 155),
                                 (40, 50, 90), (95, 35, 35), (45, 70, 50), (215, 205, 190)]), 10)
    return _tint(p * np.float32(1 / 1.3), (0, 0, 0), c * 1.3)


def _bg_mat(rng, h, w):
    c = _jitter(rng, _pick(rng, [(22, 22, 24), (35, 35, 38), (30, 40, 35), (25, 30, 45), (55, 55, 58)]), 8)
    p = 0.75 + 0.15 * _smooth_noise(rng, h, w, max(h, w) / 2) + _fine_noise(rng, h, w) * np.float32(0.01)
    img = _tint(p, (0, 0, 0), c * 1.2)
    if rng.random() < 0.45:  # the desk shows beyond the mat's edge: a straight-edge distractor
        desk = _bg_plain(rng, h, w) if rng.random() < 0.6 else _bg_wood(rng, h, w)
        side = int(rng.integers(4))
        t = rng.uniform(0.05, 0.3)
        edge = np.array([[0, t * h], [w, (t + rng.uniform(-0.1, 0.1)) * h]] if side % 2 == 0 else
                        [[t * w, 0], [(t + rng.uniform(-0.1, 0.1)) * w, h]])
        if side >= 2:
            edge = np.array([w, h]) - edge
        corner = {0: [[w, 0], [0, 0]], 1: [[0, h], [0, 0]], 2: [[0, h], [w, h]], 3: [[w, 0], [w, h]]}[side]
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [_pts(np.vstack([edge, corner]))], 255, cv2.LINE_AA, shift=4)
        a = mask.astype(np.float32) * np.float32(1 / 255)
        img = cv2.blendLinear(desk, img, a, 1 - a)
    return img


def _bg_plain(rng, h, w):
    c = _jitter(rng, _pick(rng, [(240, 240, 238), (248, 248, 246), (225, 225, 222), (215, 205, 185), (190, 190, 188),
                                 (95, 95, 98), (50, 50, 52), (200, 215, 225), (230, 220, 200), (160, 165, 150)]), 8)
    p = _ramp(rng, h, w, 0.25) * np.float32(1 / 1.15) + _fine_noise(rng, h, w) * np.float32(0.005)
    return _tint(p, (0, 0, 0), c * 1.15)


def _ramp(rng: np.random.Generator, h: int, w: int, amount: float) -> np.ndarray:
    """1 +- ``amount`` / 2 along a random direction, float32 (h, w)."""
    a = rng.uniform(0, 2 * np.pi)
    k = np.float32(rng.uniform(0, amount))
    xs = (np.arange(w, dtype=np.float32) / w - 0.5) * np.float32(np.cos(a))
    ys = (np.arange(h, dtype=np.float32)[:, None] / h - 0.5) * np.float32(np.sin(a))
    return 1 + k * (xs + ys)


def _bg_gradient(rng, h, w):
    t = (_ramp(rng, h, w, rng.uniform(0.8, 2)) - 0.5) + _fine_noise(rng, h, w) * np.float32(0.006)
    return _tint(t, rng.uniform(0, 255, 3), rng.uniform(0, 255, 3))


def _bg_stone(rng, h, w):
    p = (0.5 * _smooth_noise(rng, h, w, max(h, w) / 4) + 0.3 * _smooth_noise(rng, h, w, 12)
         + 0.2 * _smooth_noise(rng, h, w, 3))
    r = rng.random((h, w), np.float32)
    dens = rng.uniform(0.01, 0.08)
    p[r < dens] *= np.float32(rng.uniform(0.0, 0.5))  # dark grains
    p[r > 1 - dens] += np.float32(rng.uniform(0.3, 0.8))  # quartz, mica
    p = cv2.GaussianBlur(p, (0, 0), 0.6)
    c = _jitter(rng, _pick(rng, [(120, 120, 118), (60, 58, 60), (25, 25, 28), (190, 175, 155), (150, 135, 130),
                                 (200, 198, 192)]), 10)
    return _tint(p, c * 0.5, np.minimum(c * 1.4 + 10, 255))


def _bg_marble(rng, h, w):
    # Long wavy veins: stripes along a random direction, bent by smooth noise.
    turb = _smooth_noise(rng, h, w, max(h, w) / 3) + 0.4 * _smooth_noise(rng, h, w, max(h, w) / 12)
    a, m = rng.uniform(0, np.pi), np.float32(2 * np.pi * rng.uniform(1.5, 5) / max(h, w))
    u = np.arange(w, dtype=np.float32) * np.float32(np.cos(a)) + np.arange(h, dtype=np.float32)[:, None] * np.float32(
        np.sin(a))
    v = np.abs(np.sin(u * m + turb * np.float32(rng.uniform(1.5, 3))))
    base = _pick(rng, [(235, 233, 228), (215, 215, 212), (40, 40, 42), (225, 215, 200)])
    vein = np.float32((90, 90, 95) if base[0] > 100 else (200, 200, 200))
    base = _jitter(rng, base, 6)
    return _tint(v, base + (vein - base) * rng.uniform(0.3, 0.8), base, rng.uniform(0.1, 0.3))


def _bg_carpet(rng, h, w):
    fine = cv2.GaussianBlur(_fine_noise(rng, h, w), (0, 0), rng.uniform(0.5, 1.0))
    p = 0.8 + 0.12 * fine + 0.25 * (_smooth_noise(rng, h, w, max(h, w) / 3) - 0.5)
    c = _jitter(rng, _pick(rng, [(110, 110, 115), (60, 70, 110), (120, 90, 70), (130, 40, 45), (70, 90, 70),
                                 (180, 170, 150)]), 15)
    return _tint(p * np.float32(1 / 1.3), (0, 0, 0), c * 1.3)


def _bg_tiles(rng, h, w):
    n = int(np.hypot(h, w) * 1.25 * 0.5) + 2
    t = rng.uniform(0.08, 0.3) * n
    cells = int(n / t) + 2
    tone = cv2.resize(rng.uniform(0.9, 1.0, (cells, cells)).astype(np.float32), (int(cells * t), int(cells * t)),
                      interpolation=cv2.INTER_NEAREST)[:n, :n]
    idx = np.arange(n, dtype=np.float32)
    g = max(1.0, t * rng.uniform(0.02, 0.06))
    grout = ((idx % t) < g)[None, :] | ((idx % t) < g)[:, None]
    if rng.random() < 0.2:  # chequered floor
        tone = tone * np.where(((idx // t)[None, :] + (idx // t)[:, None]) % 2 == 0, 1.0, 0.25).astype(np.float32)
    p = np.where(grout, np.float32(0), tone)
    p = _plane_warp(p, rng, h, w, rng.normal(0, 20), tilt=0.35, res=0.5)
    p += _fine_noise(rng, h, w) * np.float32(0.01)
    c = _jitter(rng, _pick(rng, [(235, 235, 232), (190, 110, 80), (110, 110, 115), (215, 200, 175), (170, 200, 210)]),
                10)
    grout_c = _jitter(rng, (150, 145, 140) if c.mean() > 150 else (200, 195, 190), 20)
    return _tint(p, grout_c, c)


_BACKGROUNDS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "wood": _bg_wood, "fabric": _bg_fabric, "mat": _bg_mat, "plain": _bg_plain, "gradient": _bg_gradient,
    "stone": _bg_stone, "marble": _bg_marble, "carpet": _bg_carpet, "tiles": _bg_tiles,
}
_BG_WEIGHTS = {"wood": 3, "fabric": 2, "mat": 2, "plain": 2.5, "gradient": 0.5,
               "stone": 2, "marble": 1, "carpet": 1.5, "tiles": 1.5}


def _background(rng: np.random.Generator, h: int, w: int, split: str) -> np.ndarray:
    """A table top of one of ``split``'s families, uint8 RGB (h, w, 3)."""
    return _BACKGROUNDS[_choice(rng, {k: _BG_WEIGHTS[k] for k in BACKGROUNDS[split]})](rng, h, w)


# ----------------------------------------------------------------------------------------------
# Desk clutter (drawn on the uint8 background before the page) and occluders (after it)

SKIN = ((233, 192, 160), (220, 170, 135), (195, 140, 105), (160, 110, 80), (120, 80, 55), (90, 60, 45))


def _shade(img: np.ndarray, poly: np.ndarray, factor: float, blur: float = 0.0) -> None:
    """Darken (factor < 1) the inside of a polygon, with a soft edge when ``blur`` > 0."""
    h, w = img.shape[:2]
    x0, y0, bw, bh = cv2.boundingRect(np.round(poly).astype(np.int32))
    pad = int(3 * blur) + 2
    x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x0 + bw + pad), min(h, y0 + bh + pad)
    if x1 <= x0 or y1 <= y0:
        return
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [_pts(poly - [x0, y0])], 255, cv2.LINE_AA, shift=4)
    m = m.astype(np.float32) / 255
    if blur > 0:
        m = cv2.GaussianBlur(m, (0, 0), blur)
    roi = img[y0:y1, x0:x1]
    roi[:] = np.clip(roi * (1 - (1 - factor) * m[..., None]), 0, 255).astype(img.dtype)


def _rot_rect(cx, cy, w, h, angle) -> np.ndarray:
    a = np.deg2rad(angle)
    c, s = np.cos(a), np.sin(a)
    pts = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    return pts @ np.array([[c, s], [-s, c]]) + [cx, cy]


def _edge_point(rng, h, w, out: float) -> np.ndarray:
    """A point just outside a random frame edge (objects enter the picture from outside)."""
    side = rng.integers(4)
    t = rng.uniform(0.1, 0.9)
    return np.array([[t * w, -out], [w + out, t * h], [t * w, h + out], [-out, t * h]][side])


def _mug(rng, img, s):
    """A mug seen from above (rim, coffee, handle) or obliquely (body below an elliptic rim)."""
    h, w = img.shape[:2]
    c = rng.uniform([0, 0], [w, h])
    r = s * rng.uniform(0.08, 0.16)
    col = _jitter(rng, _pick(rng, [(240, 240, 235), (30, 30, 35), (180, 40, 40), (40, 90, 160), (230, 200, 60),
                                   (120, 190, 180)]), 15)
    squash = 1.0 if rng.random() < 0.6 else rng.uniform(0.35, 0.7)  # the rim's ellipse, viewed obliquely
    height = 0.0 if squash == 1.0 else r * rng.uniform(1.2, 2.0)

    def fp(v) -> tuple[int, int]:
        return int(v[0] * 16), int(v[1] * 16)

    _shade(img, cv2.ellipse2Poly((int(c[0] + r * 0.3), int(c[1] + r * 0.3 + height)), (int(r * 1.1), int(r * squash)),
                                 0, 0, 360, 10).astype(np.float64), 0.6, blur=r * 0.25)
    axes = (int(r * 16), int(r * squash * 16))
    if height:  # body: a rectangle between the rim and the (hidden) base, darker on one side
        body = np.array([[c[0] - r, c[1]], [c[0] + r, c[1]], [c[0] + r, c[1] + height], [c[0] - r, c[1] + height]])
        cv2.fillPoly(img, [_pts(body)], (col * 0.85).tolist(), cv2.LINE_AA, 4)
        cv2.ellipse(img, fp(c + [0, height]), axes, 0, 0, 180, (col * 0.85).tolist(), -1, cv2.LINE_AA, 4)
        cv2.ellipse(img, fp(c + [r, height * 0.45]), (int(r * 0.35 * 16), int(height * 0.3 * 16)), 0, -90, 90,
                    (col * 0.8).tolist(), max(2, int(r * 0.15)), cv2.LINE_AA, 4)
    else:
        ang = rng.uniform(0, 2 * np.pi)
        hc = c + 1.05 * r * np.array([np.cos(ang), np.sin(ang)])
        cv2.ellipse(img, fp(hc), (int(r * 0.45 * 16), int(r * 0.3 * 16)), float(np.rad2deg(ang)), 0, 360,
                    col.tolist(), max(2, int(r * 0.15)), cv2.LINE_AA, 4)
    cv2.ellipse(img, fp(c), axes, 0, 0, 360, col.tolist(), -1, cv2.LINE_AA, 4)
    inner = (60, 35, 20) if rng.random() < 0.6 else (col * 0.7).tolist()
    cv2.ellipse(img, fp(c), (int(axes[0] * 0.85), int(axes[1] * 0.85)), 0, 0, 360, inner, -1, cv2.LINE_AA, 4)


def _keyboard(rng, img, s):
    h, w = img.shape[:2]
    p = _edge_point(rng, h, w, 0) * 0.85 + np.array([w, h]) * 0.075
    kw, kh = s * rng.uniform(0.7, 1.3), s * rng.uniform(0.25, 0.4)
    ang = rng.uniform(-30, 30) + rng.choice([0, 90])
    body = (35, 35, 38) if rng.random() < 0.6 else (190, 190, 195)
    cv2.fillPoly(img, [_pts(_rot_rect(p[0], p[1], kw, kh, ang))], _jitter(rng, body, 8).tolist(), cv2.LINE_AA, 4)
    key = np.clip(np.float32(body) * (1.5 if body[0] < 100 else 0.85), 0, 255).tolist()
    a = np.deg2rad(ang)
    ux, uy = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
    rows, cols = 5, int(rng.integers(12, 16))
    ks = kw / (cols + 1)
    for i in range(rows):
        for j in range(cols):
            off = ((j + 0.5) - cols / 2) * ks * ux + ((i + 0.5) - rows / 2) * (kh / (rows + 0.5)) * uy
            cv2.fillPoly(img, [_pts(_rot_rect(p[0] + off[0], p[1] + off[1], ks * 0.8, kh / rows * 0.75, ang))], key,
                         cv2.LINE_AA, 4)


def _cable(rng, img, s):
    h, w = img.shape[:2]
    pts = [_edge_point(rng, h, w, 5)]
    for _ in range(int(rng.integers(2, 5))):
        pts.append(pts[-1] * 0.3 + rng.uniform([0, 0], [w, h]) * 0.7)
    pts = np.array(pts)
    t = np.linspace(0, len(pts) - 1, 60)
    curve = np.stack([np.interp(t, np.arange(len(pts)), pts[:, k]) for k in (0, 1)], 1)
    curve = cv2.blur(curve[None].astype(np.float32), (9, 1), borderType=cv2.BORDER_REPLICATE)[0]
    col = [(20, 20, 22), (235, 235, 235), (120, 120, 125)][int(rng.integers(3))]
    th = max(2, int(s * rng.uniform(0.008, 0.02)))
    cv2.polylines(img, [_pts(curve)], False, col, th, cv2.LINE_AA, 4)


def _sheet(rng, img, s, quad=None):
    """Another piece of paper: partly out of frame, or (``quad`` given) a page under the page."""
    h, w = img.shape[:2]
    if quad is not None:
        c = quad.mean(0)
        ang = np.deg2rad(rng.uniform(-25, 25))
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        q = (quad - c) @ rot.T * rng.uniform(0.95, 1.2) + c + rng.normal(0, 0.08 * s, 2)
    else:
        q = _rot_rect(*(_edge_point(rng, h, w, -s * 0.05)), s * rng.uniform(0.4, 0.9), s * rng.uniform(0.5, 1.1),
                      rng.uniform(0, 180))
    col = _jitter(rng, [(245, 245, 242), (240, 235, 215), (225, 225, 222), (250, 240, 170)][int(rng.integers(4))], 8)
    _shade(img, q + s * 0.01, 0.75, blur=s * 0.01)
    cv2.fillPoly(img, [_pts(q)], col.tolist(), cv2.LINE_AA, 4)
    for k in range(int(rng.integers(0, 12))):  # a few text-like lines
        t0, t1 = 0.1 + 0.06 * k, rng.uniform(0.5, 0.9)
        if t0 > 0.9:
            break
        a = q[0] + (q[3] - q[0]) * t0 + (q[1] - q[0]) * 0.1
        b = q[0] + (q[3] - q[0]) * t0 + (q[1] - q[0]) * t1
        cv2.line(img, tuple(int(v * 16) for v in a), tuple(int(v * 16) for v in b), (col * 0.6).tolist(),
                 max(1, int(s / 250)), cv2.LINE_AA, 4)


def _phone(rng, img, s):
    h, w = img.shape[:2]
    c = rng.uniform([0, 0], [w, h])
    pw, ph, ang = s * rng.uniform(0.15, 0.22), s * rng.uniform(0.3, 0.45), rng.uniform(0, 180)
    cv2.fillPoly(img, [_pts(_rot_rect(c[0], c[1], pw, ph, ang))], (20, 20, 24), cv2.LINE_AA, 4)
    scr = (30, 40, 60) if rng.random() < 0.7 else tuple(rng.uniform(60, 200, 3).tolist())
    cv2.fillPoly(img, [_pts(_rot_rect(c[0], c[1], pw * 0.88, ph * 0.9, ang))], scr, cv2.LINE_AA, 4)


def _pen(rng, img, s, target=None):
    h, w = img.shape[:2]
    a = rng.uniform([0, 0], [w, h]) if target is None else target
    ang = rng.uniform(0, 2 * np.pi)
    length = s * rng.uniform(0.3, 0.55)
    b = a + length * np.array([np.cos(ang), np.sin(ang)])
    col = [(20, 40, 140), (20, 20, 25), (170, 25, 25), (200, 200, 205), (230, 190, 40)][int(rng.integers(5))]
    th = max(2, int(s * rng.uniform(0.018, 0.03)))
    _shade(img, np.array([a, b, b + [th, th], a + [th, th]]), 0.7, blur=th * 0.6)
    cv2.line(img, tuple(int(v * 16) for v in a), tuple(int(v * 16) for v in b), col, th, cv2.LINE_AA, 4)
    tip = a - 0.08 * length * np.array([np.cos(ang), np.sin(ang)])
    cv2.line(img, tuple(int(v * 16) for v in a), tuple(int(v * 16) for v in tip), (190, 190, 190),
             max(1, th // 2), cv2.LINE_AA, 4)
    hl = (np.float32(col) * 0.5 + 120).tolist()
    cv2.line(img, tuple(int(v * 16) for v in a), tuple(int(v * 16) for v in b), hl, max(1, th // 4), cv2.LINE_AA, 4)


def _book(rng, img, s):
    h, w = img.shape[:2]
    c = _edge_point(rng, h, w, -s * 0.1)
    q = _rot_rect(c[0], c[1], s * rng.uniform(0.4, 0.7), s * rng.uniform(0.55, 0.9), rng.uniform(0, 180))
    _shade(img, q + s * 0.015, 0.6, blur=s * 0.015)
    cv2.fillPoly(img, [_pts(q)], rng.uniform(20, 220, 3).tolist(), cv2.LINE_AA, 4)


def _sticky(rng, img, s):
    h, w = img.shape[:2]
    c = rng.uniform([0, 0], [w, h])
    side = s * rng.uniform(0.1, 0.2)
    col = [(250, 240, 120), (250, 190, 200), (170, 230, 250), (190, 245, 160)][int(rng.integers(4))]
    cv2.fillPoly(img, [_pts(_rot_rect(c[0], c[1], side, side, rng.uniform(0, 90)))], col, cv2.LINE_AA, 4)


_CLUTTER = {"mug": (_mug, 2.0), "keyboard": (_keyboard, 1.0), "cable": (_cable, 1.5), "sheet": (_sheet, 1.5),
            "phone": (_phone, 1.0), "pen": (_pen, 1.5), "book": (_book, 1.0), "sticky": (_sticky, 0.7)}


def _clutter(rng: np.random.Generator, img: np.ndarray, quad: np.ndarray | None, kind: str | None) -> bool:
    """Objects on the table, and a page under the page or a hand under a card; True when the
    page is held in a hand (a thumb then goes on top of it)."""
    h, w = img.shape[:2]
    s = float(min(h, w))
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 4))):
            _CLUTTER[_choice(rng, {k: v[1] for k, v in _CLUTTER.items()})][0](rng, img, s)
    if quad is None:
        return False
    if kind not in ("card", "notecard", "receipt") and rng.random() < 0.07:
        _sheet(rng, img, s, quad)
    if kind in ("card", "notecard", "receipt") and rng.random() < 0.3:  # held in a hand: palm and wrist behind it
        size = min(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[3] - quad[0]))
        palm = quad.mean(0) + rng.normal(0, 0.15 * size, 2)
        edge = _edge_point(rng, h, w, size * 0.5)
        skin = _jitter(rng, _pick(rng, SKIN), 10)
        ang = float(np.rad2deg(np.arctan2(*(edge - palm)[::-1])))
        _shade(img, cv2.ellipse2Poly((int(palm[0] + size * 0.1), int(palm[1] + size * 0.1)),
                                     (int(size * 0.85), int(size * 0.7)), int(ang), 0, 360, 10).astype(np.float64),
                 0.7, blur=size * 0.15)
        wrist = size * rng.uniform(0.6, 0.8)
        for k, f in ((1.0, 0.8), (0.8, 1.0)):  # darker flanks: a round forearm
            cv2.line(img, (int(edge[0] * 16), int(edge[1] * 16)), (int(palm[0] * 16), int(palm[1] * 16)),
                     (skin * f).tolist(), int(wrist * k), cv2.LINE_AA, 4)
        cv2.ellipse(img, (int(palm[0] * 16), int(palm[1] * 16)), (int(size * 0.8 * 16), int(size * 0.62 * 16)), ang,
                    0, 360, skin.tolist(), -1, cv2.LINE_AA, 4)
        return True
    return False


def _hand(rng: np.random.Generator, img: np.ndarray, quad: np.ndarray) -> None:
    """Fingers over one page edge, from a palm beyond it (a hand holding or pinning the page)."""
    s = float(min(img.shape[:2]))
    k = int(rng.integers(4))
    p = quad[k] + (quad[(k + 1) % 4] - quad[k]) * rng.uniform(0.15, 0.85)
    inward = quad.mean(0) - p
    inward /= np.linalg.norm(inward) + 1e-6
    inward = inward + rng.normal(0, 0.25, 2)  # fingers are rarely square to the edge
    inward /= np.linalg.norm(inward)
    side = np.array([-inward[1], inward[0]])
    th = s * rng.uniform(0.04, 0.07)
    length = s * rng.uniform(0.15, 0.28)
    skin = _jitter(rng, _pick(rng, SKIN), 10)
    dark = (skin * 0.7).tolist()
    n = int(rng.integers(1, 5))
    reach = th * rng.uniform(0.2, 2.0)
    tips = [p + inward * (reach - th * 0.4 * abs(i - (n - 1) / 2)) + side * th * 1.05 * (i - (n - 1) / 2)
            for i in range(n)]
    palm = p - inward * (length + th * 1.5)
    axes = (int((n * th * 0.6 + th) * 16), int(length * 0.9 * 16))
    ang = float(np.rad2deg(np.arctan2(inward[1], inward[0]))) + 90
    shadow = np.array([t for t in tips] + [palm - side * th * 2, palm + side * th * 2]) + th * 0.4
    _shade(img, cv2.convexHull(shadow.astype(np.float32))[:, 0].astype(np.float64), 0.6, blur=th * 0.5)

    def fp(v: np.ndarray) -> tuple[int, int]:
        return int(v[0] * 16), int(v[1] * 16)

    cv2.ellipse(img, fp(palm), axes, ang, 0, 360, skin.tolist(), -1, cv2.LINE_AA, 4)
    for tip in tips:
        base = tip - inward * length * rng.uniform(0.9, 1.1)
        cv2.line(img, fp(base), fp(tip), dark, int(th) + 2, cv2.LINE_AA, 4)
        cv2.line(img, fp(base), fp(tip), np.clip(skin * rng.uniform(0.95, 1.05), 0, 255).tolist(), int(th),
                 cv2.LINE_AA, 4)
        nail = tip - inward * th * 0.2
        cv2.ellipse(img, fp(nail), (int(th * 0.28 * 16), int(th * 0.2 * 16)), ang - 90, 0, 360,
                    np.clip(skin * 1.08 + 20, 0, 255).tolist(), -1, cv2.LINE_AA, 4)


def _occluders(rng: np.random.Generator, img: np.ndarray, quad: np.ndarray | None, held: bool = False) -> None:
    """Fingers and pens on top of the page (the corners stay where the page's are)."""
    if quad is None:
        return
    if rng.random() < (0.8 if held else 0.1):
        _hand(rng, img, quad)
    if rng.random() < 0.05:  # a pen lying across the page
        _pen(rng, img, float(min(img.shape[:2])), target=quad.mean(0) + rng.normal(0, 0.1 * min(img.shape[:2]), 2))


# ----------------------------------------------------------------------------------------------
# Pages


PAPER = {(250, 250, 248): 5.0, (246, 241, 225): 1.2, (232, 232, 230): 1.0, (250, 240, 175): 0.4,
         (248, 225, 230): 0.4, (225, 236, 248): 0.4, (228, 244, 225): 0.3}
DARK_PAPER = ((225, 120, 40), (200, 50, 45), (40, 80, 160), (40, 120, 70), (60, 60, 65), (25, 25, 28),
              (110, 60, 140), (30, 130, 140), (230, 180, 40))
ACCENT = ((190, 30, 35), (25, 70, 170), (30, 120, 60), (220, 120, 20), (110, 40, 140), (20, 20, 20), (0, 120, 150))


class _Page:
    """Paper colour, filled shapes on ``rgb`` and ink coverage layers blended at the end."""

    def __init__(self, h: int, w: int, paper, fonts: _Fonts, rng: np.random.Generator):
        self.h, self.w, self.u = h, w, w / 100
        self.paper = np.float32(paper)
        self.rgb = np.empty((h, w, 3), np.uint8)
        self.rgb[:] = np.round(self.paper).astype(np.uint8)
        self.alpha = np.full((h, w), 255, np.uint8)
        # Page corners in canvas pixels; moved where an edge is serrated (line through the teeth).
        self.src = np.float32([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
        self.fonts, self.rng = fonts, rng
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []
        dark = float(self.paper.mean()) < 140
        self.ink = self.layer((235, 235, 235) if dark else _jitter(rng, (28, 28, 32), 18))
        self.accent = self.layer(ACCENT[int(rng.integers(len(ACCENT)))])
        self.font = fonts.pick(rng, "print")
        self.bold = fonts.pick(rng, "print")

    def layer(self, colour) -> np.ndarray:
        m = np.zeros((self.h, self.w), np.uint8)
        self.layers.append((m, np.float32(colour)))
        return m

    def fill(self, poly, colour, multiply: bool = False) -> None:
        """Paint a polygon on the paper (under the ink); ``multiply`` tints like a highlighter."""
        colour = [float(c) for c in colour]
        if not multiply:
            cv2.fillPoly(self.rgb, [_pts(poly)], colour, cv2.LINE_AA, 4)
            return
        m = np.zeros((self.h, self.w), np.uint8)
        cv2.fillPoly(m, [_pts(poly)], 255, cv2.LINE_AA, 4)
        x, y, bw, bh = cv2.boundingRect(m)
        if bw:
            roi = self.rgb[y : y + bh, x : x + bw]
            a = m[y : y + bh, x : x + bw].astype(np.float32) * np.float32(1 / 255)
            tinted = (roi * (np.float32(colour) / 255)).astype(np.uint8)
            roi[:] = cv2.blendLinear(tinted, roi, a, 1 - a)

    def finish(self) -> np.ndarray:
        """Blend the ink layers into the paper and add paper grain; uint8 RGB."""
        for m, colour in self.layers:
            x, y, bw, bh = cv2.boundingRect(m)
            if bw == 0:
                continue
            roi = self.rgb[y : y + bh, x : x + bw]
            a = m[y : y + bh, x : x + bw].astype(np.float32) * np.float32(1 / 255)
            ink = np.empty_like(roi)
            ink[:] = np.round(colour).astype(np.uint8)
            roi[:] = cv2.blendLinear(ink, roi, a, 1 - a)
        amount = self.rng.uniform(0, 14)
        grain = _smooth_noise(self.rng, self.h, self.w, max(self.h, self.w) / 6) - np.float32(0.5)
        return cv2.addWeighted(self.rgb, 1.0, cv2.merge([grain, grain, grain]), amount, 0, dtype=cv2.CV_8U)


def _px(v: float) -> int:
    return int(max(4, round(v)))


def _paragraph(pg: _Page, y: float, x0: float, x1: float, body: int, lines: int, layer=None, font=None) -> float:
    rng = pg.rng
    layer = pg.ink if layer is None else layer
    font = font or pg.font
    lead = body * rng.uniform(1.25, 1.8)
    for i in range(lines):
        if y + body > pg.h:
            break
        ind = body * 2 if i == 0 and rng.random() < 0.3 else 0
        width = (x1 - x0 - ind) * (rng.uniform(0.2, 0.9) if i == lines - 1 else rng.uniform(0.93, 1.0))
        _text(layer, rng, font, body, x0 + ind, y, width)
        y += lead
    return y


def _blk_paragraph(pg, y, x0, x1, body):
    rng = pg.rng
    if rng.random() < 0.2 and x1 - x0 > 40 * body:  # two columns
        mid = (x0 + x1) / 2
        n = int(rng.integers(4, 14))
        return max(_paragraph(pg, y, x0, mid - body, body, n), _paragraph(pg, y, mid + body, x1, body, n))
    return _paragraph(pg, y, x0, x1, body, int(rng.integers(2, 9)))


def _blk_heading(pg, y, x0, x1, body):
    rng = pg.rng
    px = body * rng.uniform(1.2, 1.8)
    layer = pg.accent if rng.random() < 0.3 else pg.ink
    return y + _text(layer, rng, pg.bold, px, x0, y, (x1 - x0) * rng.uniform(0.2, 0.6)) * 1.3


def _blk_bullets(pg, y, x0, x1, body):
    rng = pg.rng
    for _ in range(int(rng.integers(2, 7))):
        cv2.circle(pg.ink, (int((x0 + body) * 16), int((y + body * 0.6) * 16)), int(body * 0.22 * 16) + 8, 255, -1,
                   cv2.LINE_AA, 4)
        y = _paragraph(pg, y, x0 + body * 2.2, x1, body, int(rng.integers(1, 3)))
    return y


def _blk_table(pg, y, x0, x1, body, rows=None):
    rng = pg.rng
    rows = rows or int(rng.integers(3, 12))
    cols = int(rng.integers(2, 7))
    rh = body * rng.uniform(1.6, 2.4)
    edges = np.sort(np.concatenate([[0, 1], rng.uniform(0.1, 0.9, cols - 1)])) * (x1 - x0) + x0
    th = max(1, int(round(pg.u * 0.15)))
    y1 = min(pg.h - pg.u * 3, y + rows * rh)
    if rng.random() < 0.5:  # shaded header row
        pg.fill([[x0, y], [x1, y], [x1, y + rh], [x0, y + rh]], pg.paper * rng.uniform(0.75, 0.92))
    vertical = rng.random() < 0.7
    for r in range(rows + 1):
        yy = y + r * rh
        if yy > y1 + 1:
            break
        if r in (0, 1, rows) or rng.random() < 0.8:
            cv2.line(pg.ink, (int(x0 * 16), int(yy * 16)), (int(x1 * 16), int(yy * 16)), 255, th, cv2.LINE_AA, 4)
        if r < rows and yy + rh <= y1 + 1:
            for c in range(cols):
                cw = edges[c + 1] - edges[c]
                if rng.random() < 0.85:
                    font = pg.bold if r == 0 else pg.font
                    align = "right" if c > 0 and rng.random() < 0.5 else "left"
                    _text(pg.ink, rng, font, body, edges[c] + body * 0.4, yy + (rh - body * 1.2) / 2,
                          (cw - body * 0.8) * rng.uniform(0.3, 1.0), align)
    if vertical:
        for e in edges:
            cv2.line(pg.ink, (int(e * 16), int(y * 16)), (int(e * 16), int(min(y + rows * rh, y1) * 16)), 255, th,
                     cv2.LINE_AA, 4)
    return y + rows * rh


def _blk_photo(pg, y, x0, x1, body):
    rng = pg.rng
    pw = (x1 - x0) * rng.uniform(0.3, 1.0)
    ph = min(pw * rng.uniform(0.4, 0.9), pg.h - y - pg.u * 4)
    if ph < body * 2:
        return y
    xa = x0 + (x1 - x0 - pw) * rng.choice([0.0, 0.5, 1.0])
    ya, xi = int(y), int(xa)
    region = pg.rgb[ya : ya + int(ph), xi : xi + int(pw)]
    if region.size:
        region[:] = _picture(rng, *region.shape[:2])
    y += ph + body * 0.5
    return _paragraph(pg, y, xa, xa + pw, _px(body * 0.85), int(rng.integers(0, 3)))


def _picture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A printed photo, roughly: sky over ground with a horizon, a few soft blobs, some texture."""
    sky, ground = rng.uniform(60, 230, 3), rng.uniform(20, 180, 3)
    col = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None] * np.float32(rng.uniform(2, 20))
    t = np.repeat(np.clip(col + np.float32(rng.uniform(-1, 1) + 0.5), 0, 1), w, axis=1)
    img = _tint(t, sky, ground)
    for _ in range(int(rng.integers(0, 5))):
        c = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        ax = (max(1, int(rng.uniform(0.05, 0.3) * w)), max(1, int(rng.uniform(0.05, 0.4) * h)))
        cv2.ellipse(img, c, ax, rng.uniform(0, 180), 0, 360, rng.uniform(0, 255, 3).tolist(), -1, cv2.LINE_AA)
    img = cv2.GaussianBlur(img, (0, 0), max(0.5, min(h, w) * rng.uniform(0.005, 0.03)))
    tex = _smooth_noise(rng, h, w, max(2.0, w / 40)) - np.float32(0.5)
    return cv2.addWeighted(img, 1.0, cv2.merge([tex, tex, tex]), rng.uniform(5, 30), 0, dtype=cv2.CV_8U)


def _blk_fields(pg, y, x0, x1, body):
    rng = pg.rng
    th = max(1, int(round(pg.u * 0.12)))
    boxes = rng.random() < 0.4
    for _ in range(int(rng.integers(2, 8))):
        lw = (x1 - x0) * rng.uniform(0.12, 0.3)
        _text(pg.ink, rng, pg.font, body, x0, y, lw)
        xa = x0 + lw + body
        xb = x1 if rng.random() < 0.7 else xa + (x1 - xa) * rng.uniform(0.3, 0.7)
        if boxes:
            cv2.rectangle(pg.ink, (int(xa * 16), int((y - body * 0.4) * 16)),
                          (int(xb * 16), int((y + body * 1.5) * 16)), 255, th, cv2.LINE_AA, 4)
        else:
            cv2.line(pg.ink, (int(xa * 16), int((y + body * 1.2) * 16)), (int(xb * 16), int((y + body * 1.2) * 16)),
                     255, th, cv2.LINE_AA, 4)
        if rng.random() < 0.3:
            hand = pg.layer((25, 40, 140) if rng.random() < 0.6 else (20, 20, 25))
            _text(hand, rng, pg.fonts.pick(rng, "hand"), body * 1.4, xa + body, y - body * 0.5,
                  (xb - xa) * rng.uniform(0.3, 0.8), slope=rng.normal(0, 0.02))
        y += body * rng.uniform(2.2, 3.2)
    return y


def _blk_checks(pg, y, x0, x1, body):
    rng = pg.rng
    for _ in range(int(rng.integers(2, 6))):
        b = body * 0.9
        cv2.rectangle(pg.ink, (int(x0 * 16), int(y * 16)), (int((x0 + b) * 16), int((y + b) * 16)), 255,
                      max(1, int(pg.u * 0.12)), cv2.LINE_AA, 4)
        if rng.random() < 0.4:
            cv2.line(pg.ink, (int(x0 * 16), int(y * 16)), (int((x0 + b) * 16), int((y + b) * 16)), 255,
                     max(1, int(pg.u * 0.2)), cv2.LINE_AA, 4)
        _text(pg.ink, rng, pg.font, body, x0 + b * 1.8, y - body * 0.15, (x1 - x0) * rng.uniform(0.2, 0.7))
        y += body * 2
    return y


def _blk_likert(pg, y, x0, x1, body):
    """Survey rows: a question and a row of answer bubbles (as in OMR survey forms)."""
    rng = pg.rng
    k = int(rng.integers(4, 7))
    qx = x0 + (x1 - x0) * rng.uniform(0.45, 0.6)
    r = body * 0.55
    for _ in range(int(rng.integers(3, 10))):
        _text(pg.ink, rng, pg.font, body, x0, y, (qx - x0) * rng.uniform(0.5, 1.0), "right" if rng.random() < 0.5 else
              "left")
        for j in range(k):
            cx = qx + body + j * (x1 - qx - body) / k + r
            cv2.circle(pg.ink, (int(cx * 16), int((y + body * 0.6) * 16)), int(r * 16), 255, max(1, int(pg.u * 0.1)),
                       cv2.LINE_AA, 4)
        y += body * rng.uniform(1.8, 2.6)
    return y


def _blk_bubbles(pg, y, x0, x1, body):
    """An OMR answer grid: columns of numbered rows of bubbles, a few filled in."""
    rng = pg.rng
    cols = int(rng.integers(1, 5))
    opts = int(rng.integers(4, 6))
    rows = int(rng.integers(5, 26))
    r = body * rng.uniform(0.45, 0.65)
    pitch = r * rng.uniform(2.3, 3.0)
    cw = (x1 - x0) / cols
    fill = rng.uniform(0.0, 0.3)
    th = max(1, int(pg.u * 0.1))
    for c in range(cols):
        xc = x0 + c * cw
        for i in range(rows):
            yy = y + i * pitch
            if yy + pitch > pg.h - pg.u * 5:
                break
            _text(pg.ink, rng, pg.font, body * 0.8, xc, yy - r * 0.8, body * 1.5)
            for j in range(opts):
                ctr = (int((xc + body * 2 + j * pitch + r) * 16), int(yy * 16))
                cv2.circle(pg.ink, ctr, int(r * 16), 255, -1 if rng.random() < fill else th, cv2.LINE_AA, 4)
    return y + rows * pitch


def _blk_hand(pg, y, x0, x1, body):
    rng = pg.rng
    hand = pg.layer((25, 45, 150) if rng.random() < 0.6 else (25, 25, 30))
    font = pg.fonts.pick(rng, "hand")
    px = body * rng.uniform(1.4, 2.4)
    for _ in range(int(rng.integers(1, 4))):
        _text(hand, rng, font, px, x0 + rng.uniform(0, 0.3) * (x1 - x0), y, (x1 - x0) * rng.uniform(0.2, 0.6),
              slope=rng.normal(0, 0.03))
        y += px * 1.3
    return y


def _qr(pg: _Page, x: float, y: float, side: float, layer=None) -> None:
    rng = pg.rng
    n = int(rng.integers(21, 34))
    bits = (rng.random((n, n)) < 0.5).astype(np.uint8) * 255
    for fy, fx in ((0, 0), (0, n - 7), (n - 7, 0)):  # finder patterns
        bits[fy : fy + 7, fx : fx + 7] = 255
        bits[fy + 1 : fy + 6, fx + 1 : fx + 6] = 0
        bits[fy + 2 : fy + 5, fx + 2 : fx + 5] = 255
    s = max(n, int(side))
    _paste(pg.ink if layer is None else layer, cv2.resize(bits, (s, s), interpolation=cv2.INTER_NEAREST), x, y)


def _blk_qr(pg, y, x0, x1, body):
    side = pg.u * pg.rng.uniform(8, 16)
    _qr(pg, x0 if pg.rng.random() < 0.4 else x1 - side, y, side)
    return y + side


def _barcode(pg: _Page, x: float, y: float, w: float, h: float) -> None:
    bars = np.repeat(pg.rng.random(int(w / max(1.0, pg.u * 0.4))) < 0.5, max(1, int(pg.u * 0.4)))
    if bars.size:
        _paste(pg.ink, np.broadcast_to(bars.astype(np.uint8) * 255, (max(1, int(h)), bars.size)).copy(), x, y)


def _blk_rule(pg, y, x0, x1, body):
    cv2.line(pg.ink, (int(x0 * 16), int(y * 16)), (int(x1 * 16), int(y * 16)), 255, max(1, int(pg.u * 0.2)),
             cv2.LINE_AA, 4)
    return y + body * 0.5


_BLOCKS = {"paragraph": _blk_paragraph, "heading": _blk_heading, "bullets": _blk_bullets, "table": _blk_table,
           "photo": _blk_photo, "fields": _blk_fields, "checks": _blk_checks, "likert": _blk_likert,
           "bubbles": _blk_bubbles, "hand": _blk_hand, "qr": _blk_qr, "rule": _blk_rule}


def _blocks(pg: _Page, y: float, x0: float, x1: float, y_end: float, body: int, weights: dict[str, float]) -> float:
    while y < y_end - 3 * body:
        y = _BLOCKS[_choice(pg.rng, weights)](pg, y, x0, x1, body) + body * pg.rng.uniform(0.8, 2.2)
    return y


def _margins(pg: _Page, lo: float = 6, hi: float = 13) -> tuple[float, float, float, float]:
    mx, my = pg.u * pg.rng.uniform(lo, hi), pg.u * pg.rng.uniform(lo, hi)
    return mx, pg.w - mx, my, pg.h - my


def _frame(pg: _Page, margins: tuple[float, float], body: tuple[float, float]) -> tuple[float, ...]:
    """``(x0, x1, y, y_end, body)``: the text area inside random margins and a random body-text size."""
    x0, x1, y, y_end = _margins(pg, *margins)
    return x0, x1, y, y_end, _px(pg.u * pg.rng.uniform(*body))


def _title(pg: _Page, y: float, x0: float, x1: float, body: int) -> float:
    rng = pg.rng
    px = body * rng.uniform(1.6, 3.0)
    align = ["left", "center"][int(rng.integers(2))]
    layer = pg.accent if rng.random() < 0.35 else pg.ink
    return y + _text(layer, rng, pg.bold, px, x0, y, (x1 - x0) * rng.uniform(0.3, 0.9), align) * 1.2 + body


def _doc_letter(pg: _Page) -> None:
    rng = pg.rng
    x0, x1, y, y_end, body = _frame(pg, (6, 13), (1.4, 2.2))
    if rng.random() < 0.5:  # letterhead: logo and sender address
        side = pg.u * rng.uniform(5, 10)
        if rng.random() < 0.5:
            cv2.circle(pg.accent, (int((x0 + side / 2) * 16), int((y + side / 2) * 16)), int(side / 2 * 16), 255, -1,
                       cv2.LINE_AA, 4)
        else:
            pg.fill([[x0, y], [x0 + side, y], [x0 + side, y + side], [x0, y + side]],
                    ACCENT[int(rng.integers(len(ACCENT)))])
        yy = y
        for _ in range(int(rng.integers(2, 5))):
            yy += _text(pg.ink, rng, pg.font, body * 0.9, x1 - (x1 - x0) * 0.4, yy, (x1 - x0) * 0.4, "right") * 1.2
        y = max(y + side, yy) + body * 2
    if rng.random() < 0.75:
        y = _title(pg, y, x0, x1, body)
    _blocks(pg, y, x0, x1, y_end, body, {"paragraph": 6, "heading": 1.2, "bullets": 1, "table": 0.6, "photo": 0.5,
                                         "hand": 0.4, "qr": 0.2, "rule": 0.3})


def _doc_form(pg: _Page) -> None:
    x0, x1, y, y_end, body = _frame(pg, (5, 10), (1.4, 2.2))
    y = _title(pg, y, x0, x1, body)
    _blocks(pg, y, x0, x1, y_end, body, {"fields": 3, "checks": 1, "likert": 1.5, "table": 1, "paragraph": 1.5,
                                         "heading": 1, "qr": 0.3, "rule": 0.5})


def _doc_table(pg: _Page) -> None:
    rng = pg.rng
    x0, x1, y, y_end, body = _frame(pg, (4, 10), (1.2, 2.0))
    y = _title(pg, y, x0, x1, body)
    while y < y_end - 6 * body:
        rows = int(min(40, (y_end - y) / (body * 2.2)) * rng.uniform(0.4, 1.0)) + 1
        y = _blk_table(pg, y, x0, x1, body, rows) + body * 2


def _doc_omr(pg: _Page) -> None:
    rng = pg.rng
    x0, x1, y, y_end, body = _frame(pg, (5, 10), (1.3, 2.0))
    if rng.random() < 0.7:  # corner registration marks
        m = pg.u * rng.uniform(2, 5)
        d = pg.u * rng.uniform(2, 5)
        square = rng.random() < 0.5
        for cx, cy in ((d, d), (pg.w - d - m, d), (pg.w - d - m, pg.h - d - m), (d, pg.h - d - m)):
            if square:
                pg.fill([[cx, cy], [cx + m, cy], [cx + m, cy + m], [cx, cy + m]], (20, 20, 20))
            else:
                cv2.circle(pg.ink, (int((cx + m / 2) * 16), int((cy + m / 2) * 16)), int(m / 2 * 16), 255, -1,
                           cv2.LINE_AA, 4)
    y = _title(pg, y, x0, x1, body)
    if rng.random() < 0.6:
        y = _paragraph(pg, y, x0, x1, body, int(rng.integers(1, 5))) + body
    if rng.random() < 0.5:
        y = _blk_fields(pg, y, x0, x1, body)
    _blocks(pg, y, x0, x1, y_end, body, {"bubbles": 4, "likert": 1, "paragraph": 0.5, "qr": 0.3})


def _grid(start: float, stop: float, step: float) -> np.ndarray:
    """Integer positions start, start + step, ... below ``stop`` (ruling lines)."""
    return np.arange(start, stop, max(step, 1.0)).astype(np.int64).clip(0, int(stop) - 1)


def _doc_notes(pg: _Page) -> None:
    rng = pg.rng
    u = pg.u
    style = ["ruled", "grid", "grid", "plain", "dots"][int(rng.integers(5))]
    gap = u * rng.uniform(2.5, 5.0)
    line = pg.layer(_jitter(rng, [(120, 160, 210), (150, 150, 150), (120, 180, 150)][int(rng.integers(3))], 15))
    strength = int(rng.integers(90, 200))
    if style == "grid":
        ox, oy = rng.uniform(0, gap, 2)
        line[:, _grid(ox, pg.w, gap)] = strength
        line[_grid(oy, pg.h, gap), :] = strength
    elif style == "dots":
        line[_grid(gap, pg.h, gap), :: max(2, int(gap))] = 255
    elif style == "ruled":
        top = u * rng.uniform(6, 14)
        line[_grid(top, pg.h - u, gap), :] = strength
        if rng.random() < 0.7:  # red margin line
            margin = pg.layer((220, 90, 90))
            margin[:, int(u * rng.uniform(8, 15))] = strength
    hand = pg.layer((25, 45, 150) if rng.random() < 0.5 else (30, 30, 35))
    font = pg.fonts.pick(rng, "hand")
    px = gap * rng.uniform(0.7, 1.0) if style != "plain" else u * rng.uniform(2.5, 4)
    x0, x1 = u * rng.uniform(5, 15), pg.w - u * rng.uniform(3, 10)
    y = u * rng.uniform(5, 12)
    fill = rng.uniform(0.3, 1.0)
    while y < pg.h - px * 2:
        if rng.random() < fill:
            if rng.random() < 0.08:  # highlighter over a line
                pg.fill([[x0, y], [x1 * 0.8, y], [x1 * 0.8, y + px], [x0, y + px]],
                        [(255, 240, 90), (255, 190, 110), (170, 240, 140)][int(rng.integers(3))], multiply=True)
            indent = x0 + (u * rng.uniform(0, 10) if rng.random() < 0.3 else 0)
            _text(hand, rng, font, px, indent, y - px * 0.3, (x1 - indent) * rng.uniform(0.3, 1.0),
                  slope=rng.normal(0, 0.015))
        y += gap if style != "plain" else px * 1.4
    if rng.random() < 0.25:  # punched holes: the table shows through
        r = u * rng.uniform(1.5, 2.5)
        hx = u * rng.uniform(3, 5)
        for t in (0.25, 0.5, 0.75) if rng.random() < 0.5 else (0.3, 0.7):
            cv2.circle(pg.alpha, (int(hx * 16), int(t * pg.h * 16)), int(r * 16), 0, -1, cv2.LINE_AA, 4)


def _serrate(pg: _Page, side: int, torn: bool) -> None:
    """Tear-off edge on the top (0) or bottom (2): teeth around the edge line, which moves to
    their middle (the annotation's line through the serration)."""
    rng = pg.rng
    pitch = pg.w * rng.uniform(0.02, 0.05)
    amp = pitch * rng.uniform(0.3, 0.7) if not torn else pg.w * rng.uniform(0.005, 0.02)
    xs = np.arange(0, pg.w + pitch, pitch / 2)
    depth = np.where(np.arange(len(xs)) % 2 == 0, 0.0, amp) if not torn else rng.uniform(0, amp, len(xs))
    if side == 0:
        poly = np.vstack([[[-1, -1]], np.stack([xs, depth - 0.5], 1), [[pg.w + 1, -1]]])
        pg.src[[0, 1], 1] = amp / 2 - 0.5
    else:
        poly = np.vstack([[[-1, pg.h + 1]], np.stack([xs, pg.h - 0.5 - depth], 1), [[pg.w + 1, pg.h + 1]]])
        pg.src[[2, 3], 1] = pg.h - 0.5 - amp / 2
    cv2.fillPoly(pg.alpha, [_pts(poly)], 0, cv2.LINE_AA, 4)


def _doc_receipt(pg: _Page) -> None:
    rng = pg.rng
    u = pg.u
    font = pg.fonts.pick(rng, "mono")
    body = _px(u * rng.uniform(3.5, 5.5))
    x0, x1 = u * rng.uniform(4, 9), pg.w - u * rng.uniform(4, 9)
    y = u * rng.uniform(6, 14)
    y += _text(pg.ink, rng, pg.bold, body * 1.6, x0, y, x1 - x0, "center") * 1.3
    for _ in range(int(rng.integers(2, 5))):
        y += _text(pg.ink, rng, font, body, x0, y, (x1 - x0) * rng.uniform(0.5, 0.9), "center") * 1.25
    lead = body * rng.uniform(1.25, 1.6)
    while y < pg.h - u * 25:
        r = rng.random()
        if r < 0.1:
            y += body * 0.5
            for x in np.arange(x0, x1, body * 0.6):
                cv2.line(pg.ink, (int(x * 16), int(y * 16)), (int((x + body * 0.35) * 16), int(y * 16)), 255,
                         max(1, int(u * 0.3)), cv2.LINE_AA, 4)
            y += body * 0.7
        else:
            _text(pg.ink, rng, font, body, x0, y, (x1 - x0) * rng.uniform(0.3, 0.65))
            _text(pg.ink, rng, font, body, x1 - body * 5, y, body * 5, "right")  # the price column
            y += lead
    if rng.random() < 0.5:
        _barcode(pg, x0 + (x1 - x0) * 0.15, y, (x1 - x0) * 0.7, u * 10)
    elif rng.random() < 0.4:
        _qr(pg, (pg.w - u * 30) / 2, y, u * 30)
    if rng.random() < 0.5:
        _serrate(pg, 2, torn=False)
    if rng.random() < 0.4:
        _serrate(pg, 0, torn=True)


def _round_corners(pg: _Page, radius: float) -> None:
    r = max(1.0, radius)
    m = np.zeros_like(pg.alpha)
    w, h = pg.w - 1, pg.h - 1
    cv2.rectangle(m, (int(r * 16), 0), (int((w - r) * 16), h * 16), 255, -1, cv2.LINE_AA, 4)
    cv2.rectangle(m, (0, int(r * 16)), (w * 16, int((h - r) * 16)), 255, -1, cv2.LINE_AA, 4)
    for cx, cy in ((r, r), (w - r, r), (w - r, h - r), (r, h - r)):
        cv2.circle(m, (int(cx * 16), int(cy * 16)), int(r * 16), 255, -1, cv2.LINE_AA, 4)
    np.minimum(pg.alpha, m, out=pg.alpha)


def _doc_card(pg: _Page) -> None:
    rng = pg.rng
    h, w = pg.h, pg.w
    s = min(h, w)
    if rng.random() < 0.35:  # a coloured band along one edge
        t = s * rng.uniform(0.08, 0.3)
        band = [[[0, 0], [w, 0], [w, t], [0, t]], [[0, h - t], [w, h - t], [w, h], [0, h]],
                [[0, 0], [t, 0], [t, h], [0, h]]][int(rng.integers(3))]
        pg.fill(band, ACCENT[int(rng.integers(len(ACCENT)))])
    logo = s * rng.uniform(0.15, 0.3)
    lx, ly = w * rng.uniform(0.08, 0.2), h * rng.uniform(0.12, 0.5)
    if rng.random() < 0.5:
        cv2.circle(pg.accent, (int((lx + logo / 2) * 16), int((ly + logo / 2) * 16)), int(logo / 2 * 16), 255, -1,
                   cv2.LINE_AA, 4)
    else:
        pg.fill([[lx, ly + logo], [lx + logo / 2, ly], [lx + logo, ly + logo]], ACCENT[int(rng.integers(len(ACCENT)))])
    tx = w * rng.uniform(0.35, 0.5)
    y = h * rng.uniform(0.12, 0.35)
    y += _text(pg.ink, rng, pg.bold, s * rng.uniform(0.08, 0.12), tx, y, w - tx - w * 0.05) * 1.2
    y += _text(pg.accent, rng, pg.font, s * rng.uniform(0.05, 0.07), tx, y, w - tx - w * 0.05) * 1.5
    for _ in range(int(rng.integers(1, 5))):
        if y > h * 0.9:
            break
        y += _text(pg.ink, rng, pg.font, s * rng.uniform(0.045, 0.06), tx, y, (w - tx) * rng.uniform(0.4, 0.9)) * 1.2


def _doc_notecard(pg: _Page) -> None:
    rng = pg.rng
    h, w = pg.h, pg.w
    if rng.random() < 0.4:  # index card: red top line, blue ruling
        red = pg.layer((215, 80, 90))
        red[int(h * 0.2) : int(h * 0.2) + max(1, int(h * 0.006)), :] = 200
        blue = pg.layer((120, 160, 215))
        blue[_grid(h * 0.3, h, h * 0.1), :] = 140
    hand = pg.layer((20, 20, 25) if rng.random() < 0.6 else (25, 45, 150))
    font = pg.fonts.pick(rng, "hand")
    n = int(rng.integers(1, 4))
    px = h * rng.uniform(0.12, 0.3) / n ** 0.5
    y = h * rng.uniform(0.15, 0.45)
    for _ in range(n):
        if y + px > h:
            break
        _text(hand, rng, font, px, w * 0.08, y, w * rng.uniform(0.4, 0.85), "center", slope=rng.normal(0, 0.05))
        y += px * 1.3
    if rng.random() < 0.5:  # marker pen: thicker strokes
        k = max(1, int(px / 15))
        cv2.dilate(hand, np.ones((k, k), np.uint8), dst=hand)


def _doc_folder(pg: _Page) -> None:
    rng = pg.rng
    u = pg.u
    for _ in range(int(rng.integers(1, 5))):  # white labels and stickers
        bw, bh = u * rng.uniform(10, 40), u * rng.uniform(6, 20)
        x, y = rng.uniform(0, pg.w - bw), rng.uniform(0, pg.h - bh)
        pg.fill([[x, y], [x + bw, y], [x + bw, y + bh], [x, y + bh]], (245, 245, 240))
        dark = pg.layer((25, 25, 28))
        if rng.random() < 0.4:
            _qr(pg, x + u, y + u, min(bw, bh) - 2 * u, dark)
        else:
            yy = y + u
            while yy < y + bh - u * 3:
                yy += _text(dark, rng, pg.font, u * 2, x + u, yy, bw - 2 * u) * 1.3
    x0, x1, y, y_end = _margins(pg, 5, 12)
    _text(pg.ink, rng, pg.bold, u * rng.uniform(5, 10), x0, y, (x1 - x0) * 0.6)
    for _ in range(int(rng.integers(0, 5))):
        cv2.circle(pg.ink, (int(rng.uniform(x0, x1) * 16), int(rng.uniform(y, y_end) * 16)), int(u * 3 * 16), 255,
                   max(1, int(u * 0.5)), cv2.LINE_AA, 4)
    if rng.random() < 0.5:
        _paragraph(pg, rng.uniform(y, y_end), x0, x1, _px(u * 1.8), int(rng.integers(1, 4)))


def _doc_sparse(pg: _Page) -> None:
    rng = pg.rng
    _blk_hand(pg, pg.h * rng.uniform(0.05, 0.3), pg.u * 8, pg.w * 0.9, _px(pg.u * rng.uniform(2, 3)))
    if rng.random() < 0.6:
        _blk_hand(pg, pg.h * rng.uniform(0.5, 0.85), pg.u * 8, pg.w * 0.9, _px(pg.u * rng.uniform(2, 3)))


def _doc_photo(pg: _Page) -> None:
    rng = pg.rng
    x0, x1, y, y_end = _margins(pg, 3, 8)
    if rng.random() < 0.3:  # a borderless print
        x0, x1, y = 0, pg.w, 0
    body = _px(pg.u * rng.uniform(1.4, 2.0))
    y = _blk_photo(pg, y, x0, x1, body)
    _blocks(pg, y + body, x0, x1, y_end, body, {"paragraph": 3, "photo": 1, "heading": 0.5})


_DOCS: dict[str, Callable[[_Page], None]] = {
    "letter": _doc_letter, "form": _doc_form, "table": _doc_table, "omr": _doc_omr, "notes": _doc_notes,
    "receipt": _doc_receipt, "card": _doc_card, "notecard": _doc_notecard, "folder": _doc_folder,
    "sparse": _doc_sparse, "photo": _doc_photo,
}


def _aspect(rng: np.random.Generator, kind: str) -> float:
    """Page height / width."""
    if kind == "receipt":
        return rng.uniform(2.0, 4.0)
    if kind == "card":
        return rng.uniform(0.55, 0.65) if rng.random() < 0.85 else rng.uniform(1.55, 1.8)
    if kind == "notecard":
        return rng.uniform(0.6, 0.75)
    portrait = rng.choice([1.414, 1.294, 1.3, 1.42]) * rng.uniform(0.97, 1.03)
    return 1 / portrait if rng.random() < (0.3 if kind == "folder" else 0.1) else portrait


def _paper(rng: np.random.Generator, kind: str) -> np.ndarray:
    if kind == "folder" or (kind in ("card", "notecard") and rng.random() < 0.12):
        return _jitter(rng, DARK_PAPER[int(rng.integers(len(DARK_PAPER)))], 20)
    keys = list(PAPER)
    c = keys[int(rng.choice(len(keys), p=np.array(list(PAPER.values())) / sum(PAPER.values())))]
    if kind == "receipt":
        c = (240, 240, 236)
    return _jitter(rng, c, 5) * rng.uniform(0.9, 1.0)


def _dog_ear(pg_rgb: np.ndarray, alpha: np.ndarray, rng: np.random.Generator, paper: np.ndarray) -> None:
    """Fold one corner over: the tip is gone (background shows) and the paper's back lies on the page."""
    h, w = alpha.shape
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    k = int(rng.integers(4))
    c, e1, e2 = corners[k], corners[(k + 1) % 4] - corners[k], corners[(k + 3) % 4] - corners[k]
    size = min(h, w) * rng.uniform(0.04, 0.16)
    p1 = c + e1 / np.linalg.norm(e1) * size * rng.uniform(0.6, 1.4)
    p2 = c + e2 / np.linalg.norm(e2) * size * rng.uniform(0.6, 1.4)
    d = p2 - p1
    n = np.array([-d[1], d[0]]) / np.linalg.norm(d)
    tip = c - 2 * np.dot(c - p1, n) * n  # the corner reflected across the fold line
    cv2.fillPoly(alpha, [_pts([c, p1, p2])], 0, cv2.LINE_AA, 4)
    off = (tip - c) / np.linalg.norm(tip - c) * max(1.0, size * 0.05)
    _shade(pg_rgb, np.array([p1, p2, tip + off]), 0.8, blur=size * 0.05)
    back = np.clip(paper * rng.uniform(0.82, 0.97), 0, 255)
    cv2.fillPoly(pg_rgb, [_pts([p1, p2, tip])], back.tolist(), cv2.LINE_AA, 4)


def _bend(rgb: np.ndarray, alpha: np.ndarray, rng: np.random.Generator) -> None:
    """Bend the paper near one corner: the outline curves inward there, the straight edges (and
    so the annotated corner) stay where they were."""
    h, w = alpha.shape
    r = int(min(h, w) * rng.uniform(0.1, 0.35))
    if r < 8:
        return
    amp = r * rng.uniform(0.03, 0.12)
    fy, fx = bool(rng.integers(2)), bool(rng.integers(2))
    sy = slice(h - r, h) if fy else slice(0, r)
    sx = slice(w - r, w) if fx else slice(0, r)
    yy, xx = np.mgrid[0:r, 0:r].astype(np.float32)
    f = np.clip(1 - np.hypot(xx, yy) / r, 0, 1) ** 2
    mode = rng.integers(3)
    mx = xx - amp * f * (mode != 1)
    my = yy - amp * f * (mode != 0)

    def warp(a: np.ndarray) -> np.ndarray:
        a = a[::-1] if fy else a
        a = a[:, ::-1] if fx else a
        out = cv2.remap(np.ascontiguousarray(a), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        out = out[::-1] if fy else out
        return out[:, ::-1] if fx else out

    shade = 1 - rng.uniform(-0.1, 0.15) * f
    shade = shade[::-1] if fy else shade
    shade = shade[:, ::-1] if fx else shade
    rgb[sy, sx] = np.clip(warp(rgb[sy, sx]) * shade[..., None], 0, 255).astype(np.uint8)
    alpha[sy, sx] = warp(alpha[sy, sx])


def _render_page(rng: np.random.Generator, kind: str, h: int, w: int, fonts: _Fonts):
    """(rgb uint8, alpha uint8, corners in canvas pixels) of one page ``h`` x ``w``."""
    pg = _Page(h, w, _paper(rng, kind), fonts, rng)
    _DOCS[kind](pg)
    rgb = pg.finish()
    if (kind in ("card", "notecard") and rng.random() < 0.5) or (kind == "folder" and rng.random() < 0.3):
        _round_corners(pg, min(h, w) * rng.uniform(0.03, 0.1))
    if kind not in ("card", "notecard", "receipt") and rng.random() < 0.08:
        _dog_ear(rgb, pg.alpha, rng, pg.paper)
    if rng.random() < 0.1:
        _bend(rgb, pg.alpha, rng)
    return rgb, pg.alpha, pg.src


# ----------------------------------------------------------------------------------------------
# Geometry


def _place(rng: np.random.Generator, aspect: float, h: int, w: int, kind: str) -> np.ndarray:
    """Where the page's corners land in the photo (TL, TR, BR, BL), float64 (4, 2).

    A rectangle is turned on the table (in-plane rotation), seen by a tilted pinhole camera
    (perspective), then scaled to cover a random share of the frame and moved into it."""
    if rng.random() < 0.85:
        rot = float(np.clip(rng.normal(0, 12), -30, 30))
    elif rng.random() < 0.5:
        rot = float(rng.choice([90.0, -90.0, 180.0]) + rng.normal(0, 8))
    else:
        rot = rng.uniform(-180, 180)
    pitch, yaw = np.deg2rad(np.clip(rng.normal(0, 15), -45, 45)), np.deg2rad(np.clip(rng.normal(0, 10), -35, 35))
    dist = rng.uniform(1.4, 3.5)  # camera distance in page sizes: nearer = stronger perspective
    pw, ph = (1.0, aspect) if aspect <= 1 else (1 / aspect, 1.0)
    p = np.array([[-pw / 2, -ph / 2, 0], [pw / 2, -ph / 2, 0], [pw / 2, ph / 2, 0], [-pw / 2, ph / 2, 0]])
    a = np.deg2rad(rot)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    q3 = p @ (rx @ ry @ rz).T + [0, 0, dist]
    q = q3[:, :2] / q3[:, 2:3]

    small = kind in ("card", "notecard", "receipt")
    frac = 0.1 + 0.5 * rng.beta(2, 2) if small else 0.15 + 0.75 * rng.beta(2.2, 1.3)
    cross = rng.random() < CROSS_FRAME_P
    margin = -rng.uniform(0.01, 0.12) * min(h, w) if cross else 0.01 * min(h, w)
    span = q.max(0) - q.min(0)
    fit = min((w - 2 * margin) / span[0], (h - 2 * margin) / span[1])
    if not small and rng.random() < 0.3:  # framed to fill the picture, as many people do
        frac = 0.9
    q = q * min(fit * (1.0 if cross else rng.uniform(0.88, 1.0)), math.sqrt(frac * h * w / _poly_area(q)))
    lo = -q.min(0) + margin
    hi = np.array([w, h]) - q.max(0) - margin
    t = np.where(lo < hi, rng.uniform(np.minimum(lo, hi), np.maximum(lo, hi)), (lo + hi) / 2)
    return q + t


def _photo_size(rng: np.random.Generator, long_side: float) -> tuple[int, int]:
    """(height, width) of a phone photo with a random aspect ratio and the given long side."""
    aw, ah, _ = PHOTO_ASPECTS[int(rng.choice(len(PHOTO_ASPECTS), p=[a[2] for a in PHOTO_ASPECTS]))]
    scale = long_side / max(aw, ah)
    return int(round(ah * scale)), int(round(aw * scale))


# ----------------------------------------------------------------------------------------------
# Photometric effects


def _light_field(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Per-pixel RGB gain at 1/8 resolution: exposure, light gradient, vignetting, soft cast
    shadows (a hand or phone between lamp and page) and the colour of the light."""
    gh, gw = max(4, h // 8), max(4, w // 8)
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    yy, xx = yy / gh - 0.5, xx / gw - 0.5
    a = rng.uniform(0, 2 * np.pi)
    g = 1 + rng.uniform(0, 0.5) * (np.cos(a) * xx + np.sin(a) * yy)
    g *= 1 - rng.uniform(0, 0.5) * (xx**2 + yy**2) * 2
    if rng.random() < 0.3:  # a lamp's spot
        c = rng.uniform(-0.5, 0.5, 2)
        spread = 2 * rng.uniform(0.1, 0.3) ** 2
        g *= 1 + rng.uniform(0.1, 0.4) * np.exp(-((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / spread)
    if rng.random() < 0.3:  # soft cast shadow entering from a frame edge
        m = np.zeros((gh, gw), np.float32)
        e = _edge_point(rng, gh, gw, 2)
        tgt = rng.uniform([0, 0], [gw, gh])
        cv2.line(m, tuple(int(v) for v in e), tuple(int(v) for v in tgt), 1.0, max(1, int(min(gh, gw) *
                 rng.uniform(0.1, 0.5))))
        m = cv2.GaussianBlur(m, (0, 0), min(gh, gw) * rng.uniform(0.03, 0.12))
        g *= 1 - rng.uniform(0.2, 0.55) * m
    cast = [np.float32([1, 1, 1]), np.float32([1.06, 0.97, 0.82]), np.float32([0.9, 0.97, 1.08]),
            np.float32([1.0, 1.0, 0.92])][int(rng.choice(4, p=[0.45, 0.25, 0.2, 0.1]))]
    cast = cast * rng.uniform(0.96, 1.04, 3).astype(np.float32)
    exposure = rng.uniform(0.65, 1.12)
    return (g[..., None] * cast * exposure).astype(np.float32)


def _photometric(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Phone-camera look: light, glare, blur, noise, tone curve, JPEG; uint8 RGB in and out
    (OpenCV's saturating uint8 arithmetic is several times faster than float NumPy here)."""
    h, w = img.shape[:2]
    scale = max(h, w) / 512  # effect sizes are tuned at 512 px
    img = cv2.multiply(img, cv2.resize(_light_field(rng, h, w), (w, h), interpolation=cv2.INTER_LINEAR),
                       dtype=cv2.CV_8U)
    if rng.random() < 0.15:  # glare from a lamp or window
        gh, gw = max(4, h // 8), max(4, w // 8)
        c, sd = rng.uniform([0, 0], [gw, gh]), min(gh, gw) * rng.uniform(0.05, 0.25)
        yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
        d2 = (xx - c[0]) ** 2 + (yy - c[1]) ** 2 * rng.uniform(0.3, 3)
        glare = np.exp(-d2 / (2 * sd * sd)) * rng.uniform(0.3, 1)
        glare = cv2.resize(glare.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        img = cv2.blendLinear(np.full_like(img, 255), img, glare, 1 - glare)  # towards white
    r = rng.random()
    if r < 0.4:  # defocus
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.8) * scale)
    elif r < 0.5:  # camera shake
        k = int(rng.integers(3, 10) * scale) | 1
        kernel = np.zeros((k, k), np.float32)
        ang, c = rng.uniform(0, np.pi), k // 2
        cv2.line(kernel, (int(c - np.cos(ang) * c), int(c - np.sin(ang) * c)),
                 (int(c + np.cos(ang) * c), int(c + np.sin(ang) * c)), 1.0, 1)
        img = cv2.filter2D(img, -1, kernel / kernel.sum())
    elif r < 0.6:  # shallow depth of field: one side of the picture out of focus
        blurred = cv2.GaussianBlur(img, (0, 0), rng.uniform(1.5, 3.5) * scale)
        t = np.clip((_ramp(rng, h, w, 4) - 1) + np.float32(rng.uniform(-0.5, 0.5)), 0, 1)
        img = cv2.blendLinear(blurred, img, t, 1 - t)
    if rng.random() < 0.8:  # sensor noise, partly in colour
        n = _fine_noise(rng, h, w)
        chans = [n, n, n] if rng.random() < 0.7 else [n, _fine_noise(rng, h, w), _fine_noise(rng, h, w)]
        img = cv2.addWeighted(img, 1.0, cv2.merge(chans), rng.uniform(0.5, 7), 0, dtype=cv2.CV_8U)
    if rng.random() < 0.5:  # tone curve
        lut = np.clip(255 * (np.arange(256) / 255) ** rng.uniform(0.7, 1.4), 0, 255).astype(np.uint8)
        img = cv2.LUT(img, lut)
    if rng.random() < 0.2:  # saturation
        grey = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        k = rng.uniform(0.5, 1.4)
        img = cv2.addWeighted(img, k, grey, 1 - k, 0)
    if rng.random() < 0.6:
        ok, jpg = cv2.imencode(".jpg", np.ascontiguousarray(img[..., ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 95))])
        img = np.ascontiguousarray(cv2.imdecode(jpg, cv2.IMREAD_COLOR)[..., ::-1])
    return img


# ----------------------------------------------------------------------------------------------
# Public API


def _render(rng: np.random.Generator, size: tuple[int, int], split: str = "train") -> tuple[Sample, np.ndarray]:
    """:func:`render_sample` plus the page coverage (H, W) float32 0..1 as composited (before
    occluders), which tests compare with the polygon of the corners."""
    h, w = int(size[0]), int(size[1])
    fonts = _fonts(split)
    img = _background(rng, h, w, split)
    has_page = rng.random() >= NO_PAGE_P
    quad, kind = None, None
    if has_page:
        kind = _choice(rng, DOC_KINDS)
        aspect = _aspect(rng, kind)
        quad = _place(rng, aspect, h, w, kind)
    held = _clutter(rng, img, quad, kind)
    cover = np.zeros((h, w), np.float32)
    corners = np.full((4, 2), np.nan, np.float32)
    if quad is not None and kind is not None:
        # Page drawn at about its size in the photo (which is shrunk again for training): little
        # aliasing, no time spent on pixels nobody sees.
        page_w = math.sqrt(_poly_area(quad) / aspect) * rng.uniform(0.8, 1.15)
        pw = int(np.clip(round(page_w), 24, 2400))
        ph = int(np.clip(round(pw * aspect), 24, 6000))
        rgb, alpha, src = _render_page(rng, kind, ph, pw, fonts)
        m = cv2.getPerspectiveTransform(src.astype(np.float32), quad.astype(np.float32))
        page = cv2.warpPerspective(rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        cover = cv2.warpPerspective(alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                    borderValue=0).astype(np.float32) * np.float32(1 / 255)
        if rng.random() < 0.75:  # the page's shadow: a soft band, or a thin dark line beside an edge
            s = min(h, w) / 512
            shift = np.float64([[1, 0, rng.normal(0, 2.5) * s], [0, 1, rng.normal(1, 2.5) * s], [0, 0, 1]])
            sh = cv2.warpPerspective(alpha, shift @ m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
            sh = cv2.GaussianBlur(sh.astype(np.float32) * np.float32(rng.uniform(0.15, 0.6) / 255), (0, 0),
                                  rng.uniform(0.5, 5) * s)
            img = cv2.blendLinear(np.zeros_like(img), img, sh, 1 - sh)
        img = cv2.blendLinear(page, img, cover, 1 - cover)
        _occluders(rng, img, quad, held)
        corners = quad.astype(np.float32)
    image = _photometric(rng, img)
    return Sample(image, corners, bool(quad is not None)), cover


def render_sample(rng: np.random.Generator, size: tuple[int, int] = (256, 256), *, split: str = "train") -> Sample:
    """One synthetic photo of height, width ``size``."""
    return _render(rng, size, split)[0]


def edge_map(corners: np.ndarray, size: tuple[int, int], thickness: int = 2) -> np.ndarray:
    """(H, W) uint8 0/1 target: the page outline (4 straight sides) drawn, clipped to the frame
    (all zero when corners are NaN)."""
    out = np.zeros((int(size[0]), int(size[1])), np.uint8)
    corners = np.asarray(corners, np.float64)
    if corners.shape != (4, 2) or not np.isfinite(corners).all():
        return out
    # Far-away corners are pulled in along their edges' direction by cv2's own clipping; the
    # sub-pixel shift keeps the drawn line on the true edge.
    far = 1 << 20
    cv2.polylines(out, [_pts(np.clip(corners, -far, far))], True, 1, int(thickness), cv2.LINE_8, 4)
    return out


def _resize_sample(s: Sample, size: tuple[int, int]) -> Sample:
    """Stretch a photo to ``size`` (the network's view of it); corners follow (pixel centres)."""
    h, w = s.image.shape[:2]
    image = cv2.resize(s.image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    k = np.float32([size[1] / w, size[0] / h])
    return Sample(image, ((s.corners + 0.5) * k - 0.5).astype(np.float32), s.has_page)


def _split_id(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return SPLITS.index(split)


def _shard_samples(seed: int, split: str, shard: int, count: int, size: tuple[int, int]) -> list[Sample]:
    rng = np.random.default_rng([seed, _split_id(split), shard])
    out = []
    for _ in range(count):
        photo = _photo_size(rng, 2 * max(size) * rng.uniform(0.9, 1.15))
        out.append(_resize_sample(render_sample(rng, photo, split=split), size))
    return out


def _shard_complete(path: Path, count: int, size: tuple[int, int]) -> bool:
    try:
        with np.load(path, allow_pickle=False) as d:
            return (set(d.files) >= {"images", "corners", "has_page", "edges"} and d["has_page"].shape == (count,)
                    and d["corners"].shape == (count, 4, 2))
    except Exception:  # missing, truncated or foreign file: render it again
        return False


def _render_shard(job: tuple[str, int, int], *, size: tuple[int, int], seed: int, split: str) -> int:
    """Worker: render one shard and write it; returns its sample count."""
    path, count, shard = job
    samples = _shard_samples(seed, split, shard, count, size)
    from ocr_common.npz_cache import save_npz

    # Level 1: the zero-heavy edge maps pack as well as at the default level, in a few ms, not ten.
    save_npz(Path(path), compresslevel=1,
             images=np.stack([s.image for s in samples]),
             corners=np.stack([s.corners for s in samples]).astype(np.float32),
             has_page=np.array([s.has_page for s in samples], bool),
             edges=np.stack([edge_map(s.corners, size) for s in samples]))
    return count


def render_shards(out_dir: str | Path, n: int, *, size: tuple[int, int] = (256, 256), seed: int = 0,
                  split: str = "train", shard_size: int = 500, workers: int | None = None) -> list[Path]:
    """Writes ``out_dir/shard-00000.npz`` ... with keys images (N, H, W, 3) uint8, corners (N, 4, 2)
    float32, has_page (N,) bool, edges (N, H, W) uint8.

    Each photo is rendered at a random phone aspect ratio (long side about twice the target) and
    stretched to exactly ``size`` (INTER_AREA), as the network sees a photo. Shard i depends only on
    (seed, split, i), never on ``workers``; complete shards already there are kept (resume)."""
    from ocr_common import shards

    _split_id(split)
    size = (int(size[0]), int(size[1]))
    render = functools.partial(_render_shard, size=size, seed=seed, split=split)
    return shards.render_shards(out_dir, n, render, complete=lambda p, c: _shard_complete(p, c, size),
                                shard_size=shard_size, workers=workers)


def render_photo_folder(out_dir: str | Path, n: int, *, seed: int = 0, split: str = "heldout",
                        long_side: int = 1600) -> Path:
    """``n`` full-resolution JPEG photos (quality 90) plus ``corners.json`` in the format of the real
    sets ({"file.jpg": [[x, y] x 4]}, TL TR BR BL). Like the real sets, only photos with the whole
    page in the frame are kept. For evaluating the full pipeline at photo resolution."""
    from ocr_common.io import atomic_write_bytes, atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, _split_id(split), 1_000_003])
    corners: dict[str, list[list[float]]] = {}
    i = 0
    while len(corners) < n:
        h, w = _photo_size(rng, long_side)
        s = render_sample(rng, (h, w), split=split)
        inside = s.has_page and bool(((s.corners >= 0) & (s.corners <= [w - 1, h - 1])).all())
        if not inside:
            continue
        name = f"synth_{i:05d}.jpg"
        ok, jpg = cv2.imencode(".jpg", np.ascontiguousarray(s.image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 90])
        atomic_write_bytes(out / name, jpg.tobytes())
        corners[name] = [[round(float(x), 1), round(float(y), 1)] for x, y in s.corners]
        i += 1
    atomic_write_text(out / "corners.json", json.dumps(corners, indent=1))
    return out


def _warm_fonts(split: str) -> None:
    """Render every text strip of ``split`` (what a long run ends up doing anyway)."""
    fonts = _fonts(split)
    for font in sorted(set(fonts.print + fonts.mono + fonts.hand)):
        for px in STRIP_SIZES:
            _strip(font, px)


def _bench(n: int, size: tuple[int, int], split: str) -> tuple[float, float, float]:
    """(seconds to render all text strips once, samples/s cold, samples/s warm) of the
    render_shards work (photo + resize + edge map) in this process with one OpenCV thread."""
    import time

    cv2.setNumThreads(1)

    def rate(shard: int) -> float:
        t = time.perf_counter()
        for s in _shard_samples(1, split, shard, n, size):
            edge_map(s.corners, size)
        return n / (time.perf_counter() - t)

    cold = rate(10**6)
    t = time.perf_counter()
    _warm_fonts(split)
    return time.perf_counter() - t, cold, rate(10**6 + 1)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", required=False, help="output folder")
    p.add_argument("--n", type=int, default=1000, help="number of samples (photos with --photos)")
    p.add_argument("--split", choices=SPLITS, default="train", help="background and font group")
    p.add_argument("--size", default="256", help="network input size: 256 or HxW, e.g. 256x192")
    p.add_argument("--seed", type=int, default=0, help="shard i depends only on (seed, split, i)")
    p.add_argument("--shard-size", type=int, default=500, help="samples per .npz shard")
    p.add_argument("--workers", type=int, default=None, help="worker processes; None: one per usable core")
    p.add_argument("--photos", action="store_true", help="write full-resolution JPEGs + corners.json instead")
    p.add_argument("--long-side", type=int, default=1600, help="photo long side with --photos")
    p.add_argument("--bench", type=int, default=0, metavar="N", help="only time N samples in one process")
    a = p.parse_args(argv)
    hw = tuple(int(v) for v in a.size.lower().split("x"))
    size = (hw[0], hw[-1])
    if a.bench:
        warm_s, cold, warm = _bench(a.bench, size, a.split)
        print(f"{a.split}, {size[0]}x{size[1]}, 1 process: {cold:.1f} samples/s from a cold start, {warm:.1f} "
              f"samples/s once every text strip is cached (which took {warm_s:.1f} s)")
        return
    if not a.out:
        p.error("--out is required")
    if a.photos:
        print(render_photo_folder(a.out, a.n, seed=a.seed, split=a.split, long_side=a.long_side))
    else:
        paths = render_shards(a.out, a.n, size=size, seed=a.seed, split=a.split, shard_size=a.shard_size,
                              workers=a.workers)
        print(f"{len(paths)} shards in {a.out}")


if __name__ == "__main__":
    main()
