"""ocr_common.runtime: every input kind the tasks need, in both backends, with parity, fallback,
thread-safety and micro-batching. Toy models stand in for the task models: a dynamic-width CRNN
(word / text-line images), a fully convolutional page model with several outputs at two
resolutions (HED side outputs, CTPN heads) and the tiny character model of the fixtures."""

from __future__ import annotations

import logging
import math
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ocr_common.runtime import ModelRuntime
from tests.toy_models import build_crnn, build_page

ATOL = 1e-4


def _needs_onnx():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")


KINDS = {
    "crnn": (build_crnn, {"stride": 4, "buckets": {2: (64, 128)}}),
    "page": (build_page, {"stride": 2}),
}


@pytest.fixture(scope="module")
def toy_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy-models")
    files = {}
    for name, (build, _) in KINDS.items():
        files[name] = root / f"{name}.keras"
        build().save(files[name])
    return files


@pytest.fixture(scope="module")
def runtimes(toy_files, tmp_path_factory):
    """{(kind, backend): ModelRuntime} for both toy models under both backends."""
    _needs_onnx()
    cache = tmp_path_factory.mktemp("onnx-cache")
    return {(kind, b): ModelRuntime(toy_files[kind], backend=b, onnx_cache_dir=cache, **KINDS[kind][1])
            for kind in KINDS for b in ("tf", "onnx")}


def word_images(widths=(50, 64, 100, 200, 7)):
    rng = np.random.default_rng(0)
    return [rng.random((32, w, 1), dtype=np.float32) for w in widths]


def page_images(sizes=((31, 40), (64, 17), (10, 10), (33, 33))):
    rng = np.random.default_rng(1)
    return [rng.random((h, w, 3), dtype=np.float32) for h, w in sizes]


def test_both_backends_start(runtimes):
    assert {k: r.backend for k, r in runtimes.items()} == {k: k[1] for k in runtimes}
    assert all(r.onnx_file is not None for (_, b), r in runtimes.items() if b == "onnx")


@pytest.mark.parametrize("kind, images", [("crnn", word_images()), ("page", page_images())])
def test_variable_size_parity(runtimes, kind, images):
    tf_res = runtimes[kind, "tf"].run_images(images)
    onnx_res = runtimes[kind, "onnx"].run_images(images)
    for a, b in zip(tf_res, onnx_res, strict=True):
        assert a.size == b.size and a.padded == b.padded
        for x, y in zip(a.outputs, b.outputs, strict=True):
            assert x.shape == y.shape and np.max(np.abs(x - y)) < ATOL


def test_fixed_size_char_model_parity(tiny_models_dir, tmp_path):
    _needs_onnx()
    weights = tiny_models_dir / "digit.keras"
    tf_rt = ModelRuntime(weights, backend="tf")
    onnx_rt = ModelRuntime(weights, backend="onnx", onnx_cache_dir=tmp_path)
    for n in (0, 1, 5, 32, 70):  # empty, bucket sizes, between buckets, more than max_batch
        x = np.random.default_rng(n).random((n, 28, 28, 1), dtype=np.float32)
        (a,), (b,) = tf_rt.run(x), onnx_rt.run(x)
        assert a.shape == b.shape == (n, 10)
        assert n == 0 or np.max(np.abs(a - b)) < ATOL


@pytest.mark.parametrize("backend", ["tf", "onnx"])
def test_images_run_together_are_padded_to_the_largest_in_one_call(runtimes, backend, monkeypatch):
    rt = runtimes["crnn", backend]
    images = word_images((50, 60, 100))
    calls = []
    run = rt.run
    monkeypatch.setattr(rt, "run", lambda x: calls.append(x.shape) or run(x))
    results = rt.run_images(images, together=True)
    assert calls == [(3, 32, 128, 1)] and [r.padded for r in results] == [(128,)] * 3
    assert [r.outputs[0].shape for r in results] == [(math.ceil(w / 4), 5) for w in (50, 60, 100)]
    for im, r in zip(images, results):  # each as it reads alone at that width
        alone = np.zeros((1, 32, 128, 1), np.float32)
        alone[0, :, : im.shape[1]] = im
        np.testing.assert_allclose(r.outputs[0], run(alone)[0][0, : r.outputs[0].shape[0]], rtol=1e-5, atol=1e-5)
    calls.clear()
    rt.run_images(images)
    assert sorted(calls) == [(1, 32, 128, 1), (2, 32, 64, 1)]  # by bucket: two calls


def test_widths_are_padded_to_buckets_then_stride_and_outputs_cut_back(runtimes):
    rt = runtimes["crnn", "tf"]
    images = word_images((50, 64, 100, 200, 7))
    results = rt.run_images(images)
    assert [r.padded for r in results] == [(64,), (64,), (128,), (200,), (64,)]
    # CTC time steps of the real width only: ceil(w / 4), not those of the padding.
    assert [r.outputs[0].shape for r in results] == [(math.ceil(w / 4), 5) for w in (50, 64, 100, 200, 7)]
    # An image that needs no padding gives exactly what a direct run of it gives.
    (direct,) = rt.run(images[1][None])
    np.testing.assert_allclose(results[1].outputs[0], direct[0], rtol=1e-6, atol=1e-6)


def test_padding_uses_the_background_value(toy_files):
    rt = ModelRuntime(toy_files["crnn"], backend="tf", stride=4, pad_value=0.25)
    padded = rt.pad_image(np.ones((32, 10), np.float32))  # (H, W) accepted for a 1-channel model
    assert padded.shape == (32, 12, 1)
    assert np.all(padded[:, :10] == 1) and np.all(padded[:, 10:] == 0.25)
    with pytest.raises(ValueError, match="needs 32"):
        rt.pad_image(np.ones((31, 10, 1), np.float32))


def test_several_outputs_in_keras_order_and_cropped_per_resolution(runtimes):
    images = page_images(((31, 40), (64, 17)))
    for backend in ("tf", "onnx"):
        results = runtimes["page", backend].run_images(images)
        side, fused, head = results[0].outputs
        assert side.shape == fused.shape == (31, 40, 1) and head.shape == (16, 20, 6)
        side, fused, head = results[1].outputs
        assert side.shape == fused.shape == (64, 17, 1) and head.shape == (32, 9, 6)
        assert results[0].padded == (32, 40) and results[1].padded == (64, 18)


def test_run_rejects_a_wrong_shape(runtimes):
    with pytest.raises(ValueError, match="the model takes"):
        runtimes["crnn", "tf"].run(np.zeros((1, 31, 64, 1), np.float32))


def test_concurrent_callers_get_their_own_answers(runtimes):
    """Thread-safety: 8 threads on one runtime, each answer equal to the sequential one."""
    for backend in ("tf", "onnx"):
        rt = runtimes["crnn", backend]
        rng = np.random.default_rng(5)
        jobs = [[rng.random((32, int(w), 1), dtype=np.float32) for w in rng.integers(8, 160, 3)] for _ in range(24)]
        expected = [rt.run_images(job) for job in jobs]
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(rt.run_images, jobs))
        for exp, res in zip(expected, got, strict=True):
            for e, r in zip(exp, res, strict=True):
                np.testing.assert_allclose(r.outputs[0], e.outputs[0], rtol=1e-5, atol=1e-5)


def test_greedy_batching_merges_callers_and_keeps_shapes_apart(toy_files):
    """Micro-batching on a dynamic-width model: requests of two widths from many threads."""
    direct = ModelRuntime(toy_files["crnn"], backend="tf", stride=4)
    batched = ModelRuntime(toy_files["crnn"], backend="tf", stride=4, batching=True)
    try:
        rng = np.random.default_rng(9)
        jobs = [rng.random((1, 32, int(rng.choice([64, 96])), 1), dtype=np.float32) for _ in range(48)]
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(batched.run, jobs))
        for x, (y,) in zip(jobs, got, strict=True):
            np.testing.assert_allclose(y, direct.run(x)[0], rtol=1e-5, atol=1e-5)
        assert batched.batcher.rows_run == len(jobs)
        assert batched.batcher.max_wait == 0.0  # greedy by default
    finally:
        batched.close()


def test_missing_onnxruntime_falls_back_to_tf(toy_files, tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with caplog.at_level(logging.WARNING, logger="ocr_common.runtime"):
        rt = ModelRuntime(toy_files["page"], backend="onnx", stride=2, onnx_cache_dir=tmp_path)
    assert rt.backend == "tf" and rt.onnx_file is None
    assert "onnxruntime is not installed" in caplog.text
    assert [o.shape for o in rt.run_images(page_images(((9, 9),)))[0].outputs] == [(9, 9, 1), (9, 9, 1), (5, 5, 6)]


def test_foreign_onnx_beside_the_weights_fails_parity(toy_files, tmp_path, caplog):
    """A stale or foreign .onnx must not serve: a model of the same shape with other weights."""
    _needs_onnx()
    import shutil

    from ocr_common.export import export_onnx

    weights = tmp_path / "crnn.keras"
    shutil.copy(toy_files["crnn"], weights)
    other = build_crnn()
    import keras

    for w in other.weights:
        w.assign(keras.ops.zeros_like(w) + 0.01)
    export_onnx(other, weights.with_suffix(".onnx"))
    with caplog.at_level(logging.WARNING, logger="ocr_common.runtime"):
        rt = ModelRuntime(weights, backend="onnx", stride=4, onnx_cache_dir=tmp_path / "cache")
    assert rt.backend == "tf" and "differs from the Keras model" in caplog.text


def test_unknown_backend_and_bad_strides_are_refused(toy_files):
    with pytest.raises(ValueError, match="unknown backend"):
        ModelRuntime(toy_files["crnn"], backend="tensorrt")
    with pytest.raises(ValueError, match="strides"):
        ModelRuntime(toy_files["page"], backend="tf", stride=(2, 2, 2))
