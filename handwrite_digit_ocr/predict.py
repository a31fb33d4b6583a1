"""Predictor for single characters: preprocess -> model -> postprocess.

``python -m handwrite_digit_ocr.predict IMAGE... [--model models/digit.keras]`` prints one
label per image. The server uses :class:`CharPredictor` directly.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
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
        # Built by hand: dataclasses.asdict deep-copies recursively, a quarter of what the HTTP
        # stack spent on a request (cProfile of benchmarks.stack_server).
        return {"label": self.label, "confidence": self.confidence, "top": [dict(t) for t in self.top]}


def config_path_for(model_path: str | Path) -> Path:
    """``models/digit.keras`` -> ``models/digit.json`` (the config saved beside the weights)."""
    return Path(model_path).with_suffix(".json")


class CharPredictor:
    """A character model on the shared runtime: preprocess -> model -> top-k labels.

    ``predict`` is safe to call from several threads. The engine (ONNX Runtime with a TensorFlow
    fallback, batch buckets, micro-batching) is :class:`~ocr_common.runtime.ModelRuntime`'s;
    ``backend``, ``batching`` and ``max_wait_ms`` are passed to it (``max_wait_ms=0``: greedy
    batching, never waiting for company). Call :meth:`close` to stop the batching thread.
    """

    def __init__(self, model_path: str | Path, config: CharConfig | None = None, batch_size: int = 32, top_k: int = 5,
                 buckets: tuple[int, ...] = (1, 8), *, backend: str | None = None, batching: bool = False,
                 max_wait_ms: float = 0.0, onnx_cache_dir: str | Path | None = None):
        from ocr_common.runtime import ModelRuntime

        self.model_path = Path(model_path)
        self.config = config or load_config(CharConfig, config_path_for(model_path))
        self.runtime = ModelRuntime(self.model_path, backend=backend, batch_buckets=buckets, max_batch=batch_size,
                                    batching=batching, max_wait_ms=max_wait_ms, onnx_cache_dir=onnx_cache_dir)
        self.top_k = min(top_k, self.config.num_classes)

    @property
    def model(self):
        return self.runtime.model

    @property
    def backend(self) -> str:
        return self.runtime.backend

    @property
    def onnx_file(self) -> Path | None:
        return self.runtime.onnx_file

    @property
    def batch_size(self) -> int:
        return self.runtime.max_batch

    @property
    def batcher(self):
        return self.runtime.batcher

    def close(self) -> None:
        """Stop the micro-batching worker, if any; idempotent. ``predict`` must not be called after."""
        self.runtime.close()

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        """(N, S, S, 1) normalised batch -> (N, num_classes) probabilities."""
        return self.runtime.run(batch)[0]

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
    from ocr_common.image import for_each_image_file

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("images", nargs="+", help="image files (PNG, JPEG, BMP, TIFF, WebP)")
    ap.add_argument("--model", default="models/digit.keras", help="weights file; its config is the .json beside it")
    args = ap.parse_args(argv)
    predictor = CharPredictor(args.model)
    def show(path: str, img) -> None:
        pred = predictor.predict([img])[0]
        print(f"{path}\t{pred.label}\t{pred.confidence:.4f}")

    return for_each_image_file(args.images, show)


if __name__ == "__main__":
    raise SystemExit(main())
