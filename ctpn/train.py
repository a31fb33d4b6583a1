"""Train the CTPN text-line detector on synthetic pages.

    python -m ctpn.train --n-train 20000 --epochs 10

Missing synthetic shards are rendered first (worker processes, progress bar, resumable) into
``--synth-dir``: ``train`` (training fonts), ``heldout`` and ``eval`` (fonts training never sees);
``--no-render`` uses what is there (a renderer may still be adding training shards: every pass
picks up new ones). Training streams augmented pages (:mod:`ctpn.data`). After every epoch the
detector runs as served on ``--n-val`` held-out-font pages and logs precision, recall and F at
IoU 0.5 (``val_precision``, ``val_recall``, ``val_f``); ``val_f`` picks the best checkpoint. Keras'
``val_loss`` is measured on the first ``--n-val-loss`` of those pages with fixed targets.

Everything goes to ``--run-dir`` (default ``runs/ctpn``): ``best.keras`` (the training model),
``best.json`` (its config), a resumable backup (kill the run and start the same command again: it
continues from the last finished epoch), ``log.csv``, ``curve.png``. ``python -m ctpn.evaluate
--publish models`` measures a checkpoint at the serving size and ships it.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ctpn.config import CTPNConfig

HELDOUT_FOLDER = "heldout"  # the folder ctpn.synth.render_heldout writes the held-out-font pages to


def build_parser() -> argparse.ArgumentParser:
    from ocr_common.training import add_training_args

    ap = argparse.ArgumentParser(prog="python -m ctpn.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = ap.add_argument_group("options (defaults in brackets)")
    d.add_argument("--base", type=int, default=CTPNConfig.base, help="filters of the first backbone stage "
                   "[%(default)s]")
    d.add_argument("--rnn-units", type=int, default=CTPNConfig.rnn_units, help="GRU units per direction "
                   "[%(default)s]")
    d.add_argument("--fc-units", type=int, default=CTPNConfig.fc_units, help="width of the 1x1 fc layer "
                   "[%(default)s]")
    d.add_argument("--synth-dir", default="data/ctpn_synth", help="shards: <dir>/train, <dir>/heldout, <dir>/eval "
                   "[%(default)s]")
    d.add_argument("--n-train", type=int, default=20000, help="training pages to render/use [%(default)s]")
    d.add_argument("--n-val", type=int, default=100, help="held-out-font pages for the F-measure [%(default)s]")
    d.add_argument("--n-val-loss", type=int, default=32, help="of those, pages for Keras' val_loss [%(default)s]")
    d.add_argument("--no-render", action="store_true", help="use the shards already there (a renderer is running)")
    add_training_args(d, epochs=10, batch_size=4, optimizer="adam", lr=1e-3, lr_schedule="cosine")
    return ap


def fmeasure_callback(pages, cfg: CTPNConfig, threshold: float | None = None):
    """A callback running the detector as served on held-out ``pages`` after every epoch and logging
    ``val_precision``, ``val_recall`` and ``val_f`` (IoU 0.5)."""
    import keras

    from ctpn.evaluate import detection_metrics
    from ctpn.predict import SCORE_THRESHOLD, CTPNDetector

    images = [p.image for p in pages]
    truths = [list(p.lines) for p in pages]

    class FMeasure(keras.callbacks.Callback):
        detector = None

        def on_epoch_end(self, epoch, logs=None):
            if self.detector is None:  # traced once; it reads the weights as training changes them
                self.detector = CTPNDetector(config=cfg, model=self.model, backend="tf")
            found = self.detector.detect(images, SCORE_THRESHOLD if threshold is None else threshold)
            m = detection_metrics([[t.box for t in lines] for lines in found], truths)
            if logs is not None:
                logs.update(val_precision=m["precision"], val_recall=m["recall"], val_f=m["f"])
            print(f"\nheld-out pages: precision {m['precision']:.4f}, recall {m['recall']:.4f}, F {m['f']:.4f} "
                  f"({m['tp']} of {m['tp'] + m['fn']} lines found, {m['fp']} false)", flush=True)

    return FMeasure()


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    from ctpn.data import tf_dataset, validation_dataset, validation_pages
    from ctpn.model import build_model, compile_model
    from ocr_common.shards import shard_files
    from ocr_common.training import TrainingRun

    cfg = CTPNConfig(base=args.base, rnn_units=args.rnn_units, fc_units=args.fc_units)
    run = TrainingRun.start(args, "ctpn.train", "runs/ctpn", argv)
    synth = Path(args.synth_dir)
    if not args.no_render:
        from ctpn.synth import render_heldout, render_shards

        render_heldout(synth, args.n_val)
        render_shards(synth / "train", args.n_train, split="train", seed=1)
    held = synth / HELDOUT_FOLDER
    val_pages = validation_pages(held, args.n_val)
    val_ds, n_val_loss = validation_dataset(held, cfg, limit=min(args.n_val_loss, args.n_val), batch=args.batch_size,
                                            seed=args.seed)
    print(f"ctpn b{cfg.base}: {len(shard_files(synth / 'train'))} training shards, {len(val_pages)} held-out pages "
          f"({n_val_loss} for val_loss)", flush=True)
    with run.scope():
        model = compile_model(build_model(cfg), args.optimizer, args.lr)
    run.save_config(cfg)
    # A resumed run continues the stream instead of replaying its first epochs.
    train_ds = tf_dataset(synth / "train", cfg, batch=run.batch, seed=[args.seed, run.epochs_done()])
    if not args.steps_per_epoch:
        args.steps_per_epoch = math.ceil(args.n_train / run.batch)
    return run.fit(model, train_ds, val_ds, args, n_train=args.n_train,
                   title=f"CTPN (base {cfg.base}) on synthetic pages", monitor="val_f", mode="max",
                   summary={"base": cfg.base, "rnn_units": cfg.rnn_units, "fc_units": cfg.fc_units},
                   metric_callbacks=[fmeasure_callback(val_pages, cfg)])


if __name__ == "__main__":
    main()
