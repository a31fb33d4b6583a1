"""Predictor for handwritten words and phrases: segment -> preprocess -> CRNN -> decode.

``python -m handwrite_word_ocr.predict IMAGE... [--model models/word.keras] [--no-segment]
[--decoder word-beam]`` prints each image's reading. The server uses :class:`WordPredictor`.

A phrase or a page of handwriting is cut into words first (:mod:`handwrite_word_ocr.segment`,
Manmatha & Srimal's scale-space method), every word is normalised exactly as in training and
read in one batch, and the words are joined by spaces and the lines by newlines.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from handwrite_word_ocr.config import WordConfig
from handwrite_word_ocr.preprocess import normalize_batch
from ocr_common.config import load_config
from ocr_common.ctc import Charset, beam_search_text, best_path, sequence_confidence

# Decoders by name; each maps (probs (T, C), charset) -> text. "word-beam" constrains words to
# the English lexicon (word beam search), "beam+spell" decodes freely and then corrects spelling.
DECODERS: tuple[str, ...] = ("best-path", "beam", "beam+spell", "word-beam")
LEXICON_DECODER = "word-beam"
FREE_DECODER = "beam"
LM_WEIGHT = 0.3  # unigram prior in word beam search: between two spellings, the commoner word


@dataclass
class WordReading:
    text: str
    box: list[int]  # x0, y0, x1, y1 in pixels of the image, exclusive
    line: int
    confidence: float

    def to_dict(self) -> dict:
        return {"text": self.text, "box": list(self.box), "line": self.line, "confidence": self.confidence}


@dataclass
class WordResult:
    text: str  # words joined by spaces, lines by "\n", reading order
    words: list[WordReading] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"text": self.text, "words": [w.to_dict() for w in self.words]}


def config_path_for(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


def decoder(name: str, beam_width: int = 25) -> Callable[[np.ndarray, Charset], str]:
    """The decoding function called ``name`` (one of :data:`DECODERS`)."""
    if name == "best-path":
        return best_path
    if name == "beam":
        return lambda p, cs: beam_search_text(p, cs, beam_width=min(beam_width, 10))
    if name == "beam+spell":
        from handwrite_word_ocr.spelling import default_speller

        return lambda p, cs: default_speller().correct(beam_search_text(p, cs, beam_width=min(beam_width, 10)))
    if name == "word-beam":
        from handwrite_word_ocr.decode import word_beam_search
        from handwrite_word_ocr.spelling import default_lexicon_tree

        return lambda p, cs: word_beam_search(p, cs, default_lexicon_tree(), beam_width=beam_width,
                                              lm_weight=LM_WEIGHT)
    raise ValueError(f"unknown decoder {name!r}; choose one of {list(DECODERS)}")


class WordPredictor:
    """A word model on the shared runtime (ONNX Runtime or TensorFlow, micro-batching), the word
    segmenter and the decoders. ``predict`` is safe to call from several threads. The lexicon and
    the speller are built once, at construction (a few seconds), not on the first request."""

    def __init__(self, model_path: str | Path, config: WordConfig | None = None, *, backend: str | None = None,
                 batching: bool = False, max_wait_ms: float = 0.0, beam_width: int = 25, batch_size: int = 32,
                 onnx_cache_dir: str | Path | None = None, warm_lexicon: bool = True):
        from ocr_common.runtime import ModelRuntime

        self.model_path = Path(model_path)
        self.config = config or load_config(WordConfig, config_path_for(model_path))
        self.charset = Charset(self.config.chars)
        self.runtime = ModelRuntime(self.model_path, backend=backend, batch_buckets=(1, 8), max_batch=batch_size,
                                    batching=batching, max_wait_ms=max_wait_ms, onnx_cache_dir=onnx_cache_dir)
        self.beam_width = beam_width
        if warm_lexicon:
            from handwrite_word_ocr.spelling import default_lexicon_tree, default_speller

            default_lexicon_tree()
            default_speller()

    @property
    def backend(self) -> str:
        return self.runtime.backend

    def close(self) -> None:
        self.runtime.close()

    def probabilities(self, crops: list[np.ndarray]) -> np.ndarray:
        """Word images (any size, either polarity) -> (N, frames, classes) character probabilities."""
        batch = normalize_batch(crops, self.config.height, self.config.width)
        return self.runtime.run(batch)[0]

    def locate(self, images: list[np.ndarray], segment: bool = True) -> list[tuple[list, np.ndarray]]:
        """Per image: its word boxes (:class:`~handwrite_word_ocr.segment.WordBox`, reading order)
        and their character probabilities ``(words, frames, classes)``, all words of all images in
        one model call. ``segment=False``: the whole image is one word."""
        from handwrite_word_ocr.segment import WordBox, crop_words, segment_words

        boxes, crops = [], []
        for img in images:
            if segment:
                b = segment_words(img)
                crops += crop_words(img, b)
            else:
                h, w = img.shape[:2]
                b = [WordBox(0, 0, w, h, 0)]
                crops.append(img)
            boxes.append(b)
        probs = self.probabilities(crops) if crops else np.zeros((0, self.config.frames, self.charset.num_classes))
        splits = np.cumsum([len(b) for b in boxes])[:-1]
        return list(zip(boxes, np.split(probs, splits)))

    def assemble(self, boxes: list, probs: np.ndarray, decoder_name: str = LEXICON_DECODER) -> WordResult:
        """One image's reading from :meth:`locate`'s boxes and probabilities."""
        decode = decoder(decoder_name, self.beam_width)
        words = []
        for box, p in zip(boxes, probs):
            text = decode(p, self.charset).strip()
            if text:
                words.append(WordReading(text, box.box, box.line, round(float(sequence_confidence(p)), 6)))
        return WordResult(join_lines(words), words)

    def predict(self, images: list[np.ndarray], segment: bool = True, lexicon: bool = True,
                decoder_name: str | None = None) -> list[WordResult]:
        """Decoded images -> one :class:`WordResult` each. ``segment=False`` reads each image as one
        word; ``lexicon=False`` decodes without the dictionary (beam search, no spelling)."""
        name = decoder_name or (LEXICON_DECODER if lexicon else FREE_DECODER)
        return [self.assemble(boxes, probs, name) for boxes, probs in self.locate(images, segment)]


def join_lines(words: list[WordReading]) -> str:
    """Words in reading order -> text: spaces within a line, newlines between lines."""
    lines: dict[int, list[str]] = {}
    for w in words:
        lines.setdefault(w.line, []).append(w.text)
    return "\n".join(" ".join(lines[k]) for k in sorted(lines))


def main(argv: list[str] | None = None) -> int:
    from ocr_common.image import for_each_image_file

    ap = argparse.ArgumentParser(prog="python -m handwrite_word_ocr.predict", description=__doc__,
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("images", nargs="+", help="image files (PNG, JPEG, BMP, TIFF, WebP)")
    ap.add_argument("--model", default="models/word.keras", help="weights file; its config is the .json beside it")
    ap.add_argument("--no-segment", action="store_true", help="read each image as one word")
    ap.add_argument("--decoder", default=LEXICON_DECODER, choices=DECODERS)
    args = ap.parse_args(argv)
    predictor = WordPredictor(args.model)

    def show(path: str, img) -> None:
        res = predictor.predict([img], segment=not args.no_segment, decoder_name=args.decoder)[0]
        print(f"{path}\t{res.text!r}")

    return for_each_image_file(args.images, show)


if __name__ == "__main__":
    raise SystemExit(main())
