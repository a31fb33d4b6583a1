"""SavedModel / ONNX export of small character models, each checked against Keras."""

from __future__ import annotations

import numpy as np
import pytest

from handwrite_digit_ocr.config import CharConfig
from handwrite_digit_ocr.model import RecurrentConv, build_model
from ocr_common.export import (
    check_parity,
    default_out,
    export_onnx,
    export_savedmodel,
    known_custom_objects,
    load_keras_model,
    main,
)

ATOL = 1e-4

# simple_cnn is the baseline; rcnn (narrow) covers the custom RecurrentConv layer.
CONFIGS = {
    "simple_cnn": CharConfig(arch="simple_cnn"),
    "rcnn": CharConfig(arch="rcnn", width=8),
}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def saved_model_file(request, tmp_path_factory):
    """A freshly built model saved as .keras and loaded back, as the CLI sees it."""
    path = tmp_path_factory.mktemp(request.param) / f"{request.param}.keras"
    build_model(CONFIGS[request.param]).save(path)
    return path


def test_known_custom_objects_include_recurrent_conv():
    objs = known_custom_objects()
    assert objs["RecurrentConv"] is RecurrentConv
    # Task packages that do not exist are skipped rather than failing the lookup.
    assert known_custom_objects(["no_such_task.model", "handwrite_digit_ocr.model"]) == {"RecurrentConv": RecurrentConv}


def test_savedmodel_parity(saved_model_file, tmp_path):
    import tensorflow as tf

    model = load_keras_model(saved_model_file)
    out = export_savedmodel(model, tmp_path / "sm")
    assert (out / "saved_model.pb").is_file()
    sig = tf.saved_model.load(str(out)).signatures["serving_default"]
    assert list(sig.structured_input_signature[1]) == ["image"]
    assert check_parity(model, out, "savedmodel") < ATOL


def test_onnx_parity(saved_model_file, tmp_path):
    import onnxruntime as ort

    model = load_keras_model(saved_model_file)
    out = export_onnx(model, tmp_path / "model.onnx")
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    assert inp.name == "image" and inp.shape == ["batch", 28, 28, 1]
    # Batch axis is dynamic: a batch size other than the parity batch runs too.
    (probs,) = sess.run(None, {"image": np.zeros((3, 28, 28, 1), np.float32)})
    assert probs.shape == (3, 10)
    assert check_parity(model, out, "onnx", n=5, seed=1) < ATOL


def test_export_replaces_existing_artifact(saved_model_file, tmp_path):
    model = load_keras_model(saved_model_file)
    out = tmp_path / "model.onnx"
    out.write_bytes(b"stale")
    export_onnx(model, out)
    assert out.read_bytes() != b"stale"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no temp files left


@pytest.mark.parametrize("fmt", ["savedmodel", "onnx"])
def test_cli(saved_model_file, tmp_path, capsys, fmt):
    out = tmp_path / ("out.onnx" if fmt == "onnx" else "out_sm")
    assert main([str(saved_model_file), "--format", fmt, "--out", str(out)]) == 0
    assert out.exists()
    stdout = capsys.readouterr().out
    assert "max abs difference:" in stdout
    diff = float(stdout.split("max abs difference:")[1].split()[0])
    assert diff < ATOL


def test_cli_fails_above_atol(saved_model_file, tmp_path, capsys):
    # Any difference, even 0, exceeds a negative tolerance: this forces the failure path.
    assert main([str(saved_model_file), "--format", "onnx", "--out", str(tmp_path / "m.onnx"), "--atol", "-1"]) == 1
    assert "parity check failed" in capsys.readouterr().err


def test_cli_missing_model(tmp_path):
    assert main([str(tmp_path / "nope.keras"), "--format", "onnx"]) == 2


def test_default_out():
    assert default_out("models/digit.keras", "onnx").as_posix() == "models/digit.onnx"
    assert default_out("models/digit.keras", "savedmodel").as_posix() == "models/digit_savedmodel"


@pytest.fixture(scope="module", params=["crnn", "page"])
def toy_model(request):
    """A dynamic-width CRNN (one output, free width) and a page model (free height and width,
    three outputs at two resolutions), as the word, HED and CTPN models are."""
    from tests.toy_models import build_crnn, build_page

    return {"crnn": build_crnn, "page": build_page}[request.param]()


@pytest.mark.parametrize("fmt", ["savedmodel", "onnx"])
def test_free_axes_and_several_outputs_export_with_parity(toy_model, fmt, tmp_path):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    out = (export_onnx if fmt == "onnx" else export_savedmodel)(toy_model, tmp_path / f"m.{fmt}")
    assert check_parity(toy_model, out, fmt) < ATOL


def test_onnx_export_keeps_free_axes_free(toy_model, tmp_path):
    """The exported graph runs at sizes other than the parity batch's, with Keras' output order."""
    import keras
    import onnxruntime as ort

    out = export_onnx(toy_model, tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    shape = [3] + [d if d is not None else 24 + 8 * i for i, d in enumerate(toy_model.input.shape[1:])]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    expected = [keras.ops.convert_to_numpy(o) for o in keras.tree.flatten(toy_model(x, training=False))]
    got = sess.run(None, {sess.get_inputs()[0].name: x})
    assert len(got) == len(expected)  # and in Keras' order: side and fused share a shape, not values
    for e, g in zip(expected, got, strict=True):
        assert e.shape == g.shape and np.max(np.abs(e - g)) < ATOL


def test_onnx_export_retries_a_conversion_with_wrong_output_ranks(tmp_path, monkeypatch):
    """tf2onnx now and then returns an output with an extra axis; export_onnx exports again, and
    gives up with an error (never a broken file) when every attempt is wrong."""
    import keras

    from ocr_common import export as export_mod

    def build(rank3: bool):
        inp = keras.Input((4, 4, 1), name="image")
        out = keras.layers.Conv2D(1, 1)(inp)
        if rank3:
            out = keras.layers.Reshape((16, 1))(out)
        return keras.Model(inp, out)

    good, wrong = build(False), build(True)
    calls = []
    real_export = keras.Model.export

    def flaky_export(self, path, **kw):
        calls.append(path)
        return real_export(wrong if len(calls) == 1 or self is wrong else good, path, **kw)

    monkeypatch.setattr(keras.Model, "export", flaky_export)
    out = export_onnx(good, tmp_path / "ok.onnx")
    assert len(calls) == 2 and check_parity(good, out, "onnx") < ATOL

    monkeypatch.setattr(export_mod, "_ONNX_ATTEMPTS", 2)
    # A model whose every export has the wrong rank: compare the 3-D output to a 4-D Keras model.
    calls.clear()
    monkeypatch.setattr(keras.Model, "export", lambda self, path, **kw: real_export(wrong, path, **kw))
    with pytest.raises(RuntimeError, match="output ranks"):
        export_onnx(good, tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ok.onnx"]
