"""Is a text line upside down? A small 0 / 180 degree classifier, as RapidOCR's cls stage.

A line crop is normalised like the recogniser's input (:func:`chinese_ocr.preprocess.normalize_line`)
at ``WIDTH`` px (squeezed when longer) and a five-layer CNN says whether it is turned by 180
degrees. The page pipeline turns a page whose lines mostly read upside down and reads it again;
``?detect=0`` turns the single line. Trained on the recogniser's synthetic line shards, each
line shown both ways:

    python -m chinese_ocr.orientation --synth-dir data/zh_synth --out models/zh_orientation.keras

Without a shipped classifier the page pipeline asks the recogniser instead
(:class:`RecognizerOrientation`: each line read both ways, the more confident reading wins),
which measures better on real lines. Both are measured the same way, every line and page read
upright and turned:

    python -m chinese_ocr.orientation --measure-only --out MODEL [--pages 50 --zh-sources DIR]
    python -m chinese_ocr.orientation --by-recognizer models/chinese.keras [--pages 50 --zh-sources DIR]
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
    """The classifier on the shared runtime; ``turned(images)`` -> probability each line is upside
    down, turned above ``threshold``."""

    threshold = 0.5

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


class RecognizerOrientation:
    """Orientation without a classifier: the recogniser reads each line both ways, and a line is
    upside down when its turned reading is more confident than its upright one by more than
    ``threshold``. A recogniser trained on upright text only reads a turned line as doubtful
    strokes, so the difference of the two confidences separates them; it costs a second reading.
    ``turned(images)`` -> that difference per line (in [-1, 1])."""

    def __init__(self, recognizer, threshold: float = 0.05):
        self.recognizer = recognizer
        self.threshold = threshold

    def sure_upright(self, confidence: float) -> bool:
        """Whether a line read as given with this confidence is upright whatever its turned
        reading says: a confidence is at most 1, so the turned reading cannot beat this one by
        more than ``threshold`` (the decision is the one reading both ways gives, one recogniser
        pass cheaper; docs/chinese.md, "One line quicker, same readings")."""
        return 1.0 - confidence <= self.threshold

    def read_upright(self, image: np.ndarray, decoder: str = "best-path") -> tuple[bool, object]:
        """``(turned, reading)``: one line read as given, then turned unless :meth:`sure_upright`,
        and decoded only the way round that wins (a :class:`~chinese_ocr.recognize.LineText`,
        read once)."""
        from chinese_ocr.recognize import line_confidence, reading

        rec = self.recognizer
        (up,) = rec.probabilities([image])
        c_up = line_confidence(up)
        turned = False
        if not self.sure_upright(c_up):
            (down,) = rec.probabilities([turn_image(image)])
            turned = line_confidence(down) - c_up > self.threshold
        return turned, reading(down if turned else up, rec.charset, decoder, rec.lm(decoder))

    def turned(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if not len(images):
            return np.zeros(0, np.float32)
        c = self.recognizer.confidences(list(images) + [turn_image(im) for im in images])
        return (c[len(images):] - c[: len(images)]).astype(np.float32)

    def close(self) -> None:
        pass  # the recogniser belongs to its owner


def measure(clf, sets: dict[str, list[np.ndarray]]) -> dict:
    """Per set of upright line crops (dark on light, any size): each read upright and turned by 180
    degrees; accuracy, upright lines called turned, turned lines found. ``clf`` is an
    :class:`OrientationClassifier` or :class:`RecognizerOrientation` (its ``turned`` scores, turned
    above its ``threshold``)."""
    t = getattr(clf, "threshold", 0.5)
    return {name: _rates(clf.turned(lines) > t, clf.turned([turn_image(im) for im in lines]) > t)
            for name, lines in sets.items()}


def measure_pages(predictor, sets: dict[str, list[np.ndarray]]) -> dict:
    """Whole pages through ``predictor.read_page`` (a :class:`chinese_ocr.predict.ChinesePredictor`),
    upright and turned by 180 degrees: how often its ``turned`` answer is right."""
    return {name: _rates(np.array([predictor.read_page(im).turned for im in pages], bool),
                         np.array([predictor.read_page(turn_image(im)).turned for im in pages], bool))
            for name, pages in sets.items()}


def turn_image(image: np.ndarray) -> np.ndarray:
    """An image (line or page, gray or colour) turned by 180 degrees."""
    return np.ascontiguousarray(image[::-1, ::-1])


def _rates(up: np.ndarray, down: np.ndarray) -> dict:
    """From the calls on upright items and on the same items turned: n, accuracy, upright items
    called turned, turned items found."""
    n = len(up)
    return {"n": n, "accuracy": round(float((np.sum(~up) + np.sum(down)) / max(2 * n, 1)), 4),
            "upright_called_turned": round(float(np.mean(up)) if n else 0.0, 4),
            "turned_found": round(float(np.mean(down)) if n else 0.0, 4)}


def table(results: dict) -> str:
    rows = ["| set | n | accuracy (both ways) | upright called turned | turned found |",
            "| --- | ---: | ---: | ---: | ---: |"]
    rows += [f"| {k} | {r['n']} | {r['accuracy']:.3f} | {r['upright_called_turned']:.3f} | "
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


def page_sets(n: int, zh_dev: str | Path | None, sources: str | Path | None) -> dict:
    """Upright pages never trained on: ``n`` rendered in the eval faces (as the benchmarks render
    them), and the real images zh_dev's lines were cut from when ``sources`` holds them."""
    sets = {}
    if n > 0:
        from ctpn.synth import eval_pages

        sets["rendered pages, eval faces"] = [p.image for p in eval_pages(n)]
    if sources and zh_dev and Path(zh_dev).is_dir():
        from chinese_ocr.source_pages import load_source_pages

        found, _ = load_source_pages(zh_dev, sources)
        if found:
            sets["zh_dev source images (real)"] = [p.image for p in found]
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
    d.add_argument("--by-recognizer", default=None, metavar="MODEL",
                   help="measure the recogniser's own check (each line read both ways) instead of a classifier; "
                   "no training")
    d.add_argument("--pages", type=int, default=0,
                   help="also measure whole pages through the page pipeline of the --models folder: this many "
                   "rendered pages in the eval faces [%(default)s]")
    d.add_argument("--zh-sources", default=None, metavar="ROOT",
                   help="with --pages: also the real images zh_dev was cut from, found under ROOT "
                   "(chinese_ocr.source_pages)")
    d.add_argument("--models", default="models", help="with --pages: the folder whose detector and recogniser "
                   "read the pages [%(default)s]")
    d.add_argument("--publish", default=None, metavar="MODELS_DIR", help="ship the model into this folder")
    args = ap.parse_args(argv)
    by_rec = args.by_recognizer
    fit = {} if args.measure_only or by_rec else train(args.synth_dir, args.out, n=args.n, epochs=args.epochs,
                                                       plates=args.plates)
    if by_rec:
        from chinese_ocr.recognize import LineRecognizer

        rec = LineRecognizer(by_rec)
        clf, close = RecognizerOrientation(rec), rec.close
    else:
        clf = OrientationClassifier(args.out)
        close = clf.close
    try:
        results = measure(clf, eval_sets(args.synth_dir, args.plates, args.zh_dev, args.n_eval))
    finally:
        close()
    rule = f"turned reading more confident by > {clf.threshold}" if by_rec else f"p > {clf.threshold}"
    print(f"\n{table(results)}\n\neach line read upright and turned by 180 degrees; turned when {rule}")
    if args.pages > 0 or args.zh_sources:
        pages = page_sets(args.pages, args.zh_dev, args.zh_sources)
        from chinese_ocr.predict import ChinesePredictor

        predictor = ChinesePredictor(Path(args.models) / "chinese.keras",
                                     orientation=None if by_rec else args.out)
        try:
            page_results = measure_pages(predictor, pages)
        finally:
            predictor.close()
        print(f"\n{table(page_results)}\n\neach page read upright and turned by 180 degrees by the page pipeline")
        results = {**results, **{f"pages: {k}": v for k, v in page_results.items()}}
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
