"""Oversize and malformed requests on the real server (waitress as ``server.build_server`` builds it).

waitress refuses a body far over the app's limit (and headers too large, or a request it cannot
parse) before the app sees it; these answers must be the contract's JSON too, come at once rather
than after reading the whole body, and leave the server healthy. The app's limit is small here
(64 KiB, so waitress' cap is 256 KiB), which keeps every body in these tests small.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import time

import pytest

from server import build_server
from serving import create_app
from serving.wsgi_server import BODY_CAP_FACTOR, json_error_channel
from tests.http_helpers import digit_like, encode, is_error_body, serve_in_thread

LIMIT = 64 * 1024
CAP = BODY_CAP_FACTOR * LIMIT  # waitress' own cap
HUGE = 200 * 2**20  # what the oversize requests claim to send; they never do
BOUNDARY = "oversize-boundary"
PNG = encode(digit_like(0))


@pytest.fixture(scope="module")
def port(tiny_registry):
    with serve_in_thread(create_app(registry=tiny_registry, max_upload_bytes=LIMIT), threads=4) as p:
        yield p


def _part_head(filename: str = "a.png") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()


def _multipart(*files: bytes) -> bytes:
    body = b"".join(_part_head(f"{i}.png") + data + b"\r\n" for i, data in enumerate(files))
    return body + f"--{BOUNDARY}--\r\n".encode()


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def _head(path: str, content_type: str, *extra: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(sock: socket.socket) -> tuple[int, str, bytes]:
    """Status, Content-Type and body of the response waiting on ``sock``."""
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    return resp.status, resp.getheader("Content-Type", ""), resp.read()


def _send_until_answered(sock: socket.socket, pieces, max_bytes: int) -> int:
    """Send ``pieces`` until the server answers (or hangs up); returns the bytes sent."""
    sent = 0
    for piece in pieces:
        if sent > max_bytes or select.select([sock], [], [], 0)[0]:
            break
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            break  # it answered and closed while we were still sending: the answer is read below
        sent += len(piece)
    return sent


def assert_too_large_json(status: int, ctype: str, body: bytes) -> None:
    assert status == 413, (status, body[:300])
    assert ctype == "application/json", ctype
    payload = json.loads(body)
    assert is_error_body(payload) and payload["error"]["code"] == "too_large", payload
    assert payload["error"]["message"] == f"upload too large; the limit is {LIMIT:,} bytes", payload


def assert_healthy(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/health")
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["status"] == "ok"
        conn.request("POST", "/predict/digit", body=PNG, headers={"Content-Type": "image/png"})
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()[:300]
        assert len(json.loads(resp.read())["results"]) == 1
    finally:
        conn.close()


@pytest.mark.parametrize(
    "content_type, start",
    [("image/png", PNG), (MULTIPART, _part_head() + PNG)],
    ids=["raw", "multipart"],
)
@pytest.mark.parametrize("expect", [False, True], ids=["plain", "expect-100-continue"])
def test_content_length_far_over_the_cap_is_json_413_at_once(port, content_type, start, expect):
    extra = ["Expect: 100-continue"] if expect else []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        t0 = time.perf_counter()
        # Only the headers (and, without Expect, the first bytes of the body): the answer must
        # not wait for the other 200 MB. With Expect it must be the 413, not "100 Continue".
        sock.sendall(
            _head("/predict/digit", content_type, f"Content-Length: {HUGE}", *extra) + (b"" if expect else start)
        )
        assert_too_large_json(*_answer(sock))
        assert time.perf_counter() - t0 < 5.0
    assert_healthy(port)


@pytest.mark.parametrize(
    "content_type, start",
    [("image/png", PNG), (MULTIPART, _part_head() + PNG)],
    ids=["raw", "multipart"],
)
def test_chunked_body_growing_past_the_cap_is_json_413(port, content_type, start):
    filler = b"\0" * (16 * 1024)
    chunk = lambda data: f"{len(data):x}\r\n".encode() + data + b"\r\n"  # noqa: E731
    # Chunks, but never the last (empty) one: the body does not end, so an answer at all shows
    # that waitress refused it on the way rather than after reading it whole.
    pieces = [_head("/predict/digit", content_type, "Transfer-Encoding: chunked") + chunk(start)]
    pieces += [chunk(filler)] * (16 * CAP // len(filler))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sent = _send_until_answered(sock, pieces, max_bytes=16 * CAP)
        assert_too_large_json(*_answer(sock))
    assert sent > CAP
    assert_healthy(port)


@pytest.mark.parametrize("size", [LIMIT + 1, CAP - 1024], ids=["just-over-limit", "just-under-cap"])
@pytest.mark.parametrize("kind", ["raw", "multipart", "chunked"])
def test_body_between_limit_and_cap_gets_the_apps_json_413(port, size, kind):
    """Under waitress' cap the app itself refuses the body, with the same JSON and message."""
    filler = b"\0" * (size - len(PNG))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        if kind == "multipart":
            conn.request("POST", "/predict/digit", body=_multipart(PNG + filler), headers={"Content-Type": MULTIPART})
        elif kind == "raw":
            conn.request("POST", "/predict/digit", body=PNG + filler, headers={"Content-Type": "image/png"})
        else:  # an iterable body without a length: http.client sends it chunked
            conn.request(
                "POST",
                "/predict/digit",
                body=iter([PNG, filler]),
                headers={"Content-Type": "image/png"},
                encode_chunked=True,
            )
        resp = conn.getresponse()
        assert_too_large_json(resp.status, resp.getheader("Content-Type", ""), resp.read())
    finally:
        conn.close()
    assert_healthy(port)


@pytest.mark.parametrize(
    "request_bytes, status, code, words",
    [
        (
            _head("/predict/digit", "image/png", "Content-Length: lots") + PNG,
            400,
            "bad_request",
            "content-length is invalid",
        ),
        (
            b"POST /predict/digit HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (300 * 1024) + b"\r\n\r\n",
            431,
            "headers_too_large",
            "request headers too large; the limit is",
        ),
        (
            _head("/predict/digit", "image/png", "Transfer-Encoding: gzip") + PNG,
            501,
            "not_implemented",
            "transfer-encoding",
        ),
        (
            _head("/predict/digit", "image/png", "Transfer-Encoding: chunked") + b"zz\r\n" + PNG,
            400,
            "bad_request",
            "chunk",
        ),
    ],
    ids=["bad-content-length", "headers-too-large", "unknown-transfer-encoding", "bad-chunk-size"],
)
def test_waitress_parser_errors_are_json(port, request_bytes, status, code, words):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request_bytes)
        got, ctype, body = _answer(sock)
    assert got == status and ctype == "application/json", (got, ctype, body[:300])
    payload = json.loads(body)
    assert is_error_body(payload) and payload["error"]["code"] == code, payload
    assert words in payload["error"]["message"].lower(), payload
    assert_healthy(port)


def test_a_waitress_without_the_hook_still_serves_plain_errors(monkeypatch, caplog, tiny_registry):
    from waitress.channel import HTTPChannel

    assert json_error_channel(type("Bare", (), {}), {}) is None
    monkeypatch.delattr(HTTPChannel, "error_task_class")
    srv = build_server(create_app(registry=tiny_registry, max_upload_bytes=LIMIT), "127.0.0.1", 0, threads=1)
    try:
        assert srv.channel_class is HTTPChannel  # left as it was
        assert "stay plain text" in caplog.text
    finally:
        for dispatcher in list(srv._map.values()):
            dispatcher.close()
