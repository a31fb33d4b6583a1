"""Text for the synthetic Chinese lines and pages: words of ``jieba``'s dictionary drawn by
frequency, with rare characters boosted and Latin letters and digits mixed in.

Frequency alone would show the common few hundred characters thousands of times and most of
level 2 of GB 2312 never; so words are drawn by ``freq ** SMOOTHING``, and a share of lines
(``UNIFORM_SHARE``) are random characters drawn evenly from the charset. ``MIXED_SHARE`` of
lines carry digits, prices, dates, codes or Latin words between the Chinese ones.
"""

from __future__ import annotations

import os
import string
from functools import cache

import numpy as np

from chinese_ocr.charset import CHINESE_PUNCT, charset_chars, gb2312_chars

SMOOTHING = 0.5
UNIFORM_SHARE = 0.15
MIXED_SHARE = 0.2
PUNCT_SHARE = 0.25  # of lines with a punctuation mark between words
_LATIN_WORDS = ("OCR", "CPU", "GPU", "USB", "WiFi", "App", "iPhone", "Android", "Python", "email", "http", "www",
                "com", "cn", "KTV", "VIP", "ID", "No", "Tel", "QQ", "PM", "AM", "km", "kg", "cm", "mm", "mL",
                "Hello", "World", "China", "Beijing", "Shanghai", "OK", "LED", "PDF", "DNA", "AI", "ATM", "NBA")


@cache
def dictionary_words(charset: str = "GB2312") -> tuple[tuple[str, ...], np.ndarray]:
    """``(words, probabilities)``: jieba's dictionary entries written only in the charset's
    Chinese characters, with probability proportional to ``freq ** SMOOTHING``."""
    import jieba

    han = set(gb2312_chars()) & set(charset_chars(charset))
    words, freqs = [], []
    with open(os.path.join(os.path.dirname(jieba.__file__), "dict.txt"), encoding="utf-8") as f:
        for row in f:
            parts = row.split()
            if len(parts) >= 2 and all(c in han for c in parts[0]):
                words.append(parts[0])
                freqs.append(float(parts[1]))
    p = np.asarray(freqs) ** SMOOTHING
    return tuple(words), p / p.sum()


@cache
def _han(charset: str) -> str:
    han = set(gb2312_chars())
    return "".join(c for c in charset_chars(charset) if c in han)


def _token(rng: np.random.Generator) -> str:
    """A Latin/digit token as printed Chinese text carries them."""
    kind = rng.integers(0, 7)
    if kind == 0:
        return str(rng.integers(0, 10 ** rng.integers(1, 6)))
    if kind == 1:
        return f"{rng.integers(1, 1000)}.{rng.integers(0, 100):02d}"
    if kind == 2:
        return f"{rng.integers(1990, 2031)}年{rng.integers(1, 13)}月{rng.integers(1, 29)}日"
    if kind == 3:
        return str(rng.choice(_LATIN_WORDS))
    if kind == 4:
        n = int(rng.integers(2, 7))
        return "".join(rng.choice(list(string.ascii_uppercase + string.digits), n))
    if kind == 5:
        return f"{rng.integers(10, 100)}%"
    n = int(rng.integers(2, 8))
    word = "".join(rng.choice(list(string.ascii_lowercase), n))
    return word.capitalize() if rng.random() < 0.3 else word


class TextSampler:
    """Draws text lines of a given length range in characters (Latin tokens count per character)."""

    def __init__(self, charset: str = "GB2312"):
        self.words, self.p = dictionary_words(charset)
        self.han = _han(charset)
        self.cum = np.cumsum(self.p)

    def word(self, rng: np.random.Generator) -> str:
        return self.words[min(int(np.searchsorted(self.cum, rng.random())), len(self.words) - 1)]

    def line(self, rng: np.random.Generator, min_chars: int = 2, max_chars: int = 12) -> str:
        n = int(rng.integers(min_chars, max_chars + 1))
        r = rng.random()
        if r < UNIFORM_SHARE:
            return "".join(rng.choice(list(self.han), n))
        mixed = r < UNIFORM_SHARE + MIXED_SHARE
        punct = rng.random() < PUNCT_SHARE
        parts: list[str] = []
        length = 0
        while length < n:
            if mixed and rng.random() < 0.3:
                tok = _token(rng)
                if parts and rng.random() < 0.5:
                    tok = " " + tok + " "
            else:
                tok = self.word(rng)
            if punct and parts and rng.random() < 0.2:
                tok = str(rng.choice(list(CHINESE_PUNCT[:9]))) + tok
            parts.append(tok)
            length += len(tok)
        text = " ".join("".join(parts).split())[:n].strip()
        if punct and rng.random() < 0.3 and len(text) < max_chars:
            text += str(rng.choice(list("。，！？；：")))
        return text or self.word(rng)
