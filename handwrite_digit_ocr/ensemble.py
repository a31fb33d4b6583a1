"""Average several trained character models into one servable model.

    python -m handwrite_digit_ocr.ensemble runs/digit-kaggle_cnn runs/digit-vgg --out runs/digit-ensemble

Each argument is a run directory (its ``best.keras``) or a ``.keras`` file. The result is
one Keras model (input -> every member -> mean of the softmax outputs) saved as
``<out>/best.keras`` with its config, so the server and ``evaluate`` treat it like any
other model: one file, one compiled call per batch.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path


def _model_file(p: str) -> Path:
    path = Path(p)
    return path / "best.keras" if path.is_dir() else path


def build_ensemble(members):
    """Functional model averaging the members' probabilities (members keep their names)."""
    import keras

    inp = keras.Input(shape=members[0].input_shape[1:], name="image")
    outs = []
    for i, m in enumerate(members):
        m.name = f"member{i}_{m.name}"  # unique names: two runs of one architecture may be combined
        outs.append(m(inp, training=False))
    out = keras.layers.Average(name="probs")(outs) if len(outs) > 1 else outs[0]
    return keras.Model(inp, out, name="ensemble")


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(prog="python -m handwrite_digit_ocr.ensemble", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("members", nargs="+", help="run directories or .keras files")
    ap.add_argument("--out", required=True, help="output run directory")
    args = ap.parse_args(argv)
    import keras

    from handwrite_digit_ocr.config import CharConfig
    from handwrite_digit_ocr.model import CUSTOM_OBJECTS
    from handwrite_digit_ocr.predict import config_path_for
    from ocr_common.callbacks import save_model_atomic
    from ocr_common.config import load_config, save_config

    files = [_model_file(p) for p in args.members]
    configs = [load_config(CharConfig, config_path_for(f)) for f in files]
    if len({(c.labels, c.input_size) for c in configs}) != 1:
        raise SystemExit("error: members disagree on labels or input size")
    members = [keras.saving.load_model(f, custom_objects=CUSTOM_OBJECTS, compile=False, safe_mode=True) for f in files]
    model = build_ensemble(members)
    out = Path(args.out)
    dst = save_model_atomic(model, out / "best.keras")
    arch = "ensemble(" + "+".join(c.arch for c in configs) + ")"
    save_config(dataclasses.replace(configs[0], arch=arch), config_path_for(dst))
    member_cmds = [(f.parent / "command.txt").read_text().strip() for f in files if (f.parent / "command.txt").exists()]
    own = shlex.join(["python", "-m", "handwrite_digit_ocr.ensemble", *(argv if argv is not None else sys.argv[1:])])
    (out / "command.txt").write_text(" && ".join([*member_cmds, own]) + "\n")
    print(f"wrote {dst} ({arch}, {model.count_params()} params)")
    return dst


if __name__ == "__main__":
    main()
