"""Compare document-edge methods side by side on photo folders with ``corners.json``.

    python -m doc_edge_detection.evaluate --model models/doc_edges.keras \\
        --corner-model models/doc_edges_corners.keras --photos ../shared/data/doc_photos \\
        --photos ../shared/data/doc_photos_dev --synth-photos 100

Every method (HED + quadrilateral finder, corner heatmaps, Canny, paper colour) runs through the
same :class:`~doc_edge_detection.predict.DocEdgePredictor` the server uses, on every photo at
its own resolution. Per method and folder it prints the mean and worst IoU of the page quad,
the mean corner error as a share of the image diagonal (minimised over the four cyclic
orderings: a detector orders corners by image position, the annotation by the page's text),
how many photos got a quad, and milliseconds per photo. ``--synth-photos N`` adds a held-out
synthetic folder (rendered once, at 1600 px, with backgrounds and fonts training never uses).
It writes ``sheet-<folder>.png`` (the photos with true quads in green and each method's in its
own colour) and ``metrics.json`` to ``--out-dir``. A training checkpoint (a run's ``best.keras``)
is cut to its inference model first; ``--publish models`` ships it with these metrics.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from doc_edge_detection.predict import DEFAULT_WEIGHTS, METHODS, NEEDS_WEIGHTS, SHIPPED_NAMES

COLOURS = {"hed": (255, 40, 40), "corners": (40, 120, 255), "canny": (255, 170, 0), "paper": (200, 0, 200)}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m doc_edge_detection.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = ap.add_argument_group("options (defaults in brackets)")
    d.add_argument(
        "--model",
        default=DEFAULT_WEIGHTS["hed"],
        help=f"HED weights (a run's best.keras or a shipped model) [{DEFAULT_WEIGHTS['hed']}]",
    )
    d.add_argument(
        "--corner-model",
        default=DEFAULT_WEIGHTS["corners"],
        help=f"corner-heatmap weights [{DEFAULT_WEIGHTS['corners']}]",
    )
    d.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {list(METHODS)} [all]")
    d.add_argument(
        "--photos",
        action="append",
        default=[],
        help="a folder with corners.json (repeatable) [<data-dir>/doc_photos and <data-dir>/doc_photos_dev]",
    )
    d.add_argument("--data-dir", default=None, help="data folder [--data-dir > $OCR_DATA_DIR > ./data]")
    d.add_argument("--synth-photos", type=int, default=0, help="also N held-out synthetic photos [0]")
    d.add_argument("--synth-dir", default="data/doc_synth", help="where they are rendered [data/doc_synth]")
    d.add_argument("--no-page", type=int, default=0, help="also run every method on N held-out synthetic photos "
                   "without a page (from <synth-dir>/heldout shards) and count false pages [0]")
    d.add_argument("--no-refine", action="store_true", help="skip the full-resolution corner refinement")
    d.add_argument("--out-dir", default="runs/doc-eval", help="sheets and metrics.json [runs/doc-eval]")
    d.add_argument(
        "--publish",
        default=None,
        metavar="MODELS_DIR",
        help="ship --model (and --corner-model) into this folder with the measured metrics",
    )
    return ap


def inference_file(path: str | Path) -> Path:
    """The model to run and ship for ``path``: itself when it is an inference model; for a training
    checkpoint (HED with its deep-supervision outputs, or any file with optimizer state), a clean
    copy written beside it once as ``inference.keras`` (+ ``.json``): HED cut to its fused output."""
    from doc_edge_detection.config import DocEdgeConfig
    from doc_edge_detection.model import inference_model
    from ocr_common import export

    # A run's best.keras carries the optimizer state; a HED checkpoint by any name, its side outputs.
    return export.inference_file(path, DocEdgeConfig, inference_model, lambda m, cfg, p: p.name == "best.keras" or (
        cfg.arch == "hed" and m.output.shape[-1] != 1))


def score(pred, true: np.ndarray, shape) -> dict:
    from doc_edge_detection.geometry import corner_error, quad_iou

    h, w = shape[:2]
    if not pred.found:
        return {"iou": 0.0, "corner_error": float("nan"), "found": False}
    return {
        "iou": quad_iou(pred.corners, true),
        "corner_error": corner_error(pred.corners, true, float(np.hypot(w, h))),
        "found": True,
    }


def evaluate_folder(predictors: dict, photos) -> dict:
    """``{method: {"rows": [...per photo...], "summary": {...}}}`` with predictions kept for the sheet."""
    import keras

    out = {}
    for method, predictor in predictors.items():
        predictor.predict([photos[0].image])  # warm-up: first-call tracing is not a photo's cost
        rows = []
        bar = keras.utils.Progbar(len(photos), unit_name="photo", verbose=1)
        for p in photos:
            t0 = time.perf_counter()
            pred = predictor.predict([p.image])[0]
            ms = 1000 * (time.perf_counter() - t0)
            rows.append(
                {
                    "name": p.name,
                    **score(pred, p.corners, p.image.shape),
                    "ms": ms,
                    "corners": None if pred.corners is None else np.asarray(pred.corners).tolist(),
                }
            )
            bar.add(1)
        out[method] = {"rows": rows, "summary": summarise(rows)}
    return out


def summarise(rows: list[dict]) -> dict:
    ious = np.array([r["iou"] for r in rows])
    errs = np.array([r["corner_error"] if r["found"] else 1.0 for r in rows])  # a miss counts as a whole diagonal
    return {
        "n": len(rows),
        "mean_iou": float(ious.mean()),
        "worst_iou": float(ious.min()),
        "mean_corner_error": float(errs.mean()),
        "found": int(sum(r["found"] for r in rows)),
        "ms_per_photo": float(np.median([r["ms"] for r in rows])),
    }


def table(results: dict[str, dict]) -> str:
    """Markdown table: one row per (folder, method)."""
    lines = [
        "| photos | method | n | mean IoU | worst IoU | corner error (% diag) | found | ms / photo |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for folder, by_method in results.items():
        for method, res in by_method.items():
            s = res["summary"]
            lines.append(
                f"| {folder} | {method} | {s['n']} | {s['mean_iou']:.3f} | {s['worst_iou']:.3f} | "
                f"{100 * s['mean_corner_error']:.2f} | {s['found']}/{s['n']} | {s['ms_per_photo']:.0f} |"
            )
    return "\n".join(lines)


def draw_sheet(photos, by_method: dict, out_png: Path, thumb: int = 360, cols: int = 4) -> Path:
    """The photos with the true quad (green) and each method's quad, with a colour legend."""
    import cv2

    from doc_edge_detection.preprocess import to_rgb

    tiles = []
    for i, p in enumerate(photos):
        img = to_rgb(p.image).copy()
        scale = thumb / max(img.shape[:2])
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        cv2.polylines(img, [np.round(p.corners * scale).astype(np.int32)], True, (0, 220, 0), 3, cv2.LINE_AA)
        for method, res in by_method.items():
            corners = res["rows"][i]["corners"]
            if corners is not None:
                pts = np.round(np.asarray(corners) * scale).astype(np.int32)
                cv2.polylines(img, [pts], True, COLOURS.get(method, (0, 0, 0)), 2, cv2.LINE_AA)
        tile = np.full((thumb + 22, thumb, 3), 255, np.uint8)
        tile[: img.shape[0], : img.shape[1]] = img
        ious = " ".join(f"{m[:4]} {res['rows'][i]['iou']:.2f}" for m, res in by_method.items())
        cv2.putText(
            tile,
            f"{p.name[:18]} {ious}"[:60],
            (2, thumb + 16),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.36,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
        tiles.append(tile)
    legend = np.full((26, thumb * cols, 3), 255, np.uint8)
    x = 4
    for name, colour in [("truth", (0, 220, 0)), *((m, COLOURS.get(m, (0, 0, 0))) for m in by_method)]:
        cv2.line(legend, (x, 13), (x + 24, 13), colour, 3)
        cv2.putText(legend, name, (x + 28, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        x += 40 + 12 * len(name)
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.concatenate(tiles[r : r + cols], axis=1) for r in range(0, len(tiles), cols)]
    sheet = np.concatenate([legend, *rows], axis=0)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_png), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return out_png


def no_page_check(predictors: dict, args) -> dict:
    """How many of ``args.no_page`` held-out photos without a page each method calls a page."""
    from doc_edge_detection.data import ensure_shards, shard_files

    images = []
    folder = Path(args.synth_dir) / "heldout"
    if not shard_files(folder):
        ensure_shards(folder, 1000, split="heldout", size=256, seed=2)  # train.py's held-out set
    for f in shard_files(folder):
        with np.load(f) as z:
            images += list(z["images"][~z["has_page"]])
        if len(images) >= args.no_page:
            break
    images = images[: args.no_page]
    out = {m: sum(p.found for p in predictor.predict(images)) for m, predictor in predictors.items()}
    return {**out, "n": len(images)}


def make_predictors(args) -> dict:
    from doc_edge_detection.predict import DocEdgePredictor

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise SystemExit(f"error: unknown method(s) {unknown}; choose from {list(METHODS)}")
    weights = {"hed": args.model, "corners": args.corner_model}
    predictors = {}
    for m in methods:
        path = None
        if m in NEEDS_WEIGHTS:
            if not Path(weights[m]).is_file():
                print(f"skipping {m}: no weights at {weights[m]}")
                continue
            path = inference_file(weights[m])
        predictors[m] = DocEdgePredictor(path, method=m, refine=not args.no_refine)
    return predictors


def photo_folders(args) -> list[Path]:
    from ocr_common.datadir import resolve_data_dir

    folders = [Path(f) for f in args.photos]
    if not folders:
        root = resolve_data_dir(args.data_dir)
        folders = [root / name for name in ("doc_photos", "doc_photos_dev") if (root / name / "corners.json").is_file()]
    if args.synth_photos:
        from doc_edge_detection.synth import render_photo_folder

        synth = Path(args.synth_dir) / f"heldout_photos_{args.synth_photos}"
        if not (synth / "corners.json").is_file():
            render_photo_folder(synth, args.synth_photos, seed=3, split="heldout", long_side=1600)
        folders.append(synth)
    if not folders:
        raise SystemExit("error: no photo folder: give --photos DIR (with corners.json) or --data-dir")
    return folders


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    from doc_edge_detection.data import load_photo_folder

    predictors = make_predictors(args)
    results, sheets = {}, []
    out_dir = Path(args.out_dir)
    for folder in photo_folders(args):
        photos = load_photo_folder(folder)
        print(f"{folder}: {len(photos)} photos", flush=True)
        by_method = evaluate_folder(predictors, photos)
        results[folder.name] = by_method
        sheets.append(draw_sheet(photos, by_method, out_dir / f"sheet-{folder.name}.png"))
    false_pages = no_page_check(predictors, args) if args.no_page else {}
    print()
    print(table(results))
    if false_pages:
        n = false_pages.pop("n")
        print(f"\nphotos without a page ({n}, held-out synthetic): a page reported by "
              + ", ".join(f"{m} {k}/{n}" for m, k in false_pages.items()))
        false_pages["n"] = n
    print("\nsheets: " + ", ".join(map(str, sheets)))
    metrics = {folder: {m: r["summary"] for m, r in by_method.items()} for folder, by_method in results.items()}
    if false_pages:
        metrics["no_page_false_pages"] = false_pages
    detail = {folder: {m: r["rows"] for m, r in by_method.items()} for folder, by_method in results.items()}
    (out_dir / "metrics.json").write_text(json.dumps({"summary": metrics, "photos": detail}, indent=2) + "\n")
    if args.publish:
        publish_models(args, predictors, metrics)
    return metrics


def _metrics_of(method: str, metrics: dict) -> dict:
    """One method's figures per photo folder (and its false pages), for its manifest entry."""
    out = {folder: by_method[method] for folder, by_method in metrics.items()
           if folder != "no_page_false_pages" and method in by_method}
    if "no_page_false_pages" in metrics:
        nop = metrics["no_page_false_pages"]
        out["no_page_false_pages"] = {"found": nop.get(method), "n": nop["n"]}
    return out


def publish_models(args, predictors: dict, metrics: dict) -> None:
    from ocr_common.manifest import publish

    for method, name in SHIPPED_NAMES.items():
        if method not in predictors:
            continue
        path = predictors[method].runtime.model_path
        run = Path(args.model if method == "hed" else args.corner_model).parent
        cmd = run / "command.txt"
        entry = publish(
            args.publish,
            name,
            "doc-edges",
            path,
            path.with_suffix(".json"),
            architecture=f"{method} (width {predictors[method].config.width})",
            dataset="synthetic document photos",
            command=cmd.read_text().strip() if cmd.exists() else None,
            evaluate_command="python -m doc_edge_detection.evaluate"
            + "".join(f" {flag} {args.publish}/{SHIPPED_NAMES[m]}.keras"
                      for flag, m in (("--model", "hed"), ("--corner-model", "corners")))
            + "".join(f" --photos {p}" for p in args.photos)
            + (f" --synth-photos {args.synth_photos}" if args.synth_photos else "")
            + (f" --no-page {args.no_page}" if args.no_page else ""),
            metrics=_metrics_of(method, metrics),
            params=predictors[method].runtime.model.count_params(),
        )
        print(f"published {entry['file']} sha256 {entry['sha256'][:12]}... to {args.publish}/manifest.json")


if __name__ == "__main__":
    main()
