"""Train a Chinese line recogniser on synthetic lines (and real licence plates).

    python -m chinese_ocr.train --charset GB2312-1 --n-train 200000 --epochs 10

The default network is the DenseNet: from scratch on this project's 2-core CPU it learned far
more per training hour than the CRNN (held-out-face CER 0.66 against 0.88 after 75 minutes, the
same data and schedule side by side; ``docs/chinese.md``, "CRNN or DenseNet").

Missing synthetic shards are rendered first (worker processes, progress bar, resumable) into
``--synth-dir``: ``train`` (the training faces of :mod:`chinese_ocr.fonts`), ``heldout`` (AR PL
UMing, never trained on) and ``eval`` (faces from packages the project never trains on). With
``--plates`` (default ``../shared/data/plates``) the real plates are split once by file name
(:func:`chinese_ocr.data.plate_split`, 20 % validation): the training part joins every batch
with share ``--plate-share``, the validation part is measured after every epoch. The best-path
CER on the held-out face (``val_cer``) picks the checkpoint. Everything goes to ``--run-dir``
(default ``runs/zh-<arch>``): ``best.keras``, ``best.json`` (config with the charset), a
resumable backup (kill the run and start the same command again: it continues from the last
finished epoch), ``log.csv``, ``curve.png``. ``python -m chinese_ocr.evaluate --publish``
measures a checkpoint and ships it.

``--init-from`` a recogniser of fewer characters grows its classifier (the new characters start as
the mean column); ``--train-only logits --keep-columns`` then trains only the new characters'
columns on the source's features (how the shipped model learnt GB 2312 level 2; lower their
logits afterwards with ``python -m chinese_ocr.prior``).

With ``--charset plates`` it trains a licence-plate reader (served beside the line recogniser,
:mod:`chinese_ocr.recognize`): plates rendered while it runs (``--live-share``) and the real
plates' training photos, each drawn afresh (:mod:`chinese_ocr.augment`) for the rest of every
batch; no line shards. Plates rendered in the held-out face pick its checkpoint.

    python -m chinese_ocr.train --arch crnn --charset plates --init-from models/chinese.keras \
        --live-share 0.5 --easy-share 0 --pack 0 --feed-workers 1 --batch-size 64 --lr 3e-4
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np


def build_parser() -> argparse.ArgumentParser:
    from chinese_ocr.charset import CHARSETS
    from chinese_ocr.model import ARCHS
    from ocr_common.training import add_training_args

    ap = argparse.ArgumentParser(prog="python -m chinese_ocr.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = ap.add_argument_group("options (defaults in brackets)")
    d.add_argument("--arch", default="densenet", choices=ARCHS, help="network [densenet]")
    d.add_argument("--charset", default="GB2312", choices=sorted(CHARSETS),
                   help="characters [GB2312]; 'plates' trains a licence-plate reader on plates alone")
    d.add_argument("--base", type=int, default=32, help="filters of the first conv stage [32]")
    d.add_argument("--bottleneck", type=int, default=256, help="features per frame before the classifier [256]")
    d.add_argument("--synth-dir", default="data/zh_synth", help="synthetic shards [data/zh_synth]")
    d.add_argument("--n-train", type=int, default=200000, help="synthetic training lines [200000]")
    d.add_argument("--n-val", type=int, default=1000, help="lines per held-out set [1000]")
    d.add_argument("--plates", default="../shared/data/plates",
                   help="labelled plate crops (labels.tsv); '' for none [../shared/data/plates]")
    d.add_argument("--plate-share", type=float, default=0.08, help="share of every batch drawn from plates [0.08]")
    d.add_argument("--no-plate-augment", dest="plate_augment", action="store_false",
                   help="train on the plates' normalised shards as they are, not on their photos drawn afresh "
                        "every time (chinese_ocr.augment)")
    d.add_argument("--extra", action="append", default=[],
                   help="more shard folders to train on (e.g. from chinese_ocr.data.chinese_ocr_shards)")
    d.add_argument("--pack", type=float, default=0.7,
                   help="chance that a short line gets another one beside it in its row; 0 = one line a row [0.7]")
    d.add_argument("--easy-share", type=float, default=0.3,
                   help="share of every batch from easy lines of evenly drawn characters (chinese_ocr.glyphs) [0.3]")
    d.add_argument("--live-share", type=float, default=0.0,
                   help="share of every batch rendered while training (fresh lines every step; wants many "
                        "cores and --feed-workers); the training shards are optional then [0]")
    d.add_argument("--feed-workers", type=int, default=0,
                   help="processes making batches (ocr_common.feed); 0 = tf.data in one thread, the "
                        "default on TensorFlow; other backends need at least 1 [0]")
    d.add_argument("--replay", type=int, default=0,
                   help="with --feed-workers: a pool of this many recent batches fills the trainer's waits "
                        "for fresh ones (ocr_common.feed), for an accelerator faster than the workers [0]")
    d.add_argument("--max-reuse", type=float, default=3.0,
                   help="at most this many replayed batches per fresh one [3]")
    d.add_argument("--train-only", nargs="+", default=[], metavar="LAYER",
                   help="train these layers only, the rest frozen (batch norms at their running statistics): "
                        "'logits' teaches a grown charset's new characters on the features of --init-from")
    d.add_argument("--keep-columns", action="store_true",
                   help="with --init-from a recogniser of fewer characters: the classifier columns of the characters "
                        "it wrote, and the blank's, stay as they are there; only the new characters' columns learn")
    d.add_argument("--no-render", action="store_true", help="use the shards already there (a renderer is running)")
    add_training_args(d, epochs=10, batch_size=32, optimizer="adam", lr=1e-3, lr_schedule="cosine")
    return ap


def cer_callback(sets: dict, charset):
    """A callback measuring the best-path CER and line accuracy of every held-out set after each
    epoch; the first set's CER is logged as ``val_cer`` (the checkpoint monitor)."""
    import keras

    from ocr_common.ctc import best_path_batch, text_metrics

    class CerCallback(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            for i, (name, (x, texts)) in enumerate(sets.items()):
                preds = best_path_batch(self.model.predict(x, batch_size=128, verbose=0), charset)
                m = text_metrics(preds, texts)
                key = "val" if i == 0 else f"val_{name}"
                if logs is not None:
                    logs[f"{key}_cer"] = m["cer"]
                    logs[f"{key}_line_acc"] = m["word_accuracy"]
                print(f"\n{name}: CER {m['cer']:.4f}, line accuracy {m['word_accuracy']:.4f}", flush=True)

    return CerCallback()


def freeze_except(model, names: list[str]):
    """``model`` with only the layers named ``names`` trainable (all of them when ``names`` is empty)."""
    if names:
        unknown = sorted(set(names) - {layer.name for layer in model.layers})
        if unknown:
            raise SystemExit(f"--train-only: no layer {', '.join(unknown)} in this network")
        for layer in model.layers:
            layer.trainable = layer.name in names
        print(f"training {', '.join(names)} only: {sum(int(np.prod(w.shape)) for w in model.trainable_weights):,} "
              f"of {model.count_params():,} weights", flush=True)
    return model


def keep_source_columns(model, cfg, path: str | Path) -> int:
    """Pin the classifier (``logits``) columns of the blank and of every character the recogniser
    at ``path`` writes to its values, for good: a constraint puts them back after every optimizer
    step, so only the columns of the characters it lacked learn and what it read it reads as
    before, unless a new character now outscores it. Set from ``path`` itself, so a resumed run
    pins the same values. Returns the number of pinned columns."""
    import keras

    from chinese_ocr.config import ChineseConfig
    from chinese_ocr.recognize import config_path_for
    from ocr_common.config import load_config
    from ocr_common.ctc_model import matched_columns

    src_chars = load_config(ChineseConfig, config_path_for(path)).chars
    kernel, bias = keras.saving.load_model(path, compile=False).get_layer("logits").get_weights()
    cols, src_cols = matched_columns(cfg.chars, src_chars)
    layer = model.get_layer("logits")
    fixed_k, fixed_b = np.zeros(layer.kernel.shape, "float32"), np.zeros(layer.bias.shape, "float32")
    fixed_k[:, cols], fixed_b[cols] = kernel[:, src_cols], bias[src_cols]
    mask = np.zeros(layer.bias.shape, bool)
    mask[cols] = True
    layer.kernel.constraint = lambda w: keras.ops.where(mask[None, :], fixed_k, w)
    layer.bias.constraint = lambda w: keras.ops.where(mask, fixed_b, w)
    print(f"classifier: {len(cols)} columns kept as in {path}, {len(mask) - len(cols)} learn", flush=True)
    return len(cols)


def grow_from(model, cfg, path: str | Path) -> bool:
    """``--init-from`` a recogniser of another charset (the level-1 model into a GB2312 one, say):
    its layers copied and its classifier's columns matched by character
    (:func:`ocr_common.ctc_model.transfer_weights`); ``TrainingRun.init_weights`` calls it for a
    fresh run. False when ``path`` writes the same characters (plain weight loading does then) or
    has no config beside it."""
    import keras

    from chinese_ocr.config import ChineseConfig
    from chinese_ocr.recognize import config_path_for
    from ocr_common.config import load_config
    from ocr_common.ctc_model import transfer_weights

    src_json = config_path_for(path)
    if not Path(path).is_file() or not src_json.is_file():
        return False
    src_cfg = load_config(ChineseConfig, src_json)
    if src_cfg.chars == cfg.chars:
        return False
    got = transfer_weights(model, cfg.chars, keras.saving.load_model(path, compile=False), src_cfg.chars)
    if got["skipped"] or got["layers"] < 2:
        raise SystemExit(f"--init-from {path}: a {src_cfg.arch} that does not fit this {cfg.arch} "
                         f"({', '.join(got['skipped']) or 'no layer in common'})")
    print(f"weights from {path} ({src_cfg.charset}, {len(src_cfg.chars)} characters): {got['layers']} layers, "
          f"{got['chars_kept']} characters kept, {got['chars_new']} new", flush=True)
    return True


def feed_report(stats: dict, replay: int) -> list:
    """With ``--replay``, a callback printing the fresh and replayed batches so far after every epoch."""
    if not replay:
        return []
    import keras

    class FeedReport(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(f"feed: {stats['fresh']} fresh and {stats['replayed']} replayed batches so far", flush=True)

    return [FeedReport()]


def generated_sources(charset, cfg, seed, easy_share: float, live_share: float, real: tuple = ()) -> list:
    """The row sources made while training: lines rendered on the spot (``--live-share``), easy
    lines (``--easy-share``) and real photos drawn afresh (``real``: ``(lines, share)``, the
    plates' training split), as ``(source, share)`` pairs for :func:`chinese_ocr.data.iterate_shards`."""
    import numpy as np

    out = []
    if live_share > 0:
        from chinese_ocr.synth import LiveLines

        out.append((LiveLines(charset, cfg.charset, cfg.max_label, height=cfg.height, width=cfg.width,
                              rng=np.random.default_rng([*seed, 13])), live_share))
    if real:
        from chinese_ocr.augment import RealLines

        lines, share = real
        out.append((RealLines(lines, charset, cfg.max_label, height=cfg.height, width=cfg.width,
                              rng=np.random.default_rng([*seed, 17])), share))
    return out + easy_lines(easy_share, charset, cfg, seed)


def easy_lines(share: float, charset, cfg, seed) -> list:
    """``[(EasyLines, share)]`` for :func:`chinese_ocr.data.iterate_shards`, or none at share 0."""
    if share <= 0:
        return []
    import numpy as np

    from chinese_ocr.glyphs import EasyLines

    return [(EasyLines(charset, cfg.max_label, height=cfg.height, width=cfg.width,
                       rng=np.random.default_rng([*seed, 7])), share)]


def feed_batches(seed, *, cfg, folders, weights, batch: int, pack: float, easy_share: float, live_share: float,
                 real: tuple = ()):
    """One feed worker's endless ``(x float32 in [0, 1], y)`` batches (see
    :func:`ocr_common.feed.parallel_batches`): :func:`chinese_ocr.data.iterate_shards` over the
    folders, easy lines and lines rendered on the spot, with the random gamma of ``tf_dataset``."""
    import numpy as np

    from chinese_ocr.data import gamma_scale, iterate_shards
    from ocr_common.ctc import Charset

    charset = Charset(cfg.chars)
    rng = np.random.default_rng([*seed, 11])
    for x, y in iterate_shards(folders, charset, cfg.max_label, batch=batch, seed=seed, weights=weights, pack=pack,
                               generated=generated_sources(charset, cfg, seed, easy_share, live_share, real)):
        yield gamma_scale(x, rng), y


def prepare_plates(plates: str | Path, synth: Path, charset) -> tuple[Path, Path] | None:
    """The plate split as shards: ``synth/plates-train`` and ``synth/plates-val``, made from the
    folder once. Finished shards are used without it (a GPU bundle carries the shards alone);
    ``plates=''`` means no plates."""
    from chinese_ocr.data import folder_shards, plate_split

    made = (synth / "plates-train", synth / "plates-val")
    if plates and all((d / "done").exists() for d in made):
        return made
    if not plates or not (Path(plates) / "labels.tsv").is_file():
        return None
    train, val = plate_split(plates)
    out = []
    for name, lines in (("plates-train", train), ("plates-val", val)):
        out.append(folder_shards(plates, synth / name, lines=lines, source="plates", charset=charset))
    return out[0], out[1]


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    import functools

    import keras

    from chinese_ocr.charset import PLATES, charset_chars
    from chinese_ocr.config import ChineseConfig
    from chinese_ocr.data import tf_dataset, validation_arrays
    from chinese_ocr.model import build_model, compile_model
    from chinese_ocr.synth import render_heldout, render_shards, rendered_plates
    from ocr_common.ctc import Charset, encode_labels
    from ocr_common.feed import parallel_batches
    from ocr_common.shards import shard_files
    from ocr_common.training import TrainingRun

    cfg = ChineseConfig(arch=args.arch, charset=args.charset, chars=charset_chars(args.charset), base=args.base,
                        bottleneck=args.bottleneck)
    charset = Charset(cfg.chars)
    run = TrainingRun.start(args, "chinese_ocr.train", f"runs/zh-{args.arch}", argv)
    synth = Path(args.synth_dir)
    plate_reader = args.charset == PLATES  # plates rendered while it trains, and the real ones
    if plate_reader and not args.live_share:
        raise SystemExit("a plate reader (--charset plates) trains on plates rendered while it runs: "
                         "give --live-share (and --plate-share for the real ones)")
    if not args.no_render and not plate_reader:
        render_heldout(synth, args.n_val, width=cfg.width)
        render_shards(synth / "train", args.n_train, split="train", seed=1, charset=args.charset, width=cfg.width)
    plates = prepare_plates(args.plates, synth, charset)
    # Rendering while training needs no shards; without it the trainer insists on them.
    own = [synth / "train"] if not plate_reader and (shard_files(synth / "train") or not args.live_share) else []
    folders = [*own, *map(Path, args.extra)]
    weights = [1.0] * len(folders)
    sets = {}
    if plate_reader:  # plates in the held-out face pick the checkpoint; the real ones stay unseen
        xh, th = rendered_plates(args.n_val, height=cfg.height, width=cfg.width)
        x_val, y_val = (xh.astype("float32") / 255.0)[..., None], encode_labels(th, charset, cfg.max_label)[0]
        sets["heldout-plates"] = (x_val, th)
    else:
        x_val, y_val, texts = validation_arrays([synth / "heldout"], charset, cfg.max_label, limit=args.n_val)
        sets["heldout-font"] = (x_val, texts)
    real: tuple = ()  # the plates' training photos, drawn afresh (chinese_ocr.augment), when the folder is here
    if plates:
        if args.plate_augment and args.plates and (Path(args.plates) / "labels.tsv").is_file():
            from chinese_ocr.data import plate_split

            real = (plate_split(args.plates)[0], args.plate_share)
        else:  # the split's shards alone (a GPU bundle without the photos, or --no-plate-augment)
            folders.append(plates[0])
            weights = [w * (1 - args.plate_share) / sum(weights) for w in weights] + [args.plate_share]
        xp, _, tp = validation_arrays([plates[1]], charset, cfg.max_label)
        sets["plates-val"] = (xp, tp)
    if shard_files(synth / "eval") and not plate_reader:
        xe, _, te = validation_arrays([synth / "eval"], charset, cfg.max_label, limit=args.n_val // 2)
        sets["eval-fonts"] = (xe, te)
    if not folders and not real:
        raise SystemExit("nothing to train on besides --live-share: give shards, --extra or --plates")
    use_feed = args.feed_workers or keras.backend.backend() != "tensorflow"  # tf.data otherwise
    if args.replay and not use_feed:
        raise SystemExit("--replay replays the batches of --feed-workers: give --feed-workers N too")
    if args.live_share and not 0 < args.live_share + args.easy_share < 1:
        raise SystemExit("--live-share plus --easy-share must stay below 1 (the folders fill the rest)")
    if real and not folders:  # the plates fill the rest, as their shards would
        real = (real[0], 1 - args.live_share - args.easy_share)
    elif real and not args.live_share + args.easy_share + args.plate_share < 1:
        raise SystemExit("--live-share, --easy-share and --plate-share must stay below 1 (the folders fill the rest)")
    print(f"zh-{cfg.arch} ({len(cfg.chars)} characters): {sum(len(shard_files(f)) for f in own)} training shards, "
          f"held-out sets {', '.join(f'{k} {len(v[1])}' for k, v in sets.items())}", flush=True)
    with run.scope():
        model = compile_model(freeze_except(build_model(cfg), args.train_only), args.optimizer, args.lr)
    if args.keep_columns:
        if not args.init_from:
            raise SystemExit("--keep-columns keeps the columns of --init-from: give it")
        keep_source_columns(model, cfg, args.init_from)
    run.save_config(cfg)
    seed = [args.seed, run.epochs_done()]
    feed_stats: dict = {}  # parallel_batches counts fresh and replayed batches here
    if use_feed:
        make = functools.partial(feed_batches, cfg=cfg, folders=folders, weights=weights, batch=run.batch,
                                 pack=args.pack, easy_share=args.easy_share, live_share=args.live_share, real=real)
        train_ds = parallel_batches(make, [[*seed, w] for w in range(max(1, args.feed_workers))],
                                    replay=args.replay, max_reuse=args.max_reuse, stats=feed_stats)
    else:
        train_ds = tf_dataset(folders, charset, cfg.max_label, cfg.height, cfg.width, run.batch, seed=seed,
                              weights=weights, pack=args.pack,
                              generated=generated_sources(charset, cfg, seed, args.easy_share, args.live_share,
                                                          real))
    if not args.steps_per_epoch:
        args.steps_per_epoch = math.ceil(args.n_train / run.batch)
    return run.fit(model, train_ds, (x_val, y_val), args, n_train=args.n_train,
                   title=f"Chinese line recogniser ({cfg.arch})", monitor="val_cer", mode="min",
                   summary={"arch": cfg.arch, "charset": cfg.charset, "classes": len(cfg.chars) + 1},
                   metric_callbacks=[cer_callback(sets, charset), *feed_report(feed_stats, args.replay)],
                   init_load=lambda m, path: grow_from(m, cfg, path))


if __name__ == "__main__":
    main()
