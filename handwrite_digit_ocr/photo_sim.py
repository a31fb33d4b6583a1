"""MNIST test digits re-photographed, in simulation: a stress test for the serving path.

The shipped digit model will meet photos of digits written on paper, which the project has
no labelled set of. This module turns each MNIST *test* digit into such a photo — dark ink
on tinted paper, a larger canvas with the digit anywhere, uneven light, sensor noise, blur,
JPEG artefacts — and runs it back through ``preprocess.normalize_char``. Evaluating on it
(``--dataset mnist-photo``) measures how much accuracy the preprocessing loses on photos.
It is a test set only: nothing here is ever trained on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from handwrite_digit_ocr.config import DIGITS


def photo_like(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """28x28 uint8 digit (ink = 255) -> RGB uint8 'photo' of it written on paper."""
    side = int(rng.integers(60, 241))
    ink = cv2.resize(digit, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0
    h, w = int(side * rng.uniform(1.2, 2.2)), int(side * rng.uniform(1.2, 2.2))
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    canvas = np.zeros((h, w), np.float32)
    canvas[y0 : y0 + side, x0 : x0 + side] = np.clip(ink, 0, 1)
    paper = rng.uniform(170, 245)
    pen = rng.uniform(15, 90)
    # Uneven light: a linear gradient in a random direction, up to 70 grey levels.
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h) * rng.uniform(0, 70)
    gray = paper - ramp - canvas * (paper - pen)
    rgb = np.stack([gray * t for t in rng.uniform(0.9, 1.05, 3)], axis=-1)
    sigma = rng.uniform(0, 1.2) * side / 100
    if sigma > 0.3:
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigma)
    rgb = rgb + rng.normal(0, rng.uniform(2, 8), rgb.shape)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    ok, jpg = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 91))])
    return cv2.imdecode(jpg, cv2.IMREAD_COLOR)[..., ::-1]


def load_mnist_photo(data_dir: str | Path | None = None, seed: int = 2024):
    """CharDataset whose test split is every MNIST test digit as a simulated photo."""
    from handwrite_digit_ocr.data import CharDataset, _cached_normalize, load_mnist_raw
    from ocr_common.datadir import cache_dir

    _, (x_te, y_te) = load_mnist_raw(data_dir)

    def photos() -> list[np.ndarray]:  # rendered only when the cache below misses
        rng = np.random.default_rng(seed)
        return [photo_like(d, rng) for d in x_te]

    # Keyed by this module's source too: a change to the simulation must not reuse old photos.
    src = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]
    x = _cached_normalize(photos, cache_dir() / f"mnist_photo_{seed}_{len(x_te)}_{src}.npz")
    empty = np.zeros((0, 28, 28), np.uint8)
    none = np.zeros(0, np.int32)
    return CharDataset(DIGITS, empty, none, empty, none, x, y_te.astype(np.int32), name="mnist-photo")
