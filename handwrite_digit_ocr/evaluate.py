"""Evaluate a character model on a held-out test set, through the serving path.

    python -m handwrite_digit_ocr.evaluate --model models/digit.keras --dataset mnist

Images go through the same :class:`~handwrite_digit_ocr.predict.CharPredictor` the server
uses (preprocessing included). Prints accuracy, a per-class table and the most confused
pairs; writes ``confusion.png`` and ``metrics.json`` to ``--out-dir``. ``--publish models``
copies the model into ``models/`` and records these metrics and the training command in
``models/manifest.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m handwrite_digit_ocr.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = ap.add_argument_group("options (defaults in brackets)")
    d.add_argument("--model", default="models/digit.keras", help="a .keras file with its .json config beside it "
                   "[models/digit.keras]")
    d.add_argument("--dataset", default=None, help="dataset whose test split to use [mnist for digits]")
    d.add_argument("--data-dir", default=None, help="data folder [--data-dir > $OCR_DATA_DIR > ./data]")
    d.add_argument("--out-dir", default=None, help="where confusion.png / metrics.json go [folder of --model]")
    d.add_argument("--limit", type=int, default=0, help="evaluate only the first N test images [0 = all]")
    d.add_argument("--server", default=None, metavar="URL", help="instead of loading --model, POST the test images "
                   "as PNG to URL/predict/<task> of a running server (e.g. http://127.0.0.1:8080)")
    d.add_argument("--task", default="digit", help="task to query with --server [digit]")
    d.add_argument("--publish", default=None, metavar="MODELS_DIR", help="copy the model into this folder and "
                   "record it in its manifest.json")
    d.add_argument("--name", default=None, help="name in the manifest when publishing [the model's task]")
    return ap


def evaluate_arrays(predictor, x: np.ndarray, y: np.ndarray) -> dict:
    """Run already-normalised uint8 images through the predictor's model; returns metrics."""
    from handwrite_digit_ocr.data import to_model_input
    from ocr_common.metrics import confusion_matrix

    batch = to_model_input(x)
    t0 = time.time()
    probs = predictor.predict_proba(batch)
    seconds = time.time() - t0
    pred = probs.argmax(1)
    n = predictor.config.num_classes
    cm = confusion_matrix(y, pred, n)
    return {
        "accuracy": float((pred == y).mean()),
        "errors": int((pred != y).sum()),
        "n": int(len(y)),
        "confusion": cm,
        "img_per_s": len(y) / max(seconds, 1e-9),
    }


def evaluate_http(url: str, task: str, images: np.ndarray, labels: tuple[str, ...], y: np.ndarray,
                  batch: int = 64) -> dict:
    """Accuracy of a running server: the images go over HTTP as PNG files in batches."""
    import http.client
    import json as _json
    import uuid
    from urllib.parse import urlsplit

    import cv2

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=120)
    predicted: list[str] = []
    t0 = time.time()
    for i in range(0, len(images), batch):
        boundary = uuid.uuid4().hex
        body = b""
        for j, im in enumerate(images[i : i + batch]):
            png = cv2.imencode(".png", im)[1].tobytes()
            body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{i + j}.png\"\r\n"
                     f"Content-Type: image/png\r\n\r\n").encode() + png + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        conn.request("POST", f"/predict/{task}", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        resp = conn.getresponse()
        payload = _json.loads(resp.read())
        if resp.status != 200:
            raise SystemExit(f"error: server answered {resp.status}: {payload}")
        predicted += [r["label"] for r in payload["results"]]
    seconds = time.time() - t0
    truth = [labels[k] for k in y]
    correct = sum(p == t for p, t in zip(predicted, truth))
    return {"accuracy": correct / len(truth), "errors": len(truth) - correct, "n": len(truth),
            "img_per_s": len(truth) / max(seconds, 1e-9)}


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.server:
        return _main_http(args)
    from handwrite_digit_ocr.data import check_labels, default_dataset, load_dataset
    from handwrite_digit_ocr.predict import CharPredictor, config_path_for
    from ocr_common.metrics import per_class_table, plot_confusion, top_confusions

    predictor = CharPredictor(args.model, batch_size=256)
    cfg = predictor.config
    dataset = args.dataset or default_dataset(cfg.task)
    data = load_dataset(dataset, args.data_dir)
    check_labels(data, cfg.labels, dataset)
    x, y = data.x_test, data.y_test
    if args.limit:
        x, y = x[: args.limit], y[: args.limit]
    res = evaluate_arrays(predictor, x, y)
    cm = res.pop("confusion")
    out_dir = Path(args.out_dir or Path(args.model).parent)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = plot_confusion(cm, cfg.labels, out_dir / "confusion.png",
                         title=f"{cfg.arch} on {dataset} test: {res['accuracy']:.4%}")

    print(f"model: {args.model} ({cfg.arch}), dataset: {dataset} test split, {res['n']} images")
    print(f"| metric | value |\n| --- | ---: |\n| accuracy | {res['accuracy']:.4%} |\n| errors | {res['errors']} |")
    print()
    print(per_class_table(cm, cfg.labels))
    print("\nmost confused (true -> predicted: count):")
    for t, p, c in top_confusions(cm, cfg.labels, 10):
        print(f"  {t} -> {p}: {c}")
    print(f"\nconfusion matrix: {png}")
    metrics = {"test_accuracy": round(res["accuracy"], 5), "test_errors": res["errors"], "test_n": res["n"],
               "test_dataset": dataset}
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")

    if args.publish:
        from ocr_common.manifest import publish

        cmd_file = Path(args.model).parent / "command.txt"
        summary_file = Path(args.model).parent / "train_summary.json"
        summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
        entry = publish(
            args.publish, args.name or cfg.task, cfg.task, args.model, config_path_for(args.model),
            architecture=cfg.arch, dataset=summary.get("dataset", dataset),
            command=cmd_file.read_text().strip() if cmd_file.exists() else None,
            evaluate_command=f"python -m handwrite_digit_ocr.evaluate --model {args.publish}/"
                             f"{args.name or cfg.task}.keras --dataset {dataset}"
                             + (f" --data-dir {args.data_dir}" if args.data_dir else ""),
            metrics=metrics, params=predictor.model.count_params(),
        )
        print(f"published {entry['file']} sha256 {entry['sha256'][:12]}… to {args.publish}/manifest.json")
    return metrics


def _main_http(args) -> dict:
    from handwrite_digit_ocr.config import DIGITS
    from handwrite_digit_ocr.data import default_dataset, load_dataset, load_mnist_raw

    dataset = args.dataset or default_dataset(args.task)
    if dataset == "mnist":
        # The untouched MNIST test images: the server's own preprocessing must cope with them.
        _, (x, y) = load_mnist_raw(args.data_dir)
        labels = DIGITS
    else:
        data = load_dataset(dataset, args.data_dir)
        x, y, labels = data.x_test, data.y_test, data.labels
    if args.limit:
        x, y = x[: args.limit], y[: args.limit]
    res = evaluate_http(args.server, args.task, x, labels, y)
    print(f"server: {args.server}/predict/{args.task}, dataset: {dataset} test split, {res['n']} images as PNG")
    print(f"| metric | value |\n| --- | ---: |\n| accuracy | {res['accuracy']:.4%} |\n| errors | {res['errors']} |"
          f"\n| images/s over HTTP | {res['img_per_s']:.0f} |")
    return res


if __name__ == "__main__":
    main()
