"""MNIST test digits re-photographed, in simulation: a stress test for the serving path.

The shipped digit model will meet photos of digits written on paper, which the project has
no labelled set of. This module turns each MNIST *test* digit into such a photo — dark ink
on tinted paper, a larger canvas with the digit anywhere, uneven light, sensor noise, blur,
JPEG artefacts — and runs it back through ``preprocess.normalize_char``. Evaluating on it
(``--dataset mnist-photo``) measures how much accuracy the preprocessing loses on photos.
``mnist-photo`` is a test set only: nothing trained here ever sees a test digit. Its twin
``mnist-photo-train`` renders the same simulation from the MNIST *training* digits (never the
validation split), for training and distillation on photo-like input.
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


def _render_chunk(job: tuple[np.ndarray, int, int]) -> np.ndarray:
    """Worker: photo-like renders of ``digits`` passed through the serving preprocessing."""
    from handwrite_digit_ocr.data import normalize_array

    digits, seed, chunk = job
    rng = np.random.default_rng([seed, chunk])
    return normalize_array([photo_like(d, rng) for d in digits])


def render_photos(digits: np.ndarray, seed: int, chunk: int = 500, workers: int | None = None) -> np.ndarray:
    """Normalised photo-like copies of ``digits`` (uint8, ink = 255), rendered in worker processes
    with a progress bar. The result depends on ``seed`` and ``chunk`` only, not on ``workers``."""
    import multiprocessing as mp

    import keras

    from ocr_common.cpu import usable_cores

    jobs = [(digits[i : i + chunk], seed, i // chunk) for i in range(0, len(digits), chunk)]
    workers = workers or max(1, int(usable_cores()))
    bar = keras.utils.Progbar(len(digits), unit_name="image")
    out = []
    # spawn: a forked TensorFlow process can deadlock; the workers need only NumPy and OpenCV.
    with mp.get_context("spawn").Pool(workers) as pool:
        for part in pool.imap(_render_chunk, jobs):
            out.append(part)
            bar.add(len(part))
    return np.concatenate(out) if out else np.zeros((0, 28, 28), np.uint8)


def load_mnist_photo_train(data_dir: str | Path | None = None, seed: int = 7, val_size: int = 5000):
    """CharDataset whose training split is every MNIST training digit outside the validation
    split as a simulated photo; validation and test are plain MNIST's (see ``load_mnist``)."""
    from handwrite_digit_ocr.data import CharDataset, _preprocess_version, load_mnist, load_mnist_raw
    from ocr_common.datadir import cache_dir
    from ocr_common.npz_cache import load_npz, save_npz

    (x_tr, _), _ = load_mnist_raw(data_dir)
    plain = load_mnist(data_dir, val_size=val_size)
    n = len(plain.x_train)  # the training digits, validation split excluded
    src = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]
    cache = cache_dir() / f"mnist_photo_train_{seed}_{n}_{src}-{_preprocess_version()}.npz"
    if cache.exists():
        x = load_npz(cache)["x"]
    else:
        x = render_photos(x_tr[:n], seed)
        save_npz(cache, x=x)
    return CharDataset(DIGITS, x, plain.y_train, plain.x_val, plain.y_val, plain.x_test, plain.y_test,
                       name="mnist-photo-train")
