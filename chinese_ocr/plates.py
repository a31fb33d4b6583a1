"""Licence plates of mainland China: the form of a plate's text.

A plate is a province character, the letter of the issuing office, then five letters or digits
(a standard plate, 7 characters; the last may be a use mark such as 学 for driving schools or 警
for police) or six (a new-energy plate, 8 characters). Plates leave out I and O, which would
read as 1 and 0. The recogniser reads a line whose reading has this form again as variants
however sure it was (:func:`chinese_ocr.recognize.read_again`): on a plate every character counts.
Where a plate reader is installed (a recogniser trained on plates alone, ``--charset plates``),
a line that :func:`looks_like_plate` is read by it instead.
"""

from __future__ import annotations

import re

# The 31 provincial-level abbreviations on plates.
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, no O
DIGITS = "0123456789"
SERIAL = LETTERS + DIGITS
# A use mark in place of the last serial character: driving school, police, Hong Kong, Macau,
# trailer, consulate.
USE_MARKS = "学警港澳挂领"

PLATE_RE = re.compile(
    f"^[{PROVINCES}][{LETTERS}][{SERIAL}]{{4}}([{SERIAL}{USE_MARKS}]|[{SERIAL}]{{2}})$")


# Looser: what a plate may have been read as when a character was lost or doubled (a first
# reading that the plate reader should read again).
PLATE_LIKE_RE = re.compile(f"^[{PROVINCES}][{LETTERS}][{SERIAL}{USE_MARKS}]{{3,7}}$")


def looks_like_plate(text: str) -> bool:
    """True when ``text`` is a plate, or one with a serial character too few or too many."""
    return bool(PLATE_LIKE_RE.match(text))


def is_plate(text: str) -> bool:
    """True when ``text`` has the form of a plate (standard or new-energy)."""
    return bool(PLATE_RE.match(text))
