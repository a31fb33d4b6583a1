"""Reading a line three ways when unsure, and plates (chinese_ocr.recognize.LineRecognizer.refine,
chinese_ocr.preprocess.reading_variants, chinese_ocr.plates)."""

from __future__ import annotations

import numpy as np
import pytest

from chinese_ocr.charset import charset_chars
from chinese_ocr.plates import LETTERS, PROVINCES, SERIAL, USE_MARKS, is_plate, looks_like_plate
from chinese_ocr.preprocess import reading_variants
from chinese_ocr.recognize import LineText, read_again, reading
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


def plate_frames(text: str) -> list[dict[str, float]]:
    """A character frame then a blank frame per character."""
    return [row for ch in text for row in ({ch: 0.95}, {"": 0.95})]


def test_plate_form():
    assert all(c in CS.chars for c in PROVINCES + SERIAL + USE_MARKS)
    assert len(PROVINCES) == 31 and "I" not in LETTERS and "O" not in SERIAL
    assert is_plate("皖A12345") and is_plate("粤BD12345") and is_plate("京A1234学")
    for text in ("皖A1234", "皖112345", "皖A12O45", "AA12345", "皖A123456789", "皖A12345 ", "京A学1234"):
        assert not is_plate(text), text
    # a character lost or doubled still looks like a plate; other lines do not
    assert looks_like_plate("皖A1234") and looks_like_plate("皖A123456") and looks_like_plate("皖A12345")
    assert not looks_like_plate("皖A12") and not looks_like_plate("天A12345") and not looks_like_plate("皖天12345")


def test_reading_and_when_to_read_again():
    got = reading(spell([{"天": 0.9}, {"": 0.9}, {"下": 0.8}]), CS)
    assert got.text == "天下" and got.confidence == pytest.approx(np.sqrt(0.9 * 0.8), abs=1e-6)
    assert got.once == got.confidence
    assert reading(spell([{"": 0.99}]), CS) == LineText("", 0.0)
    assert read_again(LineText("天气", 0.5)) and not read_again(LineText("天气", 0.95))
    assert read_again(reading(spell(plate_frames("皖A12345")), CS))  # a plate, however sure


class _Reader:
    """A stand-in recogniser network: a bright image reads 天 surely, a dark one 天 at 0.5 unless
    cropped tighter or stretched (a variant's shape differs from the 24 x 94 originals: 0.99)."""

    def __init__(self):
        self.calls = []

    def __call__(self, images):
        self.calls.append(len(images))
        return [spell([{"天": 0.99 if im.mean() > 100 or im.shape != (24, 94) else 0.5}]) for im in images]


def _recognizer(variants=True):
    from chinese_ocr import recognize

    rec = object.__new__(recognize.LineRecognizer)
    rec.variants, rec.charset, rec.probabilities, rec.plates = variants, CS, _Reader(), None
    return rec


def test_only_unsure_lines_are_read_again():
    rec = _recognizer()
    sure, unsure = np.full((24, 94), 200, np.uint8), np.zeros((24, 94), np.uint8)
    got = rec.read([sure, unsure, sure])
    assert rec.probabilities.calls == [3, 2]  # one more batch, for the unsure line's two variants
    assert [r.confidence for r in got] == pytest.approx([0.99, 0.99, 0.99])
    assert got[1].once == pytest.approx(0.5)  # the first reading's confidence is kept
    rec.probabilities.calls.clear()
    assert [r.confidence for r in rec.read([sure, unsure], variants=False)] == pytest.approx([0.99, 0.5])
    assert rec.probabilities.calls == [2]
    rec = _recognizer(variants=False)
    rec.read([unsure])
    assert rec.probabilities.calls == [1]


def test_reading_variants():
    line = np.full((24, 94, 3), 200, np.uint8)
    as_given, tight, wide = reading_variants(line)
    assert as_given is line and tight.shape == (22, 90, 3) and wide.shape == (24, 108, 3)
    assert reading_variants(np.zeros((48, 300), np.uint8))[1].shape == (44, 292)
    tiny = np.zeros((5, 6), np.uint8)
    assert reading_variants(tiny)[1] is tiny  # too small to crop


PLATE_CS = Charset(charset_chars("plates"))


class _PlateReader:
    """A stand-in plate reader: the tighter variant (22 x 90) reads 皖A12345 at 0.97, the others
    皖A1234 (not a plate) at 0.99; a 30 px high image reads nothing that is a plate."""

    def __init__(self):
        self.calls = []
        self.charset = PLATE_CS

    def probabilities(self, images, together=False):
        self.calls.append((len(images), together))
        out = []
        for im in images:
            text, p = ("皖A12345", 0.97) if im.shape[:2] == (22, 90) else ("皖A1234", 0.99)
            if im.shape[0] == 30:
                text = "皖A12"
            rows = [row for ch in text for row in ({ch: p}, {"": p})]
            probs = np.full((len(rows), PLATE_CS.num_classes), 1e-4)
            for t, row in enumerate(rows):
                for ch, q in row.items():
                    probs[t, BLANK if ch == "" else PLATE_CS.index(ch)] = q
            out.append(probs / probs.sum(axis=1, keepdims=True))
        return out


def test_plate_reader_reads_what_looks_like_a_plate():
    rec = _recognizer()
    rec.plates = _PlateReader()
    # The line recogniser's stand-in reads 天 everywhere: give it plate-like first readings.
    first = [LineText("皖A1234", 0.99), LineText("天", 0.99), LineText("皖A1234", 0.99)]
    images = [np.full((24, 94), 200, np.uint8), np.full((24, 94), 200, np.uint8), np.full((30, 94), 200, np.uint8)]
    got = rec.refine(images, first)
    assert rec.plates.calls == [(3, True)] * 2  # both plate-like lines, each one batch of its three variants
    tight = reading(_PlateReader().probabilities([np.zeros((22, 90))])[0], PLATE_CS)
    assert got[0].text == "皖A12345" and got[0].confidence == pytest.approx(tight.confidence)
    assert got[0].once == pytest.approx(0.99)  # the first reading's confidence is kept
    assert got[1] == first[1]  # not plate-like, and sure: untouched
    # no variant of the third read as a plate: it is read as any other line (sure, so kept)
    assert got[2] == first[2] and sum(rec.probabilities.calls) == 0
