"""Non-maximum suppression of axis-aligned boxes (OpenCV's, so there is one implementation to trust)."""

from __future__ import annotations

import cv2
import numpy as np


def nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, score_threshold: float = 0.0, top_k: int = 0
) -> np.ndarray:
    """Indices of the kept ``(N, 4)`` xyxy boxes, highest score first.

    Boxes scoring at or below ``score_threshold`` (>= 0, OpenCV asserts it) are dropped, OpenCV
    keeping ``score > threshold``; ``top_k`` > 0 keeps at most that many."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), float(score_threshold), float(iou_threshold),
                            top_k=int(top_k))
    return np.asarray(keep, np.int64).reshape(-1)
