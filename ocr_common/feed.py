"""Training batches made by worker processes, for a many-core machine feeding a fast accelerator.

``tf.data`` runs a Python generator in one thread, which caps a generator-heavy pipeline (rendered
or packed lines) at one core: about 1,100 rows a second for the Chinese recogniser on this
project's CPUs, far below what a GPU trains on. :func:`parallel_batches` runs ``workers`` copies
of a generator in spawned processes (spawned, not forked: a forked TensorFlow or JAX parent can
deadlock), each with its own seed, and yields their batches as they come. It works on every
Keras backend: ``model.fit`` takes the generator as it is.

Where the accelerator trains faster than the workers make batches, ``replay`` keeps the last
batches in a pool and, whenever no fresh batch is waiting, yields one mixed from the pool's rows
instead of waiting, at most ``max_reuse`` replayed batches for every fresh one. Fresh batches
always come first, so a slow accelerator sees no replay at all.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import traceback
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


class FeedError(RuntimeError):
    """A feed worker failed; the message carries its traceback."""


def _worker(make: Callable[[Any], Iterator], seed: Any, out, stop) -> None:
    # A trainer killed outright (SIGTERM, SIGKILL) never sets ``stop``: without this check its
    # workers waited on the full queue for good, each holding its renderer's memory.
    parent = mp.parent_process()
    try:
        for item in make(seed):
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.5)
                    break
                except queue.Full:
                    if parent is not None and not parent.is_alive():
                        return
                    continue
            if stop.is_set():
                return
    except BaseException:  # noqa: BLE001  (reported to the parent, which raises it)
        out.put(FeedError(traceback.format_exc()))


def mixed_batch(pool, rng) -> tuple:
    """A batch of the first pool batch's size whose rows are drawn at random from every batch in
    ``pool`` (tuples of arrays sharing their first axis, such as ``(x, y)``)."""
    sizes = np.array([len(b[0]) for b in pool])
    picks = rng.integers(len(pool), size=sizes[0])
    rows = (rng.random(sizes[0]) * sizes[picks]).astype(int)
    return tuple(np.stack([pool[j][k][r] for j, r in zip(picks, rows)]) for k in range(len(pool[0])))


def parallel_batches(make: Callable[[Any], Iterator], seeds: list, *, queue_size: int = 0,
                     poll: float = 1.0, replay: int = 0, max_reuse: float = 3.0,
                     stats: dict | None = None) -> Iterator:
    """Endless items of ``make(seed)`` for every seed, each in its own process, interleaved as they
    are ready. ``make`` must be picklable (a top-level function or a ``functools.partial`` of
    one). A worker's exception is raised here as :class:`FeedError`; the workers stop when the
    generator is closed or collected.

    ``replay`` > 0 (items must then be tuples of arrays): a pool of that many recent batches
    fills the waits for fresh ones, up to ``max_reuse`` replayed batches per fresh one (see the
    module docstring). ``stats``, where given, counts ``fresh`` and ``replayed`` batches."""
    if not seeds:
        raise ValueError("parallel_batches needs at least one seed (one worker)")
    if replay < 0 or max_reuse < 0:
        raise ValueError("replay and max_reuse cannot be negative")
    stats = {} if stats is None else stats
    stats.setdefault("fresh", 0)
    stats.setdefault("replayed", 0)
    pool: deque = deque(maxlen=replay or 1)
    rng = np.random.default_rng(zlib.crc32(repr(seeds).encode()))
    ctx = mp.get_context("spawn")
    out = ctx.Queue(maxsize=queue_size or 4 * len(seeds))
    stop = ctx.Event()
    procs = [ctx.Process(target=_worker, args=(make, s, out, stop), daemon=True) for s in seeds]
    for p in procs:
        p.start()
    try:
        while True:
            can_replay = replay and len(pool) == replay and stats["replayed"] < max_reuse * stats["fresh"]
            try:
                item = out.get_nowait() if can_replay else out.get(timeout=poll)
            except queue.Empty:
                if can_replay:
                    stats["replayed"] += 1
                    yield mixed_batch(pool, rng)
                elif not any(p.is_alive() for p in procs):
                    raise FeedError("every feed worker has exited") from None
                continue
            if isinstance(item, FeedError):
                raise item
            if replay:
                pool.append(item)
            stats["fresh"] += 1
            yield item
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=2)
            if p.is_alive():
                p.terminate()
