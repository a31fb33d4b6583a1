"""Measure a word recogniser: CER and word accuracy per decoder, on held-out and real handwriting.

    python -m handwrite_word_ocr.evaluate --model runs/word-conv/best.keras \\
        --words-dev ../shared/data/words_dev [--iam DIR] [--publish models]

Sets (each one that is present):

* ``heldout-fonts``: synthetic words in handwriting fonts training never saw (whole fonts);
* ``heldout-letters``: words composed from real letter crops training never saw;
* ``words-dev`` / ``lines-dev``: real handwritten words, and lines read through the word
  segmenter (``--words-dev``: a folder with ``labels.tsv``, e.g. ``shared/data/words_dev``);
* ``iam-words``: the IAM test forms, when ``--iam`` points at an IAM tree.

Every set is decoded with every decoder (best path, beam search, beam search + spelling, word
beam search over the lexicon) and printed as one table; ``--out-dir`` gets ``metrics.json``
and PNG sheets of sample images with their readings. A training checkpoint (logits) is cut to
the inference model first; ``--publish MODELS_DIR`` ships it with these figures.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np

from handwrite_word_ocr.predict import DECODERS, LEXICON_DECODER, WordPredictor
from ocr_common.ctc import metrics_table, text_metrics

SHIPPED_NAME = "word"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m handwrite_word_ocr.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = ap.add_argument_group("options (defaults in brackets)")
    d.add_argument("--model", default=f"models/{SHIPPED_NAME}.keras",
                   help="checkpoint or inference model [%(default)s]")
    d.add_argument("--synth-dir", default="data/word_synth", help="held-out shards: <dir>/heldout, "
                   "<dir>/letters-heldout (rendered when missing) [data/word_synth]")
    d.add_argument("--n-synth", type=int, default=1000, help="words per synthetic held-out set [1000]")
    d.add_argument("--letters-dir", default="data/letters/train", help="letter crops for heldout-letters "
                   "[data/letters/train]")
    d.add_argument("--words-dev", default=None, help="labelled real handwriting (labels.tsv: file, kind, text)")
    d.add_argument("--iam", default=None, help="IAM root (words.txt + words/); its test forms are read")
    d.add_argument("--n-iam", type=int, default=2000, help="IAM words to read [2000]")
    d.add_argument("--decoders", nargs="+", default=list(DECODERS), choices=DECODERS, help="[all]")
    d.add_argument("--out-dir", default="runs/word-eval", help="metrics.json and sheets [runs/word-eval]")
    d.add_argument("--publish", default=None, metavar="MODELS_DIR", help="ship --model into this folder")
    return ap


def inference_file(path: str | Path) -> Path:
    """``path`` itself when it is an inference model (softmax output); a training checkpoint is cut
    to one, written once beside it as ``inference.keras`` (+ ``.json``)."""
    from handwrite_word_ocr.config import WordConfig
    from handwrite_word_ocr.model import inference_model
    from ocr_common import export

    return export.inference_file(path, WordConfig, lambda m, _: inference_model(m),
                                 lambda m, *_: m.layers[-1].name != "probs")


def squash(text: str) -> str:
    """Whitespace collapsed: a line break where the reference has a space is no reading error."""
    return re.sub(r"\s+", " ", text).strip()


def evaluate_words(predictor: WordPredictor, images: list[np.ndarray], truths: list[str], decoders: list[str],
                   segment: bool = False) -> dict[str, dict]:
    """Per decoder: text metrics, readings and ms per image (model once, each decoder on its output)."""
    import keras

    out: dict[str, dict] = {}
    bar = keras.utils.Progbar(len(decoders) * len(images), unit_name="image")
    # Segmentation and the model once per image; every decoder then reads the same probabilities.
    t0 = time.perf_counter()
    located = [part for i in range(0, len(images), 256) for part in predictor.locate(images[i : i + 256], segment)]
    shared_ms = 1000 * (time.perf_counter() - t0) / max(len(images), 1)
    truths = [squash(t) for t in truths] if segment else truths
    for name in decoders:
        t0 = time.perf_counter()
        preds = []
        for boxes, probs in located:
            text = predictor.assemble(boxes, probs, name).text
            preds.append(squash(text) if segment else text)
            bar.add(1)
        ms = shared_ms + 1000 * (time.perf_counter() - t0) / max(len(images), 1)
        out[name] = {**text_metrics(preds, truths), "ms_per_image": round(ms, 2), "preds": preds}
    return out


def sheet(images: list[np.ndarray], truths: list[str], preds: list[str], path: Path, title: str, n: int = 40) -> Path:
    """A PNG grid of images with their reading (green when right, ignoring case; red when wrong) and the truth."""
    from ocr_common.sheets import reading_sheet

    return reading_sheet(images, truths, [repr(p) for p in preds], path, title, n=n,
                         same=lambda p, t: p[1:-1].lower() == t.lower())


def _sets(args) -> dict[str, tuple[list[np.ndarray], list[str], bool]]:
    """name -> (images, truths, read through the segmenter)."""
    from handwrite_word_ocr.data import load_labelled_folder, load_shards
    from handwrite_word_ocr.synth import render_heldout
    from ocr_common.shards import shard_files

    sets: dict[str, tuple[list[np.ndarray], list[str], bool]] = {}
    for name, folder in render_heldout(args.synth_dir, args.n_synth, letters_root=args.letters_dir).items():
        x, texts, _ = load_shards(shard_files(folder), args.n_synth)
        sets[name] = ([255 - im for im in x], texts, False)  # back to dark ink on paper, as a photo is
    if args.words_dev:
        words = load_labelled_folder(args.words_dev, "word")
        lines = load_labelled_folder(args.words_dev, "line")
        sets["words-dev"] = ([w.image for w in words], [w.text for w in words], False)
        sets["lines-dev"] = ([w.image for w in lines], [w.text for w in lines], True)
    if args.iam:
        from handwrite_word_ocr.iam import load_iam_words, split_by_form
        from ocr_common.image import load_image_file

        _, test = split_by_form(load_iam_words(args.iam), val_fraction=0.1, seed=0)
        test = test[: args.n_iam]
        sets["iam-words"] = ([load_image_file(s.path) for s in test], [s.text for s in test], False)
    return sets


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    model_path = inference_file(args.model)
    predictor = WordPredictor(model_path)
    out_dir = Path(args.out_dir)
    results: dict[str, dict[str, dict]] = {}
    for name, (images, truths, segment) in _sets(args).items():
        print(f"\n{name}: {len(images)} images", flush=True)
        results[name] = evaluate_words(predictor, images, truths, args.decoders, segment=segment)
        best = results[name].get(LEXICON_DECODER) or next(iter(results[name].values()))
        sheet(images, truths, best["preds"],
              out_dir / f"sheet-{name}.png", f"{name}: {Path(args.model).name}, {LEXICON_DECODER}")
    for name, by_decoder in results.items():
        print(f"\n### {name}\n")
        print(metrics_table({d: r for d, r in by_decoder.items()}))
        print("ms per image: " + ", ".join(f"{d} {r['ms_per_image']}" for d, r in by_decoder.items()))
    summary = {name: {d: {k: v for k, v in r.items() if k != "preds"} for d, r in by.items()}
               for name, by in results.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nmetrics and sheets in {out_dir}")
    if args.publish:
        publish(args, predictor, summary)
    return summary


def publish(args, predictor: WordPredictor, summary: dict) -> None:
    from ocr_common.manifest import publish as ship

    path = predictor.runtime.model_path
    cmd = Path(args.model).parent / "command.txt"
    cfg = predictor.config
    entry = ship(args.publish, SHIPPED_NAME, "word", path, path.with_suffix(".json"),
                 architecture=f"CRNN ({cfg.head} head, {cfg.units} units) + CTC, {cfg.height}x{cfg.width}",
                 dataset="synthetic handwriting (18 font packages) + words composed from real letter crops",
                 command=cmd.read_text().strip() if cmd.exists() else None,
                 evaluate_command=f"python -m handwrite_word_ocr.evaluate --model {args.publish}/{SHIPPED_NAME}.keras"
                 + (f" --words-dev {args.words_dev}" if args.words_dev else ""),
                 metrics=summary, params=predictor.runtime.model.count_params())
    print(f"published {entry['file']} sha256 {entry['sha256'][:12]}... to {args.publish}/manifest.json")


if __name__ == "__main__":
    main()
