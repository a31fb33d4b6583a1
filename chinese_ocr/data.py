"""Data for the Chinese line recogniser: shards for training, labelled folders for fine-tuning and evaluation.

* Shards: ``shard-*.npz`` with ``images`` (N, 32, W) uint8 already normalised by
  :func:`~chinese_ocr.preprocess.normalize_line` (ink 255), ``texts`` and ``fonts`` (the font, or
  the source of real lines). The synthetic renderer writes them; :func:`folder_shards` and
  :func:`chinese_ocr_shards` turn real lines and the original project's data set into the same
  layout, so training reads one format. Training lists the shards again on every pass, so it can
  start while the renderer is still writing.
* Labelled folders: ``labels.tsv`` (UTF-8, tab-separated, a header with at least ``file`` and
  ``text``; other columns are ignored), the format of ``shared/data/plates`` and
  ``shared/data/zh_dev``.
* The original chinese_ocr project's "Synthetic Chinese String Dataset" (3.6M lines of 280x32,
  ten characters each): an image folder, ``data_train.txt`` / ``data_test.txt`` with lines
  ``<file> <idx> <idx> ...`` and ``char_std_5990.txt`` (one character a line). Index ``k`` is the
  character on line ``k`` of the char file counting from 0; line 0 is a placeholder (its
  ``train.py`` feeds ``k - 1`` to a charset made of lines ``1:``).
"""

from __future__ import annotations

import csv
import itertools
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chinese_ocr.charset import normalize_text
from ocr_common.ctc import Charset, encode_labels
from ocr_common.shards import load_text_shards, shard_files

SHARD_KEYS = {"images", "texts", "fonts"}
CHAR_FILE = "char_std_5990.txt"
MAX_SHIFT = 6  # pixels a line may move right in training: real crops are not always flush left
GAMMA = 0.4  # training lines get ink ** exp(U(-GAMMA, GAMMA)): print weight and scan contrast vary


@dataclass
class LabelledLine:
    name: str  # the file, relative to its folder
    image: np.ndarray  # as decoded, uint8
    text: str  # normalised with normalize_text


# ---------------------------------------------------------------------------------------------
# Labelled folders
# ---------------------------------------------------------------------------------------------


def read_labels(folder: str | Path) -> list[tuple[int, str, str]]:
    """``(line number in labels.tsv, file, normalised text)`` of every row, in file order."""
    index = Path(folder) / "labels.tsv"
    if not index.is_file():
        raise FileNotFoundError(
            f"{index} not found: a labelled folder needs labels.tsv (UTF-8, tab-separated, "
            "a header with the columns file and text; file relative to the folder)"
        )
    with open(index, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = {"file", "text"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{index}: header lacks the column(s) {', '.join(sorted(missing))}")
        rows = []
        for r in reader:
            line = reader.line_num
            if not r["file"]:
                raise ValueError(f"{index}, line {line}: no file name")
            rows.append((line, r["file"], normalize_text(r["text"] or "")))
    return rows


def load_labelled_folder(folder: str | Path) -> list[LabelledLine]:
    """Every line image named in ``folder/labels.tsv``, decoded, in file order. A missing or
    unreadable image is a ValueError naming the file and its line in labels.tsv."""
    from ocr_common.image import ImageDecodeError, load_image_file

    folder = Path(folder)
    out = []
    for line, name, text in read_labels(folder):
        try:
            image = load_image_file(folder / name)
        except (ImageDecodeError, OSError) as e:
            raise ValueError(f"{folder / 'labels.tsv'}, line {line}: cannot read {folder / name}: {e}") from None
        out.append(LabelledLine(name, image, text))
    return out


def split_rows(rows: Sequence, val_fraction: float = 0.2, seed: int = 0,
               key: Callable[[object], str] | None = None) -> tuple[list, list]:
    """``(train, val)`` in input order. A row is held out when a hash of its name (``.name``, or
    the first item of a tuple) falls under ``val_fraction``: each row's side depends on its name
    alone, so adding rows never moves the others."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    key = key or _row_name
    train, val = [], []
    for r in rows:
        h = zlib.crc32(f"{seed}:{key(r)}".encode()) / 2**32
        (val if h < val_fraction else train).append(r)
    return train, val


def _row_name(row) -> str:
    name = getattr(row, "name", None)
    return str(name if name is not None else row[0])


def plate_split(root: str | Path = "../shared/data/plates", val_fraction: float = 0.2,
                seed: int = 0) -> tuple[list[LabelledLine], list[LabelledLine]]:
    """The licence plates as ``(train, val)`` lists of :class:`LabelledLine` (:func:`split_rows`)."""
    return split_rows(load_labelled_folder(root), val_fraction, seed)


# ---------------------------------------------------------------------------------------------
# The original chinese_ocr data set
# ---------------------------------------------------------------------------------------------


def read_char_file(path: str | Path) -> list[str]:
    """The lines of a char file (UTF-8; GBK copies circulate too), line breaks removed but
    nothing else: line 0 is a space in the original, and the positions are the labels."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gbk")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line, it does not start one
    return [s.rstrip("\r") for s in lines]


def _chinese_ocr_files(root: str | Path, split: str, char_file: str | Path | None) -> tuple[Path, Path]:
    """``(list file, char file)`` of a chinese_ocr tree; FileNotFoundError says what each should hold."""
    listing = Path(root) / f"data_{split}.txt"
    char_path = Path(char_file) if char_file else Path(root) / CHAR_FILE
    for p, what in ((listing, "the list of '<file> <idx> <idx> ...' lines"), (char_path, "one character a line")):
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found: the chinese_ocr format needs {what}")
    return listing, char_path


def iter_chinese_ocr_list(root: str | Path, split: str = "train", images: str = "images",
                          char_file: str | Path | None = None) -> Iterator[tuple[Path, str]]:
    """``(image path, text)`` of each line of ``root/data_<split>.txt``, one at a time; images are
    not opened. ``char_file`` defaults to ``root/char_std_5990.txt``."""
    listing, char_path = _chinese_ocr_files(root, split, char_file)
    chars = read_char_file(char_path)
    folder = Path(root) / images
    with open(listing, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                ids = [int(k) for k in parts[1:]]
            except ValueError:
                ids = [0]
            if not all(0 < k < len(chars) for k in ids):
                raise ValueError(f"{listing}, line {n}: labels must be indices 1..{len(chars) - 1} into "
                                 f"{char_path.name} (0 is its placeholder), got {' '.join(parts[1:])!r}")
            yield folder / parts[0], normalize_text("".join(chars[k] for k in ids))


def load_chinese_ocr_list(root: str | Path, split: str = "train", images: str = "images",
                          char_file: str | Path | None = None) -> list[tuple[Path, str]]:
    """Every ``(image path, text)`` of :func:`iter_chinese_ocr_list` (about 350 bytes a line in
    memory: the 3.6M training lines take over a gigabyte, so large jobs should iterate)."""
    return list(iter_chinese_ocr_list(root, split, images, char_file))


def _complete(path: Path) -> bool:
    """A readable shard with every key (shards are written atomically, so one that opens is whole)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return SHARD_KEYS <= set(z.files)
    except Exception:  # missing, truncated or foreign: write it again
        return False


def _write_shards(folder: Path, items: Iterable, total: int, load: Callable[[object], tuple | None], *,
                  height: int, width: int, shard_size: int, what: str,
                  progress: Callable[[], int] | None = None) -> int:
    """Normalise ``items`` (``load(item) -> (image, text, font)``, None to skip it) into
    ``folder/shard-*.npz`` and mark the folder done; returns the number of skipped items.
    ``progress()``: how far through ``total`` the run is (default: items taken). Shard
    ``k`` holds items ``k * shard_size ...``; shards already on disk are kept, so an interrupted
    run with the same arguments resumes where it stopped."""
    import keras

    from chinese_ocr.preprocess import normalize_line
    from ocr_common.io import atomic_write_text
    from ocr_common.npz_cache import save_npz

    folder.mkdir(parents=True, exist_ok=True)
    print(f"normalising {total} {what} into {folder}", flush=True)
    bar = keras.utils.Progbar(total, unit_name="line")
    skipped = count = 0
    it = iter(items)
    for k in itertools.count():
        part = list(itertools.islice(it, shard_size))
        if not part:
            break
        count += len(part)
        path = folder / f"shard-{k:05d}.npz"
        if not _complete(path):
            images, texts, fonts = [], [], []
            for item in part:
                got = load(item)
                if got is None:
                    skipped += 1
                    continue
                images.append(normalize_line(got[0], height, width))
                texts.append(got[1])
                fonts.append(got[2])
            if images:
                save_npz(path, images=np.stack(images), texts=np.array(texts), fonts=np.array(fonts))
        bar.update(progress() if progress else count)
    bar.update(total, finalize=True)  # a run cut short by a limit is finished too
    atomic_write_text(folder / "done", f"{count}\n")
    return skipped


def chinese_ocr_shards(root: str | Path, out_dir: str | Path, split: str, charset: Charset, *, height: int = 32,
                       width: int = 280, shard_size: int = 2000, limit: int = 0, images: str = "images",
                       char_file: str | Path | None = None) -> Path:
    """The original data set's ``split`` (its first ``limit`` usable lines, when given) normalised
    into ``out_dir/split/shard-*.npz`` with fonts ``chinese_ocr``; lines with characters outside
    ``charset`` are dropped and counted, unreadable images skipped and counted. A folder whose
    ``done`` marker exists is kept as it is."""
    from ocr_common.image import ImageDecodeError, load_image_file

    folder = Path(out_dir) / split
    if (folder / "done").exists():
        return folder
    listing, _ = _chinese_ocr_files(root, split, char_file)
    with open(listing, encoding="utf-8") as f:
        total = sum(1 for line in f if line.strip())
    seen = dropped = 0

    def covered() -> Iterator[tuple[Path, str]]:
        nonlocal seen, dropped
        for path, text in iter_chinese_ocr_list(root, split, images, char_file):
            seen += 1
            if text and charset.covers(text):
                yield path, text
            else:
                dropped += 1

    def load(row):
        try:
            return load_image_file(row[0]), row[1], "chinese_ocr"
        except (ImageDecodeError, OSError):
            return None

    # The bar counts lines read from the list, dropped ones included, so it ends at 100%.
    rows = itertools.islice(covered(), limit) if limit else covered()
    unreadable = _write_shards(folder, rows, total, load, height=height, width=width, shard_size=shard_size,
                               what=f"chinese_ocr {split} lines", progress=lambda: seen)
    print(f"chinese_ocr {split}: {dropped} of {seen} lines read dropped (characters outside the charset), "
          f"{unreadable} unreadable images skipped", flush=True)
    return folder


def folder_shards(folder: str | Path, out_dir: str | Path, *, lines: list[LabelledLine] | None = None,
                  source: str | None = None, charset: Charset | None = None, height: int = 32, width: int = 280,
                  shard_size: int = 2000) -> Path:
    """A labelled folder (or its ``lines`` subset, e.g. one side of :func:`plate_split`)
    normalised into ``out_dir/shard-*.npz``; ``fonts`` holds ``source`` (default: the folder's
    name). With ``charset``, lines it cannot write are dropped and counted. A folder whose
    ``done`` marker exists is kept as it is."""
    out = Path(out_dir)
    if (out / "done").exists():
        return out
    items = load_labelled_folder(folder) if lines is None else list(lines)
    source = source or Path(folder).resolve().name
    if charset is not None:
        kept = [r for r in items if r.text and charset.covers(r.text)]
        print(f"{source}: {len(items) - len(kept)} of {len(items)} lines dropped (characters outside the charset)",
              flush=True)
        items = kept
    _write_shards(out, items, len(items), lambda r: (r.image, r.text, source), height=height, width=width,
                  shard_size=shard_size, what=f"{source} lines")
    return out


# ---------------------------------------------------------------------------------------------
# Training stream
# ---------------------------------------------------------------------------------------------


def load_shards(files: list[Path], limit: int = 0) -> tuple[np.ndarray, list[str], list[str]]:
    """``(images (N, H, W) uint8, texts, fonts)`` of shard files, in order."""
    return load_text_shards(files, "fonts", limit)


def _shift(x: np.ndarray, rng: np.random.Generator, most: int = MAX_SHIFT) -> np.ndarray:
    """Move each line right by 0..``most`` pixels where its row has room."""
    out = np.zeros_like(x)
    used = x.max(axis=1) > 0  # (N, W)
    for i in range(len(x)):
        cols = np.nonzero(used[i])[0]
        room = x.shape[2] - 1 - (cols[-1] if len(cols) else 0)
        s = int(rng.integers(0, min(room, most) + 1))
        out[i, :, s:] = x[i, :, : x.shape[2] - s]
    return out


class _RowStream:
    """Endless rows of a set of shard folders: shards in a new random order each pass (listed
    again each pass: the renderer may have added some), rows shuffled within a shard."""

    def __init__(self, folders: list[Path], charset: Charset, max_len: int, rng: np.random.Generator):
        self.folders, self.charset, self.max_len, self.rng = folders, charset, max_len, rng
        self.x = np.zeros((0, 0, 0), np.uint8)
        self.y = np.zeros((0, max_len), np.int32)
        self.pos = 0
        self.queue: list[Path] = []
        self.pass_rows = 0  # usable rows met so far in this pass over the shards

    def _refill(self) -> None:
        while True:
            if not self.queue:
                files = [f for folder in self.folders for f in shard_files(folder)]
                if not files:
                    raise FileNotFoundError(f"no shards in {', '.join(map(str, self.folders))}")
                self.queue = [files[i] for i in self.rng.permutation(len(files))]
                self.pass_rows = 0
            x, texts, _ = load_shards([self.queue.pop()])
            y, keep = encode_labels(texts, self.charset, self.max_len)
            self.pass_rows += int(keep.sum())
            if not self.queue and self.pass_rows == 0:  # a whole pass without one usable row: never will
                raise ValueError(f"no line in {', '.join(map(str, self.folders))} fits the charset and "
                                 f"max_len={self.max_len}")
            if keep.any():
                idx = self.rng.permutation(np.flatnonzero(keep))
                self.x, self.y, self.pos = x[idx], y[idx], 0
                return

    def take(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        while n > 0:
            if self.pos >= len(self.x):
                self._refill()
            j = slice(self.pos, self.pos + n)
            xs.append(self.x[j])
            ys.append(self.y[j])
            self.pos += len(xs[-1])
            n -= len(xs[-1])
        return _concat(xs, self.folders), np.concatenate(ys)


def _concat(xs: list[np.ndarray], folders: list[Path]) -> np.ndarray:
    if len({x.shape[1:] for x in xs}) > 1:
        raise ValueError(f"shards of different image sizes {sorted({x.shape[1:] for x in xs})} in "
                         f"{', '.join(map(str, folders))}: normalise every source to one height and width")
    return np.concatenate(xs)


INK_LEVEL = 40  # a column with a pixel above this holds ink (for packing)


def _extents(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last ink column of each row of ``x`` (N, H, W); (0, 0) for a blank row."""
    used = x.max(axis=1) > INK_LEVEL
    any_ = used.any(axis=1)
    first = np.where(any_, used.argmax(axis=1), 0)
    last = np.where(any_, x.shape[2] - used[:, ::-1].argmax(axis=1), 0)
    return first, last


# pack_rows' gaps in pixels (lines 32 px high): a join read with a space, one read without where a
# Latin letter or digit meets another character, and one between other characters.
SPACED_GAP, TIGHT_GAP, CJK_GAP = (10, 20), (1, 4), (1, 14)


def pack_rows(x: np.ndarray, y: np.ndarray, n_out: int, rng: np.random.Generator, *, charset: Charset,
              p: float = 0.7, room: int = MAX_SHIFT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_out`` training rows (fewer only if ``x`` has fewer), many of them two or more short lines side by side.

    A synthetic line is 6-7 characters on average and fills about half of its 280 px, so half the
    network's work goes to blank paper; packing puts more characters in every row. Rows are taken
    in order as bases; with probability ``p`` the first unused row whose ink fits after the base's
    (a gap, ``room`` px left for the shift) and whose label fits is appended, and again while
    there is room. How a join is labelled follows its gap, as printed Chinese text does:
    between two Latin letters or digits always a space and a wide gap (``SPACED_GAP``); where
    only one side is a Latin letter or digit, half the time a space and a wide gap, else no space
    and a tight one (``TIGHT_GAP``), since a page sets Latin off from Chinese with a visible space
    or not at all; between other characters no space and any gap up to ``CJK_GAP`` (wide letter
    spacing is read without one, as in the renderer). Before, a Latin word and Chinese met
    without a space across gaps up to 0.44 em, and the recogniser learned to drop the space that
    real pages print there (``DCTCP 基于`` read as ``DCTCP基于``).
    Returns ``(x_out, y_out, used)``: ``used`` marks the input rows consumed, so the caller can
    keep the others for the next batch."""
    n, _, width = x.shape
    max_len = y.shape[1]
    first, last = _extents(x)
    lens = (y > 0).sum(axis=1)
    widths = (last - first).astype(int)
    packable = (lens > 0) & (last > first)
    used = np.zeros(n, bool)
    space = charset.encode(" ")[0] if " " in charset.chars else None

    def latin(c: str) -> bool:
        return space is not None and c.isascii() and c.isalnum()

    starts_latin = np.array([bool(lens[j]) and latin(charset.chars[y[j, 0] - 1]) for j in range(n)], bool)
    later = np.arange(n)
    can_space = space is not None
    xs, ys = [], []
    for i in range(n):
        if len(xs) == n_out:
            break
        if used[i]:
            continue
        used[i] = True
        img, lab, end = x[i].copy(), list(y[i, : lens[i]]), int(last[i])
        while lab and rng.random() < p and n - used.sum() > n_out - len(xs) - 1:  # rows left for the other bases
            # The rows that could fit even with the smallest gap, in order; each drawn a gap in turn.
            ends_latin = latin(charset.chars[lab[-1] - 1])
            both = starts_latin & ends_latin
            one = can_space & (starts_latin ^ ends_latin)
            room_ok = end + np.where(both, SPACED_GAP[0], 1) + widths <= width - room
            maybe = np.flatnonzero(packable & ~used & (later > i) & room_ok & (len(lab) + lens + both + one <= max_len))
            fits = None
            for j in maybe:
                sep = bool(both[j] or (one[j] and rng.random() < 0.5))
                lo, hi = SPACED_GAP if sep else TIGHT_GAP if one[j] else CJK_GAP
                gap = int(rng.integers(lo, hi + 1))
                if end + gap + widths[j] <= width - room:
                    fits = j, gap, int(widths[j]), sep
                    break
            if fits is None:
                break
            j, gap, w, sep = fits
            used[j] = True
            img[:, end + gap: end + gap + w] = np.maximum(img[:, end + gap: end + gap + w], x[j, :, first[j]: last[j]])
            lab += ([space] if sep else []) + list(y[j, : lens[j]])
            end += gap + w
        xs.append(img)
        ys.append(np.pad(np.asarray(lab, np.int32), (0, max_len - len(lab))))
    return np.stack(xs), np.stack(ys), used


def _counts(weights: np.ndarray, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Rows per source in one batch: each source's share rounded down, the rows left over drawn
    in proportion to the fractions, so a 0.2 share of 64 gives 12 or 13 rows and averages 12.8."""
    exact = weights / weights.sum() * batch
    n = np.floor(exact).astype(int)
    left = batch - int(n.sum())
    if left:
        frac = exact - n
        n += rng.multinomial(left, frac / frac.sum())
    return n


def iterate_shards(folders: str | Path | Sequence[str | Path], charset: Charset, max_len: int, *, batch: int = 64,
                   seed: int | list[int] = 0, augment: bool = True,
                   weights: Sequence[float] | None = None, pack: float = 0.0,
                   generated: Sequence[tuple[object, float]] = ()) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless ``(x (B, H, W, 1) uint8, y (B, max_len) int32)`` batches from the shards of one or
    more folders. ``weights`` (one per folder): every batch takes rows from each folder's own
    stream in these proportions (e.g. synthetic 0.8, plates 0.2); None: the folders' shards are
    pooled. Lines the charset cannot write or longer than ``max_len`` are dropped. ``pack`` > 0:
    short lines share a row (:func:`pack_rows` with ``p=pack``); rows drawn but not packed wait
    for the next batch. ``generated``: ``(source, share)`` pairs of endless row sources with
    ``take(n) -> (x, y)`` (e.g. :class:`chinese_ocr.glyphs.EasyLines`) that fill ``share`` of every
    batch; the folders share the rest by ``weights``. Without folders the generated sources fill
    the batches between them, in proportion to their shares."""
    rng = np.random.default_rng(seed)
    folders = [Path(folders)] if isinstance(folders, str | Path) else [Path(f) for f in folders]
    if not folders:
        if not generated:
            raise ValueError("no shard folder and no generated source to draw rows from")
        streams, w = [], np.zeros(0)
    elif weights is None:
        streams, w = [_RowStream(folders, charset, max_len, rng)], np.ones(1)
    else:
        if len(weights) != len(folders):
            raise ValueError(f"{len(weights)} weights for {len(folders)} folders")
        w = np.asarray(weights, float)
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"weights must be >= 0 with a positive sum, got {list(weights)}")
        streams = [_RowStream([f], charset, max_len, rng) for f in folders]
    if generated:
        share = np.array([float(g[1]) for g in generated])
        if (share < 0).any() or share.sum() >= (1 if folders else 1 + 1e-9) or (not folders and share.sum() <= 0):
            raise ValueError(f"generated shares must be >= 0 and sum below 1 (at most 1 without folders), "
                             f"got {list(share)}")
        streams += [g[0] for g in generated]
        w = np.concatenate([w / w.sum() * (1 - share.sum()), share]) if folders else share / share.sum()
    left_x = left_y = None  # rows drawn but not packed into the last batch
    while True:
        # Packing draws enough rows for a full batch however many get packed (2 x batch with the
        # ones left over); without it, one batch.
        n = _counts(w, 2 * batch - (0 if left_x is None else len(left_x)) if pack > 0 else batch, rng)
        parts = [s.take(int(k)) for s, k in zip(streams, n) if k]
        x = _concat([p[0] for p in parts], folders)
        y = np.concatenate([p[1] for p in parts])
        if len(parts) > 1:  # sources interleaved, not in blocks
            order = rng.permutation(len(x))
            x, y = x[order], y[order]
        if pack > 0:
            if left_x is not None:
                x, y = _concat([left_x, x], folders), np.concatenate([left_y, y])
            px, py, used = pack_rows(x, y, batch, rng, charset=charset, p=pack)
            left_x, left_y, x, y = x[~used], y[~used], px, py
        yield (_shift(x, rng) if augment else x)[..., None], y


def tf_dataset(folders: str | Path | Sequence[str | Path], charset: Charset, max_len: int, height: int, width: int,
               batch: int, *, seed: int | list[int] = 0, weights: Sequence[float] | None = None, pack: float = 0.0,
               generated: Sequence[tuple[object, float]] = ()):
    """A ``tf.data`` pipeline over :func:`iterate_shards`, scaled to [0, 1] with a random gamma."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_generator(
        lambda: iterate_shards(folders, charset, max_len, batch=batch, seed=seed, weights=weights, pack=pack,
                                      generated=generated),
        output_signature=(tf.TensorSpec((None, height, width, 1), tf.uint8), tf.TensorSpec((None, max_len), tf.int32)),
    )

    def prep(x, y):
        x = tf.cast(x, tf.float32) / 255.0
        # Print weight and scan contrast vary: a random gamma keeps thin and faint strokes familiar.
        gamma = tf.exp(tf.random.uniform((tf.shape(x)[0], 1, 1, 1), -GAMMA, GAMMA))
        return tf.pow(x, gamma), y

    return ds.map(prep, num_parallel_calls=1).prefetch(2)


def gamma_scale(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``x`` uint8 (B, ...) as float32 in [0, 1] with a random gamma per row: ``tf_dataset``'s
    ``prep`` in NumPy, for the feed workers of :func:`ocr_common.feed.parallel_batches`."""
    gamma = np.exp(rng.uniform(-GAMMA, GAMMA, (len(x),) + (1,) * (x.ndim - 1))).astype(np.float32)
    return np.power(x.astype(np.float32) / 255.0, gamma)


def validation_arrays(folders: str | Path | Sequence[str | Path], charset: Charset, max_len: int, limit: int = 0):
    """Held-out shards in memory: ``(x float32 (N, H, W, 1) in [0, 1], y int32, texts)``;
    ``limit`` rows at most from each folder."""
    folders = [Path(folders)] if isinstance(folders, str | Path) else [Path(f) for f in folders]
    xs, texts = [], []
    for folder in folders:
        files = shard_files(folder)
        if not files:
            raise FileNotFoundError(f"no shards in {folder}")
        x, t, _ = load_shards(files, limit)
        xs.append(x)
        texts += t
    x = _concat(xs, folders)
    y, keep = encode_labels(texts, charset, max_len)
    return (x[keep].astype(np.float32) / 255.0)[..., None], y[keep], [t for t, k in zip(texts, keep) if k]
