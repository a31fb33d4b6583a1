"""``train --strategy multiworker``: two worker processes on loopback train one model in lockstep.

The chief (worker 0) must leave exactly what a single-device run leaves, loadable by the
predictor on one CPU; the other worker must not touch the chief's files.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.toy_data import write_toy_mnist

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 2
TRAIN_ARGS = ["--model", "simple_cnn", "--epochs", str(EPOCHS), "--batch-size", "8", "--steps-per-epoch", "3",
              "--no-augment", "--no-tensorboard", "--lr-schedule", "none"]


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports (held open together, so they differ; a small race with
    other programs remains until the workers bind them)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _summary(stdout: str) -> dict:
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def test_worker_roles_and_paths(tmp_path):
    import tensorflow as tf

    from ocr_common.callbacks import RunPaths, worker_run_paths
    from ocr_common.distribute import worker_role

    assert worker_role(tf.distribute.get_strategy()) == (True, 0)  # single process: always the chief
    run = RunPaths(tmp_path / "run")
    assert worker_run_paths(run, True, 0) is run
    other = worker_run_paths(run, False, 3)
    try:
        assert other.root.is_dir() and run.root not in other.root.parents
        assert other.backup == run.root / "backup" / "worker-3" and other.best.parent == other.root
    finally:
        other.root.rmdir()


def test_two_workers_train_like_one(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_toy_mnist(data / "mnist.npz", n_train=300, n_test=60)
    run = tmp_path / "run"
    addrs = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for i in range(2):
        tmp = tmp_path / f"tmp{i}"  # each worker's TMPDIR, to check what it leaves behind
        tmp.mkdir()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
               "OCR_CACHE_DIR": str(tmp_path / f"cache{i}"), "TMPDIR": str(tmp),
               "TF_CONFIG": json.dumps({"cluster": {"worker": addrs}, "task": {"type": "worker", "index": i}})}
        cmd = [sys.executable, "-m", "handwrite_digit_ocr.train", *TRAIN_ARGS, "--data-dir", str(data),
               "--run-dir", str(run), "--strategy", "multiworker"]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))

    # Meanwhile, the single-device reference run, in this process (TensorFlow is already loaded).
    from handwrite_digit_ocr.train import main as train

    single = tmp_path / "single"
    monkeypatch.setenv("OCR_CACHE_DIR", str(tmp_path / "cache-single"))
    train([*TRAIN_ARGS, "--data-dir", str(data), "--run-dir", str(single)])

    outs = []
    deadline = time.monotonic() + 150
    try:
        for p in procs:
            outs.append(p.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        pytest.fail("multi-worker training did not finish in 150 s (a worker waiting for its peer?)")
    for i, (p, out) in enumerate(zip(procs, outs, strict=True)):
        assert p.returncode == 0, f"worker {i} exited {p.returncode}:\n{out[-3000:]}"

    chief, other = (_summary(out) for out in outs)
    assert chief["replicas"] == other["replicas"] == 2
    assert chief["best_val_accuracy"] == other["best_val_accuracy"]  # one model, trained in lockstep

    # The chief's folder has the single-device layout; the only addition is the other worker's
    # resume backup, kept apart in backup/worker-1.
    def names(d: Path) -> set[str]:
        return {p.name for p in d.iterdir()}

    assert names(run) == names(single), (names(run), names(single))
    assert names(run / "backup") - names(single / "backup") == {"worker-1"}
    assert names(run / "backup" / "worker-1") == names(single / "backup")
    # Written once, by the chief: with both workers appending, every epoch would appear twice.
    assert (run / "log.csv").read_text().count("\n") == EPOCHS + 1
    assert not any((tmp_path / "tmp1").iterdir()), "the non-chief worker left its temp folder behind"

    from handwrite_digit_ocr.predict import CharPredictor
    from tests.http_helpers import digit_like

    predictor = CharPredictor(run / "best.keras", backend="tf")
    preds = predictor.predict([digit_like(i) for i in range(3)])
    assert [p.label in "0123456789" for p in preds] == [True] * 3
    reference = CharPredictor(single / "best.keras", backend="tf")
    assert predictor.config == reference.config
    probs = predictor.predict_proba(np.zeros((2, 28, 28, 1), np.float32))
    assert probs.shape == (2, 10) and np.allclose(probs.sum(1), 1, atol=1e-4)
