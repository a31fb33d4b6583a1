"""Fixed-width vertical anchors of CTPN, one set of ``k`` heights per feature-map cell."""

from __future__ import annotations

import numpy as np

from ctpn.config import CTPNConfig


def make_anchors(feat_h: int, feat_w: int, cfg: CTPNConfig) -> np.ndarray:
    """``(feat_h * feat_w * k, 4)`` float32 anchors ``x0, y0, x1, y1`` in input pixels.

    Row-major over ``(y, x, anchor)``: the same order as a model output of shape ``(H, W, k)``
    reshaped to ``(-1,)``. Each anchor is ``anchor_width`` wide and centred on its cell's centre.
    """
    s = cfg.stride
    cy = (np.arange(feat_h, dtype=np.float32) * s + s / 2)[:, None, None]
    cx = (np.arange(feat_w, dtype=np.float32) * s + s / 2)[None, :, None]
    half_h = (np.asarray(cfg.anchor_heights, np.float32) / 2)[None, None, :]
    shape = (feat_h, feat_w, cfg.k)
    half_w = cfg.anchor_width / 2
    out = np.stack(
        [
            np.broadcast_to(cx - half_w, shape),
            np.broadcast_to(cy - half_h, shape),
            np.broadcast_to(cx + half_w, shape),
            np.broadcast_to(cy + half_h, shape),
        ],
        axis=-1,
    )
    return out.reshape(-1, 4).astype(np.float32)


def encode_vertical(anchors: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``(N, 2)`` vertical regression targets ``v_c, v_h`` of ``boxes`` relative to ``anchors``
    (both ``(N, 4)`` xyxy): ``v_c = (c - c_a) / h_a``, ``v_h = log(h / h_a)`` (paper eq. 2)."""
    anchors = np.asarray(anchors, np.float32)
    boxes = np.asarray(boxes, np.float32)
    ha = anchors[:, 3] - anchors[:, 1]
    ca = (anchors[:, 1] + anchors[:, 3]) / 2
    h = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)  # a zero-height box would give log(0)
    c = (boxes[:, 1] + boxes[:, 3]) / 2
    return np.stack([(c - ca) / ha, np.log(h / ha)], axis=-1).astype(np.float32)


def decode_vertical(anchors: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_vertical`: ``(N, 4)`` xyxy boxes with the anchors' x extent."""
    anchors = np.asarray(anchors, np.float32)
    deltas = np.asarray(deltas, np.float32).reshape(-1, 2)
    ha = anchors[:, 3] - anchors[:, 1]
    c = (anchors[:, 1] + anchors[:, 3]) / 2 + deltas[:, 0] * ha
    # An untrained or confused net can answer any v_h; exp(5) = 148x the anchor is already absurd.
    h = ha * np.exp(np.clip(deltas[:, 1], -5.0, 5.0))
    return np.stack([anchors[:, 0], c - h / 2, anchors[:, 2], c + h / 2], axis=-1).astype(np.float32)
