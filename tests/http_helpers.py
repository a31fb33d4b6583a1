"""Helpers shared by the HTTP robustness tests: image bytes, the error-shape check and a registry
serving every task (tiny untrained digit/letter models plus stand-ins for the tasks that have no
predictor yet), so fuzzing reaches the decode and answer path of every endpoint, not just its 503.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from serving.registry import TASK_LOADERS, ModelRegistry

ERROR_KEYS = {"code", "message"}


def encode(array: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    """``array`` (or a PIL image) saved in ``fmt``."""
    img = array if isinstance(array, Image.Image) else Image.fromarray(array)
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def digit_like(seed: int, size: int = 40) -> np.ndarray:
    """Dark stroke on light paper: something the preprocessor finds ink in."""
    img = np.full((size, size), 240, np.uint8)
    rng = np.random.default_rng(seed)
    y, x = rng.integers(size // 5, size - size // 5 - 12, 2)
    img[y : y + 12 * size // 40, x : x + 4 * size // 40] = 20
    return img


def is_error_body(body: object) -> bool:
    """``{"error": {"code": <non-empty str>, "message": <non-empty str>}}`` and nothing else."""
    if not isinstance(body, dict) or set(body) != {"error"}:
        return False
    err = body["error"]
    return (
        isinstance(err, dict)
        and set(err) == ERROR_KEYS
        and all(isinstance(err[k], str) and err[k] for k in ERROR_KEYS)
    )


def assert_error(resp, status: int, code: str | None = None) -> dict:
    """A Flask test response is the JSON error ``status`` (and ``code``); returns ``body["error"]``."""
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert is_error_body(body), body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


# -- stand-in predictors for tasks without a real one yet -------------------------------------------
def _check_images(images: list[np.ndarray]) -> None:
    # What routes promise every predictor: decoded uint8 HxW or HxWx3 arrays.
    for im in images:
        assert im.dtype == np.uint8 and (im.ndim == 2 or (im.ndim == 3 and im.shape[2] == 3)), im.shape


@dataclass
class _Result:
    data: dict

    def to_dict(self) -> dict:
        return self.data


def _runs(inked: np.ndarray, min_gap: int) -> list[tuple[int, int]]:
    """``[start, end)`` runs of True in a 1-D profile; runs less than ``min_gap`` apart are one run."""
    idx = np.flatnonzero(inked)
    if idx.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(idx) > min_gap)
    starts = [int(idx[0]), *(int(idx[c + 1]) for c in cuts)]
    ends = [*(int(idx[c]) + 1 for c in cuts), int(idx[-1]) + 1]
    return list(zip(starts, ends))


class FakeWord:
    """Stand-in for handwrite_word_ocr.predict.WordPredictor, answering its exact shape.

    Ink is any pixel far from the image's median grey (either polarity). Lines are bands of inked
    rows; words are runs of inked columns in a line, split at gaps wider than half the line's height.
    Words are named from ``WORDS`` in reading order, upper-cased when ``lexicon=False`` (so tests
    can see the flag arrived); ``segment=False`` answers one word whose box is the whole image. An
    image with no ink reads as ``{"text": "", "words": []}``, whatever the flags.
    """

    WORDS = ("hello", "world", "second", "line", "more", "words", "here")

    def __init__(self) -> None:
        self.calls: list[dict] = []  # the query flags each call received

    def predict(self, images, **options: bool):
        _check_images(images)
        assert set(options) <= {"segment", "lexicon"}, options
        self.calls.append(options)
        return [self._read(im, options.get("segment", True), options.get("lexicon", True)) for im in images]

    def _read(self, image: np.ndarray, segment: bool, lexicon: bool) -> _Result:
        gray = image.astype(np.float32) if image.ndim == 2 else image.astype(np.float32).mean(axis=2)
        ink = np.abs(gray - np.median(gray)) > 64
        h, w = ink.shape
        if not ink.any():
            boxes: list[tuple[list[int], int]] = []
        elif not segment:
            boxes = [([0, 0, w, h], 0)]
        else:
            boxes = []
            for line, (y0, y1) in enumerate(_runs(ink.any(axis=1), 2)):
                for x0, x1 in _runs(ink[y0:y1].any(axis=0), max(3, (y1 - y0) // 2)):
                    rows = np.flatnonzero(ink[y0:y1, x0:x1].any(axis=1))
                    boxes.append(([x0, y0 + int(rows[0]), x1, y0 + int(rows[-1]) + 1], line))
        words = []
        for i, (box, line) in enumerate(boxes):
            text = self.WORDS[i % len(self.WORDS)]
            words.append({"text": text if lexicon else text.upper(), "box": box, "line": line,
                          "confidence": 0.9 if lexicon else 0.6})
        lines: dict[int, list[str]] = {}
        for word in words:
            lines.setdefault(word["line"], []).append(word["text"])
        return _Result({"text": "\n".join(" ".join(t) for _, t in sorted(lines.items())), "words": words})


@dataclass
class FakeDocEdgePrediction:
    """Shaped like doc_edge_detection.predict.DocEdgePrediction."""

    found: bool
    corners: np.ndarray | None
    confidence: float

    def to_dict(self) -> dict:
        corners = None if self.corners is None else [[float(x), float(y)] for x, y in self.corners]
        return {"found": self.found, "corners": corners, "confidence": self.confidence}


@dataclass
class FakeScanResult:
    """Shaped like doc_edge_detection.predict.ScanResult."""

    image: np.ndarray
    found: bool
    corners: np.ndarray | None


class FakeDocEdges:
    """Stand-in for doc_edge_detection.predict.DocEdgePredictor. Any image that is not one flat colour
    holds a "page" whose corners are inset ``INSET`` from the border; ``scan`` flattens with OpenCV,
    to a size that follows the quad, and ``enhance`` makes the page black and white."""

    INSET = 0.1

    def __init__(self) -> None:
        self.scans: list[dict] = []  # what each scan() call received: {"corners": ..., "enhance": ...}

    def _detect(self, image: np.ndarray) -> FakeDocEdgePrediction:
        if int(image.max()) - int(image.min()) < 8:
            return FakeDocEdgePrediction(False, None, 0.0)
        h, w = image.shape[:2]
        a, b = self.INSET, 1 - self.INSET
        corners = np.array([[a * w, a * h], [b * w, a * h], [b * w, b * h], [a * w, b * h]])
        return FakeDocEdgePrediction(True, corners, 0.9)

    def predict(self, images: list[np.ndarray]) -> list[FakeDocEdgePrediction]:
        _check_images(images)
        return [self._detect(im) for im in images]

    def scan(self, image: np.ndarray, corners: np.ndarray | None = None, *, enhance: bool = False) -> FakeScanResult:
        import cv2

        _check_images([image])
        self.scans.append({"corners": None if corners is None else np.array(corners), "enhance": enhance})
        if corners is None:
            corners = self._detect(image).corners
            if corners is None:
                return FakeScanResult(image, False, None)
        quad = np.asarray(corners, np.float32)
        assert quad.shape == (4, 2), quad.shape
        tl, tr, br, bl = quad
        w = max(1, round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))))
        h = max(1, round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))))
        target = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
        page = cv2.warpPerspective(image, cv2.getPerspectiveTransform(quad, target), (w, h))
        if enhance:
            gray = page if page.ndim == 2 else cv2.cvtColor(page, cv2.COLOR_RGB2GRAY)
            page = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]
        return FakeScanResult(page, True, quad)


class FakeChinese:
    """Stand-in for chinese_ocr.predict.ChinesePredictor, answering its exact shape.

    Ink is any pixel far from the image's median grey (either polarity). Lines are bands of inked
    rows, each boxed (four corners) around its ink; they are named from ``LINES`` in reading order.
    ``detect=False`` answers one line whose box is the whole image. An image with no ink reads as
    ``{"text": "", "lines": [], "turned": False}``, whatever the flag. ``turned`` is always False.
    """

    LINES = ("你好世界", "第二行文字", "第三行", "更多的字", "最后一行")

    def __init__(self) -> None:
        self.calls: list[dict] = []  # the query flags each call received

    def predict(self, images, **options: bool):
        _check_images(images)
        assert set(options) <= {"detect"}, options
        self.calls.append(options)
        return [self._read(im, options.get("detect", True)) for im in images]

    def _read(self, image: np.ndarray, detect: bool) -> _Result:
        gray = image.astype(np.float32) if image.ndim == 2 else image.astype(np.float32).mean(axis=2)
        ink = np.abs(gray - np.median(gray)) > 64
        h, w = ink.shape
        if not ink.any():
            boxes: list[tuple[int, int, int, int]] = []
        elif not detect:
            boxes = [(0, 0, w, h)]
        else:
            boxes = []
            for y0, y1 in _runs(ink.any(axis=1), 2):
                cols = np.flatnonzero(ink[y0:y1].any(axis=0))
                boxes.append((int(cols[0]), y0, int(cols[-1]) + 1, y1))
        lines = [{"text": self.LINES[i % len(self.LINES)], "box": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
                  "confidence": 0.9 if detect else 0.8} for i, (x0, y0, x1, y1) in enumerate(boxes)]
        return _Result({"text": "\n".join(line["text"] for line in lines), "lines": lines, "turned": False})


FAKES = {"word": FakeWord, "doc-edges": FakeDocEdges, "chinese": FakeChinese}


def build_all_tasks_dir(models_dir: Path) -> Path:
    """A models folder with tiny UNTRAINED ``simple_cnn`` digit and letter models and placeholder
    files for the stand-in tasks, all in a manifest with real sha256s."""
    from handwrite_digit_ocr.config import LETTERS, CharConfig
    from handwrite_digit_ocr.model import build_model
    from ocr_common.config import save_config
    from tests.conftest import manifest_entry, write_manifest

    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for task, labels in (("digit", None), ("letter", LETTERS)):
        cfg = CharConfig(arch="simple_cnn", task=task, **({"labels": labels} if labels else {}))
        build_model(cfg).save(models_dir / f"{task}.keras")
        save_config(cfg, models_dir / f"{task}.json")
        entries.append(manifest_entry(models_dir, task, task, architecture="simple_cnn", dataset="none (untrained)"))
    for task in FAKES:
        (models_dir / f"{task}.keras").write_bytes(f"stand-in for {task}".encode())
        (models_dir / f"{task}.json").write_text("{}", encoding="utf-8")
        entries.append(manifest_entry(models_dir, task, task, architecture="stand-in"))
    write_manifest(models_dir, entries)
    return models_dir


# Real loaders for digit/letter, stand-ins for the rest.
ALL_TASK_LOADERS = {**TASK_LOADERS, **{task: (lambda weights, config, cls=cls: cls()) for task, cls in FAKES.items()}}


def all_tasks_registry(models_dir: Path) -> ModelRegistry:
    """A registry of ``build_all_tasks_dir``'s folder with every task ready."""
    registry = ModelRegistry(models_dir, loaders=ALL_TASK_LOADERS)
    assert all(state["ready"] for state in registry.health().values()), registry.health()
    return registry


@contextlib.contextmanager
def serve_in_thread(app, threads: int = 4):
    """Serve ``app`` through ``server.build_server`` (waitress, the real server) on a free
    loopback port in a daemon thread; yields the port and stops the server afterwards."""
    from server import build_server

    srv = build_server(app, "127.0.0.1", 0, threads=threads)
    thread = threading.Thread(target=srv.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield srv.effective_port
    finally:
        # waitress has no stop(): close every channel, the listener included, so its loop ends.
        logging.getLogger("waitress").setLevel(logging.CRITICAL)
        srv.task_dispatcher.shutdown()
        for channel in list(srv._map.values()):
            channel.handle_close()
        thread.join(timeout=10)


def stand_in_registry(models: Path, task: str, predictor) -> ModelRegistry:
    """A registry serving ``task`` from ``predictor`` (a stand-in), with the manifest and dummy weight
    files the registry checks before it calls the loader."""
    from tests.conftest import manifest_entry, write_manifest

    (models / f"{task}.keras").write_bytes(b"stand-in")
    (models / f"{task}.json").write_text("{}", encoding="utf-8")
    write_manifest(models, [manifest_entry(models, task, task, architecture="stand-in")])
    return ModelRegistry(models, loaders={task: lambda weights, config: predictor})
