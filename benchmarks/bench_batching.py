"""TF vs ONNX Runtime, and micro-batching on vs off, for the character models.

    python -m benchmarks.bench_batching                                 # shipped digit model
    python -m benchmarks.bench_batching --untrained-arch kaggle_cnn     # before weights ship

Three parts, each comparing its variants back to back (interleaved, ``--rounds`` times) so a
change in machine load hits every variant alike:

(a) backend latency, in process: ``CharPredictor.predict_proba`` on a preprocessed batch of
    1, 8 and 32 images (``--batch-sizes``), TensorFlow (compiled ``tf.function``) vs ONNX Runtime.
    This is the measurement behind ``handwrite_digit_ocr.predict.DEFAULT_BACKEND``.
(b) concurrency, in process: C threads (``--clients``) each calling ``predict_proba`` on one
    image in a closed loop, for every backend with micro-batching off and on
    (``--batch-wait-ms``): the model and the batcher without HTTP.
(c) concurrency over HTTP: one ``server.py`` per variant (``--backend B --batch-wait-ms W``), all
    started first, then C keep-alive clients per variant POSTing MNIST-like PNGs to
    ``/predict/<task>``. ``--threads`` should be at least the largest C: a request waiting for a
    waitress thread cannot be batched with the ones being served.

Reported per variant and C: throughput, p50 / p95 latency, and for batched variants in (b) the
mean rows per model call.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from typing import Any

import numpy as np

from benchmarks.bench_inference import CHAR_TASKS, Server, drive, models_dir_for
from benchmarks.common import (
    HelpFormatter,
    add_common_args,
    machine_info,
    machine_line,
    markdown_table,
    png_bytes,
    sample_digits,
    summarize,
    time_calls,
    warn_if_busy,
    write_results,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NAME = "bench_batching"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_batching", description=__doc__,
                                 formatter_class=HelpFormatter)
    ap.add_argument("--models-dir", default="models", help="folder with manifest.json and the weights")
    ap.add_argument("--task", default="digit", choices=CHAR_TASKS, help="character task to measure")
    ap.add_argument("--untrained-arch", default=None,
                    help="ignore --models-dir and measure an untrained model of this architecture (temp folder)")
    ap.add_argument("--data-dir", default=None, help="where mnist.npz is; drawn digits if none")
    ap.add_argument("--backends", default="tf,onnx", help="backends to compare (onnx needs onnxruntime + tf2onnx)")
    ap.add_argument("--batch-wait-ms", type=float, default=2.0, help="micro-batching wait of the 'on' variants")
    ap.add_argument("--batch-sizes", default="1,8,32", help="(a) batch sizes for the backend comparison")
    ap.add_argument("--calls", type=int, default=200, help="(a) timed calls per backend, batch size and round")
    ap.add_argument("--clients", default="1,8,32", help="(b, c) concurrent callers, one run per value")
    ap.add_argument("--requests", type=int, default=100, help="(b, c) calls per client per run")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved repetitions; the median round is reported")
    ap.add_argument("--threads", type=int, default=32, help="(c) waitress worker threads per server")
    ap.add_argument("--server-timeout", type=float, default=240.0, help="(c) seconds to wait for /health")
    ap.add_argument("--no-inprocess", action="store_true", help="skip (b)")
    ap.add_argument("--no-http", action="store_true", help="skip (c)")
    add_common_args(ap, NAME)
    args = ap.parse_args(argv)
    if args.quick:
        args.calls, args.requests, args.rounds, args.clients = 10, 5, 1, "1,8"
    return args


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def _median_round(rounds: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The round whose ``key`` is the median: one coherent set of numbers, not a mix of rounds."""
    return sorted(rounds, key=lambda r: r.get(key) or 0.0)[len(rounds) // 2]


# --------------------------------------------------------------------------- (a)


def bench_backends(predictors: dict[str, Any], normed: np.ndarray, args: argparse.Namespace) -> list[dict]:
    rows = []
    for bs in _ints(args.batch_sizes):
        x = np.concatenate([normed] * (-(-bs // len(normed))))[:bs]
        per: dict[str, list[dict]] = {name: [] for name in predictors}
        for _ in range(args.rounds):
            for name, pred in predictors.items():  # interleaved: same load for every backend
                stats = summarize(time_calls(lambda p=pred, x=x: p.predict_proba(x), args.calls, warmup=5))
                per[name].append(stats)
        for name, rounds in per.items():
            stats = _median_round(rounds, "median_ms")
            rows.append({"backend": name, "batch": bs, "img_per_s": bs / (stats["median_ms"] / 1e3), **stats})
            print(f"  {name} batch {bs}: median {stats['median_ms']:.2f} ms, p95 {stats['p95_ms']:.2f} ms", flush=True)
    return rows


# --------------------------------------------------------------------------- (b)


def closed_loop(fn, clients: int, requests: int) -> dict[str, Any]:
    """``clients`` threads each calling ``fn()`` ``requests`` times back to back."""
    lat: list[list[float]] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def worker(i: int) -> None:
        fn()  # untimed warm-up
        barrier.wait()
        for _ in range(requests):
            t0 = time.perf_counter()
            fn()
            lat[i].append(time.perf_counter() - t0)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    flat = [x for per in lat for x in per]
    return {"clients": clients, "calls": len(flat), "wall_s": wall, "req_per_s": len(flat) / wall, **summarize(flat)}


def bench_threads(variants: dict[str, Any], normed: np.ndarray, args: argparse.Namespace) -> list[dict]:
    rows = []
    one = normed[:1]
    for c in _ints(args.clients):
        per: dict[str, list[dict]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, pred in variants.items():
                batcher = pred.batcher
                before = (batcher.batches_run, batcher.rows_run) if batcher else None
                r = closed_loop(lambda p=pred: p.predict_proba(one), c, args.requests)
                if batcher:
                    calls, rows_run = batcher.batches_run - before[0], batcher.rows_run - before[1]
                    r["rows_per_call"] = rows_run / calls if calls else None
                per[name].append(r)
        for name, rounds in per.items():
            r = _median_round(rounds, "req_per_s")
            rows.append({"variant": name, **r})
            print(f"  {name} x{c}: {r['req_per_s']:,.0f} calls/s, p50 {r['median_ms']:.2f} ms, "
                  f"p95 {r['p95_ms']:.2f} ms", flush=True)
    return rows


# --------------------------------------------------------------------------- (c)


def bench_http(models_dir, variants: dict[str, list[str]], pngs: list[bytes], labels: list[str] | None,
               args: argparse.Namespace) -> list[dict]:
    servers: dict[str, Server] = {}
    rows = []
    try:
        for name, extra in variants.items():
            servers[name] = Server(models_dir, args.threads, args.server_timeout, extra_args=extra)
            print(f"  {name}: server.py {' '.join(extra)} ready after {servers[name].startup_s:.1f} s", flush=True)
        path = f"/predict/{args.task}"
        for c in _ints(args.clients):
            per: dict[str, list[dict]] = {name: [] for name in servers}
            for _ in range(args.rounds):
                for name, server in servers.items():
                    per[name].append(drive(server.port, path, pngs, labels, c, args.requests))
            for name, rounds in per.items():
                r = _median_round(rounds, "req_per_s")
                rows.append({"variant": name, **r})
                print(f"  {name} x{c}: {r['req_per_s']:,.0f} req/s, p50 {r.get('median_ms', 0):.1f} ms, "
                      f"p95 {r.get('p95_ms', 0):.1f} ms, errors {r['errors']}", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    return rows


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    machine = machine_info()
    warn_if_busy(machine)
    print(machine_line(machine), flush=True)
    x, y, source = sample_digits(64 if args.quick else 256, args.data_dir)
    pngs = [png_bytes(im) for im in x]
    labels = [str(int(v)) for v in y] if args.task == "digit" else None
    print(f"images: {source}", flush=True)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    wait = args.batch_wait_ms

    from handwrite_digit_ocr.predict import CharPredictor
    from handwrite_digit_ocr.preprocess import normalize_batch
    from ocr_common.image import decode_image
    from ocr_common.manifest import load_manifest

    results: dict[str, Any] = {"images": source, "task": args.task, "batch_wait_ms": wait}
    with models_dir_for(args, [args.task]) as models_dir, tempfile.TemporaryDirectory(prefix="bench-onnx-") as cache:
        if args.untrained_arch:
            # Untrained weights differ every run: keep their ONNX exports out of the real cache.
            os.environ["OCR_CACHE_DIR"] = cache
        # The first manifest entry for the task serves it (serving.registry's rule).
        entry = next((e for e in load_manifest(models_dir)["models"] if e.get("task") == args.task), None)
        if entry is None:
            raise SystemExit(f"no {args.task!r} model in {models_dir}; publish weights or pass --untrained-arch")
        weights = models_dir / entry["file"]
        print(f"model: {entry.get('architecture') or '?'} from {weights}", flush=True)
        plain = {b: CharPredictor(weights, backend=b) for b in backends}
        for b, p in plain.items():
            if p.backend != b:
                raise SystemExit(f"backend {b!r} unavailable (fell back to {p.backend}); see the log above")
        size = next(iter(plain.values())).config.input_size
        normed = normalize_batch([decode_image(b) for b in pngs], size)
        results["machine_load_before"] = os.getloadavg()[0]

        print("\n(a) backend latency, in process", flush=True)
        results["backends"] = bench_backends(plain, normed, args)
        if not args.no_inprocess:
            print(f"\n(b) {args.clients} threads in process, micro-batching off / greedy / {wait:g} ms", flush=True)
            batched = {(b, w): CharPredictor(weights, backend=b, batching=True, max_wait_ms=w)
                       for b in backends for w in (0.0, wait)}
            variants = {}
            for b in backends:
                variants[f"{b}, no batching"] = plain[b]
                variants[f"{b}, greedy batching"] = batched[b, 0.0]
                variants[f"{b}, batch {wait:g} ms"] = batched[b, wait]
            try:
                results["threads"] = bench_threads(variants, normed, args)
            finally:
                for p in batched.values():
                    p.close()
        del plain
        if not args.no_http:
            print(f"\n(c) HTTP, {args.clients} clients, waitress --threads {args.threads}", flush=True)
            http_variants = {}
            for b in backends:
                http_variants[f"{b}, no batching"] = ["--backend", b, "--batching", "off"]
                http_variants[f"{b}, greedy batching"] = ["--backend", b, "--batching", "on", "--batch-wait-ms", "0"]
                http_variants[f"{b}, batch {wait:g} ms"] = ["--backend", b, "--batching", "on", "--batch-wait-ms",
                                                           f"{wait:g}"]
            results["http"] = bench_http(models_dir, http_variants, pngs, labels, args)
    results["machine_load_after"] = os.getloadavg()[0]
    write_results(NAME, args.out, args, machine, results)
    print_report(results, machine)
    return results


def print_report(results: dict, machine: dict) -> None:
    print(f"\n### Backends and micro-batching ({machine_line(machine)}; load {results['machine_load_before']:.2f} "
          f"-> {results['machine_load_after']:.2f})\n")
    print("(a) predict_proba latency by backend, in process\n")
    print(markdown_table(results["backends"], [
        ("backend", "backend", ""), ("batch", "batch", "d"), ("median_ms", "p50 ms", ".2f"),
        ("p95_ms", "p95 ms", ".2f"), ("img_per_s", "img/s", ",.0f")]))
    if results.get("threads"):
        print("\n(b) concurrent callers of predict_proba (one image each), in process\n")
        print(markdown_table(results["threads"], [
            ("variant", "variant", ""), ("clients", "callers", "d"), ("req_per_s", "calls/s", ",.0f"),
            ("median_ms", "p50 ms", ".2f"), ("p95_ms", "p95 ms", ".2f"), ("rows_per_call", "rows/model call", ".1f")]))
    if results.get("http"):
        print("\n(c) HTTP, keep-alive clients, one PNG per request\n")
        print(markdown_table(results["http"], [
            ("variant", "variant", ""), ("clients", "clients", "d"), ("req_per_s", "req/s", ",.0f"),
            ("median_ms", "p50 ms", ".1f"), ("p95_ms", "p95 ms", ".1f"), ("errors", "errors", "d")]))


if __name__ == "__main__":
    main()
