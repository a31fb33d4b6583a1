"""Training batches made by worker processes, for a many-core machine feeding a fast accelerator.

``tf.data`` runs a Python generator in one thread, which caps a generator-heavy pipeline (rendered
or packed lines) at one core: about 1,100 rows a second for the Chinese recogniser on this
project's CPUs, far below what a GPU trains on. :func:`parallel_batches` runs ``workers`` copies
of a generator in spawned processes (spawned, not forked: a forked TensorFlow or JAX parent can
deadlock), each with its own seed, and yields their batches as they come. It works on every
Keras backend: ``model.fit`` takes the generator as it is.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import traceback
from collections.abc import Callable, Iterator
from typing import Any


class FeedError(RuntimeError):
    """A feed worker failed; the message carries its traceback."""


def _worker(make: Callable[[Any], Iterator], seed: Any, out, stop) -> None:
    try:
        for item in make(seed):
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
    except BaseException:  # noqa: BLE001  (reported to the parent, which raises it)
        out.put(FeedError(traceback.format_exc()))


def parallel_batches(make: Callable[[Any], Iterator], seeds: list, *, queue_size: int = 0,
                     poll: float = 1.0) -> Iterator:
    """Endless items of ``make(seed)`` for every seed, each in its own process, interleaved as they
    are ready. ``make`` must be picklable (a top-level function or a ``functools.partial`` of
    one). A worker's exception is raised here as :class:`FeedError`; the workers stop when the
    generator is closed or collected."""
    if not seeds:
        raise ValueError("parallel_batches needs at least one seed (one worker)")
    ctx = mp.get_context("spawn")
    out = ctx.Queue(maxsize=queue_size or 4 * len(seeds))
    stop = ctx.Event()
    procs = [ctx.Process(target=_worker, args=(make, s, out, stop), daemon=True) for s in seeds]
    for p in procs:
        p.start()
    try:
        while True:
            try:
                item = out.get(timeout=poll)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    raise FeedError("every feed worker has exited") from None
                continue
            if isinstance(item, FeedError):
                raise item
            yield item
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=2)
            if p.is_alive():
                p.terminate()
