"""Reading licence plates within their format, and reading a line three ways
(chinese_ocr.plates, chinese_ocr.recognize.choose, chinese_ocr.preprocess.reading_variants)."""

from __future__ import annotations

import numpy as np
import pytest

from chinese_ocr.charset import charset_chars
from chinese_ocr.plates import LETTERS, PATTERNS, PROVINCES, SERIAL, is_plate, read_plate
from chinese_ocr.preprocess import reading_variants
from chinese_ocr.recognize import LineText, choose
from ocr_common.ctc import BLANK, Charset

CS = Charset(charset_chars("GB2312-1"))


def spell(rows: list[dict[str, float]]) -> np.ndarray:
    """(T, C) probabilities: each row names some characters ("" = blank) with their probability;
    the rest of the row is spread evenly."""
    out = np.zeros((len(rows), CS.num_classes))
    for t, row in enumerate(rows):
        named = {BLANK if ch == "" else CS.index(ch): p for ch, p in row.items()}
        out[t] = (1.0 - sum(named.values())) / (CS.num_classes - len(named))
        for i, p in named.items():
            out[t, i] = p
    return out


def plate_frames(text: str, weak: dict[int, dict[str, float]] | None = None) -> list[dict[str, float]]:
    """A character frame then a blank frame per character; ``weak[k]`` replaces character k's frame."""
    rows = []
    for k, ch in enumerate(text):
        rows += [(weak or {}).get(k, {ch: 0.95}), {"": 0.95}]
    return rows


def test_plate_format():
    assert all(c in CS.chars for pattern in PATTERNS.values() for slot in pattern for c in slot)
    assert len(PROVINCES) == 31 and "I" not in LETTERS and "O" not in SERIAL
    assert is_plate("皖A12345") and is_plate("粤BD12345") and is_plate("京A1234学")
    for text in ("皖A1234", "皖112345", "皖A12O45", "AA12345", "皖A123456789", "皖A12345 ", "京A学1234"):
        assert not is_plate(text), text


def test_read_plate_keeps_to_the_format():
    from ocr_common.ctc import best_path

    # A serial character looks more like the letter O (no plate has one) than the digit 0, and
    # the last character is weaker than the blank: best path reads 6 characters with an O.
    probs = spell(plate_frames("皖A1O23", {3: {"O": 0.5, "0": 0.4}}) + [{"5": 0.3, "": 0.6}])
    assert best_path(probs, CS) == "皖A1O23"
    reading = read_plate(probs, CS)
    assert reading.text == "皖A10235" and is_plate(reading.text)
    # The office letter read as a digit: its slot takes letters only.
    assert read_plate(spell(plate_frames("沪812345", {1: {"8": 0.6, "B": 0.3}})), CS).text == "沪B12345"
    # Eight characters when the frames hold eight (a new-energy plate), not seven.
    assert read_plate(spell(plate_frames("粤BD12345")), CS).text == "粤BD12345"
    assert read_plate(spell([{"皖": 0.9}]), CS) is None  # one frame holds no plate


def test_choose_keeps_the_most_confident_variant_and_reads_plates_in_format():
    unsure = spell([{"天": 0.5}, {"": 0.9}, {"气": 0.6}])
    sure = spell([{"天": 0.9}, {"": 0.9}, {"下": 0.8}])
    got = choose([unsure, sure], CS)
    assert got.text == "天下" and got.confidence == pytest.approx(np.sqrt(0.9 * 0.8), abs=1e-6)
    assert choose([unsure], CS).text == "天气"
    assert choose([spell([{"": 0.99}])], CS) == LineText("", 0.0)
    # A plate-formed reading (its 2nd character a digit in one variant, a letter in the other)
    # comes out as the most confident plate of the variants, within the format.
    a = spell(plate_frames("皖812345", {1: {"8": 0.5, "B": 0.45}}))
    b = spell(plate_frames("皖B12345", {1: {"B": 0.6}}))
    got = choose([a, b], CS)
    assert got.text == "皖B12345" and is_plate(got.text)


def test_reading_variants():
    line = np.full((24, 94, 3), 200, np.uint8)
    as_given, tight, wide = reading_variants(line)
    assert as_given is line and tight.shape == (22, 90, 3) and wide.shape == (24, 108, 3)
    assert reading_variants(np.zeros((48, 300), np.uint8))[1].shape == (44, 292)
    tiny = np.zeros((5, 6), np.uint8)
    assert reading_variants(tiny)[1] is tiny  # too small to crop


def test_only_unsure_lines_are_read_again():
    from chinese_ocr import recognize

    calls = []

    def probabilities(images):
        calls.append(len(images))
        # A bright image reads confidently; a dark one does not, unless it was cropped tighter
        # (a variant's shape differs from the 24 x 94 originals).
        return [spell([{"天": 0.99 if im.mean() > 100 or im.shape != (24, 94) else 0.5}]) for im in images]

    rec = object.__new__(recognize.LineRecognizer)
    rec.variants, rec.charset, rec.probabilities = True, CS, probabilities
    sure, unsure = np.full((24, 94), 200, np.uint8), np.zeros((24, 94), np.uint8)
    groups = rec.variant_probabilities([sure, unsure, sure])
    assert [len(g) for g in groups] == [1, 3, 1] and calls == [3, 2]  # one more batch, for one line
    got = rec.read([unsure])
    assert got[0].text == "天" and got[0].confidence == pytest.approx(0.99)
    rec.variants, calls[:] = False, []
    assert [len(g) for g in rec.variant_probabilities([sure, unsure])] == [1, 1] and calls == [2]


def test_a_plate_is_read_again_however_sure():
    from chinese_ocr import recognize

    rec = object.__new__(recognize.LineRecognizer)
    rec.variants, rec.charset = True, CS
    rec.probabilities = lambda images: [spell(plate_frames("皖A12345")) for _ in images]
    assert [len(g) for g in rec.variant_probabilities([np.zeros((24, 94), np.uint8)])] == [3]
