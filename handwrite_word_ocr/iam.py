"""Read the IAM Handwriting Database (word and line images with transcriptions) from disk.

IAM cannot be downloaded without registering, so nothing here fetches it: people who have it
point the loaders at their copy. Two layouts are accepted, because both are common: the one IAM
ships (``ascii/words.txt`` beside ``words/``) and a flat one (``words.txt`` beside ``words/``).

Index formats (one sample per line, ``#`` starts a comment)::

    words.txt  a01-000u-00-00 ok 154 408 768 27 51 AT A
               id, segmentation ok/err, grey level, x, y, w, h, tag, transcription
    lines.txt  a01-000u-00 ok 154 19 408 746 1661 89 A|MOVE|to|stop|Mr.|Gaitskell|from
               id, segmentation ok/err, grey level, components, x, y, w, h, words joined by |

An id ``a01-000u-00-00`` names its form ``a01-000u`` (one page by one writer) and its image
``words/a01/a01-000u/a01-000u-00-00.png``. Samples of one form share a writer and a text, so a
validation split must keep forms whole (:func:`split_by_form`) or it measures memory.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Fields before the transcription in each index: id, ok/err, grey level, then the box
# (words.txt: x y w h tag; lines.txt: components x y w h).
_WORD_FIELDS = 8
_LINE_FIELDS = 8


@dataclass(frozen=True)
class IamSample:
    """One image and its transcription; ``ok`` is False where IAM's own word/line segmentation
    was marked ``err`` (the box may cut the ink)."""

    path: Path
    text: str
    form: str
    ok: bool


def find_iam_root(path: str | Path) -> Path:
    """The IAM folder holding ``words/`` and ``lines/``, given that folder, or its ``ascii/``
    subfolder, in either layout (index files in ``root`` or in ``root/ascii``).

    Raises ``FileNotFoundError`` naming what was looked for, so a wrong path is obvious."""
    path = Path(path).expanduser()
    for name in ("words.txt", "lines.txt"):
        if (path / name).is_file() or (path / "ascii" / name).is_file():
            # Handed the ascii/ folder itself: the images are beside it, one level up.
            if path.name == "ascii" and not (path / "words").is_dir() and not (path / "lines").is_dir():
                return path.parent
            return path
    raise FileNotFoundError(f"no IAM index in {path}: expected words.txt or lines.txt there or in {path / 'ascii'}")


def load_iam_words(root: str | Path, *, include_err: bool = False, skip_missing: bool = True) -> list[IamSample]:
    """Word samples from ``words.txt``, in file order.

    ``include_err`` keeps words whose segmentation IAM marked ``err``. ``skip_missing`` drops
    entries whose image is absent or empty (IAM ships a few broken files); how many were dropped
    is logged."""
    return _load(root, "words", _WORD_FIELDS, include_err=include_err, skip_missing=skip_missing)


def load_iam_lines(root: str | Path, *, include_err: bool = False, skip_missing: bool = True) -> list[IamSample]:
    """Line samples from ``lines.txt``, in file order, with the ``|`` between words turned into
    spaces (punctuation stays a separate token, as IAM writes it: ``existence ,``)."""
    return _load(root, "lines", _LINE_FIELDS, include_err=include_err, skip_missing=skip_missing)


def split_by_form(
    samples: Sequence[IamSample], val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[IamSample], list[IamSample]]:
    """(train, val) with every form wholly on one side; val gets whole forms, drawn in a seeded
    random order, until it holds at least ``val_fraction`` of the samples. Input order is kept
    within each side. (A writer who filled several forms can still appear on both sides; IAM's
    ``forms.txt`` names writers, for a stricter split.)"""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    counts: dict[str, int] = {}
    for s in samples:
        counts[s.form] = counts.get(s.form, 0) + 1
    forms = sorted(counts)
    random.Random(seed).shuffle(forms)
    target = val_fraction * len(samples)
    val_forms: set[str] = set()
    taken = 0
    for form in forms:
        if taken >= target:
            break
        val_forms.add(form)
        taken += counts[form]
    train = [s for s in samples if s.form not in val_forms]
    val = [s for s in samples if s.form in val_forms]
    return train, val


def _load(root: str | Path, kind: str, n_fields: int, *, include_err: bool, skip_missing: bool) -> list[IamSample]:
    root = find_iam_root(root)
    index = _index_path(root, f"{kind}.txt")
    samples: list[IamSample] = []
    skipped = {"err": 0, "missing": 0, "empty": 0, "malformed": 0}
    for fields in _records(index):
        if len(fields) <= n_fields:
            skipped["malformed"] += 1
            continue
        sample_id, status = fields[0], fields[1]
        parts = sample_id.split("-")
        if len(parts) < 3:
            skipped["malformed"] += 1
            continue
        ok = status == "ok"
        if not ok and not include_err:
            skipped["err"] += 1
            continue
        form = f"{parts[0]}-{parts[1]}"
        path = root / kind / parts[0] / form / f"{sample_id}.png"
        if skip_missing:
            if not path.is_file():
                skipped["missing"] += 1
                continue
            if path.stat().st_size == 0:
                skipped["empty"] += 1
                continue
        # The transcription is the rest of the line; in words.txt a few contain spaces.
        text = " ".join(fields[n_fields:])
        if kind == "lines":
            text = text.replace("|", " ")
        samples.append(IamSample(path=path, text=text, form=form, ok=ok))
    log.info("IAM %s: %d samples from %s; skipped %s", kind, len(samples), index, skipped)
    if skipped["missing"] or skipped["empty"] or skipped["malformed"]:
        log.warning(
            "IAM %s: skipped %d missing, %d empty image files and %d malformed index lines",
            kind,
            skipped["missing"],
            skipped["empty"],
            skipped["malformed"],
        )
    return samples


def _index_path(root: Path, name: str) -> Path:
    for candidate in (root / name, root / "ascii" / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no {name} in {root} or {root / 'ascii'}")


def _records(index: Path) -> Iterator[list[str]]:
    """Space-separated fields of each data line (comments and blank lines skipped)."""
    with open(index, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line.strip() and not line.startswith("#"):
                yield line.split()
