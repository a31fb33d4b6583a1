"""Predictor for single characters: preprocess -> model -> postprocess.

``python -m handwrite_digit_ocr.predict IMAGE... [--model models/digit.keras]`` prints one
label per image. The server uses :class:`CharPredictor` directly.
"""

from __future__ import annotations

import argparse
import logging
import math
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from handwrite_digit_ocr.config import CharConfig
from handwrite_digit_ocr.preprocess import normalize_batch
from ocr_common.config import load_config
from ocr_common.cpu import usable_cores

log = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("tf", "onnx")
# What backend=None means. On a 2-core Xeon (benchmarks/bench_batching.py, README "Backends and
# micro-batching") ONNX Runtime answered one image 2.5x (kaggle_cnn) to 7x (simple_cnn) faster
# than the compiled tf.function and served 1.2-1.7x more HTTP requests/s at 1, 8 and 32 clients;
# only kaggle_cnn at batch 8-32 was ~15 % slower. Without onnxruntime installed this falls back to tf.
DEFAULT_BACKEND = "onnx"
# Largest tolerated difference between ONNX Runtime's and Keras' probabilities.
ONNX_ATOL = 1e-4


@dataclass
class CharPrediction:
    label: str
    confidence: float
    top: list[dict] = field(default_factory=list)  # [{"label": str, "p": float}, ...]

    def to_dict(self) -> dict:
        return asdict(self)


def config_path_for(model_path: str | Path) -> Path:
    """``models/digit.keras`` -> ``models/digit.json`` (the config saved beside the weights)."""
    return Path(model_path).with_suffix(".json")


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


def _onnx_parity(model, session, n: int = 8) -> float:
    """Largest absolute difference between Keras and an ONNX Runtime session on a random batch:
    a stale or foreign ``.onnx`` must not answer requests."""
    from ocr_common.export import random_inputs

    x = random_inputs(model, n=n)
    expected = np.asarray(model(x, training=False))
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    return float(np.max(np.abs(expected.astype(np.float64) - got)))


class CharPredictor:
    """Loads a character model once; ``predict`` is safe to call from several threads.

    Two backends run the same weights. ``tf``: ``tf.function`` graphs traced once per batch bucket
    (1, 8, 32 by default), because Keras' ``model.predict`` builds a data pipeline per call
    (~50 ms), far more than the model itself takes on a 28x28 image; a batch is padded up to the
    nearest bucket, so nothing is retraced per request and a single image does not pay for 32.
    ``onnx``: the model exported once to ONNX (see :func:`onnx_file_for`) and run by ONNX Runtime,
    which takes any batch size as is. ``backend=None`` picks :data:`DEFAULT_BACKEND`; when ONNX
    Runtime or the exporter is missing (an optional extra) or the export fails its parity check,
    the predictor logs why and serves with TensorFlow (``self.backend`` says which one runs).

    ``batching=True`` routes :meth:`predict_proba` through a :class:`~ocr_common.batching.MicroBatcher`:
    concurrent callers (server threads) are merged into one model call, waiting at most
    ``max_wait_ms`` for company. Call :meth:`close` to stop its worker thread.
    """

    def __init__(self, model_path: str | Path, config: CharConfig | None = None, batch_size: int = 32, top_k: int = 5,
                 buckets: tuple[int, ...] = (1, 8), *, backend: str | None = None, batching: bool = False,
                 max_wait_ms: float = 2.0, onnx_cache_dir: str | Path | None = None):
        import keras

        from handwrite_digit_ocr.model import CUSTOM_OBJECTS

        if backend is not None and backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
        self.model_path = Path(model_path)
        self.config = config or load_config(CharConfig, config_path_for(model_path))
        self.model = keras.saving.load_model(
            self.model_path, custom_objects=CUSTOM_OBJECTS, compile=False, safe_mode=True
        )
        self.batch_size = batch_size
        self.top_k = min(top_k, self.config.num_classes)
        self.buckets = tuple(sorted({b for b in buckets if b < batch_size} | {batch_size}))
        self.onnx_file: Path | None = None
        self._session = None
        self.backend = self._start_onnx(onnx_cache_dir) if (backend or DEFAULT_BACKEND) == "onnx" else "tf"
        if self.backend == "tf":
            import tensorflow as tf

            s = self.config.input_size
            fn = tf.function(lambda x: self.model(x, training=False))
            # Concrete functions: tracing happens here, at start-up, never on a request.
            self._fns = {b: fn.get_concrete_function(tf.TensorSpec([b, s, s, 1], tf.float32)) for b in self.buckets}
        self._lock = threading.Lock()
        self._batcher = None
        if batching:
            from ocr_common.batching import MicroBatcher

            self._batcher = MicroBatcher(self._predict_direct, max_batch=batch_size, max_wait_ms=max_wait_ms,
                                         name=f"batcher-{self.model_path.stem}")

    def _start_onnx(self, cache_dir: str | Path | None) -> str:
        """Open an ONNX Runtime session for the model; the backend actually in use ("onnx" or "tf")."""
        try:
            import onnxruntime as ort
        except ImportError:
            log.warning("%s: onnxruntime is not installed (pip install '.[export]'); serving with TensorFlow",
                        self.model_path.name)
            return "tf"
        try:
            path = onnx_file_for(self.model, self.model_path, cache_dir)
            opts = ort.SessionOptions()
            # Calls are serialised by self._lock, so one call may use every core.
            opts.intra_op_num_threads = max(1, math.ceil(usable_cores()))
            opts.inter_op_num_threads = 1
            # Idle pool threads otherwise spin for work, taking CPU from the threads decoding
            # uploads; on 2 busy cores this cut batch-32 latency by a third.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            diff = _onnx_parity(self.model, session)
            if not diff <= ONNX_ATOL:  # also catches NaN
                raise ValueError(f"{path.name} differs from the Keras model by {diff:.3g} (> {ONNX_ATOL:g})")
        except Exception as e:  # a server should still answer, with the slower backend
            log.warning("%s: ONNX backend unavailable (%s: %s); serving with TensorFlow", self.model_path.name,
                        type(e).__name__, e)
            return "tf"
        self._session, self.onnx_file = session, path
        self._onnx_input = session.get_inputs()[0].name
        log.info("%s: ONNX Runtime backend from %s (parity %.2g)", self.model_path.name, path, diff)
        return "onnx"

    def close(self) -> None:
        """Stop the micro-batching worker, if any; idempotent. ``predict`` must not be called after."""
        if self._batcher is not None:
            self._batcher.close()

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        """(N, S, S, 1) normalised batch -> (N, num_classes) probabilities."""
        if self._batcher is not None:
            return self._batcher.submit(np.asarray(batch, np.float32))
        return self._predict_direct(batch)

    def _predict_direct(self, batch: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(batch), self.batch_size):
            chunk = np.asarray(batch[i : i + self.batch_size], np.float32)
            # TF's and ONNX Runtime's CPU kernels are thread-safe, but one call at a time keeps
            # every core on one batch instead of thrashing between requests.
            if self._session is not None:
                with self._lock:
                    probs = self._session.run(None, {self._onnx_input: chunk})[0]
                out.append(probs)
                continue
            n = len(chunk)
            size = next(b for b in self.buckets if b >= n)
            if n < size:
                chunk = np.concatenate([chunk, np.zeros((size - n, *chunk.shape[1:]), np.float32)])
            with self._lock:
                probs = self._fns[size](chunk)
            out.append(np.asarray(probs)[:n])
        return np.concatenate(out) if out else np.zeros((0, self.config.num_classes), np.float32)

    def predict(self, images: list[np.ndarray]) -> list[CharPrediction]:
        """Decoded images (any size, gray/RGB/RGBA, either polarity) -> one prediction each."""
        if not images:
            return []
        probs = self.predict_proba(normalize_batch(images, self.config.input_size))
        return [self._postprocess(p) for p in probs]

    def _postprocess(self, p: np.ndarray) -> CharPrediction:
        labels = self.config.labels
        order = np.argsort(-p)[: self.top_k]
        top = [{"label": labels[i], "p": round(float(p[i]), 6)} for i in order]
        return CharPrediction(label=labels[order[0]], confidence=round(float(p[order[0]]), 6), top=top)


def main(argv: list[str] | None = None) -> int:
    from ocr_common.image import ImageDecodeError, load_image_file

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("images", nargs="+", help="image files (PNG, JPEG, BMP, TIFF, WebP)")
    ap.add_argument("--model", default="models/digit.keras", help="weights file; its config is the .json beside it")
    args = ap.parse_args(argv)
    predictor = CharPredictor(args.model)
    status = 0
    for path in args.images:
        try:
            img = load_image_file(path)
        except (ImageDecodeError, OSError) as e:
            print(f"{path}\terror: {e}")
            status = 1
            continue
        pred = predictor.predict([img])[0]
        print(f"{path}\t{pred.label}\t{pred.confidence:.4f}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
