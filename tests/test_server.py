"""HTTP contract of the server (DESIGN.md), with the Flask test client and a tiny untrained model."""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ocr_common.io import sha256_file
from serving import create_app
from serving.registry import TASKS, ModelRegistry

REPO_ROOT = Path(__file__).resolve().parent.parent
DIGITS = set("0123456789")


# -- helpers -------------------------------------------------------------------------------------
def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def digit_like(seed: int, size: int = 40) -> np.ndarray:
    """Dark blob on light paper: something the preprocessor finds ink in."""
    img = np.full((size, size), 240, np.uint8)
    rng = np.random.default_rng(seed)
    y, x = rng.integers(8, size - 16, 2)
    img[y : y + 12, x : x + 4] = 20
    return img


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (decompression-bomb shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def multipart(*files: bytes, field: str = "image") -> dict:
    return {field: [(io.BytesIO(data), f"img{i}.png", "image/png") for i, data in enumerate(files)]}


def assert_error(resp, status: int, code: str | None = None) -> dict:
    """Every error is JSON ``{"error": {"code", "message"}}`` with the expected status."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"error"}
    err = body["error"]
    assert isinstance(err["code"], str) and err["code"]
    assert isinstance(err["message"], str) and err["message"]
    if code is not None:
        assert err["code"] == code, err
    return err


@pytest.fixture
def app(tiny_registry):
    return create_app(registry=tiny_registry)


@pytest.fixture
def client(app):
    return app.test_client()


# -- read-only endpoints -------------------------------------------------------------------------
def test_health(client):
    resp = client.get("/health")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok"
    assert set(body["tasks"]) == set(TASKS)
    assert body["tasks"]["digit"] == {"ready": True, "reason": None}
    assert body["tasks"]["word"]["ready"] is False and "no weights" in body["tasks"]["word"]["reason"]


def test_models_lists_digit_with_sha(client, tiny_models_dir):
    resp = client.get("/models")
    assert resp.status_code == 200
    (entry,) = resp.get_json()["models"]
    assert entry["name"] == "digit" and entry["task"] == "digit" and entry["ready"] is True
    assert entry["architecture"] == "simple_cnn"
    assert entry["sha256"] == sha256_file(tiny_models_dir / "digit.keras")
    assert "metrics" in entry


def test_index_page(client):
    resp = client.get("/")
    assert resp.status_code == 200 and resp.mimetype == "text/html"


def test_unknown_path_and_static_are_json_404(client):
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/static/does-not-exist.js"), 404, "not_found")


# -- predictions ---------------------------------------------------------------------------------
def test_batch_is_answered_in_order(client, tiny_registry):
    images = [digit_like(i) for i in range(3)]
    resp = client.post("/predict/digit", data=multipart(*map(png, images)), content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["task"] == "digit"
    assert body["model"]["name"] == "digit" and body["model"]["architecture"] == "simple_cnn"
    assert body["model"]["sha256"] == tiny_registry.by_task["digit"].sha256
    results = body["results"]
    assert len(results) == 3
    for r in results:
        assert r["label"] in DIGITS and 0.0 <= r["confidence"] <= 1.0
        assert r["top"][0] == {"label": r["label"], "p": r["confidence"]}
    # Order: each result must be what the predictor says for that image alone.
    expected = [p.to_dict() for p in tiny_registry.by_task["digit"].predictor.predict(images)]
    assert results == expected


def test_raw_image_body(client):
    resp = client.post("/predict/digit", data=png(digit_like(0)), content_type="image/png")
    assert resp.status_code == 200
    (result,) = resp.get_json()["results"]
    assert result["label"] in DIGITS


def test_rgba_jpeg_and_light_on_dark_inputs(client):
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[10:30, 18:22, 3] = 255  # black stroke on a transparent canvas, as a browser canvas exports
    buf = io.BytesIO()
    Image.fromarray(255 - digit_like(3)).convert("RGB").save(buf, "JPEG")
    resp = client.post(
        "/predict/digit",
        data={"image": [(io.BytesIO(png(rgba)), "a.png"), (io.BytesIO(buf.getvalue()), "b.jpg")]},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200 and len(resp.get_json()["results"]) == 2


# -- errors --------------------------------------------------------------------------------------
def test_get_predict_is_405(client):
    err = assert_error(client.get("/predict/digit"), 405, "method_not_allowed")
    assert err["message"]
    assert "POST" in client.get("/predict/digit").headers.get("Allow", "")


def test_unknown_task_is_404(client):
    assert_error(client.post("/predict/nope", data=png(digit_like(0)), content_type="image/png"), 404, "unknown_task")
    # A task name that looks like a path is just an unknown name.
    assert_error(client.post("/predict/..%2Fmodels", data=b"x", content_type="image/png"), 404)


@pytest.mark.parametrize("task", ["word", "doc-edges", "chinese", "letter"])
def test_tasks_without_weights_are_503(client, task):
    err = assert_error(client.post(f"/predict/{task}", data=png(digit_like(0)), content_type="image/png"), 503)
    assert err["code"] == "model_unavailable"
    assert f"no weights for task {task!r}" in err["message"]


def test_scan_is_503_without_doc_edges(client):
    assert_error(client.post("/scan", data=png(digit_like(0)), content_type="image/png"), 503, "model_unavailable")


def test_json_body_is_415(client):
    assert_error(client.post("/predict/digit", json={"image": "aGVsbG8="}), 415, "unsupported_media_type")


def test_text_body_is_415(client):
    assert_error(client.post("/predict/digit", data="7", content_type="text/plain"), 415, "unsupported_media_type")


def test_empty_bodies_are_400(client):
    assert_error(client.post("/predict/digit"), 400, "missing_image")
    assert_error(client.post("/predict/digit", data=b"", content_type="image/png"), 400, "missing_image")


def test_multipart_without_image_field_is_400(client):
    assert_error(client.post("/predict/digit", data={}, content_type="multipart/form-data"), 400, "missing_image")
    assert_error(
        client.post("/predict/digit", data={"note": "hi"}, content_type="multipart/form-data"), 400, "missing_image"
    )


def test_malformed_multipart_is_400(client):
    resp = client.post("/predict/digit", data=b"--x\r\nnot really", content_type="multipart/form-data; boundary=x")
    assert_error(resp, 400, "missing_image")


def test_wrong_field_name_is_400(client):
    resp = client.post(
        "/predict/digit", data=multipart(png(digit_like(0)), field="file"), content_type="multipart/form-data"
    )
    err = assert_error(resp, 400, "missing_image")
    assert "'file'" in err["message"]


def test_corrupt_file_is_400_and_named(client):
    data = {"image": [(io.BytesIO(png(digit_like(0))), "ok.png"), (io.BytesIO(b"\x89PNG broken"), "bad.png")]}
    err = assert_error(client.post("/predict/digit", data=data, content_type="multipart/form-data"), 400, "bad_image")
    assert "image 1" in err["message"] and "bad.png" in err["message"]
    err = assert_error(client.post("/predict/digit", data=b"GIF89a nonsense", content_type="image/gif"), 400)
    assert err["code"] == "bad_image"


def test_empty_file_in_batch_is_400(client):
    resp = client.post("/predict/digit", data=multipart(png(digit_like(0)), b""), content_type="multipart/form-data")
    assert "image 1" in assert_error(resp, 400, "missing_image")["message"]


def test_upload_over_limit_is_413(tiny_registry):
    client = create_app(registry=tiny_registry, max_upload_bytes=10_000).test_client()
    big = png(np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8))
    assert len(big) > 10_000
    assert_error(client.post("/predict/digit", data=big, content_type="image/png"), 413, "too_large")
    assert_error(client.post("/predict/digit", data=multipart(big), content_type="multipart/form-data"), 413)
    # Under the limit still works on the same app.
    assert client.post("/predict/digit", data=png(digit_like(0)), content_type="image/png").status_code == 200


def test_too_many_files_is_413(tiny_registry):
    client = create_app(registry=tiny_registry, max_files=3).test_client()
    files = [png(digit_like(i)) for i in range(4)]
    err = assert_error(client.post("/predict/digit", data=multipart(*files), content_type="multipart/form-data"), 413)
    assert err["code"] == "too_many_files"
    assert (
        client.post("/predict/digit", data=multipart(*files[:3]), content_type="multipart/form-data").status_code == 200
    )


def test_pixel_bomb_is_400(client, tiny_registry):
    err = assert_error(
        client.post("/predict/digit", data=png_header_only(60_000, 60_000), content_type="image/png"),
        400,
        "too_many_pixels",
    )
    assert "pixels" in err["message"]
    small_limit = create_app(registry=tiny_registry, max_pixels=1_000).test_client()
    assert_error(small_limit.post("/predict/digit", data=png(digit_like(0)), content_type="image/png"), 400)


def test_batch_pixel_budget_is_413(tiny_registry):
    client = create_app(registry=tiny_registry, max_batch_pixels=40 * 40 * 2).test_client()
    files = [png(digit_like(i)) for i in range(3)]
    assert_error(
        client.post("/predict/digit", data=multipart(*files), content_type="multipart/form-data"),
        413,
        "batch_too_large",
    )


def test_unexpected_exception_is_json_500(tiny_models_dir, caplog):
    class Broken:
        def predict(self, images):
            raise RuntimeError("boom")

    registry = ModelRegistry(tiny_models_dir, loaders={"digit": lambda weights, config: Broken()})
    client = create_app(registry=registry).test_client()
    err = assert_error(client.post("/predict/digit", data=png(digit_like(0)), content_type="image/png"), 500)
    assert err["code"] == "internal_error" and "boom" not in err["message"]
    assert "boom" in caplog.text  # logged with its traceback for the operator


# -- weights verification ------------------------------------------------------------------------
def test_corrupt_weights_disable_only_that_task(models_copy):
    with open(models_copy / "digit.keras", "ab") as f:
        f.write(b"tampered")
    client = create_app(models_copy).test_client()
    health = client.get("/health")
    assert health.status_code == 200
    digit = health.get_json()["tasks"]["digit"]
    assert digit["ready"] is False and "sha256" in digit["reason"]
    err = assert_error(client.post("/predict/digit", data=png(digit_like(0)), content_type="image/png"), 503)
    assert err["code"] == "model_unavailable" and "does not match" in err["message"]
    assert client.get("/models").get_json()["models"][0]["ready"] is False


def test_missing_weights_file_is_503(models_copy):
    (models_copy / "digit.keras").unlink()
    client = create_app(models_copy).test_client()
    assert client.get("/health").get_json()["tasks"]["digit"]["ready"] is False
    err = assert_error(client.post("/predict/digit", data=png(digit_like(0)), content_type="image/png"), 503)
    assert "missing" in err["message"]


def test_unloadable_weights_with_matching_sha_are_503(models_copy):
    (models_copy / "digit.keras").write_bytes(b"not a keras archive")
    manifest = json.loads((models_copy / "manifest.json").read_text())
    manifest["models"][0]["sha256"] = sha256_file(models_copy / "digit.keras")
    (models_copy / "manifest.json").write_text(json.dumps(manifest))
    client = create_app(models_copy).test_client()
    err = assert_error(client.post("/predict/digit", data=png(digit_like(0)), content_type="image/png"), 503)
    assert "failed to load" in err["message"]


def test_manifest_paths_cannot_escape_models_dir(models_copy):
    manifest = json.loads((models_copy / "manifest.json").read_text())
    (models_copy.parent / "elsewhere.keras").write_bytes((models_copy / "digit.keras").read_bytes())
    manifest["models"][0]["file"] = "../elsewhere.keras"  # right sha256, wrong place
    (models_copy / "manifest.json").write_text(json.dumps(manifest))
    health = create_app(models_copy).test_client().get("/health").get_json()
    assert "outside the models folder" in health["tasks"]["digit"]["reason"]


def test_missing_or_broken_manifest_still_serves_health(tmp_path):
    client = create_app(tmp_path).test_client()
    body = client.get("/health").get_json()
    assert all(not t["ready"] for t in body["tasks"].values())
    (tmp_path / "manifest.json").write_text("{not json")
    client = create_app(tmp_path).test_client()
    assert client.get("/health").status_code == 200
    err = assert_error(client.post("/predict/digit", data=png(digit_like(0)), content_type="image/png"), 503)
    assert "unreadable" in err["message"]


# -- golden test on the shipped weights ----------------------------------------------------------
def _mnist_path() -> Path:
    """A full ``mnist.npz`` when one is around, else the 200-image test fixture in tests/data."""
    root = os.environ.get("OCR_DATA_DIR")
    candidates = [Path(root)] if root else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    found = next((p / "mnist.npz" for p in candidates if (p / "mnist.npz").is_file()), None)
    return found or Path(__file__).parent / "data" / "mnist_test_head.npz"


def _shipped_digit_entry() -> bool:
    manifest = REPO_ROOT / "models" / "manifest.json"
    if not manifest.is_file():
        return False
    return any(m.get("task") == "digit" for m in json.loads(manifest.read_text(encoding="utf-8")).get("models", []))


@pytest.mark.skipif(not _shipped_digit_entry(), reason="models/manifest.json has no digit model yet")
def test_golden_mnist_on_shipped_digit_model():
    """The shipped weights, served: 200 MNIST test digits in batches of 50 PNG files."""
    with np.load(_mnist_path()) as d:
        x, y = d["x_test"][:200], d["y_test"][:200]
    client = create_app(REPO_ROOT / "models").test_client()
    labels = []
    for i in range(0, len(x), 50):
        resp = client.post("/predict/digit", data=multipart(*map(png, x[i : i + 50])),
                           content_type="multipart/form-data")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        labels += [r["label"] for r in resp.get_json()["results"]]
    wrong = [(i, label, int(t)) for i, (label, t) in enumerate(zip(labels, y, strict=True)) if label != str(t)]
    # The shipped model scores >= 99.7 % on the whole test set; allow 2 of these 200.
    assert len(wrong) <= 2, f"(index, served, true): {wrong}"


def test_char_prediction_to_dict_is_the_dataclass_as_a_copy():
    import dataclasses

    from handwrite_digit_ocr.predict import CharPrediction

    pred = CharPrediction(label="7", confidence=0.9, top=[{"label": "7", "p": 0.9}, {"label": "1", "p": 0.05}])
    d = pred.to_dict()
    assert d == dataclasses.asdict(pred) and list(d) == ["label", "confidence", "top"]
    d["top"][0]["p"] = 0.0  # the answer is a copy: a caller editing it cannot change the prediction
    assert pred.top[0]["p"] == 0.9
