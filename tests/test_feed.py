"""``ocr_common.feed.parallel_batches``: batches from spawned workers, each with its own seed;
a worker's error reaches the trainer as an error, not a hang."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest

from ocr_common.feed import FeedError, parallel_batches


def counting(seed, *, start: int = 0):
    for i in itertools.count(start):
        yield seed, i


def failing(seed):
    yield seed, 0
    raise ValueError(f"bad shard in worker {seed}")


def test_every_worker_feeds_in_its_own_order():
    gen = parallel_batches(functools.partial(counting, start=5), [0, 1, 2], queue_size=2)
    items = []
    while {s for s, _ in items} != {0, 1, 2} and len(items) < 100_000:  # the first to start may lead
        items.append(next(gen))
    gen.close()
    assert {s for s, _ in items} == {0, 1, 2}
    for seed in (0, 1, 2):  # each worker's items arrive in the order it made them
        mine = [i for s, i in items if s == seed]
        assert mine == list(range(5, 5 + len(mine)))


def test_a_worker_error_is_raised_with_its_traceback():
    gen = parallel_batches(failing, [7])
    assert next(gen) == (7, 0)
    with pytest.raises(FeedError, match="bad shard in worker 7"):
        next(gen)


def test_no_worker_is_an_error():
    with pytest.raises(ValueError, match="at least one"):
        next(parallel_batches(counting, []))


def test_gamma_scale_keeps_ink_and_paper_and_varies_the_middle():
    from chinese_ocr.data import gamma_scale

    x = np.tile(np.array([0, 128, 255], np.uint8), (64, 2, 1))
    out = gamma_scale(x, np.random.default_rng(0))
    assert out.dtype == np.float32 and out.shape == x.shape
    assert (out[..., 0] == 0).all() and np.allclose(out[..., 2], 1.0)
    mid = out[:, 0, 1]
    assert 0.3 < mid.min() < 0.5 < mid.max() < 0.7  # exp(U(-0.4, 0.4)) around 128/255


def slow_batches(seed, *, delay: float = 0.05):
    import time

    for i in itertools.count():
        time.sleep(delay)
        yield np.full((4, 2), seed * 1000 + i, np.int64), np.full(4, seed * 1000 + i, np.int64)


def test_replay_fills_waits_from_the_pool_up_to_max_reuse():
    stats = {}
    gen = parallel_batches(slow_batches, [1, 2], replay=3, max_reuse=2.0, stats=stats)
    items = [next(gen) for _ in range(40)]
    gen.close()
    assert stats["fresh"] + stats["replayed"] == 40
    assert stats["replayed"] > 0  # the workers sleep, so waits were filled
    assert stats["replayed"] <= 2.0 * stats["fresh"]
    fresh = set()
    for x, y in items:
        assert x.shape == (4, 2) and y.shape == (4,)
        assert (x[:, 0] == y).all() and (x[:, 1] == y).all()  # rows stay whole when mixed
        if len(set(y.tolist())) == 1 and y[0] not in fresh:
            fresh.add(int(y[0]))
        else:  # a replayed batch: every row comes from a batch seen before
            assert set(y.tolist()) <= fresh


def test_without_replay_every_batch_is_fresh():
    stats = {}
    gen = parallel_batches(functools.partial(slow_batches, delay=0.01), [3], stats=stats)
    ys = [int(next(gen)[1][0]) for _ in range(5)]
    gen.close()
    assert ys == [3000, 3001, 3002, 3003, 3004] and stats == {"fresh": 5, "replayed": 0}


def pids(seed):
    import os

    while True:
        yield seed, os.getpid()


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")  # exited, not yet reaped
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self"), reason="reads /proc")
def test_workers_exit_when_the_trainer_is_killed(tmp_path):
    """A trainer killed outright never closes its feed: its workers see it gone and exit."""
    import os
    import signal
    import subprocess
    import sys
    import time

    code = ("import sys, time\nfrom ocr_common.feed import parallel_batches\nfrom tests.test_feed import pids\n"
            "gen = parallel_batches(pids, [0], queue_size=1)\nprint(next(gen)[1], flush=True)\ntime.sleep(120)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trainer = subprocess.Popen([sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        worker = int(trainer.stdout.readline())
        time.sleep(1.0)
        assert not _gone(worker)  # alive while its trainer is
        os.kill(trainer.pid, signal.SIGKILL)
        trainer.wait(timeout=10)
        deadline = time.monotonic() + 15
        while not _gone(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _gone(worker)
    finally:
        trainer.kill()
