"""Easy lines: characters drawn evenly from the charset, lightly degraded, rendered on the fly.

A CTC recogniser over thousands of classes trained only on natural text first learns to write
the few dozen most frequent characters everywhere (``国 家 地 中 ...``) and stays there for a long
time: the rendered corpus is Zipfian and heavily degraded, so a rare character is seen a handful
of times, under blur, perspective and clutter. Lines of characters drawn *evenly* from the
charset, in clean type filling the height, make every class pay from the first step and teach the
glyph shapes far faster; mixed into the batches (``python -m chinese_ocr.train --easy-share``) they
carry the model out of that phase, and the realistic lines do the rest.

Only the training faces (:data:`chinese_ocr.fonts.TRAIN_FACES`) draw; a face draws only the
characters its cmap has. About 1 ms a line on one core, so they need no shards.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from chinese_ocr.fonts import Face, coverage, faces, font_file, pil_font
from ocr_common.ctc import Charset, encode_labels

LATIN_SHARE = 0.12  # of the characters: letters, digits and punctuation of the charset


def _is_cjk(c: str) -> bool:
    return ord(c) >= 0x2E80


@cache
def _drawable(face: Face, chars: str) -> tuple[str, str]:
    """(CJK characters, other characters) of ``chars`` that ``face`` can draw; no space."""
    cov = coverage(font_file(face), face.index)
    ok = [c for c in chars if c in cov and not c.isspace()]
    return "".join(c for c in ok if _is_cjk(c)), "".join(c for c in ok if not _is_cjk(c))


class EasyLines:
    """Endless easy lines ``(x (N, height, width) uint8 ink-high, y (N, max_len) int32)`` for a charset."""

    def __init__(self, charset: Charset, max_len: int, *, height: int = 32, width: int = 280,
                 rng: np.random.Generator | None = None, split: str = "train"):
        self.charset, self.max_len, self.height, self.width = charset, max_len, height, width
        self.rng = rng or np.random.default_rng()
        self.faces = [f for f in faces(split) if _drawable(f, charset.chars)[0]]
        if not self.faces:
            raise ValueError("no installed face draws a Chinese character of the charset")

    def text(self, face: Face, n: int) -> str:
        cjk, other = _drawable(face, self.charset.chars)
        rng = self.rng
        out = []
        for _ in range(n):
            pool = other if other and rng.random() < LATIN_SHARE else cjk
            out.append(pool[int(rng.integers(len(pool)))])
        return "".join(out)

    def line(self) -> tuple[np.ndarray, str]:
        """One line: (height, width) uint8 with ink 255, and its text."""
        rng = self.rng
        face = self.faces[int(rng.integers(len(self.faces)))]
        px = int(rng.integers(24, 41))
        font = pil_font(font_file(face), face.index, px)
        # Enough characters to fill 40-100 % of the row once scaled to the height.
        fill = rng.uniform(0.4, 1.0) * (self.width - 8)
        text = self.text(face, max(1, min(self.max_len, int(fill / self.height / 0.95))))
        spacing = rng.uniform(0.0, 0.25) * px
        stroke = int(rng.random() < 0.15)
        canvas = Image.new("L", (int(len(text) * px * 1.4) + 2 * px, int(px * 1.8)), 0)
        draw = ImageDraw.Draw(canvas)
        x = px * 0.5
        for c in text:
            draw.text((x, px * 0.3), c, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
            x += font.getlength(c) + spacing + stroke
        ink = np.asarray(canvas)
        rows, cols = np.flatnonzero(ink.max(axis=1)), np.flatnonzero(ink.max(axis=0))
        if not len(rows):
            return np.zeros((self.height, self.width), np.uint8), ""
        # The band of the text with a random margin, scaled to the row height.
        m_top, m_bot = (rng.uniform(0.02, 0.2, 2) * px).astype(int)
        top, bottom = max(rows[0] - m_top, 0), min(rows[-1] + 1 + m_bot, ink.shape[0])
        crop = canvas.crop((int(cols[0]), int(top), int(cols[-1]) + 1, int(bottom)))
        scale = self.height / crop.height
        w = max(1, min(self.width - 8, round(crop.width * scale * rng.uniform(0.85, 1.15))))
        crop = crop.resize((w, self.height), Image.BILINEAR)
        if rng.random() < 0.5:
            crop = crop.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 0.9)))
        out = np.zeros((self.height, self.width), np.float32)
        x0 = int(rng.integers(0, 3))
        out[:, x0 : x0 + w] = np.asarray(crop, np.float32)[:, : self.width - x0]
        out = rng.uniform(0.0, 25.0) + out * rng.uniform(0.6, 1.0)
        out += rng.normal(0.0, rng.uniform(0.0, 10.0), out.shape)
        return np.clip(out, 0, 255).astype(np.uint8), text

    def take(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` lines and their labels (the stream interface of :func:`chinese_ocr.data.iterate_shards`)."""
        xs, texts = [], []
        while len(xs) < n:
            img, text = self.line()
            if text:
                xs.append(img)
                texts.append(text)
        y, keep = encode_labels(texts, self.charset, self.max_len)
        assert keep.all(), "easy lines are drawn from the charset and cut to max_len"
        return np.stack(xs), y
