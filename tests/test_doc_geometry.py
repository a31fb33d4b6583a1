"""Page-quad geometry: corner order, IoU, corner error, validity, page size, flattening, scan look."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from doc_edge_detection.geometry import (
    corner_error,
    flatten,
    is_valid_quad,
    order_corners,
    page_size,
    quad_area,
    quad_iou,
    scan_look,
)

SQUARE = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)


def _rotated_rect(cx: float, cy: float, w: float, h: float, deg: float) -> np.ndarray:
    """TL, TR, BR, BL of a w x h rectangle turned by ``deg`` (clockwise on screen) about (cx, cy)."""
    a = np.radians(deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    base = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    return base @ rot.T + [cx, cy]


@pytest.mark.parametrize("deg", [0.0, 12.0, -25.0, 40.0, -40.0])
def test_order_corners_any_permutation_of_rotated_rect(deg):
    quad = _rotated_rect(300, 200, 240, 160, deg)
    # The expected TL is the corner with the smallest x + y; the rest follow clockwise.
    start = int(np.argmin(quad.sum(axis=1)))
    expected = np.roll(quad, -start, axis=0)
    for perm in itertools.permutations(range(4)):
        got = order_corners(quad[list(perm)])
        assert got.dtype == np.float32 and got.shape == (4, 2)
        np.testing.assert_allclose(got, expected, atol=1e-3)


def test_order_corners_perspective_quad():
    quad = np.array([[120, 80], [510, 60], [560, 700], [60, 640]], float)
    rng = np.random.default_rng(0)
    for _ in range(5):
        np.testing.assert_allclose(order_corners(rng.permutation(quad)), quad)


def test_quad_iou_known_values():
    assert quad_iou(SQUARE, SQUARE) == pytest.approx(1.0)
    assert quad_iou(SQUARE, SQUARE[[2, 0, 3, 1]]) == pytest.approx(1.0)  # vertex order does not matter
    assert quad_iou(SQUARE, SQUARE + [20, 0]) == 0.0
    half = np.array([[0, 0], [5, 0], [5, 10], [0, 10]], float)
    assert quad_iou(SQUARE, half) == pytest.approx(0.5)
    assert quad_iou(SQUARE, SQUARE + [5, 0]) == pytest.approx(1 / 3)  # 50 / (100 + 100 - 50)
    assert quad_iou(SQUARE, SQUARE * 2) == pytest.approx(0.25)


def test_quad_iou_degenerate_is_zero():
    line = np.array([[0, 0], [5, 0], [10, 0], [2, 0]], float)
    assert quad_iou(SQUARE, line) == 0.0
    assert quad_iou(SQUARE, np.full((4, 2), np.nan)) == 0.0


def test_corner_error_cyclic_invariance_and_value():
    diag = 100.0
    true = np.array([[10, 10], [90, 12], [88, 95], [8, 90]], float)
    pred = true + [3.0, 4.0]  # every corner 5 px off
    assert corner_error(pred, true, diag) == pytest.approx(0.05)
    for k in range(4):
        assert corner_error(np.roll(pred, k, axis=0), true, diag) == pytest.approx(0.05)
    assert corner_error(true, true, diag) == 0.0


def test_is_valid_quad():
    size = (100, 100)
    good = np.array([[10, 10], [90, 12], [88, 95], [8, 90]], float)
    assert is_valid_quad(good, size)
    assert not is_valid_quad(good[[0, 2, 1, 3]], size)  # bow tie
    assert not is_valid_quad(np.array([[10, 10], [90, 10], [12, 12], [10, 90]], float), size)  # concave
    assert not is_valid_quad(good * 0.05, size)  # too small
    assert not is_valid_quad(np.full((4, 2), np.inf), size)
    assert is_valid_quad(good + [-30, 0], size)  # a page crossing the frame is allowed...
    assert not is_valid_quad(good + [-300, 0], size)  # ...but not one far outside it


def _project(points3d: np.ndarray, f: float, image_size: tuple[int, int]) -> np.ndarray:
    cx, cy = (image_size[0] - 1) / 2, (image_size[1] - 1) / 2
    return np.stack([f * points3d[:, 0] / points3d[:, 2] + cx, f * points3d[:, 1] / points3d[:, 2] + cy], axis=1)


@pytest.mark.parametrize("tilt_x, tilt_y", [(35.0, 0.0), (30.0, 20.0), (-25.0, 15.0)])
def test_page_size_recovers_aspect_in_perspective(tilt_x, tilt_y):
    # An A4 page (210 x 297) seen by a pinhole camera (principal point at the image centre).
    image_size = (1200, 1600)
    w, h = 210.0, 297.0
    page = np.array([[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0], [-w / 2, h / 2, 0]])
    ax, ay = np.radians(tilt_x), np.radians(tilt_y)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    pts3d = page @ (ry @ rx).T + [10, -20, 450]
    quad = _project(pts3d, 1400.0, image_size)
    pw, ph = page_size(quad, image_size)
    assert pw / ph == pytest.approx(w / h, rel=0.02)
    # The naive side-length ratio is visibly wrong here: what the perspective method is for.
    top, right, bottom, left = (np.linalg.norm(quad[(i + 1) % 4] - quad[i]) for i in range(4))
    assert abs((top + bottom) / (left + right) - w / h) > 0.03


def test_page_size_of_plain_rectangle():
    quad = np.array([[10, 20], [310, 20], [310, 420], [10, 420]], float)
    assert page_size(quad) == (300, 400)
    assert page_size(quad, (800, 600)) == (300, 400)


def _checkerboard(w: int, h: int, cell: int = 20) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    board = (((xx // cell) + (yy // cell)) % 2 * 180 + 40).astype(np.uint8)
    board = cv2.cvtColor(board, cv2.COLOR_GRAY2RGB)
    board[..., 0] = np.clip(board[..., 0].astype(int) + xx * 60 // w, 0, 255)  # a colour ramp too
    # Slightly soft edges: a hard checkerboard aliases under any resampling.
    return cv2.GaussianBlur(board, (0, 0), 1.0)


def test_flatten_inverts_a_known_homography():
    pw, ph = 300, 400
    page = _checkerboard(pw, ph)
    quad = np.array([[130.5, 90.2], [520.7, 140.1], [560.3, 650.8], [80.9, 600.4]], np.float32)
    rect = np.float32([[0, 0], [pw - 1, 0], [pw - 1, ph - 1], [0, ph - 1]])
    m = cv2.getPerspectiveTransform(rect, quad)
    photo = cv2.warpPerspective(page, m, (700, 800), flags=cv2.INTER_CUBIC, borderValue=(0, 0, 0))
    # Any order of corners in, the page comes out upright once ordered.
    out = flatten(photo, order_corners(quad[[2, 0, 3, 1]]), size=(pw, ph))
    assert out.shape == page.shape
    diff = np.abs(out.astype(int) - page.astype(int))[4:-4, 4:-4]
    assert diff.mean() < 4.0
    assert np.percentile(diff, 99) < 40


def test_flatten_maps_corners_to_output_corners():
    photo = np.zeros((500, 600), np.uint8)
    quad = np.array([[100, 80], [480, 120], [500, 420], [60, 380]], np.float32)
    for x, y in quad:
        cv2.circle(photo, (int(x), int(y)), 6, 255, -1)
    out = flatten(photo, quad, size=(200, 150))
    for y, x in [(0, 0), (0, 199), (149, 199), (149, 0)]:
        assert out[y, x] > 200, (y, x)


def test_flatten_size_and_cap():
    photo = np.full((1000, 800, 3), 128, np.uint8)
    quad = np.array([[100, 100], [700, 100], [700, 900], [100, 900]], np.float32)
    assert flatten(photo, quad, max_side=None).shape == (800, 600, 3)
    small = flatten(photo, quad, max_side=200)
    assert small.shape == (200, 150, 3)
    assert np.abs(small.astype(int) - 128).max() <= 1


def _shadowed_page(h: int = 400, w: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """A page with text lines under light falling off from 235 (left) to 110 (right)."""
    ink = np.zeros((h, w), bool)
    for y in range(40, h - 40, 24):
        for x0 in range(20, w - 40, 45):
            ink[y : y + 3, x0 : x0 + 30] = True
    light = np.linspace(235, 110, w)[None, :].repeat(h, axis=0)
    img = np.where(ink, light * 0.25, light)
    return np.clip(img, 0, 255).astype(np.uint8), ink


def test_scan_look_removes_shadow_gradient():
    img, ink = _shadowed_page()
    paper = ~cv2.dilate(ink.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    left, right = paper.copy(), paper.copy()
    left[:, 100:] = False
    right[:, :200] = False
    assert img[left].mean() - img[right].mean() > 80
    gray = scan_look(img, "gray")
    assert gray.shape == img.shape and gray.dtype == np.uint8
    assert abs(float(gray[left].mean()) - float(gray[right].mean())) < 10
    assert gray[paper].mean() > 235
    assert gray[ink].mean() < 100


def test_scan_look_bw_and_color():
    img, ink = _shadowed_page()
    bw = scan_look(img, "bw")
    assert bw.shape == img.shape and set(np.unique(bw)) <= {0, 255}
    assert (bw[ink] == 0).mean() > 0.9
    assert (bw[~ink] == 255).mean() > 0.95
    rgb = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    assert scan_look(rgb, "color").shape == rgb.shape
    assert scan_look(rgb).shape == img.shape  # gray from an RGB page
    with pytest.raises(ValueError):
        scan_look(img, "sepia")


def test_quad_area():
    assert quad_area(SQUARE) == pytest.approx(100.0)
