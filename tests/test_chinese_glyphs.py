"""Easy lines (chinese_ocr.glyphs): evenly drawn characters, rendered on the fly, mixed into the
training stream by share."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from chinese_ocr import data, fonts
from ocr_common.ctc import Charset

try:
    fonts.faces("train")
except FileNotFoundError as e:  # pragma: no cover - CI installs the fonts
    pytest.skip(f"Chinese fonts not installed: {e}", allow_module_level=True)

from chinese_ocr.glyphs import EasyLines  # noqa: E402

SMALL = Charset("的一是不了人我在有他这中大来上国个到说们AB12，")


def test_easy_lines_draw_every_character_about_evenly_and_label_them():
    lines = EasyLines(SMALL, 12, rng=np.random.default_rng(0))
    x, y = lines.take(120)
    assert x.shape == (120, 32, 280) and x.dtype == np.uint8 and y.shape == (120, 12)
    texts = [SMALL.decode(r) for r in y]
    assert all(0 < len(t) <= 12 and SMALL.covers(t) for t in texts)
    counts = Counter("".join(texts))
    cjk = [c for c in SMALL.chars if ord(c) >= 0x2E80 and c != "，"]
    assert set(cjk) <= set(counts)
    per = [counts[c] for c in cjk]
    assert min(per) > 0.4 * np.mean(per)  # even, not Zipfian
    # Ink: bright strokes on a dark ground, and longer texts use more of the row.
    assert all(img.max() > 150 and np.median(img) < 60 for img in x)
    width = [np.flatnonzero(img.max(axis=0) > 120).max() for img in x]
    lens = [len(t) for t in texts]
    assert np.corrcoef(width, lens)[0, 1] > 0.5


class Marked:
    """A generated source whose rows carry 77 in pixel (0, 0)."""

    def take(self, n):
        x = np.zeros((n, 32, 280), np.uint8)
        x[:, 0, 0] = 77
        x[:, 5:25, 2:40] = 255
        return x, np.tile(np.array([[1, 2, 0, 0, 0, 0, 0, 0]], np.int32), (n, 1))


def test_generated_rows_fill_their_share_of_every_batch(tmp_path):
    from tests.test_chinese_data import CS, two_folders

    fa, fb, _, _ = two_folders(tmp_path)
    stream = data.iterate_shards([fa, fb], CS, 8, batch=10, seed=0, augment=False, weights=[0.5, 0.5],
                                 generated=[(Marked(), 0.4)])
    marked = sum(int((next(stream)[0][:, 0, 0, 0] == 77).sum()) for _ in range(40))
    assert 0.35 < marked / 400 < 0.45
    with pytest.raises(ValueError, match="sum below 1"):
        next(data.iterate_shards([fa], CS, 8, weights=[1.0], generated=[(Marked(), 1.0)]))


def test_generated_sources_alone_fill_every_batch_in_proportion():
    from tests.test_chinese_data import CS as CS_ALONE

    class Other(Marked):
        def take(self, n):
            x, y = super().take(n)
            x[:, 0, 0] = 99
            return x, y

    stream = data.iterate_shards([], CS_ALONE, 8, batch=10, seed=0, augment=False,
                                 generated=[(Marked(), 0.3), (Other(), 0.1)])
    firsts = np.concatenate([next(stream)[0][:, 0, 0, 0] for _ in range(40)])
    assert len(firsts) == 400 and set(firsts) == {77, 99} and 0.68 < np.mean(firsts == 77) < 0.82
    with pytest.raises(ValueError, match="no shard folder"):
        next(data.iterate_shards([], CS_ALONE, 8))
    with pytest.raises(ValueError, match="at most 1"):
        next(data.iterate_shards([], CS_ALONE, 8, generated=[(Marked(), 0.7), (Other(), 0.6)]))
