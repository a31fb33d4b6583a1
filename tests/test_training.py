import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ocr_common.callbacks import (
    AtomicBestCheckpoint,
    best_from_csv,
    check_writable,
    curve_panels,
    plot_history,
    read_epoch_times,
    save_model_atomic,
)
from tests.toy_data import write_toy_mnist

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def toy_data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("toydata")
    write_toy_mnist(d / "mnist.npz", n_train=1700, n_test=300)
    return d


def _env(tmp: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "OCR_CACHE_DIR": str(tmp / "cache")}


def _epochs_logged(csv_path: Path) -> list[int]:
    if not csv_path.exists():
        return []
    with open(csv_path, newline="") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def test_killed_run_resumes_from_last_epoch(toy_data_dir, tmp_path):
    """SIGKILL mid-training, restart with the same command: it continues, not restarts."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "handwrite_digit_ocr.train", "--model", "simple_cnn", "--data-dir",
           str(toy_data_dir), "--run-dir", str(run), "--epochs", "4", "--batch-size", "16", "--steps-per-epoch", "40",
           "--no-augment", "--no-tensorboard", "--lr-schedule", "none"]
    proc = subprocess.Popen(cmd, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.time() + 120
    while len(_epochs_logged(run / "log.csv")) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # for real: no cleanup handlers run
    proc.wait()
    done_before = _epochs_logged(run / "log.csv")
    assert 2 <= len(done_before) < 4, proc.stdout.read().decode()[-2000:]

    out = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, cwd=ROOT, timeout=180)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["epochs_this_session"] == 4 - len(done_before)  # only the missing epochs ran
    assert _epochs_logged(run / "log.csv") == [0, 1, 2, 3]
    assert f"Epoch {len(done_before) + 1}/4" in out.stdout + out.stderr
    times = read_epoch_times(run / "times.csv")  # seconds per epoch, kept across the restart
    assert set(range(len(done_before), 4)) <= set(times) and all(t > 0 for t in times.values())


def test_unwritable_output_fails_fast(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SystemExit, match="not writable"):
        check_writable(blocker / "sub")
    with pytest.raises(SystemExit, match="MB free"):
        check_writable(tmp_path, min_free_mb=10**12)


def _tiny_model():
    import keras

    inp = keras.Input((4,))
    return keras.Model(inp, keras.layers.Dense(2)(inp))


def test_atomic_save_leaves_old_file_on_failure(tmp_path, monkeypatch):
    model = _tiny_model()
    path = save_model_atomic(model, tmp_path / "best.keras")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(type(model), "save", boom)
    with pytest.raises(OSError):
        save_model_atomic(model, path)
    assert path.read_bytes() == before  # old checkpoint intact
    assert [p.name for p in tmp_path.iterdir()] == ["best.keras"]  # no temp litter


def test_best_checkpoint_only_on_improvement(tmp_path):
    cb = AtomicBestCheckpoint(tmp_path / "b.keras", monitor="val_accuracy", initial_best=0.5)
    cb.set_model(_tiny_model())
    cb.on_epoch_end(0, {"val_accuracy": 0.4})
    assert not (tmp_path / "b.keras").exists()  # worse than the resumed best
    cb.on_epoch_end(1, {"val_accuracy": 0.6})
    first = (tmp_path / "b.keras").stat().st_mtime_ns
    cb.on_epoch_end(2, {"val_accuracy": 0.55})
    assert (tmp_path / "b.keras").stat().st_mtime_ns == first


def test_history_helpers(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,1.0,0.6,0.9\n1,0.7,0.6,0.8,0.5\n1,0.7,0.6,0.8,0.5\n")
    assert best_from_csv(log, "val_accuracy") == 0.8
    assert best_from_csv(log, "val_loss", mode="min") == 0.5
    assert best_from_csv(tmp_path / "none.csv", "val_accuracy") is None
    png = plot_history(log, tmp_path / "curve.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert curve_panels(["epoch", "accuracy", "loss"])[1] == ("accuracy", ["accuracy", "val_accuracy"])
    # A CTC run logs CERs of its held-out sets, no accuracy: they fill the second panel.
    ctc = tmp_path / "ctc.csv"
    ctc.write_text("epoch,loss,val_cer,val_loss,val_plates_cer\n0,9.0,0.9,8.0,0.5\n1,5.0,0.4,4.0,0.2\n")
    assert curve_panels(["epoch", "loss", "val_cer", "val_loss", "val_plates_cer"]) == \
        (("loss", ["loss", "val_loss"]), ("CER (lower is better)", ["val_cer", "val_plates_cer"]))
    assert plot_history(ctc, tmp_path / "ctc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A detector logs precision, recall and F of its held-out pages.
    assert curve_panels(["epoch", "loss", "val_f", "val_loss", "val_precision", "val_recall"])[1] == \
        ("detection (held-out pages)", ["val_precision", "val_recall", "val_f"])


def test_train_evaluate_publish_serve(toy_data_dir, tmp_path, monkeypatch, capsys):
    """The whole path a user takes: train -> evaluate --publish -> server answers with it."""
    import threading

    from werkzeug.serving import make_server

    from handwrite_digit_ocr.evaluate import main as evaluate
    from handwrite_digit_ocr.train import main as train
    from ocr_common.io import sha256_file
    from ocr_common.manifest import load_manifest
    from serving import create_app

    monkeypatch.setenv("OCR_CACHE_DIR", str(tmp_path / "cache"))
    run, models = tmp_path / "run", tmp_path / "models"
    summary = train(["--model", "simple_cnn", "--data-dir", str(toy_data_dir), "--run-dir", str(run), "--epochs", "6",
                     "--batch-size", "32", "--optimizer", "adam", "--no-augment", "--no-tensorboard",
                     "--lr-schedule", "none"])
    assert summary["best_val_accuracy"] > 0.9  # the tiny model really learned the toy digits
    assert (run / "best.keras").exists() and (run / "curve.png").exists()
    cfg = json.loads((run / "best.json").read_text())
    assert cfg["arch"] == "simple_cnn" and cfg["labels"] == list("0123456789")
    metrics = evaluate(["--model", str(run / "best.keras"), "--data-dir", str(toy_data_dir), "--publish", str(models)])
    out = capsys.readouterr().out
    assert "| accuracy |" in out and "| class | support | recall | precision |" in out
    assert metrics["test_accuracy"] > 0.85 and (run / "confusion.png").exists()
    entry = load_manifest(models)["models"][0]
    assert entry["task"] == "digit" and entry["sha256"] == sha256_file(models / "digit.keras")
    assert entry["metrics"]["test_accuracy"] == metrics["test_accuracy"]
    assert entry["command"].startswith("python -m handwrite_digit_ocr.train --model simple_cnn")

    server = make_server("127.0.0.1", 0, create_app(models), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        res = evaluate(["--server", f"http://127.0.0.1:{server.server_port}", "--data-dir", str(toy_data_dir),
                        "--limit", "100"])
    finally:
        server.shutdown()
    assert res["n"] == 100 and res["accuracy"] > 0.8  # raw images through the server's own preprocessing


def test_training_runs_on_the_jax_backend_and_the_model_serves_on_tensorflow(toy_data_dir, tmp_path, monkeypatch):
    """A GPU machine may have JAX but no TensorFlow: ``KERAS_BACKEND=jax`` trains with in-memory
    batches augmented by Keras ops, and the checkpoint loads and predicts here, on TensorFlow."""
    pytest.importorskip("jax")
    import keras

    from handwrite_digit_ocr.data import load_mnist, to_model_input
    from handwrite_digit_ocr.model import CUSTOM_OBJECTS

    monkeypatch.setenv("OCR_CACHE_DIR", str(tmp_path / "cache"))
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "handwrite_digit_ocr.train", "--model", "simple_cnn", "--data-dir", str(toy_data_dir),
           "--run-dir", str(run), "--epochs", "6", "--batch-size", "32", "--optimizer", "adam", "--augment", "geometry",
           "--lr-schedule", "none", "--steps-per-epoch", "1000"]  # more steps than batches: capped at one pass
    out = subprocess.run(cmd, env={**_env(tmp_path), "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"},
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["best_val_accuracy"] > 0.9, summary  # it learned, with augmentation on
    assert "ran out of data" not in out.stdout + out.stderr and "48/48" in out.stdout  # 1530 images / 32
    assert (run / "command.txt").read_text().startswith("KERAS_BACKEND=jax python -m handwrite_digit_ocr.train")
    model = keras.saving.load_model(run / "best.keras", custom_objects=CUSTOM_OBJECTS, compile=False)
    data = load_mnist(toy_data_dir)
    pred = model.predict(to_model_input(data.x_test), verbose=0).argmax(1)
    assert (pred == data.y_test).mean() > 0.85
    # --strategy needs tf.distribute: refused with a clear message instead of a traceback.
    bad = subprocess.run([*cmd, "--strategy", "mirrored"], env={**_env(tmp_path), "KERAS_BACKEND": "jax",
                                                                 "JAX_PLATFORMS": "cpu"},
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert bad.returncode != 0 and "needs the TensorFlow backend" in bad.stderr


def test_init_from_loads_weights_only_into_a_fresh_run(tmp_path):
    """``--init-from``: a new run starts from another model's weights; a run with a finished
    epoch resumes from its own backup instead; weights of another network are a clear error."""
    import keras
    import numpy as np

    from ocr_common.callbacks import RunPaths
    from ocr_common.training import TrainingRun

    source = _tiny_model()
    source.save(tmp_path / "source.keras")
    paths = RunPaths(tmp_path / "run")
    run = TrainingRun(run=paths, chief_run=paths, strategy=None, batch=1, command=[])
    model = _tiny_model()
    assert run.init_weights(model, tmp_path / "source.keras")
    for a, b in zip(model.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not run.init_weights(model, None)
    inp = keras.Input((4,))
    other = keras.Model(inp, keras.layers.Dense(3)(inp))
    with pytest.raises(SystemExit, match="do not fit"):
        run.init_weights(other, tmp_path / "source.keras")
    with pytest.raises(SystemExit, match="no such file"):
        run.init_weights(_tiny_model(), tmp_path / "missing.keras")
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.csv.write_text("epoch,loss\n0,1.0\n")  # one epoch done: resuming, not starting
    fresh = _tiny_model()
    before = fresh.get_weights()
    assert not run.init_weights(fresh, tmp_path / "source.keras")
    for a, b in zip(fresh.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_time_budget_fits_the_epochs_and_the_cosine_in_the_time(monkeypatch):
    """``--time-limit``: the epochs are timed as they go, the cosine runs over the number that fit,
    and no epoch starts that would end past the budget (a fake clock: no real timing)."""
    from types import SimpleNamespace

    from ocr_common import callbacks

    clock = [0.0]
    monkeypatch.setattr(callbacks.time, "monotonic", lambda: clock[0])
    model = SimpleNamespace(optimizer=SimpleNamespace(learning_rate=1.0), stop_training=False)
    tb = callbacks.TimeBudget(100.0, base_lr=1e-3, cosine=True, min_lr=0.0)
    tb.set_model(model)
    tb.on_train_begin()
    lrs, epoch = [], 0
    while not model.stop_training:
        tb.on_epoch_begin(epoch)
        lrs.append(model.optimizer.learning_rate)
        clock[0] += 25.0 if epoch == 0 else 10.0  # the first epoch compiles
        logs = {}
        tb.on_epoch_end(epoch, logs)
        assert logs["learning_rate"] == pytest.approx(lrs[-1])
        epoch += 1
    assert clock[0] <= 100.0 and epoch == 8  # 25 + 7 x 10 s; a ninth would end at 105 s
    assert lrs[0] == pytest.approx(1e-3) and all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert lrs[-1] < 0.1e-3  # annealed close to the floor by the last epoch
    assert tb.estimate(3, 35.0) == 6  # 3 done, 35 s left at 10 s an epoch


def test_time_budget_cosine_ends_with_the_epochs_asked_for(monkeypatch):
    """With time for more epochs than ``--epochs``, the cosine runs over the epochs asked for (it
    ran over the ones that fit, so a 16-epoch fine-tune with 18 epochs of time stopped at 0.28 of
    its learning rate instead of near the floor)."""
    from types import SimpleNamespace

    from ocr_common import callbacks

    clock = [0.0]
    monkeypatch.setattr(callbacks.time, "monotonic", lambda: clock[0])
    model = SimpleNamespace(optimizer=SimpleNamespace(learning_rate=1.0), stop_training=False)
    tb = callbacks.TimeBudget(1000.0, base_lr=1e-3, cosine=True, min_lr=0.0)
    tb.set_model(model)
    tb.set_params({"epochs": 6, "steps": 10, "verbose": 0})
    tb.on_train_begin()
    lrs = []
    for epoch in range(2, 6):  # resumed after two epochs: four left
        tb.on_epoch_begin(epoch)
        lrs.append(model.optimizer.learning_rate)
        clock[0] += 10.0
        tb.on_epoch_end(epoch, {})
    assert lrs == pytest.approx([callbacks.cosine_lr(1e-3, k / 4, 0.0) for k in range(4)])


def test_time_budget_replaces_the_epoch_cosine(tmp_path):
    from ocr_common.callbacks import RunPaths, TimeBudget, standard_callbacks

    cbs = standard_callbacks(RunPaths(tmp_path / "r"), lr_schedule="cosine", tensorboard=False, time_limit=60)
    assert sum(isinstance(c, TimeBudget) for c in cbs) == 1
    assert not any(type(c).__name__ == "LearningRateScheduler" for c in cbs)


def test_the_backup_folder_exists_before_training(tmp_path):
    """Keras' BackupAndRestore checks for its folder and then makes it at an epoch's end; a second
    worker making ``backup/worker-1`` in between failed the chief (FileExistsError). The callbacks
    make the folder up front, and again without complaint."""
    from ocr_common.callbacks import RunPaths, standard_callbacks

    run = RunPaths(tmp_path / "r")
    for _ in range(2):
        standard_callbacks(run, tensorboard=False)
        assert run.backup.is_dir()
