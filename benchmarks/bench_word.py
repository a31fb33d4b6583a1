"""Speed of the handwritten-word reader, stage by stage, in process and over HTTP.

    python -m benchmarks.bench_word                      # models/word.keras (+ manifest entry for HTTP)
    python -m benchmarks.bench_word --untrained          # before a word model ships (temp folder)
    python -m benchmarks.bench_word --http server        # a real server.py instead of Flask's test client

Stages, median / p95 ms per call, one image per call (real words and lines from ``--words-dev``,
else drawn ones): ``decode_image`` of a PNG upload; ``normalize_word`` (ink map, crop, resize to
32 x 128); the model at batch 1 (``WordPredictor.probabilities`` of one crop = normalisation +
runtime, and the runtime alone on a normalised input); each decoder on one probability matrix
(best path, beam, beam + spelling, word beam search over the lexicon); ``segment_words`` on a
line image; and the whole ``WordPredictor.predict`` of one word (``segment=False``) and of one
line (``segment=True``), lexicon on and off. Then the model's throughput at ``--batch`` (img/s)
and ``POST /predict/word`` latency: by default through Flask's test client (routes, decoding,
JSON; no sockets), with ``--http server`` through ``server.py`` on a loopback port and one
keep-alive client (``benchmarks.bench_inference``'s server driver).

Speed does not depend on the weights except for the decoders: beam searches keep more
candidates alive on the flat outputs of an untrained model, so with ``--untrained`` the decoder
and ``predict`` rows are an upper bound; the model and segmentation rows are exact.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from itertools import cycle
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    SHARED_DATA_DIR,
    HelpFormatter,
    add_common_args,
    bench_task_http,
    machine_info,
    machine_line,
    markdown_table,
    png_bytes,
    summarize,
    time_calls,
    warn_if_busy,
    write_results,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NAME = "bench_word"
HTTP_MODES = ("client", "server", "none")


def build_parser() -> argparse.ArgumentParser:
    from ocr_common.runtime import BACKENDS

    d = SHARED_DATA_DIR / "words_dev"
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_word", description=__doc__,
                                 formatter_class=HelpFormatter)
    ap.add_argument("--models-dir", default="models", help="word.keras + word.json (and manifest.json for HTTP)")
    ap.add_argument("--untrained", action="store_true",
                    help="publish an untrained default-size word model into a temp folder and measure that")
    ap.add_argument("--words-dev", default=str(d) if (d / "labels.tsv").is_file() else None,
                    help="real word and line images (labels.tsv); drawn ones when missing")
    ap.add_argument("--backend", choices=BACKENDS, default=None,
                    help="runtime backend; None: the runtime's default (onnx; tf without onnxruntime)")
    ap.add_argument("--calls", type=int, default=30, help="timed calls per stage (fast stages run for >= 1 s)")
    ap.add_argument("--batch", type=int, default=32, help="batch size of the throughput row")
    ap.add_argument("--http", choices=HTTP_MODES, default="client",
                    help="POST /predict/word through Flask's test client, a real server.py, or not at all")
    ap.add_argument("--train-steps", type=int, default=15, help="timed training steps per head (0: skip)")
    ap.add_argument("--server-timeout", type=float, default=180.0, help="--http server: seconds to wait for /health")
    add_common_args(ap, NAME)
    return ap


# --------------------------------------------------------------------------- inputs


def drawn_images() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Stand-ins when no real handwriting is on disk: Hershey-script words and one two-line phrase."""
    import cv2

    def draw(words: list[tuple[str, int, int]], size: tuple[int, int]) -> np.ndarray:
        img = np.full((size[1], size[0]), 245, np.uint8)
        for text, x, y in words:
            cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.6, 20, 3, cv2.LINE_AA)
        return img

    words = [draw([(w, 10, 55)], (40 * len(w) + 20, 80)) for w in ("hello", "world", "reading", "cat", "paper")]
    lines = [draw([("the quick brown fox", 15, 60), ("jumps over it", 15, 140)], (620, 170))]
    return words, lines


def load_inputs(words_dev: str | None, limit: int) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """(word images, line images, where from)."""
    if words_dev and (Path(words_dev) / "labels.tsv").is_file():
        from handwrite_word_ocr.data import load_labelled_folder

        words = [w.image for w in load_labelled_folder(words_dev, "word")[:limit]]
        lines = [w.image for w in load_labelled_folder(words_dev, "line")[: max(1, limit // 4)]]
        if words and lines:
            return words, lines, f"{words_dev} (first {len(words)} words, {len(lines)} lines)"
    words, lines = drawn_images()
    return words, lines, "drawn Hershey-script words (no --words-dev)"


def gray(img: np.ndarray) -> np.ndarray:
    import cv2

    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def publish_untrained(folder: Path) -> Path:
    """An untrained default-size word model published into ``folder`` (manifest included)."""
    import keras

    from handwrite_word_ocr.config import WordConfig
    from handwrite_word_ocr.model import build_model, inference_model
    from ocr_common.config import save_config
    from ocr_common.manifest import publish

    keras.utils.set_random_seed(0)
    cfg = WordConfig()
    raw = folder / "raw"
    raw.mkdir()
    inference_model(build_model(cfg)).save(raw / "word.keras")
    save_config(cfg, raw / "word.json")
    publish(folder, "word", "word", raw / "word.keras", raw / "word.json",
            architecture=f"CRNN ({cfg.head} head), untrained", dataset="none (untrained, benchmark only)")
    return folder


# --------------------------------------------------------------------------- measurements


def stage(rows: list[dict], name: str, fn: Callable[[], Any], calls: int, min_seconds: float = 0.0) -> None:
    """Time ``fn`` (at least ``calls`` times and ``min_seconds``) and append a row."""
    s = summarize(time_calls(fn, calls, warmup=1, min_seconds=min_seconds, max_n=3000))
    rows.append({"stage": name, **s})
    print(f"  {name}: {s['median_ms']:.2f} ms median, p95 {s['p95_ms']:.2f}", flush=True)


def bench_stages(predictor, words: list[np.ndarray], lines: list[np.ndarray], calls: int,
                 fast_seconds: float = 1.0) -> list[dict]:
    """Median / p95 of every stage; the fast ones keep going for ``fast_seconds`` for a stable p95."""
    from handwrite_word_ocr.predict import DECODERS, decoder
    from handwrite_word_ocr.preprocess import normalize_batch, normalize_word
    from handwrite_word_ocr.segment import segment_words
    from ocr_common.image import decode_image

    cfg = predictor.config
    pngs = cycle([png_bytes(gray(w)) for w in words])
    word_it, line_it = cycle(words), cycle(lines)
    x_it = cycle(normalize_batch(words, cfg.height, cfg.width)[:, None])  # each (1, H, W, 1)
    probs = predictor.probabilities(words)
    rows: list[dict] = []
    stage(rows, "decode_image (PNG bytes -> array)", lambda: decode_image(next(pngs)), calls, fast_seconds)
    stage(rows, "normalize_word (ink map, crop, 32x128)",
          lambda: normalize_word(next(word_it), cfg.height, cfg.width), calls, fast_seconds)
    stage(rows, f"model, batch 1: runtime alone ({predictor.backend})", lambda: predictor.runtime.run(next(x_it)),
          calls, fast_seconds)
    stage(rows, "model, batch 1: WordPredictor.probabilities (normalise + runtime)",
          lambda: predictor.probabilities([next(word_it)]), calls, fast_seconds)
    for name in DECODERS:
        decode, p_it = decoder(name, predictor.beam_width), cycle(probs)
        stage(rows, f"decoder {name}", lambda decode=decode, p_it=p_it: decode(next(p_it), predictor.charset),
              calls, fast_seconds)
    stage(rows, "segment_words (one line image)", lambda: segment_words(next(line_it)), calls)
    stage(rows, "predict one word, segment=False, lexicon",
          lambda: predictor.predict([next(word_it)], segment=False), calls)
    stage(rows, "predict one word, segment=False, no lexicon",
          lambda: predictor.predict([next(word_it)], segment=False, lexicon=False), calls)
    stage(rows, "predict one line, segment=True, lexicon", lambda: predictor.predict([next(line_it)]), calls)
    stage(rows, "predict one line, segment=True, no lexicon",
          lambda: predictor.predict([next(line_it)], lexicon=False), calls)
    return rows


def bench_throughput(predictor, words: list[np.ndarray], batch: int, calls: int,
                     min_seconds: float = 2.0) -> list[dict]:
    from handwrite_word_ocr.preprocess import normalize_batch

    crops = (words * (-(-batch // len(words))))[:batch]
    x = normalize_batch(crops, predictor.config.height, predictor.config.width)
    rows = []
    for what, fn in (("runtime alone", lambda: predictor.runtime.run(x)),
                     ("WordPredictor.probabilities", lambda: predictor.probabilities(crops))):
        s = summarize(time_calls(fn, max(3, calls // 3), warmup=1, min_seconds=min_seconds, max_n=200))
        rows.append({"what": what, "batch": batch, "img_per_s": 1e3 * batch / s["median_ms"], **s})
        print(f"  {what} at batch {batch}: {rows[-1]['img_per_s']:.0f} img/s", flush=True)
    return rows


def bench_heads(steps: int, batch: int = 64) -> list[dict]:
    """Training img/s of each sequence head on the same random batch, in this process: what
    choosing a head costs per epoch (their accuracy is in docs/word.md)."""
    import keras

    from handwrite_word_ocr.config import WordConfig
    from handwrite_word_ocr.model import HEADS, build_model, compile_model

    rng = np.random.default_rng(0)
    rows = []
    for head in HEADS:
        cfg = WordConfig(head=head)
        keras.utils.set_random_seed(0)
        model = compile_model(build_model(cfg), "adam", 1e-3)
        x = rng.random((batch, cfg.height, cfg.width, 1), dtype=np.float32)
        y = rng.integers(1, len(cfg.chars) + 1, (batch, 10)).astype(np.int32)
        s = summarize(time_calls(lambda m=model, x=x, y=y: m.train_on_batch(x, y), steps, warmup=2))
        rows.append({"head": head, "params": model.count_params(), "img_per_s": 1e3 * batch / s["median_ms"], **s})
        print(f"  {head} head: {rows[-1]['img_per_s']:.0f} training img/s", flush=True)
    return rows


def bench_http(models_dir: Path, words: list[np.ndarray], lines: list[np.ndarray], args: argparse.Namespace,
               stack: ExitStack) -> list[dict]:
    """POST /predict/word latency for one word (segment=0) and one line, one request at a time."""
    word_pngs = [png_bytes(gray(w)) for w in words]
    line_pngs = [png_bytes(gray(im)) for im in lines]
    cases = [("one word, ?segment=0", "/predict/word?segment=0", word_pngs),
             ("one line (segmented)", "/predict/word", line_pngs)]
    return bench_task_http(models_dir, "word", cases, args, stack)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.calls = 3
    machine = machine_info()
    warn_if_busy(machine)
    print(machine_line(machine), flush=True)
    from handwrite_word_ocr.predict import WordPredictor

    words, lines, source = load_inputs(args.words_dev, 8 if args.quick else 32)
    with ExitStack() as stack:
        if args.untrained:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-word-")))
            # A fresh model's ONNX export goes to the temp folder, not data/cache (the server inherits this).
            old_cache = os.environ.get("OCR_CACHE_DIR")
            os.environ["OCR_CACHE_DIR"] = str(tmp / "cache")
            stack.callback(lambda: os.environ.pop("OCR_CACHE_DIR") if old_cache is None
                           else os.environ.__setitem__("OCR_CACHE_DIR", old_cache))
            models_dir = publish_untrained(tmp)
        else:
            models_dir = Path(args.models_dir)
            if not (models_dir / "word.keras").is_file():
                raise SystemExit(f"{models_dir}/word.keras not found: publish a word model, or pass --untrained")
        predictor = WordPredictor(models_dir / "word.keras", backend=args.backend)
        stack.callback(predictor.close)
        print(f"\nmodel {models_dir / 'word.keras'} on {predictor.backend}; images: {source}", flush=True)
        print("stages:", flush=True)
        stages = bench_stages(predictor, words, lines, args.calls, 0.0 if args.quick else 1.0)
        print("throughput:", flush=True)
        throughput = bench_throughput(predictor, words, args.batch, args.calls, 0.0 if args.quick else 2.0)
        heads = []
        if args.train_steps:
            print("training throughput per head (batch 64):", flush=True)
            heads = bench_heads(2 if args.quick else args.train_steps)
        http = []
        if args.http != "none":
            print("HTTP:", flush=True)
            http = bench_http(models_dir, words, lines, args, stack)
        backend = predictor.backend
    untrained = "; UNTRAINED model (decoder and predict rows: upper bound)" if args.untrained else ""
    print(f"\n{source}; backend {backend}{untrained}")
    print()
    print(markdown_table(stages, [("stage", "stage", ""), ("median_ms", "median ms", ".2f"),
                                  ("p95_ms", "p95 ms", ".2f"), ("n", "calls", "d")]))
    print()
    print(markdown_table(throughput, [("what", "model call", ""), ("batch", "batch", "d"),
                                      ("img_per_s", "img/s", ",.0f"), ("median_ms", "median ms / batch", ".1f"),
                                      ("p95_ms", "p95 ms / batch", ".1f")]))
    if heads:
        print()
        print(markdown_table(heads, [("head", "head", ""), ("params", "params", ",d"),
                                     ("img_per_s", "training img/s", ",.0f"), ("median_ms", "ms / step", ".0f")]))
    if http:
        print()
        print(markdown_table(http, [("endpoint", "POST /predict/word", ""), ("via", "via", ""),
                                    ("median_ms", "median ms", ".1f"), ("p95_ms", "p95 ms", ".1f"),
                                    ("n", "requests", "d")]))
    results = {"images": source, "backend": backend, "untrained": args.untrained, "stages": stages,
               "throughput": throughput, "heads": heads, "http": http}
    write_results(NAME, args.out, args, machine, results)
    return results


if __name__ == "__main__":
    main()
