"""Data for CTPN: page shards -> augmented, padded batches with per-anchor targets.

Shards are those of :func:`ctpn.synth.render_shards` (``shard-*.npz``: JPEG pages plus a ``(4, 2)``
quad per text line, see :func:`ctpn.synth.pack_pages`). Training streams them shard by shard, in a
new order every pass, and picks up shards a renderer adds meanwhile.

Augmentation (training only), per page:

* a 180-degree turn of 10 % of the pages: upside-down pages reach the detector (a scan fed the wrong
  way round) and it should find their lines all the same; reading them the right way up is the
  orientation classifier's job, after detection;
* a random scale of 0.6-1.4, the long side kept within ``max_side`` (640: CPU training speed);
* a random crop (30 % of pages) to 60-100 % of each side; a line the crop cuts keeps its clipped
  box when at least half of its width and height remain, otherwise it is no target and the anchors
  over what is left of it are ignored (neither text nor background: it is partly text);
* colour jitter: contrast, brightness, per-channel gain, sometimes grey or inverted (light text on
  dark).

No horizontal flip: the targets would survive it (side refinement learns both ends alike, so it is
symmetric), but mirrored glyphs never reach the detector, and learning them costs capacity that
real text needs.

Pages of one batch are padded at the bottom/right with their own border colour to a common size,
a multiple of the stride (16), so the feature map is exactly ``(h / 16, w / 16)`` and the padded
area is plain background in the targets.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from ctpn.anchors import make_anchors
from ctpn.config import CTPNConfig
from ctpn.preprocess import prepare_page
from ctpn.targets import assign_targets, targets_to_maps
from ocr_common.shards import shard_files

TRAIN_MAX_SIDE = 640  # long side of an augmented training page
SCALE_RANGE = (0.6, 1.4)
ROTATE_P = 0.1  # share of pages turned by 180 degrees
CROP_P, CROP_MIN = 0.3, 0.6  # share of pages cropped; smallest crop side as a share of the page's
MIN_KEEP = 0.5  # a cut line stays a target when this share of its width and of its height remain
MIN_SIDE = 64  # no crop or scale makes a page side smaller than this (px)

Batch = tuple[np.ndarray, dict[str, np.ndarray]]


def _shards(folders: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(folders, str | Path):
        folders = [folders]
    return [f for folder in folders for f in shard_files(folder)]


def _quads(lines) -> np.ndarray:
    return np.asarray(lines, np.float32).reshape(-1, 4, 2)


def _prepared(page, cfg: CTPNConfig) -> tuple[np.ndarray, np.ndarray]:
    """A page as serving sees it (:func:`ctpn.preprocess.prepare_page`) and its quads at that size."""
    image, _ = prepare_page(page.image, cfg)
    h, w = page.image.shape[:2]
    return image, _quads(page.lines) * np.array([image.shape[1] / w, image.shape[0] / h], np.float32)


def border_colour(image: np.ndarray) -> np.ndarray:
    """Median colour of the outermost pixel ring: what padding should look like next to the page."""
    ring = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return np.median(ring.reshape(-1, image.shape[-1]), axis=0).astype(image.dtype)


def rotate_180(image: np.ndarray, quads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The page turned upside down; quads (pixel-edge coordinates) turned with it and reordered so
    that the first corner is again the top-left one."""
    h, w = image.shape[:2]
    q = np.stack([w - quads[..., 0], h - quads[..., 1]], axis=-1)
    return np.ascontiguousarray(image[::-1, ::-1]), q[:, [2, 3, 0, 1]].astype(np.float32)


def rescale(image: np.ndarray, quads: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Resize the page by ``scale``; quads follow by the exact per-axis ratio of the rounded size."""
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    out = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return out, (quads * np.array([size[0] / w, size[1] / h], np.float32)).astype(np.float32)


def crop(image: np.ndarray, quads: np.ndarray, box: tuple[int, int, int, int],
         min_keep: float = MIN_KEEP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut ``box`` = ``x0, y0, x1, y1`` out of the page -> ``(image, kept quads, ignore boxes)``.

    A line wholly inside stays as it is; one the crop cuts is clipped to it when at least
    ``min_keep`` of its width and height remain, otherwise its visible rest becomes an ``(n, 4)``
    xyxy ignore box; lines outside vanish."""
    x0, y0, x1, y1 = box
    q = quads - np.array([x0, y0], np.float32)
    w, h = x1 - x0, y1 - y0
    lo, hi = q.min(axis=1), q.max(axis=1)  # (n, 2) extents
    vis_lo, vis_hi = np.maximum(lo, 0), np.minimum(hi, [w, h])
    size = np.maximum(hi - lo, 1e-6)
    frac = np.clip((vis_hi - vis_lo) / size, 0, None)
    seen = (frac > 0).all(axis=1)
    keep = seen & (frac >= min_keep).all(axis=1)
    kept = q[keep].copy()
    kept[..., 0] = np.clip(kept[..., 0], 0, w)
    kept[..., 1] = np.clip(kept[..., 1], 0, h)
    ignore = np.concatenate([vis_lo, vis_hi], axis=1)[seen & ~keep].astype(np.float32)
    return image[y0:y1, x0:x1], kept.astype(np.float32), ignore


def jitter_colour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Contrast, brightness and per-channel gain changes of a float page; sometimes grey or inverted."""
    x = image
    mean = x.mean()
    x = (x - mean) * rng.uniform(0.6, 1.2) + mean + rng.uniform(-0.15, 0.15)
    x = x * rng.uniform(0.9, 1.1, size=3).astype(np.float32)
    if rng.random() < 0.15:
        x = np.repeat(x.mean(axis=-1, keepdims=True), 3, axis=-1)
    if rng.random() < 0.1:
        x = 1.0 - x
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def augment_page(image: np.ndarray, quads: np.ndarray, rng: np.random.Generator,
                 max_side: int = TRAIN_MAX_SIDE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One training page (float32 in [0, 1]) -> ``(image, quads, ignore boxes)`` (see the module doc)."""
    ignore = np.zeros((0, 4), np.float32)
    if rng.random() < ROTATE_P:
        image, quads = rotate_180(image, quads)
    h, w = image.shape[:2]
    scale = rng.uniform(*SCALE_RANGE)
    scale = min(scale, max_side / max(h, w))
    scale = max(scale, min(MIN_SIDE / min(h, w), 1.0))
    image, quads = rescale(image, quads, scale)
    h, w = image.shape[:2]
    if rng.random() < CROP_P and min(h, w) > MIN_SIDE:
        cw = int(rng.integers(max(MIN_SIDE, int(w * CROP_MIN)), w + 1))
        ch = int(rng.integers(max(MIN_SIDE, int(h * CROP_MIN)), h + 1))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        image, quads, ignore = crop(image, quads, (x0, y0, x0 + cw, y0 + ch))
    return jitter_colour(image, rng), quads, ignore


def page_targets(height: int, width: int, quads: np.ndarray, cfg: CTPNConfig, rng: np.random.Generator,
                 ignore: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Target maps of one (padded) page of ``height x width`` (multiples of the stride): anchors of the
    ``(h / 16, w / 16)`` map labelled against ``quads``; background anchors centred in an ``ignore``
    box become -1."""
    fh, fw = height // cfg.stride, width // cfg.stride
    anchors = make_anchors(fh, fw, cfg)
    t = assign_targets(anchors, list(_quads(quads)), cfg, rng=rng)
    if ignore is not None and len(ignore):
        cx, cy = (anchors[:, 0] + anchors[:, 2]) / 2, (anchors[:, 1] + anchors[:, 3]) / 2
        b = np.asarray(ignore, np.float32)
        inside = ((cx[:, None] >= b[:, 0]) & (cx[:, None] <= b[:, 2]) & (cy[:, None] >= b[:, 1])
                  & (cy[:, None] <= b[:, 3])).any(axis=1)
        t.labels[inside & (t.labels == 0)] = -1
    return targets_to_maps(t, fh, fw, cfg.k)


def make_batch(items: list[tuple[np.ndarray, np.ndarray, np.ndarray]], cfg: CTPNConfig,
               rng: np.random.Generator) -> Batch:
    """``(image float32, quads, ignore boxes)`` pages -> ``(x (B, H, W, 3), {"cls", "reg", "side"})``:
    each page padded bottom/right with its border colour to the batch's size (a stride multiple)."""
    s = cfg.stride
    height = -(-max(im.shape[0] for im, _, _ in items) // s) * s
    width = -(-max(im.shape[1] for im, _, _ in items) // s) * s
    x = np.empty((len(items), height, width, 3), np.float32)
    maps = []
    for i, (im, quads, ignore) in enumerate(items):
        x[i] = border_colour(im)
        x[i, : im.shape[0], : im.shape[1]] = im
        maps.append(page_targets(height, width, quads, cfg, rng, ignore))
    return x, {key: np.stack([m[key] for m in maps]) for key in ("cls", "reg", "side")}


def iterate_pages(folders: str | Path | Sequence[str | Path], cfg: CTPNConfig, *, batch: int = 4,
                  seed: int | Sequence[int] = 0, augment: bool = True, repeat: bool = True,
                  max_side: int = TRAIN_MAX_SIDE) -> Iterator[Batch]:
    """Batches ``(x, targets)`` from the page shards of ``folders`` (see :func:`make_batch`).

    Endless unless ``repeat=False`` (one pass, the last batch possibly smaller). ``augment``: shuffled
    shards and pages plus :func:`augment_page`; without it the pages come in order, preprocessed as
    for serving (:func:`ctpn.preprocess.prepare_page`), and the same ``seed`` gives the same targets."""
    from ctpn.synth import load_pages

    rng = np.random.default_rng(seed)
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    while True:
        files = _shards(folders)
        if not files:
            raise FileNotFoundError(f"no page shards (shard-*.npz) in {folders}")
        for fi in rng.permutation(len(files)) if augment else range(len(files)):
            pages = load_pages(files[fi])
            for pi in rng.permutation(len(pages)) if augment else range(len(pages)):
                image, quads = _prepared(pages[pi], cfg)
                if augment:
                    pending.append(augment_page(image, quads, rng, max_side))
                else:
                    pending.append((image, quads, np.zeros((0, 4), np.float32)))
                if len(pending) == batch:
                    yield make_batch(pending, cfg, rng)
                    pending = []
        if not repeat:
            if pending:
                yield make_batch(pending, cfg, rng)
            return


def output_signature(cfg: CTPNConfig):
    """The ``tf.data`` signature of a batch: free batch, height and width."""
    import tensorflow as tf

    k = cfg.k
    return (
        tf.TensorSpec((None, None, None, 3), tf.float32),
        {
            "cls": tf.TensorSpec((None, None, None, k), tf.float32),
            "reg": tf.TensorSpec((None, None, None, k, 3), tf.float32),
            "side": tf.TensorSpec((None, None, None, k, 2), tf.float32),
        },
    )


def tf_dataset(folders: str | Path | Sequence[str | Path], cfg: CTPNConfig, *, batch: int = 4,
               seed: int | Sequence[int] = 0, augment: bool = True, max_side: int = TRAIN_MAX_SIDE):
    """An endless ``tf.data`` pipeline over :func:`iterate_pages`, prefetching while the model trains."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_generator(
        lambda: iterate_pages(folders, cfg, batch=batch, seed=seed, augment=augment, max_side=max_side),
        output_signature=output_signature(cfg))
    return ds.prefetch(2)


def validation_pages(folder: str | Path, limit: int):
    """The first ``limit`` pages (:class:`ctpn.synth.Page`) of ``folder``'s shards, in order."""
    from ctpn.synth import load_pages

    pages = []
    for f in _shards(folder):
        if len(pages) >= limit:
            break
        pages.extend(load_pages(f))
    return pages[:limit]


def validation_dataset(folder: str | Path, cfg: CTPNConfig, *, limit: int, batch: int = 4, seed: int = 0):
    """A fixed ``tf.data`` set of the first ``limit`` pages of ``folder`` with their targets (sampled
    once, with ``seed``), for Keras' validation loss: the same anchors are scored every epoch."""
    import tensorflow as tf

    pages = validation_pages(folder, limit)
    rng = np.random.default_rng(seed)
    items = [(*_prepared(p, cfg), np.zeros((0, 4), np.float32)) for p in pages]
    batches = [make_batch(items[i : i + batch], cfg, rng) for i in range(0, len(items), batch)]
    ds = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=output_signature(cfg))
    # A known length lets Keras end each validation pass quietly instead of "running out of data".
    return ds.apply(tf.data.experimental.assert_cardinality(len(batches))), len(pages)
