"""Concurrent load on the real server: waitress (as ``server.py`` builds it) on loopback, several
client threads mixing good and bad requests. Nothing unexpected comes back, equal requests get
equal answers whichever thread asked, and the server is healthy afterwards."""

from __future__ import annotations

import http.client
import json
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from serving import create_app
from tests.http_helpers import (
    all_tasks_registry,
    build_all_tasks_dir,
    digit_like,
    encode,
    is_error_body,
    serve_in_thread,
)

THREADS, REQUESTS_PER_THREAD = 8, 25
MAX_UPLOAD = 256 * 1024
BOUNDARY = "concurrency-boundary"


def _multipart(*files: bytes) -> bytes:
    body = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="{i}.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n"
        for i, data in enumerate(files)
    )
    return body + f"--{BOUNDARY}--\r\n".encode()


A, B = encode(digit_like(1)), encode(255 - digit_like(2))  # dark-on-light and light-on-dark
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
# name -> (method, path, body, content type, expected status). Bodies are fixed so that equal
# requests must get byte-for-byte equal predictions.
REQUESTS: dict[str, tuple[str, str, bytes | None, str | None, int]] = {
    "digit": ("POST", "/predict/digit", A, "image/png", 200),
    "digit-b": ("POST", "/predict/digit", B, "image/png", 200),
    "letter": ("POST", "/predict/letter", A, "image/png", 200),
    "batch": ("POST", "/predict/digit", _multipart(A, B, A), MULTIPART, 200),
    "letter-batch": ("POST", "/predict/letter", _multipart(B, A), MULTIPART, 200),
    "word": ("POST", "/predict/word?segment=0", A, "image/png", 200),
    "scan": ("POST", "/scan", B, "image/png", 200),
    "health": ("GET", "/health", None, None, 200),
    "junk": ("POST", "/predict/digit", b"\x89PNG not really", "image/png", 400),
    "bad-flag": ("POST", "/predict/letter?detect=yes", A, "image/png", 400),
    "json": ("POST", "/predict/digit", b'{"image": "aGk="}', "application/json", 415),
    "unknown-task": ("POST", "/predict/nope", A, "image/png", 404),
    "get-predict": ("GET", "/predict/digit", None, None, 405),
    "too-big": ("POST", "/predict/letter", b"\0" * (MAX_UPLOAD + 1), "image/png", 413),
}
ORDER = list(REQUESTS)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    registry = all_tasks_registry(build_all_tasks_dir(tmp_path_factory.mktemp("models")))
    with serve_in_thread(create_app(registry=registry, max_upload_bytes=MAX_UPLOAD), threads=THREADS) as port:
        yield port


def _request(conn: http.client.HTTPConnection, name: str) -> tuple[int, str, bytes]:
    method, path, body, ctype, _ = REQUESTS[name]
    headers = {"Content-Type": ctype} if ctype else {}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.getheader("Content-Type", ""), resp.read()


def _client(port: int, worker: int) -> list[tuple[str, int, str, bytes]]:
    """One keep-alive connection per thread; each thread walks the request kinds from a different start."""
    out = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for i in range(REQUESTS_PER_THREAD):
            name = ORDER[(worker * 5 + i) % len(ORDER)]
            status, ctype, body = _request(conn, name)
            out.append((name, status, ctype, body))
            if status == 413:  # the server may close the connection after refusing a body
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    finally:
        conn.close()
    return out


def test_mixed_concurrent_load(server):
    start = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        answers = [a for batch in pool.map(_client, [server] * THREADS, range(THREADS)) for a in batch]
    elapsed = time.perf_counter() - start
    assert len(answers) == THREADS * REQUESTS_PER_THREAD

    seen: dict[str, set[bytes]] = defaultdict(set)
    for name, status, ctype, body in answers:
        expected = REQUESTS[name][4]
        assert status == expected, f"{name}: {status} (expected {expected}): {body[:300]!r}"
        if status >= 400:
            assert ctype.startswith("application/json") and is_error_body(json.loads(body)), (name, body[:300])
        elif name == "scan":
            assert ctype == "image/jpeg" and body[:2] == b"\xff\xd8"
        else:
            seen[name].add(body)
    # Every kind ran on several threads, and each got one and the same answer everywhere.
    assert set(seen) == {n for n, r in REQUESTS.items() if r[4] == 200 and n != "scan"}
    for name, bodies in seen.items():
        if name != "health":
            assert len(bodies) == 1, f"{name}: {len(bodies)} different answers to the same request"
    batch = json.loads(next(iter(seen["batch"])))["results"]
    assert batch[0] == batch[2] and len(batch) == 3  # the same image twice in one batch, same answer
    letters = json.loads(next(iter(seen["letter"])))["results"][0]
    assert letters["label"] in "abcdefghijklmnopqrstuvwxyz"
    assert elapsed < 60, f"{elapsed:.1f} s for {len(answers)} requests"

    # Still healthy, and still giving the same answer.
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    status, _, body = _request(conn, "health")
    assert status == 200 and all(t["ready"] for t in json.loads(body)["tasks"].values())
    assert _request(conn, "digit")[2] in seen["digit"]
    conn.close()


def test_images_decode_the_same_in_every_thread():
    """decode_image + normalize_char run outside the model lock: check they are pure under threads."""
    from handwrite_digit_ocr.preprocess import normalize_char
    from ocr_common.image import decode_image

    inputs = [A, B, encode(np.dstack([digit_like(3)] * 3), "JPEG")]
    expected = [normalize_char(decode_image(d)) for d in inputs]

    def work(i: int) -> bool:
        k = i % len(inputs)
        return np.array_equal(normalize_char(decode_image(inputs[k])), expected[k])

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(200)))
