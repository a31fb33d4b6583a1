"""MicroBatcher: merges concurrent calls, keeps each caller's rows, isolates failures, stops cleanly."""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ocr_common.batching import MicroBatcher

# Small integers, so ``x @ W`` on integer-valued rows is exact in float32 whatever order the BLAS
# sums in: a GEMM's blocking (and so its rounding) changes with the batch size and the CPU, and
# one ulp between a batched and a row-wise ``tanh(x @ W)`` failed these tests on an AMD EPYC.
# Column 0 of W only copies column 0 of x, where ``rows`` puts a unique id: answers of different
# rows always differ, so a row handed to the wrong caller cannot go unnoticed.
W = np.random.default_rng(0).integers(-4, 5, (6, 4)).astype(np.float32)
W[:, 0] = [1, 0, 0, 0, 0, 0]
_row_ids = itertools.count(1)


def rowwise(x: np.ndarray) -> np.ndarray:
    """A row-by-row function whose answer depends on every input value (and is exact, see W)."""
    return x @ W


def rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` integer-valued float32 rows of 6, each with an id (column 0) no other row has."""
    x = rng.integers(-50, 51, (n, 6)).astype(np.float32)
    x[:, 0] = [next(_row_ids) for _ in range(n)]
    return x


class Recorder:
    """Wraps a batch function and records the size of every batch it is called with."""

    def __init__(self, fn=rowwise, delay: float = 0.0):
        self.fn, self.delay = fn, delay
        self.sizes: list[int] = []
        self.threads: set[str] = set()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.sizes.append(len(x))
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)  # a model call that takes a while, so requests pile up
        return self.fn(x)


def _wait_queued(batcher: MicroBatcher, n: int, timeout: float = 10.0) -> None:
    # Reads the private queue: the only way to know for sure that requests are waiting.
    deadline = time.monotonic() + timeout
    while len(batcher._queue) < n:
        assert time.monotonic() < deadline, "requests were not queued in time"
        time.sleep(0.001)


def test_concurrent_results_match_unbatched():
    rng = np.random.default_rng(1)
    inputs = [rows(rng, int(rng.integers(1, 6))) for _ in range(200)]
    rec = Recorder(delay=0.002)
    with MicroBatcher(rec, max_batch=16, max_wait_ms=5) as batcher, ThreadPoolExecutor(24) as pool:
        outputs = list(pool.map(batcher.submit, inputs))
    for x, y in zip(inputs, outputs, strict=True):
        np.testing.assert_array_equal(y, rowwise(x))  # exact: each caller got its own rows, in order
    assert sum(rec.sizes) == sum(len(x) for x in inputs)
    assert rec.threads == {"micro-batcher"}  # fn only ever runs on the worker


def test_concurrent_requests_are_merged():
    n = 16
    rec = Recorder(delay=0.01)
    barrier = threading.Barrier(n)
    x = np.ones((1, 6), np.float32)

    def call(_):
        barrier.wait()
        return batcher.submit(x)

    with MicroBatcher(rec, max_batch=32, max_wait_ms=50) as batcher, ThreadPoolExecutor(n) as pool:
        list(pool.map(call, range(n)))
    assert sum(rec.sizes) == n
    assert len(rec.sizes) <= 4, rec.sizes  # 16 one-row calls became a handful of batches
    assert max(rec.sizes) > 1


def test_max_batch_respected_and_large_request_split():
    rec = Recorder(delay=0.002)
    rng = np.random.default_rng(2)
    big = rows(rng, 70)
    small = [rows(rng, int(rng.integers(1, 9))) for _ in range(60)]
    with MicroBatcher(rec, max_batch=8, max_wait_ms=5) as batcher, ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(batcher.submit, big)] + [pool.submit(batcher.submit, x) for x in small]
        results = [f.result() for f in futures]
    assert max(rec.sizes) <= 8, rec.sizes
    np.testing.assert_array_equal(results[0], rowwise(big))  # 70 rows came back whole, in order
    for x, y in zip(small, results[1:], strict=True):
        np.testing.assert_array_equal(y, rowwise(x))


def test_exception_reaches_only_its_batch():
    entered, gate = threading.Event(), threading.Event()

    def fn(x: np.ndarray) -> np.ndarray:
        entered.set()
        gate.wait(10)
        if (x < 0).any():
            raise ValueError("negative input")
        return x * 2

    ok, bad = np.ones((1, 2), np.float32), -np.ones((1, 2), np.float32)
    with MicroBatcher(fn, max_batch=8, max_wait_ms=1) as batcher, ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher.submit, ok)
        assert entered.wait(10)  # the worker took it alone and is blocked in fn
        poisoned = pool.submit(batcher.submit, bad)
        neighbour = pool.submit(batcher.submit, ok)  # shares the next batch with the bad row
        _wait_queued(batcher, 2)
        gate.set()
        np.testing.assert_array_equal(first.result(10), ok * 2)
        with pytest.raises(ValueError, match="negative"):
            poisoned.result(10)
        with pytest.raises(ValueError, match="negative"):
            neighbour.result(10)
        # The worker survived and later batches are unaffected.
        np.testing.assert_array_equal(batcher.submit(ok, timeout=10), ok * 2)


def test_wrong_row_count_is_an_error():
    with MicroBatcher(lambda x: x[:1], max_batch=4, max_wait_ms=0) as batcher:
        with pytest.raises(ValueError, match="1 rows for 3 inputs"):
            batcher.submit(np.zeros((3, 2)))


def test_shutdown_finishes_queued_work_then_refuses():
    gate = threading.Event()

    def fn(x):
        gate.wait(10)
        return x + 1

    batcher = MicroBatcher(fn, max_batch=2, max_wait_ms=1)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(batcher.submit, np.full((1, 1), i)) for i in range(4)]
        _wait_queued(batcher, 2)  # the worker holds one batch, the rest wait
        closer = threading.Thread(target=batcher.close)
        closer.start()
        gate.set()
        closer.join(10)
        assert [int(f.result(10)[0, 0]) for f in futures] == [1, 2, 3, 4]  # nothing queued was dropped
    assert not batcher._thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit(np.zeros((1, 1)))
    batcher.close()  # idempotent


def test_idle_batcher_closes_promptly():
    batcher = MicroBatcher(rowwise, max_wait_ms=1000)
    t0 = time.perf_counter()
    batcher.close()
    assert time.perf_counter() - t0 < 1.0  # the sleeping worker is woken, not polled
    assert not batcher._thread.is_alive()


def test_single_caller_waits_at_most_max_wait():
    wait_ms = 10.0
    with MicroBatcher(rowwise, max_batch=32, max_wait_ms=wait_ms) as batcher:
        x = np.ones((1, 6), np.float32)
        batcher.submit(x)
        times = []
        for _ in range(15):
            t0 = time.perf_counter()
            batcher.submit(x)
            times.append((time.perf_counter() - t0) * 1e3)
    # Median: a loaded CI machine may deschedule one call, but not most of them.
    assert statistics.median(times) < wait_ms + 15, times


def test_full_batch_does_not_wait():
    with MicroBatcher(rowwise, max_batch=8, max_wait_ms=2000) as batcher:
        t0 = time.perf_counter()
        batcher.submit(np.ones((8, 6), np.float32))
        assert time.perf_counter() - t0 < 1.0


def test_empty_request_and_bad_arguments():
    with MicroBatcher(rowwise, max_batch=4) as batcher:
        assert batcher.submit(np.zeros((0, 6), np.float32)).shape == (0, 4)
    with pytest.raises(ValueError):
        MicroBatcher(rowwise, max_batch=0)
    with pytest.raises(ValueError):
        MicroBatcher(rowwise, max_wait_ms=-1)


def test_char_predictor_batching_matches_direct(tiny_models_dir):
    from handwrite_digit_ocr.predict import CharPredictor

    weights = tiny_models_dir / "digit.keras"
    direct = CharPredictor(weights, backend="tf")
    batched = CharPredictor(weights, backend="tf", batching=True, max_wait_ms=5)
    try:
        rng = np.random.default_rng(3)
        inputs = [rng.random((int(rng.integers(1, 4)), 28, 28, 1), dtype=np.float32) for _ in range(40)]
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(batched.predict_proba, inputs))
        for x, y in zip(inputs, got, strict=True):
            # Not bit-identical: the rows may run in another padded bucket than alone.
            np.testing.assert_allclose(y, direct.predict_proba(x), atol=1e-5)
        assert batched.batcher.rows_run == sum(len(x) for x in inputs)
        assert batched.batcher.batches_run <= len(inputs)
    finally:
        batched.close()


def test_create_app_turns_batching_on(tiny_models_dir):
    from serving import create_app
    from tests.http_helpers import digit_like, encode

    app = create_app(tiny_models_dir, backend="tf", batch_wait_ms=2)
    predictor = app.extensions["ocr_registry"].get("digit").predictor
    try:
        assert predictor.batcher is not None and predictor.batcher.max_wait == pytest.approx(0.002)
        resp = app.test_client().post("/predict/digit", data=encode(digit_like(0)), content_type="image/png")
        assert resp.status_code == 200 and len(resp.get_json()["results"]) == 1
    finally:
        predictor.close()
    default = create_app(tiny_models_dir, backend="tf").extensions["ocr_registry"].get("digit").predictor
    try:  # greedy batching unless told otherwise (ocr_common.runtime.DEFAULT_BATCHING)
        assert default.batcher is not None and default.batcher.max_wait == 0.0
    finally:
        default.close()
    plain = create_app(tiny_models_dir, backend="tf", batching=False).extensions["ocr_registry"].get("digit")
    assert plain.predictor.batcher is None


def test_greedy_lone_caller_runs_on_its_own_thread_and_busy_callers_queue():
    """Greedy: an idle batcher lets the caller run fn itself (no hand-over); callers arriving
    while fn runs are queued and merged by the worker into one batch."""
    threads, sizes = [], []
    entered, gate = threading.Event(), threading.Event()

    def fn(x):
        threads.append(threading.current_thread().name)
        sizes.append(len(x))
        if len(sizes) == 1:
            entered.set()
            gate.wait(10)
        return x * 2

    with MicroBatcher(fn, max_batch=16, name="the-worker") as batcher, ThreadPoolExecutor(6) as pool:
        first = pool.submit(batcher.submit, np.ones((1, 3)))
        assert entered.wait(10)
        later = [pool.submit(batcher.submit, np.full((1, 3), i)) for i in range(5)]
        _wait_queued(batcher, 5)  # fn is busy on the first caller's thread: the others wait in the queue
        gate.set()
        np.testing.assert_array_equal(first.result(10), np.full((1, 3), 2))
        for i, f in enumerate(later):
            np.testing.assert_array_equal(f.result(10), np.full((1, 3), 2 * i))
        np.testing.assert_array_equal(batcher.submit(np.ones((2, 3))), np.full((2, 3), 2))
    assert threads[0] != "the-worker" and sizes[0] == 1  # the lone caller ran fn itself
    assert threads[1] == "the-worker" and sizes[1] == 5  # the five queued callers: one batch
    assert threads[2] != "the-worker"  # idle again: the next lone caller runs directly
    assert batcher.batches_run == 3 and batcher.rows_run == 8
