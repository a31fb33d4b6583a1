"""Dynamic micro-batching: many concurrent small requests -> few larger model calls.

    batcher = MicroBatcher(model_fn, max_batch=32)          # greedy: max_wait_ms=0
    probs = batcher.submit(x)  # from any thread; blocks until this caller's rows are ready
    batcher.close()

A CNN on a 28x28 image costs about as much at batch 8 as at batch 1 on a CPU (the fixed cost
per call dominates), so when several server threads each hold one image, running them as one
batch raises throughput. One worker thread owns the model: it takes the first waiting request
together with every request of the same input shape queued behind it (up to ``max_batch``
rows), runs ``fn`` once and hands every caller its own rows.

By default (``max_wait_ms=0``) the batcher is *greedy*: it never waits for company. A caller
that finds the model idle and nobody queued runs ``fn`` itself, on its own thread, so a lone
client pays nothing (not even the hand-over to the worker); callers that arrive while the model
is busy queue up, and the worker runs all of them as the next batch once it is free. ``max_wait_ms > 0`` instead keeps
gathering for up to that long after the oldest request arrived, trading latency for fuller
batches.

``fn`` may return one array or a list of arrays (a model with several outputs); each is split
by rows between the callers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

BatchFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class _Pending:
    """One queued chunk (at most ``max_batch`` rows) and where its answer goes."""

    x: np.ndarray
    future: Future = field(default_factory=Future)
    t_enqueued: float = field(default_factory=time.monotonic)


class MicroBatcher:
    """Merges concurrent :meth:`submit` calls into batches of at most ``max_batch`` rows for ``fn``.

    ``fn`` maps an ``(N, ...)`` array to an ``(N, ...)`` array row by row (row ``i`` of the
    output belongs to row ``i`` of the input), and is only ever called by one thread at a time
    (the worker, or a lone caller under greedy batching), so it needs no lock of its own. An
    exception raised by ``fn`` reaches exactly the callers whose rows were in that batch; the
    worker carries on with the next one.
    """

    def __init__(self, fn: BatchFn, max_batch: int = 32, max_wait_ms: float = 0.0, name: str = "micro-batcher"):
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1e3
        self.batches_run = 0  # for benchmarks and tests: how well requests were merged
        self.rows_run = 0
        self._queue: deque[_Pending] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._busy = False  # fn is running (on the worker or on a caller's own thread)
        # Daemon: a batcher nobody closed must not keep the interpreter alive at exit.
        self._thread = threading.Thread(target=self._worker, name=name, daemon=True)
        self._thread.start()

    # -- callers ---------------------------------------------------------------------------
    def submit(self, x: np.ndarray, timeout: float | None = None) -> np.ndarray:
        """Run ``fn`` on ``x`` (``(N, ...)``), batched with other callers; blocks until done.

        A request larger than ``max_batch`` is split into chunks that are queued together, so
        it is never refused and never makes a batch larger than ``max_batch``.
        """
        x = np.asarray(x)
        # An empty request still goes through the worker: fn decides the shape of an empty answer.
        chunks = [_Pending(x[i : i + self.max_batch]) for i in range(0, len(x), self.max_batch)] or [_Pending(x)]
        with self._cond:
            if self._closed:
                raise RuntimeError("MicroBatcher is closed")
            # Greedy and nothing to merge with: run on this thread, no hand-over to the worker.
            direct = self.max_wait == 0 and not self._busy and not self._queue and 0 < len(x) <= self.max_batch
            if direct:
                self._busy = True
            else:
                self._queue.extend(chunks)
                self._cond.notify()
        if direct:
            try:
                multi, outs = self._apply(x)
            finally:
                self._release()
            return outs if multi else outs[0]
        try:
            parts = [c.future.result(timeout) for c in chunks]
        except TimeoutError:
            for c in chunks:
                c.future.cancel()  # chunks not yet picked up are skipped by the worker
            raise
        if len(parts) == 1:
            return parts[0]
        if isinstance(parts[0], list):
            return [np.concatenate(p) for p in zip(*parts, strict=True)]
        return np.concatenate(parts)

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop accepting work, finish what is queued, then stop the worker. Idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def __enter__(self) -> MicroBatcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- worker ----------------------------------------------------------------------------
    def _next_batch(self) -> list[_Pending] | None:
        """Block until there is work, gather one batch; ``None`` once closed and drained."""
        with self._cond:
            while not self._queue or self._busy:  # busy: a lone caller is running fn itself
                if self._closed and not self._queue:
                    return None
                self._cond.wait()
            # The wait is counted from when the oldest request arrived, not from now: a request
            # that already queued behind a running batch has waited enough.
            shape = self._queue[0].x.shape[1:]
            deadline = self._queue[0].t_enqueued + self.max_wait
            while True:
                rows = sum(len(p.x) for p in self._queue if p.x.shape[1:] == shape)
                remaining = deadline - time.monotonic()
                if rows >= self.max_batch or remaining <= 0 or self._closed:
                    break
                self._cond.wait(remaining)  # woken by each submit, so a full batch leaves early
            # Requests of another input shape (a wider word image, say) stay queued, in order,
            # for a later batch: only equal shapes can be stacked.
            batch, rest, rows = [], deque(), 0
            while self._queue:
                p = self._queue.popleft()
                if p.x.shape[1:] == shape and rows + len(p.x) <= self.max_batch:
                    batch.append(p)
                    rows += len(p.x)
                else:
                    rest.append(p)
                    if rows >= self.max_batch:
                        break
            rest.extend(self._queue)
            self._queue = rest
            self._busy = True
            return batch

    def _run(self, batch: list[_Pending]) -> None:
        # A caller that gave up (timeout, cancel) must not break the batch for the others.
        batch = [p for p in batch if p.future.set_running_or_notify_cancel()]
        if not batch:
            return
        try:
            x = batch[0].x if len(batch) == 1 else np.concatenate([p.x for p in batch])
            multi, outs = self._apply(x)
        except BaseException as e:
            for p in batch:
                p.future.set_exception(e)
            if not isinstance(e, Exception):
                raise  # SystemExit and the like end the worker (see _worker)
            return
        start = 0
        for p in batch:
            rows = [o[start : start + len(p.x)] for o in outs]
            p.future.set_result(rows if multi else rows[0])
            start += len(p.x)

    def _apply(self, x: np.ndarray) -> tuple[bool, list[np.ndarray]]:
        """``fn(x)`` checked row by row: ``(whether fn returned several outputs, the outputs)``."""
        y = self.fn(x)
        multi = isinstance(y, list | tuple)
        outs = [np.asarray(o) for o in y] if multi else [np.asarray(y)]
        for o in outs:
            if len(o) != len(x):
                raise ValueError(f"batch function returned {len(o)} rows for {len(x)} inputs")
        self.batches_run += 1
        self.rows_run += len(x)
        return multi, outs

    def _release(self) -> None:
        """fn is free again: wake the worker for whatever queued meanwhile."""
        with self._cond:
            self._busy = False
            self._cond.notify_all()

    def _worker(self) -> None:
        try:
            while (batch := self._next_batch()) is not None:
                try:
                    self._run(batch)
                finally:
                    self._release()
        finally:
            # Only reached early on a BaseException in fn (e.g. SystemExit): fail whoever is still
            # waiting rather than leave them blocked forever.
            with self._cond:
                self._closed = True
                leftovers = list(self._queue)
                self._queue.clear()
            for p in leftovers:
                if p.future.set_running_or_notify_cancel():
                    p.future.set_exception(RuntimeError("MicroBatcher worker stopped"))
