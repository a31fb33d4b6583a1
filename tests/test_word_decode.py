"""Prefix tree, word beam search and spelling correction of handwrite_word_ocr on hand-built inputs."""

from __future__ import annotations

import itertools
import math
import string

import numpy as np
import pytest

from handwrite_word_ocr.decode import (
    PrefixTree,
    lexicon_variants,
    word_beam_search,
    word_beam_search_batch,
    word_beam_search_beams,
)
from handwrite_word_ocr.spelling import Speller, default_lexicon_tree, default_speller, english_words
from ocr_common.ctc import BLANK, Charset, beam_search_text, best_path
from tests.test_ctc import frames

CS = Charset(string.ascii_letters + string.digits + " ,.'")


def spell(text: str, p: float = 0.9) -> list[dict[str, float]]:
    """One confident frame per character, a blank frame after each (so double letters survive)."""
    rows: list[dict[str, float]] = []
    for ch in text:
        rows += [{ch: p}, {"": p}]
    return rows


# -- PrefixTree ----------------------------------------------------------------------------------


def test_prefix_tree_children_words_and_membership():
    tree = PrefixTree(["the", "then", "they", "to", "", "the"])
    assert len(tree) == 4
    assert sorted(tree.children("")) == ["t"]
    assert sorted(tree.children("t")) == ["h", "o"]
    assert sorted(tree.children("the")) == ["n", "y"]
    assert tree.children("then") == "" and tree.children("x") == ""
    assert tree.is_word("the") and not tree.is_word("th") and not tree.is_word("thex")
    assert "then" in tree and "th" not in tree and 3 not in tree


def test_prefix_tree_unigram_prior():
    tree = PrefixTree(["the", "thy", "cat"], counts={"the": 900, "thy": 100})
    assert tree.log_prob("the") > tree.log_prob("thy")
    total = sum(math.exp(tree.log_prob(w)) for w in ["the", "thy", "cat"])
    assert total == pytest.approx(1.0)
    assert tree.log_prob("th") < -1e20
    uniform = PrefixTree(["a", "b"])
    assert uniform.log_prob("a") == pytest.approx(math.log(0.5))


def test_lexicon_variants_cover_capitals_and_keep_the_original():
    assert lexicon_variants(["this", "cctv"]) == {"this", "This", "THIS", "cctv", "Cctv", "CCTV"}
    assert "iPhone" in lexicon_variants(["iPhone"])


# -- word beam search ----------------------------------------------------------------------------


def test_word_beam_search_turns_a_non_word_into_the_lexicon_word():
    probs = frames(CS, [{"t": 0.9}, {"b": 0.5, "h": 0.4}, {"e": 0.9}])
    assert best_path(probs, CS) == "tbe" == beam_search_text(probs, CS)
    assert word_beam_search(probs, CS, PrefixTree(["the", "tab", "be"])) == "the"


def test_out_of_lexicon_reading_goes_to_the_most_probable_lexicon_word():
    probs = frames(CS, [{"c": 0.9}, {"x": 0.6, "a": 0.25, "o": 0.14}, {"t": 0.9}])
    assert best_path(probs, CS) == "cxt"
    assert word_beam_search(probs, CS, PrefixTree(["cot", "cat", "cut"])) == "cat"
    assert word_beam_search(probs, CS, PrefixTree(["cot", "cut"])) == "cot"


def test_digits_punctuation_and_spaces_are_free_between_words():
    tree = PrefixTree(["the", "cat", "cats"])
    assert word_beam_search(frames(CS, spell("the, cat")), CS, tree) == "the, cat"
    assert word_beam_search(frames(CS, spell("2 cats.")), CS, tree) == "2 cats."
    # Inside a sentence the misread letter is still fixed, the comma and space kept.
    rows = spell("t") + [{"b": 0.5, "h": 0.4}, {"": 0.9}] + spell("e, cat")
    assert best_path(frames(CS, rows), CS) == "tbe, cat"
    assert word_beam_search(frames(CS, rows), CS, tree) == "the, cat"


def test_a_word_cannot_be_cut_short_by_a_free_character():
    # "th" is no word, so "th," would need a free character after an unfinished word.
    probs = frames(CS, spell("th,"))
    out = word_beam_search(probs, CS, PrefixTree(["the", "to"]))
    assert out != "th," and all(tok in {"the", "to"} for tok in out.replace(",", " ").split())


def test_beam_ending_inside_a_word_is_dropped():
    probs = frames(CS, [{"t": 0.9, "o": 0.05}, {"h": 0.9, "o": 0.05}])
    assert best_path(probs, CS) == "th"
    assert word_beam_search(probs, CS, PrefixTree(["the", "to"])) == "to"


def test_beam_width_matters_and_is_configurable():
    # A greedy beam keeps "a" after the first frame (0.55 > 0.44) and can only finish as "ab";
    # a wider beam keeps "c" too and finds "cd" (0.44 * 0.89 > 0.55 * 0.1).
    probs = frames(CS, [{"a": 0.55, "c": 0.44}, {"b": 0.1, "d": 0.89}])
    tree = PrefixTree(["ab", "cd"])
    assert word_beam_search(probs, CS, tree, beam_width=1) == "ab"
    assert word_beam_search(probs, CS, tree, beam_width=5) == "cd"
    with pytest.raises(ValueError):
        word_beam_search(probs, CS, tree, beam_width=0)


def test_lm_weight_prefers_the_frequent_word_when_the_frames_hesitate():
    probs = frames(CS, [{"t": 0.95}, {"h": 0.95}, {"a": 0.5, "e": 0.45}])
    tree = PrefixTree(["the", "tha"], counts={"the": 1_000_000, "tha": 10})
    assert word_beam_search(probs, CS, tree) == "tha"
    assert word_beam_search(probs, CS, tree, lm_weight=0.5) == "the"


def test_word_beam_search_matches_brute_force_over_all_alignments():
    cs = Charset("ab ")
    lexicon = {"a", "ab", "ba"}
    probs = np.random.default_rng(7).dirichlet(np.ones(cs.num_classes), size=5)
    totals: dict[str, float] = {}
    for path in itertools.product(range(cs.num_classes), repeat=len(probs)):
        ids = [c for i, c in enumerate(path) if c != BLANK and (i == 0 or c != path[i - 1])]
        text = cs.decode(ids)
        if all(tok in lexicon for tok in text.split()):
            totals[text] = totals.get(text, 0.0) + float(np.prod(probs[np.arange(len(probs)), path]))
    expected = sorted(totals.items(), key=lambda kv: -kv[1])[:5]
    beams = word_beam_search_beams(probs, cs, PrefixTree(lexicon), beam_width=1000, min_prob=0.0)[:5]
    assert [t for t, _ in beams] == [t for t, _ in expected]
    for (_, logp), (_, p) in zip(beams, expected):
        assert math.exp(logp) == pytest.approx(p, rel=1e-9)


def test_batch_and_shape_errors():
    tree = PrefixTree(["the", "cat"])
    batch = np.stack([frames(CS, spell("cat")), frames(CS, spell("the"))])
    assert word_beam_search_batch(batch, CS, tree) == ["cat", "the"]
    with pytest.raises(ValueError):
        word_beam_search(np.zeros((4, 3)), CS, tree)


def test_default_lexicon_reads_capitalised_words():
    tree = default_lexicon_tree()
    assert len(tree) > 100_000 and all(w in tree for w in ("this", "This", "THIS", "CCTV"))
    rows = spell("T") + [{"b": 0.5, "h": 0.4}, {"": 0.9}] + spell("is")
    assert best_path(frames(CS, rows), CS) == "Tbis"
    assert word_beam_search(frames(CS, rows), CS, tree) == "This"


# -- spelling ------------------------------------------------------------------------------------

SMALL = [("the", 5e-2), ("hello", 5e-4), ("help", 1e-4), ("world", 4e-4), ("receive", 1e-4),
         ("believe", 1e-4), ("cats", 1e-5), ("don't", 1e-3), ("word", 3e-4)]


@pytest.fixture(scope="module")
def speller() -> Speller:
    return Speller(SMALL)


@pytest.mark.parametrize(
    ("wrong", "right"),
    [("recieve", "receive"), ("teh", "the"), ("beleive", "believe"), ("wrld", "world"), ("dont", "don't")],
)
def test_speller_fixes_known_misspellings(speller, wrong, right):
    assert speller.correct_word(wrong) == right


def test_speller_keeps_the_case_pattern(speller):
    assert speller.correct_word("Wrold") == "World"
    assert speller.correct_word("HELO") == "HELLO"
    assert speller.correct_word("helo") == "hello"


def test_speller_leaves_known_short_and_digit_tokens_alone(speller):
    assert speller.correct_word("World") == "World" and speller.correct_word("THE") == "THE"
    assert speller.correct_word("x") == "x"
    assert speller.correct_word("wrld2") == "wrld2" and speller.correct_word("2nd") == "2nd"
    assert speller.correct_word("zzzzzzzz") == "zzzzzzzz"


def test_speller_correct_keeps_punctuation_and_whitespace(speller):
    assert speller.correct("Helo, wrld!") == "Hello, world!"
    assert speller.correct("  teh\twrold...\n(HELO) 42 wrld2") == "  the\tworld...\n(HELLO) 42 wrld2"
    assert speller.correct("") == ""


def test_english_words_are_lowercase_letters_most_frequent_first():
    words = english_words(2000)
    assert 1900 < len(words) <= 2000
    assert words[0][0] == "the"
    assert all(w.replace("'", "").isalpha() and w == w.lower() for w, _ in words)
    freqs = [f for _, f in words]
    assert freqs == sorted(freqs, reverse=True) and freqs[-1] > 0
    assert "don't" in dict(words)


def test_default_speller_on_the_50k_english_dictionary():
    sp = default_speller()
    assert sp is default_speller() and len(sp) > 45_000
    assert sp.correct("I beleive the Wrold is 2 big.") == "I believe the World is 2 big."
