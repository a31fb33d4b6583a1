"""CharPredictor's ONNX Runtime backend: same answers as TensorFlow, exported once, safe fallbacks."""

from __future__ import annotations

import logging
import os
import shutil
import sys

import numpy as np
import pytest

from handwrite_digit_ocr.predict import CharPredictor

ATOL = 1e-4


def _needs_onnx():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")


@pytest.fixture(scope="module")
def predictors(tiny_models_dir, tmp_path_factory):
    """The tiny digit model under both backends (ONNX exported into a private cache)."""
    _needs_onnx()
    cache = tmp_path_factory.mktemp("onnx-cache")
    weights = tiny_models_dir / "digit.keras"
    return CharPredictor(weights, backend="tf"), CharPredictor(weights, backend="onnx", onnx_cache_dir=cache), cache


@pytest.mark.parametrize("n", [1, 5, 32, 40])
def test_onnx_matches_tf(predictors, n):
    tf_pred, onnx_pred, _ = predictors
    assert tf_pred.backend == "tf" and onnx_pred.backend == "onnx"
    x = np.random.default_rng(n).random((n, 28, 28, 1), dtype=np.float32)
    got, expected = onnx_pred.predict_proba(x), tf_pred.predict_proba(x)
    assert got.shape == expected.shape == (n, 10)
    assert np.max(np.abs(got - expected)) < ATOL


def test_onnx_predict_gives_same_labels(predictors):
    from tests.http_helpers import digit_like

    tf_pred, onnx_pred, _ = predictors
    images = [digit_like(i) for i in range(6)] + [255 - digit_like(7)]
    for a, b in zip(tf_pred.predict(images), onnx_pred.predict(images), strict=True):
        assert a.label == b.label and abs(a.confidence - b.confidence) < ATOL


def test_export_is_cached_by_weights_hash(predictors, tiny_models_dir):
    from ocr_common.io import sha256_file

    _, onnx_pred, cache = predictors
    path = onnx_pred.onnx_file
    assert path.parent == cache / "onnx" and sha256_file(tiny_models_dir / "digit.keras")[:16] in path.name
    before = path.stat().st_mtime_ns
    again = CharPredictor(tiny_models_dir / "digit.keras", backend="onnx", onnx_cache_dir=cache)
    assert again.onnx_file == path and path.stat().st_mtime_ns == before  # reused, not re-exported


def test_onnx_file_beside_weights_used_when_newer(models_copy, tmp_path):
    _needs_onnx()
    from ocr_common.export import export_onnx

    weights = models_copy / "digit.keras"
    first = CharPredictor(weights, backend="onnx", onnx_cache_dir=tmp_path / "c1")
    beside = export_onnx(first.model, weights.with_suffix(".onnx"))
    pred = CharPredictor(weights, backend="onnx", onnx_cache_dir=tmp_path / "c2")
    assert pred.backend == "onnx" and pred.onnx_file == beside
    assert not (tmp_path / "c2").exists()

    # Weights newer than the .onnx beside them: that export is stale, the cache is used instead.
    os.utime(beside, (1, 1))
    pred = CharPredictor(weights, backend="onnx", onnx_cache_dir=tmp_path / "c3")
    assert pred.backend == "onnx" and pred.onnx_file.parent == tmp_path / "c3" / "onnx"


def test_foreign_onnx_file_fails_parity_and_falls_back(models_copy, tmp_path, caplog):
    _needs_onnx()
    import keras

    from handwrite_digit_ocr.config import CharConfig
    from handwrite_digit_ocr.model import build_model
    from ocr_common.export import export_onnx

    keras.utils.set_random_seed(123)  # other random weights than the fixture's
    export_onnx(build_model(CharConfig(arch="simple_cnn")), models_copy / "digit.onnx")
    with caplog.at_level(logging.WARNING, logger="ocr_common.runtime"):
        pred = CharPredictor(models_copy / "digit.keras", backend="onnx", onnx_cache_dir=tmp_path)
    assert pred.backend == "tf" and pred.onnx_file is None
    assert "differs from the Keras model" in caplog.text and "serving with TensorFlow" in caplog.text


def test_missing_onnxruntime_falls_back_to_tf(tiny_models_dir, tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with caplog.at_level(logging.WARNING, logger="ocr_common.runtime"):
        pred = CharPredictor(tiny_models_dir / "digit.keras", backend="onnx", onnx_cache_dir=tmp_path)
    assert pred.backend == "tf"
    assert "onnxruntime is not installed" in caplog.text
    assert pred.predict_proba(np.zeros((2, 28, 28, 1), np.float32)).shape == (2, 10)


def test_unknown_backend_is_refused(tiny_models_dir):
    with pytest.raises(ValueError, match="unknown backend"):
        CharPredictor(tiny_models_dir / "digit.keras", backend="tensorrt")


def test_create_app_with_onnx_backend(models_copy, tmp_path, monkeypatch):
    _needs_onnx()
    from serving import create_app
    from tests.http_helpers import digit_like, encode

    monkeypatch.setenv("OCR_CACHE_DIR", str(tmp_path / "cache"))
    app = create_app(models_copy, backend="onnx", batch_wait_ms=1)
    predictor = app.extensions["ocr_registry"].get("digit").predictor
    try:
        assert predictor.backend == "onnx" and predictor.onnx_file.is_relative_to(tmp_path / "cache")
        resp = app.test_client().post("/predict/digit", data=encode(digit_like(0)), content_type="image/png")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert resp.get_json()["results"][0]["label"] in "0123456789"
    finally:
        predictor.close()
    shutil.rmtree(tmp_path / "cache")
