"""Is a text line upside down? A small 0 / 180 degree classifier, as RapidOCR's cls stage.

A line crop is normalised like the recogniser's input (:func:`chinese_ocr.preprocess.normalize_line`)
at ``WIDTH`` px (squeezed when longer) and a five-layer CNN says whether it is turned by 180
degrees. The page pipeline turns a page whose lines mostly read upside down and reads it again;
``?detect=0`` turns the single line. Trained on the recogniser's synthetic line shards, each
line shown both ways:

    python -m chinese_ocr.orientation --synth-dir data/zh_synth --out models/zh_orientation.keras
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from chinese_ocr.preprocess import normalize_line

WIDTH = 192
HEIGHT = 32


def turn(x: np.ndarray) -> np.ndarray:
    """A normalised line (ink high, padded on the right) turned by 180 degrees and padded on the
    right again, so padding never gives the answer away."""
    cols = np.nonzero(x.max(axis=0) > 0)[0]
    end = int(cols[-1]) + 1 if len(cols) else 0
    out = np.zeros_like(x)
    out[:, :end] = x[::-1, :end][:, ::-1]
    return out


def build_model(base: int = 16):
    """(32, WIDTH, 1) in [0, 1] -> (2,) probabilities: upright, turned."""
    import keras
    from keras import layers

    inp = keras.Input((HEIGHT, WIDTH, 1), name="image")
    x = inp
    for i, f in enumerate((base, 2 * base, 4 * base, 4 * base, 8 * base)):
        x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"c{i}_conv")(x)
        x = layers.ReLU(name=f"c{i}_relu")(layers.BatchNormalization(name=f"c{i}_bn")(x))
        if i < 4:
            x = layers.MaxPooling2D(2, name=f"c{i}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(2, activation="softmax", name="probs")(layers.Dropout(0.2, name="drop")(x))
    return keras.Model(inp, out, name="zh_orientation")


def normalize(images: Sequence[np.ndarray]) -> np.ndarray:
    """Line images -> (N, 32, WIDTH, 1) float32 model input."""
    return (np.stack([normalize_line(im, HEIGHT, WIDTH) for im in images]).astype(np.float32) / 255.0)[..., None]


def _jitter(line: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A normalised line (ink high, left-aligned) as a real crop may come: text 70-100 % of the
    height at a random height, a left margin of up to 8 px."""
    import cv2

    h, w = line.shape
    scale = rng.uniform(0.7, 1.0)
    nh, nw = max(8, round(h * scale)), max(1, round(w * scale))
    small = cv2.resize(line, (nw, nh), interpolation=cv2.INTER_AREA)
    out = np.zeros_like(line)
    top, left = int(rng.integers(0, h - nh + 1)), int(rng.integers(0, 9))
    nw = min(nw, w - left)
    out[top : top + nh, left : left + nw] = small[:, :nw]
    return out


def training_pairs(x: Sequence[np.ndarray], rng: np.random.Generator,
                   jitter: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Normalised lines (each (32, W), ink high, any width) -> (N, 32, WIDTH, 1) inputs, half of them
    turned, and labels. ``jitter``: each line first shrunk and moved as in :func:`_jitter`."""
    import cv2

    out = np.zeros((len(x), HEIGHT, WIDTH), np.uint8)
    y = rng.integers(0, 2, len(x)).astype(np.int32)
    for i, line in enumerate(x):
        cols = np.nonzero(line.max(axis=0) > 0)[0]
        end = int(cols[-1]) + 1 if len(cols) else 1
        line = line[:, :end]
        if jitter:
            line = _jitter(line, rng)
        w = min(end, WIDTH)
        out[i, :, :w] = line if end <= WIDTH else cv2.resize(line, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
        if y[i]:
            out[i] = turn(out[i])
    return (out.astype(np.float32) / 255.0)[..., None], y


class OrientationClassifier:
    """The classifier on the shared runtime; ``turned(images)`` -> probability each line is upside down."""

    def __init__(self, model_path: str | Path, *, backend: str | None = None, onnx_cache_dir: str | Path | None = None):
        from ocr_common.runtime import ModelRuntime

        self.model_path = Path(model_path)
        self.runtime = ModelRuntime(self.model_path, backend=backend, batch_buckets=(1, 8), max_batch=32,
                                    onnx_cache_dir=onnx_cache_dir)

    def turned(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros(0, np.float32)
        return self.runtime.run(normalize(images))[0][:, 1]

    def close(self) -> None:
        self.runtime.close()


def measure(clf: OrientationClassifier, sets: dict[str, list[np.ndarray]]) -> dict:
    """Per set of upright line crops (dark on light, any size): each read upright and turned by 180
    degrees; accuracy, upright lines called turned, turned lines found (at probability 0.5)."""
    out = {}
    for name, lines in sets.items():
        up = clf.turned(lines)
        down = clf.turned([np.ascontiguousarray(im[::-1, ::-1]) for im in lines])
        out[name] = {"lines": len(lines), "accuracy": round(float((np.sum(up <= 0.5) + np.sum(down > 0.5))
                                                                  / (2 * len(lines))), 4),
                     "upright_called_turned": round(float(np.mean(up > 0.5)), 4),
                     "turned_found": round(float(np.mean(down > 0.5)), 4)}
    return out


def table(results: dict) -> str:
    rows = ["| set | lines | accuracy (both ways) | upright called turned | turned found |",
            "| --- | ---: | ---: | ---: | ---: |"]
    rows += [f"| {k} | {r['lines']} | {r['accuracy']:.3f} | {r['upright_called_turned']:.3f} | "
             f"{r['turned_found']:.3f} |" for k, r in results.items()]
    return "\n".join(rows)


def eval_sets(synth_dir: str | Path, plates: str | Path | None, zh_dev: str | Path | None, n: int = 600) -> dict:
    """Crops never trained on, dark on light: the held-out face's and the evaluation faces' rendered
    lines (ink cut at its right end), the plates' validation half, the real zh_dev lines."""
    from chinese_ocr.data import load_labelled_folder, load_shards, plate_split
    from ocr_common.shards import shard_files

    sets = {}
    for name, split in (("heldout-font lines", "heldout"), ("eval-font lines", "eval")):
        files = shard_files(Path(synth_dir) / split)
        if files:
            x, _, _ = load_shards(files, n)
            ends = [int(np.nonzero(im.max(axis=0) > 0)[0][-1]) + 1 if im.any() else 1 for im in x]
            sets[name] = [np.ascontiguousarray(255 - im[:, : e + 4]) for im, e in zip(x, ends)]
    if plates and Path(plates).is_dir():
        sets["plates-val"] = [p.image for p in plate_split(plates)[1]]
    if zh_dev and Path(zh_dev).is_dir():
        sets["zh_dev (real)"] = [p.image for p in load_labelled_folder(zh_dev)]
    return sets


def train(synth_dir: str | Path, out: str | Path, *, n: int = 60000, epochs: int = 6, batch: int = 64,
          seed: int = 0, plates: str | Path | None = None) -> dict:
    """Fit on up to ``n`` synthetic training lines and the plates' training half (each shown upright
    or turned at random, jittered), check on the held-out face's lines, save to ``out``; returns
    the held-out accuracy."""
    import keras

    from chinese_ocr.data import load_shards, plate_split
    from ocr_common.shards import shard_files

    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    x, _, _ = load_shards(shard_files(Path(synth_dir) / "train"), n)
    x = list(x)
    if plates and Path(plates).is_dir():
        x += [normalize_line(p.image, HEIGHT, None) for p in plate_split(plates)[0]] * 4
    xv, _, _ = load_shards(shard_files(Path(synth_dir) / "heldout"), 2000)
    xt, yt = training_pairs(x, rng, jitter=True)
    xh, yh = training_pairs(xv, rng)
    model = build_model()
    steps = epochs * -(-len(yt) // batch)
    lr = keras.optimizers.schedules.CosineDecay(2e-3, steps)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(xt, yt, batch_size=batch, epochs=epochs, validation_data=(xh, yh), verbose=2)
    acc = float(np.mean(model.predict(xh, verbose=0).argmax(axis=1) == yh))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    from ocr_common.io import atomic_write_text

    atomic_write_text(Path(out).with_suffix(".json"), json.dumps({"task": "zh_orientation", "height": HEIGHT,
                                                                   "width": WIDTH, "classes": ["0", "180"]}) + "\n")
    print(f"held-out face lines: orientation accuracy {acc:.4f} ({len(yh)} lines); saved {out}")
    return {"heldout_accuracy": round(acc, 4), "n_heldout": int(len(yh)), "n_train": int(len(yt)), "epochs": epochs}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m chinese_ocr.orientation", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = ap.add_argument_group("options (defaults in brackets)")
    d.add_argument("--synth-dir", default="data/zh_synth", help="line shards: <dir>/train, <dir>/heldout [%(default)s]")
    d.add_argument("--plates", default="../shared/data/plates",
                   help="real plates: the training half is trained on, the validation half measured [%(default)s]")
    d.add_argument("--zh-dev", default="../shared/data/zh_dev", help="real lines, measured only [%(default)s]")
    d.add_argument("--out", default="runs/zh-orientation/model.keras", help="where the model goes [%(default)s]")
    d.add_argument("--n", type=int, default=60000, help="training lines [%(default)s]")
    d.add_argument("--epochs", type=int, default=6, help="[%(default)s]")
    d.add_argument("--n-eval", type=int, default=600, help="rendered lines per measured set [%(default)s]")
    d.add_argument("--measure-only", action="store_true", help="measure --out as it is, no training")
    d.add_argument("--publish", default=None, metavar="MODELS_DIR", help="ship the model into this folder")
    args = ap.parse_args(argv)
    fit = {} if args.measure_only else train(args.synth_dir, args.out, n=args.n, epochs=args.epochs,
                                             plates=args.plates)
    clf = OrientationClassifier(args.out)
    try:
        results = measure(clf, eval_sets(args.synth_dir, args.plates, args.zh_dev, args.n_eval))
    finally:
        clf.close()
    print(f"\n{table(results)}\n\neach line read upright and turned by 180 degrees; turned when p > 0.5")
    if args.publish:
        import shlex
        import sys

        from ocr_common.manifest import publish

        command = shlex.join(["python", "-m", "chinese_ocr.orientation", *(argv if argv is not None else sys.argv[1:])])
        publish(args.publish, "zh_orientation", "chinese", args.out, Path(args.out).with_suffix(".json"),
                architecture="5-layer CNN, 0 / 180 degree line classifier, 32x192 input",
                dataset="synthetic Chinese lines (training faces) and the plates' training half, each shown "
                "upright or turned, jittered",
                command=command, evaluate_command=f"python -m chinese_ocr.orientation --measure-only --out "
                f"{args.publish}/zh_orientation.keras",
                metrics={**results, "training": fit} if fit else results)
    return {"training": fit, "measured": results}


if __name__ == "__main__":
    main()
