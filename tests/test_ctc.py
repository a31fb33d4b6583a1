"""Charset, CTC decoders, confidence and text metrics of ocr_common.ctc on hand-built matrices."""

from __future__ import annotations

import itertools
import math
import string

import numpy as np
import pytest

from ocr_common.ctc import (
    BLANK,
    Charset,
    beam_search,
    beam_search_text,
    best_path,
    best_path_batch,
    best_path_ids,
    cer,
    edit_distance,
    metrics_table,
    sequence_confidence,
    text_metrics,
)

CS = Charset(string.ascii_lowercase)


def frames(cs: Charset, rows: list[dict[str, float]]) -> np.ndarray:
    """(T, C) probabilities: each row names some classes ("" = blank); the rest share what is left."""
    out = np.zeros((len(rows), cs.num_classes))
    for t, row in enumerate(rows):
        named = {BLANK if ch == "" else cs.index(ch): p for ch, p in row.items()}
        rest = (1.0 - sum(named.values())) / (cs.num_classes - len(named))
        out[t] = rest
        for i, p in named.items():
            out[t, i] = p
    return out


def collapse(path: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(c for i, c in enumerate(path) if c != BLANK and (i == 0 or c != path[i - 1]))


# -- Charset -------------------------------------------------------------------------------------


def test_charset_blank_is_zero_and_classes_start_at_one():
    cs = Charset("abc")
    assert BLANK == 0
    assert cs.num_classes == 4
    assert [cs.index(c) for c in "abc"] == [1, 2, 3]
    assert cs.encode("cab") == [3, 1, 2]


def test_charset_decode_skips_blank_and_out_of_range_but_keeps_repeats():
    cs = Charset("abc")
    assert cs.decode([1, 0, 1, 2, 2, 3]) == "aabbc"
    assert cs.decode(np.array([0, 4, -1, 99, 3])) == "c"
    assert cs.decode(cs.encode("abba")) == "abba"


def test_charset_errors_name_the_character():
    with pytest.raises(ValueError, match="duplicate.*'a'"):
        Charset("abca")
    with pytest.raises(ValueError):
        Charset("")
    with pytest.raises(ValueError, match="'x'"):
        Charset("abc").encode("axb")
    with pytest.raises(ValueError, match="'z'"):
        Charset("abc").index("z")
    assert Charset("abc").covers("cab") and not Charset("abc").covers("cat")


def test_encode_batch_pads_with_blank_and_rejects_long_labels():
    cs = Charset("abc")
    labels = cs.encode_batch(["ab", "", "cab"], max_len=4)
    assert labels.dtype == np.int32 and labels.shape == (3, 4)
    assert labels.tolist() == [[1, 2, 0, 0], [0, 0, 0, 0], [3, 1, 2, 0]]
    with pytest.raises(ValueError, match="max_len=2"):
        cs.encode_batch(["abc"], max_len=2)


def test_charset_is_frozen_and_hashable():
    cs = Charset("ab")
    assert cs == Charset("ab") and hash(cs) == hash(Charset("ab"))
    with pytest.raises(AttributeError):
        cs.chars = "xy"  # type: ignore[misc]


# -- best path -----------------------------------------------------------------------------------


def test_best_path_collapses_repeats_and_keeps_blank_separated_double_letters():
    # h h e l l - l o o -  -> "hello": the blank between the l's keeps both of them.
    probs = frames(CS, [{"h": 0.9}, {"h": 0.8}, {"e": 0.7}, {"l": 0.9}, {"l": 0.6}, {"": 0.8}, {"l": 0.9},
                        {"o": 0.9}, {"o": 0.5}, {"": 0.9}])
    assert best_path(probs, CS) == "hello"
    assert best_path_ids(probs) == CS.encode("hello")


def test_best_path_of_all_blanks_is_empty_and_batch_matches_single():
    blank = frames(CS, [{"": 0.9}] * 4)
    word = frames(CS, [{"": 0.9}, {"o": 0.8}, {"k": 0.8}, {"": 0.9}])
    assert best_path(blank, CS) == ""
    assert best_path_batch(np.stack([blank, word]), CS) == ["", "ok"]
    with pytest.raises(ValueError):
        best_path(np.zeros((4, 5)), CS)


# -- beam search ---------------------------------------------------------------------------------


def test_beam_search_sums_alignments_where_best_path_cannot():
    # Each frame: blank 0.6, "a" 0.4. The best single path is blank-blank (""), but "a" has three
    # alignments (a-, -a, aa) worth 0.24 + 0.24 + 0.16 = 0.64 > 0.36.
    cs = Charset("a")
    probs = np.array([[0.6, 0.4], [0.6, 0.4]])
    assert best_path(probs, cs) == ""
    beams = beam_search(probs, cs, beam_width=5)
    assert [text for text, _ in beams] == ["a", ""]
    assert math.isclose(math.exp(beams[0][1]), 0.64) and math.isclose(math.exp(beams[1][1]), 0.36)
    assert beam_search_text(probs, cs) == "a"


def test_beam_search_matches_brute_force_over_all_alignments():
    cs = Charset("ab")
    probs = np.random.default_rng(3).dirichlet(np.ones(cs.num_classes), size=5)
    totals: dict[str, float] = {}
    for path in itertools.product(range(cs.num_classes), repeat=len(probs)):
        text = cs.decode(collapse(path))
        totals[text] = totals.get(text, 0.0) + float(np.prod(probs[np.arange(len(probs)), path]))
    expected = sorted(totals.items(), key=lambda kv: -kv[1])
    beams = beam_search(probs, cs, beam_width=1000, min_prob=0.0)
    assert [t for t, _ in beams[:5]] == [t for t, _ in expected[:5]]
    for (_, logp), (_, p) in zip(beams[:5], expected[:5]):
        assert math.isclose(math.exp(logp), p, rel_tol=1e-9)


def test_beam_search_over_many_classes_uses_only_those_offered_and_sums_like_brute_force():
    """A 60-class charset where each frame offers the blank and two scattered characters (every
    other class exactly 0): the search takes logs of the offered columns alone, yet sums each
    text's alignments exactly as brute force over the offered classes does."""
    chars = "".join(chr(0x4E00 + i) for i in range(60))
    cs = Charset(chars)
    rng = np.random.default_rng(11)
    probs = np.zeros((5, cs.num_classes))
    offered = []
    for t in range(len(probs)):
        ids = [0, *rng.choice(np.arange(1, cs.num_classes), size=2, replace=False)]
        probs[t, ids] = 0.05 + 0.85 * rng.dirichlet(np.ones(3))
        probs[t] /= probs[t].sum()
        offered.append(ids)
    totals: dict[str, float] = {}
    for path in itertools.product(*offered):
        text = cs.decode(collapse(path))
        totals[text] = totals.get(text, 0.0) + float(np.prod(probs[np.arange(len(probs)), path]))
    expected = sorted(totals.items(), key=lambda kv: -kv[1])
    beams = beam_search(probs, cs, beam_width=1000)
    assert [t for t, _ in beams[:6]] == [t for t, _ in expected[:6]]
    for (_, logp), (_, p) in zip(beams[:6], expected[:6]):
        assert math.isclose(math.exp(logp), p, rel_tol=1e-9)


def test_beam_search_agrees_with_best_path_on_confident_frames():
    probs = frames(CS, [{"c": 0.95}, {"": 0.9}, {"a": 0.95}, {"t": 0.95}, {"t": 0.9}])
    assert beam_search_text(probs, CS, beam_width=3) == best_path(probs, CS) == "cat"
    with pytest.raises(ValueError):
        beam_search(probs, CS, beam_width=0)


# -- confidence ----------------------------------------------------------------------------------


def test_sequence_confidence_is_per_character_not_per_frame_product():
    short = frames(CS, [{"o": 0.9}, {"": 0.99}, {"k": 0.9}])
    long = frames(CS, [{"w": 0.9}, {"o": 0.9}, {"": 0.99}, {"r": 0.9}, {"d": 0.9}, {"s": 0.9}])
    assert math.isclose(sequence_confidence(short), 0.9) and math.isclose(sequence_confidence(long), 0.9)
    doubtful = frames(CS, [{"o": 0.4}, {"k": 0.4}])
    assert 0.0 <= sequence_confidence(doubtful) < sequence_confidence(short) <= 1.0
    assert math.isclose(sequence_confidence(frames(CS, [{"": 0.8}] * 3)), 0.8)


# -- metrics -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "d"),
    [("kitten", "sitting", 3), ("", "abc", 3), ("abc", "", 3), ("flaw", "lawn", 2), ("same", "same", 0),
     ("hello", "helo", 1), ("ab", "ba", 2)],
)
def test_edit_distance(a, b, d):
    assert edit_distance(a, b) == d == edit_distance(b, a)


def test_cer_and_text_metrics_on_known_pairs():
    assert cer("helo", "hello") == pytest.approx(0.2)
    assert cer("", "") == 0.0 and cer("ab", "") == 2.0
    m = text_metrics(["hello", "World", "cat"], ["hello", "world", "dog"])
    assert m["n"] == 3
    assert m["cer"] == pytest.approx((0 + 1 + 3) / 13)
    assert m["word_accuracy"] == pytest.approx(1 / 3) and m["word_accuracy_ci"] == pytest.approx(2 / 3)
    assert "wer" not in m
    lines = text_metrics(["the cat sat", "on a mat"], ["the cat sat", "on the mat"])
    assert lines["wer"] == pytest.approx(1 / 6)
    with pytest.raises(ValueError):
        text_metrics(["a"], ["a", "b"])


def test_edit_distance_is_fast_enough_for_an_evaluation_set():
    words = ["".join(p) for p in itertools.islice(itertools.permutations("abcdefghij"), 10000)]
    total = sum(edit_distance(w, w[::-1]) for w in words)
    assert total > 0


def test_metrics_table_has_a_row_per_decoder():
    rows = {
        "best path": text_metrics(["helo", "world"], ["hello", "world"]),
        "word beam": text_metrics(["hello", "world"], ["hello", "world"]),
    }
    table = metrics_table(rows)
    lines = table.splitlines()
    assert lines[0].startswith("| name | n | CER | word acc | word acc (ci) |")
    assert len(lines) == 4
    assert "| best path | 2 | 0.1000 | 0.5000 | 0.5000 |" in table
    assert "| word beam | 2 | 0.0000 | 1.0000 | 1.0000 |" in table
