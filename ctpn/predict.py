"""Text-line detector: page -> preprocess -> CTPN -> proposals -> text lines, in original pixels.

``python -m ctpn.predict IMAGE... [--model models/ctpn.keras] [--out-dir DIR]`` prints each image's
lines as JSON and, with ``--out-dir``, writes ``<name>.png`` with the lines drawn. The Chinese page
pipeline uses :class:`CTPNDetector` directly.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ctpn.config import CTPNConfig
from ctpn.preprocess import page_scale, prepare_page
from ctpn.textline import (
    TextLine,
    build_lines,
    decode_proposals,
    page_grey,
    quad_height,
    reading_order,
    share_inside,
    snap_to_ink,
    widen,
)
from ocr_common.config import load_config

DEFAULT_MODEL = "models/ctpn.keras"
SCORE_THRESHOLD = 0.7  # proposals below this never join a line (the paper's 0.7)
# A page larger than the training size (the config's max_side, 960) is read twice: scaled down to
# that size, where the network saw its text, and at up to FINE_SIDE, where small text keeps the
# height of the anchors (11 px and up; scaled down to 960, a screenshot's 20 px lines fall under
# them and whole paragraphs are lost). Lines under SPLIT_HEIGHT px high at the training size come
# from the fine pass, the others from the coarse one (a big sign read at 1920 px outgrows the
# tallest anchor, 134 px). Picked on rendered pages tiled 2 x 2 (small text on a large image) and
# enlarged 2.5 times (large text): docs/chinese.md, "Pipeline". The fine pass measures a line
# 4-14 % taller than the coarse one does, so a fine line counts as small up to FINE_SLACK times
# SPLIT_HEIGHT: with one threshold for both, a line near it (a button, a table cell) was large at
# neither scale and small at neither, and left out.
FINE_SIDE = 1920
SPLIT_HEIGHT = 15.0
FINE_SLACK = 1.25


@dataclass
class DetectionResult:
    """The lines of one image, reading order, quads ``[tl, tr, br, bl]`` in its pixels."""

    lines: list[TextLine] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"lines": [{"box": [[round(float(x), 1), round(float(y), 1)] for x, y in t.box],
                           "confidence": round(float(t.score), 4)} for t in self.lines]}


def config_path_for(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


def is_training_model(model) -> bool:
    """True for a training checkpoint (``cls`` logits, no ``prob`` output)."""
    return "prob" not in {layer.name for layer in model.layers}


class CTPNDetector:
    """A CTPN model on :class:`~ocr_common.runtime.ModelRuntime`; ``detect`` is thread-safe.

    ``model_path``: an inference model or a training checkpoint (cut to its inference outputs on
    load); its config is the ``.json`` beside it unless ``config`` is given. ``model``: an in-memory
    Keras model instead of loading one (training's F-measure callback); ``model_path`` then only
    names it. Pages run at their own (stride-padded, white) size up to the config's ``max_side``;
    a larger page is read scaled down to it and again at up to ``fine_side`` (:data:`FINE_SIDE`;
    None or 0: not), the two merged by :func:`merge_scales`."""

    def __init__(self, model_path: str | Path | None = None, config: CTPNConfig | None = None, *, model=None,
                 backend: str | None = None, batching: bool = False, max_wait_ms: float = 0.0,
                 onnx_cache_dir: str | Path | None = None, fine_side: int | None = FINE_SIDE):
        from ctpn.model import inference_model
        from ocr_common.runtime import ModelRuntime

        if model_path is None and model is None:
            raise ValueError("give model_path or model")
        if config is None:
            if model_path is None:
                raise ValueError("an in-memory model needs its config")
            config = load_config(CTPNConfig, config_path_for(model_path))
        self.config = config
        self.fine_side = fine_side
        if model is None:
            from ocr_common.export import load_keras_model

            model = load_keras_model(model_path, compile=False)
        if is_training_model(model):
            model = inference_model(model)
        self.runtime = ModelRuntime(model_path or f"{model.name}.keras", model=model, backend=backend,
                                    batch_buckets=(1, 4), max_batch=8, stride=config.stride, pad_value=1.0,
                                    batching=batching, max_wait_ms=max_wait_ms, onnx_cache_dir=onnx_cache_dir)

    @property
    def backend(self) -> str:
        return self.runtime.backend

    def close(self) -> None:
        self.runtime.close()

    def detect(self, images: list[np.ndarray], score_threshold: float = SCORE_THRESHOLD) -> list[list[TextLine]]:
        """Text lines per image (uint8 or float [0, 1]; grey, RGB or RGBA), reading order, quads in
        pixels of that image, each widened to its proposals' reach (``ctpn.textline.widen``)."""
        if not images:
            return []
        coarse = self._detect(images, self.config, score_threshold)
        side = self.config.max_side
        big = [i for i, im in enumerate(images) if max(np.shape(im)[:2]) > side]
        if big and (self.fine_side or 0) > side:
            fine_cfg = dataclasses.replace(self.config, max_side=self.fine_side)
            fine = self._detect([images[i] for i in big], fine_cfg, score_threshold)
            for i, lines in zip(big, fine):
                h, w = np.shape(images[i])[:2]
                coarse[i] = merge_scales(coarse[i], lines, page_scale(h, w, self.config))
        return [widen(lines, np.shape(im)) for lines, im in zip(coarse, images)]

    def _detect(self, images: list[np.ndarray], cfg: CTPNConfig, score_threshold: float) -> list[list[TextLine]]:
        prepared = [prepare_page(im, cfg)[0] for im in images]
        return [self.lines(x, res.outputs, np.shape(image), cfg, score_threshold)
                for image, x, res in zip(images, prepared, self.runtime.run_images(prepared))]

    def lines(self, x: np.ndarray, outputs, shape: tuple[int, ...], cfg: CTPNConfig | None = None,
              score_threshold: float = SCORE_THRESHOLD) -> list[TextLine]:
        """The network's ``(prob, reg, side)`` ``outputs`` on the prepared page ``x`` -> its lines
        (proposals chained, cut at rules, short lines boxed by their ink) in pixels of the original
        image of ``shape``."""
        cfg = cfg or self.config
        boxes, scores, offsets = decode_proposals(*outputs, cfg, score_threshold)
        grey = page_grey(x)  # once, for the rule and gap cuts and the ink boxes
        lines = snap_to_ink(build_lines(boxes, scores, offsets, x.shape, cfg, image=grey), grey)
        return to_original(lines, x.shape, shape)

    def predict(self, images: list[np.ndarray], score_threshold: float = SCORE_THRESHOLD) -> list[DetectionResult]:
        return [DetectionResult(lines) for lines in self.detect(images, score_threshold)]


def merge_scales(coarse: list[TextLine], fine: list[TextLine], coarse_scale: float,
                 split_height: float = SPLIT_HEIGHT, max_overlap: float = 0.2,
                 fine_slack: float = FINE_SLACK) -> list[TextLine]:
    """One page's lines found at the training size (``coarse``, the page scaled by ``coarse_scale``)
    and larger (``fine``), both in the page's pixels -> its lines, reading order: every coarse line
    ``split_height`` px high or more at the training size, and the fine lines under ``fine_slack``
    times that height with no more than ``max_overlap`` of their area on one of those (a large
    line's pieces, found at the fine size, stay out)."""
    large = [t for t in coarse if quad_height(t.box) * coarse_scale >= split_height]
    small = [t for t in fine if quad_height(t.box) * coarse_scale < split_height * fine_slack and
             share_inside(t, large) <= max_overlap]
    return reading_order(large + small)


def to_original(lines: list[TextLine], run_shape: tuple[int, ...], shape: tuple[int, ...]) -> list[TextLine]:
    """Lines found on the prepared page (``run_shape``) moved to the original image (``shape``) by the
    exact per-axis ratio of the two sizes, clipped to it."""
    (rh, rw), (h, w) = run_shape[:2], shape[:2]
    ratio = np.array([w / rw, h / rh], np.float32)
    moved = []
    for t in lines:
        box = t.box * ratio
        box[:, 0] = np.clip(box[:, 0], 0, w)
        box[:, 1] = np.clip(box[:, 1], 0, h)
        moved.append(TextLine(box=box.astype(np.float32), score=t.score, n=t.n, rise=t.rise * ratio[1],
                              drop=t.drop * ratio[1]))
    return moved


def draw_lines(image: np.ndarray, quads: list[np.ndarray], colour=(0, 200, 0), thickness: int = 2) -> np.ndarray:
    """An RGB uint8 copy of ``image`` with the quads drawn."""
    from ctpn.preprocess import to_rgb

    img = np.ascontiguousarray(to_rgb(np.asarray(image)))
    if img.dtype != np.uint8:
        img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    else:
        img = img.copy()
    pts = [np.round(np.asarray(q, np.float64)).astype(np.int32).reshape(-1, 1, 2) for q in quads]
    cv2.polylines(img, pts, True, tuple(int(c) for c in colour), thickness, cv2.LINE_AA)
    return img


def main(argv: list[str] | None = None) -> int:
    from ocr_common.image import for_each_image_file

    ap = argparse.ArgumentParser(prog="python -m ctpn.predict", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="+", help="pages (JPEG, PNG, ...)")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="weights; the config is the .json beside them "
                    "[%(default)s]")
    ap.add_argument("--threshold", type=float, default=SCORE_THRESHOLD, help="proposal score threshold [%(default)s]")
    ap.add_argument("--backend", default=None, choices=("tf", "onnx"), help="[onnx when installed, else tf]")
    ap.add_argument("--fine-side", type=int, default=FINE_SIDE, help="a page larger than the training size is "
                    "read again at up to this long side; 0: not [%(default)s]")
    ap.add_argument("--out-dir", default=None, help="write <name>.png with the lines drawn here")
    args = ap.parse_args(argv)
    detector = CTPNDetector(args.model, backend=args.backend, fine_side=args.fine_side)

    def show(path: str, image: np.ndarray) -> None:
        result = detector.predict([image], args.threshold)[0]
        print(f"{path}\t{json.dumps(result.to_dict())}")
        if args.out_dir:
            out = Path(args.out_dir) / f"{Path(path).stem}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out), draw_lines(image, [t.box for t in result.lines])[..., ::-1])

    return for_each_image_file(args.images, show)


if __name__ == "__main__":
    raise SystemExit(main())
