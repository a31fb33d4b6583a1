"""The line recogniser on the shared runtime: line images -> text with a confidence.

Every line is normalised exactly as in training (:func:`chinese_ocr.preprocess.normalize_line`,
32 px high, its own width rounded up to the network stride) and the lines of a request run in
one batch, grouped by width bucket. Decoding is best path, prefix beam search, or prefix beam
search steered by a character bigram model of jieba's dictionary words (``beam-lm``,
:mod:`chinese_ocr.lm`: a pair of Chinese characters that words often carry is rewarded). The
plate reader decodes plates without it (a plate is not a word).

A line read with a confidence under :data:`REREAD_BELOW`, or read as a licence plate (where every
character counts, :func:`chinese_ocr.plates.is_plate`), is read twice more
(:func:`chinese_ocr.preprocess.reading_variants`: a little tighter, a little wider; all such lines
in one batch) and the most confident of its three readings is kept (:meth:`LineRecognizer.refine`).
``LineRecognizer(variants=False)`` reads each line once.

With a plate reader (``plate_model``: a recogniser trained on licence plates alone, ``python -m
chinese_ocr.train --charset plates``), a line whose reading looks like a plate
(:func:`chinese_ocr.plates.looks_like_plate`: a plate, or one a character short or long) is read
by it, as the same three variants; its most confident reading that is a plate replaces the line's.
Where none of the three is a plate, the line is read as any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chinese_ocr.charset import pair_brackets, tight_marks
from chinese_ocr.config import ChineseConfig
from chinese_ocr.lm import ALPHA, CharBigram, dictionary_bigram
from chinese_ocr.plates import is_plate, looks_like_plate
from chinese_ocr.preprocess import MAX_WIDTH, normalize_line, reading_variants
from ocr_common.config import load_config
from ocr_common.ctc import BLANK, Charset, beam_search_text, best_path, sequence_confidence

DECODERS: tuple[str, ...] = ("best-path", "beam", "beam-lm")
DEFAULT_DECODER = "beam-lm"  # what the server and evaluate read with (docs/chinese.md, "A language model")
# Lines read less confidently than this are read again as variants (LineRecognizer.refine).
# Reading every line three ways gave CER 0.1217 on the real zh_dev lines (once: 0.1406) and 0.1318
# on the held-out face (0.1505); re-reading only those under 0.9 gave 0.1220 and 0.1312, re-reading
# 58 % and 63 % of the lines (the 24-epoch CRNN).
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


def decode(probs: np.ndarray, charset: Charset, decoder: str = "best-path", beam_width: int = 10,
           lm: CharBigram | None = None) -> str:
    """``beam-lm`` needs ``lm`` (:func:`chinese_ocr.lm.dictionary_bigram`); the others ignore it."""
    if decoder == "best-path":
        return best_path(probs, charset)
    if decoder == "beam":
        return beam_search_text(probs, charset, beam_width=beam_width)
    if decoder == "beam-lm":
        if lm is None:
            raise ValueError("the beam-lm decoder needs a language model (lm=)")
        return beam_search_text(probs, charset, beam_width=beam_width, bonus=lm)
    raise ValueError(f"unknown decoder {decoder!r}; choose one of {list(DECODERS)}")


def reading(probs: np.ndarray, charset: Charset, decoder: str = "best-path", lm: CharBigram | None = None
            ) -> LineText:
    """One line's ``(frames, classes)`` probabilities -> its text (spaces squashed, none beside a
    full-width mark: :func:`chinese_ocr.charset.tight_marks`; a closing parenthesis as wide as the
    one it closes: :func:`~chinese_ocr.charset.pair_brackets`) and
    :func:`~ocr_common.ctc.sequence_confidence` (0 for an empty reading)."""
    text = pair_brackets(tight_marks(" ".join(decode(probs, charset, decoder, lm=lm).split())))
    return LineText(text, round(float(sequence_confidence(probs)), 6) if text else 0.0)


def line_confidence(probs: np.ndarray) -> float:
    """The confidence :func:`reading` gives a line, without decoding it: 0 where best path reads
    nothing (every frame's best class the blank)."""
    if not (np.asarray(probs).argmax(axis=-1) != BLANK).any():
        return 0.0
    return round(float(sequence_confidence(probs)), 6)


def read_again(first: LineText, unsure: bool = True) -> bool:
    """Whether a line read once is read again as variants: a licence plate, or (``unsure``) read
    with confidence under :data:`REREAD_BELOW`."""
    return is_plate(first.text) or (unsure and first.confidence < REREAD_BELOW)


class LineRecognizer:
    """A recogniser model on :class:`~ocr_common.runtime.ModelRuntime` (ONNX Runtime or
    TensorFlow, optional micro-batching); thread-safe."""

    def __init__(self, model_path: str | Path, config: ChineseConfig | None = None, *, backend: str | None = None,
                 batching: bool = False, max_wait_ms: float = 0.0, batch_size: int = 32,
                 onnx_cache_dir: str | Path | None = None, variants: bool = True,
                 plate_model: str | Path | None = None, width_buckets: Sequence[int] = WIDTH_BUCKETS):
        from ocr_common.runtime import ModelRuntime

        self.model_path = Path(model_path)
        self.config = config or load_config(ChineseConfig, config_path_for(model_path))
        self.charset = Charset(self.config.chars)
        self.variants = variants
        self.lm_alpha = ALPHA
        buckets = {2: tuple(width_buckets)} if width_buckets else None
        self.runtime = ModelRuntime(self.model_path, backend=backend, batch_buckets=(1, 8), max_batch=batch_size,
                                    stride=self.config.stride, buckets=buckets,
                                    batching=batching, max_wait_ms=max_wait_ms, onnx_cache_dir=onnx_cache_dir)
        # The plate reader: a recogniser of its own (read once per variant; never itself refined).
        # A plate's three views run as one batch at the widest view's width (no width buckets: a
        # plate at 32 px high is about 128 wide, its wider view 144, which a bucket would pad to
        # 192): 5.1 ms against 6.8 for the two calls the buckets made, the same readings on the
        # plates (docs/chinese.md, "One line quicker, same readings").
        self.plates = LineRecognizer(plate_model, backend=backend, batch_size=batch_size, onnx_cache_dir=onnx_cache_dir,
                                     variants=False, width_buckets=()) if plate_model else None

    @property
    def backend(self) -> str:
        return self.runtime.backend

    def lm(self, decoder: str) -> CharBigram | None:
        """The language model ``decoder`` needs (built once per process and charset; weighted by
        ``lm_alpha``, :data:`chinese_ocr.lm.ALPHA` unless set), else None."""
        if decoder != "beam-lm":
            return None
        lm = dictionary_bigram(self.config.chars, self.config.charset)
        return lm if self.lm_alpha == lm.alpha else lm.with_alpha(self.lm_alpha)

    def close(self) -> None:
        self.runtime.close()
        if self.plates is not None:
            self.plates.close()

    def normalize(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Line images (any size, either polarity) -> float32 (32, W) in [0, 1], W a multiple of the stride."""
        c = self.config
        return [normalize_line(im, c.height, None, c.stride).astype(np.float32) / 255.0 for im in images]

    def probabilities(self, images: Sequence[np.ndarray], together: bool = False) -> list[np.ndarray]:
        """Per line: its ``(frames, classes)`` character probabilities, padding frames cut off;
        ``together``: all the lines in one batch (:meth:`~ocr_common.runtime.ModelRuntime.run_images`)."""
        if not images:
            return []
        return [r.outputs[0] for r in self.runtime.run_images(self.normalize(images), together)]

    def confidences(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Per line: the confidence of its reading once as given, without decoding it (the
        orientation check needs no text of the way round it rejects)."""
        return np.array([line_confidence(p) for p in self.probabilities(images)], np.float64)

    def read(self, images: Sequence[np.ndarray], decoder: str = "best-path", variants: bool | None = None
             ) -> list[LineText]:
        """The lines' readings; ``variants`` (default: the recogniser's setting) False reads each
        once, else :meth:`refine` reads the unsure ones again."""
        lm = self.lm(decoder)
        first = [reading(p, self.charset, decoder, lm) for p in self.probabilities(images)]
        return self.refine(images, first, decoder) if (self.variants if variants is None else variants) else first

    def refine(self, images: Sequence[np.ndarray], first: Sequence[LineText], decoder: str = "best-path",
               unsure: bool = True) -> list[LineText]:
        """``first``, the lines read once as given, with every line :func:`read_again` picks
        (``unsure`` False: plates only) read twice more (the other
        :func:`~chinese_ocr.preprocess.reading_variants`, all in one batch) and replaced by the
        most confident of its three readings (``once`` keeps the first reading's confidence).
        With a plate reader, the lines that look like plates are read by it first (module
        docstring); those it reads as plates are done."""
        out = list(first)
        done = self._read_plates(images, first, decoder, out) if self.plates is not None else set()
        again = [i for i, r in enumerate(first) if i not in done and read_again(r, unsure)]
        extra = [reading_variants(images[i])[1:] for i in again]
        probs = iter(self.probabilities([v for vs in extra for v in vs]))
        lm = self.lm(decoder)
        for i, vs in zip(again, extra):
            best = max([first[i]] + [reading(next(probs), self.charset, decoder, lm) for _ in vs],
                       key=lambda r: r.confidence)  # the first on a tie
            out[i] = LineText(best.text, best.confidence, first[i].confidence)
        return out

    def _read_plates(self, images: Sequence[np.ndarray], first: Sequence[LineText], decoder: str,
                     out: list[LineText]) -> set[int]:
        """The lines of ``first`` that look like plates, read by the plate reader as the three
        variants (one batch a line, at its widest view's width); where one of its readings is a
        plate, the most confident such one goes into ``out``. Returns the indices so answered."""
        idx = [i for i, r in enumerate(first) if looks_like_plate(r.text)]
        if not idx:
            return set()
        views = [reading_variants(images[i]) for i in idx]
        probs = iter([p for vs in views for p in self.plates.probabilities(vs, together=True)])
        # A plate is not a word; and beam search reads the validation plates exactly as best path
        # does (chinese_ocr.evaluate, 2026-12-05), a few ms later on each of the three views.
        decoder = "best-path" if decoder == "beam-lm" else decoder
        done = set()
        for i, vs in zip(idx, views):
            plates = [r for r in (reading(next(probs), self.plates.charset, decoder) for _ in vs) if is_plate(r.text)]
            if plates:
                best = max(plates, key=lambda r: r.confidence)  # the first on a tie
                out[i] = LineText(best.text, best.confidence, first[i].confidence)
                done.add(i)
        return done
