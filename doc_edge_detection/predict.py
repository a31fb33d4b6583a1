"""Predictor for document edges: photo -> page corners, and the flattened scan.

``python -m doc_edge_detection.predict PHOTO... [--method hed] [--scan-dir out/]`` prints the
corners of each photo and optionally writes the flattened pages. The server uses
:class:`DocEdgePredictor` directly.

Methods (:data:`METHODS`), all answering corners in pixels of the input photo:

* ``hed``: the HED network's edge map (the photo stretched to the network square) -> the
  quadrilateral finder -> corners refined on the full-resolution photo (sub-pixel edge fit);
* ``corners``: the corner-heatmap network (soft-argmax), refined the same way;
* ``canny``, ``paper``: the classical baselines (no weights).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from doc_edge_detection.config import DocEdgeConfig
from doc_edge_detection.preprocess import network_input, to_rgb
from ocr_common.config import load_config

METHODS: tuple[str, ...] = ("hed", "corners", "canny", "paper")
# Longest side of a scan: a page at ~240 dpi, and far inside what JPEG and PDF encoders accept
# (an 8 x 70000 strip without a page would otherwise be answered as it is, and JPEG stops at 65500).
MAX_SCAN_SIDE = 2000
NEEDS_WEIGHTS = {"hed", "corners"}
# The name each network is shipped under in models/ (the manifest lists by name, and the first
# entry of a task serves it: doc_edges, HED, serves; doc_edges_corners is shipped for comparison).
SHIPPED_NAMES = {"hed": "doc_edges", "corners": "doc_edges_corners"}
DEFAULT_WEIGHTS = {method: f"models/{name}.keras" for method, name in SHIPPED_NAMES.items()}


@dataclass
class DocEdgePrediction:
    found: bool
    corners: np.ndarray | None  # (4, 2) float, pixels of the input image, TL, TR, BR, BL
    confidence: float

    def to_dict(self) -> dict:
        corners = None if self.corners is None else [[round(float(x), 1), round(float(y), 1)] for x, y in self.corners]
        return {"found": bool(self.found), "corners": corners, "confidence": round(float(self.confidence), 4)}


@dataclass
class ScanResult:
    image: np.ndarray  # the flattened page (H, W, 3) or (H, W) uint8
    found: bool  # False: no page and no corners given, so the whole image, unflattened
    corners: np.ndarray | None  # the corners used


def config_path_for(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


class DocEdgePredictor:
    """One detection method plus flattening; ``predict`` and ``scan`` are thread-safe.

    ``model_path`` (and its config, the ``.json`` beside it) is needed for the network methods;
    the engine is :class:`~ocr_common.runtime.ModelRuntime` (ONNX Runtime with a TensorFlow
    fallback, micro-batching). ``refine``: fit the corners to the full-resolution photo's edges.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        config: DocEdgeConfig | None = None,
        *,
        method: str | None = None,
        refine: bool = True,
        backend: str | None = None,
        batching: bool = False,
        max_wait_ms: float = 0.0,
        onnx_cache_dir: str | Path | None = None,
    ):
        self.config = config
        if model_path is not None and config is None:
            self.config = load_config(DocEdgeConfig, config_path_for(model_path))
        self.method = method or (self.config.arch if self.config else "paper")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {list(METHODS)}")
        self.refine = refine
        self.runtime = None
        if self.method in NEEDS_WEIGHTS:
            if model_path is None:
                raise ValueError(f"method {self.method!r} needs a weights file")
            if self.config.arch != self.method:
                raise ValueError(f"{model_path} is a {self.config.arch!r} model, not {self.method!r}")
            from ocr_common.runtime import ModelRuntime

            self.runtime = ModelRuntime(
                model_path,
                backend=backend,
                batch_buckets=(1, 4),
                max_batch=8,
                batching=batching,
                max_wait_ms=max_wait_ms,
                onnx_cache_dir=onnx_cache_dir,
            )

    @property
    def backend(self) -> str | None:
        return None if self.runtime is None else self.runtime.backend

    def close(self) -> None:
        if self.runtime is not None:
            self.runtime.close()

    # -- detection -------------------------------------------------------------------------
    def network_outputs(self, images: list[np.ndarray]) -> np.ndarray:
        """The network's raw answer per image: edge maps ``(N, S, S)`` or corners ``(N, 4, 2)`` in [0, 1]."""
        size = self.config.input_size
        out = self.runtime.run(np.stack([network_input(im, size) for im in images]))[0]
        return out[..., 0] if self.method == "hed" else out

    def detect(self, images: list[np.ndarray]):
        """``QuadResult`` per image, corners in pixels of that image."""
        from doc_edge_detection.classical import detect_canny, detect_paper

        if self.method == "canny":
            return [detect_canny(im) for im in images]
        if self.method == "paper":
            return [detect_paper(im) for im in images]
        outs = self.network_outputs(images)
        return [self._from_network(im, out) for im, out in zip(images, outs)]

    def _from_network(self, image: np.ndarray, out: np.ndarray):
        from doc_edge_detection.quad import QuadResult, find_quad, refine_corners, scale_corners

        h, w = image.shape[:2]
        s = self.config.input_size
        if self.method == "hed":
            quad = find_quad(out)
            if not quad.found:
                return quad
            corners, score = scale_corners(quad.corners, (s, s), (w, h)), quad.score
        else:
            from doc_edge_detection.geometry import is_valid_quad, order_corners

            corners = order_corners(out * np.array([w, h], np.float32) - 0.5)
            # Soft-argmax always answers four points; on a photo without a page they collapse or
            # fold, which is how this model says "no page".
            if not is_valid_quad(corners, (w, h)):
                return QuadResult(False, None, 0.0)
            score = 1.0
        if self.refine:
            corners = refine_corners(image, corners)
        return QuadResult(True, np.asarray(corners, np.float32), float(score))

    def predict(self, images: list[np.ndarray]) -> list[DocEdgePrediction]:
        if not images:
            return []
        return [
            DocEdgePrediction(q.found, q.corners if q.found else None, q.score if q.found else 0.0)
            for q in self.detect(images)
        ]

    # -- flattening ------------------------------------------------------------------------
    def scan(self, image: np.ndarray, corners: np.ndarray | None = None, *, enhance: bool = False) -> ScanResult:
        """The page flattened with ``corners`` (or detected ones); the whole image when none are found."""
        from doc_edge_detection.geometry import flatten, order_corners, scan_look

        found = True
        if corners is None:
            pred = self.predict([image])[0]
            found, corners = pred.found, pred.corners
        if corners is None:
            page = _fit(to_rgb(image), MAX_SCAN_SIDE)
        else:
            corners = order_corners(np.asarray(corners, np.float32))
            page = flatten(to_rgb(image), corners, max_side=MAX_SCAN_SIDE)
        if enhance:
            page = scan_look(page)
        return ScanResult(page, found, corners)


def _fit(image: np.ndarray, max_side: int) -> np.ndarray:
    """``image`` shrunk so that its longest side is at most ``max_side``."""
    import cv2

    scale = max_side / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def main(argv: list[str] | None = None) -> int:
    from PIL import Image

    from ocr_common.image import for_each_image_file

    ap = argparse.ArgumentParser(
        prog="python -m doc_edge_detection.predict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("images", nargs="+", help="photos (JPEG, PNG, ...)")
    ap.add_argument(
        "--model",
        default=None,
        help="weights for hed/corners; its config is the .json beside it [models/doc_edges.keras, or "
        "models/doc_edges_corners.keras with --method corners]",
    )
    ap.add_argument("--method", default=None, choices=METHODS, help="[the model's architecture]")
    ap.add_argument("--no-refine", action="store_true", help="skip the full-resolution corner refinement")
    ap.add_argument("--scan-dir", default=None, help="write each flattened page here as <name>.jpg")
    ap.add_argument("--enhance", action="store_true", help="scan look for the written pages")
    args = ap.parse_args(argv)
    method = args.method or "hed"
    model = args.model or DEFAULT_WEIGHTS.get(method)
    predictor = DocEdgePredictor(model, method=args.method, refine=not args.no_refine)
    def show(path: str, img: np.ndarray) -> None:
        pred = predictor.predict([img])[0]
        print(f"{path}\t{json.dumps(pred.to_dict())}")
        if args.scan_dir and pred.found:
            out = Path(args.scan_dir) / f"{Path(path).stem}.jpg"
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(predictor.scan(img, pred.corners, enhance=args.enhance).image).save(out, quality=90)

    return for_each_image_file(args.images, show)


if __name__ == "__main__":
    raise SystemExit(main())
