"""Stock VGG16 is overkill for 28x28 digits: parameters, FLOPs and measured speed, with a figure.

    python -m benchmarks.vgg_overkill
    python -m benchmarks.vgg_overkill --accuracy-json runs/accuracies.json

Compares ``keras.applications.VGG16(weights=None, classes=10)`` fed MNIST digits upsampled to
224x224x3 (the resize and the grey-to-RGB copy are part of the model, as they would be in
serving) with the project's 28x28x1 ``vgg`` (width 32) and ``kaggle_cnn``. Every model is
measured at the same batch size: inference through a compiled ``tf.function`` (as
``CharPredictor`` runs it) and training through ``train_on_batch`` with the optimizer
``handwrite_digit_ocr.train`` uses. Stock VGG16 needs seconds per batch on a CPU, so it gets a
few batches; the small models run for at least ``--min-seconds``.

Test accuracy comes from ``--accuracy-json`` (``{"kaggle_cnn": 0.996, "vgg": {"test_accuracy":
0.995}, "vgg16_stock": ...}``), else the digit entries of ``<models-dir>/manifest.json`` (by
architecture), else ``<runs-dir>/digit-<arch>/metrics.json`` written by ``evaluate``; "n/a"
otherwise. The table says which source each number came from.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    RESULTS_DIR,
    HelpFormatter,
    add_common_args,
    count_macs,
    fmt,
    machine_info,
    machine_line,
    markdown_table,
    sample_digits,
    summarize,
    time_calls,
    warn_if_busy,
    write_results,
)

# Before TensorFlow is first imported: its C++ start-up chatter would bury the report.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NAME = "vgg_overkill"
STOCK = "vgg16_stock"
MODELS = (STOCK, "vgg", "kaggle_cnn")
LABELS = {STOCK: "VGG16 stock\n224x224x3", "vgg": "project vgg\n28x28x1", "kaggle_cnn": "kaggle_cnn\n28x28x1"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.vgg_overkill", description=__doc__,
                                 formatter_class=HelpFormatter)
    ap.add_argument("--batch-size", type=int, default=8, help="batch for inference and training, all models")
    ap.add_argument("--infer-batches", type=int, default=3, help="timed inference batches (at least)")
    ap.add_argument("--train-steps", type=int, default=2, help="timed training steps (at least)")
    ap.add_argument("--min-seconds", type=float, default=3.0,
                    help="keep timing the fast models this long, for stable medians")
    ap.add_argument("--width", type=int, default=32, help="width of the project's vgg")
    ap.add_argument("--accuracy-json", default=None, help="test accuracies by model name (overrides the others)")
    ap.add_argument("--models-dir", default="models", help="manifest.json read for digit test accuracies")
    ap.add_argument("--runs-dir", default="runs", help="<runs-dir>/digit-<arch>/metrics.json read last")
    ap.add_argument("--data-dir", default=None, help="where mnist.npz is (drawn digits if none)")
    ap.add_argument("--figure", default=str(RESULTS_DIR / f"{NAME}.png"), help="bar chart PNG")
    add_common_args(ap, NAME)
    args = ap.parse_args(argv)
    if args.quick:
        args.batch_size, args.infer_batches, args.train_steps, args.min_seconds = 2, 1, 1, 0.0
    return args


# --------------------------------------------------------------------------- models


def build(name: str, width: int):
    """Stock VGG16 behind an upsample + grey-to-RGB front end, or a project model by arch name."""
    import keras
    from keras import layers

    if name == STOCK:
        inp = keras.Input((28, 28, 1), name="image")
        x = layers.Resizing(224, 224, interpolation="bilinear", name="upsample_224")(inp)
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
        vgg = keras.applications.VGG16(weights=None, include_top=True, input_shape=(224, 224, 3), classes=10)
        return keras.Model(inp, vgg(x), name=STOCK)
    from handwrite_digit_ocr.config import CharConfig
    from handwrite_digit_ocr.model import build_model

    return build_model(CharConfig(arch=name, width=width))


def measure(model, x: np.ndarray, y: np.ndarray, args: argparse.Namespace, slow: bool) -> dict[str, Any]:
    """Inference and training img/s at ``len(x)`` images per batch (medians of per-batch times)."""
    import tensorflow as tf

    from ocr_common.training import make_optimizer

    bs = len(x)
    spec = tf.TensorSpec([bs, *x.shape[1:]], tf.float32)
    infer = tf.function(lambda t: model(t, training=False), input_signature=[spec])
    xt = tf.constant(x)
    min_s = 0.0 if slow else args.min_seconds
    inf = summarize(time_calls(lambda: infer(xt).numpy(), args.infer_batches, warmup=1, min_seconds=min_s))

    model.compile(optimizer=make_optimizer("rmsprop", 1e-3), loss="sparse_categorical_crossentropy")
    tr = summarize(time_calls(lambda: model.train_on_batch(x, y), args.train_steps, warmup=1, min_seconds=min_s))
    return {
        "infer_img_per_s": bs / (inf["median_ms"] / 1e3),
        "infer_batch_median_ms": inf["median_ms"],
        "infer_batches": inf["n"],
        "train_img_per_s": bs / (tr["median_ms"] / 1e3),
        "train_step_median_ms": tr["median_ms"],
        "train_steps": tr["n"],
    }


# --------------------------------------------------------------------------- accuracy


def _acc_value(v: Any) -> float | None:
    if isinstance(v, dict):
        v = v.get("test_accuracy", v.get("accuracy"))
    return float(v) if isinstance(v, (int, float)) else None


def find_accuracies(args: argparse.Namespace) -> dict[str, tuple[float, str]]:
    """Model name -> (test accuracy, where it came from); first source wins per model."""
    found: dict[str, tuple[float, str]] = {}
    if args.accuracy_json:
        for k, v in json.loads(Path(args.accuracy_json).read_text()).items():
            if (a := _acc_value(v)) is not None:
                found[k] = (a, Path(args.accuracy_json).name)
    manifest = Path(args.models_dir) / "manifest.json"
    if manifest.is_file():
        for m in json.loads(manifest.read_text()).get("models", []):
            arch = m.get("architecture")
            a = _acc_value(m.get("metrics") or {})
            if m.get("task") == "digit" and arch and a is not None:
                found.setdefault(arch, (a, f"manifest:{m.get('name')}"))
    for name in MODELS:
        metrics = Path(args.runs_dir) / f"digit-{name}" / "metrics.json"
        if metrics.is_file() and (a := _acc_value(json.loads(metrics.read_text()))) is not None:
            found.setdefault(name, (a, str(metrics)))
    return found


# --------------------------------------------------------------------------- figure


def plot(rows: list[dict], path: str | os.PathLike, subtitle: str) -> Path:
    """Four log-scale bar panels: params, forward GFLOPs/image, inference and training img/s."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers / CI
    import matplotlib.pyplot as plt

    panels = [("params", "parameters (lower is better)"), ("fwd_gflops", "forward GFLOPs / image (lower is better)"),
              ("infer_img_per_s", "inference img/s (higher is better)"),
              ("train_img_per_s", "training img/s (higher is better)")]
    colors = ["#c0392b" if r["model"] == STOCK else "#2e86c1" for r in rows]
    names = [LABELS[r["model"]] + (f"\nacc {r['test_accuracy']:.2%}" if r.get("test_accuracy") is not None else "")
             for r in rows]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.6))
    for ax, (key, title) in zip(axes, panels, strict=True):
        values = [r.get(key) or 0.0 for r in rows]
        bars = ax.bar(range(len(rows)), values, color=colors)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=11)
        ax.set_xticks(range(len(rows)), names, fontsize=8)
        ax.grid(axis="y", which="major", alpha=0.3)
        positive = [v for v in values if v > 0] or [1.0]
        # Log axis from well below the smallest bar (so it stays visible) with headroom for labels.
        ax.set_ylim(min(positive) / 5, max(positive) * 8)
        for b, v in zip(bars, values, strict=True):
            if v > 0:
                text = f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
                ax.annotate(text, (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=8,
                            xytext=(0, 2), textcoords="offset points")
    stock, small = rows[0], min(rows[1:], key=lambda r: r["params"])
    fig.suptitle(f"Stock VGG16 on 28x28 digits: {stock['params'] / small['params']:,.0f}x the parameters and "
                 f"{stock['fwd_flops'] / small['fwd_flops']:,.0f}x the FLOPs of {small['model']}\n{subtitle}",
                 fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    import keras

    from handwrite_digit_ocr.data import to_model_input

    machine = machine_info()
    warn_if_busy(machine)
    print(machine_line(machine), flush=True)
    x_u8, y, source = sample_digits(args.batch_size, args.data_dir)
    x = to_model_input(x_u8)
    print(f"images: {source}", flush=True)
    accuracies = find_accuracies(args)

    rows = []
    for name in MODELS:
        keras.backend.clear_session()
        model = build(name, args.width)
        flops = count_macs(model)
        params = model.count_params()
        print(f"{name}: {params:,} params, {flops['flops'] / 1e9:.3f} GFLOPs/img forward; timing...", flush=True)
        speed = measure(model, x, y, args, slow=name == STOCK)
        acc, acc_src = accuracies.get(name, (None, None))
        rows.append({"model": name, "input": "224x224x3 (upsampled)" if name == STOCK else "28x28x1",
                     "params": params, "weights_mb_fp32": params * 4 / 1e6, "fwd_macs": flops["macs"],
                     "fwd_flops": flops["flops"], "fwd_gflops": flops["flops"] / 1e9, "batch": args.batch_size,
                     "test_accuracy": acc, "accuracy_source": acc_src, **speed})
        print(f"  inference {speed['infer_img_per_s']:,.1f} img/s, training {speed['train_img_per_s']:,.1f} img/s",
              flush=True)
        del model

    subtitle = f"{machine['cpu_model']}, {machine['usable_cores']:g} cores, batch {args.batch_size}, TF " \
               f"{machine.get('tensorflow')}" + (" (--quick: timings are noise)" if args.quick else "")
    fig = plot(rows, args.figure, subtitle)
    write_results(NAME, args.out, args, machine, {"images": source, "rows": rows, "figure": str(fig)})
    print(f"figure written to {fig}")
    print(f"\n### Stock VGG16 vs the project's small models ({machine_line(machine)})\n")
    print(markdown_table(rows, [
        ("model", "model", ""), ("input", "input", ""), ("params", "params", ",d"),
        ("weights_mb_fp32", "weights MB (fp32)", ",.1f"), ("fwd_gflops", "fwd GFLOPs/img", ".4f"),
        ("infer_img_per_s", "inference img/s", ",.1f"), ("train_img_per_s", "training img/s", ",.1f"),
        ("test_accuracy", "test accuracy", ".2%"), ("accuracy_source", "accuracy from", "")]))
    stock = rows[0]
    for r in rows[1:]:
        print(f"\nstock VGG16 vs {r['model']}: {stock['params'] / r['params']:,.0f}x params, "
              f"{stock['fwd_flops'] / r['fwd_flops']:,.0f}x FLOPs, "
              f"{r['infer_img_per_s'] / stock['infer_img_per_s']:,.0f}x slower inference, "
              f"{r['train_img_per_s'] / stock['train_img_per_s']:,.0f}x slower training", end="")
    print(f"\n(batch {args.batch_size}; FLOPs = 2 x MACs, so VGG16's often-quoted '15.5 GFLOPs' is "
          f"{fmt(stock['fwd_macs'] / 1e9, '.2f')} G MACs = {fmt(stock['fwd_gflops'], '.1f')} GFLOPs here)")
    return rows


if __name__ == "__main__":
    main()
