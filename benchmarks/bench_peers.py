"""Our readers against open peers on the same images, in one run: accuracy and time per image.

    python -m benchmarks.bench_peers                                   # word task, models/word.keras
    python -m benchmarks.bench_peers --untrained --quick               # before a word model ships
    python -m benchmarks.bench_peers --synth-dir data/word_synth/heldout --n-synth 200

One script for every task: ``TASKS`` maps a task name to its runner, and each runner builds its
evaluation sets and its readers (ours and the peers). Tasks so far:

* ``word`` (handwritten words and lines): Tesseract 5 (``pytesseract``, LSTM engine ``--oem 1``,
  English) against ``WordPredictor`` with the lexicon (word beam search) and without it (beam
  search). Single words are read by Tesseract with ``--psm 8`` ("one word") and by ours with
  ``segment=False``; lines with ``--psm 7`` ("one text line", see ``--line-psm``) and by ours
  through the word segmenter. Sets: ``--words-dev`` split into its words and its lines, and
  optionally synthetic held-out shards (``--synth-dir``).

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
"""

from __future__ import annotations

import argparse
import os
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
    """One way to read an image. ``read`` takes one decoded image and returns its text;
    ``read_batch`` (optional) reads many in one call, for the batched time. A reader that
    cannot run here has ``read=None`` and says why in ``status`` (e.g. "not installed")."""

    name: str
    read: Callable[[np.ndarray], str] | None
    read_batch: Callable[[list[np.ndarray]], list[str]] | None = None
    status: str = "ok"
    note: str = ""


@dataclass
class EvalSet:
    name: str
    images: list[np.ndarray]
    truths: list[str]
    kind: str  # "word" (one word per image) or "line" (a line of words, read through segmentation)


def score(preds: Sequence[str], truths: Sequence[str], kind: str) -> dict[str, Any]:
    """Text metrics for one reader on one set; line sets are compared after squashing whitespace."""
    from handwrite_word_ocr.evaluate import squash
    from ocr_common.ctc import text_metrics

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
    """Markdown table of one set's rows. ``kind`` "line" adds WER and calls accuracy per line.
    A reader that did not run shows its status in every metric cell."""
    unit = "line" if kind == "line" else "word"
    cols: list[tuple[str, str, str]] = [("n", "n", "d"), ("cer", "CER", ".3f")]
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


def tesseract_info() -> dict[str, Any]:
    """Version, data files and process start cost of the installed Tesseract, or why it is unusable."""
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
                            "binary": shutil.which(pytesseract.pytesseract.tesseract_cmd),
                            "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT")}
    try:
        info["languages"] = pytesseract.get_languages()
    except Exception:  # noqa: BLE001 - informational only
        pass
    for d in (os.environ.get("TESSDATA_PREFIX"), "/usr/share/tesseract-ocr/5/tessdata",
              "/usr/share/tesseract-ocr/4.00/tessdata", "/usr/local/share/tessdata"):
        if d and (Path(d) / "eng.traineddata").is_file():
            f = Path(d) / "eng.traineddata"
            # ~4 MB is tessdata_fast (integer LSTM only, what Debian ships); ~23 MB is tessdata (+ legacy).
            info["eng_traineddata"] = {"path": str(f), "size_mb": round(f.stat().st_size / 2**20, 1)}
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
        pytesseract.image_to_string(blank, lang="eng", config="--oem 1 --psm 8")
        reads.append(time.perf_counter() - t0)
    info["blank_image_ms"] = 1e3 * statistics.median(reads)  # process + model load + temp files, no text
    return info


def tesseract_reader(info: dict[str, Any], psm: int, label: str) -> Reader:
    name = f"Tesseract {info.get('version', '')} --oem 1 --psm {psm}".replace("  ", " ")
    if info.get("status") != "ok":
        return Reader(f"Tesseract --psm {psm}", None, status=info.get("status", "not installed"),
                      note=info.get("why", ""))
    import pytesseract

    config = f"--oem 1 --psm {psm}"

    def read(img: np.ndarray) -> str:
        return pytesseract.image_to_string(img, lang="eng", config=config).strip()

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


# Task name -> runner(args, exit stack) -> results with "sets" and "rows" (one per set and reader).
# A new task (e.g. Chinese: RapidOCR, Tesseract chi_sim) adds its runner here.
TASKS: dict[str, Callable[[argparse.Namespace, ExitStack], dict[str, Any]]] = {
    "word": run_word,
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
    ap.add_argument("--models-dir", default="models", help="where word.keras (+ word.json) is")
    ap.add_argument("--model", default=None,
                    help="a word model or training checkpoint instead of MODELS_DIR/word.keras")
    ap.add_argument("--untrained", action="store_true",
                    help="an untrained word model in a temp folder: valid times, meaningless accuracy for ours")
    ap.add_argument("--words-dev", default=default_words_dev(),
                    help="labelled real handwriting (labels.tsv: file, kind, text), split into words and lines")
    ap.add_argument("--synth-dir", default=None, help="synthetic held-out shards, e.g. data/word_synth/heldout")
    ap.add_argument("--n-synth", type=int, default=200, help="synthetic words to read")
    ap.add_argument("--line-psm", type=int, default=7, choices=(6, 7),
                    help="Tesseract page segmentation for line images: 7 one text line, 6 a block of lines")
    ap.add_argument("--batch", type=int, default=32, help="images per predict call for ours' batched time")
    add_common_args(ap, NAME)
    return ap


def print_report(results: dict[str, Any]) -> None:
    for task, res in results.items():
        for s in res["sets"]:
            rows = [r for r in res["rows"] if r["set"] == s["name"]]
            print(f"\n### {task}: {s['name']} ({s['n']} {s['kind']} images)\n")
            print(peer_table(rows, s["kind"]))
        tess = res.get("tesseract", {})
        if tess.get("status") == "ok":
            print(f"\nTesseract {tess['version']} ({tess.get('eng_traineddata', {}).get('size_mb', '?')} MB "
                  f"eng.traineddata): every call starts a process ({tess['process_start_ms']:.0f} ms for "
                  f"`tesseract --version`) and loads its model ({tess['blank_image_ms']:.0f} ms for a blank image); "
                  "both are in its ms/image.")
        elif tess:
            print(f"\nTesseract: {tess.get('status')} ({tess.get('why')})")
        if res.get("untrained"):
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
