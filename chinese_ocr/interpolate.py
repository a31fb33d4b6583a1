"""A recogniser between the shipped one and its fine-tuned copy (:mod:`ocr_common.interpolate`).

    python -m chinese_ocr.interpolate --base models/chinese.keras --tuned runs/zh-spaces/best.keras \\
        --alpha 0.5 --out runs/zh-spaces-mix/model.keras

Both are cut to inference models first (a training checkpoint has the CTC head); they must write
the same characters. The output is an inference model with its config beside it, and a
``command.txt`` that chains the fine-tune's own command (from the tuned run's folder) with this
one, so ``chinese_ocr.evaluate --publish`` records how it was made.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m chinese_ocr.interpolate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="the model fine-tuned from (e.g. models/chinese.keras)")
    ap.add_argument("--tuned", required=True, help="the fine-tuned checkpoint (e.g. runs/zh-spaces/best.keras)")
    ap.add_argument("--alpha", type=float, required=True, help="0 = base, 1 = tuned")
    ap.add_argument("--out", required=True, help="the .keras file to write (config and command.txt beside it)")
    return ap


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    from chinese_ocr.config import ChineseConfig
    from chinese_ocr.evaluate import inference_file
    from ocr_common.config import load_config
    from ocr_common.export import load_keras_model
    from ocr_common.interpolate import interpolate_models

    base_path, tuned_path = inference_file(args.base), inference_file(args.tuned)
    cfg = load_config(ChineseConfig, base_path.with_suffix(".json"))
    if load_config(ChineseConfig, tuned_path.with_suffix(".json")).chars != cfg.chars:
        raise SystemExit(f"{args.base} and {args.tuned} write different characters")
    out = keras_out(args.out)
    model = interpolate_models(load_keras_model(base_path, compile=False),
                               load_keras_model(tuned_path, compile=False), args.alpha)
    write_derived(model, cfg, out, args.tuned, "chinese_ocr.interpolate", argv)
    print(f"wrote {out}: {1 - args.alpha:g} x {args.base} + {args.alpha:g} x {args.tuned}")
    return out


def keras_out(path: str) -> Path:
    out = Path(path)
    if out.suffix != ".keras":
        raise SystemExit(f"--out must be a .keras file, got {out}")
    return out


def write_derived(model, cfg, out: Path, made_from: str, module: str, argv: list[str]) -> None:
    """Save a recogniser made from the checkpoint ``made_from`` by ``python -m module argv``: the
    model, its config beside it and a ``command.txt`` that chains the command of ``made_from``'s
    run folder (when it has one) with this one, so ``chinese_ocr.evaluate --publish`` records how
    it was made."""
    from ocr_common.config import save_config

    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    save_config(cfg, out.with_suffix(".json"))
    run_cmd = Path(made_from).parent / "command.txt"
    steps = [run_cmd.read_text().strip()] if run_cmd.is_file() else []
    steps.append(shlex.join(["python", "-m", module, *argv]))
    (out.parent / "command.txt").write_text(" && ".join(steps) + "\n")


if __name__ == "__main__":
    main()
