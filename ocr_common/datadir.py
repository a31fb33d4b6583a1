"""Where datasets live: ``--data-dir`` flag, then ``$OCR_DATA_DIR``, then ``./data``."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "OCR_DATA_DIR"
DEFAULT_DIR = "data"


def resolve_data_dir(flag: str | os.PathLike | None = None) -> Path:
    """The data directory by precedence: explicit flag > ``$OCR_DATA_DIR`` > ``./data``.

    Only resolves the path; it need not exist (loaders that download create it).
    """
    if flag:
        return Path(flag).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(DEFAULT_DIR)


CACHE_ENV_VAR = "OCR_CACHE_DIR"


def cache_dir() -> Path:
    """Where derived data (normalised npz caches) is written: ``$OCR_CACHE_DIR`` or
    ``./data/cache``. Kept apart from the data directory, which may be read-only or shared."""
    return Path(os.environ.get(CACHE_ENV_VAR) or Path(DEFAULT_DIR) / "cache").expanduser()


def find_file(name: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """``<data_dir>/<name>`` if it exists, else None."""
    path = resolve_data_dir(data_dir) / name
    return path if path.exists() else None
