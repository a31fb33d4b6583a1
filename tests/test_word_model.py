"""The word CRNN: shapes of both heads, the inference cut, and a tiny model that learns to read a
handful of rendered words through CTC (the real loss, the real preprocessing, best-path decoding)."""

from __future__ import annotations

import numpy as np
import pytest

from handwrite_word_ocr.config import WordConfig
from handwrite_word_ocr.model import HEADS, build_model, compile_model, inference_model
from ocr_common.ctc import Charset, best_path_batch

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
WORDS = ["cat", "dog", "sun", "hat", "map", "pen"]


def render(word: str, shift: int = 0) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (150, 48), 255)
    ImageDraw.Draw(img).text((6 + shift, 6), word, fill=0, font=ImageFont.truetype(FONT, 30))
    return np.asarray(img)


@pytest.mark.parametrize("head", HEADS)
def test_shapes_and_inference_cut(head):
    cfg = WordConfig(head=head, base=4, units=16)
    model = build_model(cfg)
    x = np.zeros((2, cfg.height, cfg.width, 1), np.float32)
    logits = model.predict(x, verbose=0)
    assert logits.shape == (2, cfg.frames, len(cfg.chars) + 1)
    probs = inference_model(model).predict(x, verbose=0)
    assert probs.shape == logits.shape
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


def test_unknown_head_is_refused():
    with pytest.raises(ValueError, match="unknown head"):
        build_model(WordConfig(head="transformer"))


def test_tiny_crnn_learns_rendered_words():
    import keras

    from handwrite_word_ocr.preprocess import normalize_batch

    keras.utils.set_random_seed(0)
    # A small alphabet and a 64-px field keep this under a minute on two cores.
    cfg = WordConfig(base=8, units=64, width=64, chars="acdeghmnopstu")
    cs = Charset(cfg.chars)
    words = WORDS * 4
    shifts = np.repeat(np.arange(4) * 5, len(WORDS))
    x = normalize_batch([render(w, s) for w, s in zip(words, shifts)], cfg.height, cfg.width)
    y = cs.encode_batch(words, cfg.max_label)
    model = compile_model(build_model(cfg), "adam", 5e-3)
    model.fit(x, y, batch_size=4, epochs=90, verbose=0)
    test = normalize_batch([render(w, 3) for w in WORDS], cfg.height, cfg.width)
    read = best_path_batch(inference_model(model).predict(test, verbose=0), cs)
    assert sum(r == w for r, w in zip(read, WORDS)) >= 5, read
