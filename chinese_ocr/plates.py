"""Licence plates of mainland China: the format, and reading a plate within it.

A plate is a province character, the letter of the issuing office, then five letters or digits
(a standard plate, 7 characters; the last may be a use mark such as 学 for driving schools or 警
for police) or six (a new-energy plate, 8 characters). Plates leave out I and O, which would
read as 1 and 0. :func:`read_plate` decodes a recogniser's output constrained to these patterns
(:func:`ocr_common.ctc.pattern_best_path`), so a plate always comes out as a well-formed plate:
no dropped or doubled character, no 0 where a letter must be, no stray Chinese character in the
serial. ``POST /predict/chinese?plate=1`` and ``python -m chinese_ocr.predict --plate`` use it.
"""

from __future__ import annotations

import re

import numpy as np

from ocr_common.ctc import Charset, PatternReading, pattern_best_path

# The 31 provincial-level abbreviations on plates.
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, no O
DIGITS = "0123456789"
SERIAL = LETTERS + DIGITS
# A use mark in place of the last serial character: driving school, police, Hong Kong, Macau,
# trailer, consulate.
USE_MARKS = "学警港澳挂领"

PATTERNS: dict[str, tuple[str, ...]] = {
    "standard": (PROVINCES, LETTERS, SERIAL, SERIAL, SERIAL, SERIAL, SERIAL + USE_MARKS),
    "new-energy": (PROVINCES, LETTERS, SERIAL, SERIAL, SERIAL, SERIAL, SERIAL, SERIAL),
}

PLATE_RE = re.compile(
    f"^[{PROVINCES}][{LETTERS}][{SERIAL}]{{4}}([{SERIAL}{USE_MARKS}]|[{SERIAL}]{{2}})$")


def is_plate(text: str) -> bool:
    """True when ``text`` has the form of a plate (either pattern)."""
    return bool(PLATE_RE.match(text))


def read_plate(probs: np.ndarray, charset: Charset) -> PatternReading | None:
    """The most probable plate in one line's ``(frames, classes)`` probabilities, over both
    patterns (by the log probability of the frame path); None when the line is too short in
    frames to hold a plate."""
    found = [r for r in (pattern_best_path(probs, charset, p) for p in PATTERNS.values()) if r is not None]
    return max(found, key=lambda r: r.log_prob, default=None)
