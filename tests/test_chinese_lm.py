"""The character bigram model of jieba's dictionary words and the beam decoder it steers: a pair
that words carry is rewarded where the recogniser wavers, nothing else is moved."""

from __future__ import annotations

import numpy as np
import pytest

from chinese_ocr.charset import pair_brackets, tight_marks
from chinese_ocr.lm import CharBigram, dictionary_bigram
from chinese_ocr.recognize import decode, reading
from ocr_common.ctc import Charset, beam_search

CHARS = "网络M杭州抗天"


def _probs(*frames: dict[str, float]) -> np.ndarray:
    """One row per frame: the given characters' probabilities, the rest of the mass on the blank."""
    p = np.zeros((len(frames), len(CHARS) + 1), np.float32)
    for t, f in enumerate(frames):
        for c, v in f.items():
            p[t, CHARS.index(c) + 1] = v
        p[t, 0] = 1.0 - sum(f.values())
    return p


def test_bigram_rewards_pairs_inside_words_and_nothing_else():
    lm = CharBigram(CHARS, ["网络", "杭州", "天"], np.array([10.0, 5.0, 50.0]), alpha=1.0)
    assert len(lm) == 2
    assert lm.pair("网", "络") > 0 and lm.pair("杭", "州") > 0
    assert lm.pair("络", "网") == 0 and lm.pair("M", "络") == 0 and lm.pair("抗", "州") == 0
    # PMI: log(P(网络) / (P(网) P(络))) with P over the 10 + 10 + 5 + 5 + 50 character counts
    assert lm.pair("网", "络") == pytest.approx(np.log(10 * 80 / (10 * 10)), rel=1e-5)
    bonus = lm(np.array([-1, CHARS.index("杭") + 1]), np.array([CHARS.index("州") + 1]))
    assert bonus.shape == (2, 1) and bonus[0, 0] == 0 and bonus[1, 0] > 0  # an empty beam gets none
    capped = CharBigram(CHARS, ["网络"], np.array([1.0]), alpha=0.5, cap=0.1)
    assert capped.pair("网", "络") == pytest.approx(0.05)
    assert capped.with_alpha(2.0).pair("网", "络") == pytest.approx(0.2) and capped.alpha == 0.5


def test_beam_with_the_bigram_reads_the_word_where_the_glyph_wavers():
    cs = Charset(CHARS)
    lm = CharBigram(CHARS, ["网络", "杭州"], np.array([10.0, 10.0]))
    wavering = _probs({"M": 0.5, "网": 0.45}, {}, {"络": 0.95})
    assert decode(wavering, cs, "best-path") == "M络" == decode(wavering, cs, "beam")
    assert decode(wavering, cs, "beam-lm", lm=lm) == "网络"
    beams = beam_search(wavering, cs, 5, bonus=lm)
    assert beams[0][0] == "网络" and beams[0][1] > beams[1][1]
    # A sure reading stays as read, word or not; so does one no word explains.
    sure = _probs({"抗": 0.97, "杭": 0.02}, {}, {"州": 0.97})
    assert decode(sure, cs, "beam-lm", lm=lm) == "抗州"
    other = _probs({"天": 0.5, "M": 0.45}, {}, {"络": 0.95})
    assert decode(other, cs, "beam-lm", lm=lm) == "天络"
    with pytest.raises(ValueError, match="language model"):
        decode(wavering, cs, "beam-lm")
    # the confidence is the network's, whichever text the decoder picks
    assert reading(wavering, cs, "beam-lm", lm).confidence == reading(wavering, cs, "best-path").confidence


def test_the_dictionary_model_knows_common_words():
    chars = "网络杭州适宜官M"
    lm = dictionary_bigram(chars, "GB2312-1")
    assert lm.pair("网", "络") > 1 and lm.pair("杭", "州") > 1 and lm.pair("适", "宜") > 1
    assert lm.pair("适", "官") == 0 and lm.pair("M", "络") == 0
    assert dictionary_bigram(chars, "GB2312-1") is lm  # built once


def test_a_reading_has_no_space_beside_a_full_width_mark():
    chars = "链接：h （）a"
    cs = Charset(chars)
    p = np.zeros((9, len(chars) + 1), np.float32)
    for t, c in enumerate("链接： h （a）"):
        p[t, chars.index(c) + 1] = 1.0
    assert reading(p, cs).text == "链接：h（a）"
    assert tight_marks("a ， b") == "a，b" and tight_marks("DCTCP 基于") == "DCTCP 基于"



def test_a_closing_parenthesis_is_as_wide_as_the_one_it_closes():
    chars = "识别OCR（）()件3"
    cs = Charset(chars)
    text = "识别（OCR)件(3）"
    p = np.zeros((len(text), len(chars) + 1), np.float32)
    for t, c in enumerate(text):
        p[t, chars.index(c) + 1] = 1.0
    assert reading(p, cs).text == "识别（OCR）件(3)"
    # nested pairs each keep their own width; a closing one with nothing open is left as read
    assert pair_brackets("（a(b)c)") == "（a(b)c）" and pair_brackets("a)（b") == "a)（b"
    assert pair_brackets("公式(2)与（SSH）") == "公式(2)与（SSH）"
