"""Synthetic CTPN pages: boxes sit tightly on the drawn text, never overlap and stay in the frame;
gaps split lines; tables give a box per cell; every line is drawn with a face that has its glyphs;
shards round-trip, resume and are deterministic."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from chinese_ocr import fonts
from ctpn import synth


def _need(split: str) -> list[fonts.Face]:
    try:
        return fonts.faces(split)
    except FileNotFoundError as e:
        pytest.skip(str(e))


@pytest.fixture(autouse=True)
def _heldout_fonts():
    _need("heldout")


def _axis_box(q: np.ndarray) -> tuple[int, int, int, int]:
    x0, y0 = np.floor(q.min(0)).astype(int)
    x1, y1 = np.ceil(q.max(0)).astype(int)
    return x0, y0, x1, y1


@pytest.mark.parametrize("layout", synth.LAYOUTS)
def test_clean_boxes_sit_tightly_on_the_ink(layout):
    """On clean pages (flat background, text only): the text coverage at ink level touches all four
    sides of every box, every box holds visible ink, and almost no ink lies outside the boxes."""
    rng = np.random.default_rng(11)
    for _ in range(2):
        page, cov = synth._compose(rng, "heldout", (384, 448), True, 1.0, layout)
        assert page.image.shape == (384, 448, 3) and page.image.dtype == np.uint8
        assert page.lines and len(page.lines) == len(page.texts) == len(page.faces)
        img = page.image.astype(np.int16)
        bg = np.median(img.reshape(-1, 3), axis=0)
        ink = np.abs(img - bg).max(-1) > 40
        covered = np.zeros(ink.shape, np.uint8)
        for q in page.lines:
            assert q.shape == (4, 2) and q.dtype == np.float32
            x0, y0, x1, y1 = _axis_box(q)
            assert np.allclose(q, [[x0, y0], [x1, y0], [x1, y1], [x0, y1]])  # upright on clean pages
            inside = cov[y0:y1, x0:x1] >= synth.INK
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
            assert ink[y0:y1, x0:x1].mean() > 0.02
            covered[max(y0 - 3, 0) : y1 + 3, max(x0 - 3, 0) : x1 + 3] = 1
        assert (ink & ~covered.astype(bool)).sum() <= 0.002 * max(ink.sum(), 1)


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    area, _ = cv2.intersectConvexConvex(a.astype(np.float32), b.astype(np.float32))
    return float(area)


def test_boxes_never_overlap_and_stay_in_the_frame():
    """Full pages (backgrounds, distractors, rotation, degradations): quads are rectangles inside the
    image, pairwise disjoint; some pages are rotated; most hold two or more lines."""
    rng = np.random.default_rng(3)
    rotated, multi, n = 0, 0, 24
    for _ in range(n):
        page = synth.render_page(rng, "heldout")
        h, w = page.image.shape[:2]
        assert (h, w) in synth.TRAIN_SHAPES
        qs = np.array(page.lines).reshape(-1, 4, 2)
        assert ((qs >= 0) & (qs <= [w, h])).all()
        for i in range(len(qs)):
            e = np.roll(qs[i], -1, 0) - qs[i]
            assert abs(float(np.dot(e[0], e[1]))) < 1e-2 * (np.linalg.norm(e[0]) * np.linalg.norm(e[1]) + 1)
            for j in range(i):
                assert _overlap(qs[i], qs[j]) < 1e-3
        rotated += any(abs(q[0, 1] - q[1, 1]) > 0.05 for q in qs)
        multi += len(qs) >= 2
    assert 1 <= rotated <= n * 0.7
    assert multi >= n * 0.6


def test_runs_on_one_row_merge_or_split_by_their_gap():
    """Two runs of text a small gap apart are one line (one box, joined text); a gap of a few em
    makes two lines, as an item and its price on a receipt."""
    face = _need("heldout")[0]
    rng = np.random.default_rng(0)
    c = synth._Canvas(rng, 200, 600, "heldout", True, 1.0)
    c.img = synth._bg_flat(rng, 200, 600, (250, 250, 250))
    a, b = synth._draw(face, 20, "价格"), synth._draw(face, 20, "12.50")
    near = c.add([(a, 20), (b, 20 + a.box[2] + 12 - b.box[0])], 40, (0, 0, 0), 20)
    assert near is not None and len(near) == 1 and c.texts[-1] == "价格 12.50"
    assert near[0][0] == 20 + a.box[0] and near[0][2] == 20 + a.box[2] + 12 + b.box[2] - b.box[0]
    far = c.add([(a, 20), (b, 20 + a.box[2] + 100)], 120, (0, 0, 0), 20)
    assert far is not None and len(far) == 2 and c.texts[-2:] == ["价格", "12.50"]
    # A placement overlapping an existing line is refused and draws nothing.
    before = c.img.copy()
    assert c.add([(a, 25)], 45, (0, 0, 0), 20) is None
    assert np.array_equal(before, c.img) and len(c.boxes) == 3


def test_table_gives_a_box_per_cell():
    rng = np.random.default_rng(5)
    for _ in range(3):
        page = synth.render_page(rng, "heldout", (448, 448), layout="table")
        assert len(page.lines) >= 4
        spans = [(q[:, 1].min(), q[:, 1].max()) for q in page.lines]
        # Cells of one row are separate boxes: many pairs of boxes share a row.
        pairs = sum(min(b0, b1) - max(a0, a1) > 0.5 * min(b0 - a0, b1 - a1)
                    for i, (a0, b0) in enumerate(spans) for a1, b1 in spans[:i])
        assert pairs >= 2


def test_lines_use_only_faces_that_draw_them(monkeypatch):
    """With a face that lacks a third of the characters (cwTeX Kai) among the choices, every line is
    still drawn with a face whose cmap has all its characters."""
    names = {"cwtex-kai", "wqy-microhei"}
    subset = [f for f in fonts.TRAIN_FACES if f.name in names and os.path.isfile(fonts.font_file(f))]
    if len(subset) < 2:
        pytest.skip("cwTeX Kai or WenQuanYi Micro Hei not installed")
    monkeypatch.setattr(synth, "faces", lambda split: subset)
    rng = np.random.default_rng(7)
    used = set()
    for layout in ("paragraphs", "table", "receipt", "labels"):
        page = synth.render_page(rng, "train", (384, 384), layout=layout, clean=True)
        for text, name in zip(page.texts, page.faces):
            group = [f for f in subset if f.name in name.split("+")]
            assert group, name
            used.update(f.name for f in group)
            if len(group) == 1:
                assert fonts.can_draw(group[0], text), (name, text)
            else:  # a line joined from runs in two faces: each character drawable by one of them
                assert all(any(fonts.can_draw(f, ch) for f in group) for ch in text), (name, text)
    assert used == names


def test_split_faces_and_eval_pages():
    rng = np.random.default_rng(2)
    held = {f.name for f in _need("heldout")}
    page = synth.render_page(rng, "heldout", layout="paragraphs")
    assert set(page.faces) <= held
    evalf = {f.name for f in _need("eval")}
    big = synth.render_eval_page(rng, "eval", layout="paragraphs")
    assert big.image.shape == (720, 960, 3)
    assert all(set(n.split("+")) <= evalf for n in big.faces)
    assert len(big.lines) >= 8
    with pytest.raises(ValueError):
        synth.render_page(rng, "nope")


def test_print_pages_are_clean_words_in_unseen_faces_and_repeatable():
    """The page yardstick: eval faces, a flat background with nothing but text on it, words only
    (no line of characters drawn evenly from GB 2312), the same pages every time."""
    from chinese_ocr.charset import charset_chars

    evalf = {f.name for f in _need("eval")}
    pages, again = synth.print_pages(4), synth.print_pages(4)
    level2 = set(charset_chars("GB2312")) - set(charset_chars("GB2312-1"))
    chars = rare = 0
    for p, q in zip(pages, again):
        assert np.array_equal(p.image, q.image) and p.texts == q.texts
        assert p.image.shape == (720, 960, 3) and p.lines
        assert all(set(n.split("+")) <= evalf for n in p.faces)
        ink = np.zeros(p.image.shape[:2], bool)
        for quad in p.lines:
            x0, y0 = np.floor(quad.min(axis=0)).astype(int)
            x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
            ink[max(y0, 0) : y1, max(x0, 0) : x1] = True
        # Flat outside the lines but for a glyph's anti-aliased overhang (degraded pages: noise everywhere).
        off = np.abs(p.image.astype(int) - np.median(p.image.reshape(-1, 3), axis=0)).max(axis=-1) > 8
        assert (off & ~ink).mean() < 1e-3
        chars += sum(len(t) for t in p.texts)
        rare += sum(c in level2 for t in p.texts for c in t)
    # Level 2 is 1.8 % of these characters; with the evenly drawn lines (44 % level 2) it is 8.7 %.
    assert rare / chars < 0.04


def test_pages_are_deterministic_per_seed():
    a = synth.render_page(np.random.default_rng(9), "heldout")
    b = synth.render_page(np.random.default_rng(9), "heldout")
    c = synth.render_page(np.random.default_rng(10), "heldout")
    assert np.array_equal(a.image, b.image) and a.texts == b.texts
    assert all(np.array_equal(p, q) for p, q in zip(a.lines, b.lines))
    assert a.image.shape != c.image.shape or not np.array_equal(a.image, c.image)


def test_shards_round_trip_and_resume(tmp_path):
    out = tmp_path / "shards"
    out.mkdir()
    kw = dict(seed=4, split="heldout", serving=False)
    # Shard 0 written in this process; render_shards must keep it and write only shard 1.
    synth._render_shard((str(out / "shard-00000.npz"), 3, 0), **kw)
    first = out / "shard-00000.npz"
    os.utime(first, (1_000_000_000, 1_000_000_000))
    paths = synth.render_shards(out, 5, shard_size=3, workers=1, **{k: kw[k] for k in ("seed", "split")})
    assert [p.name for p in paths] == ["shard-00000.npz", "shard-00001.npz"]
    assert first.stat().st_mtime == 1_000_000_000
    pages = synth.load_pages(paths[0]) + synth.load_pages(paths[1])
    assert len(pages) == 5
    # Same pages as rendering the shard's generator directly; JPEG 95 keeps the image close.
    rng = np.random.default_rng([4, synth.SPLITS["heldout"], 1, 0])
    direct = [synth.render_page(rng, "heldout") for _ in range(2)]
    for got, want in zip(pages[3:], direct):
        assert got.image.shape == want.image.shape
        assert np.abs(got.image.astype(np.int16) - want.image).mean() < 3
        assert got.texts == want.texts and len(got.lines) == len(want.lines)
        assert all(np.array_equal(p, q) for p, q in zip(got.lines, want.lines))
        assert got.faces == want.faces
    with np.load(paths[1], allow_pickle=False) as d:
        assert d["offsets"].shape == (3,) and d["line_offsets"][-1] == len(d["boxes"]) == len(d["texts"])
        assert d["images"].dtype == np.uint8 and d["images"].ndim == 1
