"""``models/manifest.json``: every shipped weights file with its sha256, metrics and the
command that trained it. The server verifies files against it at start-up."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ocr_common.io import atomic_write_bytes, atomic_write_text, sha256_file

MANIFEST = "manifest.json"
MAX_FILE_BYTES = 25 * 10**6  # project rule: each shipped file <= 25 MB


def load_manifest(models_dir: str | Path) -> dict:
    path = Path(models_dir) / MANIFEST
    if not path.exists():
        return {"version": 1, "models": []}
    return json.loads(path.read_text(encoding="utf-8"))


def find_entry(manifest: dict, name: str) -> dict | None:
    return next((m for m in manifest.get("models", []) if m.get("name") == name), None)


def publish(
    models_dir: str | Path,
    name: str,
    task: str,
    model_file: str | Path,
    config_file: str | Path,
    **fields,
) -> dict:
    """Copy ``model_file`` + ``config_file`` to ``models_dir/<name>.keras|.json`` and record
    them (sha256, size, ``fields`` such as metrics/command) in the manifest. Writes are
    atomic, so an interrupted publish leaves the previous model intact."""
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    size = Path(model_file).stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{model_file} is {size / 1e6:.1f} MB; shipped files must be <= {MAX_FILE_BYTES / 1e6:.0f} MB")
    dst = models_dir / f"{name}{Path(model_file).suffix}"
    dst_cfg = models_dir / f"{name}.json"
    if Path(model_file).resolve() != dst.resolve():
        tmp = dst.with_name(f".{dst.name}.tmp")
        shutil.copyfile(model_file, tmp)
        tmp.replace(dst)
    if Path(config_file).resolve() != dst_cfg.resolve():
        atomic_write_bytes(dst_cfg, Path(config_file).read_bytes())
    entry = {
        "name": name,
        "task": task,
        "file": dst.name,
        "config": dst_cfg.name,
        "sha256": sha256_file(dst),
        "config_sha256": sha256_file(dst_cfg),
        "size_bytes": dst.stat().st_size,
        **fields,
    }
    manifest = load_manifest(models_dir)
    manifest["models"] = [m for m in manifest.get("models", []) if m.get("name") != name] + [entry]
    manifest["models"].sort(key=lambda m: m["name"])
    atomic_write_text(models_dir / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return entry
