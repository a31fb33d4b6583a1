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


def training_pairs(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Normalised lines (N, 32, W) of any width -> (N, 32, WIDTH, 1) inputs, half of them turned, and labels."""
    import cv2

    out = np.zeros((len(x), HEIGHT, WIDTH), np.uint8)
    y = rng.integers(0, 2, len(x)).astype(np.int32)
    for i, line in enumerate(x):
        cols = np.nonzero(line.max(axis=0) > 0)[0]
        end = int(cols[-1]) + 1 if len(cols) else 1
        line = line[:, :end]
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


def train(synth_dir: str | Path, out: str | Path, *, n: int = 40000, epochs: int = 4, batch: int = 64,
          seed: int = 0) -> dict:
    """Fit on up to ``n`` synthetic training lines (each shown upright or turned at random), measure
    on the held-out face's lines, save to ``out``; returns the held-out accuracy."""
    import keras

    from chinese_ocr.data import load_shards
    from ocr_common.shards import shard_files

    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    x, _, _ = load_shards(shard_files(Path(synth_dir) / "train"), n)
    xv, _, _ = load_shards(shard_files(Path(synth_dir) / "heldout"), 2000)
    xt, yt = training_pairs(x, rng)
    xh, yh = training_pairs(xv, rng)
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
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
    d.add_argument("--out", default="runs/zh-orientation/model.keras", help="where the model goes [%(default)s]")
    d.add_argument("--n", type=int, default=40000, help="training lines [40000]")
    d.add_argument("--epochs", type=int, default=4, help="[4]")
    d.add_argument("--publish", default=None, metavar="MODELS_DIR", help="ship the model into this folder")
    args = ap.parse_args(argv)
    metrics = train(args.synth_dir, args.out, n=args.n, epochs=args.epochs)
    if args.publish:
        import shlex
        import sys

        from ocr_common.manifest import publish

        publish(args.publish, "zh_orientation", "chinese", args.out, Path(args.out).with_suffix(".json"),
                architecture="5-layer CNN, 0 / 180 degree line classifier, 32x192 input",
                dataset="synthetic Chinese lines (training faces), each shown upright or turned",
                command=shlex.join(["python", "-m", "chinese_ocr.orientation",
                                    *(argv if argv is not None else sys.argv[1:])]),
                metrics={"heldout-font lines": metrics})
    return metrics


if __name__ == "__main__":
    main()
