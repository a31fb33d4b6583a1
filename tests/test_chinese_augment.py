"""Real line photos drawn afresh for training (chinese_ocr.augment), the plate reader's charset
and its held-out plates."""

from __future__ import annotations

import numpy as np
import pytest

from chinese_ocr.augment import RealLines, augment_line, warp_crop
from chinese_ocr.charset import PLATES, charset_chars
from chinese_ocr.data import LabelledLine
from chinese_ocr.plates import PROVINCES, SERIAL, USE_MARKS, is_plate
from ocr_common.ctc import Charset


def _plate_photo(seed: int) -> np.ndarray:
    """A 24 x 94 white-on-blue "plate" of seven bars, a little different per seed."""
    rng = np.random.default_rng(seed)
    img = np.zeros((24, 94, 3), np.uint8)
    img[:] = (40, 70, 200)
    for k in range(7):
        x = 5 + 12 * k + int(rng.integers(0, 3))
        img[5:19, x : x + 6] = 240
    return img


def test_plate_charset_is_what_plates_say():
    chars = charset_chars(PLATES)
    assert chars == PROVINCES + SERIAL + USE_MARKS and len(chars) == 71 == len(set(chars))
    cs = Charset(chars)
    assert cs.decode(cs.encode("粤BD12345")) == "粤BD12345" and not cs.covers("皖A12O45")
    with pytest.raises(ValueError, match="plates"):
        charset_chars("GB2312-3")


def test_warp_crop_keeps_the_height_and_roughly_the_width():
    rng = np.random.default_rng(0)
    photo = _plate_photo(0)
    for _ in range(20):
        out = warp_crop(rng, photo)
        assert out.shape[0] == 24 and 80 <= out.shape[1] <= 107 and out.dtype == np.uint8
    looks = [augment_line(rng, photo) for _ in range(4)]
    assert all(im.ndim == 3 and im.shape[2] == 3 for im in looks)
    assert len({im.tobytes() for im in looks}) == 4  # a new look every time


def test_real_lines_draw_every_row_afresh_from_the_photos():
    cs = Charset(charset_chars(PLATES))
    lines = [LabelledLine("a.jpg", _plate_photo(1), "皖A12345"), LabelledLine("b.jpg", _plate_photo(2), "京B6789学"),
             LabelledLine("c.jpg", _plate_photo(3), "天下")]  # 天下: not in the plate charset, left out
    src = RealLines(lines, cs, 16, rng=np.random.default_rng(4))
    assert len(src) == 2
    x, y = src.take(12)
    assert x.shape == (12, 32, 280) and x.dtype == np.uint8 and y.shape == (12, 16)
    assert {cs.decode(row) for row in y} <= {"皖A12345", "京B6789学"}
    ink = x.max(axis=1) > 100  # (rows, columns): every row carries ink, flush left, not the whole width
    assert ink[:, :60].any(axis=1).all() and not ink[:, 200:].any()
    assert len({row.tobytes() for row in x}) == 12  # two photos, twelve different rows
    with pytest.raises(ValueError, match="charset"):
        RealLines(lines[2:], cs, 16)


def test_held_out_plates_are_plates_in_the_held_out_face():
    from chinese_ocr import fonts
    from chinese_ocr.synth import rendered_plates

    try:
        fonts.faces("heldout")
    except FileNotFoundError as e:  # pragma: no cover - CI installs the fonts
        pytest.skip(f"Chinese fonts not installed: {e}")
    x, texts = rendered_plates(6)
    again, _ = rendered_plates(6)
    assert x.shape == (6, 32, 280) and all(is_plate(t) for t in texts) and np.array_equal(x, again)


def test_sheet_shows_each_photo_beside_its_looks(tmp_path):
    import cv2

    from chinese_ocr.augment import sheet

    lines = [LabelledLine(f"{i}.jpg", _plate_photo(i), "皖A12345") for i in range(3)]
    grid = cv2.imread(str(sheet(lines, tmp_path / "s.png", looks=2)))
    assert grid.shape == (3 * (48 + 4), 3 * (188 + 4), 3)
