"""The Chinese page pipeline: detect lines (CTPN; a large page at two scales) -> crop (deskewed,
with a margin) -> orientation -> recognise -> lines in reading order, the unsure ones left out.

``python -m chinese_ocr.predict IMAGE... [--models models] [--no-detect]`` prints each image's
text. The server uses :class:`ChinesePredictor` for ``POST /predict/chinese``.

The recogniser's weights are the manifest entry the server loads for the task (``chinese``);
the detector (``ctpn``) and the orientation classifier (``zh_orientation``) are found in the same
manifest, checked against their sha256 like every served file. Without a recogniser the
pipeline still runs and returns the boxes with empty text; without a detector ``detect=1``
answers 503. Without the orientation classifier the recogniser itself tells which way up a line
is (:class:`chinese_ocr.orientation.RecognizerOrientation`: each line read both ways); a page
is decided by its longest lines together.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from chinese_ocr.config import ChineseConfig
from chinese_ocr.orientation import RecognizerOrientation, turn_image
from chinese_ocr.recognize import DECODERS, DEFAULT_DECODER, LineText
from ctpn.textline import quad_height
from ocr_common.errors import ModelUnavailable

log = logging.getLogger(__name__)

# Manifest names of the shipped models, defined once: recogniser, detector, orientation classifier.
SHIPPED_NAMES = {"recognizer": "chinese", "detector": "ctpn", "orientation": "zh_orientation",
                 "plates": "chinese_plates"}
# Margin around a detected line before it is read, as a fraction of its height (each side). 0.28
# above and below, picked on rendered pages in the training and held-out faces (end-to-end char
# accuracy, 0.12 / 0.20 / 0.28 / 0.36: 0.861 / 0.876 / 0.880 on 40 training-face pages, 0.726 /
# 0.739 / 0.748 / 0.747 on 60 held-out-face pages); the recogniser's training crops carry ink
# margins of about that size. See docs/chinese.md, "Pipeline".
CROP_MARGIN_Y = 0.28
CROP_MARGIN_X = 0.25
# A crop (margins included) lower than this is warped at the scale that makes it this high and left
# for the recogniser to scale down to its 32 px: sampled once at the page's own resolution, a small
# slanted line comes out jagged. End-to-end char accuracy with the crop warped at its own size /
# at least 48 / 64 px high: 0.7375 / - / 0.7487 on 30 rendered pages in the training faces, 0.7260
# / 0.7310 / 0.7327 on 40 in the held-out face (96: 0.7320 in the training faces).
CROP_MIN_HEIGHT = 64
# A detected line read less confidently than this is left out of a page's answer: mostly marks the
# detector took for text (QR codes, barcodes, rules) and unreadable specks. End-to-end char accuracy
# (and line recall) at 0 / 0.3 / 0.5 / 0.7: 0.7246 (0.959) / 0.7267 (0.958) / 0.7279 (0.953) /
# 0.7212 (0.922) on 40 rendered pages in the training faces, 0.7874 (0.961) / 0.7881 (0.959) /
# 0.7897 (0.955) / 0.7899 (0.933) on 60 in the held-out face. 0.5 (RapidOCR's text_score) reads a
# little better but takes true lines out of the answer's boxes; 0.3 keeps them. See
# docs/chinese.md, "Pipeline".
MIN_LINE_CONFIDENCE = 0.3
# A page is turned when the length-weighted mean "upside down" score of its longest lines (this
# many) is above the orientation model's threshold.
PAGE_VOTE_LINES = 8


@dataclass
class LineReading:
    text: str
    box: np.ndarray  # (4, 2) corners tl, tr, br, bl in pixels of the uploaded image
    confidence: float

    def to_dict(self) -> dict:
        return {"text": self.text, "box": [[round(float(x), 1), round(float(y), 1)] for x, y in self.box],
                "confidence": self.confidence}


@dataclass
class ChineseResult:
    text: str  # lines joined by "\n", reading order
    lines: list[LineReading] = field(default_factory=list)
    turned: bool = False  # the page was read upside down

    def to_dict(self) -> dict:
        return {"text": self.text, "lines": [r.to_dict() for r in self.lines], "turned": self.turned}


def crop_line(image: np.ndarray, quad: np.ndarray, margin_y: float = CROP_MARGIN_Y,
              margin_x: float = CROP_MARGIN_X, min_height: float = CROP_MIN_HEIGHT) -> np.ndarray:
    """The line inside ``quad`` (tl, tr, br, bl) warped to an upright rectangle, with a margin of
    ``margin_y`` x its height above and below and ``margin_x`` x its height at the ends; a slanted
    line comes out level. A crop lower than ``min_height`` px comes out enlarged to that height."""
    q = np.asarray(quad, np.float32)
    tl, tr, br, bl = q
    w = max(2.0, (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2)
    h = max(2.0, quad_height(q))
    u = ((tr - tl) + (br - bl)) / 2
    u /= max(np.linalg.norm(u), 1e-6)
    v = np.array([-u[1], u[0]], np.float32)  # down the page, perpendicular to the line
    mx, my = margin_x * h, margin_y * h
    src = np.stack([tl - u * mx - v * my, tr + u * mx - v * my, br + u * mx + v * my, bl - u * mx + v * my])
    zoom = max(1.0, min_height / (h + 2 * my))
    out_w, out_h = int(round((w + 2 * mx) * zoom)), int(round((h + 2 * my) * zoom))
    dst = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], np.float32)
    m = cv2.getPerspectiveTransform(src.astype(np.float32), dst)
    return cv2.warpPerspective(image, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def turn_quads(quads: list[np.ndarray], shape: tuple[int, ...]) -> list[np.ndarray]:
    """Quads found on the page turned by 180 degrees, in pixels of the upright page (corner order
    kept: the turned line's top-left is where the reader starts)."""
    h, w = shape[:2]
    return [np.array([[w, h]], np.float32) - np.asarray(q, np.float32) for q in quads]


def companion(models_dir: Path, name: str) -> Path | None:
    """The weights of manifest entry ``name`` beside ``models_dir/manifest.json`` when present and
    matching their sha256, else None (logged)."""
    from ocr_common.io import sha256_file

    manifest = models_dir / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8")).get("models", [])
    except (OSError, ValueError) as e:
        log.warning("%s: unreadable (%s)", manifest, e)
        return None
    for e in entries:
        if e.get("name") != name:
            continue
        path = models_dir / e["file"]
        if not path.is_file():
            log.warning("%s: %s is missing", name, path)
            return None
        if sha256_file(path) != e.get("sha256"):
            log.warning("%s: %s does not match its sha256 in the manifest", name, path)
            return None
        return path
    return None


# ?detect=0 reads a line again as variants only when it looks like a plate (by the plate reader
# when one is installed, chinese_ocr.recognize): every unsure line read
# three ways took 17.6 ms a line (median, rendered eval-face lines) against RapidOCR's recogniser's
# 15.4 ms, where read once (and turned, for the orientation check) it takes about 8 ms. A page
# reads its unsure lines again too; it stays well under RapidOCR's time for a page.
SINGLE_LINE_UNSURE = False


class ChinesePredictor:
    """Detector, orientation classifier and recogniser on the shared runtime; thread-safe.

    ``model_path`` is the recogniser (None: boxes only); ``detector``, ``orientation`` and
    ``plates`` (the plate reader, :mod:`chinese_ocr.recognize`) are paths, or None to look them up
    in the manifest beside ``model_path`` (pass ``False`` for none). With no
    orientation classifier found, the recogniser decides which way up lines are; ``False`` reads
    every line as it comes. ``variants=False`` reads each line once instead of three ways
    (:mod:`chinese_ocr.recognize`); ``decoder`` is one of its ``DECODERS``. A page's lines read
    with a confidence under ``min_confidence`` are left out (a single line, ``detect=0``, is
    always answered)."""

    def __init__(self, model_path: str | Path | None, config: ChineseConfig | None = None, *,
                 detector: str | Path | None | bool = None, orientation: str | Path | None | bool = None,
                 plates: str | Path | None | bool = None,
                 backend: str | None = None, batching: bool = False, max_wait_ms: float = 0.0,
                 onnx_cache_dir: str | Path | None = None, decoder: str = DEFAULT_DECODER, variants: bool = True,
                 min_confidence: float = MIN_LINE_CONFIDENCE):
        from chinese_ocr.orientation import OrientationClassifier
        from chinese_ocr.recognize import LineRecognizer
        from ctpn.predict import CTPNDetector

        models_dir = Path(model_path).parent if model_path else Path("models")
        if detector is None:
            detector = companion(models_dir, SHIPPED_NAMES["detector"])
        if orientation is None:
            orientation = companion(models_dir, SHIPPED_NAMES["orientation"])
        if plates is None:
            plates = companion(models_dir, SHIPPED_NAMES["plates"])
        opts = {"backend": backend, "onnx_cache_dir": onnx_cache_dir}
        self.recognizer = LineRecognizer(model_path, config, batching=batching, max_wait_ms=max_wait_ms,
                                         variants=variants, plate_model=plates or None, **opts) if model_path else None
        self.detector = CTPNDetector(detector, batching=batching, max_wait_ms=max_wait_ms, **opts) \
            if detector else None
        if orientation:
            self.orientation = OrientationClassifier(orientation, **opts)
        elif orientation is None and self.recognizer is not None:
            self.orientation = RecognizerOrientation(self.recognizer)
        else:
            self.orientation = None
        if decoder not in DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}; choose one of {list(DECODERS)}")
        self.decoder = decoder
        if self.recognizer is not None:
            self.recognizer.lm(decoder)  # its language model built now, not at the first request
        self.min_confidence = min_confidence

    @property
    def orientation_kind(self) -> str:
        """How lines are turned upright, in words (for reports)."""
        if self.orientation is None:
            return "none"
        if isinstance(self.orientation, RecognizerOrientation):
            return "the recogniser reading both ways (turned only when unsure)"
        return "orientation classifier"

    @property
    def config(self) -> ChineseConfig | None:
        return self.recognizer.config if self.recognizer else None

    def close(self) -> None:
        for part in (self.recognizer, self.detector, self.orientation):
            if part is not None:
                part.close()

    def read_lines(self, crops: list[np.ndarray], variants: bool | None = None) -> list[LineText]:
        """Line crops read as a page's lines are: upright as given, the predictor's decoder, the
        unsure ones again as variants (unless ``variants`` is False)."""
        if self.recognizer is None:
            return [LineText("", 0.0)] * len(crops)
        return self.recognizer.read(crops, self.decoder, variants)

    def _is_turned(self, crops: list[np.ndarray], upright: list[LineText] | None = None) -> bool:
        """Whether the crops, as a whole, are upside down: the length-weighted mean score of the
        longest :data:`PAGE_VOTE_LINES` of them above the orientation model's threshold. With the
        recogniser's check, ``upright`` (the crops' readings as they come, when already made)
        saves reading those lines upright a second time."""
        if self.orientation is None or not crops:
            return False
        w = np.array([c.shape[1] / max(c.shape[0], 1) for c in crops], np.float64)
        keep = np.argsort(-w, kind="stable")[:PAGE_VOTE_LINES]
        if upright is not None and isinstance(self.orientation, RecognizerOrientation):
            # A line's turned reading can beat its upright one by at most 1 - upright: when the
            # weighted mean of those bounds is within the threshold, the vote cannot pass it.
            if self.orientation.sure_upright(float(np.sum(w[keep] * [upright[i].once for i in keep])
                                                   / max(np.sum(w[keep]), 1e-9))):
                return False
            down = self.recognizer.confidences([turn_image(crops[i]) for i in keep])
            p = np.array([d - upright[i].once for d, i in zip(down, keep)], np.float64)
        else:
            p = self.orientation.turned([crops[i] for i in keep])
        return float(np.sum(p * w[keep]) / max(np.sum(w[keep]), 1e-9)) > self.orientation.threshold

    def read_line(self, image: np.ndarray) -> ChineseResult:
        """The whole image as one text line (``detect=0``)."""
        h, w = image.shape[:2]
        if isinstance(self.orientation, RecognizerOrientation):  # read both ways at once, keep one
            turned, first = self.orientation.read_upright(image, self.decoder)
            line = turn_image(image) if turned else image
        else:
            turned = self._is_turned([image])
            line = turn_image(image) if turned else image
            (first,) = self.read_lines([line], variants=False)
        if self.recognizer is not None and self.recognizer.variants:  # plates only: stay as quick as RapidOCR
            (first,) = self.recognizer.refine([line], [first], self.decoder, unsure=SINGLE_LINE_UNSURE)
        text, conf = first.text, first.confidence
        box = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        return ChineseResult(text, [LineReading(text, box, conf)] if text else [], turned)

    def read_page(self, image: np.ndarray) -> ChineseResult:
        if self.detector is None:
            raise ModelUnavailable("the text-line detector (ctpn) is not installed; read one line with ?detect=0")
        quads, crops = self._detect_crops(image)
        # The recogniser's orientation check compares with the upright readings: make them first
        # and keep them when the page is upright, as nearly every page is.
        texts = self.read_lines(crops) if isinstance(self.orientation, RecognizerOrientation) else None
        turned = self._is_turned(crops, texts)
        if turned:
            # Read the page upright: its lines come in reading order again, and every crop turns.
            upright = turn_image(image)
            found, crops = self._detect_crops(upright)
            quads = turn_quads(found, image.shape)
            texts = None
        readings = [LineReading(r.text, q, r.confidence) for r, q in zip(texts or self.read_lines(crops), quads)]
        if self.recognizer is not None:
            readings = [r for r in readings if r.text and r.confidence >= self.min_confidence]
        return ChineseResult("\n".join(r.text for r in readings), readings, turned)

    def _detect_crops(self, image: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The page's lines: the boxes the detector reports (widened to their proposals' reach,
        ``ctpn.textline.widen``) and the crops read, cut from the boxes fitted through the
        proposals, which the recogniser reads best."""
        lines = self.detector.detect([image])[0]
        return [ln.box for ln in lines], [crop_line(image, ln.box if ln.fit is None else ln.fit) for ln in lines]

    def predict(self, images: list[np.ndarray], detect: bool = True) -> list[ChineseResult]:
        """Decoded images -> one :class:`ChineseResult` each; ``detect=False`` reads each image as one line."""
        return [self.read_page(im) if detect else self.read_line(im) for im in images]


def main(argv: list[str] | None = None) -> int:
    from ocr_common.image import for_each_image_file

    ap = argparse.ArgumentParser(prog="python -m chinese_ocr.predict", description=__doc__,
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("images", nargs="+", help="image files (PNG, JPEG, BMP, TIFF, WebP)")
    ap.add_argument("--model", default=f"models/{SHIPPED_NAMES['recognizer']}.keras",
                    help="recogniser weights; the detector and orientation classifier come from the manifest beside it")
    ap.add_argument("--detector", default=None, help="CTPN weights (default: from the manifest)")
    ap.add_argument("--no-detect", action="store_true", help="read each image as one text line")
    ap.add_argument("--decoder", default=DEFAULT_DECODER, choices=DECODERS, help=f"[{DEFAULT_DECODER}]")
    ap.add_argument("--no-variants", action="store_true", help="read each line once, not three ways")
    ap.add_argument("--min-confidence", type=float, default=MIN_LINE_CONFIDENCE,
                    help="leave out a page's lines read less confidently than this")
    args = ap.parse_args(argv)
    predictor = ChinesePredictor(args.model if Path(args.model).is_file() else None, detector=args.detector,
                                 decoder=args.decoder, variants=not args.no_variants,
                                 min_confidence=args.min_confidence)

    def show(path: str, img) -> None:
        res = predictor.predict([img], detect=not args.no_detect)[0]
        print(f"{path}\n{res.text}\n")

    return for_each_image_file(args.images, show)


if __name__ == "__main__":
    raise SystemExit(main())
