"""Synthetic document photos: ground truth on the page edge, edge maps, shards, photo folders."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from doc_edge_detection import synth


def _polygon_mask(corners: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [synth._pts(corners)], 1, cv2.LINE_8, 4)
    return m.astype(bool)


@pytest.mark.parametrize("split", synth.SPLITS)
def test_corners_lie_on_the_rendered_page_edge(split):
    """The page as composited (its coverage) is the polygon of the corners: same area, same
    outline. Dog-ears, holes, rounded or bent corners only nibble at it."""
    rng = np.random.default_rng(7)
    ious, steps = [], []
    for _ in range(12):
        sample, cover = synth._render(rng, (192, 256), split)
        assert sample.image.shape == (192, 256, 3) and sample.image.dtype == np.uint8
        assert sample.corners.shape == (4, 2) and sample.corners.dtype == np.float32
        if not sample.has_page:
            continue
        poly, page = _polygon_mask(sample.corners, cover.shape), cover > 0.5
        ious.append((poly & page).sum() / max(1, (poly | page).sum()))
        # Coverage just inside and just outside the middle of each edge: ~1 and ~0.
        c = sample.corners.astype(np.float64)
        centre = c.mean(0)
        for k in range(4):
            a, b = c[k], c[(k + 1) % 4]
            normal = np.array([b[1] - a[1], a[0] - b[0]]) / np.linalg.norm(b - a)
            normal *= np.sign(np.dot(normal, (a + b) / 2 - centre))  # pointing out of the page
            for t in np.linspace(0.3, 0.7, 5):
                p = a + (b - a) * t
                (xi, yi), (xo, yo) = np.round(p - 1.5 * normal).astype(int), np.round(p + 1.5 * normal).astype(int)
                if 0 <= xi < 256 and 0 <= yi < 192 and 0 <= xo < 256 and 0 <= yo < 192:
                    steps.append(cover[yi, xi] - cover[yo, xo])
    assert len(ious) >= 8
    assert np.median(ious) > 0.97 and min(ious) > 0.85, ious
    assert np.mean(np.array(steps) > 0.8) > 0.9


def test_image_changes_across_the_outline():
    """On the photo itself (light, blur, noise, JPEG included), pixels just inside the outline
    differ from those just outside far more than pixels on the same side do."""
    rng = np.random.default_rng(3)
    across, along = [], []
    for _ in range(10):
        s = synth.render_sample(rng, (192, 256))
        if not s.has_page:
            continue
        img = s.image.astype(np.float32)
        c = s.corners.astype(np.float64)
        centre = c.mean(0)
        for k in range(4):
            a, b = c[k], c[(k + 1) % 4]
            normal = np.array([b[1] - a[1], a[0] - b[0]]) / np.linalg.norm(b - a)
            normal *= np.sign(np.dot(normal, (a + b) / 2 - centre))
            for t in np.linspace(0.3, 0.7, 5):
                p = a + (b - a) * t
                pts = [np.round(p + d * normal).astype(int) for d in (-5, -2.5, 2.5)]
                if all(0 <= x < 256 and 0 <= y < 192 for x, y in pts):
                    (x0, y0), (x1, y1), (x2, y2) = pts
                    along.append(np.abs(img[y0, x0] - img[y1, x1]).sum())
                    across.append(np.abs(img[y1, x1] - img[y2, x2]).sum())
    assert np.median(across) > 3 * np.median(along) + 10


def test_corners_outside_frame_and_clipped_edge_map():
    rng = np.random.default_rng(11)
    found = None
    for _ in range(120):
        hw = (96, 128)
        s = synth.render_sample(rng, hw)
        if s.has_page and not ((s.corners >= 0) & (s.corners <= [127, 95])).all():
            found = s
            break
    assert found is not None, "no sample with a corner outside the frame"
    e = synth.edge_map(found.corners, (96, 128))
    assert e.shape == (96, 128) and e.dtype == np.uint8 and set(np.unique(e)) <= {0, 1} and e.sum() > 0

    # A quad far bigger than the frame: nothing of its outline is in view.
    big = np.float32([[-50, -50], [300, -40], [310, 300], [-60, 280]])
    assert synth.edge_map(big, (100, 100)).sum() == 0
    # One corner outside: the two edges through it are drawn up to the border.
    quad = np.float32([[-30, -20], [80, 10], [90, 90], [10, 80]])
    e = synth.edge_map(quad, (100, 100), thickness=2)
    assert e[0].sum() > 0 or e[:, 0].sum() > 0
    assert e[50, 85] == 1 and e[50, 50] == 0


def test_edge_map_draws_the_four_sides():
    quad = np.float32([[10, 10], [60, 12], [58, 50], [12, 48]])
    e = synth.edge_map(quad, (64, 72))
    for a, b in zip(quad, np.roll(quad, -1, axis=0)):
        x, y = np.round((a + b) / 2).astype(int)
        assert e[y - 1 : y + 2, x - 1 : x + 2].max() == 1
    assert e[30, 35] == 0 and e[2, 2] == 0


def test_no_page_sample(monkeypatch):
    monkeypatch.setattr(synth, "NO_PAGE_P", 1.0)
    s = synth.render_sample(np.random.default_rng(0), (80, 120))
    assert not s.has_page and s.image.shape == (80, 120, 3)
    assert s.corners.shape == (4, 2) and np.isnan(s.corners).all()
    assert synth.edge_map(s.corners, (80, 120)).sum() == 0


def test_render_sample_is_deterministic():
    a = synth.render_sample(np.random.default_rng(5), (64, 96), split="heldout")
    b = synth.render_sample(np.random.default_rng(5), (64, 96), split="heldout")
    assert np.array_equal(a.image, b.image) and np.array_equal(a.corners, b.corners, equal_nan=True)


def test_splits_are_disjoint():
    assert not set(synth.BACKGROUNDS["train"]) & set(synth.BACKGROUNDS["heldout"])
    tr, ho = synth._fonts("train"), synth._fonts("heldout")
    assert not (set(tr.print + tr.hand) & set(ho.print + ho.hand)) - {""}
    with pytest.raises(ValueError):
        synth.render_sample(np.random.default_rng(0), (32, 32), split="test")


def _load(paths):
    out = {}
    for p in paths:
        with np.load(p) as d:
            for k in d.files:
                out.setdefault(k, []).append(d[k])
    return {k: np.concatenate(v) for k, v in out.items()}


def test_render_shards_deterministic_over_workers_and_resumes(tmp_path):
    kw = dict(size=(48, 64), seed=3, split="train", shard_size=4)
    p1 = synth.render_shards(tmp_path / "w1", 6, workers=1, **kw)
    p2 = synth.render_shards(tmp_path / "w2", 6, workers=2, **kw)
    assert [p.name for p in p1] == ["shard-00000.npz", "shard-00001.npz"]
    a, b = _load(p1), _load(p2)
    assert a["images"].shape == (6, 48, 64, 3) and a["images"].dtype == np.uint8
    assert a["corners"].shape == (6, 4, 2) and a["corners"].dtype == np.float32
    assert a["has_page"].shape == (6,) and a["has_page"].dtype == bool
    assert a["edges"].shape == (6, 48, 64) and a["edges"].dtype == np.uint8
    for k in a:
        assert np.array_equal(a[k], b[k], equal_nan=True), k
    for i in range(6):
        assert np.array_equal(a["edges"][i], synth.edge_map(a["corners"][i], (48, 64)))

    # Resume: complete shards are kept as they are, a missing one is rendered again, identically.
    stamp = p1[0].stat().st_mtime_ns
    p1[1].unlink()
    synth.render_shards(tmp_path / "w1", 6, workers=1, **kw)
    assert p1[0].stat().st_mtime_ns == stamp
    assert np.array_equal(_load(p1)["images"], a["images"])


def test_render_photo_folder(tmp_path):
    out = synth.render_photo_folder(tmp_path / "photos", 2, seed=1, long_side=320)
    corners = json.loads((out / "corners.json").read_text())
    assert len(corners) == 2
    for name, quad in corners.items():
        img = cv2.imread(str(out / name))
        assert img is not None and max(img.shape[:2]) == 320
        q = np.array(quad, np.float64)
        assert q.shape == (4, 2)
        assert ((q >= 0) & (q <= [img.shape[1] - 1, img.shape[0] - 1])).all()


def test_missing_fonts_fall_back_to_pillows_default(monkeypatch, tmp_path):
    monkeypatch.setattr(synth, "FONT_ROOT", tmp_path)  # no font files at all
    assert synth._fonts("train") == synth._Fonts(("",), ("",), ("",))
    rng = np.random.default_rng(2)
    for _ in range(4):
        assert synth.render_sample(rng, (64, 64)).image.shape == (64, 64, 3)
