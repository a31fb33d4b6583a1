"""CTC pieces shared by every sequence recogniser: charset, decoders, confidence, text metrics.

The blank is class 0 because Keras' ``keras.losses.CTC`` uses index 0 both as the blank and as
the label padding value; characters therefore live at 1..n and a padded label row is simply
filled with :data:`BLANK`. Everything here is plain NumPy / Python so that training, evaluation
and the server decode the same way without compiled custom ops.

Decoders take per-frame *probabilities* (softmax outputs, shape ``(T, C)``), not logits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

BLANK = 0

# log(0) stand-in for beam scores: finite, so arithmetic on two of them never gives NaN (-inf - -inf).
LOG_ZERO = -1e30
_TINY = 1e-30


@dataclass(frozen=True)
class Charset:
    """The characters a model can emit; class ``i`` (1-based) is ``chars[i - 1]``, class 0 the blank.

    Saved as the plain string ``chars`` in a task config, so the predictor rebuilds exactly the
    mapping the model was trained with.
    """

    chars: str
    _index: dict[str, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.chars:
            raise ValueError("a charset needs at least one character")
        if len(set(self.chars)) != len(self.chars):
            dups = sorted({ch for ch in self.chars if self.chars.count(ch) > 1})
            raise ValueError(f"duplicate characters in charset: {''.join(dups)!r}")
        # Frozen dataclass: the lookup table is derived state, set once here.
        object.__setattr__(self, "_index", {ch: i for i, ch in enumerate(self.chars, start=1)})

    @property
    def num_classes(self) -> int:
        """Width of the model's softmax: every character plus the blank."""
        return len(self.chars) + 1

    def index(self, ch: str) -> int:
        """Class index of one character; ValueError (like ``str.index``) names it when unknown."""
        i = self._index.get(ch)
        if i is None:
            raise ValueError(f"character {ch!r} is not in the charset")
        return i

    def covers(self, text: str) -> bool:
        """True when every character of ``text`` can be encoded (used to filter training labels)."""
        return all(ch in self._index for ch in text)

    def encode(self, text: str) -> list[int]:
        """Class indices of ``text``; ValueError names the first character that has no class."""
        out = []
        for pos, ch in enumerate(text):
            i = self._index.get(ch)
            if i is None:
                raise ValueError(f"character {ch!r} at position {pos} of {text!r} is not in the charset")
            out.append(i)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Text of class indices; blanks (and out-of-range ids, e.g. padding) are skipped, repeats kept."""
        n = len(self.chars)
        return "".join(self.chars[i - 1] for i in (int(x) for x in ids) if 1 <= i <= n)

    def encode_batch(self, texts: Sequence[str], max_len: int) -> np.ndarray:
        """``(N, max_len)`` int32 labels padded with :data:`BLANK`, the layout ``keras.losses.CTC`` reads."""
        out = np.full((len(texts), max_len), BLANK, np.int32)
        for row, text in enumerate(texts):
            ids = self.encode(text)
            if len(ids) > max_len:
                raise ValueError(f"label {text!r} has {len(ids)} characters, more than max_len={max_len}")
            out[row, : len(ids)] = ids
        return out


# ---------------------------------------------------------------------------------------------
# Decoders
# ---------------------------------------------------------------------------------------------


def encode_labels(texts: Sequence[str], charset: Charset, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """``(labels (N, max_len) int32 padded with the blank, keep mask)``: texts the charset cannot
    write or CTC cannot fit are dropped (marked False) rather than failing a batch."""
    keep = np.array([0 < len(t) <= max_len and charset.covers(t) for t in texts], bool)
    y = charset.encode_batch([t if k else "" for t, k in zip(texts, keep)], max_len)
    return y, keep


def _check_probs(probs: np.ndarray, charset: Charset | None = None, ndim: int = 2) -> np.ndarray:
    probs = np.asarray(probs)
    if probs.ndim != ndim:
        raise ValueError(f"expected probabilities of {ndim} dimensions, got shape {probs.shape}")
    if charset is not None and probs.shape[-1] != charset.num_classes:
        raise ValueError(f"probabilities have {probs.shape[-1]} classes, the charset {charset.num_classes}")
    return probs


def best_path_ids(probs: np.ndarray) -> list[int]:
    """Greedy CTC decode to class ids: argmax per frame, merge repeats, then drop blanks.

    Repeats are merged before blanks are dropped, so "l l - l" gives "ll" (the blank separates
    the two letters of "hello") while "l l l" gives one "l".
    """
    ids = np.argmax(_check_probs(probs), axis=-1)
    if ids.size == 0:
        return []
    keep = np.ones(ids.shape, bool)
    keep[1:] = ids[1:] != ids[:-1]
    keep &= ids != BLANK
    return ids[keep].tolist()


def best_path(probs: np.ndarray, charset: Charset) -> str:
    """Greedy CTC decode of one ``(T, C)`` probability matrix to text."""
    return charset.decode(best_path_ids(_check_probs(probs, charset)))


def best_path_batch(probs: np.ndarray, charset: Charset) -> list[str]:
    """Greedy CTC decode of an ``(N, T, C)`` batch."""
    probs = _check_probs(probs, charset, ndim=3)
    return [charset.decode(best_path_ids(p)) for p in probs]


def beam_search(
    probs: np.ndarray, charset: Charset, beam_width: int = 10, *, min_prob: float = 1e-4,
    bonus: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> list[tuple[str, float]]:
    """CTC prefix beam search; beams best first as ``(text, log probability)``.

    Unlike best path, a text's probability is summed over all frame alignments that spell it,
    which matters when the network spreads a letter over several uncertain frames. Each beam
    keeps two log probabilities, ending in a blank and ending in its last character, because a
    repeated letter may only be appended after a blank.

    Extensions by characters below ``min_prob`` in a frame are not tried, so a 6000-class Chinese
    charset costs about what an 80-class one does; the frame loop is vectorised over beams x
    characters and only the survivors are turned into Python objects.

    ``bonus(last, cands)``: a language model's score, in nats, for appending each class id of
    ``cands`` to beams ending in the class ids ``last`` (-1: an empty beam), shape
    ``(len(last), len(cands))``. A beam's bonuses add up beside its CTC probability and rank the
    beams with it; the returned score is the sum.
    """
    probs = _check_probs(probs, charset)
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
    chars = charset.chars
    # Only the blank and the classes some frame offers as a candidate can ever be read (a beam's
    # last character was a candidate once), so the logs are taken of those columns alone, and
    # every class id below is turned into its column of ``logp`` by ``column``: with thousands of
    # classes the log of the whole matrix cost more than the rest of the search.
    offered = probs >= min_prob
    offered[:, BLANK] = False
    frame_of, cand_ids = np.divmod(np.flatnonzero(offered), probs.shape[1])  # np.nonzero of 2-D is slow
    used = np.union1d(cand_ids, [BLANK])
    column = np.zeros(probs.shape[1], np.int64)
    column[used] = np.arange(used.size)
    logp = log_probs(probs[:, used])
    blank = column[BLANK]
    bounds = np.searchsorted(frame_of, np.arange(probs.shape[0] + 1))

    texts: list[str] = [""]
    last: list[int] = [-1]  # class id of the last character; -1 for the empty prefix
    pb = np.array([0.0])  # log P(prefix, path ends in blank)
    pnb = np.array([LOG_ZERO])  # log P(prefix, path ends in its last character)
    lm = np.array([0.0])  # the bonuses the prefix collected

    parent = np.array([-1])  # per beam: the beam that is its text less the last character, or -1
    for t in range(logp.shape[0]):
        lp = logp[t]
        cand = cand_ids[bounds[t]:bounds[t + 1]]
        last_arr = np.asarray(last)
        has_last = last_arr >= 0
        last_col = column[np.maximum(last_arr, 0)]  # the blank's column for the empty prefix
        total = np.logaddexp(pb, pnb)

        # The beam stays the same text: through a blank, or by repeating its last character.
        stay_pb = total + lp[blank]
        stay_pnb = np.where(has_last, pnb + lp[last_col], LOG_ZERO)
        if not cand.size:
            # No character to try (most frames of a line: between characters the blank holds
            # nearly all): the beams stay the same texts, a beam that extends another by its
            # last character also collects that path. No ranking, no new Python objects.
            i = np.flatnonzero(parent >= 0)
            if i.size:
                j, c = parent[i], last_arr[i]
                v = np.where(c == last_arr[j], pb[j], total[j]) + lp[last_col[i]]
                stay_pnb[i] = np.logaddexp(stay_pnb[i], v)
            pb, pnb = stay_pb, stay_pnb
            continue
        pos = np.full(used.size, -1)  # per column of logp: its place among this frame's candidates
        pos[column[cand]] = np.arange(cand.size)

        ext = total[:, None] + lp[column[cand]][None, :]
        rows = np.flatnonzero(has_last & (pos[last_col] >= 0))
        cols = pos[last_col[rows]]
        ext[rows, cols] = pb[rows] + lp[last_col[rows]]

        # An extension that spells a text already in the beam is added to that beam, not kept twice.
        where = {text: i for i, text in enumerate(texts)}
        for i, text in enumerate(texts):
            j = where.get(text[:-1]) if text else None
            if j is None:
                continue
            c = last[i]
            v = (pb[j] if c == last[j] else total[j]) + lp[last_col[i]]
            stay_pnb[i] = np.logaddexp(stay_pnb[i], v)
            if pos[last_col[i]] >= 0:
                ext[j, pos[last_col[i]]] = -np.inf

        ext_lm = np.broadcast_to(lm[:, None], ext.shape)
        if bonus is not None and cand.size:
            ext_lm = ext_lm + bonus(last_arr, cand)
        scores = np.concatenate([np.logaddexp(stay_pb, stay_pnb) + lm, (ext + ext_lm).ravel()])
        top = best_k(scores, beam_width)
        n_beams = len(texts)
        new_texts, new_last, new_pb, new_pnb, new_lm = [], [], [], [], []
        for k in top:
            if k < n_beams:
                new_texts.append(texts[k])
                new_last.append(last[k])
                new_pb.append(stay_pb[k])
                new_pnb.append(stay_pnb[k])
                new_lm.append(lm[k])
            else:
                b, col = divmod(int(k) - n_beams, cand.size)
                c = int(cand[col])
                new_texts.append(texts[b] + chars[c - 1])
                new_last.append(c)
                new_pb.append(LOG_ZERO)
                new_pnb.append(ext[b, col])
                new_lm.append(ext_lm[b, col])
        texts, last, pb, pnb, lm = new_texts, new_last, np.array(new_pb), np.array(new_pnb), np.array(new_lm)
        where = {text: i for i, text in enumerate(texts)}
        parent = np.array([where.get(text[:-1], -1) if text else -1 for text in texts])

    total = np.logaddexp(pb, pnb) + lm
    order = np.argsort(-total, kind="stable")
    return [(texts[i], float(total[i])) for i in order]


def beam_search_text(probs: np.ndarray, charset: Charset, beam_width: int = 10, *, min_prob: float = 1e-4,
                     bonus: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> str:
    """Best text of :func:`beam_search`."""
    beams = beam_search(probs, charset, beam_width, min_prob=min_prob, bonus=bonus)
    return beams[0][0] if beams else ""


def log_probs(probs: np.ndarray) -> np.ndarray:
    """float64 log of softmax outputs; exact zeros become a very negative number, not -inf."""
    return np.log(np.maximum(np.asarray(probs, np.float64), _TINY))


def best_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest beam scores, best first, skipping impossible (:data:`LOG_ZERO`) ones.

    ``argpartition`` first: a frame has beams x classes candidates but keeps only ``k``.
    Ties are broken by index, so decoding is deterministic.
    """
    alive = np.flatnonzero(scores > LOG_ZERO / 2)
    if alive.size > k:
        alive = alive[np.argpartition(-scores[alive], k - 1)[:k]]
    return alive[np.argsort(-scores[alive], kind="stable")]


def sequence_confidence(probs: np.ndarray) -> float:
    """Confidence in [0, 1] of the best-path reading: geometric mean of the per-frame maximum
    probability over the frames whose best class is a character.

    The plain product over all frames shrinks with the number of frames, so a long, clean word
    would score below a short, doubtful one; and blank frames, nearly always certain, would
    dilute the doubt on the letters. The geometric mean over character frames reads as "the
    typical probability of a letter we emitted". With no character frame (an empty reading) the
    mean is taken over all frames, i.e. how sure the model is that nothing is written.
    """
    probs = _check_probs(probs)
    if probs.shape[0] == 0:
        return 0.0
    best = np.max(probs, axis=-1)
    chars = np.argmax(probs, axis=-1) != BLANK
    sel = best[chars] if chars.any() else best
    conf = float(np.exp(np.mean(np.log(np.maximum(sel, _TINY)))))
    return min(max(conf, 0.0), 1.0)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def _levenshtein(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    # Common prefix and suffix cost nothing; trimming them first makes near-misses (the usual
    # case when scoring a recogniser) close to linear.
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    a, b = a[start:end_a], b[start:end_b]
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        cur = [i]
        for j, y in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insert, delete, substitute each cost 1)."""
    return _levenshtein(a, b)


def cer(pred: str, truth: str) -> float:
    """Character error rate of one reading: edits / characters in the truth (an empty truth counts as 1)."""
    return edit_distance(pred, truth) / max(len(truth), 1)


def text_metrics(preds: Sequence[str], truths: Sequence[str]) -> dict:
    """Corpus metrics: ``cer`` (total edits / total truth characters, so long words weigh more),
    ``word_accuracy`` and ``word_accuracy_ci`` (exact matches, case-insensitive), ``n``; and
    ``wer`` (token edit distance / truth tokens) when some truth has more than one word."""
    if len(preds) != len(truths):
        raise ValueError(f"{len(preds)} predictions for {len(truths)} truths")
    n = len(truths)
    if n == 0:
        return {"n": 0, "cer": float("nan"), "word_accuracy": float("nan"), "word_accuracy_ci": float("nan")}
    edits = sum(edit_distance(p, t) for p, t in zip(preds, truths))
    chars = sum(len(t) for t in truths)
    out = {
        "n": n,
        "cer": edits / max(chars, 1),
        "word_accuracy": sum(p == t for p, t in zip(preds, truths)) / n,
        "word_accuracy_ci": sum(p.casefold() == t.casefold() for p, t in zip(preds, truths)) / n,
    }
    truth_tokens = [t.split() for t in truths]
    if any(len(tok) > 1 for tok in truth_tokens):
        word_edits = sum(_levenshtein(p.split(), tok) for p, tok in zip(preds, truth_tokens))
        out["wer"] = word_edits / max(sum(len(tok) for tok in truth_tokens), 1)
    return out


def metrics_table(rows: Mapping[str, Mapping]) -> str:
    """Markdown table of :func:`text_metrics` results, one row per decoder (or model, or split)."""
    with_wer = any("wer" in m for m in rows.values())
    head = "| name | n | CER | word acc | word acc (ci) |" + (" WER |" if with_wer else "")
    rule = "| --- | ---: | ---: | ---: | ---: |" + (" ---: |" if with_wer else "")
    lines = [head, rule]
    for name, m in rows.items():
        cells = [name, str(m.get("n", "")), _fmt(m.get("cer")), _fmt(m.get("word_accuracy")),
                 _fmt(m.get("word_accuracy_ci"))]
        if with_wer:
            cells.append(_fmt(m.get("wer")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.4f}"
