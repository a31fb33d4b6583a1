"""The training driver every task's ``train.py`` runs on.

A task's script holds only what is its own (data, model, loss, its flags); this module owns the
rest, the same for every task:

    ap = argparse.ArgumentParser(...)
    add_training_args(ap.add_argument_group("training"), epochs=30, batch_size=128)
    args = ap.parse_args(argv)
    run = TrainingRun.start(args, "handwrite_digit_ocr.train", default_dir="runs/digit-kaggle_cnn", argv=argv)
    with run.scope():
        model = build_model(cfg)
        model.compile(optimizer=make_optimizer(args.optimizer, args.lr), loss=...)
    run.save_config(cfg)
    summary = run.fit(model, train_ds, val_ds, args, n_train=len(x), title="kaggle_cnn on mnist")

``TrainingRun.start`` checks the run folder is writable (before any data is loaded: fail in a
second, not after an hour), seeds every RNG, places the model (a ``tf.distribute`` strategy on
TensorFlow, one device on JAX / PyTorch), gives non-chief workers of a multi-worker run their
own scratch folder, and writes ``command.txt`` (the command that reproduces the run, backend
included). ``fit`` adds the standard callbacks (best checkpoint, resumable backup, CSV log,
TensorBoard, LR schedule, early stopping), trains, draws ``curve.png`` and writes
``train_summary.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocr_common.callbacks import (
    LR_SCHEDULES,
    RunPaths,
    check_writable,
    plot_history,
    standard_callbacks,
    worker_run_paths,
)

OPTIMIZERS: tuple[str, ...] = ("rmsprop", "adam", "sgd")
STRATEGY_NAMES: tuple[str, ...] = ("default", "mirrored", "multiworker")


def make_optimizer(name: str, lr: float):
    """A Keras optimizer by name (one of :data:`OPTIMIZERS`)."""
    import keras

    if name == "rmsprop":
        return keras.optimizers.RMSprop(lr, rho=0.9, epsilon=1e-8)
    if name == "adam":
        return keras.optimizers.Adam(lr)
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {list(OPTIMIZERS)}")


class _OneDevice:
    """What the driver needs of a ``tf.distribute`` strategy, for the JAX and PyTorch backends:
    they train on one device here (their multi-device APIs are not wired up)."""

    num_replicas_in_sync = 1

    @staticmethod
    def scope():
        return contextlib.nullcontext()


def placement(name: str, per_replica_batch: int):
    """``(strategy, (is_chief, worker index), global batch)`` for ``--strategy name``.

    On the TensorFlow backend a ``tf.distribute`` strategy; on the others (``KERAS_BACKEND=jax``
    on a GPU machine without TensorFlow, say) one device, and only ``default`` is accepted."""
    import keras

    if keras.backend.backend() == "tensorflow":
        from ocr_common.distribute import get_strategy, global_batch_size, worker_role

        strategy = get_strategy(name)
        return strategy, worker_role(strategy), global_batch_size(per_replica_batch, strategy)
    if name != "default":
        raise SystemExit(f"--strategy {name} needs the TensorFlow backend (KERAS_BACKEND is "
                         f"{keras.backend.backend()!r}); other backends train on one device")
    return _OneDevice(), (True, 0), per_replica_batch


def add_training_args(group, *, epochs: int = 30, batch_size: int = 128, optimizer: str = "rmsprop",
                      lr: float = 1e-3, lr_schedule: str = "plateau") -> None:
    """The flags every task's trainer shares, with defaults shown as ``[value]``."""
    group.add_argument("--run-dir", default=None, help="output folder [runs/<task>-<model>]")
    group.add_argument("--epochs", type=int, default=epochs, help=f"[{epochs}]")
    group.add_argument("--batch-size", type=int, default=batch_size, help=f"per-replica batch size [{batch_size}]")
    group.add_argument("--optimizer", default=optimizer, choices=OPTIMIZERS, help=f"[{optimizer}]")
    group.add_argument("--lr", type=float, default=lr, help=f"initial learning rate [{lr:g}]")
    group.add_argument("--lr-schedule", default=lr_schedule, choices=LR_SCHEDULES, help=f"[{lr_schedule}]")
    group.add_argument("--early-stop", type=int, default=0, help="patience in epochs; 0 = off [0]")
    group.add_argument("--steps-per-epoch", type=int, default=0, help="cap steps per epoch [0 = whole set]")
    group.add_argument("--time-limit", type=float, default=0.0, metavar="MINUTES",
                       help="train this long at most (--epochs is then an upper bound); a cosine schedule "
                            "runs over the epochs that fit in it [0 = off]")
    group.add_argument("--strategy", default="default", choices=STRATEGY_NAMES, help="[default]")
    group.add_argument("--weights-only", action="store_true", help="best checkpoint as .weights.h5 (smaller)")
    group.add_argument("--no-tensorboard", action="store_true", help="skip TensorBoard logs")
    group.add_argument("--seed", type=int, default=0, help="[0]")
    group.add_argument("--init-from", default=None, metavar="MODEL",
                       help="start from this model's weights (.keras or .weights.h5 of the same network), "
                            "e.g. to fine-tune a shipped model with a new schedule; a resumed run ignores it")


def reproduce_command(module: str, argv: list[str] | None = None) -> list[str]:
    """The command line that reruns this training; the backend is part of it when not the default."""
    import keras

    backend = [] if keras.backend.backend() == "tensorflow" else [f"KERAS_BACKEND={keras.backend.backend()}"]
    return [*backend, "python", "-m", module, *(sys.argv[1:] if argv is None else argv)]


@dataclass
class TrainingRun:
    """One training run: where it writes, how it is placed, how it fits (see the module docstring)."""

    run: RunPaths  # where this process writes (a scratch folder on non-chief workers)
    chief_run: RunPaths  # the real run folder
    strategy: Any
    batch: int  # global batch: per-replica batch x replicas
    command: list[str]

    @classmethod
    def start(cls, args: argparse.Namespace, module: str, default_dir: str | Path,
              argv: list[str] | None = None) -> TrainingRun:
        import keras

        chief = RunPaths(Path(args.run_dir or default_dir))
        check_writable(chief.root)  # before loading data: fail in a second, not after an hour
        keras.utils.set_random_seed(args.seed)
        strategy, role, batch = placement(args.strategy, args.batch_size)
        run = worker_run_paths(chief, *role)
        command = reproduce_command(module, argv)
        (run.root / "command.txt").write_text(shlex.join(command))
        return cls(run=run, chief_run=chief, strategy=strategy, batch=batch, command=command)

    @property
    def is_chief(self) -> bool:
        return self.run == self.chief_run

    def epochs_done(self) -> int:
        """Epochs this run has finished in earlier sessions (the rows of its CSV log); a resumed run
        starts after them, so a data stream seeded by it continues instead of replaying its start."""
        import csv

        if not self.run.csv.exists():
            return 0
        with open(self.run.csv, newline="") as f:
            return len({row["epoch"] for row in csv.DictReader(f)})

    def scope(self):
        """Build and compile the model inside this, so its variables live where the strategy says."""
        return self.strategy.scope()

    def save_config(self, cfg) -> Path:
        """The task config beside the best checkpoint (``best.json``), for predictors and evaluate."""
        from ocr_common.config import save_config

        return save_config(cfg, self.run.best.with_suffix(".json"))

    def init_weights(self, model, path: str | Path | None, load=None) -> bool:
        """Load ``path``'s weights into ``model`` before a fresh run (``--init-from``). A run with a
        finished epoch resumes from its own backup instead, so a restart never falls back to them.
        ``load(model, path)``, where given, goes first and returns True when it copied the weights
        its own way (a recogniser of another charset, say)."""
        if not path or self.epochs_done():
            return False
        path = Path(path)
        if not path.is_file():
            raise SystemExit(f"--init-from {path}: no such file")
        if load is not None and load(model, path):
            return True
        try:
            model.load_weights(path)
        except (ValueError, KeyError) as e:
            raise SystemExit(f"--init-from {path}: its weights do not fit this network ({e})") from None
        print(f"weights from {path}", flush=True)
        return True

    def steps(self, train_ds, steps_per_epoch: int):
        """``(dataset, steps)`` for ``fit``: an in-memory ``PyDataset`` (JAX, PyTorch) is capped at one
        pass per epoch; a ``tf.data`` set repeats so that a step cap can exceed one pass; a generator is
        taken as endless."""
        import keras

        if not steps_per_epoch:
            return train_ds, None
        if isinstance(train_ds, keras.utils.PyDataset):
            return train_ds, min(steps_per_epoch, len(train_ds))
        if not hasattr(train_ds, "repeat"):  # an endless generator (ocr_common.feed)
            return train_ds, steps_per_epoch
        return train_ds.repeat(), steps_per_epoch

    def fit(self, model, train_ds, val_ds, args: argparse.Namespace, *, n_train: int, title: str = "",
            monitor: str = "val_accuracy", mode: str = "max", summary: dict | None = None,
            metric_callbacks: list | None = None, init_load=None) -> dict:
        """Train with the standard callbacks; returns (and writes) the run summary.

        ``metric_callbacks`` run first at every epoch end, so a metric they add to the logs (a
        CER that is no Keras metric, say) can be the ``monitor`` of checkpoints and the CSV log.
        ``init_load``: see :meth:`init_weights`."""
        train_ds, steps = self.steps(train_ds, args.steps_per_epoch)
        self.init_weights(model, getattr(args, "init_from", None), init_load)
        callbacks = list(metric_callbacks or []) + standard_callbacks(
            self.run, monitor=monitor, mode=mode, lr_schedule=args.lr_schedule, base_lr=args.lr, epochs=args.epochs,
            early_stop_patience=args.early_stop, tensorboard=not args.no_tensorboard, weights_only=args.weights_only,
            time_limit=60.0 * getattr(args, "time_limit", 0.0))
        t0 = time.time()
        hist = model.fit(train_ds, validation_data=val_ds, epochs=args.epochs, callbacks=callbacks, shuffle=False,
                         steps_per_epoch=steps, verbose=2)
        seconds = time.time() - t0
        plot_history(self.run.csv, self.run.curve, title=title)
        epochs_run = len(hist.history.get("loss", []))
        n_seen = (steps * self.batch if steps else n_train) * max(epochs_run, 1)
        values = hist.history.get(monitor) or [float("nan")]
        out = {
            **(summary or {}),
            "epochs_this_session": epochs_run,
            "train_seconds_this_session": round(seconds, 1),
            "train_img_per_s": round(n_seen / max(seconds, 1e-9), 1),
            f"best_{monitor}": max(values) if mode == "max" else min(values),
            "params": model.count_params(),
            "replicas": self.strategy.num_replicas_in_sync,
        }
        (self.run.root / "train_summary.json").write_text(json.dumps(out, indent=2) + "\n")
        print(json.dumps(out), flush=True)
        if not self.is_chief:
            shutil.rmtree(self.run.root, ignore_errors=True)  # a worker's copies; the chief keeps the real ones
        return out
