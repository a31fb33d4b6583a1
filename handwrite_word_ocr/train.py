"""Train a CRNN word recogniser on synthetic handwritten words.

    python -m handwrite_word_ocr.train --head conv --n-train 160000 --epochs 12

Missing synthetic shards are rendered first (worker processes, progress bar, resumable) into
``--synth-dir``: ``train`` (training fonts plus words composed from the real letter crops of
``--letters-dir``), ``heldout`` (whole fonts training never sees) and ``letters-heldout`` (words
composed from letter crops training never sees). Training streams the shards and picks up new
ones on every pass, so it may run beside a renderer that is still writing. The validation loss
and the best-path CER after every epoch are measured on both held-out sets. Everything goes to
``--run-dir`` (default ``runs/word-<head>``): ``best.keras``, ``best.json`` (config with the
charset), a resumable backup (kill the run and start the same command again: it continues from
the last finished epoch), ``log.csv``, ``curve.png``. ``python -m handwrite_word_ocr.evaluate
--publish`` measures a checkpoint and ships it.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from handwrite_word_ocr.config import WordConfig


def build_parser() -> argparse.ArgumentParser:
    from handwrite_word_ocr.model import HEADS
    from ocr_common.training import add_training_args

    ap = argparse.ArgumentParser(prog="python -m handwrite_word_ocr.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = ap.add_argument_group("options (defaults in brackets)")
    d.add_argument("--head", default="conv", choices=HEADS, help="sequence head [conv]")
    d.add_argument("--units", type=int, default=256, help="width of the sequence head [256]")
    d.add_argument("--width", type=int, default=128, help="input width in pixels, multiple of 4 [128]")
    d.add_argument("--synth-dir", default="data/word_synth", help="synthetic shards [data/word_synth]")
    d.add_argument("--letters-dir", default="data/letters/train",
                   help="real letter crops (<upper_X|lower_x>/*.png) composed into words [data/letters/train]")
    d.add_argument("--n-train", type=int, default=160000, help="synthetic training words [160000]")
    d.add_argument("--n-val", type=int, default=2000, help="held-out words per held-out set [2000]")
    d.add_argument("--iam", default=None, help="IAM root (words.txt + words/): its words join the training stream, "
                   "whole forms held out for validation")
    d.add_argument("--no-render", action="store_true", help="use the shards already there (a renderer is running)")
    add_training_args(d, epochs=12, batch_size=64, optimizer="adam", lr=1e-3, lr_schedule="cosine")
    return ap


def cer_callback(x, texts: list[str], charset):
    """A callback logging the best-path CER (``val_cer``) and word accuracy on held-out words after
    every epoch. Best path is an argmax per frame, so it runs on the logits as they are."""
    import keras

    from ocr_common.ctc import best_path_batch, text_metrics

    class CerCallback(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            preds = best_path_batch(self.model.predict(x, batch_size=256, verbose=0), charset)
            m = text_metrics(preds, texts)
            if logs is not None:
                logs["val_cer"] = m["cer"]
                logs["val_word_acc"] = m["word_accuracy"]
            print(f"\nheld-out best path: CER {m['cer']:.4f}, word accuracy {m['word_accuracy']:.4f}", flush=True)

    return CerCallback()


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    from handwrite_word_ocr.data import tf_dataset, validation_arrays
    from handwrite_word_ocr.model import build_model, compile_model
    from handwrite_word_ocr.synth import HELDOUT_SETS, render_heldout, render_shards
    from ocr_common.ctc import Charset
    from ocr_common.shards import shard_files
    from ocr_common.training import TrainingRun

    cfg = WordConfig(head=args.head, units=args.units, width=args.width)
    charset = Charset(cfg.chars)
    run = TrainingRun.start(args, "handwrite_word_ocr.train", f"runs/word-{args.head}", argv)
    synth = Path(args.synth_dir)
    letters = Path(args.letters_dir)
    if not args.no_render:
        render_heldout(synth, args.n_val, letters_root=letters, width=cfg.width)
        render_shards(synth / "train", args.n_train, split="train", seed=1, width=cfg.width,
                      letters_root=letters if letters.is_dir() else None)
    train_folders = [synth / "train"]
    held = [f for f in (synth / split for split, _ in HELDOUT_SETS.values()) if shard_files(f)]
    if args.iam:
        from handwrite_word_ocr.data import iam_shards

        iam_train, iam_val = iam_shards(args.iam, synth / "iam", height=cfg.height, width=cfg.width)
        train_folders.append(iam_train)
        held.append(iam_val)
    x_val, y_val, val_texts = validation_arrays(held, charset, cfg.max_label, limit=args.n_val)
    print(f"crnn-{cfg.head}: {len(shard_files(synth / 'train'))} training shards, {len(x_val)} held-out words",
          flush=True)
    with run.scope():
        model = compile_model(build_model(cfg), args.optimizer, args.lr)
    run.save_config(cfg)
    train_ds = tf_dataset(train_folders, charset, cfg.max_label, cfg.height, cfg.width, run.batch,
                          seed=[args.seed, run.epochs_done()])
    if not args.steps_per_epoch:
        args.steps_per_epoch = math.ceil(args.n_train / run.batch)
    return run.fit(model, train_ds, (x_val, y_val), args, n_train=args.n_train,
                   title=f"CRNN ({cfg.head} head) on synthetic handwriting", monitor="val_cer", mode="min",
                   summary={"head": cfg.head, "units": cfg.units},
                   metric_callbacks=[cer_callback(x_val, val_texts, charset)])


if __name__ == "__main__":
    main()
