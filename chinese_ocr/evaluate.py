"""Measure a Chinese line recogniser: character accuracy (1 - CER) and whole-line accuracy.

    python -m chinese_ocr.evaluate --model runs/zh-crnn/best.keras [--zh-dev ../shared/data/zh_dev] [--publish models]

Sets (each one that is present):

* ``heldout-font``: synthetic lines in AR PL UMing, a face of the training packages that
  training never sees;
* ``eval-fonts``: synthetic lines in faces from packages the project never trains on (AR PL
  UKai, AR PL SungtiL / KaitiM GB, Droid Sans Fallback);
* ``print-eval-fonts``: clean printed lines of words in those faces (``chinese_ocr.synth.print_lines``:
  black type on white, no augmentation, no lines of evenly drawn rare characters), the plain case
  the issue's yardstick describes (``--n-print``);
* ``plates-val``: the real licence plates of the validation part of the plate split;
* ``zh-dev``: real Chinese text lines (``--zh-dev``, never trained on);
* ``--folder NAME=DIR``: any labelled folder (``labels.tsv``: file, text).

Every set is read with every decoder and printed as one table; ``--out-dir`` gets
``metrics.json`` and PNG sheets of sample lines with their readings. A training checkpoint
(logits) is cut to the inference model first; ``--publish MODELS_DIR`` ships it with these figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from chinese_ocr.charset import WIDTH_TWINS
from chinese_ocr.recognize import DECODERS, DEFAULT_DECODER, LineRecognizer
from ocr_common.ctc import text_metrics

SHIPPED_NAME = "chinese"
PLATE_NAME = "chinese_plates"  # the plate reader's manifest entry


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m chinese_ocr.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = ap.add_argument_group("options (defaults in brackets)")
    d.add_argument("--model", default=f"models/{SHIPPED_NAME}.keras",
                   help="checkpoint or inference model [%(default)s]")
    d.add_argument("--synth-dir", default="data/zh_synth",
                   help="held-out shards (rendered when missing) [data/zh_synth]")
    d.add_argument("--n-synth", type=int, default=1000, help="lines per synthetic held-out set [1000]")
    d.add_argument("--n-print", type=int, default=600, help="clean printed lines in the eval faces (0: none) [600]")
    d.add_argument("--plates", default="../shared/data/plates", help="plate folder; its validation split is read "
                   "['' for none, default %(default)s]")
    d.add_argument("--zh-dev", default=None, help="labelled real lines (labels.tsv: file, text)")
    d.add_argument("--folder", action="append", default=[], metavar="NAME=DIR", help="more labelled folders")
    d.add_argument("--decoders", nargs="+", default=list(DECODERS), choices=DECODERS, help="[all]")
    d.add_argument("--lm-alpha", type=float, nargs="+", default=[], metavar="A",
                   help="also read with beam-lm at these weights of its language model (rows beam-lm@A)")
    d.add_argument("--no-variants", action="store_true",
                   help="read each line once, not three ways (chinese_ocr.preprocess.reading_variants)")
    d.add_argument("--plate-model", default=None,
                   help="plate reader for the lines that look like plates (chinese_ocr.recognize) [the manifest's "
                        f"{PLATE_NAME} beside --model; '' for none]")
    d.add_argument("--out-dir", default="runs/zh-eval", help="metrics.json and sheets [runs/zh-eval]")
    d.add_argument("--publish", default=None, metavar="MODELS_DIR", help="ship --model into this folder")
    return ap


def inference_file(path: str | Path) -> Path:
    """``path`` itself when it is an inference model (softmax output); a training checkpoint is cut
    to one, written once beside it as ``inference.keras`` (+ ``.json``)."""
    from chinese_ocr.config import ChineseConfig
    from chinese_ocr.model import inference_model
    from ocr_common import export

    return export.inference_file(path, ChineseConfig, lambda m, _: inference_model(m),
                                 lambda m, *_: m.layers[-1].name != "probs")


def evaluate_lines(rec: LineRecognizer, images: list[np.ndarray], truths: list[str],
                   decoders: list[str]) -> dict[str, dict]:
    """Per decoder: text metrics (``char_accuracy`` = 1 - CER), readings and ms per line.
    ``beam-lm@A``: beam-lm with its language model weighted ``A``."""
    import keras

    out: dict[str, dict] = {}
    bar = keras.utils.Progbar(len(decoders) * len(images), unit_name="line")
    served_alpha = rec.lm_alpha
    try:
        for name in decoders:
            decoder, _, alpha = name.partition("@")
            rec.lm_alpha = float(alpha) if alpha else served_alpha
            t0 = time.perf_counter()
            preds = []
            for i in range(0, len(images), 32):
                preds += [r.text for r in rec.read(images[i : i + 32], decoder)]
                bar.add(len(images[i : i + 32]))
            ms = 1000 * (time.perf_counter() - t0) / max(len(images), 1)
            m = text_metrics(preds, truths)
            out[name] = {"char_accuracy": round(1.0 - m["cer"], 4), "line_accuracy": m["word_accuracy"], **m,
                         "errors": error_kinds(preds, truths), "ms_per_line": round(ms, 2), "preds": preds}
    finally:
        rec.lm_alpha = served_alpha  # the recogniser reads as served again
    return out


def error_kinds(preds: list[str], truths: list[str]) -> dict[str, float]:
    """Where the character errors come from, as shares of the truth's characters (they add up to
    the CER): ``space`` (a space missed or added: what is left once both sides lose their
    spaces), ``width`` (a Chinese punctuation mark read as its ASCII twin or back, ``（`` for
    ``(``), ``other`` (the errors left)."""
    from ocr_common.ctc import edit_distance

    def edits(fold) -> int:
        return sum(edit_distance(fold(p), fold(t)) for p, t in zip(preds, truths))

    chars = max(sum(len(t) for t in truths), 1)
    exact = edits(lambda s: s)
    no_space = edits(lambda s: s.replace(" ", ""))
    folded = edits(lambda s: s.replace(" ", "").translate(WIDTH_TWINS))
    return {"space": round((exact - no_space) / chars, 4), "width": round((no_space - folded) / chars, 4),
            "other": round(folded / chars, 4)}


def table(rows: dict[str, dict]) -> str:
    """Markdown table, one row per decoder (or set): lines, character and line accuracy, the errors
    by kind (:func:`error_kinds`), ms per line."""
    out = ["| name | lines | char accuracy | line accuracy | errors: spaces | width | other | ms / line |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in rows.items():
        e = r.get("errors") or {}
        kinds = " | ".join(f"{e[k]:.4f}" if k in e else "" for k in ("space", "width", "other"))
        out.append(f"| {name} | {r['n']} | {r['char_accuracy']:.4f} | {r['line_accuracy']:.4f} | {kinds} | "
                   f"{r['ms_per_line']} |")
    return "\n".join(out)


def sheet(images: list[np.ndarray], truths: list[str], preds: list[str], path: Path, title: str, n: int = 40) -> Path:
    """A PNG grid of lines with their reading (green when right, red when wrong, truth beside)."""
    from chinese_ocr.fonts import FONT_ROOT, TRAIN_FACES
    from ocr_common.sheets import reading_sheet

    return reading_sheet(images, truths, preds, path, title, n=n, cell=(3.4, 1.2), chars=24,
                         font_file=str(FONT_ROOT / TRAIN_FACES[0].path))


def _sets(args, charset, plate_reader: bool = False) -> dict[str, tuple[list[np.ndarray], list[str]]]:
    """The sets to read: the synthetic held-out lines (a plate reader: plates in the held-out face,
    as its training run measured them), the plates' validation split, ``--zh-dev``, ``--folder``."""
    from chinese_ocr.data import load_labelled_folder, load_shards, plate_split
    from chinese_ocr.synth import print_lines, render_heldout, rendered_plates
    from ocr_common.shards import shard_files

    if plate_reader:
        held_out = {"heldout-plates": rendered_plates(args.n_synth)}
    else:
        held_out = {name: load_shards(shard_files(folder), args.n_synth)[:2]
                    for name, folder in render_heldout(args.synth_dir, args.n_synth).items()}
    # back to dark ink on paper, as a photo is
    sets: dict[str, tuple[list[np.ndarray], list[str]]] = {
        name: ([255 - im for im in x], texts) for name, (x, texts) in held_out.items()}
    if args.n_print > 0 and not plate_reader:
        from chinese_ocr.fonts import faces

        if faces("eval"):
            sets["print-eval-fonts"] = print_lines(args.n_print)
        else:
            print("print-eval-fonts: the evaluation faces (fonts-arphic-*, fonts-droid-fallback) are not installed")
    if args.plates and (Path(args.plates) / "labels.tsv").is_file():
        _, val = plate_split(args.plates)
        sets["plates-val"] = ([s.image for s in val], [s.text for s in val])
    folders = ([f"zh-dev={args.zh_dev}"] if args.zh_dev else []) + list(args.folder)
    for spec in folders:
        name, _, folder = spec.partition("=")
        lines = load_labelled_folder(folder)
        sets[name] = ([s.image for s in lines], [s.text for s in lines])
    for name, (_, texts) in sets.items():
        keep = [i for i, t in enumerate(texts) if charset.covers(t)]
        if len(keep) < len(texts):
            print(f"{name}: {len(texts) - len(keep)} lines have characters outside the charset (kept, counted wrong)")
    return sets


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    from chinese_ocr.charset import PLATES
    from chinese_ocr.config import ChineseConfig
    from chinese_ocr.predict import companion
    from chinese_ocr.recognize import config_path_for
    from ocr_common.config import load_config

    model_path = inference_file(args.model)
    cfg = load_config(ChineseConfig, config_path_for(model_path))
    plate_reader = cfg.charset == PLATES
    plates = args.plate_model
    if plates is None:
        plates = None if plate_reader else companion(Path(args.model).parent, PLATE_NAME)
    elif plate_reader and plates:
        raise SystemExit("--model is a plate reader itself: leave out --plate-model")
    if plates:
        print(f"plate reader: {plates}", flush=True)
    rec = LineRecognizer(model_path, cfg, variants=not args.no_variants,
                         plate_model=inference_file(plates) if plates else None)
    out_dir = Path(args.out_dir)
    results: dict[str, dict[str, dict]] = {}
    for name, (images, truths) in _sets(args, rec.charset, plate_reader).items():
        print(f"\n{name}: {len(images)} lines", flush=True)
        results[name] = evaluate_lines(rec, images, truths, args.decoders + [f"beam-lm@{a}" for a in args.lm_alpha])
        best = results[name].get(DEFAULT_DECODER) or next(iter(results[name].values()))  # as served
        sheet(images, truths, best["preds"], out_dir / f"sheet-{name}.png", f"{name}: {Path(args.model).name}")
    for name, by_decoder in results.items():
        print(f"\n### {name} ({len(next(iter(by_decoder.values()))['preds'])} lines)\n")
        print(table(by_decoder))
    summary = {name: {d: {k: v for k, v in r.items() if k != "preds"} for d, r in by.items()}
               for name, by in results.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(f"\nmetrics and sheets in {out_dir}")
    if args.publish:
        publish(args, rec, summary, plate_reader)
    return summary


def publish(args, rec: LineRecognizer, summary: dict, plate_reader: bool = False) -> None:
    from ocr_common.manifest import publish as ship

    path = rec.runtime.model_path
    cmd = Path(args.model).parent / "command.txt"
    cfg = rec.config
    name = PLATE_NAME if plate_reader else SHIPPED_NAME
    dataset = ("licence plates rendered while training (the training faces) + the real plates' train split, "
               "each photo drawn afresh every time (chinese_ocr.augment)") if plate_reader else (
               "synthetic lines (10 CJK font packages, jieba text), easy lines of evenly drawn characters "
               "(chinese_ocr.glyphs) + real licence plates (train split)")
    entry = ship(args.publish, name, "chinese", path, path.with_suffix(".json"),
                 architecture=f"{cfg.arch} + CTC, {cfg.height} px high, width / {cfg.stride} frames, "
                 f"{len(cfg.chars)} characters ({cfg.charset})",
                 dataset=dataset, command=cmd.read_text().strip() if cmd.exists() else None,
                 evaluate_command=f"python -m chinese_ocr.evaluate --model {args.publish}/{name}.keras "
                 f"--n-synth {args.n_synth} --n-print {args.n_print}"
                 + (f" --zh-dev {args.zh_dev}" if args.zh_dev else ""),
                 metrics=summary, params=rec.runtime.model.count_params())
    print(f"published {entry['file']} sha256 {entry['sha256'][:12]}... to {args.publish}/manifest.json")


if __name__ == "__main__":
    main()
