"""The pieces of ``POST /scan`` that are not HTTP plumbing: reading the client's corners and
encoding the flattened page.

Plain functions of their arguments (no Flask request). A bad ``corners`` field is an
:class:`ApiError` 400 with the code ``bad_corners`` and a message saying what to fix.
"""

from __future__ import annotations

import io
import json
from typing import Any, Protocol

import numpy as np
from PIL import Image

from doc_edge_detection.geometry import is_convex, order_corners, quad_area
from serving.errors import ApiError, clip_text

# A detected or dragged corner may lie a little outside the photo (a page cut by the frame), but a
# point this far beyond the border (as a fraction of the image's side) is a mistake.
OUTSIDE_MARGIN = 0.5
# A quad smaller than this fraction of the image flattens to a smear of a few pixels.
MIN_AREA_FRACTION = 0.01
JPEG_QUALITY = 90
# Output formats: query value -> (Pillow format, mimetype, file name).
FORMATS: dict[str, tuple[str, str, str]] = {
    "jpeg": ("JPEG", "image/jpeg", "scan.jpg"),
    "pdf": ("PDF", "application/pdf", "scan.pdf"),
}
# A PDF page's long side in inches (A4); the resolution is chosen so the page prints at most this big.
PDF_LONG_SIDE_IN = 11.69


class PageScan(Protocol):
    """What the doc-edges predictor's ``scan(image, corners, *, enhance)`` returns (its ``ScanResult``)."""

    image: np.ndarray  # the flattened page, HxW or HxWx3 uint8
    found: bool  # False: no page found and no corners given, so ``image`` is the whole photo
    corners: np.ndarray | None  # (4, 2) TL, TR, BR, BL in pixels of the uploaded image, as used


def _bad(message: str) -> ApiError:
    return ApiError(400, "bad_corners", f"form field 'corners': {message}")


def _reject_constant(name: str) -> float:
    # Python's json accepts NaN and Infinity, which are not JSON and not a position.
    raise ValueError(f"{name} is not a number")


def parse_corners(text: str, width: int, height: int) -> np.ndarray:
    """The ``corners`` form field -> a (4, 2) float array in TL, TR, BR, BL order.

    ``text`` is a JSON list of four ``[x, y]`` points in pixels of the ``width`` x ``height``
    image, in any order. Raises ``ApiError`` 400 ``bad_corners`` when it is not JSON, not four
    finite points, a point lies far outside the image, or the points do not enclose a convex
    quadrilateral covering at least 1 % of the image.
    """
    try:
        raw = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        example = "[[10, 20], [300, 15], [310, 400], [5, 390]]"
        raise _bad(f"not valid JSON ({_first_line(e)}); send e.g. {example}") from None
    points = _points(raw)
    _check_inside(points, width, height)
    quad = order_corners(points)  # the project's one ordering rule, as the predictor uses it
    _check_quad(quad, width, height)
    return quad


def _points(raw: Any) -> np.ndarray:
    if not isinstance(raw, list) or len(raw) != 4:
        got = f"{len(raw)} items" if isinstance(raw, list) else f"a JSON {type(raw).__name__}"
        raise _bad(f"needs a list of exactly 4 [x, y] points, got {got}")
    out = np.zeros((4, 2), np.float64)
    for i, p in enumerate(raw):
        if not (isinstance(p, list) and len(p) == 2 and all(_is_number(v) for v in p)):
            raise _bad(f"point {i} must be [x, y] with two numbers, got {clip_text(json.dumps(p), 60)}")
        try:
            out[i] = [float(p[0]), float(p[1])]
        except OverflowError:  # an integer with hundreds of digits
            raise _bad(f"point {i} is not a finite number") from None
        if not np.isfinite(out[i]).all():
            raise _bad(f"point {i} is not a finite number")
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_inside(points: np.ndarray, width: int, height: int) -> None:
    lo = -OUTSIDE_MARGIN * np.array([width, height])
    hi = (1 + OUTSIDE_MARGIN) * np.array([width, height])
    for i, p in enumerate(points):
        if (p < lo).any() or (p > hi).any():
            raise _bad(
                f"point {i} [{p[0]:g}, {p[1]:g}] is far outside the {width}x{height} image "
                f"(at most {OUTSIDE_MARGIN:.0%} of its size beyond the border)"
            )


def _check_quad(quad: np.ndarray, width: int, height: int) -> None:
    """An ordered quad must be convex and cover at least MIN_AREA_FRACTION of the image."""
    quad = quad.astype(np.float64)
    area = quad_area(quad)
    if area < MIN_AREA_FRACTION * width * height:
        raise _bad(
            f"the quadrilateral covers {area / (width * height):.2%} of the image; it must cover at least "
            f"{MIN_AREA_FRACTION:.0%} (are two corners on top of each other?)"
        )
    # Sorted by position, a dent or a zero turn means three points in a line or a point inside the
    # others' triangle.
    if not is_convex(quad):
        raise _bad(
            "the four points must be the corners of a convex quadrilateral; one lies inside, or on an edge of, "
            "the triangle of the other three"
        )


def encode_page(image: np.ndarray, fmt: str) -> tuple[bytes, str, str]:
    """A flattened page (HxW or HxWx3 uint8) -> (file bytes, mimetype, file name) for ``fmt``
    (a key of :data:`FORMATS`): a JPEG, or a one-page PDF holding that JPEG."""
    pil_format, mimetype, filename = FORMATS[fmt]
    page = Image.fromarray(np.ascontiguousarray(image))
    buf = io.BytesIO()
    if pil_format == "PDF":
        # Pillow stores the page as a JPEG stream; the resolution only sets the printed size.
        dpi = max(72.0, max(page.size) / PDF_LONG_SIDE_IN)
        page.save(buf, "PDF", resolution=dpi, quality=JPEG_QUALITY, title="Scan")
    else:
        page.save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue(), mimetype, filename


def corners_header(corners: np.ndarray | None) -> str:
    """The ``X-Corners`` header value: compact JSON of the corners (2 decimals), or ``null``."""
    if corners is None:
        return "null"
    pts = [[_round(x), _round(y)] for x, y in np.asarray(corners, np.float64).reshape(4, 2)]
    return json.dumps(pts, separators=(",", ":"))


def _round(v: float) -> float | int:
    r = round(float(v), 2)
    return int(r) if r.is_integer() else r


def _first_line(e: BaseException) -> str:
    return clip_text(str(e).splitlines()[0] if str(e) else type(e).__name__, 60)


