"""The one page preprocessing CTPN's training and serving share: any image -> RGB float32 in [0, 1]
at the size the detector reads it."""

from __future__ import annotations

import cv2
import numpy as np

from ctpn.config import CTPNConfig


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Grey ``(H, W)`` / ``(H, W, 1)``, RGB or RGBA (composited on white) -> ``(H, W, 3)``, dtype kept."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected a grey, RGB or RGBA image, got shape {image.shape}")
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    if image.shape[2] == 4:
        top = 1.0 if np.issubdtype(image.dtype, np.floating) else 255.0
        alpha = image[..., 3:].astype(np.float32) / top
        rgb = image[..., :3].astype(np.float32) * alpha + top * (1.0 - alpha)
        return rgb.astype(image.dtype)
    return image


def page_scale(height: int, width: int, cfg: CTPNConfig) -> float:
    """The factor a ``height x width`` page is resized by: down until the long side fits ``max_side``,
    never up, except that a short side under ``min_side`` is brought up to it (unless the long side
    would then pass ``max_side``: the limit on work wins, and the runtime pads what is left)."""
    long, short = max(height, width), max(min(height, width), 1)
    scale = min(1.0, cfg.max_side / long)
    if short * scale < cfg.min_side:
        scale = max(scale, min(cfg.min_side / short, cfg.max_side / long))
    return scale


def prepare_page(image: np.ndarray, cfg: CTPNConfig) -> tuple[np.ndarray, float]:
    """``image`` (uint8, or float in [0, 1]; grey, RGB or RGBA) -> ``(float32 (h, w, 3) in [0, 1], scale)``.

    ``scale`` = new size / original size (see :func:`page_scale`); a box ``b`` found on the result is
    ``b / scale`` in the original (to within the half pixel the rounding of the new size costs; use the
    shapes' per-axis ratios for an exact mapping)."""
    rgb = to_rgb(image)
    x = rgb.astype(np.float32) if np.issubdtype(rgb.dtype, np.floating) else rgb.astype(np.float32) / 255.0
    h, w = x.shape[:2]
    scale = page_scale(h, w, cfg)
    if scale != 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        # Area averaging when shrinking keeps thin strokes visible; linear when enlarging.
        x = cv2.resize(x, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return np.clip(x, 0.0, 1.0), scale
