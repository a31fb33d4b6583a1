"""JSON errors for every failure path.

Clients get ``{"error": {"code": "<short_code>", "message": "..."}}`` whatever went wrong:
our own :class:`ApiError`, anything werkzeug raises (404, 405, 413 ...), and unexpected
exceptions, which are logged with their traceback and answered 500 without leaking it.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, has_request_context, jsonify, request
from werkzeug.exceptions import HTTPException

from ocr_common.errors import ModelUnavailable

log = logging.getLogger(__name__)

# Short codes for werkzeug's own exceptions; anything else becomes "http_<status>".
HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answered as JSON with HTTP status ``code`` and machine code ``error_code``."""

    def __init__(self, code: int, error_code: str, message: str):
        super().__init__(message)
        self.code = code
        self.error_code = error_code
        self.message = message


def error_response(status: int, error_code: str, message: str) -> Response:
    resp = jsonify({"error": {"code": error_code, "message": message}})
    resp.status_code = status
    return resp


def register_error_handlers(app: Flask) -> None:
    """Install handlers so no error path can answer HTML or a traceback."""

    @app.errorhandler(ApiError)
    def _api_error(e: ApiError) -> Response:
        return error_response(e.code, e.error_code, e.message)

    @app.errorhandler(ModelUnavailable)
    def _model_unavailable(e: ModelUnavailable) -> Response:
        return error_response(503, "model_unavailable", str(e))

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException) -> Response:
        status = e.code or 500
        message = e.description or e.name
        if status == 413:
            message = _too_large_message(app) or message
        resp = error_response(status, HTTP_CODES.get(status, f"http_{status}"), message)
        # Keep headers werkzeug computed, e.g. Allow on 405, but not its HTML Content-Type.
        for name, value in e.get_headers():
            if name.lower() != "content-type":
                resp.headers[name] = value
        return resp

    @app.errorhandler(Exception)
    def _unexpected(e: Exception) -> Response:
        log.exception("unhandled error while serving a request")
        return error_response(500, "internal_error", "internal server error; see the server log")


def _too_large_message(app: Flask) -> str | None:
    """Say which limit a werkzeug 413 hit: the body size, or the multipart parser's own limits."""
    limit = app.config.get("MAX_CONTENT_LENGTH")
    if not limit:
        return None
    length = request.content_length if has_request_context() else None
    if length is None or length > limit:
        return f"upload too large; the limit is {limit:,} bytes"
    # The body was within the limit, so the form parser refused it: a part without a filename is
    # kept in memory as text (capped by MAX_FORM_MEMORY_SIZE), and the number of parts is capped.
    field_limit = app.config.get("MAX_FORM_MEMORY_SIZE") or 0
    parts_limit = app.config.get("MAX_FORM_PARTS") or 0
    return (
        f"form too large: a part sent without a filename may hold at most {field_limit:,} bytes and a form at "
        f"most {parts_limit:,} parts; send each image as a file part with a filename (curl -F image=@photo.png)"
    )


def clip_text(text: str, limit: int) -> str:
    """Client-supplied text shortened for echoing in an error message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
