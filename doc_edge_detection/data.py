"""Data for document edge detection: synthetic shards for training, photo folders for evaluation.

* Synthetic shards (``doc_edge_detection.synth.render_shards``): ``shard-*.npz`` with ``images``
  ``(N, S, S, 3)`` uint8, ``corners`` ``(N, 4, 2)`` in pixels (NaN without a page), ``has_page``
  and ``edges`` ``(N, S, S)``. Training streams them shard by shard (a 30,000-image set is 8 GB
  as float32 and need not fit in memory), shuffled per epoch, with flips and quarter turns.
* Photo folders: JPEGs plus ``corners.json`` (``{"file.jpg": [[x, y] x 4]}``, TL, TR, BR, BL),
  the format of the real sets in ``shared/data/doc_photos*`` and of
  ``synth.render_photo_folder``'s held-out photos.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocr_common.image import load_image_file
from ocr_common.shards import shard_files


@dataclass
class Photo:
    name: str
    image: np.ndarray  # HxWx3 (or HxW) uint8, EXIF orientation applied
    corners: np.ndarray  # (4, 2) float32, TL, TR, BR, BL in pixels


def load_photo_folder(folder: str | Path) -> list[Photo]:
    """Every photo named in ``folder/corners.json``, in name order."""
    folder = Path(folder)
    index = folder / "corners.json"
    if not index.is_file():
        raise FileNotFoundError(f"{index} not found: a photo folder needs corners.json ({{file: [[x, y] x 4]}})")
    table = json.loads(index.read_text(encoding="utf-8"))
    photos = []
    for name in sorted(table):
        corners = np.asarray(table[name], np.float32)
        if corners.shape != (4, 2):
            raise ValueError(f"{index}: {name} has corners of shape {corners.shape}, expected 4 [x, y] points")
        photos.append(Photo(name, load_image_file(folder / name), corners))
    return photos


def shard_sizes(files: list[Path]) -> list[int]:
    """Samples per shard (reads one small array of each)."""
    sizes = []
    for f in files:
        with np.load(f) as z:
            sizes.append(int(z["has_page"].shape[0]))
    return sizes


def ensure_shards(folder: str | Path, n: int, *, split: str, size: int, seed: int) -> list[Path]:
    """The first shards of ``folder`` that hold ``n`` samples, rendering the missing ones first
    (resumable). Shards rendered at another size are refused rather than failing later in ``fit``."""
    from doc_edge_detection.synth import render_shards

    files = shard_files(folder)
    sizes = shard_sizes(files)
    if sum(sizes) < n:
        print(f"rendering {n} {split} samples into {folder}", flush=True)
        render_shards(folder, n, size=(size, size), seed=seed, split=split)
        files = shard_files(folder)
        sizes = shard_sizes(files)
    with np.load(files[0]) as z:
        found = z["images"].shape[1:3]
    if found != (size, size):
        raise SystemExit(f"error: the shards in {folder} are {found[1]}x{found[0]}, the network takes {size}x{size}; "
                         f"render them again into another folder (--synth-dir)")
    keep, total = [], 0
    for f, k in zip(files, sizes):
        if total >= n:
            break
        keep.append(f)
        total += k
    return keep


def position_order(corners: np.ndarray) -> np.ndarray:
    """Corners of each sample ordered TL, TR, BR, BL by image position (what the corner model predicts)."""
    from doc_edge_detection.geometry import order_corners

    return np.stack([order_corners(c) if np.isfinite(c).all() else c for c in corners])


def _turn(images, edges, corners, k: int, flip: bool):
    """Quarter turns ``k`` (counter-clockwise, as np.rot90) and a horizontal flip, with the corners."""
    s = images.shape[1]
    if flip:
        images, edges = images[:, :, ::-1], edges[:, :, ::-1]
        corners = corners.copy()
        corners[..., 0] = s - 1 - corners[..., 0]
    for _ in range(k):
        images, edges = np.rot90(images, axes=(1, 2)), np.rot90(edges, axes=(1, 2))
        x, y = corners[..., 0].copy(), corners[..., 1].copy()
        corners = np.stack([y, s - 1 - x], axis=-1)
    return np.ascontiguousarray(images), np.ascontiguousarray(edges), corners


def iterate_shards(
    files: list[Path], arch: str, *, seed: int | list[int] = 0, augment: bool = True, batch: int = 16
) -> Iterator[tuple]:
    """Endless ``(x, y, sample_weight)`` batches: ``x`` uint8 images; ``y`` the edge map
    ``(N, S, S, 1)`` for HED or position-ordered corners in ``[0, 1]`` for the corner model, whose
    no-page samples get weight 0."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(files)) if augment else np.arange(len(files))
        for i in order:
            with np.load(files[i]) as z:
                images, edges, corners, has = z["images"], z["edges"], z["corners"], z["has_page"]
            idx = rng.permutation(len(images)) if augment else np.arange(len(images))
            for b in range(0, len(idx), batch):
                j = idx[b : b + batch]
                xi, ei, ci = images[j], edges[j], corners[j]
                if augment:
                    xi, ei, ci = _turn(xi, ei, ci, int(rng.integers(4)), bool(rng.integers(2)))
                yield make_targets(xi, ei, ci, has[j], arch)
        if not augment:
            return


def make_targets(images, edges, corners, has_page, arch: str) -> tuple:
    s = images.shape[1]
    if arch == "hed":
        return images, edges[..., None].astype(np.float32), np.ones(len(images), np.float32)
    ordered = np.nan_to_num(position_order(corners), nan=0.5)
    # Soft-argmax cannot point outside the frame: a corner beyond the border is learnt on it.
    target = np.clip((ordered + 0.5) / s, 0.0, 1.0).astype(np.float32)
    return images, target, has_page.astype(np.float32)


def tf_dataset(files: list[Path], arch: str, size: int, batch: int, *, seed: int | list[int] = 0,
               augment: bool = True):
    """A ``tf.data`` pipeline over :func:`iterate_shards` with light colour jitter for training."""
    import tensorflow as tf

    y_spec = (
        tf.TensorSpec((None, size, size, 1), tf.float32) if arch == "hed" else tf.TensorSpec((None, 4, 2), tf.float32)
    )
    ds = tf.data.Dataset.from_generator(
        lambda: iterate_shards(files, arch, seed=seed, augment=augment, batch=batch),
        output_signature=(tf.TensorSpec((None, size, size, 3), tf.uint8), y_spec, tf.TensorSpec((None,), tf.float32)),
    )

    def prep(x, y, w):
        x = tf.cast(x, tf.float32) / 255.0
        if augment:
            # Colour only: geometry changes the targets and is done in iterate_shards.
            x = tf.image.random_brightness(x, 0.1)
            x = tf.image.random_contrast(x, 0.8, 1.2)
            x = tf.image.random_saturation(x, 0.7, 1.3)
            x = tf.image.random_hue(x, 0.04)
            x = tf.clip_by_value(x, 0.0, 1.0)
        return x, y, w

    return ds.map(prep, num_parallel_calls=1).prefetch(2)


def load_arrays(files: list[Path], arch: str, limit: int = 0) -> tuple:
    """A validation set in memory: ``(x float32 [0, 1], y, sample_weight)``."""
    parts = list(iterate_shards(files, arch, augment=False, batch=10**6))
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    w = np.concatenate([p[2] for p in parts])
    if limit:
        x, y, w = x[:limit], y[:limit], w[:limit]
    return x.astype(np.float32) / 255.0, y, w
