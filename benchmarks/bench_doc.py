"""Speed of every document-edge method on phone-sized photos, stage by stage.

    python -m benchmarks.bench_doc --data-dir ../shared/data

For each method (HED + quadrilateral finder, corner heatmaps, Canny, paper colour) the median
milliseconds per photo of ``DocEdgePredictor.predict`` (what ``POST /predict/doc-edges`` runs),
and for the networks the stages: resize to the network input, the network, the quad finder, the
full-resolution refinement; then flattening (``/scan``'s extra work) and the network's training
throughput at each width in ``--widths`` (img/s, one train step on a batch of 16) with its MACs.
Photos: the real ones in ``<data-dir>/doc_photos*`` rescaled to ``--long-side`` (default 1600,
the size the issue's 500 ms target names), else synthetic renders.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (
    SHARED_DATA_DIR,
    add_common_args,
    machine_info,
    machine_line,
    markdown_table,
    summarize,
    time_calls,
    warn_if_busy,
    write_results,
)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_doc", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models-dir", default="models", help="doc_edges.keras / doc_edges_corners.keras [models]")
    ap.add_argument("--data-dir", default=None, help=f"folder with doc_photos*/ [{SHARED_DATA_DIR}]")
    ap.add_argument("--long-side", type=int, default=1600, help="photos are resized to this long side [1600]")
    ap.add_argument("--calls", type=int, default=3, help="timed calls per photo and method [3]")
    ap.add_argument("--widths", default="8,16", help="HED widths for the training-throughput rows [8,16]")
    add_common_args(ap, "bench_doc")
    return ap


def load_photos(data_dir: str | None, long_side: int, limit: int) -> list[np.ndarray]:
    import cv2

    from doc_edge_detection.data import load_photo_folder

    root = Path(data_dir) if data_dir else SHARED_DATA_DIR
    photos = [p.image for name in ("doc_photos", "doc_photos_dev") if (root / name / "corners.json").is_file()
              for p in load_photo_folder(root / name)]
    if not photos:
        from doc_edge_detection.synth import render_sample

        rng = np.random.default_rng(0)
        photos = [render_sample(rng, (1200, 1600), split="heldout").image for _ in range(4)]
    out = []
    for img in photos[:limit]:
        scale = long_side / max(img.shape[:2])
        out.append(cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else
                              cv2.INTER_CUBIC))
    return out


def stage_times(predictor, photos, calls: int) -> dict[str, float]:
    """Median ms of each stage of a network method over the photos."""
    from doc_edge_detection.preprocess import network_input
    from doc_edge_detection.quad import find_quad, refine_corners, scale_corners

    size = predictor.config.input_size
    out: dict[str, list[float]] = {"resize": [], "network": [], "quad": [], "refine": []}
    for img in photos:
        x = network_input(img, size)
        out["resize"] += time_calls(lambda img=img: network_input(img, size), calls, warmup=0)
        out["network"] += time_calls(lambda x=x: predictor.runtime.run(x[None]), calls)
        net = predictor.runtime.run(x[None])[0][0]
        if predictor.method == "hed":
            out["quad"] += time_calls(lambda net=net: find_quad(net[..., 0]), calls, warmup=0)
            q = find_quad(net[..., 0])
            corners = scale_corners(q.corners, (size, size), img.shape[1::-1]) if q.found else None
        else:
            h, w = img.shape[:2]
            corners = net * np.array([w, h], np.float32) - 0.5
        if corners is not None:
            out["refine"] += time_calls(lambda img=img, c=corners: refine_corners(img, c), calls, warmup=0)
    return {k: summarize(v)["median_ms"] if v else None for k, v in out.items()}


def train_throughput(widths: list[int], batch: int = 16, steps: int = 8) -> list[dict]:
    from benchmarks.common import count_macs
    from doc_edge_detection.config import DocEdgeConfig
    from doc_edge_detection.model import LOSSES, build_model

    rows = []
    rng = np.random.default_rng(0)
    for arch, width in [(a, w) for a in ("hed", "corners") for w in widths]:
        cfg = DocEdgeConfig(arch=arch, width=width)
        model = build_model(cfg)
        model.compile("adam", LOSSES[arch])
        x = rng.random((batch, 256, 256, 3), dtype=np.float32)
        y = (rng.random((batch, 256, 256, 1)) > 0.97).astype(np.float32) if arch == "hed" else rng.random(
            (batch, 4, 2), dtype=np.float32)
        for _ in range(2):  # tracing and the first steps' allocations are not the steady state
            model.train_on_batch(x, y)
        t0 = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        dt = time.perf_counter() - t0
        rows.append({"model": f"{arch} w{width}", "params": model.count_params(),
                     "gmacs": count_macs(model)["macs"] / 1e9, "train_img_s": batch * steps / dt})
    return rows


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    from doc_edge_detection.geometry import flatten
    from doc_edge_detection.predict import METHODS, NEEDS_WEIGHTS, SHIPPED_NAMES, DocEdgePredictor

    machine = machine_info()
    warn_if_busy(machine)
    print(machine_line(machine), flush=True)
    photos = load_photos(args.data_dir, args.long_side, 2 if args.quick else 100)
    calls = 1 if args.quick else args.calls
    models = Path(args.models_dir)
    weights = {method: models / f"{name}.keras" for method, name in SHIPPED_NAMES.items()}
    rows, stages = [], []
    for method in METHODS:
        if method in NEEDS_WEIGHTS and not weights[method].is_file():
            print(f"skipping {method}: no {weights[method]}")
            continue
        predictor = DocEdgePredictor(weights[method] if method in NEEDS_WEIGHTS else None, method=method)
        seconds = [t for img in photos for t in time_calls(lambda img=img, p=predictor: p.predict([img]), calls)]
        rows.append({"method": method, "backend": predictor.backend or "-", **summarize(seconds)})
        if method in NEEDS_WEIGHTS:
            stages.append({"method": method, **stage_times(predictor, photos, calls)})
        predictor.close()
    quad = np.array([[100, 120], [1050, 90], [1120, 1480], [60, 1500]], np.float32)
    flat = summarize(time_calls(lambda: flatten(photos[0], quad), calls * 3))
    train = train_throughput([int(w) for w in args.widths.split(",")], steps=1 if args.quick else 8)

    h, w = photos[0].shape[:2]
    print(f"\n{len(photos)} photos at {args.long_side} px long side (first {w}x{h})\n")
    print(markdown_table(rows, [("method", "method", ""), ("backend", "backend", ""),
                                ("median_ms", "median ms / photo", ".0f"), ("p95_ms", "p95 ms", ".0f")]))
    if stages:
        print()
        print(markdown_table(stages, [("method", "method", ""), ("resize", "resize ms", ".1f"),
                                      ("network", "network ms", ".1f"), ("quad", "quad finder ms", ".1f"),
                                      ("refine", "refine ms", ".1f")]))
    print(f"\nflatten (warp to the page, /scan): {flat['median_ms']:.1f} ms median\n")
    print(markdown_table(train, [("model", "network", ""), ("params", "params", ","),
                                 ("gmacs", "GMACs / image", ".2f"), ("train_img_s", "train img/s (batch 16)", ".1f")]))
    results = {"predict": rows, "stages": stages, "flatten": flat, "train": train,
               "photos": len(photos), "long_side": args.long_side}
    write_results("bench_doc", args.out, args, machine, results)
    return results


if __name__ == "__main__":
    main()
