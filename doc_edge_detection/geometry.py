"""Quadrilateral geometry for page corners: ordering, IoU, corner error, page size and flattening.

Conventions used throughout ``doc_edge_detection``: corners are ``(4, 2)`` float32 arrays of
``(x, y)`` in pixels, origin top-left, y down, the centre of pixel ``(i, j)`` at ``x = i, y = j``,
ordered top-left, top-right, bottom-right, bottom-left. Sizes are ``(width, height)`` like OpenCV's,
never NumPy's ``(rows, cols)``.
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np

__all__ = [
    "corner_error",
    "flatten",
    "is_valid_quad",
    "order_corners",
    "page_size",
    "quad_area",
    "quad_iou",
    "scan_look",
]


def _as_quad(pts: np.ndarray) -> np.ndarray:
    q = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    if q.shape != (4, 2):
        raise ValueError(f"expected 4 points, got shape {np.shape(pts)}")
    return q


def order_corners(pts: np.ndarray) -> np.ndarray:
    """Four points in any order -> ``(4, 2)`` float32 TL, TR, BR, BL by image position.

    Sorting by angle around the centroid (rather than by x+y and y-x alone) keeps the cyclic order
    right for quads rotated near 45 degrees; the start is the corner with the smallest ``x + y``.
    """
    q = _as_quad(pts)
    c = q.mean(axis=0)
    # With y pointing down, increasing atan2 runs clockwise on screen: TL, TR, BR, BL.
    ang = np.arctan2(q[:, 1] - c[1], q[:, 0] - c[0])
    q = q[np.argsort(ang, kind="stable")]
    start = int(np.argmin(q.sum(axis=1)))
    return np.roll(q, -start, axis=0).astype(np.float32)


def quad_area(corners: np.ndarray) -> float:
    """Absolute shoelace area of a quad given in cyclic order (0 for non-finite input)."""
    q = _as_quad(corners)
    if not np.all(np.isfinite(q)):
        return 0.0
    x, y = q[:, 0], q[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def quad_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two convex quads (any vertex order); 0 for degenerate input."""
    qa, qb = _as_quad(a), _as_quad(b)
    if not (np.all(np.isfinite(qa)) and np.all(np.isfinite(qb))):
        return 0.0
    # The convex hull puts the vertices in a consistent order, which intersectConvexConvex needs.
    ha = cv2.convexHull(qa.astype(np.float32))
    hb = cv2.convexHull(qb.astype(np.float32))
    area_a, area_b = cv2.contourArea(ha), cv2.contourArea(hb)
    if area_a <= 1e-9 or area_b <= 1e-9:
        return 0.0
    inter, _ = cv2.intersectConvexConvex(ha, hb)
    inter = max(0.0, float(inter))
    union = area_a + area_b - inter
    return float(inter / union) if union > 0 else 0.0


def corner_error(pred: np.ndarray, true: np.ndarray, diag: float) -> float:
    """Mean Euclidean distance between corresponding corners, divided by ``diag``.

    The minimum over the 4 cyclic shifts of ``pred`` is taken: a detector orders corners by image
    position, while annotations order them by page content (a page turned 90 degrees has its
    content-TL at the image's bottom-left), so only the cyclic order can be compared fairly.
    """
    p, t = _as_quad(pred), _as_quad(true)
    if not (np.all(np.isfinite(p)) and diag > 0):
        return float("inf")
    errs = [np.linalg.norm(np.roll(p, -k, axis=0) - t, axis=1).mean() for k in range(4)]
    return float(min(errs) / diag)


def is_convex(q: np.ndarray) -> bool:
    """Strictly convex and simple: all cross products of consecutive edges share one sign."""
    e = np.roll(q, -1, axis=0) - q
    cross = e[:, 0] * np.roll(e, -1, axis=0)[:, 1] - e[:, 1] * np.roll(e, -1, axis=0)[:, 0]
    # A simple convex quad turns by 360 degrees in total; a self-intersecting "bow tie" has mixed signs,
    # and a star-shaped 4-gon cannot occur with 4 vertices, so same-sign crosses is sufficient.
    return bool(np.all(cross > 0) or np.all(cross < 0))


def is_valid_quad(
    corners: np.ndarray,
    image_size: tuple[int, int],
    *,
    min_area_frac: float = 0.02,
    max_outside_frac: float = 0.5,
    min_angle_deg: float = 20.0,
) -> bool:
    """True when ``corners`` (cyclic order) is a usable page: finite, convex, not self-intersecting,
    with an area of at least ``min_area_frac`` of the ``(width, height)`` image, interior angles of at
    least ``min_angle_deg`` and no corner further outside the image than ``max_outside_frac`` of its
    size (a page crossing the frame has corners outside it, but not arbitrarily far)."""
    try:
        q = _as_quad(corners)
    except ValueError:
        return False
    w, h = image_size
    if not np.all(np.isfinite(q)) or w <= 0 or h <= 0:
        return False
    if not is_convex(q):
        return False
    if quad_area(q) < min_area_frac * w * h:
        return False
    mx, my = max_outside_frac * w, max_outside_frac * h
    if np.any(q[:, 0] < -mx) or np.any(q[:, 0] > w - 1 + mx) or np.any(q[:, 1] < -my) or np.any(q[:, 1] > h - 1 + my):
        return False
    prev, nxt = np.roll(q, 1, axis=0) - q, np.roll(q, -1, axis=0) - q
    cosang = np.sum(prev * nxt, axis=1) / (np.linalg.norm(prev, axis=1) * np.linalg.norm(nxt, axis=1) + 1e-12)
    return bool(np.all(np.degrees(np.arccos(np.clip(cosang, -1, 1))) >= min_angle_deg))


def _side_lengths(q: np.ndarray) -> tuple[float, float, float, float]:
    """Lengths of the top, right, bottom and left sides of a TL, TR, BR, BL quad."""
    d = np.linalg.norm(np.roll(q, -1, axis=0) - q, axis=1)
    return float(d[0]), float(d[1]), float(d[2]), float(d[3])


def _perspective_aspect(q: np.ndarray, image_size: tuple[int, int]) -> float | None:
    """Width / height of the real rectangle behind a TL, TR, BR, BL quad, or None if not estimable.

    Zhang & He (2007), "Whiteboard scanning and image enhancement": with the principal point at the
    image centre and square pixels, the vanishing geometry of the quad fixes the focal length and
    from it the true aspect ratio. Near a parallelogram the focal length is unobservable (the
    formula divides by ~0), and then the side lengths are as good as it gets.
    """
    u0, v0 = (image_size[0] - 1) / 2.0, (image_size[1] - 1) / 2.0
    # The paper's numbering: m1 = (0, 0), m2 = (w, 0), m3 = (0, h), m4 = (w, h) on the page.
    m1, m2, m4, m3 = (np.array([x, y, 1.0]) for x, y in q)
    den2 = np.dot(np.cross(m2, m4), m3)
    den3 = np.dot(np.cross(m3, m4), m2)
    if abs(den2) < 1e-9 or abs(den3) < 1e-9:
        return None
    k2 = np.dot(np.cross(m1, m4), m3) / den2
    k3 = np.dot(np.cross(m1, m4), m2) / den3
    n2, n3 = k2 * m2 - m1, k3 * m3 - m1
    diag = math.hypot(*image_size)
    f = None
    # When either pair of sides is (nearly) parallel the focal length is unobservable: the formula
    # divides by ~0. A typical phone focal length (~0.7 x diagonal, a 70-80 degree field of view)
    # then stands in; with weak perspective the ratio hardly depends on f anyway.
    scale = max(_side_lengths(q))
    if abs(n2[2]) * scale > 1e-2 * np.linalg.norm(n2[:2]) and abs(n3[2]) * scale > 1e-2 * np.linalg.norm(n3[:2]):
        f2 = -(
            (n2[0] * n3[0] - (n2[0] * n3[2] + n2[2] * n3[0]) * u0 + n2[2] * n3[2] * u0 * u0)
            + (n2[1] * n3[1] - (n2[1] * n3[2] + n2[2] * n3[1]) * v0 + n2[2] * n3[2] * v0 * v0)
        ) / (n2[2] * n3[2])
        # Clamp to what cameras have (ultra-wide to telephoto): noisy corners can make it run off.
        if np.isfinite(f2) and f2 > 0:
            f = float(np.clip(math.sqrt(f2), 0.3 * diag, 5.0 * diag))
    if f is None:
        f = 0.7 * diag
    a_inv = np.array([[1 / f, 0, -u0 / f], [0, 1 / f, -v0 / f], [0, 0, 1.0]])
    r2 = float(np.sum((a_inv @ n2) ** 2) / np.sum((a_inv @ n3) ** 2))
    return math.sqrt(r2) if np.isfinite(r2) and r2 > 0 else None


def page_size(corners: np.ndarray, image_size: tuple[int, int] | None = None) -> tuple[int, int]:
    """Output ``(width, height)`` for flattening the TL, TR, BR, BL quad ``corners``.

    With ``image_size`` the aspect ratio comes from the perspective (Zhang & He 2007; the focal length
    is estimated from the quad when both side pairs converge, else a typical phone value is assumed);
    without it, or if that fails, from the mean opposite side lengths. The
    scale keeps the resolution of the nearest (longest) side, so nothing is downsampled.
    """
    q = _as_quad(corners)
    top, right, bottom, left = _side_lengths(q)
    w_side, h_side = (top + bottom) / 2.0, (left + right) / 2.0
    if w_side < 1 or h_side < 1:
        return max(1, round(w_side)), max(1, round(h_side))
    aspect = _perspective_aspect(q, image_size) if image_size is not None else None
    if aspect is None or not (0.2 * w_side / h_side < aspect < 5.0 * w_side / h_side):
        aspect = w_side / h_side
    h = max(left, right, max(top, bottom) / aspect)
    return max(1, round(h * aspect)), max(1, round(h))


def flatten(
    image: np.ndarray,
    corners: np.ndarray,
    *,
    max_side: int | None = 2000,
    size: tuple[int, int] | None = None,
    border_value: int = 255,
) -> np.ndarray:
    """Warp the page inside ``corners`` (TL, TR, BR, BL in ``image`` pixels) to an upright rectangle.

    The corners go to the output's corner pixel centres. ``size`` forces the output ``(width,
    height)``; otherwise :func:`page_size` picks it, capped at ``max_side``. Parts of a page that lie
    outside the photo are filled with ``border_value`` (white, like paper).
    """
    q = _as_quad(corners).astype(np.float32)
    ih, iw = image.shape[:2]
    if size is None:
        w, h = page_size(q, (iw, ih))
        if max_side is not None and max(w, h) > max_side:
            s = max_side / max(w, h)
            w, h = max(1, round(w * s)), max(1, round(h * s))
    else:
        w, h = int(size[0]), int(size[1])
    src, img = q, image
    # warpPerspective has no area filter, so a strong reduction would alias text strokes: shrink the
    # photo first with INTER_AREA until the warp is roughly 1:1, then warp with a cubic filter.
    t, r, b, lft = _side_lengths(q)
    shrink = max(w / max(t, b, 1e-6), h / max(lft, r, 1e-6))
    if shrink < 0.66:
        new_size = (max(1, round(iw * shrink)), max(1, round(ih * shrink)))
        img = cv2.resize(image, new_size, interpolation=cv2.INTER_AREA)
        src = ((q + 0.5) * np.float32([new_size[0] / iw, new_size[1] / ih]) - 0.5).astype(np.float32)
    dst = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    m = cv2.getPerspectiveTransform(src, dst)
    fill = (border_value,) * (img.shape[2] if img.ndim == 3 else 1)
    return cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


def _background(gray: np.ndarray) -> np.ndarray:
    """Smooth estimate of the paper's brightness without the ink: dilation (a max filter) removes
    dark strokes, a large median removes what is left; done at <= 512 px since it is smooth anyway."""
    h, w = gray.shape
    s = min(1.0, 512.0 / max(h, w))
    small = cv2.resize(gray, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    k = max(3, round(min(small.shape) / 60)) | 1
    bg = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    bg = cv2.medianBlur(bg, min(255, max(3, round(min(small.shape) / 12)) | 1))
    bg = cv2.GaussianBlur(bg, (0, 0), 2.0)
    return cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)


def _stretch(x: np.ndarray, lo_pct: float = 0.5, hi_pct: float = 99.5) -> np.ndarray:
    # Percentiles of a regular subsample: as good for a stretch, and a full sort of a page is slow.
    # Sampled by pixel, all channels of each: a flat stride over HxWx3 can land on one channel only.
    pixels = x.reshape(-1, x.shape[-1]) if x.ndim == 3 else x.reshape(-1, 1)
    lo, hi = np.percentile(pixels[:: max(1, len(pixels) // 200_000)], [lo_pct, hi_pct])
    return np.clip((x - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255).astype(np.uint8)


def scan_look(image: np.ndarray, mode: Literal["gray", "bw", "color"] = "gray") -> np.ndarray:
    """A flattened page made to look scanned: uneven light and shadows divided out, contrast stretched.

    ``gray`` -> ``HxW`` uint8; ``bw`` -> ``HxW`` uint8 in {0, 255} (adaptive threshold, for text);
    ``color`` -> the input's shape, each channel normalised by its own background.
    """
    if mode not in ("gray", "bw", "color"):
        raise ValueError(f"mode must be 'gray', 'bw' or 'color', got {mode!r}")
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if mode == "color" and img.ndim == 3:
        chans = [img[..., c].astype(np.float32) / np.maximum(_background(img[..., c]), 1) for c in range(img.shape[2])]
        # One stretch for all channels keeps the colour balance that the division just fixed.
        return _stretch(np.stack(chans, axis=-1) * 255.0, 0.1, 99.0)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    norm = gray.astype(np.float32) / np.maximum(_background(gray).astype(np.float32), 1.0) * 255.0
    # Paper ends up near 255 after the division; clipping the top percent turns it fully white.
    out = _stretch(norm, 0.5, 99.0)
    if mode == "gray" or mode == "color":
        return out
    block = max(11, round(min(out.shape) / 40) | 1)
    return cv2.adaptiveThreshold(out, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, 10)
