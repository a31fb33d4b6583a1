"""Text for the synthetic Chinese lines and pages: words of ``jieba``'s dictionary drawn by
frequency, with rare characters boosted and Latin letters and digits mixed in.

Frequency alone would show the common few hundred characters thousands of times and most of
level 2 of GB 2312 never; so words are drawn by ``freq ** SMOOTHING``, and a share of lines
(``UNIFORM_SHARE``) are random characters drawn evenly from the charset. ``MIXED_SHARE`` of
lines carry digits, prices, dates, codes or Latin words between the Chinese ones.

``TextSampler(latin=True)`` (the recogniser's training lines) draws Latin text as printed
Chinese pages carry it, far more often: English words by their frequency (``wordfreq``) in lower,
title or upper case, web addresses, e-mail addresses, file paths, version numbers, ISO dates and
times, hyphenated model names, formulas and brackets; ``LATIN_MIXED_SHARE`` of lines mix them in
and ``ENGLISH_SHARE`` are English phrases. Before it, lower-case Latin was about 2 % of the
training tokens and ``/ : @ _`` next to none, and the model read ``https://github.com`` as
``hHtpsJJoihub``. The held-out and evaluation lines keep the plain sampler, so their figures
stay comparable from one model to the next.
"""

from __future__ import annotations

import os
import string
from functools import cache

import numpy as np

from chinese_ocr.charset import CHINESE_PUNCT, charset_chars, gb2312_chars, tight_marks

SMOOTHING = 0.5
UNIFORM_SHARE = 0.15
MIXED_SHARE = 0.2
PUNCT_SHARE = 0.25  # of lines with a punctuation mark between words
LATIN_MIXED_SHARE = 0.3  # latin=True: lines with Latin tokens between the Chinese words
LATIN_TOKEN_P = 0.4  # latin=True: chance that a token of a mixed line is Latin
ENGLISH_SHARE = 0.06  # latin=True: lines of English words (now and then a Chinese word after them)
# latin=True: rows of a table of contents or a price list (an entry, dot leaders, a number). Without
# them the recogniser read a run of leader dots as one "…" (docs/chinese.md, "Next").
LEADER_SHARE = 0.02
# latin=True: of the mixed-in tokens, this share is a count and its measure word (``5人``,
# ``12元``), never spaced off: print sets them tight (the model read ``（5人）`` as ``（5 人）``).
QUANTITY_P = 0.12
_MEASURES = ("人", "个", "元", "次", "件", "页", "天", "岁", "年", "月", "号", "条", "位", "名", "家", "种",
             "项", "台", "辆", "吨", "米", "倍", "分", "秒", "小时", "分钟", "公里", "万", "亿", "组", "章")
# latin=True: chance that a word is set in Chinese brackets or quotes, and that a Latin token
# between Chinese words is set in full-width parentheses, as in 识别（OCR）. Before, the training
# lines had next to no full-width parentheses and the recogniser read them as ASCII ones.
BRACKET_P = 0.06
_CHINESE_BRACKETS = ("（）", "《》", "“”", "【】", "‘’")
ENGLISH_WORDS = 20000  # wordfreq's most frequent English words drawn from
_LATIN_WORDS = ("OCR", "CPU", "GPU", "USB", "WiFi", "App", "iPhone", "Android", "Python", "email", "http", "www",
                "com", "cn", "KTV", "VIP", "ID", "No", "Tel", "QQ", "PM", "AM", "km", "kg", "cm", "mm", "mL",
                "Hello", "World", "China", "Beijing", "Shanghai", "OK", "LED", "PDF", "DNA", "AI", "ATM", "NBA")


WORD_LISTS_ENV = "ZH_WORD_LISTS"  # a save_word_lists() file, instead of jieba and wordfreq


@cache
def _saved(path: str, kind: str, key: str):
    import gzip
    import pickle

    with gzip.open(path, "rb") as f:
        lists = pickle.load(f)
    if key not in lists[kind]:
        raise KeyError(f"{path} has no {kind} for {key!r} (it has {sorted(lists[kind])})")
    return lists[kind][key]


def save_word_lists(path: str | os.PathLike, charsets: tuple[str, ...] = ("GB2312-1",)) -> None:
    """The sampler's word lists in one gzipped pickle: a machine without ``jieba`` and
    ``wordfreq`` (a lent GPU) samples the same text with ``ZH_WORD_LISTS=path``."""
    import gzip
    import pickle

    lists = {"dictionary": {c: dictionary_words(c) for c in charsets},
             "english": {str(ENGLISH_WORDS): english_words(ENGLISH_WORDS)}}
    with gzip.open(path, "wb") as f:
        pickle.dump(lists, f)


def _draw(words: tuple[str, ...], cum: np.ndarray, rng: np.random.Generator) -> str:
    """A word drawn by its cumulative probability."""
    return words[min(int(np.searchsorted(cum, rng.random())), len(words) - 1)]


@cache
def dictionary_words(charset: str = "GB2312") -> tuple[tuple[str, ...], np.ndarray]:
    """``(words, probabilities)``: jieba's dictionary entries written only in the charset's
    Chinese characters, with probability proportional to ``freq ** SMOOTHING``
    (from ``$ZH_WORD_LISTS`` when set)."""
    if os.environ.get(WORD_LISTS_ENV):
        return _saved(os.environ[WORD_LISTS_ENV], "dictionary", charset)
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


@cache
def english_words(n: int = ENGLISH_WORDS) -> tuple[tuple[str, ...], np.ndarray]:
    """``(words, cumulative probabilities)``: wordfreq's ``n`` most frequent English words of
    ASCII letters, drawn by ``freq ** SMOOTHING`` like the Chinese ones (from ``$ZH_WORD_LISTS`` when set)."""
    if os.environ.get(WORD_LISTS_ENV):
        return _saved(os.environ[WORD_LISTS_ENV], "english", str(n))
    import wordfreq

    words = tuple(w for w in wordfreq.top_n_list("en", n) if w.isascii() and w.isalpha())
    p = np.array([wordfreq.word_frequency(w, "en") for w in words]) ** SMOOTHING
    return words, np.cumsum(p / p.sum())


_TLDS = ("com", "cn", "org", "net", "io", "com.cn", "edu.cn", "gov.cn")
_MAIL_HOSTS = ("qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com", "foxmail.com")
_UNITS = ("ms", "kg", "km", "MB", "GB", "px", "mm", "Hz", "W", "V")
_EXTENSIONS = ("exe", "txt", "pdf", "py", "json", "jpg", "png", "zip", "html", "docx", "xlsx", "md")


def _case(rng: np.random.Generator, word: str) -> str:
    r = rng.random()
    return word.upper() if r < 0.15 else word.capitalize() if r < 0.45 else word


class _Latin:
    """Latin tokens as printed Chinese text carries them (``TextSampler(latin=True)``)."""

    def __init__(self):
        self.words, self.cum = english_words()

    def word(self, rng: np.random.Generator) -> str:
        return _draw(self.words, self.cum, rng)

    def phrase(self, rng: np.random.Generator, n: int) -> str:
        return " ".join(_case(rng, self.word(rng)) for _ in range(n))

    def token(self, rng: np.random.Generator) -> str:
        w = self.word
        kind = int(rng.choice(12, p=[0.26, 0.1, 0.08, 0.07, 0.07, 0.08, 0.08, 0.06, 0.06, 0.05, 0.05, 0.04]))
        if kind == 0:  # English words
            return self.phrase(rng, int(rng.integers(1, 4)))
        if kind == 1:  # a web address
            host = f"{str(rng.choice(['https://', 'http://', 'www.', '']))}{w(rng)}.{rng.choice(_TLDS)}"
            path = "".join("/" + w(rng) + (str(rng.choice(["-", "_", ""])) + w(rng) if rng.random() < 0.3 else "")
                           for _ in range(int(rng.integers(0, 3))))
            return host + path
        if kind == 2:  # an e-mail address
            user = w(rng) + (str(rng.integers(1, 9999)) if rng.random() < 0.5 else "")
            return f"{user}@{rng.choice(_MAIL_HOSTS)}"
        if kind == 3:  # a file path
            parts = [w(rng) for _ in range(int(rng.integers(1, 4)))]
            return "/".join(parts) + f".{rng.choice(_EXTENSIONS)}"
        if kind == 4:  # a version
            v = ".".join(str(rng.integers(0, 20)) for _ in range(int(rng.integers(2, 4))))
            return str(rng.choice(["v", "V", ""])) + v + (f"-{rng.choice(['beta', 'dev', 'rc1'])}" if rng.random() < 0.2
                                                           else "")
        if kind == 5:  # an ISO date, a time, or both
            d = f"{rng.integers(1990, 2031)}{rng.choice(['-', '/', '.'])}{rng.integers(1, 13):02d}"
            d += f"{d[4]}{rng.integers(1, 29):02d}"
            t = f"{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}" + (f":{rng.integers(0, 60):02d}"
                                                                           if rng.random() < 0.5 else "")
            return str(rng.choice([d, t, f"{d} {t}"]))
        if kind == 6:  # a model name or term with a number
            return f"{_case(rng, w(rng))}{rng.choice(['-', ''])}{rng.integers(1, 1000)}"
        if kind == 7:  # a short formula
            v = list(string.ascii_uppercase if rng.random() < 0.5 else string.ascii_lowercase)
            ops = "+-*/="
            return "".join(str(rng.choice(v)) + (str(rng.choice(list(ops))) if i < 3 else "")
                           for i in range(int(rng.integers(2, 5)))).rstrip(ops)
        if kind == 8:  # a word in brackets or quotes
            a, b = (("(", ")"), ("[", "]"), ("<", ">"), ('"', '"'), ("'", "'"))[int(rng.integers(5))]
            return a + _case(rng, w(rng)) + b
        if kind == 9:  # a number with a unit
            return f"{rng.integers(1, 1000)}{rng.choice(['', ' '])}{rng.choice(_UNITS)}"
        if kind == 11:  # an identifier or a name template: snake_case, %name_%date, %Y-%m-%d_%H
            return self.identifier(rng)
        return _token(rng)

    def identifier(self, rng: np.random.Generator) -> str:
        """Underscores as code, file names and templates carry them (``max_len``,
        ``chineseocr_lite.py``, ``%name_%date``, ``%Y-%m-%d_%H-%M``)."""
        parts = [self.word(rng).lower() for _ in range(int(rng.integers(2, 4)))]
        style = int(rng.integers(4))
        if style == 0:
            return "_".join(parts)
        if style == 1:
            return "_".join(parts) + f".{rng.choice(_EXTENSIONS)}"
        if style == 2:
            return "_".join("%" + p for p in parts)
        sep = str(rng.choice(["-", "_", ""]))
        date = sep.join(["%Y", "%m", "%d"][: int(rng.integers(2, 4))])
        return date + "_" + str(rng.choice(["%H", "%H-%M", "%H%M%S", "%H-%M-%S"]))


class TextSampler:
    """Draws text lines of a given length range in characters (Latin tokens count per character).

    ``latin=True``: far more Latin text, and of the kinds printed Chinese pages carry (module
    docstring); the recogniser trains on these."""

    def __init__(self, charset: str = "GB2312", latin: bool = False, uniform_share: float = UNIFORM_SHARE):
        self.uniform_share = uniform_share  # 0: every line is words (print_lines' natural text)
        self.words, self.p = dictionary_words(charset)
        self.han = _han(charset)
        self.cum = np.cumsum(self.p)
        self.latin = _Latin() if latin else None

    def word(self, rng: np.random.Generator) -> str:
        return _draw(self.words, self.cum, rng)

    def leader_row(self, rng: np.random.Generator, max_chars: int = 12) -> str:
        """An entry, three or more leader dots and a page number or price, ``max_chars`` long at
        most where the number leaves room for three dots."""
        tail = str(int(rng.integers(1, 400))) if rng.random() < 0.6 else f"{rng.uniform(1, 1000):.2f}"
        head = self.word(rng)[: max(1, max_chars - len(tail) - 3)]
        dots = int(rng.integers(3, max(3, max_chars - len(head) - len(tail)) + 1))
        return head + "." * dots + tail

    def line(self, rng: np.random.Generator, min_chars: int = 2, max_chars: int = 12) -> str:
        n = int(rng.integers(min_chars, max_chars + 1))
        r = rng.random()
        if self.latin is not None and r >= 1 - LEADER_SHARE:
            return self.leader_row(rng, max_chars)
        u = self.uniform_share
        if r < u:
            return "".join(rng.choice(list(self.han), n))
        latin = self.latin
        if latin is not None and r < u + ENGLISH_SHARE:
            text = latin.phrase(rng, max(1, n // 4))
            if len(text) < n and rng.random() < 0.3:
                text += str(rng.choice(["", " "])) + self.word(rng)
            return " ".join(text[:n].split()) or self.word(rng)
        mixed = r < u + (MIXED_SHARE if latin is None else ENGLISH_SHARE + LATIN_MIXED_SHARE)
        p_token = 0.3 if latin is None else LATIN_TOKEN_P
        punct = rng.random() < PUNCT_SHARE
        parts: list[str] = []
        length = 0
        while length < n:
            if mixed and rng.random() < p_token:
                tok = _token(rng) if latin is None else latin.token(rng)
                if latin is not None and rng.random() < QUANTITY_P:
                    tok = f"{rng.integers(1, 100 if rng.random() < 0.8 else 10000)}{rng.choice(_MEASURES)}"
                elif latin is not None and parts and rng.random() < BRACKET_P:
                    tok = "（" + tok + "）"  # set off by its brackets: no spaces around them
                elif parts and rng.random() < 0.5:
                    tok = " " + tok + " "
            else:
                tok = self.word(rng)
                if latin is not None and rng.random() < BRACKET_P:
                    a, b = _CHINESE_BRACKETS[int(rng.integers(len(_CHINESE_BRACKETS)))]
                    tok = a + tok + b
            if punct and parts and rng.random() < 0.2:
                tok = str(rng.choice(list(CHINESE_PUNCT[:9]))) + tok
            parts.append(tok)
            length += len(tok)
        text = " ".join("".join(parts).split())
        if latin is not None:  # Chinese punctuation carries its own space
            text = tight_marks(text)
        text = text[:n].strip()
        if latin is not None and parts[-1].endswith(" ") and rng.random() < 0.7:
            # A spaced Latin token mostly stands inside a line: without this, the line's end cut
            # its trailing space off, and Latin followed by a space and Chinese was rare.
            # (No space after a mark the cut ended on; still max_chars at most.)
            text = tight_marks(text + " " + self.word(rng))[:max_chars].rstrip()
        if punct and rng.random() < 0.3 and len(text) < max_chars:
            text += str(rng.choice(list("。，！？；：")))
        return text or self.word(rng)
