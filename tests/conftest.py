"""Shared fixtures: a tiny untrained digit model in a models folder with a valid manifest."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parent.parent
# Lets a bare ``pytest`` (not ``python -m pytest``) import the project without installing it.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory):
    """Derived files (npz caches, the ONNX exports CharPredictor makes at load time) go to a
    session temp folder unless ``$OCR_CACHE_DIR`` is set: the untrained test models get new
    weights, so a new export, every session, which must not pile up in ./data/cache."""
    if os.environ.get("OCR_CACHE_DIR"):
        yield
        return
    mp = pytest.MonkeyPatch()
    mp.setenv("OCR_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


def write_manifest(models_dir: Path, entries: list[dict]) -> Path:
    """Write ``models_dir/manifest.json`` in the format serving.registry reads."""
    path = Path(models_dir) / "manifest.json"
    path.write_text(json.dumps({"version": 1, "models": entries}, indent=2), encoding="utf-8")
    return path


def manifest_entry(models_dir: Path, task: str, stem: str, **extra) -> dict:
    """An entry for ``<stem>.keras`` + ``<stem>.json`` with their real sha256 and size."""
    from ocr_common.io import sha256_file

    models_dir = Path(models_dir)
    weights, config = models_dir / f"{stem}.keras", models_dir / f"{stem}.json"
    return {
        "name": stem,
        "task": task,
        "file": weights.name,
        "config": config.name,
        "sha256": sha256_file(weights),
        "config_sha256": sha256_file(config),
        "size_bytes": weights.stat().st_size,
        **extra,
    }


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    """A models folder serving ``digit`` with an UNTRAINED ``simple_cnn`` (shapes, not accuracy).

    Treat it as read-only; copy it (``shutil.copytree``) to break things.
    """
    from handwrite_digit_ocr.config import CharConfig
    from handwrite_digit_ocr.model import build_model
    from ocr_common.config import save_config

    models_dir = tmp_path_factory.mktemp("models")
    cfg = CharConfig(arch="simple_cnn")
    build_model(cfg).save(models_dir / "digit.keras")
    save_config(cfg, models_dir / "digit.json")
    entry = manifest_entry(
        models_dir,
        "digit",
        "digit",
        architecture="simple_cnn",
        dataset="none (untrained test fixture)",
        command="tests/conftest.py",
        metrics={"test_accuracy": None},
    )
    write_manifest(models_dir, [entry])
    return models_dir


@pytest.fixture(scope="session")
def tiny_registry(tiny_models_dir):
    """The registry for ``tiny_models_dir``, loaded once for the whole session."""
    from serving.registry import ModelRegistry

    return ModelRegistry(tiny_models_dir)


@pytest.fixture
def models_copy(tmp_path, tiny_models_dir) -> Path:
    """A private, writable copy of ``tiny_models_dir`` for tests that corrupt or remove files."""
    dst = tmp_path / "models"
    shutil.copytree(tiny_models_dir, dst)
    return dst
