"""Flask app factory: ``create_app(models_dir)`` loads every model once and wires the routes."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from serving.errors import register_error_handlers
from serving.openapi import build_openapi
from serving.registry import ModelRegistry
from serving.routes import STATIC_DIR, bp

MAX_FORM_FIELD_BYTES = 512 * 1024


def create_app(
    models_dir: str | Path = "models",
    *,
    max_upload_bytes: int = 16 * 2**20,
    max_files: int = 64,
    max_pixels: int = 40_000_000,
    max_batch_pixels: int = 100_000_000,
    registry: ModelRegistry | None = None,
    backend: str | None = None,
    batching: bool | None = None,
    batch_wait_ms: float = 0.0,
) -> Flask:
    """Build the app. Models load here, before the first request, unless ``registry`` is given
    (tests inject a prebuilt one so each app does not reload TensorFlow models).

    ``max_upload_bytes`` caps the whole request body (413), ``max_files`` the images in one
    multipart batch (413), ``max_pixels`` each image's width x height (400, checked from the
    header before decoding) and ``max_batch_pixels`` the decoded pixels of a whole request (413).

    ``backend`` ("tf" or "onnx"; None: the runtime's default), ``batching`` (merge concurrent
    requests into one model call; None: the runtime's default) and ``batch_wait_ms`` (how long a
    batch waits for company; 0: greedy, never) go to the model loaders; they have no effect when
    ``registry`` is given.
    """
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    app.config.update(
        MAX_CONTENT_LENGTH=max_upload_bytes,
        OCR_MAX_FILES=max_files,
        OCR_MAX_PIXELS=max_pixels,
        OCR_MAX_BATCH_PIXELS=max_batch_pixels,
    )
    app.json.sort_keys = False  # keep "label, confidence, top" in the documented order
    # The most a multipart text field (e.g. /scan's corners) may hold in memory. Werkzeug also
    # applies it to its parser's buffer, which takes the body in 64 KiB reads: at 64 KiB itself
    # every image part over ~64 KiB was refused as "too large", so the cap sits well above a read.
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_FORM_FIELD_BYTES
    if registry is None:
        # Only options actually set are passed, so loaders keep their own defaults otherwise.
        options = {"backend": backend, "batching": batching, "batch_wait_ms": batch_wait_ms or None}
        registry = ModelRegistry(models_dir, loader_options={k: v for k, v in options.items() if v is not None})
    app.extensions["ocr_registry"] = registry
    # Built once per app, with this app's limits, and served as is by GET /openapi.json.
    app.extensions["ocr_openapi"] = build_openapi(max_upload_bytes, max_files, max_pixels)
    register_error_handlers(app)
    app.register_blueprint(bp)
    return app
