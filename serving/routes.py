"""HTTP routes: health, model list, predictions, page scans and the web page.

The contract (status codes, JSON shapes) is fixed in DESIGN.md; clients and tests depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory

from ocr_common.image import ImageDecodeError, decode_image
from serving.errors import ApiError, clip_text
from serving.openapi import QUERY_FLAGS
from serving.registry import ModelRegistry
from serving.scan import FORMATS, PageScan, corners_header, encode_page, parse_corners

bp = Blueprint("api", __name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
FIELD = "image"
CORNERS_FIELD = "corners"
# Four points of JSON need a few dozen characters; anything much longer is not corners.
MAX_CORNERS_BYTES = 1000

_PLACEHOLDER = """<!doctype html>
<html><head><meta charset="utf-8"><title>OCR workbench</title></head>
<body><h1>OCR workbench</h1>
<p>The web page is not installed. The API is up: see <a href="/health">/health</a> and
<a href="/models">/models</a>; POST images to <code>/predict/&lt;task&gt;</code>.</p>
</body></html>
"""


@dataclass
class Upload:
    """One decoded image and how to name it in error messages."""

    label: str
    image: np.ndarray


def _registry() -> ModelRegistry:
    return current_app.extensions["ocr_registry"]


@bp.get("/health")
def health() -> Response:
    return jsonify({"status": "ok", "tasks": _registry().health()})


@bp.get("/models")
def models() -> Response:
    return jsonify({"models": _registry().models()})


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(current_app.extensions["ocr_openapi"])


@bp.get("/")
def index() -> Response:
    # Checked per request: the page is optional and may be added while the server runs.
    if (STATIC_DIR / "index.html").is_file():
        return send_from_directory(STATIC_DIR, "index.html")
    return Response(_PLACEHOLDER, mimetype="text/html")


@bp.post("/predict/<task>")
def predict(task: str) -> Response:
    # The task name is only ever a dict key (registry.get), never part of a path.
    entry = _registry().get(task)
    options = read_flags(task)
    uploads = read_uploads()
    preds = entry.predictor.predict([u.image for u in uploads], **options)
    return jsonify(
        {
            "task": task,
            "model": {"name": entry.name, "architecture": entry.architecture, "sha256": entry.sha256},
            "results": [p.to_dict() for p in preds],
        }
    )


@bp.post("/scan")
def scan() -> Response:
    """The flattened page as a JPEG or a one-page PDF (``?format=pdf``).

    Flattens with the form field ``corners`` when given (any order; put in TL, TR, BR, BL order
    here), else with the corners the doc-edges model finds; with neither, the whole photo.
    """
    entry = _registry().get("doc-edges")
    scan_fn = getattr(entry.predictor, "scan", None)
    if scan_fn is None:
        raise ApiError(503, "model_unavailable", "the doc-edges predictor cannot flatten pages yet")
    fmt = _read_choice("format", tuple(FORMATS), default="jpeg")
    enhance = bool(_read_flag("enhance"))
    uploads = read_uploads()
    if len(uploads) != 1:
        raise ApiError(400, "one_image_only", f"/scan takes exactly one image, got {len(uploads)}")
    image = uploads[0].image
    corners = _read_corners(image.shape[1], image.shape[0])
    return _scan_response(scan_fn(image, corners, enhance=enhance), fmt)


def _scan_response(result: PageScan, fmt: str) -> Response:
    """A predictor's ``ScanResult`` -> the page file, with what was found and used in headers."""
    data, mimetype, filename = encode_page(result.image, fmt)
    resp = Response(data, mimetype=mimetype)
    resp.headers["X-Page-Found"] = "true" if result.found else "false"
    resp.headers["X-Corners"] = corners_header(result.corners)
    resp.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return resp


def _read_corners(width: int, height: int) -> np.ndarray | None:
    """The optional multipart field ``corners`` (text, or a small file part), validated."""
    if request.mimetype != "multipart/form-data":
        return None
    values = request.form.getlist(CORNERS_FIELD)
    for part in request.files.getlist(CORNERS_FIELD):  # curl -F corners=@corners.json
        values.append(part.read(MAX_CORNERS_BYTES + 1).decode("utf-8", "replace"))
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, "bad_corners", f"form field {CORNERS_FIELD!r} was sent {len(values)} times; send it once")
    if len(values[0]) > MAX_CORNERS_BYTES:
        raise ApiError(400, "bad_corners", f"form field {CORNERS_FIELD!r} is over {MAX_CORNERS_BYTES} characters")
    return parse_corners(values[0], width, height)


def _read_flag(name: str) -> bool | None:
    """Query flag ``name`` given once as 0 or 1 -> its value; ``None`` when absent; else a 400."""
    value = _read_choice(name, ("0", "1"), None, describe="0 or 1")
    return None if value is None else value == "1"


def _read_choice(name: str, choices: tuple[str, ...], default: str | None, describe: str | None = None) -> str | None:
    """Query parameter ``name`` given at most once with one of ``choices``; ``default`` when absent."""
    values = request.args.getlist(name)
    if not values:
        return default
    if len(values) > 1 or values[0] not in choices:
        got = ", ".join(repr(clip_text(v, 20)) for v in values[:3])
        allowed = describe or "one of " + ", ".join(choices)
        raise ApiError(400, "bad_parameter", f"query parameter {name!r} must be given once as {allowed}, got {got}")
    return values[0]


def read_flags(task: str) -> dict[str, bool]:
    """The 0/1 query flags (``?segment=0``) that ``task``'s predictor takes, as keyword arguments.

    Every flag's value is checked whatever the task, so a typo such as ``?detect=no`` is a 400
    rather than silently ignored; only the flags the task uses are passed on, and only when given,
    so predictors keep their own defaults. Other query parameters are ignored.
    """
    options = {}
    for name, (flag_task, _) in QUERY_FLAGS.items():
        value = _read_flag(name)
        if value is not None and flag_task == task:
            options[name] = value
    return options


def read_uploads() -> list[Upload]:
    """The request's images, decoded, in upload order.

    Accepts multipart/form-data with files in the field ``image`` or one raw body whose
    Content-Type is ``image/*``. Raises :class:`ApiError` with the contract's status codes.
    """
    cfg = current_app.config
    mimetype = request.mimetype  # lower-cased, parameters stripped
    if mimetype == "multipart/form-data":
        raw = _multipart_files(cfg["OCR_MAX_FILES"])
    elif mimetype.startswith("image/"):
        # get_data enforces MAX_CONTENT_LENGTH (413) before reading the body.
        data = request.get_data(cache=False)
        if not data:
            raise ApiError(400, "missing_image", "the request body is empty; send the image bytes")
        raw = [("request body", data)]
    elif not mimetype and not request.content_length:
        raise ApiError(
            400,
            "missing_image",
            f"no image sent; use multipart/form-data with field {FIELD!r} or a raw image/* body",
        )
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type {mimetype or '(none)'!r} is not accepted; send multipart/form-data with "
            f"field {FIELD!r} or a raw body with an image/* Content-Type",
        )
    return _decode_all(raw, cfg["OCR_MAX_PIXELS"], cfg["OCR_MAX_BATCH_PIXELS"])


def _multipart_files(max_files: int) -> list[tuple[str, bytes]]:
    files = request.files.getlist(FIELD)  # parsing the form enforces MAX_CONTENT_LENGTH (413)
    if not files and FIELD in request.form:
        # Werkzeug keeps a part without a filename as text (bytes lost to UTF-8 decoding), so the
        # image cannot be recovered: say exactly how to send it instead.
        raise ApiError(
            400,
            "not_a_file",
            f"form field {FIELD!r} was sent as text, without a filename; send each image as a file part "
            f'(Content-Disposition: form-data; name="{FIELD}"; filename="photo.png"), e.g. curl -F {FIELD}=@photo.png',
        )
    if not files:
        # A part whose Content-Disposition has no parsable name is keyed None: name it for the message.
        others = sorted({"(no name)" if k is None else clip_text(k, 40) for k in (*request.files, *request.form)})
        hint = f"; got field(s) {', '.join(map(repr, others[:10]))}" if others else ""
        raise ApiError(400, "missing_image", f"no file in form field {FIELD!r}{hint}")
    if len(files) > max_files:
        raise ApiError(413, "too_many_files", f"{len(files)} files sent; at most {max_files} per request")
    out = []
    for i, f in enumerate(files):
        # The filename is only ever echoed in messages (clipped), never used as a path.
        label = f"image {i}" + (f" ({clip_text(f.filename, 80)!r})" if f.filename else "")
        data = f.read()
        if not data:
            raise ApiError(400, "missing_image", f"{label} is empty")
        out.append((label, data))
    return out


def _decode_all(raw: list[tuple[str, bytes]], max_pixels: int, max_batch_pixels: int) -> list[Upload]:
    uploads = []
    # A per-request budget too: 64 files of 40 Mpx each would be 7 GB of RGB. Checking after each
    # decode bounds the peak at the budget plus one image.
    budget = max_batch_pixels
    for label, data in raw:
        try:
            image = decode_image(data, max_pixels=max_pixels)
        except ImageDecodeError as e:
            raise ApiError(400, e.code, f"{label}: {e}") from None
        budget -= image.shape[0] * image.shape[1]
        if budget < 0:
            raise ApiError(
                413, "batch_too_large", f"the images in this request exceed {max_batch_pixels:,} pixels in total"
            )
        uploads.append(Upload(label, image))
    return uploads

