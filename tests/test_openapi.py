"""``GET /openapi.json``: a valid OpenAPI document that lists exactly the app's routes, and whose
schemas the real answers satisfy."""

from __future__ import annotations

import re

import openapi_schema_validator
import pytest
from jsonschema.exceptions import ValidationError
from openapi_spec_validator import validate as validate_spec

from serving import create_app
from serving.openapi import IMAGE_MEDIA_TYPES, PREDICTION_SCHEMAS, QUERY_FLAGS, build_openapi
from serving.registry import TASKS
from tests.http_helpers import all_tasks_registry, build_all_tasks_dir, digit_like, encode

# Werkzeug adds these to every rule; they are not part of the contract.
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
# Flask's static-file route serves the web page's assets (app.js, style.css), not the API.
UNDOCUMENTED_ENDPOINTS = {"static"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return all_tasks_registry(build_all_tasks_dir(tmp_path_factory.mktemp("models")))


@pytest.fixture(scope="module")
def app(registry):
    return create_app(registry=registry)


@pytest.fixture(scope="module")
def doc(app) -> dict:
    resp = app.test_client().get("/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    return resp.get_json()


def test_document_is_valid_openapi(doc):
    validate_spec(doc)  # raises with the offending path if not


def test_served_document_is_the_built_one_with_the_apps_limits(doc, tiny_registry):
    assert doc == build_openapi()
    small = create_app(registry=tiny_registry, max_files=3, max_upload_bytes=1000).test_client().get("/openapi.json")
    body = small.get_json()["paths"]["/predict/{task}"]["post"]["requestBody"]
    assert body["content"]["multipart/form-data"]["schema"]["properties"]["image"]["maxItems"] == 3
    assert "1,000 bytes" in body["description"]


def _flask_operations(app) -> set[tuple[str, str]]:
    ops = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDOCUMENTED_ENDPOINTS:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)  # /predict/<task> -> /predict/{task}
        ops |= {(path, m.lower()) for m in rule.methods - IMPLICIT_METHODS}
    return ops


def test_every_route_is_documented_and_vice_versa(app, doc):
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert _flask_operations(app) == documented


def test_tasks_flags_and_media_types_match_the_server(doc):
    op = doc["paths"]["/predict/{task}"]["post"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["task"]["schema"]["enum"] == list(TASKS)
    assert set(PREDICTION_SCHEMAS) == set(TASKS)
    for flag in QUERY_FLAGS:
        assert params[flag]["in"] == "query" and params[flag]["schema"]["enum"] == [0, 1]
    assert set(op["requestBody"]["content"]) == {"multipart/form-data", *IMAGE_MEDIA_TYPES}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for status, resp in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert resp == {"$ref": resp["$ref"]} and resp["$ref"].startswith("#/components/responses/"), (
                        path,
                        method,
                        status,
                    )
    for resp in doc["components"]["responses"].values():
        assert resp["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


# -- the real answers satisfy the documented schemas ----------------------------------------------
def _validate(doc: dict, instance: object, schema_name: str) -> None:
    # The components travel with the schema so that "#/components/schemas/..." refs resolve.
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": doc["components"]}
    openapi_schema_validator.validate(instance, schema, cls=openapi_schema_validator.OAS30Validator)


def test_answers_match_their_schemas(app, doc):
    client = app.test_client()
    _validate(doc, client.get("/health").get_json(), "Health")
    _validate(doc, client.get("/models").get_json(), "ModelList")
    image = encode(digit_like(0))
    for task in TASKS:
        resp = client.post(f"/predict/{task}", data=image, content_type="image/png")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        _validate(doc, resp.get_json(), "Prediction")
        _validate(doc, resp.get_json(), PREDICTION_SCHEMAS[task])
    resp = client.post("/predict/digit", data=b"nope", content_type="image/png")
    _validate(doc, resp.get_json(), "Error")


def test_char_schema_is_exact(doc):
    """A digit answer with an extra key, a letter label or a probability over 1 is rejected."""
    good = {"label": "7", "confidence": 0.5, "top": [{"label": "7", "p": 0.5}]}
    _validate(doc, good, "DigitResult")
    for bad in (
        {**good, "extra": 1},
        {**good, "label": "a"},
        {**good, "confidence": 1.5},
        {**good, "top": []},
        {"label": "7", "confidence": 0.5},
    ):
        with pytest.raises(ValidationError):
            _validate(doc, bad, "DigitResult")
    with pytest.raises(ValidationError):
        _validate(doc, {**good, "label": "A", "top": [{"label": "A", "p": 0.5}]}, "LetterResult")
