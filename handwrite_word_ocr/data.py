"""Data for the word recogniser: synthetic shards for training, labelled folders for evaluation.

* Synthetic shards (:func:`handwrite_word_ocr.synth.render_shards`): ``shard-*.npz`` with
  ``images`` (N, 32, W) uint8 already normalised (ink 255), ``texts`` and ``sources``. Training
  streams them shard by shard and looks for new shards on every pass, so it can start while the
  renderer is still writing.
* Labelled folders: ``labels.tsv`` with a header and the columns ``file``, ``text`` and
  optionally ``kind`` (``word`` or ``line``; a line's text has its lines joined by ``|``),
  the format of ``shared/data/words_dev``; and IAM (:mod:`handwrite_word_ocr.iam`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocr_common.ctc import Charset, encode_labels
from ocr_common.shards import load_text_shards, shard_files


@dataclass
class LabelledImage:
    name: str
    image: np.ndarray  # as decoded, uint8
    text: str  # lines joined by "\n"
    kind: str  # "word" or "line"


def load_labelled_folder(folder: str | Path, kind: str | None = None) -> list[LabelledImage]:
    """Every image named in ``folder/labels.tsv`` (of ``kind``, when given), in file order."""
    from ocr_common.image import load_image_file

    folder = Path(folder)
    index = folder / "labels.tsv"
    if not index.is_file():
        raise FileNotFoundError(f"{index} not found: a labelled folder needs labels.tsv (file<TAB>text)")
    with open(index, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    out = []
    for r in rows:
        k = r.get("kind") or "word"
        if kind is not None and k != kind:
            continue
        out.append(LabelledImage(r["file"], load_image_file(folder / r["file"]), r["text"].replace("|", "\n"), k))
    return out


def load_shards(files: list[Path], limit: int = 0) -> tuple[np.ndarray, list[str], list[str]]:
    """``(images (N, H, W) uint8, texts, sources)`` of shard files, in order."""
    return load_text_shards(files, "sources", limit)


def _shift(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Move each word right by a few pixels where its row has room (words are left-aligned, and
    segmented crops are not always)."""
    out = np.zeros_like(x)
    used = (x.max(axis=1) > 0)  # (N, W)
    for i in range(len(x)):
        cols = np.nonzero(used[i])[0]
        room = x.shape[2] - 1 - (cols[-1] if len(cols) else 0)
        s = int(rng.integers(0, min(room, 8) + 1))
        out[i, :, s:] = x[i, :, : x.shape[2] - s]
    return out


def iterate_shards(folders: str | Path | list[Path], charset: Charset, max_len: int, *, batch: int = 64,
                   seed: int | list[int] = 0, augment: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless ``(x (B, H, W, 1) uint8, y (B, max_len) int32)`` batches from the shards of one or
    more folders, shuffled per pass."""
    rng = np.random.default_rng(seed)
    folders = [Path(folders)] if isinstance(folders, str | Path) else [Path(f) for f in folders]
    while True:
        # Listed again every pass: the renderer may have added shards.
        files = [f for folder in folders for f in shard_files(folder)]
        if not files:
            raise FileNotFoundError(f"no shards in {', '.join(map(str, folders))}")
        for i in rng.permutation(len(files)):
            x, texts, _ = load_shards([files[i]])
            y, keep = encode_labels(texts, charset, max_len)
            x, y = x[keep], y[keep]
            idx = rng.permutation(len(x))
            for b in range(0, len(idx) - batch + 1, batch):
                j = idx[b : b + batch]
                xb = _shift(x[j], rng) if augment else x[j]
                yield xb[..., None], y[j]


def tf_dataset(folder: str | Path | list[Path], charset: Charset, max_len: int, height: int, width: int, batch: int, *,
               seed: int | list[int] = 0):
    """A ``tf.data`` pipeline over :func:`iterate_shards`, scaled to [0, 1] with light contrast jitter."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_generator(
        lambda: iterate_shards(folder, charset, max_len, batch=batch, seed=seed),
        output_signature=(tf.TensorSpec((None, height, width, 1), tf.uint8), tf.TensorSpec((None, max_len), tf.int32)),
    )

    def prep(x, y):
        x = tf.cast(x, tf.float32) / 255.0
        # Stroke darkness varies with pen and scan: a random gamma keeps faint words familiar.
        gamma = tf.exp(tf.random.uniform((tf.shape(x)[0], 1, 1, 1), -0.4, 0.4))
        return tf.pow(x, gamma), y

    return ds.map(prep, num_parallel_calls=1).prefetch(2)


def validation_arrays(folders: list[Path], charset: Charset, max_len: int, limit: int = 0):
    """Held-out shards in memory: ``(x float32 (N, H, W, 1), y int32, texts)``."""
    xs, texts = [], []
    for folder in folders:
        x, t, _ = load_shards(shard_files(folder), limit)
        xs.append(x)
        texts += t
    x = np.concatenate(xs)
    y, keep = encode_labels(texts, charset, max_len)
    return (x[keep].astype(np.float32) / 255.0)[..., None], y[keep], [t for t, k in zip(texts, keep) if k]


def iam_shards(root: str | Path, out_dir: str | Path, *, height: int = 32, width: int = 128,
               val_fraction: float = 0.1, shard_size: int = 2000) -> tuple[Path, Path]:
    """IAM's words, normalised once into shards like the synthetic ones: ``out_dir/train`` and
    ``out_dir/val`` (whole forms held out, :func:`~handwrite_word_ocr.iam.split_by_form`). A
    folder whose ``done`` marker exists is kept as it is."""
    import keras

    from handwrite_word_ocr.iam import load_iam_words, split_by_form
    from handwrite_word_ocr.preprocess import normalize_word
    from ocr_common.image import load_image_file
    from ocr_common.io import atomic_write_text
    from ocr_common.npz_cache import save_npz

    train, val = split_by_form(load_iam_words(root), val_fraction=val_fraction, seed=0)
    out = Path(out_dir)
    for name, samples in (("train", train), ("val", val)):
        folder = out / name
        if (folder / "done").exists():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        print(f"normalising {len(samples)} IAM {name} words into {folder}", flush=True)
        bar = keras.utils.Progbar(len(samples), unit_name="word")
        for k in range(0, len(samples), shard_size):
            part = samples[k : k + shard_size]
            images = np.stack([normalize_word(load_image_file(s.path), height, width) for s in part])
            save_npz(folder / f"shard-{k // shard_size:05d}.npz", images=images, texts=np.array([s.text for s in part]),
                     sources=np.array(["iam"] * len(part)))
            bar.add(len(part))
        atomic_write_text(folder / "done", f"{len(samples)}\n")
    return out / "train", out / "val"
