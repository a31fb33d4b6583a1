"""Synthetic handwritten words: handwriting fonts, and real letter crops composed into words.

Two sources, both ending in :func:`~handwrite_word_ocr.preprocess.normalize_word` exactly as
served images do:

* **Fonts** (the Debian packages named in ``FONT_PACKAGES``). A word is drawn whole (cursive
  joins kept) or glyph by glyph with random spacing, baseline jitter and per-letter tilt, then
  slanted, stretched, elastically wobbled, thinned or thickened, and put on paper: uneven
  light, texture, ruled lines, faint pencil or dark pen, blur, noise and JPEG. A model trained
  on a few clean fonts reads them and little else; this variety is what carries it to hands
  it never saw.
* **Real letters** (``shared/data/letters``): crops of real handwritten letters, paper removed,
  scaled to a common x-height with ascenders standing up and descenders hanging below the
  baseline, spaced at random. Real strokes, synthetic layout.

Generalisation is measured on whole fonts (``HELD_OUT_FAMILIES``) and letter crops
(``letter_heldout``) that training never sees.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from handwrite_word_ocr.preprocess import ink_bbox, normalize_word, word_ink

FONT_ROOT = Path("/usr/share/fonts")
FONT_PACKAGES = (
    "fonts-dkg-handwriting fonts-sjfonts fonts-femkeklaver fonts-breip fonts-humor-sans fonts-rufscript "
    "fonts-dancingscript fonts-kaushanscript fonts-ecolier-court fonts-ecolier-lignes-court fonts-comic-neue "
    "fonts-cabinsketch fonts-leckerli-one fonts-lobster fonts-havana fonts-levien-typoscript fonts-klee "
    "fonts-urw-base35"
).split()
# Font folder (= Debian package) names; the folder is the family, so a family's bold and italic
# files always land on the same side of the split.
FAMILIES: tuple[str, ...] = (
    "fifthhorseman", "sjfonts", "femkeklaver", "breip", "humor-sans", "rufscript", "dancingscript", "kaushanscript",
    "ecolier-court", "ecolier-lignes-court", "comic-neue", "cabinsketch", "leckerli-one", "lobster", "havana",
    "levien", "klee", "urw-base35",
)
# Of URW's 35 PostScript faces only the chancery hand and a plain print face look written.
URW_FILES = ("Z003-MediumItalic.otf", "NimbusSans-Regular.otf", "NimbusSans-Italic.otf")
# Never trained on: a print hand, a brush-pen hand and a connected script.
HELD_OUT_FAMILIES: tuple[str, ...] = ("humor-sans", "klee", "havana")
# Capitals drawn as hollow outlines would teach a shape no pen makes.
OUTLINE_GLYPHS: dict[str, str] = {"femkeklaver": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
SPLITS = {"train": 1, "heldout": 2, "letters-heldout": 3}
MAX_CHARS = 14  # 32 CTC frames: longer words with doubled letters may not fit (see WordConfig)
LETTER_SHARE = 0.22  # of training words composed from real letter crops


@dataclass
class Sample:
    image: np.ndarray  # (H, W) uint8, normalised, ink = 255
    text: str
    source: str  # "font:<family>" or "letters"


# -- fonts ---------------------------------------------------------------------------------------
def family(path: str | Path) -> str:
    return Path(path).parent.name


def find_fonts(families: Sequence[str], root: str | Path = FONT_ROOT) -> list[str]:
    """Every .ttf/.otf file of ``families`` under ``root``, sorted."""
    out = []
    for p in Path(root).rglob("*"):
        if p.suffix.lower() not in (".ttf", ".otf") or p.parent.name not in families:
            continue
        if p.parent.name == "urw-base35" and p.name not in URW_FILES:
            continue
        out.append(str(p))
    return sorted(out)


def split_families(split: str) -> tuple[str, ...]:
    if split == "heldout":
        return HELD_OUT_FAMILIES
    return tuple(f for f in FAMILIES if f not in HELD_OUT_FAMILIES)


@functools.lru_cache(maxsize=64)
def _cmap(font_path: str) -> frozenset[str]:
    from handwrite_digit_ocr.synth import _charset

    bad = OUTLINE_GLYPHS.get(family(font_path), "")
    return frozenset(c for c in _charset(font_path) if c not in bad)


def can_render(font_path: str, text: str) -> bool:
    cmap = _cmap(font_path)
    return all(c in cmap for c in text if c != " ")


def _draw(text: str, font_path: str, px: int, stroke: int) -> tuple[np.ndarray, int]:
    """Ink coverage of ``text`` drawn at ``px`` (float32 [0, 1]) and the baseline row."""
    from PIL import Image, ImageDraw

    from handwrite_digit_ocr.synth import _font

    font = _font(font_path, px)
    left, top, right, bottom = font.getbbox(text, anchor="ls", stroke_width=stroke)
    pad = px // 4 + 2 * stroke + 2
    w, h = right - left + 2 * pad, bottom - top + 2 * pad
    canvas = Image.new("L", (max(w, 1), max(h, 1)), 0)
    x, y = pad - left, pad - top
    ImageDraw.Draw(canvas).text((x, y), text, fill=255, font=font, anchor="ls", stroke_width=stroke, stroke_fill=255)
    return np.asarray(canvas, np.float32) / 255.0, y


def _hstack_on_baseline(parts: list[tuple[np.ndarray, int, float]]) -> np.ndarray:
    """Glyph images ``(mask, baseline row, x advance before it)`` laid left to right on one
    baseline; overlapping ink keeps the darker value."""
    above = max(b for _, b, _ in parts)
    below = max(m.shape[0] - b for m, b, _ in parts)
    xs, x = [], 0.0
    for m, _, gap in parts:
        x += gap
        xs.append(int(round(x)))
        x += m.shape[1]
    x0 = min(xs)
    width = max(xi - x0 + m.shape[1] for xi, (m, _, _) in zip(xs, parts))
    out = np.zeros((above + below, width), np.float32)
    for xi, (m, b, _) in zip(xs, parts):
        y = above - b
        region = out[y : y + m.shape[0], xi - x0 : xi - x0 + m.shape[1]]
        np.maximum(region, m, out=region)
    return out


def _crop_cols(mask: np.ndarray) -> np.ndarray:
    cols = np.nonzero(mask.max(axis=0) > 0.05)[0]
    return mask[:, cols[0] : cols[-1] + 1] if len(cols) else mask[:, :1]


def _font_word(rng: np.random.Generator, text: str, font_path: str) -> np.ndarray:
    px = int(rng.integers(34, 62))
    stroke = int(rng.choice([0, 0, 0, 1, 1, 2])) if px > 44 else int(rng.choice([0, 0, 1]))
    if rng.random() < 0.55 or len(text) < 2:
        mask, _ = _draw(text, font_path, px, stroke)
        return mask
    # Glyph by glyph: the writer's own spacing, baseline and tilt for every letter.
    spacing = rng.uniform(-0.04, 0.22) * px
    parts = []
    for i, ch in enumerate(text):
        if ch == " ":
            parts.append((np.zeros((1, int(px * rng.uniform(0.25, 0.5))), np.float32), 0, 0.0))
            continue
        m, base = _draw(ch, font_path, px, stroke)
        m = _crop_cols(m)
        if rng.random() < 0.4:
            m, base = _tilt(m, base, rng.uniform(-6, 6))
        base += int(round(rng.normal(0, 0.03) * px))
        base = int(np.clip(base, 0, m.shape[0]))
        gap = 0.0 if i == 0 else spacing + rng.normal(0, 0.04) * px
        parts.append((m, base, gap))
    return _hstack_on_baseline(parts)


def _tilt(mask: np.ndarray, base: int, degrees: float) -> tuple[np.ndarray, int]:
    h, w = mask.shape
    m = cv2.getRotationMatrix2D((w / 2, base), degrees, 1.0)
    return cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0), base


# -- real letters ---------------------------------------------------------------------------------
_ASCENDER = {"b": 1.7, "d": 1.7, "h": 1.7, "k": 1.7, "l": 1.7, "f": 1.75, "t": 1.4, "i": 1.35}
_DESCENDER = {"g": 1.6, "p": 1.6, "q": 1.6, "y": 1.6, "j": 1.9}


def letter_heldout(name: str) -> bool:
    """About 15 % of the letter crops, chosen by file name, never go into training words."""
    return zlib.crc32(name.encode()) % 100 < 15


@functools.lru_cache(maxsize=4)
def letter_crops(root: str, heldout: bool) -> dict[str, list[np.ndarray]]:
    """Ink maps of the real letter crops, paper removed and cropped to the ink, per character."""
    from handwrite_digit_ocr.letters import letter_label
    from ocr_common.image import load_image_file
    from ocr_common.npz_cache import list_labelled_images

    def label(folder: str) -> str | None:
        lab = letter_label(folder)
        return None if lab is None else (lab.upper() if folder.startswith("upper") else lab)

    out: dict[str, list[np.ndarray]] = {}
    for path, ch in list_labelled_images(root, label):
        if letter_heldout(path.name) != heldout:
            continue
        ink = word_ink(load_image_file(path))
        box = ink_bbox(ink)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        out.setdefault(ch, []).append(ink[y0:y1, x0:x1])
    return out


def _letters_word(rng: np.random.Generator, text: str, crops: dict[str, list[np.ndarray]]) -> np.ndarray:
    xh = rng.uniform(22, 34)
    parts = []
    for i, ch in enumerate(text):
        pool = crops[ch]
        m = pool[int(rng.integers(len(pool)))]
        if ch.isupper():
            height, hang = 1.65, 0.0
        elif ch in _DESCENDER:
            height, hang = _DESCENDER[ch], 0.6
        else:
            height, hang = _ASCENDER.get(ch, 1.0), 0.0
        th = max(4, int(round(xh * height * rng.uniform(0.88, 1.12))))
        # Crops sometimes include a neighbour's stroke: cap the width so one letter stays one letter.
        tw = max(2, int(round(min(m.shape[1] / m.shape[0], 1.5 if ch in "mwMW" else 1.1) * th)))
        g = cv2.resize(m, (tw, th), interpolation=cv2.INTER_AREA)
        base = int(round(th - hang * xh + rng.normal(0, 0.05) * xh))
        gap = 0.0 if i == 0 else rng.uniform(0.05, 0.4) * xh
        parts.append((g, int(np.clip(base, 0, th)), gap))
    return _hstack_on_baseline(parts)


# -- words -----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def vocabulary(n: int = 30000) -> tuple[str, ...]:
    """The ``n`` most frequent English words (wordfreq), letters only."""
    from wordfreq import top_n_list

    return tuple(w for w in top_n_list("en", n) if w.isascii() and w.isalpha())


def _case(rng: np.random.Generator, w: str) -> str:
    r = rng.random()
    return w if r < 0.6 else w.capitalize() if r < 0.88 else w.upper()


def _number(rng: np.random.Generator) -> str:
    kind = rng.integers(6)
    if kind == 0:
        return str(rng.integers(1700, 2100))
    if kind == 1:
        return f"{rng.integers(1, 13)}:{rng.integers(0, 60):02d}"
    if kind == 2:
        return f"{rng.integers(0, 1000)}.{rng.integers(0, 100):02d}"
    if kind == 3:
        return f"{rng.integers(1, 32)}/{rng.integers(1, 13)}"
    return str(rng.integers(0, 10 ** int(rng.integers(1, 6))))


def random_text(rng: np.random.Generator, letters_only: bool = False) -> str:
    """A training string: mostly real words in mixed case, some with punctuation, numbers, two
    short words, and letter strings that are no word at all (names, abbreviations)."""
    vocab = vocabulary()
    for _ in range(100):
        r = rng.random()
        # Rank-uniform over the list: rare words are as common as "the", so every letter pattern is seen.
        word = _case(rng, vocab[int(rng.integers(len(vocab)))])
        if letters_only or r < 0.62:
            text = word
        elif r < 0.76:
            p = rng.choice([".", ",", ";", ":", "!", "?", "'s", "'", ")", '"', "-"])
            text = word + p if rng.random() < 0.8 else rng.choice(["(", '"', "'"]) + word
        elif r < 0.86:
            text = _number(rng)
        elif r < 0.93:
            text = word + " " + _case(rng, vocab[int(rng.integers(min(2000, len(vocab))))])
        else:
            n = int(rng.integers(2, 10))
            text = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"), n))
        if 0 < len(text) <= MAX_CHARS:
            return text
    return "word"


# -- paper and pen ---------------------------------------------------------------------------------
def _smooth(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    return cv2.resize(rng.standard_normal((gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def _distort(rng: np.random.Generator, mask: np.ndarray, px: float) -> np.ndarray:
    """Slant, rotation, stretch, elastic wobble and stroke width, on a canvas that keeps the ink."""
    h, w = mask.shape
    pad = int(0.6 * h) + 4
    mask = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    h2, w2 = mask.shape
    shear = rng.uniform(-0.45, 0.45)
    angle = np.deg2rad(rng.normal(0, 2.0))
    sx = np.exp(rng.uniform(-0.28, 0.25))
    a = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ np.array([[sx, shear], [0, 1]])
    c = np.array([w2 / 2, h2 / 2])
    m = np.hstack([a, (c - a @ c)[:, None]]).astype(np.float32)
    mask = cv2.warpAffine(mask, m, (w2, h2), flags=cv2.INTER_LINEAR, borderValue=0)
    if rng.random() < 0.7:
        alpha, sigma = rng.uniform(0.5, 2.5) * px / 48, rng.uniform(4, 9) * px / 48
        dx = cv2.GaussianBlur(rng.uniform(-1, 1, (h2, w2)).astype(np.float32), (0, 0), sigma)
        dy = cv2.GaussianBlur(rng.uniform(-1, 1, (h2, w2)).astype(np.float32), (0, 0), sigma)
        norm = alpha / max(float(np.abs(dx).max()), float(np.abs(dy).max()), 1e-6)
        gx, gy = np.meshgrid(np.arange(w2, dtype=np.float32), np.arange(h2, dtype=np.float32))
        mask = cv2.remap(mask, gx + dx * norm, gy + dy * norm, cv2.INTER_LINEAR, borderValue=0)
    r = rng.random()
    if r < 0.2:
        mask = cv2.erode(mask, np.ones((2, 2), np.uint8))
    elif r < 0.4:
        k = int(rng.integers(2, 4))
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    box = ink_bbox(mask, 0.1)
    if box is None:
        return mask
    x0, y0, x1, y1 = box
    return mask[y0:y1, x0:x1]


def _on_paper(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """The ink mask written on a photographed or scanned piece of paper (grey uint8)."""
    mh, mw = mask.shape
    mt, mb = int(rng.uniform(0.1, 0.8) * mh) + 2, int(rng.uniform(0.1, 0.8) * mh) + 2
    ml, mr = int(rng.uniform(0.05, 0.5) * mh) + 2, int(rng.uniform(0.05, 0.5) * mh) + 2
    h, w = mh + mt + mb, mw + ml + mr
    ink = np.zeros((h, w), np.float32)
    ink[mt : mt + mh, ml : ml + mw] = mask
    paper = rng.uniform(150, 250) + _smooth(rng, h, w, rng.uniform(20, 120)) * rng.uniform(0, 14)
    paper = paper + rng.normal(0, rng.uniform(0, 4), (h, w)) + np.linspace(0, rng.uniform(-30, 30), w)[None, :]
    if rng.random() < 0.25:  # ruled paper: a rule on the baseline region, sometimes another above
        colour = rng.uniform(0.15, 0.5)
        thick = int(rng.integers(1, 3))
        for y in (mt + mh * rng.uniform(0.7, 1.1), mt - mh * rng.uniform(0.0, 0.3)):
            if rng.random() < 0.7:
                yy = int(np.clip(y, 0, h - 1))
                cv2.line(ink, (0, yy), (w - 1, yy + int(rng.integers(-2, 3))), colour, thick)
    pen = rng.uniform(0, 120)
    opacity = rng.uniform(0.5, 1.0) if rng.random() < 0.2 else rng.uniform(0.8, 1.0)
    strength = np.clip(ink * opacity * (1 + 0.15 * _smooth(rng, h, w, 15)), 0, 1)
    img = paper * (1 - strength) + pen * strength
    if rng.random() < 0.7:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.2))
    img = img + rng.normal(0, rng.uniform(0, 5), img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        scale = rng.uniform(0.5, 0.85)  # a low-resolution photo, upsampled again
        small = cv2.resize(img, (max(8, int(w * scale)), max(8, int(h * scale))), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.3:
        ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        img = cv2.imdecode(jpg, cv2.IMREAD_GRAYSCALE)
    if rng.random() < 0.04:
        img = 255 - img  # chalk on a board, a dark-mode screenshot
    return img


# -- samples and shards ----------------------------------------------------------------------------
class Renderer:
    """Word samples of one split, deterministic for a given generator."""

    def __init__(self, split: str, letters_root: str | Path | None = None, height: int = 32, width: int = 128):
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {sorted(SPLITS)}")
        self.split, self.height, self.width = split, height, width
        self.fonts = find_fonts(split_families(split)) if split != "letters-heldout" else []
        if split != "letters-heldout" and not self.fonts:
            raise FileNotFoundError(f"no handwriting fonts under {FONT_ROOT}; "
                                    f"install: apt install {' '.join(FONT_PACKAGES)}")
        self.crops: dict[str, list[np.ndarray]] = {}
        if letters_root is not None and Path(letters_root).is_dir():
            self.crops = letter_crops(str(letters_root), split == "letters-heldout")
        if split == "letters-heldout" and not self.crops:
            raise FileNotFoundError(f"no letter crops in {letters_root}")
        self.letter_share = 1.0 if split == "letters-heldout" else (LETTER_SHARE if split == "train" else 0.0)

    def sample(self, rng: np.random.Generator) -> Sample:
        if self.crops and rng.random() < self.letter_share:
            for _ in range(50):
                text = random_text(rng, letters_only=True)
                if all(c in self.crops for c in text):
                    break
            mask = _letters_word(rng, text, self.crops)
            source, px = "letters", 30.0
        else:
            for _ in range(200):
                text = random_text(rng)
                font = self.fonts[int(rng.integers(len(self.fonts)))]
                if can_render(font, text):
                    break
            mask = _font_word(rng, text, font)
            source, px = f"font:{family(font)}", float(mask.shape[0]) / 1.4
        grey = _on_paper(rng, _distort(rng, mask, px))
        return Sample(normalize_word(grey, self.height, self.width), text, source)


def _render_shard(job: tuple[str, int, int], *, seed: int, split: str, letters_root: str | None,
                  height: int, width: int) -> int:
    from ocr_common.npz_cache import save_npz

    path, count, shard = job
    rng = np.random.default_rng([seed, SPLITS[split], shard])
    r = Renderer(split, letters_root, height, width)
    samples = [r.sample(rng) for _ in range(count)]
    save_npz(Path(path), images=np.stack([s.image for s in samples]), texts=np.array([s.text for s in samples]),
             sources=np.array([s.source for s in samples]))
    return count


def render_shards(out_dir: str | Path, n: int, *, split: str = "train", seed: int = 0,
                  letters_root: str | Path | None = None, height: int = 32, width: int = 128,
                  shard_size: int = 2000, workers: int | None = None) -> list[Path]:
    """``out_dir/shard-*.npz`` with ``images`` (N, height, width) uint8 (ink 255), ``texts`` and
    ``sources``; resumable, deterministic per (seed, split, shard index)."""
    from ocr_common import shards

    render = functools.partial(_render_shard, seed=seed, split=split,
                               letters_root=None if letters_root is None else str(letters_root),
                               height=height, width=width)
    return shards.render_shards(out_dir, n, render, shard_size=shard_size, workers=workers,
                                complete=lambda p, c: shards.has_rows(p, "texts", c, {"images", "texts", "sources"}))


# Held-out evaluation sets: name -> (split, seed). Training and evaluate render them the same way.
HELDOUT_SETS: dict[str, tuple[str, int]] = {"heldout-fonts": ("heldout", 2), "heldout-letters": ("letters-heldout", 3)}


def render_heldout(synth_dir: str | Path, n: int, *, letters_root: str | Path | None = None,
                   width: int = 128) -> dict[str, Path]:
    """The held-out sets of ``synth_dir`` (``heldout``, ``letters-heldout``) with at least ``n``
    words each, rendered where short; the letter set only when ``letters_root`` has the crops."""
    out = {}
    for name, (split, seed) in HELDOUT_SETS.items():
        letters = split == "letters-heldout"
        if letters and (letters_root is None or not Path(letters_root).is_dir()):
            continue
        folder = Path(synth_dir) / split
        render_shards(folder, n, split=split, seed=seed, width=width, shard_size=1000,
                      letters_root=letters_root if letters else None)
        out[name] = folder
    return out
