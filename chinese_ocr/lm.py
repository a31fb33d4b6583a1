"""A character bigram language model for reading Chinese lines: which characters follow which
inside the words of ``jieba``'s dictionary.

A CTC recogniser reads each character on its own. Where the glyph is unclear it may write a
character that no Chinese word has in that place: ``M络`` for ``网络``, ``抗州`` for ``杭州``,
``适官`` for ``适宜``. The beam decoder ``beam-lm`` (:mod:`chinese_ocr.recognize`) adds, for each
character it appends after a Chinese character, ``ALPHA`` times the pointwise mutual information
of the pair within dictionary words, ``log P(a, b) / (P(a) P(b))``, clipped to ``[0, CAP]``: a
pair that words often carry is rewarded, any other pair is left as the recogniser read it, so
names, rare characters, Latin, digits and punctuation are never pushed away, only helped where a
word makes the reading likely. Word frequencies are jieba's (the frequency the corpus sampler
smooths, ``chinese_ocr.corpus.dictionary_words``).

``ALPHA`` was chosen on the rendered held-out-face lines (AR PL UMing) and the eval-face lines
with the shipped recogniser (docs/chinese.md, "A language model"); real lines were not used to
pick it.
"""

from __future__ import annotations

import copy
from functools import lru_cache

import numpy as np

ALPHA = 0.8  # nats per unit of mutual information
CAP = 6.0  # at most this much mutual information counts for one pair


class CharBigram:
    """``bonus(last, cands)`` for :func:`ocr_common.ctc.beam_search`: class ids (1-based, as the
    charset encodes them) -> ``ALPHA * clip(PMI, 0, CAP)``; 0 for pairs no word has."""

    def __init__(self, chars: str, words: list[str] | tuple[str, ...], weights: np.ndarray, *,
                 alpha: float = ALPHA, cap: float = CAP):
        self.ids = ids = {c: i + 1 for i, c in enumerate(chars)}
        self.size = len(chars) + 1
        self.alpha, self.cap = alpha, cap
        unigram = np.zeros(self.size)
        left = np.zeros(self.size)  # how often each character is followed by another in a word
        pairs: dict[int, float] = {}
        for word, w in zip(words, np.asarray(weights, float)):
            code = [ids.get(c) for c in word]
            if None in code:
                continue
            for i in code:
                unigram[i] += w
            for a, b in zip(code, code[1:]):
                key = a * self.size + b
                pairs[key] = pairs.get(key, 0.0) + w
                left[a] += w
        self.keys = np.fromiter(sorted(pairs), np.int64, len(pairs))
        counts = np.fromiter((pairs[k] for k in self.keys), float, len(pairs))
        a, b = self.keys // self.size, self.keys % self.size
        pmi = np.log(counts * unigram.sum() / (left[a] * unigram[b])) if len(counts) else counts
        self.pmi = np.clip(pmi, 0.0, cap).astype(np.float32)
        self.score = alpha * self.pmi

    def with_alpha(self, alpha: float) -> CharBigram:
        """The same model with another weight (the pairs are not counted again)."""
        other = copy.copy(self)
        other.alpha, other.score = alpha, alpha * self.pmi
        return other

    def __len__(self) -> int:
        return len(self.keys)

    def __call__(self, last: np.ndarray, cands: np.ndarray) -> np.ndarray:
        last = np.asarray(last, np.int64)
        keys = last[:, None] * self.size + np.asarray(cands, np.int64)[None, :]
        if not len(self.keys):
            return np.zeros(keys.shape, np.float32)
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        hit = (self.keys[pos] == keys) & (last[:, None] > 0)
        return np.where(hit, self.score[pos], np.float32(0.0))

    def pair(self, a: str, b: str) -> float:
        """The bonus for ``b`` after ``a`` (for reading and tests)."""
        return float(self(np.array([self.ids[a]]), np.array([self.ids[b]]))[0, 0])


@lru_cache(maxsize=4)
def dictionary_bigram(chars: str, charset_name: str) -> CharBigram:
    """The bigram model over ``chars`` from jieba's dictionary words of the charset (a few seconds,
    once per process and charset)."""
    from chinese_ocr.corpus import SMOOTHING, dictionary_words

    words, p = dictionary_words(charset_name)
    return CharBigram(chars, words, p ** (1.0 / SMOOTHING))  # back to the dictionary's frequencies
