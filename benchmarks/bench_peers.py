"""Our readers against open peers on the same images, in one run: accuracy and time per image.

    python -m benchmarks.bench_peers                                   # word task, models/word.keras
    python -m benchmarks.bench_peers --untrained --quick               # before a word model ships
    python -m benchmarks.bench_peers --synth-dir data/word_synth/heldout --n-synth 200
    python -m benchmarks.bench_peers --tasks chinese                   # models/chinese.keras (+ ctpn, orientation)
    python -m benchmarks.bench_peers --tasks chinese --untrained --quick

One script for every task: ``TASKS`` maps a task name to its runner, and each runner builds its
evaluation sets and its readers (ours and the peers). Tasks so far:

* ``word`` (handwritten words and lines): Tesseract 5 (``pytesseract``, LSTM engine ``--oem 1``,
  English) against ``WordPredictor`` with the lexicon (word beam search) and without it (beam
  search). Single words are read by Tesseract with ``--psm 8`` ("one word") and by ours with
  ``segment=False``; lines with ``--psm 7`` ("one text line", see ``--line-psm``) and by ours
  through the word segmenter. Sets: ``--words-dev`` split into its words and its lines, and
  optionally synthetic held-out shards (``--synth-dir``).
* ``chinese`` (printed Chinese lines and pages): RapidOCR (``rapidocr_onnxruntime``, PP-OCR ONNX
  models) and Tesseract 5 ``chi_sim`` (``--oem 1``) against ``ChinesePredictor``. Line sets:
  ``zh-lines`` (the ``eval`` held-out shards of ``--zh-synth-dir``: faces the project never trains
  on, the first ``--n-lines``), ``zh-heldout-font`` (the ``heldout`` shards, AR PL UMing), ``zh-print``
  (``--n-print`` clean printed lines of words in the eval faces, ``chinese_ocr.synth.print_lines``:
  the plain case the recogniser issue's yardstick describes), ``plates``
  (the validation half of ``plate_split(--plates)``) and ``zh-dev`` (real lines, ``--zh-dev``,
  evaluation only). Shards are rendered (``chinese_ocr.synth.render_heldout``) only when they hold
  fewer lines than asked for; their lines (ink 255 on 0) are turned back to dark on light. Each line
  is read by ours as ``ChinesePredictor.predict([img], detect=False)`` (what ``?detect=0`` serves:
  orientation classifier + recogniser, best path), by RapidOCR's recogniser alone (``use_det=False,
  use_cls=False``) and by Tesseract with ``--psm 7``. Page set ``pages``: ``--n-pages`` seeded
  960 x 720 synthetic pages (``render_eval_page(np.random.default_rng(1000 + i), "eval")``), read by
  ours (``ChinesePredictor.predict``: detect, crop, orientation, recognise), RapidOCR whole
  (det + cls + rec, default settings) and Tesseract ``--psm 3`` (``image_to_data``: each (block,
  paragraph, line) is a line, its box the line's, its text the words joined by spaces). Page set
  ``print-pages``: ``--n-print-pages`` seeded clean printed pages of words in the same faces and
  layouts (``ctpn.synth.print_pages``: the plain case the page issue's yardstick describes), read
  the same three ways. Page set ``zh-dev-pages`` (with ``--zh-sources``): the 20 real images
  zh_dev's lines were cut from (``chinese_ocr.source_pages``), read the same three ways; only
  zh_dev's lines are labelled, so it reports how many of them are found and how they read
  (:func:`labelled_page_metrics`).

Every reader gets the same decoded image (``ocr_common.image`` output: EXIF applied, grey or
RGB as uploaded, dark ink on light paper). Tesseract converts it to grey and binarises it
(Otsu) itself. Times are the wall time of each reader's own call on one image, including its
preprocessing: for Tesseract that includes pytesseract writing the image to a temporary PNG and
starting a ``tesseract`` process that loads its model, on every call (the cost of using it this
way; the process start alone is measured and reported). Ours runs in process with its model
loaded once; its batched time (``--batch`` images per ``predict`` call) is reported beside.

Metrics (``ocr_common.ctc.text_metrics``): CER = character edits / truth characters over the set;
word accuracy = exact matches (and case-insensitive); for line sets, whitespace is squashed
first (a line break or double space is not an error) and WER (word edits / truth words) is added.

Chinese texts (both sides) are compared after ``chinese_ocr.charset.normalize_text`` (full-width
letters and digits folded to ASCII, Chinese punctuation kept full-width, runs of spaces made one)
and with every space next to a CJK character (ideograph, kana, CJK or full-width punctuation)
removed: Chinese is written without spaces, Tesseract puts one between every two characters and
RapidOCR drops the one between Chinese and Latin text, so only the spaces between Latin words,
digits and symbols count (:func:`zh_text`). Line sets: character accuracy = 1 - CER, line accuracy
= exact lines, ms per line. Pages (:func:`page_metrics`): detection precision / recall / F of the
predicted line quads against the true ones (one-to-one, greedy by polygon IoU >= 0.5,
``ctpn.evaluate.detection_metrics``), and F by DetEval's coverage rule (the prediction covers
>= 0.8 of the true line, which fills >= 0.4 of the prediction: PP-OCR leaves about half a text
height of margin around a line where the labels are tight to the ink, and on short lines that
alone takes IoU under 0.5); end-to-end character accuracy = 1 - CER where the pairs of the
coverage matching are compared text to text, an unmatched true line counts all its characters as
deleted and an unmatched (spurious) predicted line all of its characters as inserted, over the
characters of all true lines: reading order plays no part, and a line found but misread costs
only its wrong characters; line accuracy = exactly read matched lines / true lines; ms per page.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    SHARED_DATA_DIR,
    HelpFormatter,
    add_common_args,
    fmt,
    machine_info,
    machine_line,
    warn_if_busy,
    write_results,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NAME = "bench_peers"
QUICK_IMAGES = 3  # images per set with --quick


# --------------------------------------------------------------------------- readers and sets


@dataclass
class Reader:
    """One way to read an image. ``read`` takes one decoded image and returns its text (a page
    reader: its lines as ``(quad (4, 2), text)`` pairs); ``read_batch`` (optional) reads many in one
    call, for the batched time. A reader that cannot run here has ``read=None`` and says why in
    ``status`` (e.g. "not installed")."""

    name: str
    read: Callable[[np.ndarray], Any] | None
    read_batch: Callable[[list[np.ndarray]], list[Any]] | None = None
    status: str = "ok"
    note: str = ""


@dataclass
class EvalSet:
    name: str
    images: list[np.ndarray]
    truths: list[str]
    kind: str  # "word" (one word per image), "line" (a line of words, read through segmentation), "zh" (Chinese line)


def score(preds: Sequence[str], truths: Sequence[str], kind: str) -> dict[str, Any]:
    """Text metrics for one reader on one set; line sets are compared after squashing whitespace,
    Chinese lines after :func:`zh_text` (adding ``char_accuracy`` = 1 - CER and ``line_accuracy``)."""
    from handwrite_word_ocr.evaluate import squash
    from ocr_common.ctc import text_metrics

    if kind == "zh":
        m = text_metrics([zh_text(p) for p in preds], [zh_text(t) for t in truths])
        return {**m, "char_accuracy": 1.0 - m["cer"], "line_accuracy": m["word_accuracy"]}
    if kind == "line":
        return text_metrics([squash(p) for p in preds], [squash(t) for t in truths])
    return text_metrics([p.strip() for p in preds], list(truths))


def time_reader(reader: Reader, images: list[np.ndarray], batch: int) -> dict[str, Any]:
    """Read every image once (after one untimed warm-up call), timing each call; then, when the
    reader can, read them again ``batch`` at a time for the amortised ms per image."""
    reader.read(images[0])  # first call: lazy set-up, caches; not what a steady server pays
    preds, seconds = [], []
    for img in images:
        t0 = time.perf_counter()
        preds.append(reader.read(img))
        seconds.append(time.perf_counter() - t0)
    out: dict[str, Any] = {"preds": preds, "ms": [1e3 * s for s in seconds]}
    if reader.read_batch is not None:
        t0 = time.perf_counter()
        batched = [t for i in range(0, len(images), batch) for t in reader.read_batch(images[i : i + batch])]
        out["batched_ms_per_image"] = 1e3 * (time.perf_counter() - t0) / len(images)
        out["batched_same_text"] = sum(a == b for a, b in zip(batched, preds)) / len(images)
    return out


def run_set(readers: list[Reader], s: EvalSet, batch: int) -> list[dict[str, Any]]:
    """One row per reader: metrics, ms per image (median, mean), batched ms, readings."""
    rows = []
    for r in readers:
        row: dict[str, Any] = {"set": s.name, "reader": r.name, "n": len(s.images), "status": r.status,
                               "note": r.note}
        if r.read is None:
            rows.append(row)
            print(f"  {r.name}: {r.status} ({r.note})", flush=True)
            continue
        t = time_reader(r, s.images, batch)
        row.update(score(t["preds"], s.truths, s.kind))
        row.update(ms_median=statistics.median(t["ms"]), ms_mean=statistics.fmean(t["ms"]),
                   ms_batched=t.get("batched_ms_per_image"), batched_same_text=t.get("batched_same_text"),
                   preds=t["preds"], truths=list(s.truths))
        rows.append(row)
        print(f"  {r.name}: CER {row['cer']:.3f}, acc {row['word_accuracy']:.3f}, "
              f"{row['ms_median']:.1f} ms/image median", flush=True)
    return rows


# --------------------------------------------------------------------------- tables


def peer_table(rows: Sequence[dict[str, Any]], kind: str) -> str:
    """Markdown table of one set's rows. ``kind`` "line" adds WER and calls accuracy per line;
    "zh" (Chinese lines) shows character and line accuracy; "page" detection and end-to-end
    figures per page. A reader that did not run shows its status in every metric cell."""
    cols: list[tuple[str, str, str]] = [("n", "n", "d")]
    if kind == "zh":
        cols += [("char_accuracy", "char acc", ".1%"), ("cer", "CER", ".3f"), ("line_accuracy", "line acc", ".1%"),
                 ("ms_median", "ms/line median", ".1f"), ("ms_mean", "ms/line mean", ".1f"),
                 ("ms_batched", "ms/line batched", ".1f")]
    elif kind == "labelled-page":
        cols += [("lines", "labelled lines", "d"), ("recall", "found", ".3f"), ("char_accuracy", "char acc", ".1%"),
                 ("cer", "CER", ".3f"), ("line_accuracy", "line acc", ".1%"),
                 ("ms_median", "ms/page median", ".0f"), ("ms_mean", "ms/page mean", ".0f")]
    elif kind == "page":
        cols += [("precision", "det P", ".3f"), ("recall", "det R", ".3f"), ("f", "det F", ".3f"),
                 ("f_cover", "det F cover", ".3f"),
                 ("char_accuracy", "char acc", ".1%"), ("cer", "CER", ".3f"), ("line_accuracy", "line acc", ".1%"),
                 ("ms_median", "ms/page median", ".0f"), ("ms_mean", "ms/page mean", ".0f")]
    else:
        unit = "line" if kind == "line" else "word"
        cols.append(("cer", "CER", ".3f"))
        if kind == "line":
            cols.append(("wer", "WER", ".3f"))
        cols += [("word_accuracy", f"{unit} acc", ".1%"), ("word_accuracy_ci", f"{unit} acc (ci)", ".1%"),
                 ("ms_median", "ms/image median", ".1f"), ("ms_mean", "ms/image mean", ".1f"),
                 ("ms_batched", "ms/image batched", ".1f")]
    lines = ["| reader | " + " | ".join(h for _, h, _ in cols) + " |",
             "| --- | " + " | ".join("---:" for _ in cols) + " |"]
    for r in rows:
        if r.get("status", "ok") != "ok":
            cells = [str(r.get("n", "")) if k == "n" else r["status"] for k, _, _ in cols]
        else:
            cells = [fmt(r.get(k), spec) for k, _, spec in cols]
        lines.append(f"| {r['reader']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- Tesseract


def tesseract_info(lang: str = "eng") -> dict[str, Any]:
    """Version, ``lang``'s data file and process start cost of the installed Tesseract, or why it is
    unusable (no pytesseract, no binary, no ``lang.traineddata``)."""
    try:
        import pytesseract
    except ImportError:
        return {"status": "not installed", "why": "no pytesseract: pip install -e \".[peers]\""}
    try:
        version = str(pytesseract.get_tesseract_version())
    except Exception as e:  # noqa: BLE001 - TesseractNotFoundError, or a broken binary
        return {"status": "not installed",
                "why": f"no tesseract binary ({type(e).__name__}): apt install tesseract-ocr"}
    info: dict[str, Any] = {"status": "ok", "version": version, "pytesseract": pytesseract.__version__,
                            "binary": shutil.which(pytesseract.pytesseract.tesseract_cmd), "lang": lang,
                            "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT")}
    try:
        info["languages"] = pytesseract.get_languages()
    except Exception:  # noqa: BLE001 - informational only
        pass
    if "languages" in info and lang not in info["languages"]:
        package = "tesseract-ocr-" + lang.replace("_", "-")
        return {**info, "status": "not installed", "why": f"no {lang}.traineddata: apt install {package}"}
    for d in (os.environ.get("TESSDATA_PREFIX"), "/usr/share/tesseract-ocr/5/tessdata",
              "/usr/share/tesseract-ocr/4.00/tessdata", "/usr/local/share/tessdata"):
        if d and (Path(d) / f"{lang}.traineddata").is_file():
            f = Path(d) / f"{lang}.traineddata"
            # eng: ~4 MB is tessdata_fast (integer LSTM only, what Debian ships); ~23 MB is tessdata (+ legacy).
            info[f"{lang}_traineddata"] = {"path": str(f), "size_mb": round(f.stat().st_size / 2**20, 1)}
            break
    cmd = info["binary"] or "tesseract"
    starts = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([cmd, "--version"], capture_output=True, check=False)
        starts.append(time.perf_counter() - t0)
    info["process_start_ms"] = 1e3 * statistics.median(starts)
    blank = np.full((40, 120), 255, np.uint8)
    reads = []
    for _ in range(3):
        t0 = time.perf_counter()
        pytesseract.image_to_string(blank, lang=lang, config="--oem 1 --psm 8")
        reads.append(time.perf_counter() - t0)
    info["blank_image_ms"] = 1e3 * statistics.median(reads)  # process + model load + temp files, no text
    return info


def tesseract_reader(info: dict[str, Any], psm: int, label: str, lang: str = "eng") -> Reader:
    tag = "" if lang == "eng" else f" {lang}"
    name = f"Tesseract {info.get('version', '')}{tag} --oem 1 --psm {psm}".replace("  ", " ")
    if info.get("status") != "ok":
        return Reader(f"Tesseract{tag} --psm {psm}", None, status=info.get("status", "not installed"),
                      note=info.get("why", ""))
    import pytesseract

    config = f"--oem 1 --psm {psm}"

    def read(img: np.ndarray) -> str:
        return pytesseract.image_to_string(img, lang=lang, config=config).strip()

    return Reader(name, read, note=f"{label}; image as decoded, Tesseract binarises it itself")


# --------------------------------------------------------------------------- word task


def default_words_dev() -> str | None:
    d = SHARED_DATA_DIR / "words_dev"
    return str(d) if (d / "labels.tsv").is_file() else None


def word_sets(args: argparse.Namespace) -> list[EvalSet]:
    from handwrite_word_ocr.data import load_labelled_folder, load_shards
    from ocr_common.shards import shard_files

    limit = QUICK_IMAGES if args.quick else None
    sets = []
    if args.words_dev:
        for kind, name in (("word", "words-dev"), ("line", "lines-dev")):
            items = load_labelled_folder(args.words_dev, kind)[:limit]
            if items:
                sets.append(EvalSet(name, [w.image for w in items], [w.text for w in items], kind))
    if args.synth_dir:
        files = shard_files(args.synth_dir)
        if not files:
            raise SystemExit(f"--synth-dir {args.synth_dir}: no shard-*.npz files")
        x, texts, _ = load_shards(files, limit or args.n_synth)
        # Shards hold normalised words, ink 255 on 0: back to dark ink on light paper, as a photo is.
        sets.append(EvalSet(f"synth ({Path(args.synth_dir).name})", [255 - im for im in x], texts, "word"))
    return sets


def untrained_word_model(folder: Path) -> Path:
    """An untrained default-size word model (speed only; its readings are noise)."""
    import keras

    from handwrite_word_ocr.config import WordConfig
    from handwrite_word_ocr.model import build_model, inference_model
    from ocr_common.config import save_config

    keras.utils.set_random_seed(0)
    cfg = WordConfig()
    path = folder / "word.keras"
    inference_model(build_model(cfg)).save(path)
    save_config(cfg, path.with_suffix(".json"))
    return path


def our_readers(predictor, kind: str, untrained: bool) -> list[Reader]:
    segment = kind == "line"
    tag = " (untrained)" if untrained else ""
    out = []
    for lexicon, label in ((True, "word beam + lexicon"), (False, "beam, no lexicon")):
        def read(img, lexicon=lexicon):
            return predictor.predict([img], segment=segment, lexicon=lexicon)[0].text

        def read_batch(imgs, lexicon=lexicon):
            return [r.text for r in predictor.predict(imgs, segment=segment, lexicon=lexicon)]

        note = ("segment_words, then every word in one model call" if segment else "segment=False: one word")
        out.append(Reader(f"ours{tag}, {label}", read, read_batch, note=f"{note}; {predictor.backend}"))
    return out


def run_word(args: argparse.Namespace, stack: ExitStack) -> dict[str, Any]:
    from handwrite_word_ocr.evaluate import inference_file
    from handwrite_word_ocr.predict import WordPredictor

    sets = word_sets(args)
    if not sets:
        raise SystemExit("no evaluation set: pass --words-dev DIR and/or --synth-dir DIR")
    if args.untrained:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-peers-")))
        model_path, cache = untrained_word_model(tmp), tmp  # a fresh model's ONNX export must not pile up in data/
    else:
        model = Path(args.model or Path(args.models_dir) / "word.keras")
        if not model.is_file():
            raise SystemExit(f"{model} not found: train and publish a word model, or pass --untrained")
        model_path, cache = inference_file(model), None
    predictor = WordPredictor(model_path, onnx_cache_dir=cache)
    stack.callback(predictor.close)
    tess = tesseract_info()
    if tess.get("status") == "ok":
        print(f"Tesseract {tess['version']}: process start {tess['process_start_ms']:.0f} ms, "
              f"blank image {tess['blank_image_ms']:.0f} ms per call", flush=True)
    else:
        print(f"Tesseract: {tess['status']}: {tess.get('why')}", flush=True)
    rows = []
    for s in sets:
        print(f"\n{s.name}: {len(s.images)} {s.kind} images", flush=True)
        peers = [tesseract_reader(tess, 8, "one word") if s.kind == "word" else
                 tesseract_reader(tess, args.line_psm, "one text line" if args.line_psm == 7 else "block")]
        rows += run_set(peers + our_readers(predictor, s.kind, args.untrained), s, args.batch)
    return {"sets": [{"name": s.name, "kind": s.kind, "n": len(s.images)} for s in sets], "rows": rows,
            "tesseract": tess, "model": str(model_path), "untrained": args.untrained, "backend": predictor.backend}


# --------------------------------------------------------------------------- Chinese task

# What counts as CJK for the space rule: radicals, CJK punctuation, kana, ideographs (A and the
# basic block), compatibility ideographs, full-width forms, and the non-ASCII Chinese punctuation
# of the charset (curly quotes, dash, ellipsis, middle dot).
_CJK_RANGES = "\u2e80-\u2fdf\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"


@functools.cache
def _space_by_cjk() -> re.Pattern:
    from chinese_ocr.charset import CHINESE_PUNCT

    cjk = _CJK_RANGES + "".join(re.escape(c) for c in CHINESE_PUNCT if ord(c) > 127)
    return re.compile(f"(?<=[{cjk}]) | (?=[{cjk}])")


def zh_text(text: str) -> str:
    """A Chinese reading or label as compared: :func:`chinese_ocr.charset.normalize_text` (one
    spelling for full-width forms, single spaces, no line breaks) and no space next to a CJK
    character; spaces between Latin words, digits and symbols stay."""
    from chinese_ocr.charset import normalize_text

    return _space_by_cjk().sub("", normalize_text(text))


@dataclass
class PageSet:
    name: str
    images: list[np.ndarray]
    quads: list[list[np.ndarray]]  # per page, its true lines (4, 2)
    texts: list[list[str]]  # per page, the text of each line
    labelled: bool = False  # only some lines of each page are labelled (real images): labelled_page_metrics


def page_metrics(preds: Sequence[Sequence[tuple[np.ndarray, str]]], truths: Sequence[Sequence[tuple[np.ndarray, str]]],
                 iou: float = 0.5) -> dict[str, Any]:
    """Detection and end-to-end figures of predicted pages (each a list of ``(quad, text)``) against
    true ones, summed over the pages.

    ``precision`` / ``recall`` / ``f`` count the one-to-one matches at IoU >= ``iou``, the same with
    ``_cover`` by DetEval's coverage rule (``ctpn.evaluate.detection_metrics``). Texts are paired by
    the coverage rule (``ctpn.textline.match_pairs``), so a box's margin does not decide whether its
    reading counts. ``cer``: character edits / characters of
    all true lines, where a matched pair costs the edit distance of its two texts, an unmatched
    true line its length (all deleted) and an unmatched predicted line its length (all
    inserted); texts through :func:`zh_text`. ``char_accuracy`` = 1 - ``cer``;
    ``line_accuracy``: matched pairs read exactly / true lines."""
    from ctpn.evaluate import detection_metrics
    from ctpn.textline import match_pairs
    from ocr_common.ctc import edit_distance

    edits = chars = exact = lines = 0
    for pred, true in zip(preds, truths, strict=True):
        p_text, t_text = [zh_text(t) for _, t in pred], [zh_text(t) for _, t in true]
        pairs = match_pairs([q for q, _ in pred], [q for q, _ in true], iou, rule="cover")
        mp, mt = {i for i, _ in pairs}, {j for _, j in pairs}
        edits += sum(edit_distance(p_text[i], t_text[j]) for i, j in pairs)
        edits += sum(len(t) for j, t in enumerate(t_text) if j not in mt)
        edits += sum(len(p) for i, p in enumerate(p_text) if i not in mp)
        exact += sum(p_text[i] == t_text[j] for i, j in pairs)
        chars += sum(len(t) for t in t_text)
        lines += len(true)
    det = detection_metrics([[q for q, _ in p] for p in preds], [[q for q, _ in t] for t in truths], iou)
    cer = edits / max(chars, 1)
    return {**det, "n": len(truths), "lines": lines, "edits": edits, "chars": chars, "cer": cer,
            "char_accuracy": 1.0 - cer, "line_accuracy": exact / lines if lines else float("nan")}


def labelled_page_metrics(preds: Sequence[Sequence[tuple[np.ndarray, str]]],
                          truths: Sequence[Sequence[tuple[np.ndarray, str]]], inside: float = 0.5,
                          found_width: float = 0.5) -> dict[str, Any]:
    """Figures of predicted pages against pages of which only some lines are labelled (real
    images, ``chinese_ocr.source_pages``): precision cannot be known, so every figure is about the
    labelled lines. A predicted line belongs to the labelled line holding the largest share of its
    area, when that share is at least ``inside`` (else it is ignored: it may be unlabelled text).
    A labelled line's reading is its predicted lines' texts, left to right; it is ``found`` when
    those lines span at least ``found_width`` of its width. No box-margin convention plays a part.
    ``recall`` = found / labelled lines; ``cer`` = edit distance of the readings (:func:`zh_text`)
    over the labelled characters; ``char_accuracy`` = 1 - ``cer``; ``line_accuracy`` = exact
    readings / labelled lines."""
    from ctpn.textline import quad_overlap
    from ocr_common.ctc import edit_distance

    edits = chars = exact = found = lines = 0
    for pred, true in zip(preds, truths, strict=True):
        owned: list[list[int]] = [[] for _ in true]
        for i, (q, _) in enumerate(pred):
            shares = []
            for tq, _ in true:
                inter, area_p, _ = quad_overlap(q, tq)
                shares.append(inter / area_p if area_p > 0 else 0.0)
            if shares and max(shares) >= inside:
                owned[int(np.argmax(shares))].append(i)
        for j, (tq, text) in enumerate(true):
            mine = sorted(owned[j], key=lambda i: float(np.mean(pred[i][0][:, 0])))
            reading = zh_text(" ".join(pred[i][1] for i in mine))
            truth = zh_text(text)
            edits += edit_distance(reading, truth)
            chars += len(truth)
            exact += int(reading == truth)
            x0, x1 = float(tq[:, 0].min()), float(tq[:, 0].max())
            span = np.zeros(max(1, int(np.ceil(x1 - x0))), bool)
            for i in mine:
                a = int(np.clip(np.floor(pred[i][0][:, 0].min() - x0), 0, len(span)))
                b = int(np.clip(np.ceil(pred[i][0][:, 0].max() - x0), 0, len(span)))
                span[a:b] = True
            found += int(bool(mine) and span.mean() >= found_width)
        lines += len(true)
    cer = edits / max(chars, 1)
    return {"n": len(truths), "lines": lines, "found": found, "recall": found / lines if lines else float("nan"),
            "edits": edits, "chars": chars, "cer": cer, "char_accuracy": 1.0 - cer,
            "line_accuracy": exact / lines if lines else float("nan")}


def run_pages(readers: list[Reader], s: PageSet, iou: float = 0.5) -> list[dict[str, Any]]:
    """One row per page reader: :func:`page_metrics`, ms per page (median, mean), every reading."""
    truths = [list(zip(q, t)) for q, t in zip(s.quads, s.texts)]
    rows = []
    for r in readers:
        row: dict[str, Any] = {"set": s.name, "reader": r.name, "n": len(s.images), "status": r.status,
                               "note": r.note}
        if r.read is None:
            rows.append(row)
            print(f"  {r.name}: {r.status} ({r.note})", flush=True)
            continue
        t = time_reader(r, s.images, 1)
        row.update(labelled_page_metrics(t["preds"], truths) if s.labelled else page_metrics(t["preds"], truths, iou))
        row.update(ms_median=statistics.median(t["ms"]), ms_mean=statistics.fmean(t["ms"]),
                   preds=[[{"box": np.asarray(q).tolist(), "text": x} for q, x in p] for p in t["preds"]],
                   truths=[list(t) for t in s.texts])
        rows.append(row)
        det = (f"found {row['recall']:.3f}" if s.labelled else f"det F {row['f']:.3f} (cover {row['f_cover']:.3f})")
        print(f"  {r.name}: {det}, char acc {row['char_accuracy']:.3f}, {row['ms_median']:.0f} ms/page median",
              flush=True)
    return rows


def to_bgr(img: np.ndarray) -> np.ndarray:
    """RapidOCR takes an array as OpenCV's BGR (grey is fine); ours are RGB as decoded."""
    import cv2

    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_RGBA2BGR)
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    return img


def rapidocr_engine() -> tuple[Any, dict[str, Any]]:
    """``(RapidOCR(), info)`` with its version and model files, or ``(None, why)`` when not installed."""
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        return None, {"status": "not installed", "why": "no rapidocr_onnxruntime: pip install rapidocr-onnxruntime"}
    from importlib.metadata import PackageNotFoundError, version

    try:
        info: dict[str, Any] = {"status": "ok", "version": version("rapidocr-onnxruntime")}
    except PackageNotFoundError:
        info = {"status": "ok", "version": "?"}
    try:  # informational only: the model files of its default config
        from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
        from rapidocr_onnxruntime.utils import read_yaml

        cfg = read_yaml(DEFAULT_CFG_PATH)
        info["models"] = {k.lower(): Path(cfg[k]["model_path"]).name for k in ("Det", "Cls", "Rec")}
        info["text_score"] = cfg["Global"]["text_score"]
    except Exception:  # noqa: BLE001
        pass
    try:
        return RapidOCR(), info
    except Exception as e:  # noqa: BLE001 - e.g. its ONNX Runtime or a model file broken: a status, not a crash
        return None, {**info, "status": "unavailable", "why": f"RapidOCR() failed: {type(e).__name__}: {e}"}


def rapidocr_readers(engine: Any, info: dict[str, Any]) -> tuple[Reader, Reader]:
    """(line reader: its recogniser alone, page reader: det + cls + rec), or two "not installed"."""
    if engine is None:
        return (Reader("RapidOCR rec", None, status=info["status"], note=info.get("why", "")),
                Reader("RapidOCR det+cls+rec", None, status=info["status"], note=info.get("why", "")))
    v = info.get("version", "")

    def read_line(img: np.ndarray) -> str:
        res, _ = engine(to_bgr(img), use_det=False, use_cls=False, use_rec=True)
        return "".join(text for text, _ in res or [])

    def read_lines(imgs: list[np.ndarray]) -> list[str]:
        # Its recogniser on the whole list (the public call takes one image; load_img makes grey BGR,
        # as that call does); it runs 6 lines per batch.
        res, _ = engine.text_rec([engine.load_img(to_bgr(im)) for im in imgs])
        return [text for text, *_ in res]

    def read_page(img: np.ndarray) -> list[tuple[np.ndarray, str]]:
        res, _ = engine(to_bgr(img))
        return [(np.asarray(box, np.float32).reshape(4, 2), text) for box, text, _ in res or []]

    models = info.get("models", {})
    return (Reader(f"RapidOCR {v} rec only", read_line, read_lines,
                   note=f"use_det=False, use_cls=False: {models.get('rec', 'rec model')} on the whole image"),
            Reader(f"RapidOCR {v} det+cls+rec", read_page,
                   note=f"defaults ({', '.join(models.values())}); lines whose reading scores under "
                   f"{info.get('text_score', 0.5)} are dropped by RapidOCR, boxes included"))


def tesseract_page_reader(info: dict[str, Any], psm: int = 3, lang: str = "chi_sim") -> Reader:
    """Tesseract's ``image_to_data`` on a page: one line per (block, paragraph, line) with text,
    its box the line's (level 4) rectangle, its text the words joined by spaces."""
    if info.get("status") != "ok":
        return Reader(f"Tesseract {lang} --psm {psm}", None, status=info.get("status", "not installed"),
                      note=info.get("why", ""))
    import pytesseract

    config = f"--oem 1 --psm {psm}"

    def read(img: np.ndarray) -> list[tuple[np.ndarray, str]]:
        d = pytesseract.image_to_data(img, lang=lang, config=config, output_type=pytesseract.Output.DICT)
        boxes: dict[tuple[int, int, int], np.ndarray] = {}
        words: dict[tuple[int, int, int], list[str]] = {}
        for k, level in enumerate(d["level"]):
            key = (d["block_num"][k], d["par_num"][k], d["line_num"][k])
            if level == 4:
                x, y, w, h = d["left"][k], d["top"][k], d["width"][k], d["height"][k]
                boxes[key] = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)
            elif level == 5 and str(d["text"][k]).strip():
                words.setdefault(key, []).append(str(d["text"][k]).strip())
        return [(boxes[key], " ".join(w)) for key, w in words.items() if key in boxes]

    name = f"Tesseract {info.get('version', '')} {lang} --oem 1 --psm {psm}"
    return Reader(name, read, note="image_to_data: (block, par, line) groups, words joined by spaces")


def default_folder(name: str) -> str | None:
    d = SHARED_DATA_DIR / name
    return str(d) if (d / "labels.tsv").is_file() else None


def shard_rows(folder: Path) -> int:
    from ocr_common.shards import shard_files

    rows = 0
    for f in shard_files(folder):
        with np.load(f) as z:
            rows += len(z["texts"])
    return rows


def zh_line_sets(args: argparse.Namespace) -> list[EvalSet]:
    from chinese_ocr.data import load_labelled_folder, load_shards, plate_split
    from chinese_ocr.fonts import faces
    from ocr_common.shards import shard_files

    quick = QUICK_IMAGES if args.quick else None
    sets = []
    if args.zh_synth_dir:
        n = min(args.n_lines, quick or args.n_lines)
        root = Path(args.zh_synth_dir)
        if any(shard_rows(root / split) < n for split in ("eval", "heldout")):
            from chinese_ocr.synth import render_heldout

            print(f"rendering held-out lines into {root}/eval and {root}/heldout", flush=True)
            render_heldout(root, n)
        for name, split in (("zh-lines", "eval"), ("zh-heldout-font", "heldout")):
            x, texts, _ = load_shards(shard_files(root / split), n)
            # Shards hold normalised lines, ink 255 on 0: back to dark ink on light paper.
            sets.append(EvalSet(name, [255 - im for im in x], texts, "zh"))
    if args.n_print > 0 and faces("eval"):
        from chinese_ocr.synth import print_lines

        images, texts = print_lines(min(args.n_print, quick or args.n_print))
        sets.append(EvalSet("zh-print", images, texts, "zh"))
    if args.plates:
        _, val = plate_split(args.plates)
        sets.append(EvalSet("plates", [p.image for p in val[:quick]], [p.text for p in val[:quick]], "zh"))
    if args.zh_dev:
        lines = load_labelled_folder(args.zh_dev)[:quick]
        sets.append(EvalSet("zh-dev", [p.image for p in lines], [p.text for p in lines], "zh"))
    return [s for s in sets if s.images]


def zh_page_sets(args: argparse.Namespace) -> list[PageSet]:
    """The rendered page sets: ``pages`` (``--n-pages``, the training pages' look in the eval faces)
    and ``print-pages`` (``--n-print-pages``, clean printed pages of words in the eval faces)."""
    from ctpn.synth import eval_pages, print_pages

    sets = []
    for name, n, make in (("pages", args.n_pages, eval_pages), ("print-pages", args.n_print_pages, print_pages)):
        n = min(n, 2) if args.quick else n
        if n > 0:
            pages = make(n)
            sets.append(PageSet(name, [p.image for p in pages], [list(p.lines) for p in pages],
                                [list(p.texts) for p in pages]))
    return sets


def zh_source_page_set(args: argparse.Namespace) -> PageSet | None:
    """The real images zh_dev's lines were cut from (``chinese_ocr.source_pages``), when
    ``--zh-sources`` holds them; only their zh_dev lines are labelled."""
    if not (args.zh_sources and args.zh_dev):
        return None
    from chinese_ocr.source_pages import load_source_pages

    pages, missing = load_source_pages(args.zh_dev, args.zh_sources)
    if missing:
        print(f"zh-dev-pages: {len(missing)} source images not under {args.zh_sources}: {', '.join(missing[:3])}"
              f"{' ...' if len(missing) > 3 else ''}", flush=True)
    pages = pages[: 2 if args.quick else None]
    if not pages:
        return None
    return PageSet("zh-dev-pages", [p.image for p in pages], [p.quads for p in pages], [p.texts for p in pages],
                   labelled=True)


def our_zh_predictor(args: argparse.Namespace, stack: ExitStack):
    """``(ChinesePredictor, recogniser path)``: the shipped models (``--zh-model``, detector and
    orientation from ``--models-dir``'s manifest) or, with ``--untrained``, untrained ones."""
    from chinese_ocr.predict import SHIPPED_NAMES, ChinesePredictor, companion

    if args.untrained:
        from benchmarks.bench_chinese import publish_untrained

        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-peers-zh-")))
        publish_untrained(tmp, tiny=args.tiny)
        model_path, cache, models_dir = tmp / "chinese.keras", tmp, tmp
    else:
        from chinese_ocr.evaluate import inference_file

        models_dir = Path(args.models_dir)
        model = Path(args.zh_model or models_dir / "chinese.keras")
        if not model.is_file():
            raise SystemExit(f"{model} not found: train and publish a Chinese model, or pass --untrained")
        model_path, cache = inference_file(model), None
    predictor = ChinesePredictor(model_path, onnx_cache_dir=cache,
                                 detector=companion(models_dir, SHIPPED_NAMES["detector"]) or False,
                                 orientation=companion(models_dir, SHIPPED_NAMES["orientation"]))
    stack.callback(predictor.close)
    return predictor, model_path


def our_zh_readers(predictor, untrained: bool) -> tuple[Reader, Reader]:
    """(line reader: ``predict(detect=False)``, page reader: ``predict()``)."""
    tag = " (untrained)" if untrained else ""
    backend = predictor.recognizer.backend
    steps = f"orientation ({predictor.orientation_kind}) + recogniser"

    def read_line(img: np.ndarray) -> str:
        return predictor.predict([img], detect=False)[0].text

    def read_lines(imgs: list[np.ndarray]) -> list[str]:
        return [r.text for r in predictor.read_lines(imgs)]

    line = Reader(f"ours{tag}, detect=0", read_line, read_lines,
                  note=f"ChinesePredictor.predict(detect=False): {steps}, {predictor.decoder}; batched: "
                  f"ChinesePredictor.read_lines (no orientation step); {backend}")
    if predictor.detector is None:
        page = Reader(f"ours{tag}", None, status="no detector", note="no ctpn entry in the models' manifest")
    else:
        def read_page(img: np.ndarray) -> list[tuple[np.ndarray, str]]:
            return [(ln.box, ln.text) for ln in predictor.predict([img])[0].lines]

        page = Reader(f"ours{tag}", read_page, note=f"ChinesePredictor.predict: CTPN, crops, {steps}; {backend}")
    return line, page


def run_chinese(args: argparse.Namespace, stack: ExitStack) -> dict[str, Any]:
    line_sets = zh_line_sets(args)
    page_sets = zh_page_sets(args) + [s for s in (zh_source_page_set(args),) if s is not None]
    if not line_sets and not page_sets:
        raise SystemExit("no Chinese evaluation set: pass --zh-synth-dir, --plates, --zh-dev, --n-pages "
                         "or --n-print-pages")
    predictor, model_path = our_zh_predictor(args, stack)
    ours_line, ours_page = our_zh_readers(predictor, args.untrained)
    engine, rapid = rapidocr_engine()
    rapid_line, rapid_page = rapidocr_readers(engine, rapid)
    tess = tesseract_info("chi_sim")
    if tess.get("status") == "ok":
        print(f"Tesseract {tess['version']} chi_sim: process start {tess['process_start_ms']:.0f} ms, "
              f"blank image {tess['blank_image_ms']:.0f} ms per call", flush=True)
    else:
        print(f"Tesseract chi_sim: {tess['status']}: {tess.get('why')}", flush=True)
    print(f"RapidOCR: {rapid['status']} {rapid.get('version', rapid.get('why', ''))}", flush=True)
    rows = []
    for s in line_sets:
        print(f"\n{s.name}: {len(s.images)} Chinese lines", flush=True)
        readers = [tesseract_reader(tess, 7, "one text line", lang="chi_sim"), rapid_line, ours_line]
        rows += run_set(readers, s, args.batch)
    sets = [{"name": s.name, "kind": s.kind, "n": len(s.images)} for s in line_sets]
    for page_set in page_sets:
        print(f"\n{page_set.name}: {len(page_set.images)} pages, {sum(len(q) for q in page_set.quads)} "
              f"{'labelled ' if page_set.labelled else ''}lines", flush=True)
        rows += run_pages([tesseract_page_reader(tess, 3), rapid_page, ours_page], page_set)
        sets.append({"name": page_set.name, "kind": "labelled-page" if page_set.labelled else "page",
                     "n": len(page_set.images)})
    return {"sets": sets, "rows": rows, "tesseract": tess, "rapidocr": rapid, "model": str(model_path),
            "untrained": args.untrained, "tiny": args.untrained and args.tiny, "backend": predictor.recognizer.backend,
            "detector": predictor.detector is not None, "orientation": predictor.orientation is not None}


# Task name -> runner(args, exit stack) -> results with "sets" and "rows" (one per set and reader).
TASKS: dict[str, Callable[[argparse.Namespace, ExitStack], dict[str, Any]]] = {
    "word": run_word,
    "chinese": run_chinese,
}


def task_runner(name: str) -> Callable[[argparse.Namespace, ExitStack], dict[str, Any]]:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose from {sorted(TASKS)}") from None


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_peers", description=__doc__,
                                 formatter_class=HelpFormatter)
    ap.add_argument("--tasks", default="word", help=f"comma-separated tasks, of {sorted(TASKS)}")
    ap.add_argument("--models-dir", default="models",
                    help="where word.keras, chinese.keras, ctpn.keras, zh_orientation.keras (+ .json, manifest) are")
    ap.add_argument("--model", default=None,
                    help="a word model or training checkpoint instead of MODELS_DIR/word.keras")
    ap.add_argument("--untrained", action="store_true",
                    help="untrained models in a temp folder: valid times, meaningless accuracy for ours")
    ap.add_argument("--tiny", action="store_true",
                    help="chinese, with --untrained: tiny networks (for tests of the script; times mean nothing)")
    ap.add_argument("--words-dev", default=default_words_dev(),
                    help="labelled real handwriting (labels.tsv: file, kind, text), split into words and lines")
    ap.add_argument("--synth-dir", default=None, help="synthetic held-out shards, e.g. data/word_synth/heldout")
    ap.add_argument("--n-synth", type=int, default=200, help="synthetic words to read")
    ap.add_argument("--line-psm", type=int, default=7, choices=(6, 7),
                    help="Tesseract page segmentation for line images: 7 one text line, 6 a block of lines")
    ap.add_argument("--batch", type=int, default=32, help="images per predict call for ours' batched time")
    zh = ap.add_argument_group("chinese task")
    zh.add_argument("--zh-model", default=None,
                    help="a Chinese recogniser or checkpoint instead of MODELS_DIR/chinese.keras (the detector and "
                    "orientation classifier come from MODELS_DIR/manifest.json)")
    zh.add_argument("--zh-synth-dir", default="data/zh_synth",
                    help="held-out line shards: <dir>/eval (zh-lines) and <dir>/heldout (zh-heldout-font), rendered "
                    "when short; '' for none")
    zh.add_argument("--n-lines", type=int, default=300, help="lines of each synthetic line set")
    zh.add_argument("--n-print", type=int, default=300, help="clean printed lines in the eval faces (0: none)")
    zh.add_argument("--plates", default=default_folder("plates"),
                    help="licence plates (labels.tsv); the validation half of plate_split is read")
    zh.add_argument("--zh-dev", default=default_folder("zh_dev"), help="real Chinese lines (labels.tsv: file, text)")
    zh.add_argument("--n-pages", type=int, default=20, help="seeded synthetic 960x720 pages (0: none)")
    zh.add_argument("--n-print-pages", type=int, default=20,
                    help="seeded clean printed 960x720 pages of words in the eval faces "
                    "(ctpn.synth.print_pages; 0: none)")
    zh.add_argument("--zh-sources", default=None,
                    help="folder with the source images of --zh-dev (layouts: chinese_ocr.source_pages): "
                    "zh-dev-pages, real pages of which zh_dev's lines are labelled")
    add_common_args(ap, NAME)
    return ap


def print_report(results: dict[str, Any]) -> None:
    for task, res in results.items():
        for s in res["sets"]:
            rows = [r for r in res["rows"] if r["set"] == s["name"]]
            what = {"zh": "Chinese lines", "page": "960x720 pages", "labelled-page": "real images"}.get(
                s["kind"], f"{s['kind']} images")
            print(f"\n### {task}: {s['name']} ({s['n']} {what})\n")
            print(peer_table(rows, s["kind"]))
        tess = res.get("tesseract", {})
        lang = tess.get("lang", "eng")
        if tess.get("status") == "ok":
            print(f"\nTesseract {tess['version']} ({tess.get(f'{lang}_traineddata', {}).get('size_mb', '?')} MB "
                  f"{lang}.traineddata): every call starts a process ({tess['process_start_ms']:.0f} ms for "
                  f"`tesseract --version`) and loads its model ({tess['blank_image_ms']:.0f} ms for a blank image); "
                  "both are in its ms/image.")
        elif tess:
            print(f"\nTesseract: {tess.get('status')} ({tess.get('why')})")
        rapid = res.get("rapidocr")
        if rapid and rapid.get("status") == "ok":
            print(f"\nRapidOCR {rapid['version']} in process (ONNX Runtime, all cores), models "
                  f"{', '.join(rapid.get('models', {}).values()) or '?'}, loaded once.")
        elif rapid:
            print(f"\nRapidOCR: {rapid.get('status')} ({rapid.get('why')})")
        if task == "chinese":
            print("\nTexts compared after normalize_text, without spaces next to CJK characters; pages: det F with "
                  "lines matched one to one at IoU >= 0.5 and by DetEval coverage; texts paired by coverage, CER "
                  "over the pairs + unpaired lines in full.")
        if res.get("tiny"):
            print("\nours: UNTRAINED TINY models, their accuracy and times are meaningless.")
        elif res.get("untrained"):
            print("\nours: UNTRAINED model, its accuracy is meaningless (times are valid).")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    runners = {t: task_runner(t) for t in (x.strip() for x in args.tasks.split(",")) if t}
    machine = machine_info()
    warn_if_busy(machine)
    print(machine_line(machine), flush=True)
    results = {}
    with ExitStack() as stack:
        for task, run in runners.items():
            results[task] = run(args, stack)
    print_report(results)
    write_results(NAME, args.out, args, machine, results)
    return results


if __name__ == "__main__":
    main()
