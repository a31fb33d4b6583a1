"""Input hardening of every POST endpoint, model-file integrity and time bounds (issue 5).

test_server.py covers the contract's basic error paths; this file adds the hostile and odd
inputs: bombs with huge dimensions in tiny files, multi-frame and unusual pixel formats, files
that lie about their type, malformed forms and query strings, path tricks, weights that carry
code, and a giant page that must be answered in seconds rather than hang a worker.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ocr_common.io import sha256_file
from serving import create_app
from serving.registry import TASKS, ModelRegistry
from tests.conftest import manifest_entry, write_manifest
from tests.http_helpers import (
    ALL_TASK_LOADERS,
    all_tasks_registry,
    assert_error,
    build_all_tasks_dir,
    digit_like,
    encode,
)

UPLOAD_PATHS = ("/predict/digit", "/predict/letter", "/scan")


@pytest.fixture(scope="module")
def all_dir(tmp_path_factory) -> Path:
    """Read-only folder with every task (tiny digit + letter models, stand-ins for the rest)."""
    return build_all_tasks_dir(tmp_path_factory.mktemp("all-models"))


@pytest.fixture(scope="module")
def registry(all_dir):
    return all_tasks_registry(all_dir)


@pytest.fixture(scope="module")
def client(registry):
    return create_app(registry=registry).test_client()


def post_raw(client, path: str, data: bytes, content_type: str = "image/png", **kw):
    return client.post(path, data=data, content_type=content_type, **kw)


def post_files(client, path: str, *files: tuple[bytes, str | None], field: str = "image", **kw):
    """Multipart upload; a ``None`` filename sends the part without one (as ``curl -F image=<x``)."""
    body, boundary = b"", "hardening-boundary"
    for data, filename in files:
        disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}", **kw)


# -- bombs: huge dimensions in a small file -------------------------------------------------------
def png_1bit(width: int, height: int) -> bytes:
    """A complete, valid 1-bit PNG of white pixels: ~110 KB for 30000 x 30000 (900 Mpx)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\0" + b"\xff" * ((width + 7) // 8)  # filter byte "none" + packed bits
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row * 1000) for _ in range(height // 1000)) + z.compress(row * (height % 1000))
    idat += z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def gif_header(width: int, height: int) -> bytes:
    """A 40-byte GIF whose screen and frame claim ``width`` x ``height``."""
    lzw = bytes([1, 4 | 5 << 3, 0])  # one sub-block holding clear code + end code, then terminator
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", width, height, 0x80, 0, 0)
        + b"\0\0\0\xff\xff\xff"  # 2-colour global palette
        + b","
        + struct.pack("<HHHHB", 0, 0, width, height, 0)
        + b"\x02"
        + lzw
        + b";"
    )


def bmp_header(width: int, height: int) -> bytes:
    """A 62-byte 1-bit BMP header claiming ``width`` x ``height`` with no pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 1, 0, 0, 2835, 2835, 2, 0)
    return b"BM" + struct.pack("<IHHI", 62, 0, 0, 62) + info + b"\0\0\0\0\xff\xff\xff\0"


@pytest.mark.parametrize(
    "make, side",
    [(png_1bit, 30_000), (gif_header, 30_000), (bmp_header, 30_000), (bmp_header, 7_000)],
    ids=["png-1bit-30000", "gif-30000", "bmp-30000", "bmp-7000-under-pillows-limit"],
)
def test_huge_dimensions_in_a_small_file_are_400_before_decoding(client, make, side):
    data = make(side, side)
    assert len(data) < 200_000
    start = time.perf_counter()
    err = assert_error(post_raw(client, "/predict/digit", data), 400, "too_many_pixels")
    assert time.perf_counter() - start < 2.0, "the header check must refuse it before any pixel is decoded"
    assert "40,000,000" in err["message"], err  # states our limit, not Pillow's


# -- sizes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, status", [((7, 7), 400), ((7, 500), 400), ((8, 8), 200), ((8, 100_000), 200)])
def test_minimum_side_and_extreme_aspect(client, shape, status):
    img = np.full(shape, 255, np.uint8)
    img[: shape[0] // 2, : shape[1] // 2] = 0
    resp = post_raw(client, "/predict/digit", encode(img))
    if status == 400:
        assert "at least 8 pixels" in assert_error(resp, 400, "too_small")["message"]
    else:
        assert resp.status_code == 200, resp.get_data(as_text=True)


def test_too_many_form_parts_is_json_413(client):
    resp = post_files(client, "/predict/digit", *[(b"x", f"{i}.png") for i in range(1_100)])
    err = assert_error(resp, 413)
    assert "parts" in err["message"]


def test_413_names_the_body_limit(tiny_registry):
    small = create_app(registry=tiny_registry, max_upload_bytes=1_000).test_client()
    err = assert_error(post_raw(small, "/predict/digit", b"\0" * 2_000), 413, "too_large")
    assert "1,000 bytes" in err["message"]


# -- formats: multi-frame, CMYK, 16-bit, lying files ---------------------------------------------
def _label(resp) -> dict:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    (result,) = resp.get_json()["results"]
    return result


@pytest.mark.parametrize("fmt", ["GIF", "TIFF"])
def test_multi_frame_files_use_the_first_frame(client, fmt):
    digit = digit_like(5)
    others = [Image.fromarray(np.full_like(digit, 240)), Image.fromarray(255 - digit)]
    buf = io.BytesIO()
    Image.fromarray(digit).save(buf, fmt, save_all=True, append_images=others)
    assert Image.open(io.BytesIO(buf.getvalue())).n_frames == 3
    expected = _label(post_raw(client, "/predict/digit", encode(digit)))
    assert _label(post_raw(client, "/predict/digit", buf.getvalue(), f"image/{fmt.lower()}")) == expected


def test_sixteen_bit_png_reads_like_eight_bit(client):
    digit = digit_like(6)
    wide = encode(Image.fromarray(digit.astype(np.uint16) * 257))
    assert Image.open(io.BytesIO(wide)).mode.startswith("I")
    assert _label(post_raw(client, "/predict/digit", wide)) == _label(post_raw(client, "/predict/digit", encode(digit)))


def test_cmyk_jpeg_is_read(client):
    cmyk = Image.fromarray(digit_like(7)).convert("CMYK")
    data = encode(cmyk, "JPEG")
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    assert _label(post_raw(client, "/predict/digit", data, "image/jpeg"))["label"].isdigit()


@pytest.mark.parametrize("path", UPLOAD_PATHS)
def test_text_with_an_image_name_is_400_naming_the_file(client, path):
    err = assert_error(post_files(client, path, (b"this is not a picture\n", "digit.png")), 400, "bad_image")
    assert "image 0" in err["message"] and "digit.png" in err["message"] and "not a recognised" in err["message"]


def test_svg_is_refused_not_rendered(client):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="9" height="9"/></svg>'
    err = assert_error(post_raw(client, "/predict/digit", svg, "image/svg+xml"), 400, "bad_image")
    assert "PNG" in err["message"]  # lists what is supported


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "TIFF", "WEBP", "BMP"])
def test_truncated_files_are_400(client, fmt):
    data = encode(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8), fmt)
    for cut in (len(data) // 2, 20):
        err = assert_error(post_raw(client, "/predict/digit", data[:cut]), 400, "bad_image")
        assert "request body" in err["message"]


# -- content types and bodies --------------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/json",
        "application/octet-stream",
        "application/pdf",
        "application/x-www-form-urlencoded",
    ],
)
@pytest.mark.parametrize("path", UPLOAD_PATHS)
def test_non_image_types_are_415_naming_the_type(client, path, content_type):
    err = assert_error(post_raw(client, path, encode(digit_like(0)), content_type), 415, "unsupported_media_type")
    assert content_type in err["message"] and "multipart/form-data" in err["message"]


@pytest.mark.parametrize("path", UPLOAD_PATHS)
def test_empty_and_json_bodies(client, path):
    assert_error(client.post(path), 400, "missing_image")
    assert_error(post_raw(client, path, b""), 400, "missing_image")
    assert_error(client.post(path, json={"image": "aGk="}), 415, "unsupported_media_type")
    assert_error(client.post(path, data=b"", content_type="application/json"), 415)


# -- multipart forms -----------------------------------------------------------------------------
@pytest.mark.parametrize("path", UPLOAD_PATHS)
def test_part_without_filename_is_400_saying_how_to_send_it(client, path):
    err = assert_error(post_files(client, path, (encode(digit_like(0)), None)), 400, "not_a_file")
    assert "filename" in err["message"] and "-F image=@" in err["message"]


def test_large_part_without_filename_is_413_saying_why(client):
    from serving.app import MAX_FORM_FIELD_BYTES

    big = encode(np.random.default_rng(1).integers(0, 255, (800, 800), dtype=np.uint8))
    assert len(big) > MAX_FORM_FIELD_BYTES  # over the in-memory cap for a text field, far under the body limit
    err = assert_error(post_files(client, "/predict/digit", (big, None)), 413)
    assert "without a filename" in err["message"]


@pytest.mark.parametrize("side", [300, 1500])
def test_large_image_file_part_is_read(client, side):
    """A photo of a few hundred KB to MB sent as a file part is read whole. (A text-field cap at
    the size of Werkzeug's 64 KiB reads once refused every image part over ~64 KiB.)"""
    big = encode(np.random.default_rng(2).integers(0, 255, (side, side), dtype=np.uint8))
    assert len(big) > 64 * 1024
    resp = post_files(client, "/predict/digit", (big, "photo.png"))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]


@pytest.mark.parametrize("path", UPLOAD_PATHS)
def test_wrong_field_name_is_400_naming_it(client, path):
    err = assert_error(post_files(client, path, (encode(digit_like(0)), "a.png"), field="upload"), 400, "missing_image")
    assert "'upload'" in err["message"] and "'image'" in err["message"]


def test_scan_takes_exactly_one_image(client):
    one = encode(digit_like(0))
    resp = post_files(client, "/scan", (one, "a.png"))
    assert resp.status_code == 200 and resp.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(resp.get_data())).format == "JPEG"
    err = assert_error(post_files(client, "/scan", (one, "a.png"), (one, "b.png")), 400, "one_image_only")
    assert "got 2" in err["message"]


def test_client_filenames_are_clipped_and_never_paths(client, all_dir):
    before = sorted(p.name for p in all_dir.iterdir())
    name = "../" * 200 + "etc/passwd"
    err = assert_error(post_files(client, "/predict/digit", (b"junk", name)), 400, "bad_image")
    assert len(err["message"]) < 300 and "..." in err["message"]
    assert post_files(client, "/predict/digit", (encode(digit_like(0)), "../../x.png")).status_code == 200
    assert sorted(p.name for p in all_dir.iterdir()) == before


# -- query strings --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query, status",
    [
        ("segment=banana", 400),
        ("detect=", 400),
        ("lexicon=2", 400),
        ("segment=0&segment=1", 400),
        ("segment=1", 200),  # a valid flag the digit task does not use is ignored
        ("anything=else&%ff=%fe", 200),  # unknown parameters, even undecodable ones, are ignored
    ],
)
def test_junk_query_strings(client, query, status):
    resp = client.post(f"/predict/digit?{query}", data=encode(digit_like(0)), content_type="image/png")
    if status == 400:
        err = assert_error(resp, 400, "bad_parameter")
        assert "0 or 1" in err["message"] and query.split("=")[0] in err["message"]
    else:
        assert resp.status_code == 200, resp.get_data(as_text=True)


def test_flags_reach_only_the_predictors_that_use_them(client, registry):
    image = encode(digit_like(0))
    word, chinese = registry.by_task["word"].predictor, registry.by_task["chinese"].predictor
    assert post_raw(client, "/predict/word?segment=0&lexicon=1&detect=0", image).status_code == 200
    assert word.calls[-1] == {"segment": False, "lexicon": True}
    assert post_raw(client, "/predict/word", image).status_code == 200
    assert word.calls[-1] == {}  # not given: the predictor keeps its own defaults
    assert post_raw(client, "/predict/chinese?detect=0&segment=1", image).status_code == 200
    assert chinese.calls[-1] == {"detect": False}


# -- paths ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    ["/static/../server.py", "/static/%2e%2e/server.py", "/static/..%2fserver.py", "/static//etc/passwd",
     "/static/%2fetc%2fpasswd"],
)
def test_static_files_cannot_escape_their_folder(client, url):
    # Double slashes are first redirected (308) to the merged path, which is then a 404.
    assert_error(client.get(url, follow_redirects=True), 404)


@pytest.mark.parametrize("task", ["..%2F..%2Fetc%2Fpasswd", "%00", "digit%20", "DIGIT", "digit.keras", "manifest"])
def test_task_names_are_only_dictionary_keys(client, task):
    assert_error(client.post(f"/predict/{task}", data=encode(digit_like(0)), content_type="image/png"), 404)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/", "/health", "/models", "/openapi.json", "/predict/digit", "/scan"])
def test_other_methods_are_json_405_with_allow(client, method, path):
    resp = client.open(path, method=method)
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers.get("Allow")


# -- model files ----------------------------------------------------------------------------------
def test_corrupt_weights_disable_only_that_task(all_dir, tmp_path):
    models = shutil.copytree(all_dir, tmp_path / "models")
    with open(models / "letter.keras", "r+b") as f:  # flip bytes in place: same size, wrong sha256
        f.seek(100)
        f.write(b"\0" * 16)
    client = create_app(registry=ModelRegistry(models, loaders=ALL_TASK_LOADERS)).test_client()
    health = client.get("/health").get_json()["tasks"]
    assert health["letter"]["ready"] is False and "does not match the manifest" in health["letter"]["reason"]
    assert all(health[t]["ready"] for t in TASKS if t != "letter")
    err = assert_error(post_raw(client, "/predict/letter", encode(digit_like(0))), 503, "model_unavailable")
    assert "letter.keras" in err["message"]
    assert post_raw(client, "/predict/digit", encode(digit_like(0))).status_code == 200


def _lambda_model(marker: Path):
    """A model whose Lambda layer runs arbitrary Python: it touches ``marker`` whenever it is called."""
    import keras

    inp = keras.Input((28, 28, 1))
    code = keras.layers.Lambda(lambda t, m: (__import__("pathlib").Path(m).touch(), t)[1], arguments={"m": str(marker)})
    x = keras.layers.Flatten()(code(inp))
    return keras.Model(inp, keras.layers.Dense(10, activation="softmax")(x))


def test_weights_with_code_are_refused_by_safe_mode_despite_a_valid_sha(tmp_path, tiny_models_dir):
    import keras

    marker = tmp_path / "code-ran"
    models = tmp_path / "models"
    models.mkdir()
    _lambda_model(marker).save(models / "digit.keras")
    shutil.copy(tiny_models_dir / "digit.json", models / "digit.json")
    write_manifest(models, [manifest_entry(models, "digit", "digit")])  # the manifest vouches for the file
    marker.unlink()  # building the model above ran the lambda once

    client = create_app(models).test_client()
    reason = client.get("/health").get_json()["tasks"]["digit"]["reason"]
    assert "Lambda" in reason and "failed to load 'digit.keras'" in reason, reason
    assert not marker.exists(), "the lambda in the weights file ran while the server loaded it"
    err = assert_error(post_raw(client, "/predict/digit", encode(digit_like(0))), 503, "model_unavailable")
    assert "Lambda" in err["message"]

    # The file itself is a working model: only safe mode stood between it and running its code.
    keras.saving.load_model(models / "digit.keras", safe_mode=False)(np.zeros((1, 28, 28, 1), np.float32))
    assert marker.exists()


def test_legacy_h5_weights_are_refused(tmp_path, tiny_models_dir):
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(tiny_models_dir / "digit.keras", models / "digit.h5")
    shutil.copy(tiny_models_dir / "digit.json", models / "digit.json")
    entry = manifest_entry(tiny_models_dir, "digit", "digit", file="digit.h5")
    entry["sha256"] = sha256_file(models / "digit.h5")
    write_manifest(models, [entry])
    reason = create_app(models).test_client().get("/health").get_json()["tasks"]["digit"]["reason"]
    assert ".keras archive" in reason, reason


def test_reasons_shown_to_clients_do_not_reveal_server_paths(tmp_path, models_copy, caplog):
    (models_copy / "digit.keras").write_bytes(b"not a keras archive")  # Keras' error quotes the full path
    manifest = json.loads((models_copy / "manifest.json").read_text())
    manifest["models"][0]["sha256"] = sha256_file(models_copy / "digit.keras")
    (models_copy / "manifest.json").write_text(json.dumps(manifest))
    for folder in (models_copy, tmp_path / "nowhere"):
        client = create_app(folder).test_client()
        shown = client.get("/health").get_data(as_text=True) + client.get("/models").get_data(as_text=True)
        shown += post_raw(client, "/predict/digit", encode(digit_like(0))).get_data(as_text=True)
        assert "<models-dir>" in shown and str(tmp_path) not in shown, shown
    assert str(models_copy) in caplog.text  # the operator's log keeps them


def test_manifest_values_of_the_wrong_type_do_not_break_the_listing(tmp_path, tiny_models_dir):
    models = shutil.copytree(tiny_models_dir, tmp_path / "models")
    manifest = json.loads((models / "manifest.json").read_text())
    manifest["models"][0].update(architecture=["not", "a", "string"], size_bytes="12", dataset=7)
    (models / "manifest.json").write_text(json.dumps(manifest))
    (entry,) = create_app(models).test_client().get("/models").get_json()["models"]
    assert isinstance(entry["architecture"], str) and entry["size_bytes"] is None and entry["dataset"] == "7"


# -- time bounds ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, mode", [("PNG", "L"), ("JPEG", "RGB")])
def test_giant_page_is_answered_in_seconds(client, fmt, mode):
    """6000 x 6000 (36 Mpx, under the 40 Mpx limit): preprocessing shrinks it first, so it takes
    seconds, not the minutes the full-size background estimate would."""
    page = np.full((6000, 6000), 235, np.uint8)
    page[1500:4500, 2700:3300] = 25  # one big "1"
    data = encode(Image.fromarray(page).convert(mode), fmt)
    start = time.perf_counter()
    resp = post_raw(client, "/predict/digit", data, f"image/{fmt.lower()}")
    elapsed = time.perf_counter() - start
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert elapsed < 10.0, f"{elapsed:.1f} s for a 6000x6000 {fmt}"
