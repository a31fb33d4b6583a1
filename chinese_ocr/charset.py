"""The recogniser's character set, defined once.

``GB2312`` (default): the 6,763 Chinese characters of GB 2312 (level 1, 3,755 common ones
ordered by pinyin, then level 2, 3,008 ordered by radical), enumerated from Python's ``gb2312``
codec; then ASCII letters and digits and common Chinese and Latin punctuation. ``GB2312-1`` is
the smaller level-1 set; ``plates`` the 71 characters of a licence plate (a plate reader's).
Class 0 of a model is the CTC blank (:data:`ocr_common.ctc.BLANK`);
character ``i`` of the string is class ``i + 1``. The string is saved in the model config beside
the weights, so a model always decodes with the charset it was trained with.
"""

from __future__ import annotations

import re
import string
import unicodedata
from functools import cache

# Full-width forms the renderer writes and the decoder returns; their ASCII twins are folded
# onto them (or the reverse) by :func:`normalize_text`.
CHINESE_PUNCT = "，。、；：？！“”‘’（）《》【】—…·￥%"
LATIN_PUNCT = ".,;:?!'\"()[]-+*/=&#@_<>%$~±°×÷℃"
LEVELS = {"GB2312": (0xB0, 0xF7), "GB2312-1": (0xB0, 0xD7)}
PLATES = "plates"  # a licence-plate reader's characters (chinese_ocr.plates)
CHARSETS = (*LEVELS, PLATES)


def gb2312_chars(last_row: int = 0xF7) -> str:
    """GB 2312 Chinese characters in code order, rows 0xB0..``last_row`` (0xD7 ends level 1)."""
    out = []
    for hi in range(0xB0, last_row + 1):
        for lo in range(0xA1, 0xFF):
            try:
                out.append(bytes((hi, lo)).decode("gb2312"))
            except UnicodeDecodeError:  # the five unused cells at the end of row 0xD7
                continue
    return "".join(out)


@cache
def charset_chars(name: str = "GB2312") -> str:
    """The characters of charset ``name`` (``GB2312``, ``GB2312-1`` or ``plates``), blank not
    included. The space is a character: it separates Latin words in mixed lines. ``plates`` is
    what a plate says: the provinces, letters, digits and use marks of :mod:`chinese_ocr.plates`."""
    if name == PLATES:
        from chinese_ocr.plates import PROVINCES, SERIAL, USE_MARKS

        return PROVINCES + SERIAL + USE_MARKS
    if name not in LEVELS:
        raise ValueError(f"unknown charset {name!r}; choose one of {list(CHARSETS)}")
    chars = gb2312_chars(LEVELS[name][1]) + string.ascii_letters + string.digits + CHINESE_PUNCT + LATIN_PUNCT + " "
    seen: dict[str, None] = {}
    for c in chars:
        seen.setdefault(c, None)
    return "".join(seen)


# Characters a text may carry that the charset writes another way: full-width ASCII (NFKC folds
# those), the ASCII twins of the Chinese punctuation, and the Latin-1 yen sign (the charset's is
# the full-width one, as GB 2312 has it).
_FOLD = str.maketrans({"\u3000": " ", "「": "“", "」": "”", "『": "‘", "』": "’", "〔": "（", "〕": "）", "－": "-",
                       "～": "~", "·": "·", "¥": "￥"})


# Chinese punctuation set in a full character cell, its own space included: print puts no space
# beside it, so neither do the training lines (chinese_ocr.corpus) nor a reading
# (chinese_ocr.recognize.reading).
FULL_WIDTH_MARKS = "，。、；：？！“”‘’（）《》【】"
# Chinese punctuation and the ASCII mark a reading may write for it (the same shape, another width).
WIDTH_TWINS = str.maketrans({"（": "(", "）": ")", "，": ",", "；": ";", "：": ":", "！": "!", "？": "?",
                             "【": "[", "】": "]", "“": '"', "”": '"', "‘": "'", "’": "'", "—": "-"})
_SPACE_BESIDE_MARK = re.compile(" *([" + FULL_WIDTH_MARKS + "]) *")


def tight_marks(text: str) -> str:
    """``text`` without spaces beside full-width marks (``链接： https`` -> ``链接：https``)."""
    return _SPACE_BESIDE_MARK.sub(r"\1", text)


def pair_brackets(text: str) -> str:
    """``text`` with each closing parenthesis as wide as the one it closes: ``识别（OCR)`` ->
    ``识别（OCR）``, ``文件(33）`` -> ``文件(33)``. The training text sets every pair in one width
    (:mod:`chinese_ocr.corpus`), and so does print; a reading that mixes them has misread the
    closing one's width (a ``)`` beside Latin letters inside Chinese brackets, most often). A
    closing parenthesis with nothing open is left as read."""
    out, open_ = list(text), []
    for i, c in enumerate(out):
        if c in "(（":
            open_.append(c)
        elif c in ")）" and open_:
            out[i] = ")" if open_.pop() == "(" else "）"
    return "".join(out)


def normalize_text(text: str) -> str:
    """A label or a reading in the charset's spelling: full-width letters, digits and spaces become
    ASCII, Chinese punctuation stays full-width, runs of spaces become one."""
    out = []
    for c in text.translate(_FOLD):
        if c in CHINESE_PUNCT:
            out.append(c)
            continue
        n = unicodedata.normalize("NFKC", c)
        out.append(n if len(n) == 1 else c)
    return " ".join("".join(out).split())
