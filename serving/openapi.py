"""The OpenAPI 3.0 description of the HTTP contract in DESIGN.md, served at ``GET /openapi.json``.

Hand-written rather than generated, so it states the contract (shapes, status codes, limits)
instead of whatever the code happens to do; ``tests/test_openapi.py`` checks it is a valid
document and that it lists exactly the routes the app has, and ``tests/test_fuzz.py`` fuzzes the
app from it. :func:`build_openapi` is called once per app with that app's limits.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from serving.registry import TASKS
from serving.scan import FORMATS, MIN_AREA_FRACTION, OUTSIDE_MARGIN

OPENAPI_VERSION = "3.0.3"
# The raw-body media types listed one by one: tools (client generators, fuzzers) handle concrete
# types better than the ``image/*`` range the server actually accepts.
IMAGE_MEDIA_TYPES: tuple[str, ...] = ("image/png", "image/jpeg", "image/bmp", "image/tiff", "image/webp", "image/gif")
# Query flags and the tasks whose predictors read them; other tasks check the value and ignore it.
QUERY_FLAGS: dict[str, tuple[str, str]] = {
    "segment": ("word", "1 (default) splits the image into words first; 0 reads the whole image as one word."),
    "lexicon": ("word", "1 (default) corrects words against the dictionary; 0 turns the dictionary off."),
    "detect": ("chinese", "1 (default) finds text lines first; 0 reads the whole image as one text line."),
}
# Task -> the schema of its 200 answer; each has a matching "<Task>Result" schema for one image.
PREDICTION_SCHEMAS: dict[str, str] = {
    "digit": "DigitPrediction",
    "letter": "LetterPrediction",
    "word": "WordPrediction",
    "doc-edges": "DocEdgesPrediction",
    "chinese": "ChinesePrediction",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _resp(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _version() -> str:
    try:
        return metadata.version("deep-learning-playground")
    except metadata.PackageNotFoundError:  # running from a checkout that was never pip-installed
        return "0.0.0+checkout"


def _char_result(pattern: str, n_labels: int, example: str) -> dict[str, Any]:
    label = {"type": "string", "pattern": pattern, "example": example}
    prob = {"type": "number", "minimum": 0, "maximum": 1}
    return {
        "type": "object",
        "required": ["label", "confidence", "top"],
        "additionalProperties": False,
        "properties": {
            "label": label,
            "confidence": {**prob, "description": "probability of `label`"},
            "top": {
                "type": "array",
                "description": "the most likely labels, best first; `top[0]` is `label` with `p` = `confidence`",
                "minItems": 1,
                "maxItems": n_labels,
                "items": {
                    "type": "object",
                    "required": ["label", "p"],
                    "additionalProperties": False,
                    "properties": {"label": label, "p": prob},
                },
            },
        },
    }


def _word_result() -> dict[str, Any]:
    """A word answer: the whole reading plus one entry per word found, in reading order."""
    pixel = {"type": "integer", "minimum": 0}
    word = {
        "type": "object",
        "required": ["text", "box", "line", "confidence"],
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "minLength": 1, "description": "the word as read (never empty)"},
            "box": {"type": "array", "minItems": 4, "maxItems": 4, "items": pixel,
                    "description": "[x0, y0, x1, y1] in pixels of the uploaded image, x1 and y1 exclusive; "
                    "with `?segment=0` the whole image"},
            "line": {"type": "integer", "minimum": 0, "description": "index of the word's text line, top line 0"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1,
                           "description": "how sure the model is of this word's reading"},
        },
    }
    return {
        "type": "object",
        "required": ["text", "words"],
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "description": "the words joined by spaces and the lines by newlines, in "
                     "reading order; empty when no writing was found"},
            "words": {"type": "array", "items": word, "description": "lines top to bottom, words left to right"},
        },
        "example": {"text": "hello world\nsecond line", "words": [
            {"text": "hello", "box": [12, 8, 118, 52], "line": 0, "confidence": 0.91},
            {"text": "world", "box": [140, 10, 262, 55], "line": 0, "confidence": 0.88},
            {"text": "second", "box": [10, 70, 140, 112], "line": 1, "confidence": 0.83},
            {"text": "line", "box": [158, 68, 230, 110], "line": 1, "confidence": 0.9},
        ]},
    }


def _chinese_result() -> dict[str, Any]:
    """A Chinese answer: the whole reading plus one entry per text line read, in reading order."""
    pixel = {"type": "number", "minimum": 0}
    line = {
        "type": "object",
        "required": ["text", "box", "confidence"],
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "minLength": 1, "description": "the line as read (never empty: a line "
                     "read as nothing is left out)"},
            "box": {"type": "array", "minItems": 4, "maxItems": 4,
                    "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": pixel},
                    "description": "the line's four corners `[x, y]`, top-left, top-right, bottom-right, bottom-left "
                    "as the line reads (a slanted line gives a slanted box; on a page read upside down the line's "
                    "top-left is the image's lower right), in pixels of the uploaded image; with `?detect=0` the "
                    "whole image"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1,
                           "description": "how sure the model is of this line's reading"},
        },
    }
    return {
        "type": "object",
        "required": ["text", "lines", "turned"],
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "description": "the lines joined by newlines, in reading order; empty when "
                     "no text was found"},
            "lines": {"type": "array", "items": line, "description": "the text lines in reading order"},
            "turned": {"type": "boolean", "description": "true when the image was upside down and was read turned "
                       "by 180 degrees (the boxes are still in pixels of the uploaded image)"},
        },
        "example": {"text": "欢迎光临\n营业时间 9:00-21:00", "turned": False, "lines": [
            {"text": "欢迎光临", "box": [[40.0, 32.5], [312.0, 30.0], [312.5, 88.0], [40.5, 90.5]], "confidence": 0.97},
            {"text": "营业时间 9:00-21:00", "box": [[38.0, 120.0], [420.0, 120.0], [420.0, 152.0], [38.0, 152.0]],
             "confidence": 0.91},
        ]},
    }


def _point() -> dict[str, Any]:
    return {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"}, "description": "[x, y] px"}


def _prediction(task: str, result: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["task", "model", "results"],
        "additionalProperties": False,
        "properties": {
            "task": {"type": "string", "enum": [task]},
            "model": _ref("ModelRef"),
            "results": {"type": "array", "items": _ref(result), "description": "one per image, in upload order"},
        },
    }


def _schemas() -> dict[str, Any]:
    nullable_str = {"type": "string", "nullable": True}
    confidence = {"type": "number", "minimum": 0, "maximum": 1}
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "additionalProperties": False,
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "additionalProperties": False,
                    "properties": {
                        "code": {
                            "type": "string",
                            "minLength": 1,
                            "description": "short machine-readable reason, e.g. `bad_image`, `too_many_pixels`, "
                            "`too_small`, `missing_image`, `not_a_file`, `bad_parameter`, `unknown_task`, "
                            "`too_large`, `too_many_files`, `batch_too_large`, `unsupported_media_type`, "
                            "`model_unavailable`, `one_image_only`, `bad_corners`",
                        },
                        "message": {"type": "string", "minLength": 1, "description": "for people: what was wrong"},
                    },
                }
            },
        },
        "TaskState": {
            "type": "object",
            "required": ["ready", "reason"],
            "additionalProperties": False,
            "properties": {
                "ready": {"type": "boolean"},
                "reason": {**nullable_str, "description": "why the task is unavailable; null when ready"},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "tasks"],
            "properties": {
                "status": {"type": "string", "enum": ["ok"]},
                "tasks": {
                    "type": "object",
                    "required": list(TASKS),
                    "additionalProperties": False,
                    "properties": {t: _ref("TaskState") for t in TASKS},
                },
            },
        },
        "ModelInfo": {
            "type": "object",
            "required": ["name", "task", "sha256", "ready", "reason"],
            "properties": {
                "name": {"type": "string"},
                "task": {"type": "string", "enum": list(TASKS)},
                "architecture": nullable_str,
                "dataset": nullable_str,
                "sha256": {"type": "string", "description": "as the manifest states it (lower-cased)"},
                "size_bytes": {"type": "integer", "nullable": True, "minimum": 0},
                "metrics": {"type": "object", "description": "as published by `evaluate --publish`"},
                "ready": {"type": "boolean"},
                "reason": nullable_str,
            },
        },
        "ModelList": {
            "type": "object",
            "required": ["models"],
            "properties": {"models": {"type": "array", "items": _ref("ModelInfo")}},
        },
        "ModelRef": {
            "type": "object",
            "required": ["name", "architecture", "sha256"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "architecture": nullable_str,
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            },
        },
        "DigitResult": _char_result("^[0-9]$", 10, "7"),
        "LetterResult": _char_result("^[a-z]$", 26, "a"),
        "WordResult": _word_result(),
        "DocEdgesResult": {
            "type": "object",
            "required": ["found", "corners", "confidence"],
            "additionalProperties": False,
            "properties": {
                "found": {"type": "boolean", "description": "whether a page was found"},
                "corners": {
                    "type": "array",
                    "nullable": True,
                    "minItems": 4,
                    "maxItems": 4,
                    "items": _point(),
                    "description": "top-left, top-right, bottom-right, bottom-left, in pixels of the uploaded "
                    "image; null when `found` is false",
                },
                "confidence": {**confidence, "description": "how sure the model is that `corners` outline a page"},
            },
            "example": {"found": True, "corners": [[41.5, 30.0], [610.2, 44.8], [598.0, 842.1], [22.7, 820.4]],
                        "confidence": 0.97},
        },
        "ChineseResult": _chinese_result(),
        **{name: _prediction(task, name.replace("Prediction", "Result")) for task, name in PREDICTION_SCHEMAS.items()},
        "Prediction": {
            "oneOf": [_ref(name) for name in PREDICTION_SCHEMAS.values()],
            "discriminator": {
                "propertyName": "task",
                "mapping": {task: _ref(name)["$ref"] for task, name in PREDICTION_SCHEMAS.items()},
            },
        },
    }


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _upload_body(max_files: int, max_upload_bytes: int, max_pixels: int, what: str) -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    return {
        "required": True,
        "description": (
            f"{what} PNG, JPEG, BMP, TIFF, WebP or GIF (first frame); grayscale, RGB or RGBA; dark ink on light paper "
            f"or light on dark; EXIF orientation is applied. Either multipart/form-data with file part(s) in the "
            f"field `image` (each part needs a filename, e.g. `curl -F image=@photo.png`), or the raw bytes of one "
            f"image with any `image/*` Content-Type (the format is read from the bytes). Limits: {max_upload_bytes:,} "
            f"bytes per request, {max_pixels:,} pixels per image, sides of at least 8 pixels."
        ),
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "array", "minItems": 1, "maxItems": max_files, "items": binary},
                    },
                },
                "encoding": {"image": {"contentType": ", ".join(IMAGE_MEDIA_TYPES)}},
            },
            **{media: {"schema": binary} for media in IMAGE_MEDIA_TYPES},
        },
    }


def _scan_body(max_upload_bytes: int, max_pixels: int) -> dict[str, Any]:
    """The upload body plus the optional multipart field ``corners``."""
    body = _upload_body(1, max_upload_bytes, max_pixels, "Exactly one photo of a page (a second image is a 400):")
    body["description"] += (
        " With multipart/form-data, the optional text field `corners` sets the page's corners instead of the "
        "detected ones."
    )
    form = body["content"]["multipart/form-data"]
    form["schema"]["properties"]["corners"] = {
        "type": "string",
        "description": (
            "JSON list of four `[x, y]` points in pixels of the uploaded image (after EXIF rotation), in any order "
            "(they are sorted into top-left, top-right, bottom-right, bottom-left). Each point may lie up to "
            f"{OUTSIDE_MARGIN:.0%} of the image's size beyond its border; the points must enclose a convex "
            f"quadrilateral covering at least {MIN_AREA_FRACTION:.0%} of the image. Otherwise 400 `bad_corners`."
        ),
        "example": "[[40, 30], [600, 42], [620, 830], [25, 810]]",
    }
    return body


def _scan_params() -> list[dict[str, Any]]:
    return [
        {
            "name": "format",
            "in": "query",
            "required": False,
            "description": "`jpeg` (default): the page as a JPEG; `pdf`: a one-page PDF holding it.",
            "schema": {"type": "string", "enum": list(FORMATS), "default": "jpeg"},
        },
        {
            "name": "enhance",
            "in": "query",
            "required": False,
            "description": "1: the scan look (even white paper, crisp dark ink); 0 (default): the photo's own colours.",
            "schema": {"type": "integer", "enum": [0, 1], "default": 0},
        },
    ]


def _scan_ok() -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    header = {"required": True, "schema": {"type": "string"}}
    return {
        "description": "the page, perspective-corrected (the whole photo, unflattened, when no page was found and "
        "no corners were given)",
        "headers": {
            "X-Page-Found": {**header, "schema": {"type": "string", "enum": ["true", "false"]},
                             "description": "`true` when the page was flattened (found, or corners given)"},
            "X-Corners": {**header, "description": "JSON of the four corners used, `[[x, y] x 4]` top-left, "
                          "top-right, bottom-right, bottom-left in pixels of the uploaded image, or `null`",
                          "example": "[[40,30],[600,42],[620,830],[25,810]]"},
            "Content-Disposition": {**header, "description": '`inline; filename="scan.jpg"` or `"scan.pdf"`'},
        },
        "content": {FORMATS[f][1]: binary for f in FORMATS},
    }


def build_openapi(
    max_upload_bytes: int = 16 * 2**20, max_files: int = 64, max_pixels: int = 40_000_000
) -> dict[str, Any]:
    """The OpenAPI document (a plain JSON-able dict) for an app with these limits."""
    common_errors = {"405": _resp("MethodNotAllowed"), "500": _resp("InternalError")}
    upload_errors = {
        "400": _resp("BadRequest"),
        "413": _resp("TooLarge"),
        "415": _resp("UnsupportedMediaType"),
        "503": _resp("Unavailable"),
    }
    flags = [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": f"Used by task `{task}`: {text} Other tasks ignore it, but it must still be 0 or 1.",
            "schema": {"type": "integer", "enum": [0, 1], "default": 1},
        }
        for name, (task, text) in QUERY_FLAGS.items()
    ]
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "OCR workbench",
            "version": _version(),
            "description": (
                "Handwritten digits and letters, words, document edges and Chinese text. Every error is JSON "
                '`{"error": {"code": ..., "message": ...}}`; bad input never gives a 500.'
            ),
            "license": {"name": "MIT"},
        },
        "paths": {
            "/": {
                "get": {
                    "operationId": "index",
                    "summary": "The web page: draw or upload an image and see the answer",
                    "responses": {
                        "200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}},
                        **common_errors,
                    },
                }
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness and which tasks are ready",
                    "description": "Always 200 once the server is up; a task whose weights are missing, corrupt or "
                    "refused shows `ready: false` with the reason.",
                    "responses": {
                        "200": {
                            "description": "the server is up",
                            "content": {"application/json": {"schema": _ref("Health")}},
                        },
                        **common_errors,
                    },
                }
            },
            "/models": {
                "get": {
                    "operationId": "listModels",
                    "summary": "The models in the manifest, with sha256 and metrics",
                    "responses": {
                        "200": {
                            "description": "every manifest entry",
                            "content": {"application/json": {"schema": _ref("ModelList")}},
                        },
                        **common_errors,
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.0 document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **common_errors,
                    },
                }
            },
            "/predict/{task}": {
                "post": {
                    "operationId": "predict",
                    "summary": "Read one image or a batch",
                    "parameters": [
                        {
                            "name": "task",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": list(TASKS)},
                        },
                        *flags,
                    ],
                    "requestBody": _upload_body(
                        max_files, max_upload_bytes, max_pixels, f"One to {max_files} images (413 beyond that):"
                    ),
                    "responses": {
                        "200": {
                            "description": "one result per image, in upload order; the result shape depends on the "
                            "task",
                            "content": {"application/json": {"schema": _ref("Prediction")}},
                        },
                        **upload_errors,
                        "404": _resp("UnknownTask"),
                        **common_errors,
                    },
                }
            },
            "/scan": {
                "post": {
                    "operationId": "scan",
                    "summary": "Flatten a photographed page: a JPEG or a one-page PDF",
                    "description": "Flattens with the corners given in the form field `corners`, else with the ones "
                    "the doc-edges model finds (as `POST /predict/doc-edges` answers them).",
                    "parameters": _scan_params(),
                    "requestBody": _scan_body(max_upload_bytes, max_pixels),
                    "responses": {
                        "200": _scan_ok(),
                        **upload_errors,
                        "400": _resp("BadScan"),
                        **common_errors,
                    },
                }
            },
        },
        "components": {
            "schemas": _schemas(),
            "responses": {
                "BadRequest": _error(
                    "bad or missing image: empty body, no file part `image`, a part without a filename, "
                    "undecodable or truncated file, too many pixels, sides under 8 pixels, or a query flag that is "
                    "not 0 or 1; the message names the image (by index and filename) and what was wrong"
                ),
                "BadScan": _error(
                    "as for `/predict/{task}` (bad or missing image), or: more than one image (`one_image_only`), a "
                    "`corners` field that is not JSON, not four finite `[x, y]` points, has a point far outside the "
                    f"image or does not enclose a convex quadrilateral of at least {MIN_AREA_FRACTION:.0%} of it "
                    "(`bad_corners`), or a `format` other than jpeg / pdf or an `enhance` other than 0 / 1 "
                    "(`bad_parameter`)"
                ),
                "UnknownTask": _error("unknown task"),
                "MethodNotAllowed": _error("method not allowed; the Allow header lists the accepted ones"),
                "TooLarge": _error(
                    f"request too large: over {max_upload_bytes:,} bytes, over {max_files} files, or too many "
                    "decoded pixels in one batch"
                ),
                "UnsupportedMediaType": _error("the Content-Type is neither multipart/form-data nor image/*"),
                "Unavailable": _error(
                    "the task's weights are missing, corrupt or refused (/health says why); or task `chinese` was "
                    "asked to find lines (`detect=1`, the default) on a server without the text-line detector "
                    "(`?detect=0` still reads the image as one line)"
                ),
                "InternalError": _error("a bug; logged with its traceback, never caused by bad input"),
            },
        },
    }
