"""English word list and spelling correction for recognised text.

The word list comes from ``wordfreq`` (frequencies from web, subtitles, books, ...), so the
lexicon and the corrector rank words by how often people write them. The corrector is
``symspellpy`` (symmetric-delete lookup: microseconds per word after a few seconds of building),
which suits a server that corrects every request.

Building costs, measured on one core of a 2-core machine shared with a training job:
``english_words(50000)`` 0.7-1.2 s (mostly wordfreq loading its table, ~70 MB), then
:func:`default_speller` ~2 s more and :func:`default_lexicon_tree` ~1 s more (~70 MB). Both are
cached per process (``lru_cache``, no lock: build them at start-up, not from racing threads).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from symspellpy import SymSpell, Verbosity

from handwrite_word_ocr.decode import PrefixTree, lexicon_variants

# Runs of letters or digits, with inner apostrophes ("don't"); everything between them
# (spaces, punctuation) is copied through untouched.
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def english_words(n: int = 50000) -> list[tuple[str, float]]:
    """The most frequent of the top ``n`` English words that are ASCII letters (inner apostrophes
    allowed), lowercase, with their ``wordfreq`` frequency, most frequent first.

    Tokens such as "1st", "e.g" or emoji are dropped, so slightly fewer than ``n`` come back
    (49,253 of 50,000). Note that wordfreq counts common misspellings as words ("recieve",
    "teh" are in the top 50k), so a corrector built on it leaves those alone.
    """
    import wordfreq  # 0.1 s of imports, paid only by callers that build a word list

    out: dict[str, float] = {}
    for word in wordfreq.top_n_list("en", n):
        w = word.lower()
        if w.isascii() and _is_alpha_word(w) and w not in out:
            out[w] = wordfreq.word_frequency(w, "en")
    return sorted(out.items(), key=lambda item: -item[1])


def _is_alpha_word(token: str) -> bool:
    """Letters with apostrophes only inside ("don't" yes, "'em" and "1st" no)."""
    return token[:1].isalpha() and token[-1:].isalpha() and token.replace("'", "").isalpha()


def _match_case(word: str, pattern: str) -> str:
    """``word`` (lowercase) written in the case pattern of ``pattern``: UPPER, Capitalised or lower."""
    if len(pattern) > 1 and pattern.isupper():
        return word.upper()
    if pattern[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


class Speller:
    """Corrects words that are not in a frequency dictionary to the closest, most frequent one.

    ``words_with_freq``: (word, frequency) pairs, default :func:`english_words`; symspell wants
    integer counts, so frequencies become ``round(freq * 1e9) + 1`` (a count of 0 would drop the
    word). Short words may move only a short distance (1 edit up to 4 letters, else
    ``max_edit_distance``): two edits turn any three-letter word into hundreds of others.
    """

    def __init__(self, words_with_freq: Iterable[tuple[str, float]] | None = None, max_edit_distance: int = 2) -> None:
        if words_with_freq is None:
            words_with_freq = english_words()
        self.max_edit_distance = max_edit_distance
        self._sym = SymSpell(max_dictionary_edit_distance=max_edit_distance, prefix_length=7)
        for word, freq in words_with_freq:
            self._sym.create_dictionary_entry(word.lower(), round(freq * 1e9) + 1)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and word.lower() in self._sym.words

    def __len__(self) -> int:
        return len(self._sym.words)

    def correct_word(self, word: str) -> str:
        """The best dictionary spelling of one word, in the word's own case pattern.

        Left alone: dictionary words (compared in lowercase), single characters, tokens with
        digits or anything but letters and inner apostrophes, and words with no suggestion.
        """
        if len(word) <= 1 or not _is_alpha_word(word) or word in self:
            return word
        distance = min(self.max_edit_distance, 1) if len(word) <= 4 else self.max_edit_distance
        # CLOSEST: every suggestion at the smallest distance, sorted by count, most frequent first.
        suggestions = self._sym.lookup(word.lower(), Verbosity.CLOSEST, max_edit_distance=distance)
        if not suggestions:
            return word
        return _match_case(suggestions[0].term, word)

    def correct(self, text: str) -> str:
        """``text`` with each word corrected; spaces, line breaks and punctuation kept exactly."""
        return _TOKEN.sub(lambda m: self.correct_word(m.group()), text)


@functools.lru_cache(maxsize=1)
def default_speller() -> Speller:
    """The English :class:`Speller` on the top 50k words, built once per process (~2.7 s)."""
    return Speller(english_words(50000))


@functools.lru_cache(maxsize=1)
def default_lexicon_tree() -> PrefixTree:
    """Prefix tree of the top 50k English words in lower, Capitalised and UPPER case (~148k
    entries, ~1.8 s and ~70 MB), with word frequencies as the unigram prior; built once."""
    counts: dict[str, float] = {}
    for word, freq in english_words(50000):
        for variant in lexicon_variants([word]):
            counts[variant] = max(freq, counts.get(variant, 0.0))
    return PrefixTree(counts, counts=counts)
