"""Inference speed of the served character models, in process and over HTTP.

    python -m benchmarks.bench_inference                      # shipped weights in models/
    python -m benchmarks.bench_inference --untrained-arch kaggle_cnn   # before weights ship

Per task (digit, letter) found in ``--models-dir``:

(a) batch-1 latency of the ways one could run the model: ``CharPredictor.predict`` (what the
    server calls: preprocessing + compiled ``tf.function`` + top-k), Keras ``model.predict`` per
    call, and an eager ``model(x)`` call; plus PNG decoding and preprocessing alone;
(b) throughput of ``CharPredictor.predict_proba`` (the compiled path) at several batch sizes;
(c) HTTP: servers in subprocesses on free loopback ports, each driven by C concurrent
    keep-alive clients POSTing R MNIST-like PNGs to ``/predict/<task>``: latency percentiles,
    requests/s, errors, server RSS and server CPU per request. The variants (``--variants``)
    run one after the other with the same clients: ``stack`` is the HTTP stack with no model
    (``benchmarks/stack_server.py``: decode + JSON only), ``off`` / ``greedy`` / ``wait2`` are
    ``server.py`` with micro-batching off, greedy, or waiting up to 2 ms for company;
(d) layers: per client count, the in-process ``predict``, the stack alone and each endpoint
    side by side, with the endpoint's p50 minus the in-process ``predict`` (what HTTP adds) and
    its requests/s as a multiple of the stack's: ratios that hold across machines.

Speed does not depend on the weights, so ``--untrained-arch`` gives valid numbers before the
trained models are published (the "label match" column is then ~10 %, by chance).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager
from itertools import cycle
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    REPO_ROOT,
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

# Before TensorFlow is first imported: its C++ start-up chatter would bury the report.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NAME = "bench_inference"
CHAR_TASKS = ("digit", "letter")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from ocr_common.runtime import BACKENDS

    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_inference", description=__doc__,
                                 formatter_class=HelpFormatter)
    ap.add_argument("--models-dir", default="models", help="folder with manifest.json and the weights")
    ap.add_argument("--tasks", default="digit,letter", help="comma-separated character tasks to measure")
    ap.add_argument("--untrained-arch", default=None,
                    help="ignore --models-dir and measure an untrained model of this architecture (temp folder)")
    ap.add_argument("--data-dir", default=None, help="where mnist.npz is [--data-dir > $OCR_DATA_DIR > ./data > "
                                                     "../shared/data]; drawn digits if none")
    ap.add_argument("--calls", type=int, default=300, help="(a) timed batch-1 calls per method")
    ap.add_argument("--batch-sizes", default="1,32,256", help="(b) batch sizes for predict_proba throughput")
    ap.add_argument("--throughput-images", type=int, default=4096,
                    help="(b) most images per batch size; each size runs >= 5 batches and >= 2 s")
    ap.add_argument("--clients", default="1,8,32", help="(c) concurrent HTTP clients, one run per value")
    ap.add_argument("--requests", type=int, default=200, help="(c) requests per client per run")
    ap.add_argument("--threads", type=int, default=8, help="(c) waitress worker threads (server.py --threads)")
    ap.add_argument("--backend", choices=BACKENDS, default="onnx",
                    help="runtime backend for (a), (b) and the servers (bench_batching compares them)")
    ap.add_argument("--variants", default="stack,off,greedy",
                    help=f"(c) server variants, in order; each one of {sorted(VARIANTS)}")
    ap.add_argument("--server-timeout", type=float, default=180.0, help="(c) seconds to wait for /health")
    ap.add_argument("--no-http", action="store_true", help="skip (c)")
    add_common_args(ap, NAME)
    args = ap.parse_args(argv)
    bad = sorted(set(_names(args.variants)) - set(VARIANTS))
    if bad:
        ap.error(f"--variants: unknown {bad}; choose from {sorted(VARIANTS)}")
    if args.quick:
        args.calls, args.throughput_images, args.requests = 10, 64, 5
        args.clients = ",".join(c for c in args.clients.split(",") if int(c) <= 8) or "1"
    return args


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


# Server variants of (c): label and command (after the interpreter); "{backend}" is filled in.
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "stack": ("HTTP stack, no model (decode + JSON)", ["-m", "benchmarks.stack_server"]),
    "off": ("endpoint, batching off", ["server.py", "--backend", "{backend}", "--batching", "off"]),
    "greedy": ("endpoint, greedy batching", ["server.py", "--backend", "{backend}", "--batching", "on",
                                             "--batch-wait-ms", "0"]),
    "wait2": ("endpoint, batching waits 2 ms", ["server.py", "--backend", "{backend}", "--batching", "on",
                                                "--batch-wait-ms", "2"]),
}


# --------------------------------------------------------------------------- models


@contextmanager
def models_dir_for(args: argparse.Namespace, tasks: list[str]):
    """The models folder to measure: ``--models-dir``, or a temporary one holding untrained
    ``--untrained-arch`` models published with the project's own ``publish`` (same manifest)."""
    if not args.untrained_arch:
        yield Path(args.models_dir)
        return
    from handwrite_digit_ocr.config import DIGITS, LETTERS, CharConfig
    from handwrite_digit_ocr.model import build_model
    from ocr_common.config import save_config
    from ocr_common.manifest import publish

    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        d = Path(tmp)
        for task in tasks:
            cfg = CharConfig(arch=args.untrained_arch, labels=DIGITS if task == "digit" else LETTERS, task=task)
            build_model(cfg).save(d / f"{task}.keras")
            save_config(cfg, d / f"{task}.json")
            publish(d, task, task, d / f"{task}.keras", d / f"{task}.json", architecture=cfg.arch,
                    dataset="none (untrained, benchmark only)")
        yield d


# --------------------------------------------------------------------------- (a) + (b)


def bench_in_process(entry, pngs: list[bytes], args: argparse.Namespace) -> dict[str, Any]:
    """Latency of each way to run one image, then predict_proba throughput per batch size."""
    from handwrite_digit_ocr.preprocess import normalize_batch
    from ocr_common.image import decode_image

    pred = entry.predictor
    size = pred.config.input_size
    decoded = [decode_image(b) for b in pngs]
    normed = normalize_batch(decoded, size)  # (N, S, S, 1) float32
    png_it, img_it, x_it = cycle(pngs), cycle(decoded), cycle(normed[:, None])  # x: (1, S, S, 1)
    # The predictor pads every call to its fixed batch (so the graph is traced once); a graph
    # traced for batch 1 shows what that padding costs a single-image request.
    import tensorflow as tf

    spec = tf.TensorSpec([1, size, size, 1], tf.float32)
    fn1 = tf.function(lambda x: pred.model(x, training=False), input_signature=[spec])
    engine = "tf.function" if pred.backend == "tf" else "ONNX Runtime"
    padding = ", padded to the next batch bucket" if pred.backend == "tf" else ""
    # Eager and model.predict are 10-50x slower than the compiled path; fewer calls keep the
    # run short without hurting their (wide) percentiles much.
    slow_n = max(5, args.calls // 5)
    methods = [
        ("decode_image (PNG bytes -> array)", lambda: decode_image(next(png_it)), args.calls),
        ("normalize_char (preprocess only)", lambda: normalize_batch([next(img_it)], size), args.calls),
        (f"CharPredictor.predict (preprocess + {engine} + top-k)", lambda: pred.predict([next(img_it)]), args.calls),
        (f"predict_proba ({engine}{padding})", lambda: pred.predict_proba(next(x_it)),
         args.calls),
        ("tf.function traced at batch 1 (no padding)", lambda: fn1(next(x_it)).numpy(), args.calls),
        ("keras model.predict(x) per call", lambda: pred.model.predict(next(x_it), verbose=0), slow_n),
        ("keras model(x) eager call", lambda: np.asarray(pred.model(next(x_it), training=False)), slow_n),
    ]
    latency = []
    for label, fn, n in methods:
        stats = summarize(time_calls(fn, n, warmup=3, min_seconds=0.0 if args.quick else 2.0, max_n=10 * n))
        latency.append({"method": label, **stats})
        print(f"  {label}: median {stats['median_ms']:.2f} ms, p95 {stats['p95_ms']:.2f} ms (n={stats['n']})",
              flush=True)

    throughput = []
    for bs in _ints(args.batch_sizes):
        batch = np.concatenate([normed] * (-(-bs // len(normed))))[:bs]
        # At least 5 batches and 2 s per size, but no more than --throughput-images images:
        # batch 1 would otherwise take minutes where batch 256 takes seconds.
        cap = max(5, args.throughput_images // bs)
        stats = summarize(time_calls(lambda b=batch: pred.predict_proba(b), 5, warmup=2,
                                     min_seconds=0.0 if args.quick else 2.0, max_n=cap))
        ips = bs / (stats["median_ms"] / 1e3)
        throughput.append({"batch": bs, "img_per_s": ips, **stats})
        print(f"  predict_proba batch {bs}: {ips:,.0f} img/s (median {stats['median_ms']:.2f} ms/batch)", flush=True)
    return {"latency": latency, "throughput": throughput, "predictor_batch_size": pred.batch_size}


# --------------------------------------------------------------------------- (c) HTTP


def free_port() -> int:
    """A currently free loopback port (tiny race with other programs; fine for a benchmark)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> dict[str, float]:
    """Resident memory now and at peak (MB) and CPU seconds used so far, from /proc."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024.0
        # Fields after the ")" of the command name: utime and stime are the 12th and 13th.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out["cpu_s"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    return out


class Server:
    """``server.py`` (or ``program``: arguments after the interpreter, e.g. ``["-m",
    "benchmarks.stack_server"]``) in a subprocess on a free port; its output goes to a log file."""

    def __init__(self, models_dir: Path, threads: int, timeout: float, extra_args: Sequence[str] = (),
                 program: Sequence[str] = ("server.py",)):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log", delete=False)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        cmd = [sys.executable, *program, "--host", "127.0.0.1", "--port", str(self.port),
               "--models-dir", str(Path(models_dir).resolve()), "--threads", str(threads), *extra_args]
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self.health = self._wait_health(timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.perf_counter() - t0

    def _wait_health(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/health")
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                if resp.status == 200:
                    return json.loads(body)
            except OSError:
                pass  # not listening yet: models load before waitress binds the port
            time.sleep(0.25)
        raise TimeoutError(f"no /health answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 3000) -> str:
        return Path(self.log.name).read_text(errors="replace")[-n:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def drive(port: int, path: str, bodies: list[bytes], labels: list[str] | None, clients: int,
          requests: int) -> dict[str, Any]:
    """``clients`` threads, each with its own keep-alive connection, send ``requests`` raw
    ``image/png`` POSTs as fast as answers come back (closed loop). One untimed request per
    client first opens the connection, so the timed part measures steady state."""
    lat: list[list[float]] = [[] for _ in range(clients)]
    errors: list[list[str]] = [[] for _ in range(clients)]
    match = [0] * clients
    barrier = threading.Barrier(clients + 1)
    headers = {"Content-Type": "image/png"}

    def connect() -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def send(conn: http.client.HTTPConnection, k: int) -> tuple[int, bytes]:
        conn.request("POST", path, body=bodies[k], headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()

    def worker(i: int) -> None:
        conn = connect()
        try:
            send(conn, i % len(bodies))
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = connect()
        barrier.wait()
        for j in range(requests):
            k = (i * requests + j) % len(bodies)
            t0 = time.perf_counter()
            try:
                status, body = send(conn, k)
            except (OSError, http.client.HTTPException) as e:
                errors[i].append(type(e).__name__)
                conn.close()
                conn = connect()  # a dropped keep-alive connection: reconnect and carry on
                continue
            dt = time.perf_counter() - t0
            if status != 200:
                errors[i].append(f"HTTP {status}")
                continue
            lat[i].append(dt)
            if labels is not None:
                match[i] += json.loads(body)["results"][0]["label"] == labels[k]
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    all_lat = [x for per in lat for x in per]
    all_err = [x for per in errors for x in per]
    return {
        "clients": clients,
        "requests": clients * requests,
        "ok": len(all_lat),
        "errors": len(all_err),
        "error_kinds": sorted(set(all_err)),
        "wall_s": wall,
        "req_per_s": len(all_lat) / wall if wall > 0 else None,
        "label_match": (sum(match) / len(all_lat)) if labels is not None and all_lat else None,
        **summarize(all_lat),
    }


def bench_http(models_dir: Path, tasks: list[str], pngs: list[bytes], labels: list[str],
               args: argparse.Namespace) -> dict[str, Any]:
    """Each ``--variants`` server in turn (one at a time, so they never share the cores), one
    closed-loop run per (task, client count)."""
    out: dict[str, Any] = {"variants": []}
    for key in _names(args.variants):
        label, program = VARIANTS[key]
        program = [a.format(backend=args.backend) for a in program]
        print(f"  {label}: {' '.join(program)}", flush=True)
        server = Server(models_dir, args.threads, args.server_timeout, program=program)
        try:
            pid = server.proc.pid
            idle = proc_status(pid)
            runs = []
            for task in tasks:
                if not server.health.get("tasks", {}).get(task, {}).get("ready"):
                    print(f"    {task}: not ready on the server, skipped", flush=True)
                    continue
                for c in _ints(args.clients):
                    before = proc_status(pid)
                    match = labels if task == "digit" and key != "stack" else None
                    r = drive(server.port, f"/predict/{task}", pngs, match, c, args.requests)
                    after = proc_status(pid)
                    cpu = after.get("cpu_s", 0.0) - before.get("cpu_s", 0.0)
                    r.update(task=task, variant=key, variant_label=label, threads=args.threads,
                             rss_before_mb=before.get("VmRSS"), rss_after_mb=after.get("VmRSS"),
                             rss_peak_mb=after.get("VmHWM"),
                             server_cpu_ms_per_req=1e3 * cpu / r["ok"] if r["ok"] else None)
                    runs.append(r)
                    print(f"    {task} x{c} clients: {r['req_per_s']:.0f} req/s, p50 {r.get('median_ms', 0):.1f} ms, "
                          f"p99 {r.get('p99_ms', 0):.1f} ms, errors {r['errors']}, "
                          f"CPU {r['server_cpu_ms_per_req'] or 0:.2f} ms/req", flush=True)
            out["variants"].append({"variant": key, "label": label, "startup_s": server.startup_s,
                                    "rss_idle_mb": idle.get("VmRSS"), "runs": runs})
        finally:
            server.stop()
    return out


def layer_rows(results: dict) -> list[dict]:
    """(d): per task and client count, the in-process predict, the stack and each endpoint."""
    rows = []
    runs = [r for v in (results.get("http") or {}).get("variants", []) for r in v["runs"]]
    for task, res in results["tasks"].items():
        if "skipped" in res:
            continue
        predict = next(r for r in res["latency"] if r["method"].startswith("CharPredictor.predict"))
        best_tp = max(r["img_per_s"] for r in res["throughput"])
        for c in sorted({r["clients"] for r in runs if r["task"] == task}):
            here = [r for r in runs if r["task"] == task and r["clients"] == c]
            stack = next((r for r in here if r["variant"] == "stack"), None)
            rows.append({"task": task, "clients": c, "layer": "in-process predict (1 image; best batch img/s)",
                         "p50": predict["median_ms"], "rps": best_tp, "vs_predict": None, "vs_stack": None})
            for r in here:
                rows.append({"task": task, "clients": c, "layer": r["variant_label"], "p50": r.get("median_ms"),
                             "rps": r["req_per_s"],
                             "vs_predict": (r["median_ms"] - predict["median_ms"]) if r.get("median_ms") else None,
                             "vs_stack": r["req_per_s"] / stack["req_per_s"] if stack and stack["req_per_s"] else None})
    return rows


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = sorted(set(tasks) - set(CHAR_TASKS))
    if unknown:
        raise SystemExit(f"--tasks: {unknown} are not character tasks; choose from {CHAR_TASKS}")

    machine = machine_info()
    warn_if_busy(machine)
    print(machine_line(machine), flush=True)
    n_images = 64 if args.quick else 256
    x, y, source = sample_digits(n_images, args.data_dir)
    pngs = [png_bytes(im) for im in x]
    labels = [str(int(v)) for v in y]
    print(f"images: {source}", flush=True)

    from serving.registry import ModelRegistry

    results: dict[str, Any] = {"images": source, "backend": args.backend, "tasks": {}, "http": None}
    with models_dir_for(args, tasks) as models_dir:
        registry = ModelRegistry(models_dir, loader_options={"backend": args.backend, "batching": False})
        present = []
        for task in tasks:
            entry = registry.by_task.get(task)
            if entry is None or not entry.ready:
                print(f"{task}: skipped ({registry.reason(task)})", flush=True)
                results["tasks"][task] = {"skipped": registry.reason(task)}
                continue
            present.append(task)
            print(f"\n{task}: {entry.architecture or '?'} from {models_dir / entry.file}", flush=True)
            res = bench_in_process(entry, pngs, args)
            res.update(architecture=entry.architecture, params=entry.predictor.model.count_params(),
                       sha256=entry.sha256)
            results["tasks"][task] = res
        if not present:
            raise SystemExit(f"no character task ready in {models_dir}; publish weights or pass --untrained-arch")
        del registry  # free the in-process models before the server loads its own copy
        if not args.no_http:
            print(f"\nHTTP: --threads {args.threads}, variants {args.variants}", flush=True)
            results["http"] = bench_http(models_dir, present, pngs, labels, args)

    write_results(NAME, args.out, args, machine, results)
    print_report(results, machine)
    return results


def print_report(results: dict, machine: dict) -> None:
    print(f"\n### Inference ({machine_line(machine)})\n")
    lat_rows, tp_rows = [], []
    for task, res in results["tasks"].items():
        if "skipped" in res:
            continue
        lat_rows += [{"task": task, **r} for r in res["latency"]]
        tp_rows += [{"task": task, **r} for r in res["throughput"]]
    print("(a) batch-1 latency, in process\n")
    print(markdown_table(lat_rows, [("task", "task", ""), ("method", "method", ""), ("median_ms", "median ms", ".2f"),
                                    ("p95_ms", "p95 ms", ".2f"), ("p99_ms", "p99 ms", ".2f"), ("n", "calls", "d")]))
    engine = "ONNX Runtime" if results.get("backend", "tf") == "onnx" else "compiled tf.function"
    print(f"\n(b) predict_proba throughput ({engine})\n")
    print(markdown_table(tp_rows, [("task", "task", ""), ("batch", "batch", "d"), ("img_per_s", "img/s", ",.0f"),
                                   ("median_ms", "median ms/batch", ".2f"), ("p95_ms", "p95 ms/batch", ".2f")]))
    if results.get("http"):
        for v in results["http"]["variants"]:
            print(f"\n(c) HTTP, {v['label']} (waitress, keep-alive clients; start-up {v['startup_s']:.1f} s, "
                  f"idle RSS {v['rss_idle_mb'] or 0:.0f} MB)\n")
            print(markdown_table(v["runs"], [
                ("task", "task", ""), ("clients", "clients", "d"), ("threads", "threads", "d"),
                ("requests", "requests", "d"), ("req_per_s", "req/s", ",.0f"), ("median_ms", "p50 ms", ".1f"),
                ("p95_ms", "p95 ms", ".1f"), ("p99_ms", "p99 ms", ".1f"), ("errors", "errors", "d"),
                ("rss_after_mb", "RSS MB", ".0f"), ("server_cpu_ms_per_req", "server CPU ms/req", ".2f"),
                ("label_match", "label match", ".1%")]))
        print("\n(d) layers: what each adds (same clients, same run)\n")
        print(markdown_table(layer_rows(results), [
            ("task", "task", ""), ("clients", "clients", "d"), ("layer", "layer", ""), ("p50", "p50 ms", ".2f"),
            ("rps", "req/s (img/s)", ",.0f"), ("vs_predict", "p50 - in-process predict, ms", "+.2f"),
            ("vs_stack", "req/s / stack's", ".2f")]))


if __name__ == "__main__":
    main()
