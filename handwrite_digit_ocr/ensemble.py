"""Average several trained character models into one servable model.

    python -m handwrite_digit_ocr.ensemble runs/digit-kaggle_cnn runs/digit-vgg --out runs/digit-ensemble

Each argument is a run directory (its ``best.keras``) or a ``.keras`` file. The result is
one Keras model (input -> every member -> mean of the softmax outputs) saved as
``<out>/best.keras`` with its config, so the server and ``evaluate`` treat it like any
other model: one file, one compiled call per batch.

With ``--select`` the candidates are filtered on the *validation* split (never the test
set): greedy forward selection (Caruana et al., 2004, without replacement) starts from the
candidate with the lowest validation log-loss and keeps adding the one that lowers the
averaged ensemble's log-loss most, stopping when none does. Log-loss rather than the error
count, because a few thousand validation images leave only a dozen errors to tell the
candidates apart. Each step is printed as a table.

    python -m handwrite_digit_ocr.ensemble runs/digit-* --select --data-dir ../shared/data --out runs/digit-ensemble
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

import numpy as np


def _model_file(p: str) -> Path:
    path = Path(p)
    return path / "best.keras" if path.is_dir() else path


def _label(f: Path) -> str:
    """A run directory's name for ``runs/x/best.keras``, else the file name."""
    return f.parent.name if f.name == "best.keras" else f.name


def log_loss(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-probability of the true class (probabilities clipped at 1e-7)."""
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0))))


def greedy_select(probs: list[np.ndarray], y: np.ndarray) -> list[dict]:
    """Forward selection on held-out probabilities ``probs[i]`` (N, classes) with labels ``y``.

    Returns the steps taken, each ``{"member": index, "log_loss": ..., "errors": ...}`` for the
    ensemble after adding that member; the selected members are the ``member`` fields in order.
    """
    if not probs:
        raise ValueError("no candidates to select from")
    chosen: list[int] = []
    total = np.zeros_like(probs[0], dtype=np.float64)
    steps: list[dict] = []
    best = float("inf")
    while len(chosen) < len(probs):
        trials = [(log_loss((total + p) / (len(chosen) + 1), y), i) for i, p in enumerate(probs) if i not in chosen]
        loss, i = min(trials)
        if loss >= best:
            break
        best = loss
        chosen.append(i)
        total += probs[i]
        errors = int(np.sum((total / len(chosen)).argmax(1) != y))
        steps.append({"member": i, "log_loss": loss, "errors": errors})
    return steps


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
    ap.add_argument("--select", action="store_true",
                    help="keep only the members greedy forward selection picks on the validation split")
    ap.add_argument("--dataset", default=None,
                    help="dataset whose validation split --select uses [mnist for digit models, letters-dir for "
                         "letter models]")
    ap.add_argument("--data-dir", default=None, help="data folder [--data-dir > $OCR_DATA_DIR > ./data]")
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
    if args.select:
        keep = _select_on_validation(members, files, configs[0], args.dataset, args.data_dir)
        files, configs, members = [files[i] for i in keep], [configs[i] for i in keep], [members[i] for i in keep]
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


def _select_on_validation(members, files, cfg, dataset: str | None, data_dir: str | None) -> list[int]:
    """Run every candidate on the validation split once, print the selection table, return indices."""
    from handwrite_digit_ocr.data import check_labels, default_dataset, load_dataset, to_model_input

    dataset = dataset or default_dataset(cfg.task)
    data = load_dataset(dataset, data_dir)
    check_labels(data, cfg.labels, dataset)
    x = to_model_input(data.x_val)
    probs = [np.asarray(m.predict(x, batch_size=500, verbose=0), np.float64) for m in members]
    print(f"| candidate | val log-loss | val errors (of {len(x)}) |\n|---|---|---|")
    for f, p in zip(files, probs):
        print(f"| {_label(f)} | {log_loss(p, data.y_val):.4f} | {int(np.sum(p.argmax(1) != data.y_val))} |")
    steps = greedy_select(probs, data.y_val)
    print("\n| step | added | ensemble val log-loss | ensemble val errors |\n|---|---|---|---|")
    for k, st in enumerate(steps, 1):
        print(f"| {k} | {_label(files[st['member']])} | {st['log_loss']:.4f} | {st['errors']} |")
    return [st["member"] for st in steps]


if __name__ == "__main__":
    main()
