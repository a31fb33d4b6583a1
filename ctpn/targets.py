"""Training targets of CTPN: fine-scale ground-truth strips, anchor labels with balanced sampling,
vertical regression and side-refinement targets, and their packing into per-output arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ctpn.anchors import encode_vertical
from ctpn.config import CTPNConfig

# Anchors whose centre is this close (px) to a line's left or right end learn the side offset
# (paper sec. 3.3); it also bounds the offsets the text-line builder trusts (+-2 anchor widths).
SIDE_RANGE = 32.0


@dataclass
class Targets:
    """Per-anchor targets, in the order of :func:`ctpn.anchors.make_anchors`.

    ``labels``: 1 text, 0 background, -1 not sampled (ignored); ``vertical``: ``(v_c, v_h)``,
    meaningful where ``labels == 1``; ``side``: the side offset ``o``, meaningful where ``side_mask``.
    """

    labels: np.ndarray  # (A,) int8
    vertical: np.ndarray  # (A, 2) float32
    side: np.ndarray  # (A,) float32
    side_mask: np.ndarray  # (A,) bool


def _edge_y(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> np.ndarray:
    """y of the edges p-q (``(n, 2)`` each) at ``x`` ``(n,)``, held constant beyond their ends."""
    dx = q[:, 0] - p[:, 0]
    flat = np.abs(dx) < 1e-6
    t = np.clip((x - p[:, 0]) / np.where(flat, 1.0, dx), 0.0, 1.0)
    return np.where(flat, (p[:, 1] + q[:, 1]) / 2, p[:, 1] + t * (q[:, 1] - p[:, 1]))


def _strips(quads: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`line_strips` of ``(L, 4, 2)`` quads at once -> ``(strips (n, 4), line index (n,))``."""
    q = np.asarray(quads, np.float64).reshape(-1, 4, 2)
    left, right = q[:, :, 0].min(axis=1), q[:, :, 0].max(axis=1)
    first = np.floor(left / stride)
    count = np.maximum(np.ceil(right / stride) - first, 0).astype(np.int64)
    owner = np.repeat(np.arange(len(q)), count)
    cols = first[owner] + np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    xa = np.maximum(cols * stride, left[owner])
    xb = np.minimum((cols + 1) * stride, right[owner])
    keep = xb - xa >= stride / 4
    owner, cols, xa, xb = owner[keep], cols[keep], xa[keep], xb[keep]
    tl, tr, br, bl = (q[owner, i] for i in range(4))
    top = np.minimum(_edge_y(tl, tr, xa), _edge_y(tl, tr, xb))
    bottom = np.maximum(_edge_y(bl, br, xa), _edge_y(bl, br, xb))
    return np.stack([cols * stride, top, (cols + 1) * stride, bottom], axis=-1).astype(np.float32), owner


def line_strips(box: np.ndarray, stride: int = 16) -> np.ndarray:
    """Cut a text line into ``(n, 4)`` xyxy strips one stride cell wide, on the stride grid.

    ``box``: ``(4, 2)`` quad ``[tl, tr, br, bl]``. A strip spans its whole cell in x; its top and
    bottom are the quad's top and bottom edges over the part of the cell the line covers (the
    highest top, the lowest bottom). End strips covering under a quarter of a cell are dropped:
    an anchor there would be taught that mostly-background is text.
    """
    return _strips(np.asarray(box, np.float64).reshape(1, 4, 2), stride)[0]


def _columns(boxes: np.ndarray, stride: int) -> np.ndarray:
    """Grid column of each xyxy box from its centre x."""
    return np.rint(((boxes[:, 0] + boxes[:, 2]) / 2 - stride / 2) / stride).astype(np.int64)


def _sample(labels: np.ndarray, value: int, limit: int, rng: np.random.Generator) -> int:
    """Keep at most ``limit`` anchors labelled ``value`` (chosen at random), ignore the rest."""
    idx = np.flatnonzero(labels == value)
    if len(idx) > limit:
        labels[rng.choice(idx, len(idx) - limit, replace=False)] = -1
    return min(len(idx), limit)


def assign_targets(
    anchors: np.ndarray,
    lines: list[np.ndarray],
    cfg: CTPNConfig,
    *,
    rng: np.random.Generator,
    n_samples: int = 256,
    pos_fraction: float = 0.5,
    pos_iou: float = 0.7,
    neg_iou: float = 0.5,
) -> Targets:
    """Label anchors against the strips of the ground-truth ``lines`` (``(4, 2)`` quads).

    Anchors and strips share their column, so IoU is vertical only and computed within a column.
    Positive: IoU >= ``pos_iou`` with some strip, or the best anchor of a strip; negative: best
    IoU < ``neg_iou``; the rest are ignored. Then at most ``n_samples * pos_fraction`` positives
    and ``n_samples`` in all are kept (at random), the others become -1. Sampled positives get the
    vertical targets of their best strip, and side targets when within :data:`SIDE_RANGE` of an end.
    """
    anchors = np.asarray(anchors, np.float32)
    n = len(anchors)
    labels = np.zeros(n, np.int8)
    vertical = np.zeros((n, 2), np.float32)
    side = np.zeros(n, np.float32)
    side_mask = np.zeros(n, bool)

    quads = np.asarray(lines, np.float64).reshape(-1, 4, 2)
    strips, owner = _strips(quads, cfg.stride)

    acol = _columns(anchors, cfg.stride)
    n_cols = int(acol.max()) + 1 if n else 0
    scol = _columns(strips, cfg.stride)
    inside = (scol >= 0) & (scol < n_cols)  # a line may run past the feature map's last column
    strips, owner, scol = strips[inside], owner[inside], scol[inside]

    max_iou = np.zeros(n, np.float32)  # exact where >= neg_iou; below it only "negative" matters
    best = np.full(n, -1, np.int64)  # strip each anchor regresses to
    forced = np.zeros(n, bool)
    if len(strips):
        # The anchors form a (rows, columns, k) grid; a strip can only overlap anchors in its own
        # column whose rows lie within half the tallest anchor plus half the tallest strip.
        grid = np.argsort(acol, kind="stable").reshape(n_cols, -1, cfg.k)  # anchor ids (column, row, height)
        n_rows, s = grid.shape[1], cfg.stride
        reach = np.ceil((max(cfg.anchor_heights) + float((strips[:, 3] - strips[:, 1]).max())) / 2 / s + 0.5)
        row = np.rint(((strips[:, 1] + strips[:, 3]) / 2 - s / 2) / s).astype(np.int64)[:, None]
        row = row + np.arange(-int(reach), int(reach) + 1)
        valid = (row >= 0) & (row < n_rows)
        row = np.clip(row, 0, n_rows - 1)
        ay = anchors[grid[0]][row][..., [1, 3]]  # (S, rows, k, 2): every column has the same y extents
        sy0, sy1 = strips[:, None, None, 1], strips[:, None, None, 3]
        inter = np.maximum(np.minimum(ay[..., 1], sy1) - np.maximum(ay[..., 0], sy0), 0)
        inter *= valid[..., None]  # rows clipped to the map are not real candidates
        iou = (inter / ((ay[..., 1] - ay[..., 0]) + (sy1 - sy0) - inter)).reshape(len(strips), -1)

        def anchor_id(si: np.ndarray, flat: np.ndarray) -> np.ndarray:
            r, j = np.divmod(flat, cfg.k)
            return grid[scol[si], row[si, r], j]

        # Best strip per anchor among the pairs that matter: sort by (anchor, IoU), take each anchor's last.
        si, pj = np.nonzero(iou >= neg_iou)
        ai, v = anchor_id(si, pj), iou[si, pj]
        o = np.lexsort((v, ai))
        last = np.r_[ai[o][1:] != ai[o][:-1], True] if len(o) else np.zeros(0, bool)
        max_iou[ai[o][last]] = v[o][last]
        best[ai[o][last]] = si[o][last]
        # The best anchor of every strip is positive even below pos_iou (paper sec. 3.1).
        top = iou.argmax(axis=1)
        has = np.flatnonzero(iou[np.arange(len(strips)), top] > 0)
        fa = anchor_id(has, top[has])
        forced[fa] = True
        best[fa] = has

    pos = (max_iou >= pos_iou) | forced
    labels[~pos & (max_iou >= neg_iou)] = -1
    labels[pos] = 1
    n_pos = _sample(labels, 1, int(n_samples * pos_fraction), rng)
    _sample(labels, 0, n_samples - n_pos, rng)

    p = np.flatnonzero(labels == 1)
    if len(p):
        vertical[p] = encode_vertical(anchors[p], strips[best[p]])
        left, right = quads[:, :, 0].min(axis=1), quads[:, :, 0].max(axis=1)
        li = owner[best[p]]
        cx = (anchors[p, 0] + anchors[p, 2]) / 2
        dl, dr = np.abs(cx - left[li]), np.abs(cx - right[li])
        x_side = np.where(dl <= dr, left[li], right[li])
        side[p] = (x_side - cx) / cfg.anchor_width
        side_mask[p] = np.minimum(dl, dr) <= SIDE_RANGE
    side[~side_mask] = 0.0
    return Targets(labels=labels, vertical=vertical, side=side, side_mask=side_mask)


def targets_to_maps(targets: Targets, feat_h: int, feat_w: int, k: int) -> dict[str, np.ndarray]:
    """The arrays ``model.fit`` takes for one image, value and mask packed together.

    ``cls``: ``(H, W, k)`` float32 labels, -1 = ignore; ``reg``: ``(H, W, k, 3)`` = ``v_c, v_h``,
    mask (sampled positives); ``side``: ``(H, W, k, 2)`` = ``o``, mask.
    """
    shape = (feat_h, feat_w, k)
    pos = (targets.labels == 1).astype(np.float32)
    return {
        "cls": targets.labels.astype(np.float32).reshape(shape),
        "reg": np.concatenate([targets.vertical, pos[:, None]], axis=-1).reshape(*shape, 3),
        "side": np.stack([targets.side, targets.side_mask.astype(np.float32)], axis=-1).reshape(*shape, 2),
    }
