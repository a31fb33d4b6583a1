"""The text of the synthetic Chinese lines: the recogniser's training sampler draws the Latin
text printed Chinese pages carry (words, web and e-mail addresses, paths, dates, versions), in
the charset and already normalised; the held-out sets keep the plain text."""

from __future__ import annotations

import re

import numpy as np

from chinese_ocr.charset import FULL_WIDTH_MARKS, charset_chars, normalize_text
from chinese_ocr.corpus import TextSampler
from ocr_common.ctc import Charset


def _lines(sampler: TextSampler, n: int = 800) -> list[str]:
    rng = np.random.default_rng(5)
    return [sampler.line(rng, 2, 24) for _ in range(n)]


def _share(texts: list[str], keep) -> float:
    chars = "".join(texts)
    return sum(map(keep, chars)) / len(chars)


def test_latin_sampler_draws_the_latin_of_printed_pages():
    plain = _lines(TextSampler("GB2312-1"), 1500)
    latin = _lines(TextSampler("GB2312-1", latin=True), 1500)
    lower = lambda c: c.isascii() and c.islower()  # noqa: E731
    assert _share(latin, lower) >= max(0.08, 5 * _share(plain, lower))
    assert any(re.search(r"[a-z]+@[a-z0-9]+\.com", t) for t in latin)
    assert any(re.search(r"(https?://|www\.)[a-z]", t) for t in latin)
    assert any(re.search(r"\d{4}([-/.])\d\d\1\d\d", t) for t in latin)
    assert any(re.fullmatch(r"[A-Za-z]+( [A-Za-z]+)+", t) for t in latin)  # whole English lines
    leaders = [t for t in latin if re.fullmatch(r"[^.]+\.{3,}\d+(\.\d\d)?", t)]  # contents / price rows
    assert 0.005 < len(leaders) / len(latin) < 0.05 and all(len(t) <= 24 for t in leaders)
    assert not any("..." in t for t in plain)
    assert _share(latin, lambda c: "\u4e00" <= c <= "\u9fff") > 0.6  # still Chinese text first
    cs = Charset(charset_chars("GB2312-1"))
    bad = [t for t in latin if not (t and cs.covers(t) and normalize_text(t) == t)]
    assert not bad, bad[:5]


def test_same_seed_same_lines_and_held_out_sets_stay_plain():
    from chinese_ocr import synth

    assert _lines(TextSampler("GB2312-1", latin=True), 50) == _lines(TextSampler("GB2312-1", latin=True), 50)
    assert synth.Renderer("heldout").sampler.latin is None and synth.Renderer("eval").sampler.latin is None
    assert synth.Renderer("train").sampler.latin is not None


def test_latin_sampler_sets_latin_off_by_spaces_both_ways_and_brackets_words_the_chinese_way():
    """Printed pages put a space on both sides of a Latin word or on neither, and set Chinese words
    and Latin terms in full-width brackets: the training lines carry all of it, about as often
    after a Latin word as before it."""
    latin = _lines(TextSampler("GB2312-1", latin=True), 3000)
    han, word = "[\u4e00-\u9fff]", "[A-Za-z0-9]"
    count = lambda pattern: sum(len(re.findall(pattern, t)) for t in latin)  # noqa: E731
    before, after = count(han + " " + word), count(word + " " + han)
    assert before > 50 and after > 50 and 0.5 < after / before < 2
    assert count(han + word) > 50 and count(word + han) > 50
    assert count(han + "（" + word + "[^）]*）") > 3  # 识别（OCR）
    assert count("（" + han + "+）") > 3 and count("《" + han + "+》") > 3
    assert count(r"\(") < count("（")
    marks = "[" + FULL_WIDTH_MARKS + "]"
    assert count(" " + marks + "|" + marks + " ") == 0  # Chinese punctuation carries its own space


def test_latin_sampler_draws_underscores_and_tight_counts():
    """What the recogniser got wrong on real lines for want of it in training: ``chineseocr_lite``
    and ``%name_%date`` (underscores), ``（5人）`` (a count set tight against its measure word)."""
    latin = _lines(TextSampler("GB2312-1", latin=True), 3000)
    count = lambda lines, pattern: sum(len(re.findall(pattern, t)) for t in lines)  # noqa: E731
    assert count(latin, r"[a-z]_[a-z]") > 10 and count(latin, r"%[a-zA-Z]+_%?[a-zA-Z]") > 3
    assert count(latin, r"\d(人|个|元|次|件|页|天|年)") > 20
    assert count(latin, r"\d (人|个|元|次|件|页|天)") < count(latin, r"\d(人|个|元|次|件|页|天)") / 3
    assert all(len(t) <= 24 for t in latin)
