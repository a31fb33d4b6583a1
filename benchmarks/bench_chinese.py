"""Speed of the Chinese reader, stage by stage, in process and over HTTP; and training speed.

    python -m benchmarks.bench_chinese                      # models/chinese.keras + ctpn + zh_orientation
    python -m benchmarks.bench_chinese --untrained          # before the models ship (temp folder)
    python -m benchmarks.bench_chinese --http server        # a real server.py instead of Flask's test client

Inputs: ``--pages`` seeded 960 x 720 synthetic pages (``ctpn.synth.render_eval_page`` with
``np.random.default_rng(1000 + i)``, split ``eval``: faces the project never trains on) and their
true text lines cut out as the pipeline cuts them (``chinese_ocr.predict.crop_line``).

Stages, median / p95 ms per call, one input per call: ``decode_image`` of a page PNG;
``normalize_line`` of one line crop (32 px high, its own width); the recogniser network on one
normalised line (runtime alone) and ``LineRecognizer.probabilities`` (normalise + network); each
decoder on one line's probabilities; one line end to end (``ChinesePredictor.predict(detect=False)``,
what ``?detect=0`` serves: orientation + recogniser). A page: ``prepare_page`` (resize, float), the
detection network, line building (proposals -> chained, fitted quads, in original pixels), the
whole ``CTPNDetector.detect``; then, on the page's true lines, the crops, the orientation
classifier and the recognition of all lines in one call; and the page end to end
(``ChinesePredictor.predict``). Then the recogniser's throughput at ``--batch`` (lines/s), training
img/s of both architectures (crnn, densenet) at both charsets (GB2312-1: 3,755 characters, GB2312:
6,763; + ASCII and punctuation) on batches of ``--batch`` 32 x 280 lines, and ``POST
/predict/chinese`` (a page, and a line with ``?detect=0``) as ``bench_word`` does it.

With ``--untrained`` (default-size models, weights untrained, published with a manifest in a temp
folder) the network, normalisation, crop, orientation and recognition rows are exact; the beam
decoder row is an upper bound (an untrained model's flat outputs keep more prefixes alive); the
untrained detector finds few or no lines, so its line-building row and every end-to-end page row
are lower bounds. The untrained orientation classifier is set to answer "upright" (same cost), so
a page is detected once, as an upright page is.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
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

NAME = "bench_chinese"
HTTP_MODES = ("client", "server", "none")
CHARSETS = ("GB2312-1", "GB2312")
TRAIN_LABEL_LEN = 10  # characters per random training label (a 280-px line has 70 frames)
# --tiny: networks that build and export in seconds (for tests of the scripts; their times mean nothing).
TINY_RECOGNIZER = {"base": 4, "bottleneck": 16, "growth": 4, "depth": 2, "units": 8}
TINY_DETECTOR = {"base": 4, "rnn_units": 4, "fc_units": 8}
TINY_ORIENTATION_BASE = 4


def build_parser() -> argparse.ArgumentParser:
    from ocr_common.runtime import BACKENDS

    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_chinese", description=__doc__,
                                 formatter_class=HelpFormatter)
    ap.add_argument("--models-dir", default="models",
                    help="chinese.keras, ctpn.keras, zh_orientation.keras (+ .json, manifest.json)")
    ap.add_argument("--untrained", action="store_true",
                    help="publish untrained default-size models into a temp folder and measure those")
    ap.add_argument("--tiny", action="store_true",
                    help="tiny networks instead of default-size ones (with --untrained, and for the training "
                    "rows): checks that the script runs, times mean nothing")
    ap.add_argument("--pages", type=int, default=5, help="seeded 960x720 synthetic pages (their lines are the lines)")
    ap.add_argument("--backend", choices=BACKENDS, default=None,
                    help="runtime backend; None: the runtime's default (onnx; tf without onnxruntime)")
    ap.add_argument("--calls", type=int, default=30, help="timed calls per stage (fast stages run for >= 1 s)")
    ap.add_argument("--batch", type=int, default=32, help="lines per batch: throughput and training rows")
    ap.add_argument("--http", choices=HTTP_MODES, default="client",
                    help="POST /predict/chinese through Flask's test client, a real server.py, or not at all")
    ap.add_argument("--train-steps", type=int, default=5,
                    help="timed training steps per architecture and charset, after 2 untimed (0: skip)")
    ap.add_argument("--train-charsets", default=",".join(CHARSETS), help="charsets of the training rows")
    ap.add_argument("--server-timeout", type=float, default=300.0, help="--http server: seconds to wait for /health")
    add_common_args(ap, NAME)
    return ap


# --------------------------------------------------------------------------- models


def publish_untrained(folder: Path, tiny: bool = False) -> Path:
    """Untrained recogniser (``chinese``), detector (``ctpn``) and orientation classifier
    (``zh_orientation``) published into ``folder`` with a manifest, recogniser first (the entry the
    server loads for the task; the predictor finds the other two in the same manifest).

    The orientation classifier's output layer is set to answer "upright" whatever it sees: an
    untrained one would turn pages at random, and every turned page is detected twice."""
    import keras

    from chinese_ocr import orientation
    from chinese_ocr.config import ChineseConfig
    from chinese_ocr.model import build_model, inference_model
    from ctpn.config import CTPNConfig
    from ctpn.model import build_model as build_ctpn
    from ctpn.model import inference_model as ctpn_inference
    from ocr_common.config import save_config
    from ocr_common.manifest import publish

    keras.utils.set_random_seed(0)
    raw = folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    note = "untrained, benchmark only" + (" (tiny)" if tiny else "")

    zh_cfg = ChineseConfig(**TINY_RECOGNIZER) if tiny else ChineseConfig()
    inference_model(build_model(zh_cfg)).save(raw / "chinese.keras")
    save_config(zh_cfg, raw / "chinese.json")
    publish(folder, "chinese", "chinese", raw / "chinese.keras", raw / "chinese.json",
            architecture=f"{zh_cfg.arch} recogniser, {zh_cfg.charset}, {note}", dataset="none")

    det_cfg = CTPNConfig(**TINY_DETECTOR) if tiny else CTPNConfig()
    ctpn_inference(build_ctpn(det_cfg)).save(raw / "ctpn.keras")
    save_config(det_cfg, raw / "ctpn.json")
    publish(folder, "ctpn", "chinese", raw / "ctpn.keras", raw / "ctpn.json", architecture=f"CTPN, {note}",
            dataset="none")

    model = orientation.build_model(TINY_ORIENTATION_BASE if tiny else 16)
    head = model.get_layer("probs")
    kernel, _ = head.get_weights()
    head.set_weights([np.zeros_like(kernel), np.array([4.0, -4.0], np.float32)])  # p(turned) = 0.0003
    model.save(raw / "zh_orientation.keras")
    (raw / "zh_orientation.json").write_text(
        json.dumps({"task": "zh_orientation", "height": orientation.HEIGHT, "width": orientation.WIDTH,
                    "classes": ["0", "180"]}) + "\n")
    publish(folder, "zh_orientation", "chinese", raw / "zh_orientation.keras", raw / "zh_orientation.json",
            architecture=f"orientation CNN, {note}, always upright", dataset="none")
    return folder


def untrained_cache(stack: ExitStack, prefix: str) -> Path:
    """A temp folder that lives as long as ``stack``, set as ``$OCR_CACHE_DIR`` meanwhile: a fresh
    model's ONNX export must not pile up in data/cache (a server started from here inherits it)."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
    old = os.environ.get("OCR_CACHE_DIR")
    os.environ["OCR_CACHE_DIR"] = str(tmp / "cache")
    stack.callback(lambda: os.environ.pop("OCR_CACHE_DIR", None) if old is None
                   else os.environ.__setitem__("OCR_CACHE_DIR", old))
    return tmp


# --------------------------------------------------------------------------- inputs


@dataclass
class PageInput:
    image: np.ndarray  # (720, 960, 3) RGB uint8
    quads: list[np.ndarray]  # its true lines
    crops: list[np.ndarray]  # those lines cut out as the pipeline cuts them
    png: bytes


def rgb_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB (or grey) uint8 image, as a browser would upload it."""
    import cv2

    return png_bytes(cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image)


def load_inputs(n_pages: int) -> tuple[list[PageInput], list[np.ndarray]]:
    """(pages, all their line crops). More pages are rendered while none has a line."""
    from chinese_ocr.predict import crop_line
    from ctpn.synth import EVAL_PAGE_SEED, eval_pages

    pages: list[PageInput] = []
    i = 0
    while len(pages) < n_pages or not any(p.crops for p in pages):
        page = eval_pages(1, EVAL_PAGE_SEED + i)[0]
        quads = list(page.lines)
        pages.append(PageInput(page.image, quads, [crop_line(page.image, q) for q in quads], rgb_png(page.image)))
        i += 1
    return pages, [c for p in pages for c in p.crops]


# --------------------------------------------------------------------------- measurements


def stage(rows: list[dict], name: str, fn: Callable[[], Any], calls: int, min_seconds: float = 0.0,
          note: str = "") -> None:
    """Time ``fn`` (at least ``calls`` times and ``min_seconds``) and append a row."""
    s = summarize(time_calls(fn, calls, warmup=1, min_seconds=min_seconds, max_n=3000))
    rows.append({"stage": name, **s, "note": note})
    print(f"  {name}: {s['median_ms']:.2f} ms median, p95 {s['p95_ms']:.2f}", flush=True)


def bench_line_stages(predictor, lines: list[np.ndarray], calls: int, fast_seconds: float = 1.0) -> list[dict]:
    from chinese_ocr.preprocess import normalize_line
    from chinese_ocr.recognize import DECODERS, decode

    rec = predictor.recognizer
    cfg = rec.config
    xs, probs = rec.normalize(lines), rec.probabilities(lines)
    # Every stage starts at the first line and cycles through the same lines for at least
    # fast_seconds, so the rows are medians over the same crops (their widths decide the cost).
    rows: list[dict] = []
    it = cycle(lines)
    stage(rows, "normalize_line (one line, 32 px high, own width)",
          lambda: normalize_line(next(it), cfg.height, None, cfg.stride), calls, fast_seconds)
    x_it = cycle(xs)
    stage(rows, f"recogniser network, one line: runtime alone ({rec.backend})",
          lambda: rec.runtime.run_images([next(x_it)]), calls, fast_seconds)
    it = cycle(lines)
    stage(rows, "recogniser, one line: LineRecognizer.probabilities (normalise + network)",
          lambda: rec.probabilities([next(it)]), calls, fast_seconds)
    for name in DECODERS:
        p_it = cycle(probs)
        lm = rec.lm(name)
        stage(rows, f"decode {name}, one line",
              lambda name=name, p_it=p_it, lm=lm: decode(next(p_it), rec.charset, name, lm=lm), calls, fast_seconds)
    it = cycle(lines)
    stage(rows, "one line end to end: ChinesePredictor.predict(detect=False)",
          lambda: predictor.predict([next(it)], detect=False), calls, fast_seconds,
          note=f"orientation ({predictor.orientation_kind}) + recogniser")
    return rows


def bench_page_stages(predictor, pages: list[PageInput], calls: int, fast_seconds: float = 1.0) -> list[dict]:
    from chinese_ocr.predict import crop_line
    from ctpn.preprocess import prepare_page
    from ocr_common.image import decode_image

    rows: list[dict] = []
    n_true = np.mean([len(p.quads) for p in pages])
    on_true = f"on the page's true lines, {n_true:.1f} per page"

    def it():
        return cycle(pages)

    pngs = it()
    stage(rows, "decode_image (960x720 page PNG -> array)", lambda: decode_image(next(pngs).png), calls, fast_seconds)
    det = predictor.detector
    if det is not None:
        cfg = det.config
        prepared = [prepare_page(p.image, cfg)[0] for p in pages]
        outputs = [r.outputs for r in det.runtime.run_images(prepared)]
        found = [len(lines) for lines in det.detect([p.image for p in pages])]
        prep_it, x_it, out_it, page_it = it(), cycle(prepared), cycle(zip(prepared, outputs, pages)), it()

        def build():
            x, outputs, page = next(out_it)
            return det.lines(x, outputs, page.image.shape)

        stage(rows, "page: prepare_page (resize, float)", lambda: prepare_page(next(prep_it).image, cfg), calls,
              fast_seconds)
        stage(rows, f"page: detection network ({det.backend})", lambda: det.runtime.run_images([next(x_it)]), calls)
        stage(rows, "page: line building (proposals -> lines, original pixels)", build, calls, fast_seconds,
              note=f"{np.mean(found):.1f} lines found per page")
        stage(rows, "page: CTPNDetector.detect (all of the above)", lambda: det.detect([next(page_it).image]), calls)
    crop_it = it()

    def crop_all():
        page = next(crop_it)
        return [crop_line(page.image, q) for q in page.quads]

    stage(rows, "page: crop every line (crop_line)", crop_all, calls, fast_seconds, note=on_true)
    if predictor.orientation is not None:
        o_it = cycle([p.crops for p in pages if p.crops])
        stage(rows, f"page: orientation of every line (one call; {predictor.orientation_kind})",
              lambda: predictor.orientation.turned(next(o_it)), calls, note=on_true)
    if predictor.recognizer is not None:
        r_it = cycle([p.crops for p in pages if p.crops])
        stage(rows, f"page: recognition of every line (ChinesePredictor.read_lines, one call, {predictor.decoder})",
              lambda: predictor.read_lines(next(r_it)), calls, note=on_true)
    if det is not None:
        e_it = it()
        stage(rows, "page end to end: ChinesePredictor.predict", lambda: predictor.predict([next(e_it).image]), calls,
              note="detected lines")
    return rows


def bench_throughput(rec, lines: list[np.ndarray], batch: int, calls: int, min_seconds: float = 2.0) -> list[dict]:
    """Lines/s of the recogniser at ``batch``: the network on lines at the training width (one
    shape), the network on page crops at their own widths (grouped by width bucket), and
    ``LineRecognizer.read`` of those crops (normalise + network + the served decoder)."""
    from chinese_ocr.preprocess import normalize_line
    from chinese_ocr.recognize import DEFAULT_DECODER as DEC

    crops = (lines * (-(-batch // len(lines))))[:batch]
    cfg = rec.config
    fixed = (np.stack([normalize_line(c, cfg.height, cfg.width, cfg.stride) for c in crops]).astype(np.float32)
             / 255.0)[..., None]
    own = rec.normalize(crops)
    widths = sorted({rec.runtime.pad_size(2, x.shape[1]) for x in own})
    rows = []
    for what, fn in ((f"network alone, {cfg.width} px lines", lambda: rec.runtime.run(fixed)),
                     (f"network alone, page crops ({len(widths)} width buckets)", lambda: rec.runtime.run_images(own)),
                     (f"LineRecognizer.read, page crops ({DEC})", lambda: rec.read(crops, DEC))):
        s = summarize(time_calls(fn, max(3, calls // 3), warmup=1, min_seconds=min_seconds, max_n=200))
        rows.append({"what": what, "batch": batch, "lines_per_s": 1e3 * batch / s["median_ms"], **s})
        print(f"  {what} at batch {batch}: {rows[-1]['lines_per_s']:.0f} lines/s", flush=True)
    return rows


def bench_training(steps: int, batch: int = 32, tiny: bool = False, archs: tuple[str, ...] | None = None,
                   charsets: tuple[str, ...] = CHARSETS) -> list[dict]:
    """Training img/s of each recogniser architecture at each charset on one random batch of
    ``batch`` 32 x 280 lines with ``TRAIN_LABEL_LEN``-character labels, in this process: the cost
    side of "accuracy per training hour"."""
    import keras

    from chinese_ocr.charset import charset_chars
    from chinese_ocr.config import ChineseConfig
    from chinese_ocr.model import ARCHS, build_model, compile_model
    from chinese_ocr.train import build_parser as train_parser

    # The networks chinese_ocr.train builds by default (its --base and --bottleneck), not the
    # config's own defaults.
    trained = vars(train_parser().parse_args([]))
    size = TINY_RECOGNIZER if tiny else {"base": trained["base"], "bottleneck": trained["bottleneck"]}
    rng = np.random.default_rng(0)
    rows = []
    for arch in archs or ARCHS:
        for cs in charsets:
            cfg = ChineseConfig(arch=arch, charset=cs, chars=charset_chars(cs), **size)
            keras.utils.set_random_seed(0)
            model = compile_model(build_model(cfg), "adam", 1e-3)
            x = rng.random((batch, cfg.height, cfg.width, 1), dtype=np.float32)
            y = rng.integers(1, len(cfg.chars) + 1, (batch, TRAIN_LABEL_LEN)).astype(np.int32)
            s = summarize(time_calls(lambda m=model, x=x, y=y: m.train_on_batch(x, y), steps, warmup=2))
            rows.append({"arch": arch, "charset": cs, "classes": len(cfg.chars) + 1, "params": model.count_params(),
                         "batch": batch, "img_per_s": 1e3 * batch / s["median_ms"], **s})
            print(f"  {arch}, {cs}: {rows[-1]['img_per_s']:.0f} training img/s", flush=True)
            del model
            keras.backend.clear_session()
    return rows


def bench_http(models_dir: Path, pages: list[PageInput], lines: list[np.ndarray], args: argparse.Namespace,
               stack: ExitStack, detector: bool = True) -> list[dict]:
    """POST /predict/chinese latency for one page (only with a ``detector``: without one a page is a
    503) and one line (``?detect=0``), one request at a time."""
    cases = [("one 960x720 page", "/predict/chinese", [p.png for p in pages])] if detector else []
    cases.append(("one line, ?detect=0", "/predict/chinese?detect=0", [rgb_png(c) for c in lines[:32]]))
    return bench_task_http(models_dir, "chinese", cases, args, stack)


# --------------------------------------------------------------------------- main


def print_report(results: dict) -> None:
    untrained = "; UNTRAINED models (line building and end-to-end page rows: lower bounds)" \
        if results["untrained"] else ""
    print(f"\n{results['inputs']}; backend {results['backend']}{untrained}\n")
    print(markdown_table(results["stages"], [("stage", "stage", ""), ("median_ms", "median ms", ".2f"),
                                             ("p95_ms", "p95 ms", ".2f"), ("n", "calls", "d"), ("note", "note", "")]))
    print()
    print(markdown_table(results["throughput"], [("what", "recogniser call", ""), ("batch", "batch", "d"),
                                                 ("lines_per_s", "lines/s", ",.0f"),
                                                 ("median_ms", "median ms / batch", ".1f"),
                                                 ("p95_ms", "p95 ms / batch", ".1f")]))
    if results["training"]:
        print()
        print(markdown_table(results["training"], [("arch", "arch", ""), ("charset", "charset", ""),
                                                   ("classes", "classes", ",d"), ("params", "params", ",d"),
                                                   ("img_per_s", "training img/s", ",.1f"),
                                                   ("median_ms", "ms / step", ".0f")]))
    if results["http"]:
        print()
        print(markdown_table(results["http"], [("endpoint", "POST /predict/chinese", ""), ("via", "via", ""),
                                               ("median_ms", "median ms", ".1f"), ("p95_ms", "p95 ms", ".1f"),
                                               ("n", "requests", "d")]))


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.calls = 3
        args.pages = min(args.pages, 2)
        args.train_steps = min(args.train_steps, 1)
    fast = 0.0 if args.quick else 1.0
    machine = machine_info()
    warn_if_busy(machine)
    print(machine_line(machine), flush=True)
    from chinese_ocr.predict import ChinesePredictor
    from ctpn.synth import EVAL_PAGE_SEED

    pages, lines = load_inputs(args.pages)
    inputs = f"{len(pages)} synthetic 960x720 eval pages (seeds {EVAL_PAGE_SEED}..), {len(lines)} true lines"
    with ExitStack() as stack:
        if args.untrained:
            models_dir = publish_untrained(untrained_cache(stack, "bench-chinese-"), tiny=args.tiny)
        else:
            models_dir = Path(args.models_dir)
            if not (models_dir / "chinese.keras").is_file():
                raise SystemExit(f"{models_dir}/chinese.keras not found: publish the Chinese models, or pass "
                                 "--untrained")
        predictor = ChinesePredictor(models_dir / "chinese.keras", backend=args.backend)
        stack.callback(predictor.close)
        parts = {"detector": predictor.detector, "orientation": predictor.orientation}
        missing = [k for k, v in parts.items() if v is None]
        print(f"\nmodels {models_dir} on {predictor.recognizer.backend}"
              f"{'; missing: ' + ', '.join(missing) if missing else ''}; {inputs}", flush=True)
        print("line stages:", flush=True)
        stages = bench_line_stages(predictor, lines, args.calls, fast)
        print("page stages:", flush=True)
        stages += bench_page_stages(predictor, pages, args.calls, fast)
        print("throughput:", flush=True)
        throughput = bench_throughput(predictor.recognizer, lines, args.batch, args.calls, 0.0 if args.quick else 2.0)
        training = []
        if args.train_steps:
            print(f"training throughput (batch {args.batch}):", flush=True)
            charsets = tuple(c.strip() for c in args.train_charsets.split(",") if c.strip())
            training = bench_training(args.train_steps, args.batch, tiny=args.tiny, charsets=charsets)
        http = []
        if args.http != "none":
            print("HTTP:", flush=True)
            http = bench_http(models_dir, pages, lines, args, stack, detector=predictor.detector is not None)
        backend = predictor.recognizer.backend
    results = {"inputs": inputs, "backend": backend, "untrained": args.untrained, "tiny": args.tiny,
               "missing_models": missing, "stages": stages, "throughput": throughput, "training": training,
               "http": http}
    print_report(results)
    write_results(NAME, args.out, args, machine, results)
    return results


if __name__ == "__main__":
    main()
