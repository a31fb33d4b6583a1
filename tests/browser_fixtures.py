"""Fixtures for the browser tests that conftest.py's digit-only ``tiny_models_dir`` does not cover.

``showcase_models_dir`` serves every tab the page has (digit and letter) so screenshots show
answers rather than "not loaded": the shipped model of a task where ``models/manifest.json``
has one, an untrained ``simple_cnn`` otherwise.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import manifest_entry, write_manifest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODELS = REPO_ROOT / "models"


def shipped_entry(task: str) -> dict | None:
    """The first ``models/manifest.json`` entry serving ``task``, or ``None``."""
    try:
        entries = json.loads((SHIPPED_MODELS / "manifest.json").read_text(encoding="utf-8"))["models"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return next((e for e in entries if isinstance(e, dict) and e.get("task") == task), None)


def _untrained_entry(models_dir: Path, task: str) -> dict:
    from handwrite_digit_ocr.config import DIGITS, LETTERS, CharConfig
    from handwrite_digit_ocr.model import build_model
    from ocr_common.config import save_config

    cfg = CharConfig(arch="simple_cnn", labels=DIGITS if task == "digit" else LETTERS, task=task)
    build_model(cfg).save(models_dir / f"{task}.keras")
    save_config(cfg, models_dir / f"{task}.json")
    return manifest_entry(
        models_dir, task, task, architecture="simple_cnn", dataset="none (untrained test fixture)", metrics={}
    )


@pytest.fixture(scope="session")
def showcase_models_dir(tmp_path_factory) -> Path:
    """A models folder serving ``digit`` and ``letter`` (shipped weights where they exist)."""
    models_dir = tmp_path_factory.mktemp("showcase_models")
    entries = []
    for task in ("digit", "letter"):
        shipped = shipped_entry(task)
        if shipped is not None:
            for key in ("file", "config"):
                if shipped.get(key):
                    shutil.copy2(SHIPPED_MODELS / shipped[key], models_dir / shipped[key])
            entries.append(shipped)
        else:
            entries.append(_untrained_entry(models_dir, task))
    write_manifest(models_dir, entries)
    return models_dir
