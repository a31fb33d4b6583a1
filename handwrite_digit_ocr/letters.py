"""Letter datasets (26 classes a..z, upper and lower case merged): EMNIST, real crops, fonts.

* ``emnist-letters`` - EMNIST letters, read from ``<data_dir>/emnist.zip`` or the ``emnist``
  package's cache (``~/.cache/emnist/emnist.zip``), else downloaded by the ``emnist`` package.
* ``letters-dir`` - real handwritten crops in ``<data_dir>/letters/train/<case>_<L>/``
  (``upper_A``, ``lower_a``, ...). Val and test are held out by *file number*, see
  :func:`letter_split`.
* ``synthetic-letters`` - letters rendered from handwriting fonts (:mod:`.synth`); val and
  test are drawn from fonts that are never trained on.

Every loader returns images already passed through ``normalize_char`` (as serving does),
cached as npz under :func:`~ocr_common.datadir.cache_dir`.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from handwrite_digit_ocr.config import LETTERS
from handwrite_digit_ocr.data import CharDataset, _cached_normalize, _preprocess_version
from handwrite_digit_ocr.preprocess import normalize_char
from ocr_common.datadir import cache_dir, resolve_data_dir
from ocr_common.npz_cache import cached_folder, load_npz, save_npz

# --------------------------------------------------------------------------- EMNIST

EMNIST_ZIP = "emnist.zip"
# Inside the zip, as the NIST release and the ``emnist`` package lay it out.
EMNIST_MEMBER = "gzip/emnist-{dataset}-{usage}-{component}-idx{dim}-ubyte.gz"
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.int16, 0x0C: np.int32, 0x0D: np.float32, 0x0E: np.float64}


def parse_idx(data: bytes) -> np.ndarray:
    """Decode an IDX file (the MNIST/EMNIST binary format): magic 0 0 type ndim, big-endian sizes."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError("not an IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]]).newbyteorder(">")
    return np.frombuffer(data, dtype, offset=4 + 4 * ndim).reshape(shape).astype(dtype.newbyteorder("="))


def read_emnist_zip(path: str | Path, dataset: str = "letters", usage: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 28, 28) uint8, labels (N,))`` of one EMNIST split, upright.

    NIST stored every EMNIST image transposed (column-major) relative to MNIST, so an
    un-fixed 'L' reads as a mirrored, rotated glyph; swapping the two image axes undoes it.
    """
    with zipfile.ZipFile(path) as zf:
        x = parse_idx(gzip.decompress(zf.read(EMNIST_MEMBER.format(dataset=dataset, usage=usage,
                                                                   component="images", dim=3))))
        y = parse_idx(gzip.decompress(zf.read(EMNIST_MEMBER.format(dataset=dataset, usage=usage,
                                                                   component="labels", dim=1))))
    if len(x) != len(y):
        raise ValueError(f"{path}: {len(x)} images but {len(y)} labels in {dataset}/{usage}")
    return np.ascontiguousarray(x.swapaxes(1, 2)), y


def find_emnist_zip(data_dir: str | Path | None = None) -> Path | None:
    """``<data_dir>/emnist.zip``, else the ``emnist`` package's download cache, else None."""
    candidates = [resolve_data_dir(data_dir) / EMNIST_ZIP, Path("~/.cache/emnist/emnist.zip").expanduser()]
    return next((p for p in candidates if p.is_file() and p.stat().st_size > 0), None)


def load_emnist_letters_raw(data_dir: str | Path | None = None):
    """EMNIST letters ``((x_train, y_train), (x_test, y_test))``, upright, labels 1..26."""
    path = find_emnist_zip(data_dir)
    if path is not None:
        return read_emnist_zip(path, "letters", "train"), read_emnist_zip(path, "letters", "test")
    try:
        import emnist
    except ImportError:
        raise FileNotFoundError(
            f"EMNIST not found: put emnist.zip into {resolve_data_dir(data_dir)} or `pip install emnist` "
            "(it downloads ~540 MB once into ~/.cache/emnist)") from None
    # The package downloads and caches the zip; its extract_* already swap the axes back.
    return emnist.extract_training_samples("letters"), emnist.extract_test_samples("letters")


def load_emnist_letters(data_dir: str | Path | None = None, val_size: int = 10400) -> CharDataset:
    """EMNIST letters (124,800 train / 20,800 test); val = the last ``val_size`` training images."""
    (x_tr, y_tr), (x_te, y_te) = load_emnist_letters_raw(data_dir)
    if not (0 < val_size < len(x_tr)):
        raise ValueError(f"val_size {val_size} must be between 1 and {len(x_tr) - 1}")
    # EMNIST letters are numbered 1..26 (0 is unused, kept from the by_class numbering).
    y_tr, y_te = y_tr.astype(np.int32) - 1, y_te.astype(np.int32) - 1
    if y_tr.min() < 0 or max(y_tr.max(), y_te.max()) >= len(LETTERS):
        raise ValueError("EMNIST letters labels must be 1..26")
    x_tr = _cached_normalize(x_tr, cache_dir() / "emnist_letters_train_norm.npz")
    x_te = _cached_normalize(x_te, cache_dir() / "emnist_letters_test_norm.npz")
    return CharDataset(LETTERS, x_tr[:-val_size], y_tr[:-val_size], x_tr[-val_size:], y_tr[-val_size:], x_te, y_te,
                       name="emnist-letters")


# --------------------------------------------------------------------------- real letter folders

# Held-out ranges of the file number n in CAP_A_<n> / SMALL_a_<n> (0..99 in the source).
# Why numbers and not random rows: the writers are unknown, but neighbouring numbers of a
# class share paper, pen and hand (same session; most near-identical same-class pairs after
# normalisation are numbers n and n+1), so a random split would put near-twins on both
# sides and flatter the score. Whole contiguous blocks, the same block for every
# class, keep each session on one side whether the number runs per writer or per sheet.
VAL_NUMBERS = range(70, 80)
TEST_NUMBERS = range(80, 100)
_NUMBER = re.compile(r"_(\d+)$")


def letter_label(folder: str) -> str | None:
    """``upper_A`` / ``lower_a`` -> ``a`` (cases merged); any other folder -> None (skipped)."""
    m = re.fullmatch(r"(upper|lower)_([A-Za-z])", folder)
    return m.group(2).lower() if m else None


def file_number(name: str) -> int:
    """The sample number of ``CAP_A_17.png`` (17). Files without one get a stable pseudo-number
    0..99 from a hash of the name, so any folder of images still splits deterministically."""
    m = _NUMBER.search(Path(name).stem)
    if m:
        return int(m.group(1))
    return int.from_bytes(hashlib.sha256(Path(name).name.encode()).digest()[:4], "big") % 100


def letter_split(name: str) -> str:
    """``train``, ``val`` or ``test`` for one file, from its number (see ``VAL_NUMBERS``)."""
    n = file_number(name) % 100
    return "test" if n in TEST_NUMBERS else "val" if n in VAL_NUMBERS else "train"


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return (normalize_char(image) * 255).round().astype(np.uint8)


def letters_root(data_dir: str | Path | None = None) -> Path:
    return resolve_data_dir(data_dir) / "letters" / "train"


def load_letters_dir(data_dir: str | Path | None = None, root: str | Path | None = None) -> CharDataset:
    """Real handwritten letters from ``<case>_<L>/`` folders, split by file number.

    With the shared data (3,865 crops, numbers 0..99) the split is about 70 / 10 / 20 %:
    2,694 train, 385 val, 786 test.
    """
    root = Path(root) if root is not None else letters_root(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"letter folders not found: {root} (expected {root}/upper_A/*.png ...)")
    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]
    cache = cache_dir() / f"letters_dir-{key}-{_preprocess_version()}.npz"
    d = cached_folder(root, cache, _to_uint8, letter_label)
    index = {c: i for i, c in enumerate(LETTERS)}
    y = np.array([index[str(c)] for c in d["y"]], np.int32)
    split = np.array([letter_split(Path(str(f)).name) for f in d["files"]])
    parts = {s: (d["x"][split == s], y[split == s]) for s in ("train", "val", "test")}
    for s, (xs, _) in parts.items():
        if len(xs) == 0:
            raise ValueError(f"{root}: the {s} split is empty (file numbers decide the split; see letter_split)")
    return CharDataset(LETTERS, *parts["train"], *parts["val"], *parts["test"], name="letters-dir")


# --------------------------------------------------------------------------- synthetic letters

SYNTH_PER_CLASS = 2000  # training images per letter (half upper, half lower case)
SYNTH_HELD_OUT_PER_CLASS = 200  # per letter from the held-out fonts, split evenly into val and test


def load_synthetic_letters(data_dir: str | Path | None = None, n_per_class: int | None = None,
                           held_out_per_class: int = SYNTH_HELD_OUT_PER_CLASS, seed: int = 0,
                           font_root: str | Path | None = None) -> CharDataset:
    """Letters rendered from handwriting fonts; val/test come only from ``HELD_OUT_FAMILIES``.

    ``data_dir`` is unused (fonts come from the system); ``$OCR_SYNTH_PER_CLASS`` overrides
    ``n_per_class``. Rendering ~52k images takes a few minutes once; the result is cached.
    """
    from handwrite_digit_ocr import synth

    n_per_class = int(n_per_class or os.environ.get("OCR_SYNTH_PER_CLASS") or SYNTH_PER_CLASS)
    fonts = synth.find_fonts(font_root or synth.FONT_ROOT)
    train_fonts = [f for f in fonts if synth.font_family(f) not in synth.HELD_OUT_FAMILIES]
    held_fonts = [f for f in fonts if synth.font_family(f) in synth.HELD_OUT_FAMILIES]
    if not train_fonts or not held_fonts:
        raise FileNotFoundError(f"handwriting fonts not found under {font_root or synth.FONT_ROOT}; install them: "
                                f"apt-get install {synth.APT_PACKAGES}")
    spec = repr((n_per_class, held_out_per_class, seed, [f.name for f in fonts]))
    src = hashlib.sha256(Path(synth.__file__).read_bytes() + spec.encode()).hexdigest()[:10]
    cache = cache_dir() / f"synthetic_letters-{src}-{_preprocess_version()}.npz"
    if cache.exists():
        d = load_npz(cache)
    else:
        x_tr, y_tr = synth.synthetic_letters(n_per_class, train_fonts, seed)
        x_ho, y_ho = synth.synthetic_letters(held_out_per_class, held_fonts, seed + 1)
        d = {"x_train": x_tr, "y_train": y_tr, "x_held": x_ho, "y_held": y_ho}
        save_npz(cache, **d)
    rng = np.random.default_rng(seed)
    # Rendered class by class: shuffle once, since make_dataset's shuffle buffer (20k) is
    # smaller than the set and would otherwise feed batches of only a few letters.
    train = rng.permutation(len(d["x_train"]))
    # A fixed random half each for val and test (not alternate rows: those follow case and font).
    x_ho, y_ho = d["x_held"], d["y_held"]
    order = rng.permutation(len(x_ho))
    val, test = order[: len(order) // 2], order[len(order) // 2 :]
    return CharDataset(LETTERS, d["x_train"][train], d["y_train"][train], x_ho[val], y_ho[val], x_ho[test],
                       y_ho[test], name="synthetic-letters")
