"""From an edge-probability map to the page quadrilateral, and corner refinement on the full photo.

:func:`find_quad` works on the network's small map (256x256): line candidates from a Hough
transform plus the four frame borders, quads from two roughly opposite line pairs, and contour
candidates, all scored by the edge evidence along their sides. :func:`refine_corners` then fits
each side again on the full-resolution photo, where a map pixel is 5-8 photo pixels wide.
Coordinates follow :mod:`doc_edge_detection.geometry` (pixel centres at integers, ``(x, y)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import is_valid_quad, order_corners

__all__ = ["QuadResult", "find_quad", "refine_corners", "scale_corners"]


@dataclass
class QuadResult:
    """A detection: ``corners`` is ``(4, 2)`` float32 TL, TR, BR, BL (None when not found)."""

    found: bool
    corners: np.ndarray | None
    score: float  # 0..1 confidence


def scale_corners(corners: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """Map corners between two ``(width, height)`` versions of one image (x and y scaled separately).

    Pixel centres are matched the way ``cv2.resize`` samples (``x' = (x + 0.5) * s - 0.5``), so a
    corner found on the 256x256 map of a stretched photo lands on the same photo pixel.
    """
    c = np.asarray(corners, dtype=np.float64).reshape(-1, 2)
    s = np.array([to_size[0] / from_size[0], to_size[1] / from_size[1]])
    return ((c + 0.5) * s - 0.5).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Lines are (a, b, c) with a^2 + b^2 = 1 and a*x + b*y = c: Hough's (cos t, sin t, rho).


def _intersect(l1: np.ndarray, l2: np.ndarray) -> np.ndarray:
    """Intersections of line arrays ``(..., 3)``; rows of near-parallel lines give inf."""
    det = l1[..., 0] * l2[..., 1] - l1[..., 1] * l2[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = (l1[..., 2] * l2[..., 1] - l1[..., 1] * l2[..., 2]) / det
        y = (l1[..., 0] * l2[..., 2] - l1[..., 2] * l2[..., 0]) / det
    out = np.stack([x, y], axis=-1)
    out[np.abs(det) < 1e-9] = np.inf
    return out


def _line_through(p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    d = p1 - p0
    n = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-12)
    return np.array([n[0], n[1], float(n @ p0)])


def _chord(line: np.ndarray, w: int, h: int) -> np.ndarray | None:
    """The part of a line inside the frame ``[0, w-1] x [0, h-1]`` as two end points, or None."""
    a, b, c = line
    pts = []
    if abs(b) > 1e-9:
        pts += [(x, (c - a * x) / b) for x in (0.0, w - 1.0)]
    if abs(a) > 1e-9:
        pts += [((c - b * y) / a, y) for y in (0.0, h - 1.0)]
    pts = [p for p in pts if -1e-6 <= p[0] <= w - 1 + 1e-6 and -1e-6 <= p[1] <= h - 1 + 1e-6]
    if len(pts) < 2:
        return None
    pts_arr = np.array(pts)
    d = np.linalg.norm(pts_arr[:, None] - pts_arr[None], axis=-1)
    i, j = np.unravel_index(np.argmax(d), d.shape)
    return pts_arr[[i, j]]


def _fit_tls(pts: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted total-least-squares line through points ``(n, 2)``."""
    wts = np.ones(len(pts)) if weights is None else weights
    c = (pts * wts[:, None]).sum(axis=0) / wts.sum()
    d = pts - c
    cov = (d * wts[:, None]).T @ d
    _, vecs = np.linalg.eigh(cov)
    n = vecs[:, 0]  # smallest eigenvalue: the normal
    return np.array([n[0], n[1], float(n @ c)])


def _thin(e: np.ndarray, thr: float) -> np.ndarray:
    """Ridge pixels: above ``thr`` and a local maximum across x or across y. A 3-5 px wide ridge
    would otherwise vote for a fan of near-duplicate Hough lines around the true one."""
    p = np.pad(e, 1, mode="edge")
    c = p[1:-1, 1:-1]
    max_x = (c >= p[1:-1, :-2]) & (c >= p[1:-1, 2:])
    max_y = (c >= p[:-2, 1:-1]) & (c >= p[2:, 1:-1])
    return ((c > thr) & (max_x | max_y)).astype(np.uint8) * 255


def _hough_lines(ridge: np.ndarray, max_lines: int) -> np.ndarray:
    """Strongest distinct lines ``(n, 3)`` from a Hough transform of the ridge pixels.

    A ridge segment also collects votes on a fan of lines a few degrees either side of it, so a
    peak is kept only if enough of its supporting pixels are not already explained by a stronger
    kept line (like iterative Hough with pixel removal, without re-running the transform).
    """
    h, w = ridge.shape
    votes = max(12, int(0.1 * min(h, w)))
    found = cv2.HoughLinesWithAccumulator(ridge, 1, np.pi / 180, votes)
    ys, xs = np.nonzero(ridge)
    if found is None or len(xs) == 0:
        return np.zeros((0, 3))
    rho, theta = found.reshape(-1, 3)[:250, :2].T  # sorted by votes, strongest first
    cand = np.stack([np.cos(theta), np.sin(theta), rho], axis=1)
    support = np.abs(cand[:, :2] @ np.stack([xs, ys]).astype(np.float64) - cand[:, 2:]) <= 1.5
    claimed = np.zeros(len(xs), dtype=bool)
    kept = []
    for i in range(len(cand)):
        fresh = int((support[i] & ~claimed).sum())
        if fresh >= votes and fresh >= 0.5 * support[i].sum():
            kept.append(i)
            claimed |= support[i]
            if len(kept) >= max_lines:
                break
    return cand[kept]


def _line_quads(lines: np.ndarray, n_border: int, w: int, h: int) -> np.ndarray:
    """Quads ``(n, 4, 2)`` (cyclic order) from two pairs of roughly opposite lines. The last
    ``n_border`` lines are frame borders; at most two of them in one quad."""
    n = len(lines)
    if n < 4:
        return np.zeros((0, 4, 2))
    ang = np.arctan2(lines[:, 1], lines[:, 0]) % np.pi
    is_border = np.arange(n) >= n - n_border
    chords = [_chord(line, w, h) for line in lines]
    mids = np.array([c.mean(axis=0) if c is not None else (np.nan, np.nan) for c in chords])
    i, j = np.triu_indices(n, 1)
    d = np.abs(ang[i] - ang[j])
    d = np.minimum(d, np.pi - d)
    x = _intersect(lines[i], lines[j])
    # Opposite page sides are within 40 degrees of each other, do not cross inside the frame (a
    # little slack for noise) and are not the same edge twice.
    with np.errstate(invalid="ignore"):
        crosses = (
            np.all(np.isfinite(x), axis=1) & (np.abs(x[:, 0] - w / 2) < 0.55 * w) & (np.abs(x[:, 1] - h / 2) < 0.55 * h)
        )
        gap = np.abs((mids[i] * lines[j, :2]).sum(axis=1) - lines[j, 2])
        ok = (d <= np.radians(40)) & ~crosses & (gap >= 0.08 * min(w, h))
    i, j = i[ok], j[ok]
    if len(i) < 2:
        return np.zeros((0, 4, 2))
    # The pair's mean direction, with the normals made to agree in sign first.
    sgn = np.where((lines[i, :2] * lines[j, :2]).sum(axis=1) < 0, -1.0, 1.0)
    nsum = lines[i, :2] + sgn[:, None] * lines[j, :2]
    pair_ang = np.arctan2(nsum[:, 1], nsum[:, 0]) % np.pi
    a, b = np.triu_indices(len(i), 1)
    da = np.abs(pair_ang[a] - pair_ang[b])
    da = np.minimum(da, np.pi - da)
    idx = np.stack([i[a], j[a], i[b], j[b]], axis=1)
    distinct = (idx[:, :2, None] != idx[:, None, 2:]).all(axis=(1, 2))
    ok = distinct & (da >= np.radians(35)) & (is_border[idx].sum(axis=1) <= 2)
    idx = idx[ok][:, [0, 2, 1, 3]]  # sides in cyclic order: pair A, pair B, pair A, pair B
    if len(idx) == 0:
        return np.zeros((0, 4, 2))
    side = lines[idx]  # (n, 4, 3)
    return _intersect(np.roll(side, 1, axis=1), side)  # corner s between side s-1 and side s


def _contour_quads(binary: np.ndarray, min_area: float) -> list[np.ndarray]:
    """4-gons from the hulls of big closed outlines (catches pages whose sides are curved or short).

    Only closed loops count (the inside of an outline ring fills most of its hull): the hull of a
    broken outline, an L or a U, would add a side cutting across the page.
    """
    contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    hulls = []
    for c in contours:
        hull = cv2.convexHull(c)
        area = cv2.contourArea(hull)
        if area >= min_area and cv2.contourArea(c) >= 0.7 * area:
            hulls.append((area, hull))
    hulls = [hl for _, hl in sorted(hulls, key=lambda ah: -ah[0])]
    out = []
    for hull in hulls[:6]:
        peri = cv2.arcLength(hull, True)
        for eps in (0.02, 0.04, 0.06, 0.08, 0.1):
            approx = cv2.approxPolyDP(hull, eps * peri, True)
            if len(approx) == 4:
                out.append(approx.reshape(4, 2).astype(np.float64))
                break
            if len(approx) < 4:
                break
    return out


def _sample(m: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-pixel values of ``m`` at ``pts (..., 2)`` and whether each point counts as seen:
    inside the frame, one pixel clear of its border (an edge cannot be detected on the border)."""
    h, w = m.shape
    x, y = pts[..., 0], pts[..., 1]
    inside = np.isfinite(x) & np.isfinite(y) & (x >= 1) & (x <= w - 2) & (y >= 1) & (y <= h - 2)
    xi = np.clip(np.nan_to_num(np.rint(x), nan=0), 0, w - 1).astype(np.int64)
    yi = np.clip(np.nan_to_num(np.rint(y), nan=0), 0, h - 1).astype(np.int64)
    return m[yi, xi], inside


def _unsupported_corners(v: np.ndarray, seen: np.ndarray, border: np.ndarray, k: int = 6) -> np.ndarray:
    """``(n,)`` how many corners of each quad have no outline running into them.

    A real page corner is where two drawn sides meet (or, for a corner outside the frame, where the
    sides leave it). A quad that stretches a side past the page's corner to reach a stray line
    or the frame border puts its corner in empty map, with no evidence at the ends of the sides
    that meet there. ``v``, ``seen``: ``(n, 4, m)`` evidence and visibility sampled along each side
    from its first corner to its second; the first/last ``k`` visible samples are its ends. A side
    on the frame border is never visible and counts as supported.
    """
    head = seen & (np.cumsum(seen, axis=2) <= k)
    tail = seen & (np.cumsum(seen[..., ::-1], axis=2)[..., ::-1] <= k)
    head_cov = np.where(border, 1.0, (v * head).sum(axis=2) / np.maximum(head.sum(axis=2), 1))
    tail_cov = np.where(border, 1.0, (v * tail).sum(axis=2) / np.maximum(tail.sum(axis=2), 1))
    # Corner c ends side c-1 and starts side c.
    support = np.minimum(np.roll(tail_cov, 1, axis=1), head_cov)
    return (support < 0.5).sum(axis=1)


def _score_quads(quads: np.ndarray, border: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """Confidence of each quad ``(n, 4, 2)`` from ``cover`` (edge evidence in 0..1 per pixel);
    ``border``: ``(n, 4)`` which sides lie on the frame border."""
    h, w = cover.shape
    n = len(quads)
    p0, p1 = quads, np.roll(quads, -1, axis=1)  # side s runs from corner s to corner s+1
    t = np.linspace(0.02, 0.98, 48)
    pts = p0[:, :, None] + t[None, None, :, None] * (p1 - p0)[:, :, None]
    v, seen = _sample(cover, pts)
    seen_frac = seen.mean(axis=2)  # (n, 4)
    cov = (v * seen).sum(axis=2) / np.maximum(seen.sum(axis=2), 1)
    # Robust side combination: an occluded or faint side must not sink a page, so the best three
    # sides count fully and the worst half; a side mostly outside the frame counts by its seen part.
    order = np.argsort(-cov, axis=1)
    rank_w = np.empty_like(cov)
    np.put_along_axis(rank_w, order, np.broadcast_to([1.0, 1.0, 1.0, 0.5], cov.shape), axis=1)
    wts = rank_w * np.where(seen_frac >= 0.1, seen_frac, 0.0)
    edge = (wts * cov).sum(axis=1) / np.maximum(wts.sum(axis=1), 1e-9)
    # Overshoot: edge evidence continuing past a corner along a side means the quad stops short,
    # e.g. a text line taken for the top side. Both ends of every side are checked.
    length = np.linalg.norm(p1 - p0, axis=2)  # (n, 4)
    d = (p1 - p0) / np.maximum(length, 1e-9)[..., None]
    # Start clear of the neighbouring side's ridge (a few px wide after blur and the max filter).
    start = np.maximum(6.0, 0.04 * length)[..., None]
    span = np.maximum(8.0, 0.1 * length)[..., None]
    u = np.linspace(0.0, 1.0, 8)[None, None, :]
    over = np.zeros((n, 4))
    for end, sign in ((p1, 1.0), (p0, -1.0)):
        ext = end[:, :, None] + sign * d[:, :, None] * (start + u * span)[..., None]
        ve, se = _sample(cover, ext)
        frac = (ve * se).sum(axis=2) / np.maximum(se.sum(axis=2), 1)
        over += np.clip((frac - 0.3) / 0.7, 0, 1) * (se.mean(axis=2) > 0.5)
    overshoot = np.minimum(0.2, 0.1 * over.sum(axis=1))
    area = 0.5 * np.abs((p0[..., 0] * p1[..., 1] - p1[..., 0] * p0[..., 1]).sum(axis=1))
    area_term = np.sqrt(np.clip(area / (w * h), 0, 1))
    empty_corners = _unsupported_corners(v, seen, border)
    score = 0.8 * edge + 0.2 * area_term - 0.12 * border.sum(axis=1) - 0.15 * empty_corners - overshoot
    # Fewer than two sides' worth of visible outline is not evidence of a page at all.
    score[seen_frac.sum(axis=1) < 1.5] = 0.0
    return np.clip(score, 0.0, 1.0)


def _refine_on_map(
    quad: np.ndarray, border: np.ndarray, ys: np.ndarray, xs: np.ndarray, wts: np.ndarray, band: float
) -> np.ndarray:
    """Refit each non-border side to the weighted edge pixels along it (corners excepted): Hough's
    half-degree bins and thick ridges leave the lines ~1 px off; a weighted fit finds the ridge centre."""
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    lines = []
    for s in range(4):
        p0, p1 = quad[s], quad[(s + 1) % 4]
        line = _line_through(p0, p1)
        length = float(np.linalg.norm(p1 - p0))
        if not border[s] and length > 4:
            t = (pts - p0) @ (p1 - p0) / length**2
            # Clear of the corners, where the neighbouring side's pixels fall inside the band.
            skip = max(5.0, 0.03 * length) / length
            near = (np.abs(pts @ line[:2] - line[2]) <= band) & (t > skip) & (t < 1 - skip)
            if near.sum() >= max(8, 0.15 * length):
                line = _fit_tls(pts[near], wts[near])
        lines.append(line)
    lines_arr = np.array(lines)
    return _intersect(np.roll(lines_arr, 1, axis=0), lines_arr)


def find_quad(
    edge_prob: np.ndarray,
    *,
    min_area_frac: float = 0.05,
    edge_threshold: float = 0.3,
    min_score: float = 0.5,
    max_lines: int = 14,
) -> QuadResult:
    """Find the page quadrilateral in an ``(h, w)`` edge-probability map with values in [0, 1].

    Corners are in map pixels and may lie outside the map when the page crosses the frame.
    ``found`` is False (``corners`` None) when no candidate scores ``min_score`` or more.
    ``edge_threshold``: probability above which a pixel is an edge (lowered down to half of it
    for a faint map); ``max_lines``: Hough lines kept besides the 4 frame borders;
    ``min_area_frac``: smallest page, as a fraction of the map.
    """
    e = np.nan_to_num(np.asarray(edge_prob, dtype=np.float32), nan=0.0)
    if e.ndim != 2 or min(e.shape) < 8:
        raise ValueError(f"edge_prob must be a 2-D map of at least 8x8, got shape {np.shape(edge_prob)}")
    e = np.clip(e, 0.0, 1.0)
    h, w = e.shape
    # A network unsure about a low-contrast page gives a faint but clean outline: the threshold and
    # the level at which evidence saturates follow the map's strongest pixels, within bounds that
    # keep background noise from ever counting as an edge.
    ref = float(np.percentile(e, 99.5))
    thr = float(np.clip(0.5 * ref, 0.5 * edge_threshold, edge_threshold))
    sat = float(np.clip(0.8 * ref, 0.25, 0.5))
    # Evidence per pixel saturates at ``sat`` (a confident edge), and a 3x3 max filter forgives the
    # 1 px misalignment of a candidate side drawn between rounded line intersections.
    cover = cv2.dilate(np.minimum(e / sat, 1.0), np.ones((3, 3), np.uint8))

    lines = _hough_lines(_thin(e, thr), max_lines)
    borders = np.array([[1.0, 0, 0], [1.0, 0, w - 1.0], [0, 1.0, 0], [0, 1.0, h - 1.0]])
    all_lines = np.vstack([lines, borders])
    cand = [_line_quads(all_lines, 4, w, h)]
    binary = cv2.morphologyEx((e > thr).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    cq = _contour_quads(binary, min_area_frac * w * h)
    if cq:
        cand.append(np.array(cq))
    quads = np.concatenate(cand, axis=0)
    if len(quads) == 0:
        return QuadResult(False, None, 0.0)
    quads = quads[_valid_mask(quads, w, h, min_area_frac * w * h)]
    if len(quads) == 0:
        return QuadResult(False, None, 0.0)
    border_side = _border_side_mask(quads, w, h)
    scores = _score_quads(quads, border_side, cover)
    best = int(np.argmax(scores))
    if scores[best] < min_score:
        return QuadResult(False, None, float(scores[best]))

    quad, border = quads[best], border_side[best]
    ys, xs = np.nonzero(e > thr)
    wts = e[ys, xs].astype(np.float64)
    for band in (3.0, 2.0):
        refined = _refine_on_map(quad, border, ys, xs, wts, band)
        if not is_valid_quad(refined, (w, h), min_area_frac=min_area_frac) or np.max(np.abs(refined - quad)) > 6:
            break
        quad = refined
    return QuadResult(True, order_corners(quad), float(scores[best]))


def _valid_mask(quads: np.ndarray, w: int, h: int, min_area: float, min_angle_deg: float = 25.0) -> np.ndarray:
    """Vectorised :func:`~doc_edge_detection.geometry.is_valid_quad` for ``(n, 4, 2)`` cyclic quads."""
    p0, p1 = quads, np.roll(quads, -1, axis=1)
    e = p1 - p0
    e_next = np.roll(e, -1, axis=1)
    with np.errstate(invalid="ignore"):
        cross = e[..., 0] * e_next[..., 1] - e[..., 1] * e_next[..., 0]
        convex = np.all(cross > 0, axis=1) | np.all(cross < 0, axis=1)
        area = 0.5 * np.abs((p0[..., 0] * p1[..., 1] - p1[..., 0] * p0[..., 1]).sum(axis=1))
        # Corners may leave the frame (a page crossing it) but not by more than half its size.
        x, y = quads[..., 0], quads[..., 1]
        near = np.all((x > -0.5 * w) & (x < 1.5 * w) & (y > -0.5 * h) & (y < 1.5 * h), axis=1)
        cos_turn = -(e * e_next).sum(axis=2) / (np.linalg.norm(e, axis=2) * np.linalg.norm(e_next, axis=2) + 1e-12)
        angles_ok = np.all(np.degrees(np.arccos(np.clip(cos_turn, -1, 1))) >= min_angle_deg, axis=1)
    return np.all(np.isfinite(quads), axis=(1, 2)) & convex & (area >= min_area) & near & angles_ok


def _border_side_mask(quads: np.ndarray, w: int, h: int) -> np.ndarray:
    """``(n, 4)`` True where a side lies on a frame border (within half a pixel at both ends)."""
    p0, p1 = quads, np.roll(quads, -1, axis=1)
    out = np.zeros(quads.shape[:2], dtype=bool)
    for axis, val in ((0, 0.0), (0, w - 1.0), (1, 0.0), (1, h - 1.0)):
        out |= (np.abs(p0[..., axis] - val) < 0.5) & (np.abs(p1[..., axis] - val) < 0.5)
    return out


# ---------------------------------------------------------------------------------------------
# Refinement on the full-resolution photo.


def _ransac_line(pts: np.ndarray, tol: float, rng: np.random.Generator, iters: int = 64) -> np.ndarray:
    """Inlier mask of the best of ``iters`` lines through random point pairs (all scored at once)."""
    i, j = rng.integers(0, len(pts), size=(2, iters))
    d = pts[j] - pts[i]
    norm = np.hypot(d[:, 0], d[:, 1])
    keep = norm > 1e-9
    if not keep.any():
        return np.zeros(len(pts), dtype=bool)
    n = np.stack([-d[keep, 1], d[keep, 0]], axis=1) / norm[keep, None]
    c = (n * pts[i[keep]]).sum(axis=1)
    inl = np.abs(n @ pts.T - c[:, None]) < tol  # (hypotheses, points)
    return inl[int(np.argmax(inl.sum(axis=1)))]


def _edge_points(
    gray: np.ndarray, p0: np.ndarray, p1: np.ndarray, normal: np.ndarray, reach: float
) -> tuple[np.ndarray, np.ndarray]:
    """Strongest intensity step along the outward ``normal`` at points on the side's 5-95 % span.

    Returns the sub-pixel edge points and their position ``t`` along the side (0 at ``p0``).
    """
    h, w = gray.shape
    length = float(np.linalg.norm(p1 - p0))
    t = np.linspace(0.05, 0.95, int(np.clip(length / 4, 16, 200)))
    base = p0 + t[:, None] * (p1 - p0)
    inside = (base[:, 0] >= 1) & (base[:, 0] <= w - 2) & (base[:, 1] >= 1) & (base[:, 1] <= h - 2)
    base, t = base[inside], t[inside]
    if len(base) == 0:
        return np.zeros((0, 2)), np.zeros(0)
    step = 0.5
    offs = np.arange(-reach - step, reach + 2 * step, step)
    grid = base[:, None, :] + offs[None, :, None] * normal  # (k, m, 2)
    prof = cv2.remap(
        gray,
        grid[..., 0].astype(np.float32),
        grid[..., 1].astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    # Central difference; the normal points outwards, so paper brighter than background gives a
    # negative derivative: flip it so that "brighter inside" is positive.
    deriv = -(prof[:, 2:] - prof[:, :-2]) / (2 * step)
    offs = offs[1:-1]
    # The same paper/background contrast holds along a side: take the sign most points agree on,
    # which ignores a stronger opposite step of text or a shadow close to the edge.
    pos, neg = deriv.max(axis=1), -deriv.min(axis=1)
    sign = 1.0 if (pos > neg).sum() >= (neg > pos).sum() else -1.0
    signed = sign * deriv
    k = np.argmax(signed, axis=1)
    rows = np.arange(len(k))
    peak = signed[rows, k]
    kc = np.clip(k, 1, signed.shape[1] - 2)
    y0, y1, y2 = signed[rows, kc - 1], signed[rows, kc], signed[rows, kc + 1]
    den = y0 - 2 * y1 + y2
    delta = np.where((k == kc) & (den < 0), 0.5 * (y0 - y2) / np.where(den < 0, den, -1.0), 0.0)
    pts = base + (offs[k] + np.clip(delta, -0.5, 0.5) * step)[:, None] * normal
    # Flat profiles (no edge in reach) would put noise into the fit; keep steps of real contrast.
    ok = (peak > max(1.0, 0.3 * float(np.median(peak)))) & (k > 0) & (k < signed.shape[1] - 1)
    return pts[ok], t[ok]


def _robust_line(pts: np.ndarray, tol: float, rng: np.random.Generator) -> np.ndarray | None:
    """RANSAC, then total least squares on the inliers (twice); None with too few inliers."""
    if len(pts) < 8:
        return None
    inl = _ransac_line(pts, tol, rng)
    if inl.sum() < max(8, 0.3 * len(pts)):
        return None
    fit = _fit_tls(pts[inl])
    inl = np.abs(pts @ fit[:2] - fit[2]) < tol  # one more pass with the better line
    return _fit_tls(pts[inl]) if inl.sum() >= 8 else None


# Each corner is the intersection of lines fitted to the part of its two sides nearest to it (the
# "local tangents"): paper bends and sags, and a line through a whole curved side misses the
# corners by 1 % of the diagonal on real photos. The whole-side line is the fallback.
_LOCAL_SPAN = 0.3


def refine_corners(
    image: np.ndarray, corners: np.ndarray, *, search_frac: float = 0.01, iterations: int = 2
) -> np.ndarray:
    """Snap TL, TR, BR, BL ``corners`` (photo pixels) to the page edges in the full-resolution photo.

    Each side is searched within ``search_frac`` of the image diagonal along its normal (5-95 % of
    its length) for the strongest intensity step of the side's majority sign; lines are fitted
    (RANSAC, then total least squares on the inliers) to the 5-30 % of each side next to a corner
    and adjacent lines intersected; the window halves each iteration. A part without enough inliers
    falls back to the whole side's line, a side without them to the current side, and a corner
    that would move implausibly far keeps its place.
    """
    img = np.asarray(image)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    h, w = gray.shape
    diag = math.hypot(w, h)
    q = np.asarray(corners, dtype=np.float64).reshape(4, 2).copy()
    if not np.all(np.isfinite(q)):
        return np.asarray(corners, dtype=np.float32)
    sigma = max(1.0, diag / 2000.0)
    # Only the band around the quad needs smoothing: blur a crop, not the whole photo.
    reach = search_frac * diag
    pad = int(reach + 4 * sigma + 4)
    x0, y0 = max(0, int(q[:, 0].min()) - pad), max(0, int(q[:, 1].min()) - pad)
    x1, y1 = min(w, int(math.ceil(q[:, 0].max())) + pad + 1), min(h, int(math.ceil(q[:, 1].max())) + pad + 1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return q.astype(np.float32)
    crop = cv2.GaussianBlur(gray[y0:y1, x0:x1].astype(np.float32), (0, 0), sigma)
    off = np.array([x0, y0], dtype=np.float64)
    rng = np.random.default_rng(0)  # RANSAC sampling; fixed so the same photo gives the same corners
    tol = max(0.75, diag / 2000.0)
    for _ in range(max(1, iterations)):
        centre = q.mean(axis=0) - off
        ends = np.zeros((4, 2, 3))  # per side: the line used at its start corner and at its end corner
        for s in range(4):
            p0, p1 = q[s] - off, q[(s + 1) % 4] - off
            line = _line_through(p0, p1)
            n = line[:2] if line[:2] @ ((p0 + p1) / 2 - centre) >= 0 else -line[:2]
            pts, t = _edge_points(crop, p0, p1, n, reach) if np.linalg.norm(p1 - p0) > 10 else (np.zeros((0, 2)), [])
            full = _robust_line(pts, tol, rng)
            full = line if full is None else full
            near0 = _robust_line(pts[t <= _LOCAL_SPAN], tol, rng) if len(pts) else None
            near1 = _robust_line(pts[t >= 1 - _LOCAL_SPAN], tol, rng) if len(pts) else None
            ends[s, 0] = full if near0 is None else near0
            ends[s, 1] = full if near1 is None else near1
        # Corner k joins the end of side k-1 and the start of side k.
        new = _intersect(np.roll(ends[:, 1], 1, axis=0), ends[:, 0]) + off
        moved = np.linalg.norm(new - q, axis=1)
        # A side moves by at most the window, but a corner also slides along its other side (a tilt
        # of that side); far beyond that, a side latched onto something else (a table edge).
        far = ~np.isfinite(moved) | (moved > 3.0 * reach + 2.0)
        new[far] = q[far]
        if is_valid_quad(new, (w, h), min_area_frac=0.0, max_outside_frac=1.0):
            q = new
        reach = max(reach / 2.0, 3.0 * sigma)
    return q.astype(np.float32)
