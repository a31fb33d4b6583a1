"""Shared pieces of the benchmark scripts: machine description, timing statistics, FLOP
counting, sample images, and writing results (JSON + a markdown table).

Nothing here imports TensorFlow at module level, so ``--help`` stays fast and the unit tests
of the pure helpers do not pay for it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ocr_common.cpu import usable_cores

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
# Shared data folder beside the checkout, used when neither --data-dir nor $OCR_DATA_DIR has MNIST.
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


# --------------------------------------------------------------------------- machine


def _cpuinfo() -> dict[str, str]:
    """First processor block of /proc/cpuinfo as a dict ({} off Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    info: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def cpu_ghz(info: dict[str, str] | None = None) -> float | None:
    """Nominal clock: the '@ 2.60GHz' in the model name, else 'cpu MHz' (a VM reports its TSC
    rate there), else cpufreq's max. Turbo and AVX-512 down-clocking are not modelled."""
    info = _cpuinfo() if info is None else info
    m = re.search(r"@\s*([\d.]+)\s*GHz", info.get("model name", ""))
    if m:
        return float(m.group(1))
    if info.get("cpu MHz"):
        return float(info["cpu MHz"]) / 1000.0
    try:
        return int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()) / 1e6
    except (OSError, ValueError):
        return None


def fp32_flops_per_cycle(flags: Iterable[str]) -> int:
    """Assumed peak fp32 FLOPs per cycle of ONE logical CPU: one FMA (2 FLOPs) per lane of the
    widest vector unit per cycle, i.e. AVX-512 -> 16 lanes x 2 = 32, AVX2+FMA -> 8 x 2 = 16,
    plain AVX -> 8 (mul + add), else SSE -> 4.

    Assumption, stated because it moves the "% of peak" column by 2x: server Xeon cores have
    two 512-bit FMA ports (64 FLOPs/cycle per physical core), but a cloud vCPU is usually one
    hyperthread of such a core, sharing those ports with its sibling, so one FMA per cycle per
    vCPU is the realistic ceiling. On bare metal with hyperthreading off, the true peak is up to
    2x this; pass ``--flops-per-cycle 64`` there. AMX (bf16/int8) is ignored: the models run fp32.
    """
    flags = set(flags)
    if "avx512f" in flags:
        return 32
    if "avx2" in flags and "fma" in flags:
        return 16
    if "avx" in flags:
        return 8
    return 4


def peak_gflops(cores: float, ghz: float | None, flops_per_cycle: int) -> float | None:
    """Theoretical fp32 peak in GFLOP/s = cores x GHz x FLOPs/cycle (None if the clock is unknown)."""
    return None if ghz is None else cores * ghz * flops_per_cycle


def onednn_state() -> dict[str, Any]:
    """Whether TensorFlow's oneDNN CPU kernels are on. TF enables them by default on x86 Linux;
    ``TF_ENABLE_ONEDNN_OPTS=0`` turns them off (and makes float results bit-reproducible)."""
    env = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    built = None
    try:  # private, but the only way to ask the binary; absent in some builds
        from tensorflow.python.util import _pywrap_util_port

        built = bool(_pywrap_util_port.IsMklEnabled())
    except Exception:  # noqa: BLE001 - informational only
        pass
    enabled = (env != "0") if built is None else (built and env != "0")
    return {"TF_ENABLE_ONEDNN_OPTS": env, "built_with_onednn": built, "enabled": enabled}


def machine_info(with_tf: bool = True) -> dict[str, Any]:
    """What ran the benchmark: CPU, cores, clock, vector flags, load, library versions."""
    info = _cpuinfo()
    flags = info.get("flags", "").split()
    wanted = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")
    cores = usable_cores()
    fpc = fp32_flops_per_cycle(flags)
    ghz = cpu_ghz(info)
    out: dict[str, Any] = {
        "cpu_model": info.get("model name") or platform.processor() or "unknown",
        "logical_cpus": os.cpu_count(),
        "usable_cores": cores,
        "ghz_nominal": ghz,
        "vector_flags": [f for f in wanted if f in flags],
        "hypervisor": "hypervisor" in flags,
        "fp32_flops_per_cycle_assumed": fpc,
        "peak_fp32_gflops_estimate": peak_gflops(cores, ghz, fpc),
        "loadavg_1m_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    try:
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        out["mem_total_gb"] = round(mem_kb / 2**20, 1)
    except (OSError, AttributeError):
        pass
    if with_tf:
        import keras
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
        out["keras"] = keras.__version__
        out["onednn"] = onednn_state()
        out["tf_threads"] = {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),  # 0 = TF picks (all cores)
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        }
    return out


def warn_if_busy(machine: dict[str, Any]) -> None:
    """Print a loud warning when the machine was not idle: every number would be too low."""
    load, cores = machine.get("loadavg_1m_at_start"), machine.get("usable_cores") or 1
    if load is not None and load > 0.5 * cores:
        print(f"WARNING: 1-min load average is {load:.2f} on {cores:g} cores; results will be pessimistic "
              "(run on a quiet machine for numbers to publish)", file=sys.stderr, flush=True)


def matmul_gflops(n: int = 2048, reps: int = 5) -> float:
    """Measured fp32 GFLOP/s of one large TensorFlow matmul (oneDNN GEMM, all cores): a practical
    ceiling to set beside the theoretical peak estimate. Median of ``reps`` after one warm-up."""
    import tensorflow as tf

    a, b = tf.random.normal([n, n], seed=1), tf.random.normal([n, n], seed=2)
    tf.matmul(a, b).numpy()
    seconds = time_calls(lambda: tf.matmul(a, b).numpy(), reps, warmup=0)
    return 2 * n**3 / statistics.median(seconds) / 1e9


# --------------------------------------------------------------------------- timing


def percentile(samples: Sequence[float], q: float) -> float:
    """q-th percentile (0..100) with linear interpolation between closest ranks (NumPy's
    default), so the median of 1..4 is 2.5 and p95 of 1..100 is 95.05."""
    if not samples:
        raise ValueError("percentile of no samples")
    return float(np.percentile(np.asarray(samples, dtype=np.float64), q))


def summarize(seconds: Sequence[float]) -> dict[str, float]:
    """Latency samples in seconds -> {n, mean_ms, median_ms, p95_ms, p99_ms, min_ms, max_ms}."""
    if not seconds:
        return {"n": 0}
    ms = [s * 1e3 for s in seconds]
    return {
        "n": len(ms),
        "mean_ms": statistics.fmean(ms),
        "median_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "min_ms": min(ms),
        "max_ms": max(ms),
    }


def time_calls(fn: Callable[[], Any], n: int, warmup: int = 1, min_seconds: float = 0.0,
               max_n: int | None = None) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed (tracing, caches), then at least ``n`` times, and
    keep going until ``min_seconds`` have passed (at most ``max_n`` calls) so that fast
    functions get enough samples for a stable p95. Returns each call's seconds."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < n or (time.perf_counter() - start < min_seconds and (max_n is None or len(samples) < max_n)):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


# --------------------------------------------------------------------------- FLOPs


def _shape(t) -> tuple:
    return tuple(t.shape)


def layer_macs(layer) -> int:
    """Multiply-accumulates of one forward pass of ``layer`` for ONE image (batch dim dropped).

    Conv: output positions x (kh x kw x in/groups x out), i.e. output spatial size x kernel
    size; Dense: leading positions x in x units; ``RecurrentConv``: its feed-forward conv once
    plus the recurrent conv once per unrolled step. Nested models are walked. BN, pooling,
    activations, resizing and the softmax are not counted: elementwise work is a few per cent
    at most next to the convolutions, and it is not what "FLOPs" usually means in papers.
    """
    import keras

    if isinstance(layer, keras.Model):
        return sum(layer_macs(sub) for sub in layer.layers)
    name = type(layer).__name__
    if name == "RecurrentConv":  # the project's RCL: sublayers are not in model.layers
        out_positions = int(np.prod(_shape(layer.output)[1:-1]))
        ff = int(np.prod(_shape(layer.ff.kernel)))
        rec = int(np.prod(_shape(layer.rec.kernel)))
        return out_positions * (ff + layer.steps * rec)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        out_positions = int(np.prod(_shape(layer.output)[1:-1]))
        kh, kw, cin, mult = _shape(layer.kernel)
        return out_positions * kh * kw * cin * mult
    if isinstance(layer, keras.layers.SeparableConv2D):
        out_positions = int(np.prod(_shape(layer.output)[1:-1]))
        depthwise, pointwise = _shape(layer.depthwise_kernel), _shape(layer.pointwise_kernel)
        return out_positions * (int(np.prod(depthwise)) + int(np.prod(pointwise)))
    if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)):
        # Conv kernels are (k..., in/groups, out): positions x prod(kernel) is exact for groups too.
        out_positions = int(np.prod(_shape(layer.output)[1:-1]))
        return out_positions * int(np.prod(_shape(layer.kernel)))
    if isinstance(layer, keras.layers.Dense):
        positions = int(np.prod(_shape(layer.output)[1:-1]))  # 1 for the usual (batch, units)
        return positions * int(np.prod(_shape(layer.kernel)))
    return 0


def count_macs(model) -> dict[str, Any]:
    """Forward multiply-accumulates per image of a built functional/sequential Keras model.

    ``flops`` is 2 x MACs (one multiply + one add). Beware: many papers, and VGG16's famous
    "15.5 GFLOPs", quote MACs; this dict carries both so tables can say which they show.
    """
    by_layer = {layer.name: layer_macs(layer) for layer in model.layers}
    total = sum(by_layer.values())
    return {"macs": total, "flops": 2 * total, "by_layer": {k: v for k, v in by_layer.items() if v}}


# --------------------------------------------------------------------------- sample data


def find_mnist(data_dir: str | os.PathLike | None = None) -> Path | None:
    """``mnist.npz`` from --data-dir, else $OCR_DATA_DIR, else ./data, else ../shared/data."""
    from ocr_common.datadir import resolve_data_dir

    for d in (resolve_data_dir(data_dir), SHARED_DATA_DIR):
        if (Path(d) / "mnist.npz").is_file():
            return Path(d) / "mnist.npz"
    return None


def _draw_digit(d: int, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 white-on-black Hershey-font digit: stand-in when MNIST is not on disk."""
    import cv2

    img = np.zeros((28, 28), np.uint8)
    scale = rng.uniform(0.7, 0.95)
    (tw, th), _ = cv2.getTextSize(str(d), cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    x, y = (28 - tw) // 2 + int(rng.integers(-2, 3)), (28 + th) // 2 + int(rng.integers(-2, 3))
    cv2.putText(img, str(d), (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 2, cv2.LINE_AA)
    return img


def sample_digits(n: int, data_dir: str | os.PathLike | None = None, split: str = "test",
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` MNIST-like 28x28 uint8 images (ink = 255) with labels, and where they came from:
    the first ``n`` of MNIST's ``split`` if ``mnist.npz`` is found, else drawn digits."""
    path = find_mnist(data_dir)
    if path is not None:
        with np.load(path, allow_pickle=False) as d:
            x, y = d[f"x_{split}"], d[f"y_{split}"]
        reps = -(-n // len(x))  # ceil: repeat if more are asked for than the split holds
        x, y = np.concatenate([x] * reps)[:n], np.concatenate([y] * reps)[:n]
        return x, y.astype(np.int32), f"{path} ({split}, first {n})"
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n).astype(np.int32)
    return np.stack([_draw_digit(int(d), rng) for d in y]), y, "drawn Hershey-font digits (no mnist.npz found)"


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a uint8 grayscale image as PNG (what a browser upload would send)."""
    import cv2

    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


# --------------------------------------------------------------------------- output


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults and keeps the module docstring's line breaks (its usage examples)."""


def add_common_args(ap: argparse.ArgumentParser, name: str) -> None:
    """--quick and --out, the same in every script."""
    ap.add_argument("--quick", action="store_true", help="tiny counts: checks the script runs, numbers are noise")
    ap.add_argument("--out", default=str(RESULTS_DIR / f"{name}.json"), help="where the JSON results go")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_results(name: str, out: str | os.PathLike, args: argparse.Namespace, machine: dict, results: Any) -> Path:
    """Write ``{benchmark, created, command, args, machine, results}`` as JSON to ``out``."""
    from ocr_common.io import atomic_write_text

    doc = {
        "benchmark": name,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "args": vars(args),
        "machine": machine,
        "results": results,
    }
    path = Path(out)
    atomic_write_text(path, json.dumps(doc, indent=2, default=_json_default) + "\n")
    print(f"\nresults written to {path}", flush=True)
    return path


def fmt(value: Any, spec: str = "") -> str:
    """Format a table cell; None / NaN print as 'n/a'."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if spec:
        return format(value, spec)
    return str(value)


def markdown_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """Rows of dicts -> a GitHub markdown table. ``columns`` are (key, header, format spec);
    numeric columns (any spec) are right-aligned."""
    header = "| " + " | ".join(h for _, h, _ in columns) + " |"
    align = "| " + " | ".join("---:" if spec else "---" for _, _, spec in columns) + " |"
    body = ["| " + " | ".join(fmt(r.get(k), spec) for k, _, spec in columns) + " |" for r in rows]
    return "\n".join([header, align, *body])


def machine_line(machine: dict) -> str:
    """One-line summary for the top of a printed report."""
    peak = machine.get("peak_fp32_gflops_estimate")
    one = machine.get("onednn", {}).get("enabled")
    load, ghz = fmt(machine.get("loadavg_1m_at_start"), ".2f"), fmt(machine.get("ghz_nominal"))
    return (f"{machine.get('cpu_model')} | {machine.get('usable_cores'):g} cores @ {ghz} GHz"
            f" | {','.join(machine.get('vector_flags', []))} | est. fp32 peak {fmt(peak, '.0f')} GFLOP/s"
            f" | TF {machine.get('tensorflow', '?')} oneDNN={one} | load {load}")


def bench_task_http(models_dir, task: str, cases: list[tuple[str, str, list[bytes]]], args, stack) -> list[dict]:
    """One request at a time to each case's endpoint ``(label, path, PNG bodies)`` of ``task``:
    through Flask's test client (``args.http == "client"``, the model in process) or a real
    ``server.py`` (``"server"``, one keep-alive client). ``args``: ``http``, ``backend``,
    ``calls``, ``server_timeout``; ``stack`` (an ``ExitStack``) closes what was started."""
    from itertools import cycle

    rows: list[dict] = []
    if args.http == "client":
        from serving import create_app
        from serving.registry import TASK_LOADERS, ModelRegistry

        options = {"backend": args.backend} if args.backend else {}
        registry = ModelRegistry(models_dir, loaders={task: TASK_LOADERS[task]}, loader_options=options)
        entry = registry.by_task.get(task)
        if entry is None or not entry.ready:
            print(f"  HTTP skipped: no {task} model ready in {models_dir}/manifest.json "
                  f"({entry.reason if entry else 'no entry'})", flush=True)
            return []
        stack.callback(lambda: getattr(entry.predictor, "close", lambda: None)())
        client = create_app(models_dir, registry=registry).test_client()
        for label, path, bodies in cases:
            it = cycle(bodies)

            def post(path=path, it=it):
                resp = client.post(path, data=next(it), content_type="image/png")
                if resp.status_code != 200:
                    raise RuntimeError(f"{path}: HTTP {resp.status_code} {resp.get_data(as_text=True)[:200]}")

            s = summarize(time_calls(post, args.calls, warmup=1))
            rows.append({"endpoint": label, "via": "Flask test client", **s})
            print(f"  {label}: {s['median_ms']:.1f} ms median (test client)", flush=True)
        return rows
    from benchmarks.bench_inference import Server, drive

    extra = ["--backend", args.backend] if args.backend else []
    server = Server(models_dir, threads=4, timeout=args.server_timeout, extra_args=extra)
    stack.callback(server.stop)
    if not server.health.get("tasks", {}).get(task, {}).get("ready"):
        print(f"  HTTP skipped: the server has no {task} model ready ({server.health.get('tasks', {}).get(task)})",
              flush=True)
        return []
    for label, path, bodies in cases:
        r = drive(server.port, path, bodies, None, clients=1, requests=args.calls)
        rows.append({"endpoint": label, "via": "server.py, 1 keep-alive client", **r})
        print(f"  {label}: {r.get('median_ms', 0):.1f} ms median, errors {r['errors']} (server.py)", flush=True)
    return rows
