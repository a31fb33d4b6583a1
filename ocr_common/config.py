"""Frozen task configs saved as JSON beside the weights.

A predictor rebuilds its model from this file alone (architecture, input size, labels,
normalisation), so nothing about a trained model has to be guessed at serving time.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def config_to_dict(cfg: Any) -> dict:
    """Dataclass -> JSON-friendly dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def config_from_dict(cls: type[T], data: dict) -> T:
    """Rebuild ``cls`` from a dict, ignoring unknown keys and restoring tuple fields."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            continue
        if isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def save_config(cfg: Any, path: str | Path) -> Path:
    from ocr_common.io import atomic_write_text

    return atomic_write_text(path, json.dumps(config_to_dict(cfg), indent=2, ensure_ascii=False) + "\n")


def load_config(cls: type[T], path: str | Path) -> T:
    return config_from_dict(cls, json.loads(Path(path).read_text(encoding="utf-8")))
