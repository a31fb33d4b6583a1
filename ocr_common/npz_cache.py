"""Folder of labelled images <-> one compressed ``.npz`` for fast repeated loading.

Decoding thousands of small PNGs costs seconds on every run; one ``np.load`` costs
milliseconds. The layout is one sub-folder per label (``<root>/<label>/*.png``); a
``label_fn`` maps folder names to label text (e.g. ``upper_A`` -> ``a``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ocr_common.io import atomic_write_bytes

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}


def list_labelled_images(
    root: str | Path, label_fn: Callable[[str], str | None] = lambda s: s
) -> list[tuple[Path, str]]:
    """``(path, label)`` for every image under ``root/<folder>/``, sorted; extensions match
    case-insensitively (``.PNG`` and ``.png`` alike). Folders whose label_fn is None are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    items = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = label_fn(folder.name)
        if label is None:
            continue
        for f in sorted(folder.iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_EXTS:
                items.append((f, label))
    return items


def folder_to_npz(
    root: str | Path,
    out: str | Path,
    transform: Callable[[np.ndarray], np.ndarray],
    label_fn: Callable[[str], str | None] = lambda s: s,
) -> Path:
    """Decode, ``transform`` (e.g. normalise to 28x28) and store every image of ``root``.

    The npz holds ``x`` (N, ...) float32/uint8 as ``transform`` returns, ``y`` (N,) label
    strings and ``files`` (N,) relative paths, so a sample can be traced back to its file.
    """
    from ocr_common.image import load_image_file

    items = list_labelled_images(root, label_fn)
    if not items:
        raise ValueError(f"no images found under {root}")
    xs = [transform(load_image_file(p)) for p, _ in items]
    return save_npz(
        out,
        x=np.stack(xs),
        y=np.array([lab for _, lab in items]),
        files=np.array([str(p.relative_to(root)) for p, _ in items]),
    )


def save_npz(path: str | Path, *, compresslevel: int | None = None, **arrays: np.ndarray) -> Path:
    """Write ``arrays`` as one compressed npz, atomically (a crash never leaves half a file).

    ``compresslevel`` (1-9; None: NumPy's default, 6): level 1 packs zero-heavy arrays such as
    edge maps about as well and is several times faster, which matters when rendering shards."""
    buf = io.BytesIO()
    if compresslevel is None:
        np.savez_compressed(buf, **arrays)
    else:
        import zipfile

        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
            for name, a in arrays.items():
                with zf.open(name + ".npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asarray(a), allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Load every array of an npz written by :func:`folder_to_npz` (no pickle)."""
    with np.load(path, allow_pickle=False) as d:
        return {k: d[k] for k in d.files}


def cached_folder(root: str | Path, cache: str | Path, transform, label_fn=lambda s: s, refresh: bool = False):
    """Load ``cache`` if it is newer than ``root``'s files, otherwise (re)build it."""
    cache = Path(cache)
    if not refresh and cache.exists():
        newest = max((p.stat().st_mtime for p, _ in list_labelled_images(root, label_fn)), default=0)
        if cache.stat().st_mtime >= newest:
            return load_npz(cache)
    folder_to_npz(root, cache, transform, label_fn)
    return load_npz(cache)
