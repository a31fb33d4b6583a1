"""Training throughput of every architecture in the model zoo, and how close it gets to the CPU's peak.

    python -m benchmarks.bench_training                       # all archs, width 32, batch 128
    python -m benchmarks.bench_training --archs kaggle_cnn,vgg --steps 50

For each architecture and input mode, one ``model.fit`` call runs ``--warmup`` steps (tracing,
oneDNN primitive creation, shuffle-buffer fill) and then ``--steps`` timed steps; a callback
stamps the end of every step, so fit's own set-up is not counted. Modes:

* ``numpy``     ``model.fit(x, y)`` on in-memory float32 arrays (no augmentation);
* ``tfdata-aug`` the project's pipeline, ``data.make_dataset(..., aug=AugmentConfig())``, as
  ``python -m handwrite_digit_ocr.train`` uses it (augmentation runs on the same CPU cores);
* ``tfdata``    the same pipeline without augmentation (shows what augmentation costs).

FLOPs are counted analytically (conv + dense multiply-accumulates, see
``benchmarks.common.count_macs``); a training step is taken as 3x the forward FLOPs (forward,
gradient w.r.t. activations, gradient w.r.t. weights). The CPU peak is an estimate; see
``benchmarks.common.fp32_flops_per_cycle`` for the assumption, and override it with
``--flops-per-cycle`` / ``--ghz``.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from benchmarks.common import (
    HelpFormatter,
    add_common_args,
    count_macs,
    fmt,
    machine_info,
    machine_line,
    markdown_table,
    matmul_gflops,
    peak_gflops,
    sample_digits,
    summarize,
    warn_if_busy,
    write_results,
)

# Before TensorFlow is first imported: its C++ start-up chatter would bury the report.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NAME = "bench_training"
MODES = ("numpy", "tfdata-aug", "tfdata")
TRAIN_FLOPS_FACTOR = 3  # backward pass ~ 2x forward: grads for activations and for weights


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from handwrite_digit_ocr.model import ARCHS

    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_training", description=__doc__,
                                 formatter_class=HelpFormatter)
    ap.add_argument("--archs", default=",".join(ARCHS), help=f"comma-separated, from {sorted(ARCHS)}")
    ap.add_argument("--modes", default="numpy,tfdata-aug", help=f"comma-separated input modes, from {MODES}")
    ap.add_argument("--width", type=int, default=32, help="base filter count (vgg, rcnn)")
    ap.add_argument("--batch-size", type=int, default=128, help="training batch size")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps before timing")
    ap.add_argument("--steps", type=int, default=30, help="timed steps")
    ap.add_argument("--optimizer", default="rmsprop", help="as in handwrite_digit_ocr.train")
    ap.add_argument("--data-dir", default=None, help="where mnist.npz is (drawn digits if none; speed is the same)")
    ap.add_argument("--flops-per-cycle", type=int, default=None,
                    help="fp32 FLOPs/cycle per core for the peak estimate [auto: 32 with AVX-512, 16 with AVX2]")
    ap.add_argument("--ghz", type=float, default=None, help="clock for the peak estimate [auto from /proc/cpuinfo]")
    ap.add_argument("--matmul-size", type=int, default=2048,
                    help="n of the n x n fp32 matmul timed as a practical peak (0 = skip)")
    add_common_args(ap, NAME)
    args = ap.parse_args(argv)
    if args.quick:
        args.warmup, args.steps, args.batch_size = 1, 2, 32
        args.matmul_size = min(args.matmul_size, 512)
    if args.warmup < 1 or args.steps < 1:
        ap.error("--warmup and --steps must be >= 1 (the first step traces the graph)")
    bad = sorted(set(_names(args.archs)) - set(ARCHS)) + sorted(set(_names(args.modes)) - set(MODES))
    if bad:
        ap.error(f"unknown architecture(s) or mode(s): {bad}")
    return args


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def make_step_timer():
    """A Keras callback that stamps ``perf_counter`` at the end of every training step.

    TF runs a compiled step synchronously on CPU, so the stamp is taken after the step's work
    is done; differences between stamps are step times without fit's per-call set-up."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.stamps: list[float] = []

        def on_train_batch_end(self, batch, logs=None):
            self.stamps.append(time.perf_counter())

    return StepTimer()


def build_compiled(arch: str, width: int, optimizer: str):
    """A fresh model compiled exactly as ``handwrite_digit_ocr.train`` compiles it."""
    from handwrite_digit_ocr.config import CharConfig
    from handwrite_digit_ocr.model import build_model
    from ocr_common.training import make_optimizer

    model = build_model(CharConfig(arch=arch, width=width))
    model.compile(optimizer=make_optimizer(optimizer, 1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def time_fit(model, mode: str, x_u8, y, args: argparse.Namespace) -> dict[str, Any]:
    """One fit of warmup + steps steps of ``model`` in ``mode``; returns img/s and step-time statistics.

    The model is reused across modes (its optimizer state does not change the cost of a step);
    a new input mode may retrace the train function, which the warm-up steps absorb."""
    from handwrite_digit_ocr.data import AugmentConfig, make_dataset, to_model_input

    timer = make_step_timer()
    bs, total = args.batch_size, args.warmup + args.steps
    if mode == "numpy":
        x = to_model_input(x_u8[: total * bs])
        model.fit(x, y[: total * bs], batch_size=bs, epochs=1, shuffle=True, verbose=0, callbacks=[timer])
    else:
        aug = AugmentConfig() if mode == "tfdata-aug" else None
        ds = make_dataset(x_u8, y, bs, training=True, aug=aug, seed=0).repeat()
        model.fit(ds, steps_per_epoch=total, epochs=1, shuffle=False, verbose=0, callbacks=[timer])
    stamps = timer.stamps
    if len(stamps) < total:
        raise RuntimeError(f"{model.name}/{mode}: only {len(stamps)} of {total} steps ran")
    # Stamp warmup-1 ends the last untimed step, so the timed steps are the differences after it.
    timed = [b - a for a, b in zip(stamps[args.warmup - 1 : total - 1], stamps[args.warmup : total], strict=True)]
    elapsed = sum(timed)
    return {"img_per_s": args.steps * bs / elapsed if elapsed > 0 else None, "jit_compile": model.jit_compile,
            **{f"step_{k}": v for k, v in summarize(timed).items()}}


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    import keras

    machine = machine_info()
    warn_if_busy(machine)
    fpc = args.flops_per_cycle or machine["fp32_flops_per_cycle_assumed"]
    ghz = args.ghz or machine["ghz_nominal"]
    peak = peak_gflops(machine["usable_cores"], ghz, fpc)
    mm = matmul_gflops(args.matmul_size) if args.matmul_size else None
    machine.update(peak_used={"flops_per_cycle": fpc, "ghz": ghz, "gflops": peak}, matmul_gflops=mm,
                   matmul_size=args.matmul_size)
    print(machine_line(machine), flush=True)
    if peak is not None:
        print(f"peak estimate used: {machine['usable_cores']:g} cores x {ghz} GHz x {fpc} FLOPs/cycle = "
              f"{peak:.0f} GFLOP/s", flush=True)
    if mm is not None:
        print(f"measured fp32 matmul {args.matmul_size}^3: {mm:.0f} GFLOP/s (practical ceiling)", flush=True)

    n = (args.warmup + args.steps) * args.batch_size
    x, y, source = sample_digits(n, args.data_dir, split="train")
    print(f"images: {source}", flush=True)

    rows = []
    for arch in _names(args.archs):
        keras.backend.clear_session()  # each arch starts from an empty graph and name scope
        model = build_compiled(arch, args.width, args.optimizer)
        flops = count_macs(model)
        params, trainable = model.count_params(), sum(int(w.numpy().size) for w in model.trainable_weights)
        for mode in _names(args.modes):
            t0 = time.perf_counter()
            r = time_fit(model, mode, x, y, args)
            gflops = r["img_per_s"] * TRAIN_FLOPS_FACTOR * flops["flops"] / 1e9 if r["img_per_s"] else None
            row = {"arch": arch, "mode": mode, "batch": args.batch_size, "width": args.width, "params": params,
                   "trainable_params": trainable, "fwd_macs": flops["macs"], "fwd_mflops": flops["flops"] / 1e6,
                   "train_gflops_per_s": gflops, "pct_peak": (gflops / peak) if gflops and peak else None,
                   "pct_matmul": (gflops / mm) if gflops and mm else None,
                   "wall_s": time.perf_counter() - t0, **r}
            rows.append(row)
            print(f"  {arch:10s} {mode:10s} {r['img_per_s']:8,.0f} img/s  step p50 {r['step_median_ms']:.1f} ms  "
                  f"{gflops:6.1f} GFLOP/s  ({row['wall_s']:.0f} s)", flush=True)

    write_results(NAME, args.out, args, machine, {"images": source, "rows": rows,
                                                   "train_flops_factor": TRAIN_FLOPS_FACTOR})
    print(f"\n### Training throughput ({machine_line(machine)})\n")
    print(markdown_table(rows, [
        ("arch", "arch", ""), ("mode", "input", ""), ("batch", "batch", "d"), ("params", "params", ",d"),
        ("fwd_mflops", "fwd MFLOPs/img", ".1f"), ("img_per_s", "img/s", ",.0f"),
        ("step_median_ms", "step p50 ms", ".1f"), ("step_p95_ms", "step p95 ms", ".1f"),
        ("train_gflops_per_s", "achieved GFLOP/s", ".1f"),
        ("pct_peak", "% of est. peak", ".1%"), ("pct_matmul", "% of matmul", ".1%")]))
    print(f"\nFLOPs = 2 x conv/dense MACs; training = {TRAIN_FLOPS_FACTOR} x forward. Est. peak = cores x GHz x "
          f"FLOPs/cycle = {machine['usable_cores']:g} x {ghz} x {fpc} = {fmt(peak, '.0f')} GFLOP/s; measured "
          f"{args.matmul_size}^3 fp32 matmul = {fmt(mm, '.0f')} GFLOP/s (see benchmarks/README.md).")
    return rows


if __name__ == "__main__":
    main()
