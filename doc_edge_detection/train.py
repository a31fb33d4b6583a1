"""Train the HED edge network or the corner-heatmap network on synthetic document photos.

    python -m doc_edge_detection.train --arch hed --width 16 --n-train 30000 --epochs 6

Missing synthetic shards are rendered first into ``--synth-dir``/train and /heldout (worker
processes, progress bar; rendering resumes where it stopped). The held-out shards use background
families and fonts the training shards never use, so the validation loss measures generalisation
to new scenes. Everything a run writes goes to ``--run-dir`` (default ``runs/doc-<arch>-w<width>``):
``best.keras`` (the training model), ``best.json`` (its config), a resumable backup (kill the run
and start the same command again: it continues from the last finished epoch), ``log.csv``,
``curve.png``. ``evaluate`` measures a checkpoint on photos; ``python -m doc_edge_detection.evaluate
--publish`` cuts the inference model out of it and ships it.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from doc_edge_detection.config import DocEdgeConfig


def build_parser() -> argparse.ArgumentParser:
    from doc_edge_detection.model import ARCHS
    from ocr_common.training import add_training_args

    ap = argparse.ArgumentParser(
        prog="python -m doc_edge_detection.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = ap.add_argument_group("options (defaults in brackets)")
    d.add_argument("--arch", default="hed", choices=sorted(ARCHS), help="[hed]")
    d.add_argument("--width", type=int, default=16, help="channels of the first stage (x2 per stage, max x8) [16]")
    d.add_argument("--input-size", type=int, default=256, help="square network input [256]")
    d.add_argument(
        "--synth-dir", default="data/doc_synth", help="synthetic shards: <dir>/train, <dir>/heldout [data/doc_synth]"
    )
    d.add_argument("--n-train", type=int, default=30000, help="training photos to render/use [30000]")
    d.add_argument("--n-val", type=int, default=1000, help="held-out validation photos [1000]")
    add_training_args(d, epochs=6, batch_size=16, optimizer="adam", lr=2e-3, lr_schedule="cosine")
    return ap


def compile_model(model, cfg: DocEdgeConfig, optimizer, lr: float):
    from doc_edge_detection.model import LOSSES
    from ocr_common.training import make_optimizer

    model.compile(optimizer=make_optimizer(optimizer, lr), loss=LOSSES[cfg.arch])
    return model


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    from doc_edge_detection.data import ensure_shards, load_arrays, shard_sizes, tf_dataset
    from doc_edge_detection.model import build_model
    from ocr_common.training import TrainingRun

    cfg = DocEdgeConfig(arch=args.arch, input_size=args.input_size, width=args.width)
    run = TrainingRun.start(args, "doc_edge_detection.train", f"runs/doc-{args.arch}-w{args.width}", argv)
    synth = Path(args.synth_dir)
    train_files = ensure_shards(synth / "train", args.n_train, split="train", size=cfg.input_size, seed=1)
    val_files = ensure_shards(synth / "heldout", args.n_val, split="heldout", size=cfg.input_size, seed=2)
    n_train = sum(shard_sizes(train_files))
    x_val, y_val, w_val = load_arrays(val_files, cfg.arch, limit=args.n_val)
    print(
        f"{cfg.arch} w{cfg.width}: {n_train} training photos in {len(train_files)} shards, {len(x_val)} held-out",
        flush=True,
    )
    with run.scope():
        model = compile_model(build_model(cfg), cfg, args.optimizer, args.lr)
    run.save_config(cfg)
    # A resumed run continues the stream where it stopped instead of replaying its first epochs:
    # the stream is seeded by the epochs already finished (rows in the log).
    train_ds = tf_dataset(train_files, cfg.arch, cfg.input_size, run.batch, seed=[args.seed, run.epochs_done()])
    # The stream never ends, so an epoch is one pass unless --steps-per-epoch says otherwise.
    if not args.steps_per_epoch:
        args.steps_per_epoch = math.ceil(n_train / run.batch)
    return run.fit(
        model,
        train_ds,
        (x_val, y_val, w_val),
        args,
        n_train=n_train,
        title=f"{cfg.arch} (width {cfg.width}) on synthetic documents",
        monitor="val_loss",
        mode="min",
        summary={"arch": cfg.arch, "width": cfg.width},
    )


if __name__ == "__main__":
    main()
