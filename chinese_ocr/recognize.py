"""The line recogniser on the shared runtime: line images -> text with a confidence.

Every line is normalised exactly as in training (:func:`chinese_ocr.preprocess.normalize_line`,
32 px high, its own width rounded up to the network stride) and the lines of a request run in
one batch, grouped by width bucket. Decoding is best path (the default: Chinese has no
dictionary here to steer a beam) or prefix beam search.

A line read with a confidence under :data:`REREAD_BELOW`, or read as a licence plate (where every
character counts), is read twice more
(:func:`chinese_ocr.preprocess.reading_variants`: a little tighter, a little wider; all such lines
in one batch) and the most confident of its three readings is kept; a reading with the form of a
licence plate is decoded again within the plate format (:mod:`chinese_ocr.plates`).
``LineRecognizer(variants=False)`` reads each line once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chinese_ocr.config import ChineseConfig
from chinese_ocr.plates import is_plate, read_plate
from chinese_ocr.preprocess import MAX_WIDTH, normalize_line, reading_variants
from ocr_common.config import load_config
from ocr_common.ctc import Charset, beam_search_text, best_path, sequence_confidence

DECODERS: tuple[str, ...] = ("best-path", "beam")
# Lines read less confidently than this are read again as variants. Reading every line three ways
# gave CER 0.1217 on the real zh_dev lines (once: 0.1406) and 0.1318 on the held-out face (0.1505);
# re-reading only those under 0.9 gave 0.1220 and 0.1312, re-reading 58 % and 63 % of the lines.
REREAD_BELOW = 0.9
# Widths (px at height 32) a line is padded up to, so the TensorFlow backend traces a few shapes.
WIDTH_BUCKETS: tuple[int, ...] = (64, 128, 192, 280, 384, 512, 768, 1024, MAX_WIDTH)


@dataclass
class LineText:
    """A line's reading: its text, its confidence, and ``once``, the confidence of the line read
    once as given (what the orientation check compares; the same as ``confidence`` when the line
    was not read again as variants)."""

    text: str
    confidence: float
    once: float | None = None

    def __post_init__(self):
        if self.once is None:
            self.once = self.confidence


def config_path_for(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


def decode(probs: np.ndarray, charset: Charset, decoder: str = "best-path", beam_width: int = 10) -> str:
    if decoder == "best-path":
        return best_path(probs, charset)
    if decoder == "beam":
        return beam_search_text(probs, charset, beam_width=beam_width)
    raise ValueError(f"unknown decoder {decoder!r}; choose one of {list(DECODERS)}")


def choose(probs: Sequence[np.ndarray], charset: Charset, decoder: str = "best-path") -> LineText:
    """One line's reading from the probabilities of its variants (the line as given first): the
    most confident (:func:`~ocr_common.ctc.sequence_confidence`; the first on a tie). When that
    reading has the form of a licence plate, every variant is decoded within the plate format
    and the most confident plate is kept."""
    readings = []
    for p in probs:
        text = " ".join(decode(p, charset, decoder).split())
        readings.append(LineText(text, round(float(sequence_confidence(p)), 6) if text else 0.0))
    once = readings[0].confidence
    best = max(readings, key=lambda r: r.confidence)
    if is_plate(best.text):
        plates = [r for r in (read_plate(p, charset) for p in probs) if r is not None]
        if plates:
            plate = max(plates, key=lambda r: r.confidence)
            return LineText(plate.text, round(plate.confidence, 6), once)
    return LineText(best.text, best.confidence, once)


class LineRecognizer:
    """A recogniser model on :class:`~ocr_common.runtime.ModelRuntime` (ONNX Runtime or
    TensorFlow, optional micro-batching); thread-safe."""

    def __init__(self, model_path: str | Path, config: ChineseConfig | None = None, *, backend: str | None = None,
                 batching: bool = False, max_wait_ms: float = 0.0, batch_size: int = 32,
                 onnx_cache_dir: str | Path | None = None, variants: bool = True):
        from ocr_common.runtime import ModelRuntime

        self.model_path = Path(model_path)
        self.config = config or load_config(ChineseConfig, config_path_for(model_path))
        self.charset = Charset(self.config.chars)
        self.variants = variants
        self.runtime = ModelRuntime(self.model_path, backend=backend, batch_buckets=(1, 8), max_batch=batch_size,
                                    stride=self.config.stride, buckets={2: WIDTH_BUCKETS},
                                    batching=batching, max_wait_ms=max_wait_ms, onnx_cache_dir=onnx_cache_dir)

    @property
    def backend(self) -> str:
        return self.runtime.backend

    def close(self) -> None:
        self.runtime.close()

    def normalize(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Line images (any size, either polarity) -> float32 (32, W) in [0, 1], W a multiple of the stride."""
        c = self.config
        return [normalize_line(im, c.height, None, c.stride).astype(np.float32) / 255.0 for im in images]

    def probabilities(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per line: its ``(frames, classes)`` character probabilities, padding frames cut off."""
        if not images:
            return []
        return [r.outputs[0] for r in self.runtime.run_images(self.normalize(images))]

    def variant_probabilities(self, images: Sequence[np.ndarray], variants: bool | None = None
                              ) -> list[list[np.ndarray]]:
        """Per line: the probabilities of the line as given, then of its other reading variants
        when its best-path confidence is under :data:`REREAD_BELOW` or its best-path reading is a
        plate (and ``variants``, default the recogniser's, is on); two batches at most."""
        out = [[p] for p in self.probabilities(images)]
        if not (self.variants if variants is None else variants):
            return out
        again = [i for i, (p,) in enumerate(out)
                 if sequence_confidence(p) < REREAD_BELOW or is_plate(best_path(p, self.charset))]
        extra = [reading_variants(images[i])[1:] for i in again]
        flat = iter(self.probabilities([v for vs in extra for v in vs]))
        for i, vs in zip(again, extra):
            out[i] += [next(flat) for _ in vs]
        return out

    def read(self, images: Sequence[np.ndarray], decoder: str = "best-path", variants: bool | None = None
             ) -> list[LineText]:
        """The lines' readings; ``variants`` (default: the recogniser's setting) False reads each once."""
        return [choose(g, self.charset, decoder) for g in self.variant_probabilities(images, variants)]
