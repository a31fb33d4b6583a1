"""Datasets for character models, and the training pipeline with augmentation (tf.data, or
in-memory batches on the JAX / PyTorch backends).

Every loader returns a :class:`CharDataset` of images already passed through
``preprocess.normalize_char`` (uint8, ink = 255), so training sees exactly what serving
will feed the model. Normalised copies are cached as npz in ``<data_dir>/cache``.
``DATASETS`` is the registry of loaders by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from handwrite_digit_ocr.config import DIGITS
from handwrite_digit_ocr.preprocess import normalize_char
from ocr_common.datadir import cache_dir, resolve_data_dir
from ocr_common.npz_cache import load_npz, save_npz


@dataclass
class CharDataset:
    """Images (N, 28, 28) uint8 ink=255 and integer labels indexing ``labels``.

    ``x_test`` is only for ``evaluate``; training picks its validation split from the
    training data (``x_val``).
    """

    labels: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str = ""

    def summary(self) -> str:
        return f"{self.name}: train {len(self.x_train)}, val {len(self.x_val)}, test {len(self.x_test)}"


def normalize_array(images: np.ndarray, size: int = 28) -> np.ndarray:
    """Run every image through the serving preprocessing; returns uint8 (N, size, size)."""
    return np.stack([(normalize_char(im, size) * 255).round().astype(np.uint8) for im in images])


def _preprocess_version() -> str:
    """Short hash of the preprocessing source: a changed preprocess invalidates caches."""
    import hashlib

    from handwrite_digit_ocr import preprocess

    return hashlib.sha256(Path(preprocess.__file__).read_bytes()).hexdigest()[:10]


def _cached_normalize(images, cache: Path) -> np.ndarray:
    """``normalize_array(images)``, cached as npz under a name that includes the preprocessing
    version. ``images`` may be a zero-argument function returning them, called only when the
    cache misses (for images that are costly to make; ``cache`` must then name their count)."""
    cache = cache.with_name(f"{cache.stem}-{_preprocess_version()}{cache.suffix}")
    if cache.exists():
        arr = load_npz(cache)["x"]
        if callable(images) or len(arr) == len(images):
            return arr
    out = normalize_array(images() if callable(images) else images)
    save_npz(cache, x=out)
    return out


def read_mnist_npz(path: str | Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Read an ``mnist.npz`` in the Keras layout (x_train, y_train, x_test, y_test)."""
    with np.load(path, allow_pickle=False) as d:
        return (d["x_train"], d["y_train"]), (d["x_test"], d["y_test"])


def load_mnist_raw(data_dir: str | Path | None = None):
    """MNIST as Keras lays it out: ``<data_dir>/mnist.npz`` if present, else Keras' download."""
    local = resolve_data_dir(data_dir) / "mnist.npz"
    if local.exists():
        return read_mnist_npz(local)

    # Downloads once into ~/.keras/datasets and verifies its checksum.
    return keras.datasets.mnist.load_data()


def load_mnist(data_dir: str | Path | None = None, val_size: int = 5000, normalize: bool = True) -> CharDataset:
    """MNIST; the validation split is the last ``val_size`` training images (at most a tenth)."""
    (x_tr, y_tr), (x_te, y_te) = load_mnist_raw(data_dir)
    val_size = min(val_size, len(x_tr) // 10)
    if normalize:
        x_tr = _cached_normalize(x_tr, cache_dir() / "mnist_train_norm.npz")
        x_te = _cached_normalize(x_te, cache_dir() / "mnist_test_norm.npz")
    y_tr, y_te = y_tr.astype(np.int32), y_te.astype(np.int32)
    return CharDataset(DIGITS, x_tr[:-val_size], y_tr[:-val_size], x_tr[-val_size:], y_tr[-val_size:], x_te, y_te,
                       name="mnist")


def _lazy(module: str, func: str) -> Callable[..., CharDataset]:
    """``handwrite_digit_ocr.<module>.<func>``, imported on first use: those modules import this
    one (a top-level import would be circular) and most runs never need them."""

    def load(data_dir: str | Path | None = None) -> CharDataset:
        return getattr(importlib.import_module(f"handwrite_digit_ocr.{module}"), func)(data_dir)

    load.__name__ = load.__qualname__ = func
    return load


DATASETS: dict[str, Callable[..., CharDataset]] = {
    "mnist": load_mnist,
    "emnist-letters": _lazy("letters", "load_emnist_letters"),
    "letters-dir": _lazy("letters", "load_letters_dir"),
    "synthetic-letters": _lazy("letters", "load_synthetic_letters"),
    "mnist-photo": _lazy("photo_sim", "load_mnist_photo"),
    "mnist-photo-train": _lazy("photo_sim", "load_mnist_photo_train"),
}


def _load_one(name: str, data_dir: str | Path | None) -> tuple[CharDataset, int]:
    """``name`` or ``name*k`` -> (dataset, k); ``k`` repeats its training split (oversampling)."""
    base, _, times = name.strip().partition("*")
    try:
        loader = DATASETS[base.strip()]
    except KeyError:
        raise KeyError(f"unknown dataset {base.strip()!r}; choose one of {sorted(DATASETS)}") from None
    if times and not (times.strip().isdigit() and int(times) >= 1):
        raise ValueError(f"bad repeat count in {name!r}: use name*k with an integer k >= 1")
    return loader(data_dir), int(times or 1)


def default_dataset(task: str) -> str:
    """The dataset a model of ``task`` is evaluated and selected on unless told otherwise."""
    return "mnist" if task == "digit" else "letters-dir"


def check_labels(data: CharDataset, labels, dataset: str) -> None:
    """Refuse to score a model on a dataset with other labels: the figures would mean nothing."""
    if tuple(data.labels) != tuple(labels):
        raise SystemExit(f"error: dataset {dataset} has labels {data.labels}, the model {tuple(labels)}")


def to_model_input(images: np.ndarray) -> np.ndarray:
    """Normalised uint8 images (N, H, W), ink = 255 -> the model's (N, H, W, 1) float32 in [0, 1]
    (what ``make_dataset`` feeds in training)."""
    return (images.astype(np.float32) / 255.0)[..., None]


def load_dataset(name: str, data_dir: str | Path | None = None) -> CharDataset:
    """Load a registered dataset, or several joined with ``+`` (``letters-dir*3+synthetic-letters``).

    A combination trains on every part's training split (``*k`` repeats one k times, to keep
    a small real set from being drowned by a large synthetic one) but validates and tests on
    the FIRST part only: put the real data first, so that model selection and the reported
    score measure real handwriting, never the synthetic or the other sets' held-out images.
    """
    parts = [_load_one(p, data_dir) for p in name.split("+")]
    first, first_times = parts[0]
    if len(parts) == 1 and first_times == 1:
        return first
    for ds, _ in parts[1:]:
        if tuple(ds.labels) != tuple(first.labels):
            raise ValueError(f"cannot combine {first.name} and {ds.name}: their labels differ")
    x_train = np.concatenate([np.concatenate([ds.x_train] * k) for ds, k in parts])
    y_train = np.concatenate([np.concatenate([ds.y_train] * k) for ds, k in parts])
    # Interleave the parts once: make_dataset's shuffle buffer is smaller than a large
    # combination, and parts laid end to end would give whole epochs-worth of one source.
    order = np.random.default_rng(0).permutation(len(x_train))
    return CharDataset(first.labels, x_train[order], y_train[order], first.x_val, first.y_val, first.x_test,
                       first.y_test, name=name)


# --------------------------------------------------------------------------- augmentation


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation that covers what real photos differ in (issue: placement, stroke,
    blur, contrast). Geometry follows the Kaggle recipe: rotation 10 deg, zoom 0.1, shift 0.1."""

    rotation_deg: float = 10.0
    zoom: float = 0.1
    shift: float = 0.1
    stroke_p: float = 0.3  # chance of thicker or thinner strokes (3x3 dilation / erosion)
    blur_p: float = 0.2  # chance of a Gaussian blur blended in
    gamma: tuple[float, float] = (0.7, 1.4)  # ink-intensity curve: faint pens, photo contrast
    noise_std: float = 0.03
    # Elastic distortion (Simard et al., ICDAR 2003): a random displacement field smoothed by a
    # Gaussian of ``elastic_sigma`` px, scaled by alpha ~ U(0, elastic_alpha). 0 = off.
    elastic_alpha: float = 0.0
    elastic_sigma: float = 4.0

    @classmethod
    def preset(cls, name: str) -> AugmentConfig | None:
        """``full`` (the default above), ``elastic`` (full plus elastic distortion, the
        wobble of real handwriting), ``geometry`` (the Kaggle recipe's rotation, zoom and
        shift only) or ``none``."""
        if name == "none":
            return None
        if name == "geometry":
            return cls(stroke_p=0.0, blur_p=0.0, gamma=(1.0, 1.0), noise_std=0.0)
        if name == "full":
            return cls()
        if name == "elastic":
            return cls(elastic_alpha=34.0)
        raise ValueError(f"unknown augmentation preset {name!r}; choose one of {list(AUGMENT_PRESETS)}")


AUGMENT_PRESETS = ("full", "elastic", "geometry", "none")


def elastic_warp(x, alpha_max: float, sigma: float, seed=None):
    """Elastic distortion of a (B, H, W, 1) float batch (Keras ops, any backend; bilinear,
    zeros outside). ``seed``: an int or ``keras.random.SeedGenerator`` (None: Keras' global one).

    Each image gets its own field: uniform noise in [-1, 1] per pixel and axis, smoothed by a
    separable Gaussian (``sigma`` px), times alpha ~ U(0, ``alpha_max``). With sigma 4 and
    alpha 34 on 28x28 (Simard et al.'s setting) pixels move about 1.4 px, smoothly.
    """
    from keras import ops

    radius = int(np.ceil(3 * sigma))
    g = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    g = (g / g.sum()).astype(np.float32)
    kx = ops.convert_to_tensor(np.tile(g[None, :, None, None], (1, 1, 2, 1)))  # (1, k, 2, 1): along x, both axes
    ky = ops.convert_to_tensor(np.tile(g[:, None, None, None], (1, 1, 2, 1)))
    b, h, w = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2]
    field = keras.random.uniform((b, h, w, 2), -1.0, 1.0, seed=seed)
    field = ops.depthwise_conv(ops.depthwise_conv(field, kx, 1, "same"), ky, 1, "same")
    field = field * keras.random.uniform((b, 1, 1, 1), 0.0, alpha_max, seed=seed)
    yy, xx = ops.meshgrid(ops.arange(h, dtype="float32"), ops.arange(w, dtype="float32"), indexing="ij")
    sy, sx = yy[None] + field[..., 0], xx[None] + field[..., 1]
    y0, x0 = ops.floor(sy), ops.floor(sx)
    wy, wx = sy - y0, sx - x0
    flat = ops.reshape(x, (-1,))
    base = ops.arange(b)[:, None, None] * (h * w)
    hf, wf = ops.cast(h, "float32"), ops.cast(w, "float32")

    def tap(yi, xi):
        inside = (yi >= 0) & (yi <= hf - 1) & (xi >= 0) & (xi <= wf - 1)
        yc = ops.cast(ops.clip(yi, 0, hf - 1), "int32")
        xc = ops.cast(ops.clip(xi, 0, wf - 1), "int32")
        return ops.where(inside, ops.take(flat, base + yc * w + xc), 0.0)

    out = ((1 - wy) * (1 - wx) * tap(y0, x0) + (1 - wy) * wx * tap(y0, x0 + 1)
           + wy * (1 - wx) * tap(y0 + 1, x0) + wy * wx * tap(y0 + 1, x0 + 1))
    return out[..., None]


def make_augmenter(aug: AugmentConfig, seed: int = 0):
    """Return ``f(images) -> images`` on a (B, H, W, 1) float32 batch in [0, 1].

    Written in Keras ops, so the same code runs inside the TensorFlow ``tf.data`` pipeline and,
    on the JAX or PyTorch backends, on the accelerator (see :class:`ArrayBatches`)."""
    from keras import ops

    geometry = keras.Sequential(
        [
            keras.layers.RandomRotation(aug.rotation_deg / 360.0, fill_mode="constant", seed=seed),
            keras.layers.RandomZoom(aug.zoom, fill_mode="constant", seed=seed + 1),
            keras.layers.RandomTranslation(aug.shift, aug.shift, fill_mode="constant", seed=seed + 2),
        ]
    )
    rng = keras.random.SeedGenerator(seed + 3)
    g = np.exp(-0.5 * (np.arange(-1, 2) ** 2) / 0.8**2)
    blur_kernel = (np.outer(g, g) / np.outer(g, g).sum())[:, :, None, None].astype(np.float32)

    def per_image(batch, lo=0.0, hi=1.0):
        return keras.random.uniform((batch, 1, 1, 1), lo, hi, seed=rng)

    def augment(x):
        if aug.elastic_alpha > 0:
            x = elastic_warp(x, aug.elastic_alpha, aug.elastic_sigma, seed=rng)
        x = geometry(x, training=True)
        b = ops.shape(x)[0]
        dil = ops.max_pool(x, 3, 1, "same")
        ero = -ops.max_pool(-x, 3, 1, "same")
        r = per_image(b)
        x = ops.where(r < aug.stroke_p / 2, dil, ops.where(r < aug.stroke_p, ero, x))
        x = ops.where(per_image(b) < aug.blur_p, ops.conv(x, blur_kernel, 1, "same"), x)
        x = ops.power(ops.clip(x, 1e-6, 1.0), per_image(b, *aug.gamma))
        x = x + keras.random.normal(ops.shape(x), stddev=aug.noise_std, seed=rng) * ops.cast(x > 0.05, "float32")
        x = ops.clip(x, 0.0, 1.0)
        # Serving rescales every image so its strongest ink is 1; do the same here.
        return x / ops.maximum(ops.max(x, axis=(1, 2, 3), keepdims=True), 1e-3)

    return augment


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, training: bool, aug: AugmentConfig | None = None,
                 seed: int = 0):
    """uint8 images + int labels -> batches of float32 [0, 1] for ``model.fit``.

    On the TensorFlow backend a shuffled, prefetched ``tf.data.Dataset`` (augmentation runs on
    the CPU beside training); on the JAX and PyTorch backends, which have no ``tf.data`` (a GPU
    machine may have no TensorFlow at all), an :class:`ArrayBatches` that augments on the
    accelerator. Both apply the same :func:`make_augmenter`."""
    if keras.backend.backend() != "tensorflow":
        return ArrayBatches(x, y, batch_size, training, aug, seed)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        ds = ds.shuffle(min(len(x), 20000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=False)
    ds = ds.map(lambda a, b: (tf.cast(a, tf.float32)[..., None] / 255.0, b), num_parallel_calls=tf.data.AUTOTUNE)
    if training and aug is not None:
        augment = make_augmenter(aug, seed)
        ds = ds.map(lambda a, b: (augment(a), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


class ArrayBatches(keras.utils.PyDataset):
    """In-memory batches for ``model.fit`` on any Keras backend: a fresh shuffle every epoch
    (training), the last batch short like ``tf.data``'s, and ``aug`` applied by Keras ops on
    the backend's device.

    Augmentation runs on ``chunk_batches`` batches at once: called eagerly, each of its few
    dozen ops costs a fixed dispatch overhead, which per 128-image batch dominated GPU training
    (see docs/training.md, "Other Keras backends"); a chunk of 64 batches pays it once. Batches
    must be read in order within a chunk for that to pay off, as ``fit`` does with the default
    single worker.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, training: bool,
                 aug: AugmentConfig | None = None, seed: int = 0, chunk_batches: int = 64):
        super().__init__()
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"need as many labels as images and at least one image; got {len(x)} and {len(y)}")
        self.x, self.y, self.batch_size, self.training = x, np.asarray(y), int(batch_size), training
        self.augment = make_augmenter(aug, seed) if training and aug is not None else None
        self.chunk_batches = max(1, int(chunk_batches))
        self._rng = np.random.default_rng(seed)
        self.order = self._rng.permutation(len(x)) if training else np.arange(len(x))
        self._chunk: tuple[int, np.ndarray | None] = (-1, None)

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i: int):
        bs = self.batch_size
        idx = self.order[i * bs:(i + 1) * bs]
        if self.augment is None:
            return to_model_input(self.x[idx]), self.y[idx]
        c, first = divmod(i, self.chunk_batches)
        if self._chunk[0] != c:
            span = self.order[c * self.chunk_batches * bs:(c + 1) * self.chunk_batches * bs]
            self._chunk = (c, keras.ops.convert_to_numpy(self.augment(to_model_input(self.x[span]))))
        return self._chunk[1][first * bs:(first + 1) * bs], self.y[idx]

    def on_epoch_end(self) -> None:
        if self.training:
            self.order = self._rng.permutation(len(self.x))
            self._chunk = (-1, None)
