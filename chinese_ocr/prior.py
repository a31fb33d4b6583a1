"""A grown recogniser's new characters made as rare as they are in text (logit adjustment).

    python -m chinese_ocr.prior --model runs/zh-gb-head/best.keras --source models/chinese.keras \\
        --shift 3.7 --out runs/zh-gb-prior/model.keras

A classifier grown to more characters (``chinese_ocr.train --init-from --keep-columns``) learns
its new ones on lines that show them far more often than text does: there, half of every batch
drew characters evenly from GB 2312, so level 2 was a quarter of the characters, where text
drawn by jieba's word frequencies has 0.8 %. Read as trained, an unfamiliar face's common
character now and then loses to a rare one that looks alike (``的`` read ``趵``). Subtracting
``log(p_train / p_text)`` from a class's logit is the Bayes correction for such a change of
priors (Menon et al. 2021, "Long-tail learning via logit adjustment"); here one ``--shift`` for
every character ``--source`` could not write, the others unchanged (docs/chinese.md gives the
figures behind 3.7). The output is an inference model with its config and a ``command.txt`` that
chains the training run's command with this one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m chinese_ocr.prior", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="the grown recogniser (checkpoint or inference model)")
    ap.add_argument("--source", required=True,
                    help="the recogniser it was grown from (its characters keep their logits)")
    ap.add_argument("--shift", type=float, required=True, help="nats taken off the logits of the new characters")
    ap.add_argument("--out", required=True, help="the .keras file to write (config and command.txt beside it)")
    return ap


def new_columns(chars: str, source_chars: str) -> np.ndarray:
    """Classifier columns (blank = 0) of the characters of ``chars`` that ``source_chars`` lacks."""
    from ocr_common.ctc_model import matched_columns

    return np.setdiff1d(np.arange(1, len(chars) + 1), matched_columns(chars, source_chars)[0]).astype(np.int64)


def shift_new(model, chars: str, source_chars: str, shift: float) -> int:
    """Lower the ``logits`` bias of the new characters by ``shift``; returns how many columns."""
    layer = model.get_layer("logits")
    kernel, bias = layer.get_weights()
    cols = new_columns(chars, source_chars)
    bias = bias.copy()
    bias[cols] -= shift
    layer.set_weights([kernel, bias])
    return len(cols)


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    from chinese_ocr.config import ChineseConfig
    from chinese_ocr.evaluate import inference_file
    from chinese_ocr.interpolate import keras_out, write_derived
    from ocr_common.config import load_config
    from ocr_common.export import load_keras_model

    out = keras_out(args.out)
    path, src = inference_file(args.model), inference_file(args.source)
    cfg = load_config(ChineseConfig, path.with_suffix(".json"))
    src_chars = load_config(ChineseConfig, src.with_suffix(".json")).chars
    if not set(src_chars) < set(cfg.chars):
        raise SystemExit(f"{args.model} does not write more characters than {args.source}: nothing is new")
    model = load_keras_model(path, compile=False)
    n = shift_new(model, cfg.chars, src_chars, args.shift)
    write_derived(model, cfg, out, args.model, "chinese_ocr.prior", argv)
    print(f"wrote {out}: {n} new characters' logits lowered by {args.shift:g}")
    return out


if __name__ == "__main__":
    main()
