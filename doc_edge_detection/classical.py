"""Classical page detectors without a network, kept as baselines for the HED pipeline.

* :func:`detect_canny` is the textbook "document scanner": Canny edges, the largest contour that
  simplifies to four points. It fails whenever the outline is broken (low contrast, a hand, a
  shadow) or merges with the background.
* :func:`detect_paper` thresholds a "paperness" channel (bright and unsaturated) and fits a
  quadrilateral to the convex hull of the page blob. It needs a page lighter than its background.

Both work on a ~500 px copy and return corners in pixels of the input image.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from .geometry import is_valid_quad, order_corners, quad_area
from .quad import QuadResult, scale_corners

__all__ = ["detect_canny", "detect_paper"]

_WORK_SIDE = 500  # the classical recipes are tuned for about this size
_MIN_CONTRAST = 30.0  # paperness levels (0-255) between the page blob and the rest
_MIN_FILL = 0.7  # blob area / quad area below which the blob is not a page


def _small_rgb(image: np.ndarray) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """RGB copy with the longer side at most ``_WORK_SIDE``, plus its and the input's ``(w, h)``."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_RGBA2RGB)
    h, w = img.shape[:2]
    s = min(1.0, _WORK_SIDE / max(h, w))
    size = (max(1, round(w * s)), max(1, round(h * s)))
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA) if s < 1 else img
    return small, size, (w, h)


def detect_canny(image: np.ndarray, *, min_area_frac: float = 0.05) -> QuadResult:
    """Gray, blur, Canny, dilate, contours; the largest contour whose ``approxPolyDP`` (2 % of the
    perimeter) has exactly four points is the page. ``score``: how much of its quad the contour fills."""
    small, size, full = _small_rgb(image)
    gray = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (5, 5), 0)
    edges = cv2.Canny(gray, 75, 200)
    # Dilation closes the one-pixel gaps that would otherwise split the page outline.
    edges = cv2.dilate(edges, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    min_area = min_area_frac * size[0] * size[1]
    for c in sorted(contours, key=cv2.contourArea, reverse=True)[:10]:
        if cv2.contourArea(c) < min_area:
            break
        approx = cv2.approxPolyDP(c, 0.02 * cv2.arcLength(c, True), True)
        if len(approx) == 4 and cv2.isContourConvex(approx):
            quad = order_corners(approx.reshape(4, 2))
            score = float(np.clip(cv2.contourArea(c) / max(quad_area(quad), 1e-9), 0, 1))
            return QuadResult(True, scale_corners(quad, size, full), score)
    return QuadResult(False, None, 0.0)


def _paperness(rgb: np.ndarray) -> np.ndarray:
    """Bright and unsaturated -> high: value minus saturation in HSV, lightly smoothed."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.int16)
    p = np.clip(hsv[..., 2] - hsv[..., 1], 0, 255).astype(np.uint8)
    return cv2.GaussianBlur(p, (5, 5), 0)


def _pick_component(mask: np.ndarray, min_area: float) -> np.ndarray | None:
    """The page blob: large, near the centre, and not the frame-filling background."""
    n, labels, stats, cents = cv2.connectedComponentsWithStats(mask, connectivity=8)
    h, w = mask.shape
    best, best_score = None, 0.0
    half_diag = 0.5 * np.hypot(w, h)
    for k in range(1, n):
        x, y, bw, bh, area = stats[k]
        if area < min_area:
            continue
        off = np.hypot(cents[k][0] - w / 2, cents[k][1] - h / 2) / half_diag
        touches = int(x == 0) + int(y == 0) + int(x + bw == w) + int(y + bh == h)
        # A blob touching three or four borders is the table or wall, not a page lying on it.
        score = area * (1.0 - 0.6 * off) * (0.3 if touches >= 3 else 1.0)
        if score > best_score:
            best, best_score = k, score
    return None if best is None else (labels == best).astype(np.uint8)


def _max_area_quad(poly: np.ndarray) -> np.ndarray:
    """The 4 vertices of a convex polygon (<= ~16 vertices) spanning the largest quad."""
    idx = np.array(list(itertools.combinations(range(len(poly)), 4)))
    q = poly[idx].astype(np.float64)  # (n, 4, 2), cyclic because the hull is
    x, y = q[..., 0], q[..., 1]
    area = 0.5 * np.abs((x * np.roll(y, -1, axis=1) - y * np.roll(x, -1, axis=1)).sum(axis=1))
    return q[int(np.argmax(area))]


def _hull_quad(hull_mask: np.ndarray) -> np.ndarray | None:
    """Best 4-gon for a filled convex blob: the largest-area quad on its simplified hull, then each
    side re-fitted as a straight line through the middle of the hull boundary between two corners,
    so that rounded or dog-eared corners end at the straight edges' intersection."""
    contours, _ = cv2.findContours(hull_mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    boundary = max(contours, key=cv2.contourArea).reshape(-1, 2)
    if len(boundary) < 8:
        return None
    peri = cv2.arcLength(boundary.reshape(-1, 1, 2), True)
    poly = boundary
    for eps in (0.005, 0.01, 0.02, 0.03, 0.05):
        poly = cv2.approxPolyDP(boundary.reshape(-1, 1, 2), eps * peri, True).reshape(-1, 2)
        if len(poly) <= 16:
            break
    if len(poly) < 4:
        return None
    quad = _max_area_quad(poly[:16])
    # Boundary indices of the 4 corners, in the boundary's own (cyclic) order.
    ci = sorted(int(np.argmin(np.linalg.norm(boundary - c, axis=1))) for c in quad)
    lines = []
    for a, b in zip(ci, ci[1:] + [ci[0] + len(boundary)]):
        chain = boundary[np.arange(a, b) % len(boundary)]
        m = len(chain)
        chain = chain[int(0.1 * m) : max(int(0.9 * m), int(0.1 * m) + 2)]
        if len(chain) < 2:
            return quad
        vx, vy, x0, y0 = cv2.fitLine(chain.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((float(vx), float(vy), float(x0), float(y0)))
    corners = []
    for (vx1, vy1, x1, y1), (vx2, vy2, x2, y2) in zip(lines[-1:] + lines[:-1], lines):
        det = vx1 * -vy2 - vy1 * -vx2
        if abs(det) < 1e-9:
            return quad
        t = ((x2 - x1) * -vy2 - (y2 - y1) * -vx2) / det
        corners.append((x1 + t * vx1, y1 + t * vy1))
    fitted = np.array(corners)
    # The fitted lines must not wander off: a concave bite (a hand, a clip) can tilt a short chain.
    if np.max(np.linalg.norm(fitted - boundary[ci], axis=1)) > 0.05 * peri:
        return quad
    return fitted


def detect_paper(image: np.ndarray, *, min_area_frac: float = 0.05) -> QuadResult:
    """Paper-colour baseline: Otsu on a paperness channel, morphology, the page blob (large and near
    the centre), its convex hull and the best 4-gon around it. ``score``: blob area over quad area."""
    small, size, full = _small_rgb(image)
    p = _paperness(small)
    _, mask = cv2.threshold(p, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    # Opening cuts thin bridges to bright clutter; closing fills text and lines printed on the page.
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, k)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, k, iterations=2)
    comp = _pick_component(mask, min_area_frac * size[0] * size[1])
    # Otsu splits any image in two, even one without a page: ask for a clearly lighter blob (and
    # some background to compare it with: a flat image is one blob).
    if comp is None or comp.all() or p[comp > 0].mean() - p[comp == 0].mean() < _MIN_CONTRAST:
        return QuadResult(False, None, 0.0)
    contours, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = cv2.convexHull(max(contours, key=cv2.contourArea))
    hull_mask = np.zeros_like(comp)
    cv2.fillConvexPoly(hull_mask, hull, 1)
    quad = _hull_quad(hull_mask)
    if quad is None:
        return QuadResult(False, None, 0.0)
    quad = order_corners(quad)
    if not is_valid_quad(quad, size, min_area_frac=min_area_frac):
        return QuadResult(False, None, 0.0)
    score = float(np.clip(comp.sum() / max(quad_area(quad), 1e-9), 0, 1))
    if score < _MIN_FILL:  # the blob is no quadrilateral (a hand, a crumpled shape, clutter)
        return QuadResult(False, None, score)
    return QuadResult(True, scale_corners(quad, size, full), score)
