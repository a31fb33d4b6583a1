"""Export a trained ``.keras`` model to a TensorFlow SavedModel or an ONNX file, then prove it.

    python -m ocr_common.export models/digit.keras --format onnx
    python -m ocr_common.export models/digit.keras --format savedmodel --out build/digit_sm

Every export is followed by a parity check: the exported artifact and the Keras model run on the
same random batch and the largest absolute difference is printed; above ``--atol`` the command
exits non-zero, so a broken conversion never reaches a model folder unnoticed.

Both formats come from Keras 3's ``model.export``: ``tf_saved_model`` (the ``.pb`` layout that TF
Serving and TF Java load, with a ``serving_default`` signature) and ``onnx`` (tf2onnx under the
TensorFlow backend; Keras patches tf2onnx's numpy-2 gaps itself).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

FORMATS: tuple[str, ...] = ("savedmodel", "onnx")

# Task packages whose ``model.py`` may define ``CUSTOM_OBJECTS``; a package that does not exist
# (yet) is skipped, so adding a task means adding one name here.
TASK_MODEL_MODULES: tuple[str, ...] = (
    "handwrite_digit_ocr.model",
    "handwrite_word_ocr.model",
    "doc_edge_detection.model",
    "ctpn.model",
    "chinese_ocr.model",
)

# Sizes used for non-batch dimensions declared as ``None`` (e.g. variable-width word images) when
# making the random parity batch.
_FREE_DIM = 32


def known_custom_objects(modules: tuple[str, ...] | list[str] = TASK_MODEL_MODULES) -> dict[str, Any]:
    """Merge the ``CUSTOM_OBJECTS`` dicts of the task model modules that are installed.

    A module that is missing is skipped; an import error *inside* an existing module is raised,
    because hiding it would turn into a confusing "unknown layer" error at load time.
    """
    merged: dict[str, Any] = {}
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is not None and (name == e.name or name.startswith(e.name + ".")):
                continue
            raise
        for key, obj in getattr(module, "CUSTOM_OBJECTS", {}).items():
            if key in merged and merged[key] is not obj:
                warnings.warn(
                    f"custom object {key!r} from {name} shadowed by an earlier task; keeping the first", stacklevel=2
                )
                continue
            merged[key] = obj
    return merged


def load_keras_model(path: str | Path, compile: bool = True):
    """Load a ``.keras`` file in safe mode (no pickled lambdas) with every known custom layer;
    ``compile=False`` skips the optimizer and loss (serving needs neither)."""
    import keras

    return keras.saving.load_model(path, custom_objects=known_custom_objects(), compile=compile, safe_mode=True)


def inference_file(path: str | Path, config_cls: type, cut: Callable[[Any, Any], Any],
                   needs_cut: Callable[[Any, Any, Path], bool]) -> Path:
    """The model to run and ship for the checkpoint ``path`` (config in the ``.json`` beside it):
    ``path`` itself unless ``needs_cut(model, cfg, path)``; otherwise ``cut(model, cfg)`` (the
    task's inference model), written once beside it as ``inference.keras`` (+ ``.json``) and
    reused while it is newer than the checkpoint."""
    from ocr_common.config import load_config, save_config

    path = Path(path)
    out = path.with_name("inference.keras")
    if path == out:
        return path
    if out.exists() and out.stat().st_mtime >= path.stat().st_mtime:
        return out
    cfg = load_config(config_cls, path.with_suffix(".json"))
    model = load_keras_model(path, compile=False)
    if not needs_cut(model, cfg, path):
        return path
    cut(model, cfg).save(out)
    save_config(cfg, out.with_suffix(".json"))
    return out


def _input_signature(model) -> list:
    """One ``tf.TensorSpec`` per model input (same nesting as ``model.input``), batch left free."""
    import keras
    import tensorflow as tf

    def spec(t):
        return tf.TensorSpec(tuple(t.shape), t.dtype, name=t.name)

    return [keras.tree.map_structure(spec, model.input)]


def _replace(tmp: Path, path: Path) -> None:
    """Move a finished artifact into place; an old one is renamed away first so ``path`` is never
    a half-written export (a directory cannot be swapped atomically over a non-empty one)."""
    # mkstemp / mkdtemp create owner-only entries; a serving process under another user must read them.
    tmp.chmod(0o755 if tmp.is_dir() else 0o644)
    old = None
    if path.exists() or path.is_symlink():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        if old is not None:
            os.replace(old, path)
        raise
    if old is None:
        return
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old)
    else:
        old.unlink()


def export_savedmodel(model, path: str | Path) -> Path:
    """Write a TensorFlow SavedModel directory whose ``serving_default`` signature takes the
    model's named input(s) and returns ``{"output_0": ...}``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        model.export(str(tmp), format="tf_saved_model", input_signature=_input_signature(model), verbose=False)
        _replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


# How many times an ONNX export is tried before a wrong output rank is an error (see export_onnx).
_ONNX_ATTEMPTS = 5


def keras_outputs(model) -> list:
    """The model's symbolic outputs as a flat list, in Keras' order."""
    import keras

    return keras.tree.flatten(model.outputs)


def export_onnx(model, path: str | Path, opset: int | None = None) -> Path:
    """Write an ONNX file (opset ``opset``, tf2onnx's default when None) with a dynamic batch axis
    named ``batch``; the result is validated with ``onnx.checker``."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".onnx", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        for attempt in range(1, _ONNX_ATTEMPTS + 1):
            with warnings.catch_warnings():
                # Keras' numpy-2 shim for tf2onnx probes ``np.object``, which numpy >= 2.3 warns about.
                warnings.filterwarnings("ignore", message=r".*np\.object.*", category=FutureWarning)
                model.export(
                    str(tmp), format="onnx", input_signature=_input_signature(model), opset_version=opset,
                    verbose=False,
                )
            proto = onnx.load(str(tmp))
            got = [len(v.type.tensor_type.shape.dim) for v in proto.graph.output]
            want = [len(t.shape) for t in keras_outputs(model)]
            if got == want:
                break
            # tf2onnx 1.17's transpose optimiser now and then (about one export in ten of a model
            # with two 1-channel outputs) drops the Squeeze after a shared Reshape, leaving an
            # output with an extra leading axis. Its passes are not seeded, so exporting again fixes it.
            if attempt == _ONNX_ATTEMPTS:
                raise RuntimeError(f"tf2onnx gave output ranks {got} for Keras' {want} in {attempt} attempts")
        # tf2onnx names the free batch axis "unk__N"; a stable name reads better in Netron / serving logs.
        for value in list(proto.graph.input) + list(proto.graph.output):
            dims = value.type.tensor_type.shape.dim
            if dims and dims[0].dim_param.startswith("unk__"):
                dims[0].dim_param = "batch"
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        _replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def random_inputs(model, n: int = 8, seed: int = 0, free_size=None):
    """A random batch shaped like ``model.input``: floats in [0, 1) (the range preprocessing
    produces), small ints for integer inputs; a free non-batch axis ``a`` (1-based) gets size
    ``free_size(a)``, 32 by default."""
    import keras

    rng = np.random.default_rng(seed)
    size = free_size or (lambda axis: _FREE_DIM)

    def sample(t):
        shape = (n,) + tuple(size(i + 1) if d is None else d for i, d in enumerate(t.shape[1:]))
        dtype = np.dtype(t.dtype)
        if np.issubdtype(dtype, np.integer):
            return rng.integers(0, 10, size=shape).astype(dtype)
        return rng.random(shape).astype(dtype)

    return keras.tree.map_structure(sample, model.input)


def _run_keras(model, inputs) -> list[np.ndarray]:
    import keras

    out = model(inputs, training=False)
    return [keras.ops.convert_to_numpy(o) for o in keras.tree.flatten(out)]


def _feed(model, inputs, names: list[str]) -> dict[str, np.ndarray]:
    """Map the artifact's input names to arrays; by name when they match, else by position."""
    import keras

    tensors = keras.tree.flatten(model.input)
    arrays = keras.tree.flatten(inputs)
    by_name = {t.name: a for t, a in zip(tensors, arrays, strict=True)}
    if set(names) == set(by_name):
        return {name: by_name[name] for name in names}
    return dict(zip(names, arrays, strict=True))


def _run_savedmodel(model, path: Path, inputs) -> list[np.ndarray]:
    import tensorflow as tf

    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    names = list(fn.structured_input_signature[1])
    out = fn(**{k: tf.constant(v) for k, v in _feed(model, inputs, names).items()})
    # Keras names outputs output_0, output_1, ...; sort numerically to restore model order.
    keys = sorted(out, key=lambda k: int(k.rsplit("_", 1)[-1]) if k.rsplit("_", 1)[-1].isdigit() else k)
    return [out[k].numpy() for k in keys]


def _run_onnx(model, path: Path, inputs) -> list[np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, _feed(model, inputs, names))


def check_parity(model, path: str | Path, fmt: str, n: int = 8, seed: int = 0) -> float:
    """Max absolute difference between ``model`` and the exported artifact at ``path`` on one
    random batch of ``n`` inputs."""
    runners = {"savedmodel": _run_savedmodel, "onnx": _run_onnx}
    if fmt not in runners:
        raise ValueError(f"unknown format {fmt!r}; choose one of {list(FORMATS)}")
    inputs = random_inputs(model, n=n, seed=seed)
    return max_difference(_run_keras(model, inputs), runners[fmt](model, Path(path), inputs))


def max_difference(expected: list[np.ndarray], got: list[np.ndarray]) -> float:
    """Largest absolute difference between two lists of outputs (Keras' and an exported
    artifact's); a different number of outputs or a different shape raises ``AssertionError``."""
    if len(got) != len(expected):
        raise AssertionError(f"exported artifact has {len(got)} outputs, Keras model has {len(expected)}")
    diff = 0.0
    for e, g in zip(expected, got, strict=True):
        if e.shape != np.shape(g):
            raise AssertionError(f"output shape mismatch: Keras {e.shape} vs exported {np.shape(g)}")
        diff = max(diff, float(np.max(np.abs(e.astype(np.float64) - np.asarray(g, dtype=np.float64)), initial=0.0)))
    return diff


def default_out(model_path: str | Path, fmt: str) -> Path:
    """``models/digit.keras`` -> ``models/digit.onnx`` or ``models/digit_savedmodel``."""
    p = Path(model_path)
    return p.with_suffix(".onnx") if fmt == "onnx" else p.with_name(p.stem + "_savedmodel")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ocr_common.export",
        description="Export a .keras model to a TensorFlow SavedModel or ONNX and check parity.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("model", type=Path, help="path of a .keras model file")
    # Required, so there is no default worth showing in --help.
    parser.add_argument("--format", required=True, choices=FORMATS, default=argparse.SUPPRESS, help="artifact type")
    parser.add_argument(
        "--out", type=Path, default=None, help="output path; None = beside MODEL as <stem>.onnx or <stem>_savedmodel/"
    )
    parser.add_argument("--atol", type=float, default=1e-4, help="fail when max abs difference exceeds this")
    parser.add_argument("--n", type=int, default=8, help="parity batch size")
    parser.add_argument("--seed", type=int, default=0, help="parity batch random seed")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset; None = tf2onnx's default")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.model.is_file():
        print(f"error: model file not found: {args.model}", file=sys.stderr)
        return 2
    out = args.out if args.out is not None else default_out(args.model, args.format)
    model = load_keras_model(args.model)
    if args.format == "onnx":
        export_onnx(model, out, opset=args.opset)
    else:
        export_savedmodel(model, out)
    print(f"wrote {args.format} to {out}")
    diff = check_parity(model, out, args.format, n=args.n, seed=args.seed)
    print(f"max abs difference: {diff:.3g}")
    if not diff <= args.atol:  # also catches NaN
        print(f"error: parity check failed: {diff:.3g} > atol {args.atol:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
