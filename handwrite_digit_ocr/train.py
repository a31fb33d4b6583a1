"""Train a character model from the zoo.

    python -m handwrite_digit_ocr.train --model kaggle_cnn --dataset mnist --epochs 30

Everything a run writes goes to ``--run-dir`` (default ``runs/<task>-<model>``): the best
checkpoint ``best.keras`` with its ``best.json`` config, a resumable backup (kill the run
and start the same command again: it continues from the last finished epoch), ``log.csv``,
TensorBoard logs and ``curve.png``. ``evaluate --publish`` later copies a checkpoint into
``models/`` with its measured test metrics. The run folder, placement and callbacks are
:mod:`ocr_common.training`'s; this script holds the data, the model and the loss.
"""

from __future__ import annotations

import argparse

from handwrite_digit_ocr.config import CharConfig


def add_data_args(d) -> None:
    """Flags for the character data (shared with ``distill``)."""
    from handwrite_digit_ocr.data import AUGMENT_PRESETS, DATASETS

    d.add_argument("--dataset", default="mnist",
                   help=f"dataset, '+' joins several and 'name*k' repeats one k times (validation and test "
                        f"come from the first); each one of {sorted(DATASETS)} [mnist]")
    d.add_argument("--data-dir", default=None, help="data folder [--data-dir > $OCR_DATA_DIR > ./data]")
    d.add_argument("--augment", default="full", choices=AUGMENT_PRESETS,
                   help="full: geometry + stroke width, blur, contrast, noise (for photos); elastic: full plus "
                        "elastic distortion; geometry: rotation, zoom and shift only; none [full]")
    d.add_argument("--no-augment", dest="augment", action="store_const", const="none", help="same as --augment none")
    d.add_argument("--limit", type=int, default=0, help="use only the first N training images (smoke tests) [0 = all]")


def build_parser() -> argparse.ArgumentParser:
    from handwrite_digit_ocr.model import ARCHS
    from ocr_common.training import add_training_args

    ap = argparse.ArgumentParser(prog="python -m handwrite_digit_ocr.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = ap.add_argument_group("options (defaults in brackets)")
    d.add_argument("--model", default="kaggle_cnn", choices=sorted(ARCHS), help="architecture [kaggle_cnn]")
    d.add_argument("--width", type=int, default=32, help="base filters for vgg / rcnn / bn_cnn [32]")
    add_data_args(d)
    add_training_args(d, epochs=30, batch_size=128, optimizer="rmsprop", lr=1e-3, lr_schedule="plateau")
    return ap


def task_of(dataset: str) -> str:
    """``digit`` for MNIST-based sets, ``letter`` otherwise (names the default run folder)."""
    return "digit" if dataset.split("+")[0].split("*")[0].strip().startswith("mnist") else "letter"


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    from handwrite_digit_ocr.data import AugmentConfig, load_dataset, make_dataset
    from handwrite_digit_ocr.model import build_model
    from ocr_common.training import TrainingRun, make_optimizer

    run = TrainingRun.start(args, "handwrite_digit_ocr.train", f"runs/{task_of(args.dataset)}-{args.model}", argv)
    data = load_dataset(args.dataset, args.data_dir)
    x_tr, y_tr = data.x_train, data.y_train
    if args.limit:
        x_tr, y_tr = x_tr[: args.limit], y_tr[: args.limit]
    print(data.summary(), flush=True)

    task = "digit" if data.labels == tuple("0123456789") else "letter"
    cfg = CharConfig(arch=args.model, labels=data.labels, width=args.width, task=task)
    with run.scope():
        model = build_model(cfg)
        model.compile(optimizer=make_optimizer(args.optimizer, args.lr), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    run.save_config(cfg)
    train_ds = make_dataset(x_tr, y_tr, run.batch, training=True, aug=AugmentConfig.preset(args.augment),
                            seed=args.seed)
    val_ds = make_dataset(data.x_val, data.y_val, run.batch, training=False)
    return run.fit(model, train_ds, val_ds, args, n_train=len(x_tr), title=f"{args.model} on {args.dataset}",
                   summary={"model": args.model, "dataset": args.dataset})


if __name__ == "__main__":
    main()
