"""Training callbacks shared by every task, so each ``train.py`` gets the same behaviour.

``standard_callbacks`` returns: best checkpoint (atomic), resumable backup (a run killed
mid-training and restarted with the same command continues from its last finished epoch
with optimizer state), CSV log (appended across restarts), seconds per epoch (``times.csv``),
TensorBoard, an LR schedule,
optional early stopping. ``plot_history`` draws the training-curve PNG from the CSV log.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np


class AtomicBestCheckpoint(keras.callbacks.Callback):
    """Save the model whenever ``monitor`` improves, via temp file + rename.

    Keras' ``ModelCheckpoint`` writes in place: a crash mid-write leaves a truncated file
    where the previous best used to be. Writing beside it and renaming never does. The best
    value so far is re-read from the CSV log on resume so a restarted run does not overwrite
    a better checkpoint with its first (worse) epoch.
    """

    def __init__(self, path: str | Path, monitor: str = "val_accuracy", mode: str = "max",
                 weights_only: bool = False, initial_best: float | None = None):
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.sign = 1.0 if mode == "max" else -1.0
        self.weights_only = weights_only
        self.best = -math.inf if initial_best is None else self.sign * initial_best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not np.isfinite(value):
            return
        if self.sign * float(value) > self.best:
            self.best = self.sign * float(value)
            save_model_atomic(self.model, self.path, weights_only=self.weights_only)


class EpochTimes(keras.callbacks.Callback):
    """Append ``epoch,train_seconds,val_seconds`` to a CSV after every epoch: the wall time of the
    training steps and of the validation (metric callbacks listed after this one included), so
    runs can be compared per hour of training. A file of its own, not a column of ``log.csv``,
    because ``CSVLogger`` appends to an existing log without re-reading its header."""

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        self._start = self._train_end = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._train_end = time.perf_counter(), None

    def on_train_batch_end(self, batch, logs=None):
        self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self._start is None:
            return
        now = time.perf_counter()
        train_end = self._train_end or now
        new = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["epoch", "train_seconds", "val_seconds"])
            w.writerow([epoch, round(train_end - self._start, 2), round(now - train_end, 2)])


def read_epoch_times(path: str | Path) -> dict[int, float]:
    """``{epoch: training seconds}`` from an :class:`EpochTimes` file (a restarted epoch keeps its
    last entry); empty when there is none."""
    try:
        with Path(path).open(newline="", encoding="utf-8") as f:
            return {int(r["epoch"]): float(r["train_seconds"]) for r in csv.DictReader(f)}
    except (OSError, KeyError, ValueError):
        return {}


def save_model_atomic(model: keras.Model, path: str | Path, weights_only: bool = False) -> Path:
    """``model.save`` (or ``save_weights``) to a temp name in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keras checks the suffix, so the temp file keeps the real one.
    suffix = ".weights.h5" if weights_only else path.suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        if weights_only:
            model.save_weights(tmp, overwrite=True)
        else:
            model.save(tmp, overwrite=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def best_from_csv(csv_path: str | Path, monitor: str, mode: str = "max") -> float | None:
    """Best ``monitor`` value recorded in a CSV log, or None."""
    path = Path(csv_path)
    if not path.exists():
        return None
    values = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                values.append(float(row[monitor]))
            except (KeyError, TypeError, ValueError):
                continue
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def check_writable(directory: str | Path, min_free_mb: int = 50) -> Path:
    """Fail fast, before hours of training, if the output folder is unwritable or full."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-"):
            pass
    except OSError as e:
        raise SystemExit(f"error: output directory {directory} is not writable: {e}") from None
    free_mb = shutil.disk_usage(directory).free / 2**20
    if free_mb < min_free_mb:
        raise SystemExit(f"error: only {free_mb:.0f} MB free in {directory}; need at least {min_free_mb} MB")
    return directory


@dataclass(frozen=True)
class RunPaths:
    """Every file a training run writes, under one run directory."""

    root: Path
    backup_dir: Path | None = None  # None: <root>/backup; see worker_run_paths

    @property
    def best(self) -> Path:
        return self.root / "best.keras"

    @property
    def backup(self) -> Path:
        return self.backup_dir or self.root / "backup"

    @property
    def csv(self) -> Path:
        return self.root / "log.csv"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def curve(self) -> Path:
        return self.root / "curve.png"

    @property
    def times(self) -> Path:
        return self.root / "times.csv"


def worker_run_paths(run: RunPaths, chief: bool, index: int) -> RunPaths:
    """Where one worker of a multi-worker run writes.

    The chief writes ``run`` exactly as a single-device run would. The other workers train the
    same model in lockstep, so their checkpoints, logs and plots are copies, and two processes
    writing one file can corrupt it: following MultiWorkerMirroredStrategy's convention they write
    into a fresh temporary folder, which the caller deletes at the end. Only their resume backup
    is kept, in ``<run>/backup/worker-<index>``, so a worker restarted with the same command resumes
    at the same epoch as the chief (each worker restores its own; no shared filesystem needed).
    """
    if chief:
        return run
    tmp = Path(tempfile.mkdtemp(prefix=f"{run.root.name}-worker{index}-"))
    return RunPaths(tmp, backup_dir=run.backup / f"worker-{index}")


def cosine_lr(base_lr: float, frac: float, min_lr: float = 1e-5) -> float:
    """The cosine schedule at ``frac`` (0 to 1) of its length: ``base_lr`` down to ``min_lr``."""
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * frac))


class TimeBudget(keras.callbacks.Callback):
    """Train for ``seconds`` of wall time: no epoch starts that would not end inside the budget, and
    with ``cosine`` the learning rate follows a cosine from ``base_lr`` over the epochs that fit.

    A run on unknown hardware (a lent GPU, a slower CPU) cannot know in advance how many epochs it
    has time for. This callback times the epochs as they go (start to start, so validation and
    checkpoints count) and, before each one, estimates the total that fits: epochs done plus the
    time left over a typical epoch (the median of those after the first, which compiles). The
    cosine position is ``epoch / total``, set per epoch as ``LearningRateScheduler`` does (so the
    rate can rise a little when the estimate grows), ``total`` at most the epochs ``fit`` was asked
    for; a resumed run gets a fresh budget."""

    def __init__(self, seconds: float, base_lr: float, cosine: bool = True, min_lr: float = 1e-5):
        super().__init__()
        self.seconds, self.base_lr, self.cosine, self.min_lr = float(seconds), base_lr, cosine, min_lr
        self.t0 = self.last = None
        self.first_epoch = 0
        self.durations: list[float] = []

    def estimate(self, done: int, left: float) -> int:
        """Epochs in the budget: ``done`` plus as many epochs as fit in ``left`` seconds, an epoch
        taken as the median of those timed after the first (which compiles), else the first;
        ``done + 1`` before anything is timed."""
        if not self.durations:
            return done + 1
        typical = float(np.median(self.durations[1:] if len(self.durations) > 1 else self.durations))
        return done + max(0, int(left / typical))

    def on_train_begin(self, logs=None):
        self.t0 = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        now = time.monotonic()
        if self.last is None:
            self.first_epoch = epoch
        else:
            self.durations.append(now - self.last)
        self.last = now
        if self.cosine:  # the first epoch: done 0 of an estimated 1, the cosine's start (base_lr)
            done = epoch - self.first_epoch
            total = self.estimate(done, self.seconds - (now - self.t0))
            if self.params and self.params.get("epochs"):  # --epochs ends the run first: anneal by then
                total = min(total, self.params["epochs"] - self.first_epoch)
            self.model.optimizer.learning_rate = cosine_lr(self.base_lr, min(1.0, done / max(1, total)), self.min_lr)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.cosine:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        now = time.monotonic()
        left = self.seconds - (now - self.t0)
        # The next epoch would take about as long as this one took from its start.
        if left < now - self.last:
            self.model.stop_training = True
            print(f"\ntime budget: {now - self.t0:.0f} of {self.seconds:.0f} s used, stopping after epoch "
                  f"{epoch + 1}", flush=True)


def standard_callbacks(
    run: RunPaths,
    monitor: str = "val_accuracy",
    mode: str = "max",
    lr_schedule: str = "plateau",
    base_lr: float = 1e-3,
    epochs: int = 10,
    early_stop_patience: int = 0,
    tensorboard: bool = True,
    weights_only: bool = False,
    time_limit: float = 0.0,
) -> list[keras.callbacks.Callback]:
    """The callback list every task trains with (see module docstring). ``time_limit`` > 0
    (seconds) adds :class:`TimeBudget`."""
    check_writable(run.root)
    # Made here, not by BackupAndRestore at the first epoch's end: it checks, then creates, and a
    # second worker making <run>/backup/worker-1 in between makes the chief's makedirs fail.
    run.backup.mkdir(parents=True, exist_ok=True)
    cbs: list[keras.callbacks.Callback] = [
        # BackupAndRestore first: on resume it restores weights + optimizer + epoch before
        # the other callbacks see the first epoch.
        keras.callbacks.BackupAndRestore(str(run.backup), save_freq="epoch", delete_checkpoint=False),
        AtomicBestCheckpoint(run.best, monitor, mode, weights_only, initial_best=best_from_csv(run.csv, monitor, mode)),
        keras.callbacks.CSVLogger(str(run.csv), append=True),
        EpochTimes(run.times),
    ]
    if time_limit:  # before the CSV log, which then records its learning rate
        cbs.insert(1, TimeBudget(time_limit, base_lr, cosine=lr_schedule == "cosine"))
    if lr_schedule == "plateau":
        cbs.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, factor=0.5, patience=2, min_lr=1e-5))
    elif lr_schedule == "cosine":
        if not time_limit:  # with a time limit, TimeBudget runs the cosine over the epochs that fit
            cbs.append(keras.callbacks.LearningRateScheduler(lambda e: cosine_lr(base_lr, e / max(1, epochs))))
    elif lr_schedule == "exp":
        cbs.append(keras.callbacks.LearningRateScheduler(lambda e: base_lr * 0.9**e))
    elif lr_schedule != "none":
        raise ValueError(f"unknown lr schedule {lr_schedule!r}; choose plateau, cosine, exp, none")
    if early_stop_patience > 0:
        cbs.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=early_stop_patience))
    if tensorboard and importlib.util.find_spec("tensorflow") is None:
        # Keras writes TensorBoard logs with tf.summary; a JAX-only GPU machine has no TensorFlow.
        print("TensorBoard logs skipped: they need TensorFlow installed (the CSV log and curve.png are written)",
              flush=True)
    elif tensorboard:
        cbs.append(keras.callbacks.TensorBoard(str(run.tensorboard), write_graph=False, profile_batch=0))
    return cbs


LR_SCHEDULES = ("plateau", "cosine", "exp", "none")


def curve_panels(columns: list[str]) -> tuple[tuple[str, list[str]], tuple[str, list[str]]]:
    """The two panels of :func:`plot_history` as ``(title, CSV columns)``: the losses, then the
    accuracies, or for a CTC run that logs character error rates (``val_cer``,
    ``val_<set>_cer``) and no accuracy, those."""
    cer = [c for c in columns if c.endswith("_cer")]
    prf = [c for c in ("val_precision", "val_recall", "val_f") if c in columns]
    if cer and "accuracy" not in columns:
        second = ("CER (lower is better)", cer)
    elif prf and "accuracy" not in columns:  # a detector: precision, recall and F of its held-out pages
        second = ("detection (held-out pages)", prf)
    else:
        second = ("accuracy", ["accuracy", "val_accuracy"])
    return ("loss", ["loss", "val_loss"]), second


def plot_history(csv_path: str | Path, out_png: str | Path, title: str = "") -> Path | None:
    """Loss and accuracy curves (train vs validation) from the CSV log, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(open(csv_path, newline=""))) if Path(csv_path).exists() else []
    if not rows:
        return None
    # A resumed run may log an epoch twice; keep the last record of each epoch.
    by_epoch = {int(r["epoch"]): r for r in rows}
    epochs = sorted(by_epoch)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (metric, keys) in zip(axes, curve_panels(list(rows[-1]))):
        for key in keys:
            style = "--" if key.startswith("val") else "-"
            pts = [(e + 1, float(by_epoch[e][key])) for e in epochs if by_epoch[e].get(key) not in (None, "")]
            if pts:
                ax.plot(*zip(*pts), style, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        if ax.lines:  # a loss-only run (no accuracy) leaves the second panel empty
            ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    tmp = Path(out_png).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, out_png)
    return Path(out_png)
