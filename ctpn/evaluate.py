"""Measure a CTPN text-line detector: precision, recall and F at IoU 0.5, per page set.

    python -m ctpn.evaluate --model runs/ctpn/best.keras [--n 200] [--folder DIR] [--publish models]
    python -m ctpn.evaluate --reading-order 40

Sets:

* ``heldout-font`` and ``eval-fonts``: synthetic pages at the serving size (960 x 720) in fonts
  training never sees (rendered once into ``<synth-dir>/<split>-serving`` when missing);
* ``print-pages``: ``--n-print`` clean printed pages of words in the eval faces
  (``ctpn.synth.print_pages``, the page issue's yardstick), rendered on the fly;
* ``--folder DIR`` (repeatable): your own pages, with ``DIR/labels.json`` mapping each image file to
  its text lines, each a quad of four ``[x, y]`` points in pixels, clockwise from the top-left::

      {"page1.jpg": [[[12, 30], [410, 28], [411, 60], [12, 62]], ...], "page2.png": []}

A predicted line is right when it overlaps a true line by IoU >= 0.5 (polygon IoU, greedy
one-to-one matching, :func:`ctpn.textline.match_lines`); counts are summed over the pages of a set.
Beside it, F by DetEval's coverage rule (the prediction covers >= 0.8 of the true line, the true
line fills >= 0.4 of the prediction), which does not punish a detector for a wider margin around
the ink than the labels have.
It prints a markdown table with milliseconds per page (the whole detector: preprocessing, network,
line building), writes ``metrics.json`` and ``sheet-<set>.png`` (a few pages, predicted lines green,
true lines red) into ``--out-dir``. A training checkpoint is cut to its inference model first
(``inference.keras`` beside it); ``--publish MODELS_DIR`` ships that with these figures.

``--reading-order N`` measures instead how the page pipeline orders lines
(:func:`ctpn.textline.reading_order`): on the true lines of N rendered pages per layout, against
the order the layout drew them in (columns one after the other, tables by rows).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ctpn.predict import DEFAULT_MODEL, SCORE_THRESHOLD, CTPNDetector, draw_lines
from ctpn.textline import match_lines

SHIPPED_NAME = "ctpn"
MATCH_IOU = 0.5


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m ctpn.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = ap.add_argument_group("options (defaults in brackets)")
    d.add_argument("--model", default=DEFAULT_MODEL, help="checkpoint or inference model [%(default)s]")
    d.add_argument("--synth-dir", default="data/ctpn_synth", help="held-out serving-size shards [%(default)s]")
    d.add_argument("--n", type=int, default=200, help="pages per held-out synthetic set (0: none) [%(default)s]")
    d.add_argument("--n-print", type=int, default=200, help="clean printed pages, eval faces (0: none) [%(default)s]")
    d.add_argument("--no-synth", action="store_true", help="only the --folder sets")
    d.add_argument("--folder", action="append", default=[], help="pages with labels.json (repeatable)")
    d.add_argument("--threshold", type=float, default=SCORE_THRESHOLD, help="proposal score threshold [%(default)s]")
    d.add_argument("--backend", default=None, choices=("tf", "onnx"), help="[onnx when installed, else tf]")
    d.add_argument("--sheet-pages", type=int, default=6, help="pages drawn per set [%(default)s]")
    d.add_argument("--out-dir", default="runs/ctpn-eval", help="metrics.json and sheets [%(default)s]")
    d.add_argument("--publish", default=None, metavar="MODELS_DIR", help="ship --model into this folder")
    d.add_argument("--reading-order", type=int, default=0, metavar="N",
                   help="only measure the reading order: N rendered pages per layout, no model [off]")
    return ap


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall, F; an empty side is vacuously perfect (no predictions: precision 1)."""
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def detection_metrics(preds: list[list[np.ndarray]], truths: list[list[np.ndarray]], iou: float = MATCH_IOU) -> dict:
    """Precision, recall and F of predicted quads against true quads, counts summed over the pages:
    ``precision``, ``recall``, ``f`` (and ``tp``, ``fp``, ``fn``) by IoU >= ``iou``, and the same by
    DetEval's coverage rule with the suffix ``_cover`` (``ctpn.textline.MATCH_RULES``)."""
    out: dict = {}
    for rule, suffix in (("iou", ""), ("cover", "_cover")):
        tp = fp = fn = 0
        for p, t in zip(preds, truths, strict=True):
            a, b, c = match_lines(list(p), list(t), iou, rule)
            tp, fp, fn = tp + a, fp + b, fn + c
        precision, recall, f = prf(tp, fp, fn)
        out.update({f"precision{suffix}": precision, f"recall{suffix}": recall, f"f{suffix}": f,
                    f"tp{suffix}": tp, f"fp{suffix}": fp, f"fn{suffix}": fn})
    return out


def load_labelled_folder(folder: str | Path) -> tuple[list[str], list[np.ndarray], list[list[np.ndarray]]]:
    """``(names, images, quads per image)`` of the files named in ``folder/labels.json``, name order."""
    from ocr_common.image import load_image_file

    folder = Path(folder)
    index = folder / "labels.json"
    if not index.is_file():
        raise FileNotFoundError(f"{index} not found: a page folder needs labels.json ({{file: [[[x, y] x 4], ...]}})")
    table = json.loads(index.read_text(encoding="utf-8"))
    names, images, quads = [], [], []
    for name in sorted(table):
        lines = np.asarray(table[name], np.float32).reshape(-1, 4, 2) if table[name] else np.zeros((0, 4, 2))
        names.append(name)
        images.append(load_image_file(folder / name))
        quads.append(list(lines.astype(np.float32)))
    return names, images, quads


def evaluate_pages(detector: CTPNDetector, images: list[np.ndarray], truths: list[list[np.ndarray]],
                   threshold: float = SCORE_THRESHOLD) -> dict:
    """Detection metrics, ms per page and the predicted quads, one page at a time (as served)."""
    import keras

    if not images:
        return {**detection_metrics([], []), "pages": 0, "lines": 0, "ms_per_page": 0.0, "preds": []}
    detector.detect(images[:1], threshold)  # warm-up: first-call costs are no page's
    preds, seconds = [], 0.0
    bar = keras.utils.Progbar(len(images), unit_name="page")
    for im in images:
        t0 = time.perf_counter()
        lines = detector.detect([im], threshold)[0]
        seconds += time.perf_counter() - t0
        preds.append([t.box for t in lines])
        bar.add(1)
    return {**detection_metrics(preds, truths), "pages": len(images), "lines": sum(len(t) for t in truths),
            "ms_per_page": round(1000 * seconds / len(images), 1), "preds": preds}


def table(results: dict[str, dict]) -> str:
    """Markdown table, one row per set."""
    rows = ["| set | pages | lines | precision | recall | F (IoU 0.5) | F (DetEval cover) | ms / page |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        rows.append(f"| {name} | {r['pages']} | {r['lines']} | {r['precision']:.3f} | {r['recall']:.3f} | "
                    f"{r['f']:.3f} | {r['f_cover']:.3f} | {r['ms_per_page']:.0f} |")
    return "\n".join(rows)


def sheet(images: list[np.ndarray], truths: list[list[np.ndarray]], preds: list[list[np.ndarray]], path: Path,
          cols: int = 2, width: int = 640) -> Path:
    """Pages side by side at ``width`` px, true lines red, predicted green, written as a PNG."""
    import cv2

    tiles = []
    for im, t, p in zip(images, truths, preds):
        img = draw_lines(draw_lines(im, t, (255, 0, 0), 2), p, (0, 200, 0), 2)
        scale = width / img.shape[1]
        tiles.append(cv2.resize(img, (width, max(1, round(img.shape[0] * scale))), interpolation=cv2.INTER_AREA))
    th = max(t.shape[0] for t in tiles) + 8
    rows = -(-len(tiles) // cols)
    out = np.full((rows * th, cols * (width + 8), 3), 128, np.uint8)
    for i, tile in enumerate(tiles):
        y, x = (i // cols) * th + 4, (i % cols) * (width + 8) + 4
        out[y : y + tile.shape[0], x : x + width] = tile
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), out[..., ::-1])
    return path


def inference_file(path: str | Path) -> Path:
    """``path`` itself when it is an inference model; a training checkpoint is cut to one, written once
    beside it as ``inference.keras`` (+ ``.json``)."""
    from ctpn.config import CTPNConfig
    from ctpn.model import inference_model
    from ctpn.predict import is_training_model
    from ocr_common import export

    return export.inference_file(path, CTPNConfig, lambda m, _: inference_model(m),
                                 lambda m, *_: is_training_model(m))


def _sets(args) -> dict[str, tuple[list[np.ndarray], list[list[np.ndarray]]]]:
    """name -> (images, true quads per image)."""
    sets = {}
    if not args.no_synth and args.n > 0:
        from ctpn.data import validation_pages
        from ctpn.synth import render_heldout

        for name, folder in render_heldout(args.synth_dir, args.n, serving=True).items():
            pages = validation_pages(folder, args.n)
            sets[name] = ([p.image for p in pages], [list(p.lines) for p in pages])
    if not args.no_synth and args.n_print > 0:
        from ctpn.synth import print_pages

        pages = print_pages(args.n_print)
        sets["print-pages"] = ([p.image for p in pages], [list(p.lines) for p in pages])
    for folder in args.folder:
        _, images, quads = load_labelled_folder(folder)
        sets[Path(folder).name] = (images, quads)
    return sets


# Layouts whose lines are drawn in the order a reader takes them (signs and labels are not).
ORDERED_LAYOUTS = ("paragraphs", "columns", "heading", "table", "receipt", "screen")
READING_ORDER_SEED = 5000


def reading_order_metrics(n: int, layouts: tuple[str, ...] = ORDERED_LAYOUTS,
                          seed: int = READING_ORDER_SEED) -> dict[str, dict]:
    """How :func:`ctpn.textline.reading_order` (and, beside it, plain rows: ``row_order``) orders
    the true lines of ``n`` clean rendered 960x720 pages per layout, against the order the layout
    drew them in: ``exact`` = share of pages in exactly that order, ``pairs`` = share of line pairs
    in the right order (Kendall's agreement; 0.5 is a random order)."""
    import keras

    from ctpn.synth import render_eval_page
    from ctpn.textline import TextLine, reading_order, row_order

    out = {}
    bar = keras.utils.Progbar(n * len(layouts), unit_name="page")
    for layout in layouts:
        scores: dict[str, list[float]] = {}
        for i in range(n):
            page = render_eval_page(np.random.default_rng(seed + i), "eval", clean=True, layout=layout)
            lines = [TextLine(q, 1.0, 1) for q in page.lines]
            where = {id(t): k for k, t in enumerate(lines)}
            for name, order in (("xy", reading_order), ("rows", row_order)):
                got = np.array([where[id(t)] for t in order(lines)])
                pairs = got[:, None] < got[None, :]
                upper = np.triu(np.ones(pairs.shape, bool), 1)
                scores.setdefault(f"{name}_exact", []).append(float(np.all(np.diff(got) > 0)))
                scores.setdefault(f"{name}_pairs", []).append(float(pairs[upper].mean()) if upper.any() else 1.0)
            bar.add(1)
        out[layout] = {"pages": n, **{k: float(np.mean(v)) for k, v in scores.items()}}
    return out


def reading_order_table(results: dict[str, dict]) -> str:
    head = ("| layout | pages | pages in order | line pairs in order | by rows only: pages | pairs |\n"
            "| --- | ---: | ---: | ---: | ---: | ---: |")
    rows = [f"| {k} | {r['pages']} | {r['xy_exact']:.3f} | {r['xy_pairs']:.3f} | {r['rows_exact']:.3f} | "
            f"{r['rows_pairs']:.3f} |" for k, r in results.items()]
    return "\n".join([head, *rows])


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.reading_order:
        results = reading_order_metrics(args.reading_order)
        print(f"\n{reading_order_table(results)}")
        return results
    model_path = inference_file(args.model)
    detector = CTPNDetector(model_path, backend=args.backend)
    out_dir = Path(args.out_dir)
    results = {}
    for name, (images, truths) in _sets(args).items():
        print(f"\n{name}: {len(images)} pages", flush=True)
        results[name] = evaluate_pages(detector, images, truths, args.threshold)
        k = min(args.sheet_pages, len(images))
        if k:
            sheet(images[:k], truths[:k], results[name]["preds"][:k], out_dir / f"sheet-{name}.png")
    summary = {name: {k: v for k, v in r.items() if k != "preds"} for name, r in results.items()}
    print(f"\n{table(summary)}\n\nbackend {detector.backend}, IoU >= {MATCH_IOU}, threshold {args.threshold}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"metrics and sheets in {out_dir}")
    if args.publish:
        publish(args, detector, model_path, summary)
    return summary


def publish(args, detector: CTPNDetector, model_path: Path, summary: dict) -> None:
    from ocr_common.manifest import publish as ship

    cfg = detector.config
    cmd = Path(args.model).parent / "command.txt"
    entry = ship(args.publish, SHIPPED_NAME, "chinese", model_path, model_path.with_suffix(".json"),
                 architecture=f"CTPN (VGG-style backbone, base {cfg.base}, BiGRU {cfg.rnn_units}, fc {cfg.fc_units}, "
                 f"{cfg.k} anchors)",
                 dataset="synthetic Chinese/Latin pages (ctpn.synth, training fonts)",
                 command=cmd.read_text().strip() if cmd.exists() else None,
                 evaluate_command=f"python -m ctpn.evaluate --model {args.publish}/{SHIPPED_NAME}.keras",
                 metrics=summary, params=detector.runtime.model.count_params())
    print(f"published {entry['file']} sha256 {entry['sha256'][:12]}... to {args.publish}/manifest.json")


if __name__ == "__main__":
    main()
