"""From CTPN outputs to text lines: decode the proposals, chain them into lines (paper sec. 3.3
and its text-line construction), fit slanted quads, refine the ends, and match lines for evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ctpn.anchors import decode_vertical, make_anchors
from ctpn.config import CTPNConfig
from ctpn.nms import nms
from ctpn.targets import SIDE_RANGE

LINE_NMS_IOU = 0.3
# A line lying more than this share of its area inside a longer line is dropped (build_lines).
LINE_MAX_INSIDE = 0.5


@dataclass(eq=False)  # compared by identity: a box is an array
class TextLine:
    """A detected line: ``box`` ``(4, 2)`` float32 quad ``[tl, tr, br, bl]`` in image pixels,
    ``score`` the mean score of its ``n`` proposals. ``rise`` / ``drop``: how far (px) its
    proposals reach above / below ``box`` (:func:`build_lines`); ``fit``: the box fitted through
    them, where ``box`` was moved out to that reach (:func:`widen`): the recogniser reads that crop."""

    box: np.ndarray
    score: float
    n: int
    rise: float = 0.0
    drop: float = 0.0
    fit: np.ndarray | None = None


def decode_proposals(
    probs: np.ndarray, reg: np.ndarray, side: np.ndarray, cfg: CTPNConfig, score_threshold: float = 0.7
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's outputs -> ``(boxes (N, 4) xyxy, scores (N,), side offsets (N,))`` of the anchors
    scoring at least ``score_threshold``, with the vertical regression applied.

    ``probs`` ``(H, W, k)``; ``reg`` ``(H, W, 2k)`` or ``(H, W, k, 2)``; ``side`` ``(H, W, k)``."""
    h, w, k = np.shape(probs)
    anchors = make_anchors(h, w, cfg)
    p = np.asarray(probs, np.float32).reshape(-1)
    keep = np.flatnonzero(p >= score_threshold)
    deltas = np.asarray(reg, np.float32).reshape(-1, 2)[keep]
    boxes = decode_vertical(anchors[keep], deltas)
    return boxes, p[keep], np.asarray(side, np.float32).reshape(-1)[keep]


def _best_neighbours(
    boxes: np.ndarray, scores: np.ndarray, direction: int, max_gap: float, min_v_overlap: float, min_size_sim: float
) -> np.ndarray:
    """For each proposal, the index of its best neighbour to the right (``direction`` 1) or left
    (-1), or -1: among the proposals within ``max_gap`` px (by x0) that overlap it enough
    vertically and have a similar height, those in the nearest column, the highest-scoring one."""
    x0, y0, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 3]
    hgt = np.maximum(y1 - y0, 1e-6)
    order = np.argsort(x0, kind="stable")
    xs = x0[order]
    out = np.full(len(boxes), -1, np.int64)
    for x in np.unique(x0):  # one column of proposals at a time keeps the matrices small
        mine = np.flatnonzero(x0 == x)
        lo, hi = (x, x + max_gap) if direction > 0 else (x - max_gap, x)
        cand = order[np.searchsorted(xs, lo, "right" if direction > 0 else "left"):
                     np.searchsorted(xs, hi, "right" if direction > 0 else "left")]
        if len(cand) == 0:
            continue
        inter = np.minimum(y1[mine, None], y1[cand]) - np.maximum(y0[mine, None], y0[cand])
        small = np.minimum(hgt[mine, None], hgt[cand])
        ok = (inter / small >= min_v_overlap) & (small / np.maximum(hgt[mine, None], hgt[cand]) >= min_size_sim)
        dist = np.where(ok, np.abs(x0[cand] - x)[None, :], np.inf)
        nearest = ok & (dist == dist.min(axis=1, keepdims=True))
        pick = np.where(nearest, scores[cand][None, :], -np.inf).argmax(axis=1)
        found = ok.any(axis=1)
        out[mine[found]] = cand[pick[found]]
    return out


def _components(n: int, edges: list[tuple[int, int]]) -> list[np.ndarray]:
    """Connected components (union-find) of ``n`` nodes, as index arrays."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in edges:
        parent[root(a)] = root(b)
    roots = np.array([root(i) for i in range(n)])
    return [np.flatnonzero(roots == r) for r in np.unique(roots)]


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares line ``y = a x + b``; flat through the mean when x does not vary."""
    if np.ptp(x) < 1e-6:
        return 0.0, float(np.mean(y))
    a, b = np.polyfit(x, y, 1)
    return float(a), float(b)


# Envelopes (build_lines, widen): a line of ENVELOPE_MIN proposals or more reaches from its fitted
# top edge raised to the ENVELOPE_SHARE quantile of its proposals' tops about that edge, to its
# fitted bottom edge lowered to the 1 - ENVELOPE_SHARE quantile of their bottoms, by at most
# ENVELOPE_CAP of their median height each. A least-squares edge runs through the middle of its
# proposals, and most of a line's proposals stand over its lower glyphs (digits, Latin, dot leaders,
# punctuation), so the fitted box misses the tops of its tallest characters.
ENVELOPE_SHARE = 0.05
ENVELOPE_MIN = 4
ENVELOPE_CAP = 0.25


def build_lines(
    boxes: np.ndarray,
    scores: np.ndarray,
    side_offsets: np.ndarray | None,
    image_shape: tuple[int, ...],
    cfg: CTPNConfig,
    *,
    max_gap: float = 24,
    min_v_overlap: float = 0.5,
    min_size_sim: float = 0.7,
    min_score: float = 0.9,
    min_proposals: int = 2,
    max_inside: float = LINE_MAX_INSIDE,
    image: np.ndarray | None = None,
    envelope: float = ENVELOPE_SHARE,
) -> list[TextLine]:
    """Chain proposals ``(N, 4)`` xyxy into text lines, in reading order.

    Proposal i is joined to its best successor j (see :func:`_best_neighbours`) when i is also
    j's best predecessor, or scores as high: the paper's mutual-pairing rule, so a stray proposal
    in a gap cannot bridge two lines. Each chain of at least ``min_proposals`` becomes a quad whose
    top and bottom edges are least-squares lines through the proposals' tops and bottoms against
    their centre x (slant kept); its ends move by the side offsets of the end proposals when
    given; chains with mean score below ``min_score`` are dropped, overlapping lines are NMS-ed,
    and a line lying more than ``max_inside`` of its area inside a longer one is dropped (a
    fragment left over where the pairing broke a chain: NMS by IoU keeps it, being small).

    With the ``image`` the proposals were found on (``(H, W)`` or ``(H, W, 3)``, its pixels), a
    chain is cut where a rule crosses it (:func:`rule_columns`: a table's cell border, a column
    separator) and where it spans a wide empty gap (:func:`gap_columns`): the proposals on each
    side make a line of their own, which ends at the rule or the gap.

    Each line records how far its proposals reach beyond its fitted edges (``rise``, ``drop``; the
    notes above :data:`ENVELOPE_SHARE`, ``envelope`` the share, 0: none); :func:`widen` moves the
    box out to them once the lines are settled.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if len(boxes) == 0:
        return []
    args = (max_gap, min_v_overlap, min_size_sim)
    succ = _best_neighbours(boxes, scores, 1, *args)
    pred = _best_neighbours(boxes, scores, -1, *args)
    edges = [(i, int(j)) for i, j in enumerate(succ) if j >= 0 and scores[i] >= scores[pred[j]]]

    img_h, img_w = image_shape[:2]
    aw = cfg.anchor_width
    lines, boxes_xyxy = [], []
    grey = None if image is None else page_grey(image)
    parts = []
    for g in _components(len(boxes), edges):
        if len(g) < min_proposals or scores[g].mean() < min_score:
            continue  # a chain too short or too weak as a whole is no line, cut or not
        parts += [(g, -np.inf, np.inf)] if grey is None else _cut_at_rules(g, boxes, grey)
    for g, lo, hi in parts:  # the parts of a cut chain answer to the same rules
        if len(g) < min_proposals:
            continue
        score = float(scores[g].mean())
        if score < min_score:
            continue
        b = boxes[g]
        cx = (b[:, 0] + b[:, 2]) / 2
        x_left, x_right = max(b[:, 0].min(), lo), min(b[:, 2].max(), hi)
        if side_offsets is not None:
            o = np.clip(np.asarray(side_offsets, np.float64).reshape(-1)[g], -SIDE_RANGE / aw, SIDE_RANGE / aw)
            # Side targets are learnt only near the ends (+-2 anchor widths), hence the clip.
            il, ir = b[:, 0].argmin(), b[:, 2].argmax()
            left, right = max(cx[il] + o[il] * aw, lo), min(cx[ir] + o[ir] * aw, hi)
            if left < right:
                x_left, x_right = left, right
        (at, bt), (ab, bb) = _fit(cx, b[:, 1]), _fit(cx, b[:, 3])
        quad = np.array(
            [[x_left, at * x_left + bt], [x_right, at * x_right + bt], [x_right, ab * x_right + bb],
             [x_left, ab * x_left + bb]]
        )
        quad[:, 0] = np.clip(quad[:, 0], 0, img_w)
        quad[:, 1] = np.clip(quad[:, 1], 0, img_h)
        rise, drop = _envelope(cx, b, (at, bt), (ab, bb), envelope)
        lines.append(TextLine(box=quad.astype(np.float32), score=score, n=len(g), rise=rise, drop=drop))
        boxes_xyxy.append([*quad.min(axis=0), *quad.max(axis=0)])
    if not lines:
        return []
    keep = nms(np.array(boxes_xyxy), np.array([t.score for t in lines]), LINE_NMS_IOU)
    return reading_order(drop_contained([lines[i] for i in keep], max_inside))


def _envelope(cx: np.ndarray, b: np.ndarray, top: tuple[float, float], bottom: tuple[float, float],
              share: float) -> tuple[float, float]:
    """How far (px, >= 0) the proposals ``b`` (centres ``cx``) reach above the fitted ``top`` edge
    and below the ``bottom`` one: their ``share`` and ``1 - share`` quantiles (see ENVELOPE_SHARE)."""
    if share <= 0 or len(cx) < ENVELOPE_MIN:
        return 0.0, 0.0
    (at, bt), (ab, bb) = top, bottom
    cap = ENVELOPE_CAP * float(np.median(b[:, 3] - b[:, 1]))
    rise = -float(np.quantile(b[:, 1] - (at * cx + bt), share))
    drop = float(np.quantile(b[:, 3] - (ab * cx + bb), 1 - share))
    return round(float(np.clip(rise, 0, cap)), 3), round(float(np.clip(drop, 0, cap)), 3)  # not float noise


def widen(lines: list[TextLine], image_shape: tuple[int, ...]) -> list[TextLine]:
    """``lines`` with their boxes moved out to the proposals' envelope (``rise`` px up, ``drop``
    down, within an image of ``image_shape``); a widened line keeps its fitted box as ``fit``.

    The detector widens last: its decisions between lines (NMS, fragments, which scale a line is
    taken from) are made on the fitted boxes."""
    img_h = image_shape[0]
    out = []
    for t in lines:
        if t.rise or t.drop:
            box = t.box.copy()
            box[:2, 1] = np.clip(box[:2, 1] - t.rise, 0, img_h)
            box[2:, 1] = np.clip(box[2:, 1] + t.drop, 0, img_h)
            t = TextLine(box=box, score=t.score, n=t.n, fit=t.box)
        out.append(t)
    return out


# Rules (rule_columns): the band around a chain is sampled from RULE_REACH line heights above its
# proposals to as far below. A column of it is a rule where it is ink of one polarity (RULE_CONTRAST
# darker than the band's median on paper, lighter on a dark panel) in RULE_SHARE of its pixels and
# of each reach beyond the line, and thin there: a horizontal closing (opening) RULE_WIDTH line
# heights wide removes it in RULE_THIN of each reach. A glyph's strokes stay inside the line,
# underlines and panels are wide, and the light gaps between dark glyphs are the wrong polarity.
RULE_REACH = 0.25
RULE_SHARE = 0.9
RULE_CONTRAST = 0.08
RULE_WIDTH = 0.3
RULE_THIN = 0.5


def page_grey(image: np.ndarray) -> np.ndarray:
    """A page as the detector ran on it (RGB or grey; float in [0, 1] or uint8) -> float32 grey in [0, 1]
    (a float32 grey page is returned as it is)."""
    img = np.asarray(image)
    if img.ndim == 2 and img.dtype == np.float32:
        return img
    grey = img.astype(np.float32) * (1.0 if np.issubdtype(img.dtype, np.floating) else 1.0 / 255.0)
    return cv2.cvtColor(grey, cv2.COLOR_RGB2GRAY) if grey.ndim == 3 else grey


def rule_columns(grey: np.ndarray, x0: float, x1: float, top: tuple[float, float], bottom: tuple[float, float],
                 reach: float = RULE_REACH) -> list[tuple[float, float]]:
    """The rules crossing a line, as ``(start, end)`` x intervals in ``grey``'s pixels (in order).

    ``grey``: the page, one channel in [0, 1]; the line runs from ``x0`` to ``x1`` between the
    edges ``y = a x + b`` given as ``top`` and ``bottom`` ``(a, b)``. The band sampled reaches
    ``reach`` line heights beyond both edges (the notes above :data:`RULE_REACH` say what counts)."""
    sampled = _band(grey, x0, x1, top, bottom, reach)
    if sampled is None:
        return []
    xs, h, band = sampled
    rows = band.shape[0]
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, int(round(RULE_WIDTH * h)) | 1), 1))
    bg = float(np.median(band))
    if bg >= 0.5:  # paper: dark rules (a light gap between dark glyphs is no rule)
        ink = bg - band >= RULE_CONTRAST
        thin = cv2.morphologyEx(band, cv2.MORPH_CLOSE, k) - band >= RULE_CONTRAST
    else:  # a dark panel: light rules
        ink = band - bg >= RULE_CONTRAST
        thin = band - cv2.morphologyEx(band, cv2.MORPH_OPEN, k) >= RULE_CONTRAST
    edge = max(1, int(round(rows * reach / (1 + 2 * reach))))
    on = ink.mean(axis=0) >= RULE_SHARE
    for part in (slice(None, edge), slice(-edge, None)):  # above the line and below it: thin there too
        on &= (ink[part].mean(axis=0) >= RULE_SHARE) & (thin[part].mean(axis=0) >= RULE_THIN)
    return [(float(xs[a]), float(xs[e - 1]) + 1.0) for a, e in _runs(on)]


def _band(grey: np.ndarray, x0: float, x1: float, top: tuple[float, float], bottom: tuple[float, float],
          reach: float) -> tuple[np.ndarray, float, np.ndarray] | None:
    """``(xs, h, band)``: the page's columns ``xs`` from ``x0`` to ``x1``, the line's median height
    ``h`` and the band between its edges (``(a, b)`` of ``y = a x + b``) reaching ``reach`` line
    heights beyond both, resampled to (at least 8) rows by columns; None when too small to judge."""
    x0, x1 = max(0.0, float(x0)), min(float(grey.shape[1] - 1), float(x1))
    xs = np.arange(np.floor(x0), np.ceil(x1) + 1, dtype=np.float32)
    if xs.size < 3:
        return None
    t = top[0] * xs + top[1]
    b = bottom[0] * xs + bottom[1]
    h = float(np.median(b - t))
    if h < 4:
        return None
    rows = max(8, int(round(h * (1 + 2 * reach))))
    frac = np.linspace(-reach, 1 + reach, rows, dtype=np.float32)[:, None]
    map_y = (t + frac * (b - t)).astype(np.float32)
    map_x = np.broadcast_to(xs, map_y.shape).astype(np.float32)
    return xs, h, cv2.remap(grey, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _runs(on: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` index pairs of the runs of True in ``on`` (end exclusive)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(np.int8), [0]])))
    return [(int(a), int(e)) for a, e in zip(edges[::2], edges[1::2])]


# Gaps (gap_columns): a stretch of the line's own band (its proposals' top to bottom) at least
# GAP_CUT line heights wide in which no pixel stands out from the band's median by GAP_SHARE of
# the band's ink contrast (its 98th percentile; at least GAP_FLOOR) splits a chain: the labels, and
# print, end a line at a gap of about an em (a price set apart from its leaders, the next cell of
# a table drawn without rules). Where the background is busy (texture, clutter, speckle at a third
# of the ink's contrast or more) nothing is empty, and nothing is cut.
GAP_CUT = 1.5
GAP_SHARE = 0.35
GAP_FLOOR = 0.06


def gap_columns(grey: np.ndarray, x0: float, x1: float, top: tuple[float, float], bottom: tuple[float, float],
                min_width: float = GAP_CUT) -> list[tuple[float, float]]:
    """The empty stretches inside a line at least ``min_width`` line heights wide, as ``(start,
    end)`` x intervals in ``grey``'s pixels, in order (arguments as for :func:`rule_columns`; the
    notes above :data:`GAP_CUT` say what counts). Stretches touching either end are margins, not
    gaps."""
    sampled = None if min_width <= 0 else _band(grey, x0, x1, top, bottom, 0.0)
    if sampled is None or sampled[0].size < min_width * sampled[1]:
        return []
    xs, h, band = sampled
    dev = np.abs(band - float(np.median(band)))
    empty = (dev < max(GAP_FLOOR, GAP_SHARE * float(np.percentile(dev, 98)))).all(axis=0)
    return [(float(xs[a]), float(xs[e - 1]) + 1.0) for a, e in _runs(empty)
            if a > 0 and e < len(xs) and e - a >= min_width * h]


def _cut_at_rules(g: np.ndarray, boxes: np.ndarray, grey: np.ndarray) -> list[tuple[np.ndarray, float, float]]:
    """Chain ``g`` (proposal indices) cut at the rules crossing it and at the wide gaps inside it
    (:func:`gap_columns`): ``(indices, lo, hi)`` per part, its proposals (by centre) between two
    cuts and the x limits those cuts set. Rules closer together than the chain's height are
    stripes, not a table's borders: they do not cut."""
    b = boxes[g]
    cx = (b[:, 0] + b[:, 2]) / 2
    if len(g) < 2:
        return [(g, -np.inf, np.inf)]
    top, bottom = _fit(cx, b[:, 1]), _fit(cx, b[:, 3])
    rules = rule_columns(grey, b[:, 0].min(), b[:, 2].max(), top, bottom)
    height = float(np.median(b[:, 3] - b[:, 1]))
    if any(r[0] - q[1] < height for q, r in zip(rules, rules[1:])):
        rules = []  # stripes (a barcode) rather than a table's borders
    rules = sorted(rules + gap_columns(grey, b[:, 0].min(), b[:, 2].max(), top, bottom, GAP_CUT))
    if not rules:
        return [(g, -np.inf, np.inf)]
    bounds = [-np.inf, *[v for r in rules for v in r], np.inf]
    parts = []
    for lo, hi in zip(bounds[::2], bounds[1::2]):
        inside = (cx > lo) & (cx < hi)
        if inside.any():
            parts.append((g[inside], lo, hi))
    return parts


# Ink boxes (snap_to_ink): a line of at most SNAP_MAX_PROPOSALS proposals takes the bounding box of
# the ink around it (pixels SNAP_CONTRAST or more from the median of a window reaching SNAP_REACH
# line heights beyond the box on every side), when that ink stands clear of the window's edges and
# its box is SNAP_HEIGHT times the line's height and SNAP_WIDTH times its width.
SNAP_MAX_PROPOSALS = 3
SNAP_REACH = 0.35
SNAP_CONTRAST = 0.2
SNAP_HEIGHT = (0.7, 1.5)
SNAP_WIDTH = (0.6, 1.4)


def snap_to_ink(lines: list[TextLine], image: np.ndarray,
                max_proposals: int = SNAP_MAX_PROPOSALS) -> list[TextLine]:
    """``lines`` with the short ones' boxes moved to their ink (the notes above
    :data:`SNAP_MAX_PROPOSALS`), in the same order; ``image`` as for :func:`build_lines`.

    A line of one to three proposals has its top and bottom from those few proposals' regressions,
    which miss a lone character's ink by a few pixels (it read right, but its box covered 0.7 of
    the character). Ink running on to the window's edge (a neighbour, a panel, a photo) or of
    another size leaves the box as it was."""
    grey = page_grey(image)
    img_h, img_w = grey.shape
    out = []
    for t in lines:
        (x0, y0), (x1, y1) = t.box.min(axis=0), t.box.max(axis=0)
        w, h = float(x1 - x0), float(y1 - y0)
        if t.n > max_proposals or h < 4 or w < 4:
            out.append(t)
            continue
        r = SNAP_REACH * h
        wx0, wx1 = int(max(0, np.floor(x0 - r))), int(min(img_w, np.ceil(x1 + r)))
        wy0, wy1 = int(max(0, np.floor(y0 - r))), int(min(img_h, np.ceil(y1 + r)))
        window = grey[wy0:wy1, wx0:wx1]
        ink = np.abs(window - np.median(window)) >= SNAP_CONTRAST
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        if not len(rows):
            out.append(t)
            continue
        clear = (rows[0] > 0 or wy0 == 0) and (rows[-1] < window.shape[0] - 1 or wy1 == img_h)
        iy0, iy1, ix0, ix1 = wy0 + rows[0], wy0 + rows[-1] + 1, wx0 + cols[0], wx0 + cols[-1] + 1
        if (clear and SNAP_HEIGHT[0] * h <= iy1 - iy0 <= SNAP_HEIGHT[1] * h
                and SNAP_WIDTH[0] * w <= ix1 - ix0 <= SNAP_WIDTH[1] * w):
            box = np.array([[ix0, iy0], [ix1, iy0], [ix1, iy1], [ix0, iy1]], np.float32)
            t = TextLine(box=box, score=t.score, n=t.n)
        out.append(t)
    return out


def drop_contained(lines: list[TextLine], max_inside: float = LINE_MAX_INSIDE) -> list[TextLine]:
    """Lines, longest first, without those lying more than ``max_inside`` of their area inside a
    line already kept (>= 1: keep all)."""
    kept: list[TextLine] = []
    for t in sorted(lines, key=lambda t: -float(np.ptp(t.box[:, 0]))):
        if share_inside(t, kept) <= max_inside:
            kept.append(t)
    return kept


def share_inside(line: TextLine, others: Sequence[TextLine]) -> float:
    """The largest share of ``line``'s area lying on one of ``others`` (0 with none; 1 for a line
    of no area that touches one)."""
    share = 0.0
    for k in others:
        inter, area, _ = quad_overlap(line.box, k.box)
        share = max(share, inter / area if area > 0 else 1.0)
    return share


# Reading order (reading_order): a gutter is an empty vertical strip at least GUTTER_MIN line
# heights wide; side-by-side groups are read as columns (one after the other) only when each is a
# column of text: two lines or more, the median line COLUMN_MIN_LINE line heights long or longer
# and filling COLUMN_MIN_FILL of the group's width (wrapped paragraphs run to the column's edge),
# and no group under COLUMN_MIN_RATIO of the widest. Short or ragged groups (table cells, receipt
# prices) are read row by row.
GUTTER_MIN = 0.8
COLUMN_MIN_LINE = 6.0
COLUMN_MIN_FILL = 0.6
COLUMN_MIN_RATIO = 0.5


def reading_order(lines: list[TextLine]) -> list[TextLine]:
    """Lines as a reader takes them: columns of text one after the other, everything else top to
    bottom and then left to right.

    A recursive XY cut over the lines' bounding boxes. A block is first cut into bands at empty
    horizontal strips, and consecutive bands that share a gutter (an empty vertical strip,
    :data:`GUTTER_MIN` line heights or wider, lying between the lines of the block's first band)
    are joined again: the rows of a two-column body, down to the last line of its longer column,
    make one block, and a heading above or a paragraph below stays out of it. A block that no
    band divides, split by gutters into columns of text, is read column by column; whatever no
    cut divides is read by :func:`row_order`. Tables and receipts, whose side-by-side groups are
    short or ragged (see :data:`COLUMN_MIN_LINE`), are read by rows.
    """
    if len(lines) < 2:
        return list(lines)
    boxes = np.array([[*t.box.min(axis=0), *t.box.max(axis=0)] for t in lines], np.float64)
    height = float(np.median(boxes[:, 3] - boxes[:, 1]))
    order = _xy_order(np.arange(len(lines)), boxes, max(height, 1.0))
    return [lines[i] for i in order]


def row_order(lines: list[TextLine]) -> list[TextLine]:
    """Top to bottom, then left to right: lines whose centre y falls within the vertical extent of
    a row's first line share that row (table cells, a line broken by a wide gap)."""
    order = _rows([float(t.box[:, 1].mean()) for t in lines], [float(t.box[:, 1].min()) for t in lines],
                  [float(t.box[:, 1].max()) for t in lines], [float(t.box[:, 0].min()) for t in lines])
    return [lines[i] for i in order]


def _rows(cy: Sequence[float], top: Sequence[float], bottom: Sequence[float], left: Sequence[float]) -> list[int]:
    """:func:`row_order` on centres, vertical extents and left ends: the indices in reading order."""
    rows: list[list[int]] = []
    for i in sorted(range(len(cy)), key=lambda i: cy[i]):
        if rows and top[rows[-1][0]] <= cy[i] <= bottom[rows[-1][0]]:
            rows[-1].append(i)
        else:
            rows.append([i])
    return [i for row in rows for i in sorted(row, key=lambda i: left[i])]


def _gaps(lo: np.ndarray, hi: np.ndarray, start: float, end: float) -> list[tuple[float, float]]:
    """The free intervals of ``[start, end]`` outside the intervals ``[lo_i, hi_i]``."""
    free, reach = [], start
    for a, b in sorted(zip(lo.tolist(), hi.tolist())):
        if a > reach:
            free.append((reach, a))
        reach = max(reach, b)
    if end > reach:
        free.append((reach, end))
    return free


def _cut(idx: np.ndarray, lo: np.ndarray, hi: np.ndarray, min_gap: float) -> list[np.ndarray]:
    """``idx`` split at every interior gap of at least ``min_gap`` between the intervals, in order."""
    order = idx[np.argsort(lo[idx], kind="stable")]
    groups, reach = [[order[0]]], hi[order[0]]
    for i in order[1:]:
        if lo[i] - reach >= min_gap:
            groups.append([])
        groups[-1].append(i)
        reach = max(reach, hi[i])
    return [np.array(g) for g in groups]


def _text_columns(groups: list[np.ndarray], boxes: np.ndarray, height: float) -> bool:
    widths = [float(boxes[g, 2].max() - boxes[g, 0].min()) for g in groups]
    if min(g.size for g in groups) < 2 or min(widths) < COLUMN_MIN_RATIO * max(widths):
        return False
    lengths = [float(np.median(boxes[g, 2] - boxes[g, 0])) for g in groups]
    return all(n >= COLUMN_MIN_LINE * height and n >= COLUMN_MIN_FILL * w for n, w in zip(lengths, widths))


def _xy_order(idx: np.ndarray, boxes: np.ndarray, height: float) -> list[int]:
    if idx.size < 2:
        return idx.tolist()
    x0, y0, x1, y1 = boxes.T
    gutter = GUTTER_MIN * height
    # Bands between empty horizontal strips; neighbours sharing a gutter are one block.
    left, right = float(x0[idx].min()), float(x1[idx].max())
    blocks: list[list[int]] = []
    shared: list[tuple[float, float]] = []
    for band in _cut(idx, y0, y1, 0.0):
        free = _gaps(x0[band], x1[band], left, right)
        common = [(max(a, c), min(b, d)) for a, b in shared for c, d in free]
        common = [(a, b) for a, b in common if b - a >= gutter]
        if blocks and common:
            blocks[-1].extend(band.tolist())
            shared = common
        else:  # a new block; only a gutter between its own lines can join it to the next band
            blocks.append(band.tolist())
            shared = [(a, b) for a, b in free if b - a >= gutter and left < a and b < right]
    if len(blocks) > 1:
        return [i for b in blocks for i in _xy_order(np.array(b), boxes, height)]
    columns = _cut(idx, x0, x1, gutter)
    if len(columns) > 1 and _text_columns(columns, boxes, height):
        return [i for g in columns for i in _xy_order(g, boxes, height)]
    order = _rows((y0[idx] + y1[idx]) / 2, y0[idx], y1[idx], x0[idx])
    return [int(idx[k]) for k in order]


def _hull(q: np.ndarray) -> np.ndarray:
    return cv2.convexHull(np.asarray(q, np.float32).reshape(-1, 2))


def quad_height(q: np.ndarray) -> float:
    """Mean length of a quad's left and right edges (``(4, 2)``: tl, tr, br, bl)."""
    tl, tr, br, bl = np.asarray(q, np.float64)
    return float((np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2)


def quad_overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """``(intersection, area of a, area of b)`` of two quads (each ``(4, 2)``; their convex hulls)."""
    ha, hb = _hull(a), _hull(b)
    inter, _ = cv2.intersectConvexConvex(ha, hb)
    return float(inter), float(cv2.contourArea(ha)), float(cv2.contourArea(hb))


def quad_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Polygon IoU of two quads (each ``(4, 2)``; their convex hulls are used)."""
    inter, area_a, area_b = quad_overlap(a, b)
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


#: How a predicted line may count as a true one (``match_pairs``'s ``rule``):
#: ``"iou"``: polygon IoU >= ``iou`` (0.5, the issue's and PASCAL's rule);
#: ``"cover"``: the one-to-one rule of DetEval (Wolf & Jolion 2006, used by ICDAR 2013): the
#: prediction covers >= 0.8 of the true line's area and the true line fills >= 0.4 of the
#: prediction's. Detectors differ in how much margin they leave around the ink (ours and the
#: synthetic labels are tight, PP-OCR's boxes about 1.5x the text height); on a short number
#: 13 px high that margin alone takes IoU under 0.5, so peers are compared by both rules.
MATCH_RULES = ("iou", "cover")
COVER_TRUE, COVER_PRED = 0.8, 0.4


def match_pairs(pred_quads: Sequence[np.ndarray], gt_quads: Sequence[np.ndarray], iou: float = 0.5,
                rule: str = "iou") -> list[tuple[int, int]]:
    """``(predicted, true)`` index pairs of a greedy one-to-one matching, highest IoU first, of the
    pairs that pass ``rule`` (see ``MATCH_RULES``)."""
    if rule not in MATCH_RULES:
        raise ValueError(f"rule must be one of {MATCH_RULES}, not {rule!r}")
    n_p, n_g = len(pred_quads), len(gt_quads)
    m = np.full((n_p, n_g), -1.0)
    for i, p in enumerate(pred_quads):
        for j, g in enumerate(gt_quads):
            inter, area_p, area_g = quad_overlap(p, g)
            union = area_p + area_g - inter
            score = inter / union if union > 0 else 0.0
            if rule == "iou":
                ok = score >= iou
            else:
                ok = area_g > 0 and area_p > 0 and inter >= COVER_TRUE * area_g and inter >= COVER_PRED * area_p
            if ok:
                m[i, j] = score
    used_p, used_g = np.zeros(n_p, bool), np.zeros(n_g, bool)
    pairs = []
    for flat in np.argsort(-m, axis=None, kind="stable"):
        i, j = divmod(int(flat), n_g)
        if m[i, j] < 0:
            break
        if not used_p[i] and not used_g[j]:
            used_p[i] = used_g[j] = True
            pairs.append((i, j))
    return pairs


def match_lines(pred_quads: Sequence[np.ndarray], gt_quads: Sequence[np.ndarray], iou: float = 0.5,
                rule: str = "iou") -> tuple[int, int, int]:
    """``(tp, fp, fn)`` of :func:`match_pairs`."""
    tp = len(match_pairs(pred_quads, gt_quads, iou, rule))
    return tp, len(pred_quads) - tp, len(gt_quads) - tp
