"""Pre-rendered training data in numbered ``.npz`` shards, written by parallel worker processes.

Rendering synthetic samples on the fly starves training on a 2-core machine, so each task
renders its set once into ``<dir>/shard-00000.npz`` ... and streams the shards afterwards.
Shard ``i`` depends only on its own arguments (the caller seeds it by index), never on the
number of workers; complete shards found on disk are kept, so an interrupted render resumes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np


def shard_files(folder: str | Path) -> list[Path]:
    return sorted(Path(folder).glob("shard-*.npz"))


def has_rows(path: Path, key: str, count: int, keys: set[str] | None = None) -> bool:
    """True when ``path`` is a readable npz whose ``key`` has ``count`` rows (and holds ``keys``)."""
    try:
        with np.load(path, allow_pickle=False) as d:
            return set(d.files) >= (keys or {key}) and d[key].shape[0] == count
    except Exception:  # missing, truncated or foreign file: render it again
        return False


def _init_worker() -> None:
    import cv2

    # One OpenCV thread per worker: the workers already use every core.
    cv2.setNumThreads(1)


def render_shards(out_dir: str | Path, n: int, render: Callable[[tuple[str, int, int]], int], *,
                  complete: Callable[[Path, int], bool], shard_size: int = 500,
                  workers: int | None = None) -> list[Path]:
    """Render ``n`` samples into ``out_dir/shard-*.npz`` with a progress bar.

    ``render((path, count, shard_index)) -> count`` writes one shard (a picklable top-level
    function, or a ``functools.partial`` of one: workers are spawned, not forked, because a
    forked TensorFlow parent can deadlock); ``complete(path, count)`` says whether a shard on disk
    is whole."""
    import multiprocessing as mp

    import keras

    from ocr_common.cpu import usable_cores

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths, jobs = [], []
    for i in range(math.ceil(n / shard_size)):
        count = min(shard_size, n - i * shard_size)
        path = out / f"shard-{i:05d}.npz"
        paths.append(path)
        if not complete(path, count):
            jobs.append((str(path), count, i))
    bar = keras.utils.Progbar(n, unit_name="sample")
    bar.add(n - sum(j[1] for j in jobs))
    if jobs:
        workers = max(1, min(workers or int(usable_cores()), len(jobs)))
        with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            for count in pool.imap_unordered(render, jobs):
                bar.add(count)
    return paths


def load_text_shards(files: list[Path], meta: str, limit: int = 0) -> tuple[np.ndarray, list[str], list[str]]:
    """``(images (N, H, W) uint8, texts, <meta> strings)`` of text-line shards, in order; a shard
    without the ``meta`` key gives empty strings."""
    images, texts, extra = [], [], []
    for f in files:
        with np.load(f) as z:
            images.append(z["images"])
            texts += [str(t) for t in z["texts"]]
            extra += [str(s) for s in z[meta]] if meta in z.files else [""] * len(z["texts"])
    if not images:
        raise FileNotFoundError("no shard files given")
    x = np.concatenate(images)
    if limit:
        x, texts, extra = x[:limit], texts[:limit], extra[:limit]
    return x, texts, extra
