"""Tiny datasets the tests make themselves (no downloads, no shared data needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
          cv2.FONT_HERSHEY_PLAIN)


def draw_digit(d: int, size: int = 28, rng: np.random.Generator | None = None, canvas: tuple[int, int] | None = None,
               dark_on_light: bool = False, scale: float | None = None) -> np.ndarray:
    """A digit drawn with OpenCV's Hershey fonts: white on black 28x28 by default (MNIST-like),
    or on a larger canvas in either polarity (photo-like)."""
    rng = rng or np.random.default_rng(0)
    h, w = canvas or (size, size)
    img = np.zeros((h, w), np.uint8)
    font = _FONTS[int(rng.integers(len(_FONTS)))]
    s = scale if scale is not None else min(h, w) / 30 * rng.uniform(0.8, 1.0)
    thick = max(1, int(round(s * rng.uniform(1.5, 2.5))))
    (tw, th), _ = cv2.getTextSize(str(d), font, s, thick)
    x = int(rng.integers(0, max(1, w - tw)))
    y = int(rng.integers(th, max(th + 1, h)))
    cv2.putText(img, str(d), (x, y), font, s, 255, thick, cv2.LINE_AA)
    return 255 - img if dark_on_light else img


def toy_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n).astype(np.uint8)
    return np.stack([draw_digit(int(d), rng=rng, scale=rng.uniform(0.7, 0.95)) for d in y]), y


def write_toy_mnist(path: Path, n_train: int = 1200, n_test: int = 300) -> Path:
    """An ``mnist.npz`` in the Keras layout, filled with Hershey-font digits."""
    x_tr, y_tr = toy_digits(n_train, 1)
    x_te, y_te = toy_digits(n_test, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    return path
