"""Flask app factory: ``create_app(models_dir)`` loads every model once and wires the routes."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from serving.errors import register_error_handlers
from serving.openapi import build_openapi
from serving.registry import ModelRegistry
from serving.routes import STATIC_DIR, bp


def create_app(
    models_dir: str | Path = "models",
    *,
    max_upload_bytes: int = 16 * 2**20,
    max_files: int = 64,
    max_pixels: int = 40_000_000,
    max_batch_pixels: int = 100_000_000,
    registry: ModelRegistry | None = None,
) -> Flask:
    """Build the app. Models load here, before the first request, unless ``registry`` is given
    (tests inject a prebuilt one so each app does not reload TensorFlow models).

    ``max_upload_bytes`` caps the whole request body (413), ``max_files`` the images in one
    multipart batch (413), ``max_pixels`` each image's width x height (400, checked from the
    header before decoding) and ``max_batch_pixels`` the decoded pixels of a whole request (413).
    """
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    app.config.update(
        MAX_CONTENT_LENGTH=max_upload_bytes,
        OCR_MAX_FILES=max_files,
        OCR_MAX_PIXELS=max_pixels,
        OCR_MAX_BATCH_PIXELS=max_batch_pixels,
    )
    app.json.sort_keys = False  # keep "label, confidence, top" in the documented order
    # Werkzeug parses multipart parts into memory up to this size before spooling to disk;
    # keep non-file form fields small, they carry no data we use.
    app.config["MAX_FORM_MEMORY_SIZE"] = 64 * 1024
    app.extensions["ocr_registry"] = registry if registry is not None else ModelRegistry(models_dir)
    # Built once per app, with this app's limits, and served as is by GET /openapi.json.
    app.extensions["ocr_openapi"] = build_openapi(max_upload_bytes, max_files, max_pixels)
    register_error_handlers(app)
    app.register_blueprint(bp)
    return app
