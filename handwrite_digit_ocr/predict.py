"""Predictor for single characters: preprocess -> model -> postprocess.

``python -m handwrite_digit_ocr.predict IMAGE... [--model models/digit.keras]`` prints one
label per image. The server uses :class:`CharPredictor` directly.
"""

from __future__ import annotations

import argparse
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from handwrite_digit_ocr.config import CharConfig
from handwrite_digit_ocr.preprocess import normalize_batch
from ocr_common.config import load_config


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


class CharPredictor:
    """Loads a character model once; ``predict`` is safe to call from several threads.

    Inference goes through ``tf.function`` graphs traced once per batch bucket (1, 8, 32 by
    default): Keras' ``model.predict`` builds a data pipeline per call (~50 ms), far more than
    the model itself takes on a 28x28 image. A batch is padded up to the nearest bucket, so
    nothing is retraced per request and a single image does not pay for 32.
    """

    def __init__(self, model_path: str | Path, config: CharConfig | None = None, batch_size: int = 32, top_k: int = 5,
                 buckets: tuple[int, ...] = (1, 8)):
        import keras
        import tensorflow as tf

        from handwrite_digit_ocr.model import CUSTOM_OBJECTS

        self.model_path = Path(model_path)
        self.config = config or load_config(CharConfig, config_path_for(model_path))
        self.model = keras.saving.load_model(
            self.model_path, custom_objects=CUSTOM_OBJECTS, compile=False, safe_mode=True
        )
        self.batch_size = batch_size
        self.top_k = min(top_k, self.config.num_classes)
        s = self.config.input_size
        self.buckets = tuple(sorted({b for b in buckets if b < batch_size} | {batch_size}))
        fn = tf.function(lambda x: self.model(x, training=False))
        # Concrete functions: tracing happens here, at start-up, never on a request.
        self._fns = {b: fn.get_concrete_function(tf.TensorSpec([b, s, s, 1], tf.float32)) for b in self.buckets}
        self._lock = threading.Lock()

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        """(N, S, S, 1) normalised batch -> (N, num_classes) probabilities."""
        out = []
        for i in range(0, len(batch), self.batch_size):
            chunk = np.asarray(batch[i : i + self.batch_size], np.float32)
            n = len(chunk)
            size = next(b for b in self.buckets if b >= n)
            if n < size:
                chunk = np.concatenate([chunk, np.zeros((size - n, *chunk.shape[1:]), np.float32)])
            # TF's CPU kernels are thread-safe, but one call at a time keeps both cores on one
            # batch instead of thrashing between requests.
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
