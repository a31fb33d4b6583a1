"""Train a character model from the zoo.

    python -m handwrite_digit_ocr.train --model kaggle_cnn --dataset mnist --epochs 30

Everything a run writes goes to ``--run-dir`` (default ``runs/<task>-<model>``): the best
checkpoint ``best.keras`` with its ``best.json`` config, a resumable backup (kill the run
and start the same command again: it continues from the last finished epoch), ``log.csv``,
TensorBoard logs and ``curve.png``. ``evaluate --publish`` later copies a checkpoint into
``models/`` with its measured test metrics.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

from handwrite_digit_ocr.config import CharConfig


def build_parser() -> argparse.ArgumentParser:
    from handwrite_digit_ocr.data import AUGMENT_PRESETS, DATASETS
    from handwrite_digit_ocr.model import ARCHS
    from ocr_common.callbacks import LR_SCHEDULES

    ap = argparse.ArgumentParser(prog="python -m handwrite_digit_ocr.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = ap.add_argument_group("options (defaults in brackets)")
    d.add_argument("--model", default="kaggle_cnn", choices=sorted(ARCHS), help="architecture [kaggle_cnn]")
    d.add_argument("--dataset", default="mnist",
                   help=f"dataset, '+' joins several and 'name*k' repeats one k times (validation and test "
                        f"come from the first); each one of {sorted(DATASETS)} [mnist]")
    d.add_argument("--data-dir", default=None, help="data folder [--data-dir > $OCR_DATA_DIR > ./data]")
    d.add_argument("--run-dir", default=None, help="output folder [runs/<task>-<model>]")
    d.add_argument("--epochs", type=int, default=30, help="[30]")
    d.add_argument("--batch-size", type=int, default=128, help="per-replica batch size [128]")
    d.add_argument("--optimizer", default="rmsprop", choices=("rmsprop", "adam", "sgd"), help="[rmsprop]")
    d.add_argument("--lr", type=float, default=1e-3, help="initial learning rate [1e-3]")
    d.add_argument("--lr-schedule", default="plateau", choices=LR_SCHEDULES, help="[plateau]")
    d.add_argument("--width", type=int, default=32, help="base filters for vgg / rcnn [32]")
    d.add_argument("--augment", default="full", choices=AUGMENT_PRESETS,
                   help="full: geometry + stroke width, blur, contrast, noise (for photos); geometry: rotation, "
                        "zoom and shift only; none [full]")
    d.add_argument("--no-augment", dest="augment", action="store_const", const="none", help="same as --augment none")
    d.add_argument("--early-stop", type=int, default=0, help="patience in epochs; 0 = off [0]")
    d.add_argument("--limit", type=int, default=0, help="use only the first N training images (smoke tests) [0 = all]")
    d.add_argument("--steps-per-epoch", type=int, default=0, help="cap steps per epoch [0 = whole set]")
    d.add_argument("--strategy", default="default", choices=("default", "mirrored", "multiworker"), help="[default]")
    d.add_argument("--weights-only", action="store_true", help="best checkpoint as .weights.h5 (smaller)")
    d.add_argument("--no-tensorboard", action="store_true", help="skip TensorBoard logs")
    d.add_argument("--seed", type=int, default=0, help="[0]")
    return ap


def make_optimizer(name: str, lr: float):
    import keras

    if name == "rmsprop":
        return keras.optimizers.RMSprop(lr, rho=0.9, epsilon=1e-8)
    if name == "adam":
        return keras.optimizers.Adam(lr)
    return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)


class _OneDevice:
    """What ``main`` needs of a ``tf.distribute`` strategy, for the JAX and PyTorch backends:
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


def run_dir_for(args) -> Path:
    task = "digit" if args.dataset == "mnist" else "letter"
    return Path(args.run_dir or f"runs/{task}-{args.model}")


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    import keras

    from handwrite_digit_ocr.data import ArrayBatches, AugmentConfig, load_dataset, make_dataset
    from handwrite_digit_ocr.model import build_model
    from ocr_common.callbacks import RunPaths, check_writable, plot_history, standard_callbacks, worker_run_paths
    from ocr_common.config import save_config

    run = RunPaths(run_dir_for(args))
    check_writable(run.root)  # before loading data: fail in a second, not after an hour
    keras.utils.set_random_seed(args.seed)

    data = load_dataset(args.dataset, args.data_dir)
    x_tr, y_tr = data.x_train, data.y_train
    if args.limit:
        x_tr, y_tr = x_tr[: args.limit], y_tr[: args.limit]
    print(data.summary(), flush=True)

    task = "digit" if data.labels == tuple("0123456789") else "letter"
    cfg = CharConfig(arch=args.model, labels=data.labels, width=args.width, task=task)
    strategy, role, batch = placement(args.strategy, args.batch_size)
    chief_run, run = run, worker_run_paths(run, *role)  # non-chief workers: a temp folder
    with strategy.scope():
        model = build_model(cfg)
        model.compile(optimizer=make_optimizer(args.optimizer, args.lr), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    save_config(cfg, run.best.with_suffix(".json"))
    # The command that reproduces the run; the backend is part of it when it is not the default.
    backend = [] if keras.backend.backend() == "tensorflow" else [f"KERAS_BACKEND={keras.backend.backend()}"]
    command = [*backend, "python", "-m", "handwrite_digit_ocr.train", *(sys.argv[1:] if argv is None else argv)]
    (run.root / "command.txt").write_text(shlex.join(command))

    aug = AugmentConfig.preset(args.augment)
    train_ds = make_dataset(x_tr, y_tr, batch, training=True, aug=aug, seed=args.seed)
    val_ds = make_dataset(data.x_val, data.y_val, batch, training=False)
    steps = args.steps_per_epoch or None
    if steps and isinstance(train_ds, ArrayBatches):  # JAX, PyTorch: at most one pass per epoch
        steps = min(steps, len(train_ds))
    elif steps:  # tf.data: loop over the set as often as the steps need
        train_ds = train_ds.repeat()
    callbacks = standard_callbacks(run, lr_schedule=args.lr_schedule, base_lr=args.lr, epochs=args.epochs,
                                   early_stop_patience=args.early_stop, tensorboard=not args.no_tensorboard,
                                   weights_only=args.weights_only)
    t0 = time.time()
    hist = model.fit(train_ds, validation_data=val_ds, epochs=args.epochs, callbacks=callbacks, shuffle=False,
                     steps_per_epoch=steps, verbose=2)
    seconds = time.time() - t0
    plot_history(run.csv, run.curve, title=f"{args.model} on {args.dataset}")
    epochs_run = len(hist.history.get("loss", []))
    n_seen = (steps * batch if steps else len(x_tr)) * max(epochs_run, 1)
    summary = {
        "model": args.model, "dataset": args.dataset, "epochs_this_session": epochs_run,
        "train_seconds_this_session": round(seconds, 1), "train_img_per_s": round(n_seen / max(seconds, 1e-9), 1),
        "best_val_accuracy": max(hist.history.get("val_accuracy", [float("nan")]) or [float("nan")]),
        "params": model.count_params(), "replicas": strategy.num_replicas_in_sync,
    }
    (run.root / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary), flush=True)
    if run != chief_run:
        shutil.rmtree(run.root, ignore_errors=True)  # a non-chief worker's copies; the chief keeps the real ones
    return summary


if __name__ == "__main__":
    main()
