"""The inference runtime every task's predictor runs on: the one place that knows about ONNX
Runtime, ``tf.function`` and batching.

    rt = ModelRuntime("models/digit.keras")                    # fixed-size input
    probs, = rt.run(batch)                                     # (N, 28, 28, 1) -> [(N, 10)]

    rt = ModelRuntime("models/word.keras", stride=4, buckets={2: (128, 256, 512)}, pad_value=0.0)
    for item in rt.run_images(word_images):                    # each (32, w_i, 1), any w_i
        logits, = item.outputs                                 # (ceil(w_i / 4), classes): padding cut off

A model is loaded once, in safe mode, and run by one of two backends:

* ``onnx``: exported once to ONNX (cached by the weights' sha256, or a ``.onnx`` beside the
  weights that is at least as new), **parity-checked** against Keras on a random batch, and run
  by ONNX Runtime, which takes any batch size and any size along the model's free axes. When
  ONNX Runtime or the exporter is missing, or the export fails or differs from Keras, the
  runtime logs why and falls back to ``tf`` (``runtime.backend`` says which one runs).
* ``tf``: ``tf.function`` concrete functions traced at start-up, one per batch bucket (a batch
  is padded up to the nearest bucket, so a request never retraces and one image does not pay
  for 32); free spatial axes stay free (``None``) in the traced signature.

Inputs whose height and/or width the model leaves free (``None``: word and text-line images,
whole pages for HED and CTPN) go through :meth:`ModelRuntime.run_images`: every image is padded
with ``pad_value`` (the background) on the bottom/right up to a bucket size or a multiple of the
network ``stride``, images of one padded shape run together, and each output axis that follows a
free input axis is cut back to the image's own extent (``ceil(size * out_len / padded_len)``),
so a CTC decoder sees only the time steps of the real width.

Models with several outputs (HED side outputs, CTPN score / regression heads) return a list in
Keras' output order from both backends. ``batching=True`` merges concurrent callers into one
model call (:class:`~ocr_common.batching.MicroBatcher`); with ``max_wait_ms=0`` (the default) it
is greedy: it runs whatever queued while the model was busy and never waits for company.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ocr_common.cpu import usable_cores

log = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("tf", "onnx")
# What backend=None means. On a 2-core Xeon (benchmarks/bench_batching.py, benchmarks/README.md "backends and
# micro-batching") ONNX Runtime answered one image 2.5x (kaggle_cnn) to 7x (simple_cnn) faster
# than the compiled tf.function and served 1.2-1.7x more HTTP requests/s at 1, 8 and 32 clients.
# Without onnxruntime installed this falls back to tf.
DEFAULT_BACKEND = "onnx"
# Whether servers micro-batch concurrent requests unless told otherwise (greedy: no waiting).
# See benchmarks/README.md "Greedy micro-batching" for the measurement behind it.
DEFAULT_BATCHING = True
# Largest tolerated difference between ONNX Runtime's and Keras' outputs.
ONNX_ATOL = 1e-4


def onnx_file_for(model, model_path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The ONNX file to run for ``model`` (loaded from ``model_path``), exporting it if needed.

    A ``.onnx`` beside the weights is used when it is at least as new as them (an export someone
    shipped or made with ``python -m ocr_common.export``); otherwise ``<cache>/onnx/<stem>-<sha>.onnx``,
    keyed by the weights' sha256 so new weights never run with a stale export, is written once and
    reused by later start-ups. ``cache_dir`` defaults to ``$OCR_CACHE_DIR`` or ``./data/cache``.
    """
    from ocr_common.datadir import cache_dir as default_cache_dir
    from ocr_common.export import export_onnx
    from ocr_common.io import sha256_file

    model_path = Path(model_path)
    beside = model_path.with_suffix(".onnx")
    if beside.is_file() and beside.stat().st_mtime >= model_path.stat().st_mtime:
        return beside
    cached = Path(cache_dir or default_cache_dir()) / "onnx" / f"{model_path.stem}-{sha256_file(model_path)[:16]}.onnx"
    if not cached.is_file():
        log.info("exporting %s to ONNX at %s (once; later start-ups reuse it)", model_path.name, cached)
        export_onnx(model, cached)
    return cached


@dataclass
class ImageResult:
    """One image's outputs from :meth:`ModelRuntime.run_images`."""

    outputs: list[np.ndarray]  # one per model output, batch axis dropped, padding cut off
    size: tuple[int, ...]  # the image's own extent along the model's free axes
    padded: tuple[int, ...]  # the extent it ran at


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


class ModelRuntime:
    """One loaded model and the engine that runs it; every method is thread-safe.

    ``batch_buckets``: the batch sizes the ``tf`` backend traces (``max_batch`` is always one);
    larger requests are cut into chunks of ``max_batch``. ``stride``: what a free spatial axis
    is padded to a multiple of (the network's total downsampling), an int or one per free axis;
    ``buckets``: optional preferred sizes per input axis (``{2: (128, 256)}``: widths), the
    smallest that fits is used and a larger image falls back to the stride rule. ``pad_value``:
    the background the padding is filled with, in model-input units.
    """

    def __init__(self, model_path: str | Path, *, backend: str | None = None,
                 batch_buckets: Sequence[int] = (1, 8), max_batch: int = 32, stride: int | Sequence[int] = 1,
                 buckets: dict[int, Sequence[int]] | None = None, pad_value: float = 0.0,
                 batching: bool = False, max_wait_ms: float = 0.0, onnx_cache_dir: str | Path | None = None,
                 model=None):
        if backend is not None and backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.model_path = Path(model_path)
        if model is None:
            from ocr_common.export import load_keras_model

            model = load_keras_model(self.model_path, compile=False)
        self.model = model
        self.name = self.model_path.stem
        self.input_shape: tuple[int | None, ...] = tuple(model.input.shape[1:])
        self.free_axes = tuple(i + 1 for i, d in enumerate(self.input_shape) if d is None)
        strides = [stride] * len(self.free_axes) if isinstance(stride, int) else list(stride)
        if len(strides) != len(self.free_axes):
            raise ValueError(f"{self.name}: {len(strides)} strides for {len(self.free_axes)} free input axes")
        self.strides = dict(zip(self.free_axes, strides))
        self.buckets = {int(a): tuple(sorted(b)) for a, b in (buckets or {}).items()}
        self.pad_value = float(pad_value)
        self.max_batch = int(max_batch)
        self.batch_buckets = tuple(sorted({b for b in batch_buckets if 0 < b < max_batch} | {max_batch}))
        self._output_axes = self._free_output_axes()
        self.onnx_file: Path | None = None
        self._session = None
        self._lock = threading.Lock()
        wanted = backend or DEFAULT_BACKEND
        self.backend = self._start_onnx(onnx_cache_dir) if wanted == "onnx" else "tf"
        if self.backend == "tf":
            self._start_tf()
        self._batcher = None
        if batching:
            from ocr_common.batching import MicroBatcher

            self._batcher = MicroBatcher(self._run_direct, max_batch=self.max_batch, max_wait_ms=max_wait_ms,
                                         name=f"batcher-{self.name}")

    # -- start-up --------------------------------------------------------------------------
    def _free_output_axes(self) -> list[list[int]]:
        """For each output, the output axes that follow the free input axes, in order (the k-th
        ``None`` axis of an output follows the k-th free input axis); an output with a different
        number of free axes is never cut."""
        import keras

        axes = []
        for out in keras.tree.flatten(self.model.output):
            free = [i for i, d in enumerate(out.shape) if i > 0 and d is None]
            axes.append(free if len(free) == len(self.free_axes) else [])
        return axes

    def _start_onnx(self, cache_dir: str | Path | None) -> str:
        """Open a parity-checked ONNX Runtime session; the backend actually in use ("onnx" or "tf")."""
        try:
            import onnxruntime as ort
        except ImportError:
            log.warning("%s: onnxruntime is not installed (pip install '.[export]'); serving with TensorFlow",
                        self.model_path.name)
            return "tf"
        try:
            path = onnx_file_for(self.model, self.model_path, cache_dir)
            opts = ort.SessionOptions()
            # Calls are serialised by self._lock (or run by the one batching thread), so one call
            # may use every core.
            opts.intra_op_num_threads = max(1, math.ceil(usable_cores()))
            opts.inter_op_num_threads = 1
            # Idle pool threads otherwise spin for work, taking CPU from the threads decoding
            # uploads; on 2 busy cores this cut batch-32 latency by a third.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            self._session, self._onnx_input = session, session.get_inputs()[0].name
            diff = self._parity()
            if not diff <= ONNX_ATOL:  # also catches NaN
                raise ValueError(f"{path.name} differs from the Keras model by {diff:.3g} (> {ONNX_ATOL:g})")
        except Exception as e:  # a server should still answer, with the slower backend
            self._session = None
            log.warning("%s: ONNX backend unavailable (%s: %s); serving with TensorFlow", self.model_path.name,
                        type(e).__name__, e)
            return "tf"
        self.onnx_file = path
        log.info("%s: ONNX Runtime backend from %s (parity %.2g)", self.model_path.name, path, diff)
        return "onnx"

    def _parity(self) -> float:
        """Largest absolute difference between Keras and the ONNX session on a random batch (free
        axes at a size the strides accept): a stale or foreign ``.onnx`` must not answer requests.
        tf2onnx keeps Keras' output order, and a swap would show here as a difference."""
        import keras

        from ocr_common.export import max_difference, random_inputs

        x = random_inputs(self.model, free_size=lambda axis: self.pad_size(axis, 32))
        expected = [keras.ops.convert_to_numpy(o) for o in keras.tree.flatten(self.model(x, training=False))]
        return max_difference(expected, self._session.run(None, {self._onnx_input: x}))

    def _start_tf(self) -> None:
        import keras
        import tensorflow as tf

        model = self.model

        def call(x):
            return keras.tree.flatten(model(x, training=False))

        fn = tf.function(call)
        # Concrete functions: tracing happens here, at start-up, never on a request.
        self._fns = {b: fn.get_concrete_function(tf.TensorSpec([b, *self.input_shape], tf.float32))
                     for b in self.batch_buckets}

    # -- running ---------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the micro-batching worker, if any; idempotent. No ``run`` after this."""
        if self._batcher is not None:
            self._batcher.close()

    @property
    def batcher(self):
        """The :class:`~ocr_common.batching.MicroBatcher`, or None when batching is off."""
        return self._batcher

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """One batch of equal-shaped inputs ``(N, *input_shape)`` -> the model's outputs, each
        ``(N, ...)``, in Keras' output order. Free axes must already have their padded size."""
        x = np.asarray(x, np.float32)
        shape = x.shape[1:]
        if len(shape) != len(self.input_shape) or any(d not in (None, s) for d, s in zip(self.input_shape, shape)):
            raise ValueError(f"{self.name}: input of shape {x.shape[1:]}, the model takes {self.input_shape}")
        if self._batcher is not None:
            out = self._batcher.submit(x)
            return list(out) if isinstance(out, list | tuple) else [out]
        return self._run_direct(x)

    def _run_direct(self, x: np.ndarray) -> list[np.ndarray]:
        if len(x) == 0:  # an empty request still gets outputs of the right shape
            return [o[:0] for o in self._run_direct(np.zeros((1, *x.shape[1:]), np.float32))]
        parts: list[list[np.ndarray]] = []
        for i in range(0, len(x), self.max_batch):
            chunk = x[i : i + self.max_batch]
            # TF's and ONNX Runtime's CPU kernels are thread-safe, but one call at a time keeps
            # every core on one batch instead of thrashing between requests.
            if self._session is not None:
                with self._lock:
                    parts.append(self._session.run(None, {self._onnx_input: chunk}))
                continue
            n = len(chunk)
            size = next(b for b in self.batch_buckets if b >= n)
            if n < size:
                chunk = np.concatenate([chunk, np.zeros((size - n, *chunk.shape[1:]), np.float32)])
            with self._lock:
                outs = self._fns[size](chunk)
            parts.append([np.asarray(o)[:n] for o in outs])
        if len(parts) == 1:
            return parts[0]
        return [np.concatenate(p) for p in zip(*parts, strict=True)]

    # -- variable-size inputs --------------------------------------------------------------
    def pad_size(self, axis: int, size: int) -> int:
        """The size a free input ``axis`` (1-based, batch = 0) of extent ``size`` runs at."""
        for b in self.buckets.get(axis, ()):
            if b >= size:
                return b
        return _round_up(max(size, 1), self.strides.get(axis, 1))

    def pad_image(self, image: np.ndarray) -> np.ndarray:
        """One image (``input_shape`` with any extent along the free axes) padded with the
        background on the bottom/right to the size it runs at."""
        image = np.asarray(image, np.float32)
        if image.ndim == len(self.input_shape) - 1 and self.input_shape[-1] == 1:
            image = image[..., None]  # (H, W) for a one-channel model
        if image.ndim != len(self.input_shape):
            raise ValueError(f"{self.name}: image of shape {image.shape}, the model takes {self.input_shape}")
        target = []
        for i, (d, s) in enumerate(zip(self.input_shape, image.shape, strict=True)):
            if d is None:
                target.append(self.pad_size(i + 1, s))
            elif d != s:
                raise ValueError(f"{self.name}: image axis {i} is {s}, the model needs {d}")
            else:
                target.append(d)
        return self._pad_to(image, tuple(target))

    def _pad_to(self, image: np.ndarray, target: tuple[int, ...]) -> np.ndarray:
        """``image`` padded with the background on the bottom/right to ``target``."""
        if target == image.shape:
            return image
        out = np.full(target, self.pad_value, np.float32)
        out[tuple(slice(0, s) for s in image.shape)] = image
        return out

    def run_images(self, images: Sequence[np.ndarray], together: bool = False) -> list[ImageResult]:
        """Images of varying size along the free axes -> one :class:`ImageResult` each, in order.
        Images that pad to the same size run in one batch; ``together``: all of them in one batch,
        each padded further to the largest (a few images of nearly one size: one call is quicker
        than one per size)."""
        padded = [self.pad_image(im) for im in images]
        if together and padded:
            largest = tuple(np.max([p.shape for p in padded], axis=0))
            padded = [self._pad_to(p, largest) for p in padded]
        sizes = [tuple(np.shape(im)[a - 1] for a in self.free_axes) for im in images]
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, p in enumerate(padded):
            groups.setdefault(p.shape, []).append(i)
        results: list[ImageResult | None] = [None] * len(images)
        for shape, idx in groups.items():
            outs = self.run(np.stack([padded[i] for i in idx]))
            run_size = tuple(shape[a - 1] for a in self.free_axes)
            for row, i in enumerate(idx):
                results[i] = ImageResult([self._crop(o[row], k, sizes[i], run_size) for k, o in enumerate(outs)],
                                         sizes[i], run_size)
        return results  # type: ignore[return-value]

    def _crop(self, out: np.ndarray, k: int, size: tuple[int, ...], run_size: tuple[int, ...]) -> np.ndarray:
        """Cut output ``k`` of one image (batch axis dropped) back to the image's own extent."""
        axes = self._output_axes[k]
        if not axes:
            return out
        index: list[Any] = [slice(None)] * out.ndim
        for j, axis in enumerate(axes):
            length = out.shape[axis - 1]
            index[axis - 1] = slice(0, min(length, math.ceil(size[j] * length / run_size[j])))
        return out[tuple(index)]
