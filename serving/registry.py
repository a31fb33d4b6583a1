"""Which model serves which task, read from ``models/manifest.json``.

The manifest is the only source of truth: a weights file is used only if the manifest names it
and its sha256 matches, so a half-copied or stale file can never answer requests. Every task
is loaded once, when the registry is built, and then shared by all requests. A task whose
weights are missing, corrupt or fail to load is disabled with a reason (shown by ``/health``
and answered 503); the other tasks keep serving.

Manifest format::

    {"version": 1, "models": [{"name": "digit", "task": "digit", "file": "digit.keras",
      "config": "digit.json", "sha256": "<hex>", "config_sha256": "<hex>", "architecture": "...",
      "dataset": "...", "command": "...", "metrics": {...}, "size_bytes": 123}]}

The first entry for a task serves it; later entries for the same task are listed but not loaded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ocr_common.io import sha256_file
from serving.errors import ApiError

log = logging.getLogger(__name__)

TASKS: tuple[str, ...] = ("digit", "letter", "word", "doc-edges", "chinese")
MANIFEST_NAME = "manifest.json"


class Predictor(Protocol):
    """What the server needs from a task's predictor."""

    def predict(self, images: list[np.ndarray], **options: bool) -> list[Any]:  # items have ``to_dict()``
        """``options`` are the task's query flags (``segment``, ``lexicon``, ``detect``), only when given."""
        ...


def _check_keras_archive(model_path: Path) -> None:
    # Only the Keras v3 archive honours safe_mode in every Keras version; legacy HDF5 ignored it
    # before Keras 3.11.3 (CVE-2025-9905), so a manifest naming an .h5 file is refused outright.
    if model_path.suffix != ".keras":
        raise ValueError(f"weights must be a .keras archive, not {model_path.suffix or 'a file without suffix'!r}")


def _batching(batching: bool | None, batch_wait_ms: float) -> bool:
    """None: the runtime's default, and always on when a wait is asked for."""
    from ocr_common.runtime import DEFAULT_BATCHING

    return (DEFAULT_BATCHING or batch_wait_ms > 0) if batching is None else batching


def predictor_loader(predictor: str, config: str) -> Callable[..., Predictor]:
    """A loader for a task whose predictor class (``"package.module:Class"``) takes the weights,
    its config (class ``config``, read from the JSON beside the weights) and the runtime options.

    The loader's options: ``backend`` "tf" or "onnx" (None: the runtime's default); ``batching``:
    merge concurrent requests into one model call (None: the runtime's default; on when
    ``batch_wait_ms`` > 0), waiting at most ``batch_wait_ms`` for company (0: greedy). The
    classes are imported when a model loads, so importing the server does not pull in TensorFlow."""

    def load(model_path: Path, config_path: Path | None, *, backend: str | None = None,
             batching: bool | None = None, batch_wait_ms: float = 0.0) -> Predictor:
        import importlib

        from ocr_common.config import load_config

        def resolve(name: str):
            module, _, attr = name.partition(":")
            return getattr(importlib.import_module(module), attr)

        _check_keras_archive(model_path)
        cfg = load_config(resolve(config), config_path) if config_path is not None else None
        return resolve(predictor)(model_path, config=cfg, backend=backend,
                                  batching=_batching(batching, batch_wait_ms), max_wait_ms=batch_wait_ms)

    return load


# The character predictor (digits, letters); the document predictor (HED or corner heatmaps, as
# its config says, the quadrilateral finder and refinement; also answers /scan); the word
# predictor (CRNN, segmenter and decoders; it builds its lexicon and speller at load time, so the
# first request does not pay for them).
_load_char = predictor_loader("handwrite_digit_ocr.predict:CharPredictor", "handwrite_digit_ocr.config:CharConfig")
_load_doc_edges = predictor_loader("doc_edge_detection.predict:DocEdgePredictor",
                                   "doc_edge_detection.config:DocEdgeConfig")
_load_word = predictor_loader("handwrite_word_ocr.predict:WordPredictor", "handwrite_word_ocr.config:WordConfig")
# The Chinese page pipeline: the task's entry is the line recogniser; the CTPN detector and the
# orientation classifier are found in the same manifest by the predictor.
_load_chinese = predictor_loader("chinese_ocr.predict:ChinesePredictor", "chinese_ocr.config:ChineseConfig")


# Task name -> factory(weights path, config path or None, **options) -> predictor. Tasks not
# listed here have no predictor in this version of the server and answer 503.
TASK_LOADERS: dict[str, Callable[..., Predictor]] = {
    "digit": _load_char,
    "letter": _load_char,
    "word": _load_word,
    "doc-edges": _load_doc_edges,
    "chinese": _load_chinese,
}


@dataclass
class ModelEntry:
    """One manifest entry plus its load state."""

    name: str
    task: str
    file: str
    sha256: str
    config: str | None = None
    config_sha256: str | None = None
    architecture: str | None = None
    dataset: str | None = None
    command: str | None = None
    metrics: dict = field(default_factory=dict)
    size_bytes: int | None = None
    predictor: Predictor | None = field(default=None, repr=False)
    reason: str | None = None  # why it is not ready

    @property
    def ready(self) -> bool:
        return self.predictor is not None

    def public(self) -> dict:
        """What ``/models`` shows (no filesystem paths beyond the file name)."""
        return {
            "name": self.name,
            "task": self.task,
            "architecture": self.architecture,
            "dataset": self.dataset,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "metrics": self.metrics,
            "ready": self.ready,
            "reason": self.reason,
        }


class ModelRegistry:
    """Loads every manifest entry once and hands predictors to the routes.

    ``loader_options`` are passed to every loader as keyword arguments (``backend``,
    ``batching``, ``batch_wait_ms``, which every loader takes); with none given, loaders are called with the
    weights and config paths only.
    """

    def __init__(self, models_dir: str | Path = "models", loaders: dict[str, Callable] | None = None,
                 loader_options: dict[str, Any] | None = None):
        self.models_dir = Path(models_dir)
        self.loaders = TASK_LOADERS if loaders is None else loaders
        self.loader_options = dict(loader_options or {})
        self.entries: list[ModelEntry] = []
        self.by_task: dict[str, ModelEntry] = {}  # the entry serving each task
        self.manifest_error: str | None = None
        self._load()

    # -- start-up -------------------------------------------------------------------------
    def _load(self) -> None:
        manifest = self.models_dir / MANIFEST_NAME
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            raw_entries = data["models"]
            if not isinstance(raw_entries, list):
                raise TypeError("'models' must be a list")
        except FileNotFoundError:
            self.manifest_error = self._public(f"{manifest} not found")
            log.warning("no model manifest at %s; every task is unavailable", manifest)
            return
        except (OSError, ValueError, KeyError, TypeError) as e:
            self.manifest_error = self._public(f"{manifest} is unreadable: {e}")
            log.error("cannot read %s: %s; every task is unavailable", manifest, e)
            return

        for i, raw in enumerate(raw_entries):
            entry = self._parse_entry(i, raw)
            if entry is None:
                continue
            self.entries.append(entry)
            if entry.task in self.by_task:
                entry.reason = f"task {entry.task!r} is already served by {self.by_task[entry.task].name!r}"
                continue
            self.by_task[entry.task] = entry
            self._load_entry(entry)

    def _parse_entry(self, i: int, raw: Any) -> ModelEntry | None:
        try:
            if not isinstance(raw, dict):
                raise TypeError("entry is not an object")
            metrics = raw.get("metrics") or {}
            entry = ModelEntry(
                name=str(raw.get("name") or raw["task"]),
                task=str(raw["task"]),
                file=str(raw["file"]),
                sha256=str(raw["sha256"]).lower(),
                config=str(raw["config"]) if raw.get("config") else None,
                config_sha256=str(raw["config_sha256"]).lower() if raw.get("config_sha256") else None,
                # Coerced, because /models and /predict answer them as documented in /openapi.json.
                architecture=_opt_str(raw.get("architecture")),
                dataset=_opt_str(raw.get("dataset")),
                command=_opt_str(raw.get("command")),
                metrics=metrics if isinstance(metrics, dict) else {},
                size_bytes=raw.get("size_bytes") if isinstance(raw.get("size_bytes"), int) else None,
            )
        except (KeyError, TypeError) as e:
            log.error("manifest entry %d is invalid (%s); skipped", i, e)
            return None
        if entry.task not in TASKS:
            log.warning("manifest entry %r names unknown task %r; skipped", entry.name, entry.task)
            return None
        return entry

    def _resolve(self, name: str) -> Path:
        """A manifest file name -> path inside ``models_dir``; refuses anything that escapes it."""
        root = self.models_dir.resolve()
        path = (root / name).resolve()
        if root not in path.parents:
            raise ValueError(f"{name!r} is outside the models folder")
        return path

    def _verify(self, name: str, expected_sha: str | None, what: str) -> Path:
        path = self._resolve(name)
        if not path.is_file():
            raise FileNotFoundError(f"{what} file {name!r} is missing from {self.models_dir}")
        if expected_sha is not None:
            actual = sha256_file(path)
            if actual != expected_sha:
                raise ValueError(
                    f"{what} file {name!r} does not match the manifest "
                    f"(sha256 {actual[:12]}..., expected {expected_sha[:12]}...); refusing to load it"
                )
        return path

    def _load_entry(self, entry: ModelEntry) -> None:
        loader = self.loaders.get(entry.task)
        if loader is None:
            entry.reason = f"this server has no predictor for task {entry.task!r} yet"
            log.warning("%s: %s", entry.name, entry.reason)
            return
        try:
            # Verify before loading: never deserialise a file the manifest did not vouch for.
            weights = self._verify(entry.file, entry.sha256, "weights")
            config = self._verify(entry.config, entry.config_sha256, "config") if entry.config else None
        except (OSError, ValueError) as e:
            entry.reason = self._public(str(e))
            log.error("%s (task %s) disabled: %s", entry.name, entry.task, e)
            return
        try:
            entry.predictor = loader(weights, config, **self.loader_options)
        except Exception as e:  # one broken model must not stop the others
            entry.reason = self._public(f"failed to load {entry.file!r}: {type(e).__name__}: {e}")
            log.exception("%s (task %s) failed to load", entry.name, entry.task)
            return
        log.info("%s (task %s, %s) ready", entry.name, entry.task, entry.architecture or "?")

    def _public(self, text: str) -> str:
        """``text`` with the models folder's absolute path shortened to ``<models-dir>``: reasons are
        shown to any client (/health, 503 answers) and need not reveal the server's file layout. The
        log keeps the full paths."""
        for prefix in {str(self.models_dir.resolve()), str(self.models_dir.absolute())}:
            text = text.replace(prefix, "<models-dir>")
        return text

    # -- serving --------------------------------------------------------------------------
    def reason(self, task: str) -> str | None:
        """Why ``task`` is not ready, or ``None`` when it is."""
        entry = self.by_task.get(task)
        if entry is not None:
            return entry.reason
        where = f"({self.manifest_error})" if self.manifest_error else f"in {self.models_dir / MANIFEST_NAME}"
        return self._public(f"no weights for task {task!r} {where}")

    def get(self, task: str) -> ModelEntry:
        """The ready entry serving ``task``; ``ApiError`` 404 for unknown tasks, 503 if unavailable."""
        if task not in TASKS:
            raise ApiError(404, "unknown_task", f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
        entry = self.by_task.get(task)
        if entry is None or not entry.ready:
            raise ApiError(503, "model_unavailable", f"task {task!r} is unavailable: {self.reason(task)}")
        return entry

    def health(self) -> dict[str, dict]:
        return {task: {"ready": self.reason(task) is None, "reason": self.reason(task)} for task in TASKS}

    def models(self) -> list[dict]:
        return [e.public() for e in self.entries]


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
