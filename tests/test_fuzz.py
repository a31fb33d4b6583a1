"""Fuzzing the server: no input gives a 5xx, and every 4xx is the JSON error shape.

Two layers: schemathesis generates requests from ``/openapi.json`` (valid and invalid parameters,
bodies, content types, methods) and checks each answer against the document; hypothesis then
throws raw bytes, random Content-Types and hand-built multipart bodies with random field names at
the upload endpoints. Every task is served (tiny untrained digit/letter models, stand-ins for the
rest), so the fuzzing reaches each endpoint's decoding and answering code, not just a 503.
Example counts are bounded so the file runs in well under a minute on two cores.
"""

from __future__ import annotations

import json
import string

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.specs.openapi.checks import positive_data_acceptance

from serving import create_app
from serving.openapi import IMAGE_MEDIA_TYPES, build_openapi
from tests.http_helpers import all_tasks_registry, build_all_tasks_dir, digit_like, encode, is_error_body

UPLOAD_PATHS = ("/predict/digit", "/predict/letter", "/scan")


# -- image bodies: valid files in every format, damaged ones and noise ------------------------------
def _samples() -> list[bytes]:
    gray = digit_like(1, 48)
    rgb = np.stack([gray, 255 - gray, gray], axis=-1)
    rgba = np.dstack([rgb, np.full(gray.shape, 200, np.uint8)])
    out = [encode(gray, fmt) for fmt in ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF")]
    out += [encode(rgb, "PNG"), encode(rgba, "PNG"), encode(rgb, "JPEG", quality=20)]
    out.append(encode(Image.fromarray(gray.astype(np.uint16) * 257), "PNG"))  # 16-bit
    out.append(encode(Image.fromarray(gray).convert("CMYK"), "JPEG"))
    out.append(encode(np.zeros((4, 4), np.uint8)))  # under the minimum size
    return out


SAMPLES = _samples()


@st.composite
def damaged(draw, data: bytes) -> bytes:
    """``data`` truncated, or with a few bytes overwritten (headers intact or not)."""
    if draw(st.booleans()):
        return data[: draw(st.integers(0, len(data) - 1))]
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        buf[draw(st.integers(0, len(buf) - 1))] = draw(st.integers(0, 255))
    return bytes(buf)


def image_bodies() -> st.SearchStrategy[bytes]:
    valid = st.sampled_from(SAMPLES)
    return st.one_of(valid, valid.flatmap(damaged), st.binary(max_size=2048))


# schemathesis draws the raw image/* bodies from here instead of arbitrary bytes, so many requests
# are real images that reach the model and have their 200 answer checked against the schema.
for _media in IMAGE_MEDIA_TYPES:
    schemathesis.openapi.media_type(_media, image_bodies())


# -- the app under test ---------------------------------------------------------------------------
# Small limits so the fuzzer also reaches the 413 paths with small bodies.
LIMITS = {"max_upload_bytes": 64 * 1024, "max_files": 4}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    registry = all_tasks_registry(build_all_tasks_dir(tmp_path_factory.mktemp("models")))
    return create_app(registry=registry, **LIMITS)


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def check_answer(status: int, mimetype: str, body: bytes) -> None:
    """The contract for any request whatsoever: no 5xx, and 4xx answers are JSON errors."""
    assert status < 500, f"{status}: {body[:300]!r}"
    if status >= 400:
        assert mimetype == "application/json", (status, mimetype, body[:200])
        assert is_error_body(json.loads(body)), body[:300]


# -- schemathesis: the OpenAPI document drives the requests --------------------------------------
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"database": "none", "max-examples": 40},
        "phases": {"stateful": {"enabled": False}},
    }
)
# Loaded from the built document rather than from the app (schemathesis.pytest.from_fixture does not
# work with pytest 9), so no model is built at collection time; test_served_document_is_the_fuzzed_one
# keeps the two the same.
schema = schemathesis.openapi.from_dict(build_openapi(max_upload_bytes=LIMITS["max_upload_bytes"],
                                                      max_files=LIMITS["max_files"]), config=CONFIG)


def test_served_document_is_the_fuzzed_one(client):
    assert client.get("/openapi.json").get_json() == schema.raw_schema


def no_server_error_and_json_4xx(ctx, response, case) -> bool | None:
    """A schemathesis check wrapping :func:`check_answer`."""
    check_answer(response.status_code, response.headers.get("content-type", [""])[0].split(";")[0], response.content)
    return None


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_api_from_its_openapi_document(case, app):
    # positive_data_acceptance expects a 2xx for every schema-valid request, but "binary" admits
    # bytes that are no image, which are rightly a 400; the shape of that 400 is checked instead.
    case.call_and_validate(
        app=app, excluded_checks=[positive_data_acceptance], additional_checks=[no_server_error_and_json_4xx]
    )


# -- hypothesis: raw bytes, random content types, hand-made multipart ----------------------------
_TOKEN = string.ascii_letters + string.digits + "!#$&^_.+-"
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "image/png",
            "IMAGE/JPEG; charset=utf-8",
            "image/*",
            "image/",
            "image/svg+xml",
            "application/json",
            "application/octet-stream",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "multipart/mixed; boundary=b",
            "",
        ]
    ),
    st.builds(
        lambda a, b, p: f"{a}/{b}{p}",
        st.text(_TOKEN, min_size=1, max_size=12),
        st.text(_TOKEN + "*", max_size=12),
        st.sampled_from(["", "; boundary=x", "; charset=latin-1", ';q="1']),
    ),
)
# Printable ASCII only: the test client itself refuses header values with control characters.
_HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)


@st.composite
def multipart_bodies(draw) -> tuple[bytes, str]:
    """A multipart body built by hand, so names, filenames, part headers and framing can all be odd."""
    boundary = draw(st.sampled_from(["b0undary", "x", "----WebKitFormBoundary7MA4YWxkTrZu0gW"]))
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        name = draw(st.one_of(st.just("image"), st.just("Image"), st.just("file"), _HEADER_TEXT))
        disposition = f'form-data; name="{name}"'
        filename = draw(st.one_of(st.none(), st.just(""), _HEADER_TEXT, st.just("../../etc/passwd")))
        if filename is not None:
            disposition += f'; filename="{filename}"'
        headers = [f"Content-Disposition: {disposition}"] if draw(st.integers(0, 9)) else []
        if draw(st.booleans()):
            headers.append(f"Content-Type: {draw(st.sampled_from(['image/png', 'text/plain', '', 'x/y']))}")
        data = draw(image_bodies())
        parts.append("\r\n".join(headers).encode("latin-1") + b"\r\n\r\n" + data)
    delimiter = f"--{boundary}\r\n".encode()
    body = b"".join(delimiter + p + b"\r\n" for p in parts) + f"--{boundary}--\r\n".encode()
    if draw(st.integers(0, 4)) == 0:
        body = body[: draw(st.integers(0, len(body)))]  # cut off mid-way
    ctype = draw(st.sampled_from([f"multipart/form-data; boundary={boundary}", "multipart/form-data; boundary=other"]))
    return body, ctype


@pytest.mark.parametrize("path", UPLOAD_PATHS)
@given(body=st.one_of(image_bodies(), st.binary(max_size=512)), content_type=CONTENT_TYPES)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_raw_bodies_with_random_content_types(client, path, body, content_type):
    resp = client.post(path, data=body, content_type=content_type)
    check_answer(resp.status_code, resp.mimetype, resp.get_data())
    if resp.status_code == 200 and path == "/scan":
        assert resp.mimetype == "image/jpeg"


@pytest.mark.parametrize("path", UPLOAD_PATHS)
@given(multipart=multipart_bodies(), query=st.dictionaries(st.sampled_from(["segment", "detect", "x"]), _HEADER_TEXT))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_multipart_with_random_fields(client, path, multipart, query):
    body, content_type = multipart
    resp = client.post(path, data=body, content_type=content_type, query_string=query)
    check_answer(resp.status_code, resp.mimetype, resp.get_data())
    if resp.status_code == 200 and path != "/scan":
        n_images = len(resp.get_json()["results"])
        assert 1 <= n_images <= 4


def test_hand_made_multipart_framing_is_right(client):
    """Sanity check of the framing above: a well-formed part, as a browser sends it, is a 200."""
    body = (
        b'--b0undary\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + SAMPLES[0] + b"\r\n--b0undary--\r\n"
    )
    resp = client.post("/predict/digit", data=body, content_type="multipart/form-data; boundary=b0undary")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert len(resp.get_json()["results"]) == 1


def test_samples_decode_as_intended(client):
    """The valid samples really are accepted (or, for the tiny one, refused as too small)."""
    statuses = [client.post("/predict/digit", data=s, content_type="image/png").status_code for s in SAMPLES]
    assert statuses == [200] * (len(SAMPLES) - 1) + [400]
