"""``POST /predict/doc-edges`` and ``POST /scan`` over HTTP, with a stand-in predictor (no model).

The stand-in (tests/http_helpers.FakeDocEdges) "finds" a page inset 10 % from the border of any
image that is not one flat colour and flattens with OpenCV, so these tests pin the HTTP side:
corner validation and ordering, formats, headers, flags and error codes.
"""

from __future__ import annotations

import io
import json

import numpy as np
import openapi_schema_validator
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from serving import create_app
from serving.openapi import build_openapi
from serving.registry import ModelRegistry
from tests.conftest import write_manifest
from tests.http_helpers import FakeDocEdges, assert_error, encode

W, H = 200, 150
# Inset 10 %: where the stand-in puts the page of a W x H photo.
DETECTED = [[20, 15], [180, 15], [180, 135], [20, 135]]


def photo(w: int = W, h: int = H) -> np.ndarray:
    """A bright page on a dark table (RGB)."""
    img = np.full((h, w, 3), 40, np.uint8)
    img[h // 8 : h - h // 8, w // 8 : w - w // 8] = (235, 230, 220)
    return img


PHOTO = encode(photo())
FLAT = encode(np.full((H, W), 90, np.uint8))  # no page in it


@pytest.fixture(scope="module")
def fake() -> FakeDocEdges:
    return FakeDocEdges()


@pytest.fixture(scope="module")
def client(tmp_path_factory, fake):
    from tests.conftest import manifest_entry

    models = tmp_path_factory.mktemp("doc-models")
    (models / "doc-edges.keras").write_bytes(b"stand-in")
    (models / "doc-edges.json").write_text("{}", encoding="utf-8")
    write_manifest(models, [manifest_entry(models, "doc-edges", "doc-edges", architecture="stand-in")])
    registry = ModelRegistry(models, loaders={"doc-edges": lambda weights, config: fake})
    assert registry.health()["doc-edges"]["ready"]
    return create_app(registry=registry).test_client()


def scan(client, image: bytes = PHOTO, corners: object = None, query: str = ""):
    """POST /scan with ``image`` and, unless None, the form field ``corners`` (a list is sent as JSON;
    a string, a file tuple or a list of those as given)."""
    data: dict = {"image": [(io.BytesIO(image), "page.png", "image/png")]}
    if corners is not None:
        as_json = isinstance(corners, list) and all(isinstance(p, list) for p in corners)
        data["corners"] = json.dumps(corners) if as_json else corners
    return client.post(f"/scan{query}", data=data, content_type="multipart/form-data")


def opened(resp) -> Image.Image:
    return Image.open(io.BytesIO(resp.get_data()))


# -- /predict/doc-edges ---------------------------------------------------------------------------
def test_predict_answers_found_corners_confidence(client):
    files = [(io.BytesIO(PHOTO), "a.png"), (io.BytesIO(FLAT), "b.png")]
    resp = client.post("/predict/doc-edges", data={"image": files}, content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["task"] == "doc-edges" and body["model"]["architecture"] == "stand-in"
    page, nothing = body["results"]
    assert page == {"found": True, "corners": DETECTED, "confidence": 0.9}
    assert nothing == {"found": False, "corners": None, "confidence": 0.0}
    doc = build_openapi()
    schema = {"$ref": "#/components/schemas/DocEdgesPrediction", "components": doc["components"]}
    openapi_schema_validator.validate(body, schema, cls=openapi_schema_validator.OAS30Validator)


# -- /scan: answers -------------------------------------------------------------------------------
def test_scan_is_a_jpeg_of_the_detected_page_by_default(client, fake):
    resp = scan(client)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "image/jpeg" and resp.get_data()[:2] == b"\xff\xd8"
    assert resp.headers["X-Page-Found"] == "true"
    assert json.loads(resp.headers["X-Corners"]) == DETECTED
    assert resp.headers["Content-Disposition"] == 'inline; filename="scan.jpg"'
    assert opened(resp).size == (160, 120)
    assert fake.scans[-1]["corners"] is None and fake.scans[-1]["enhance"] is False


def test_scan_as_pdf(client):
    resp = scan(client, query="?format=pdf")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data = resp.get_data()
    assert resp.mimetype == "application/pdf" and data.startswith(b"%PDF")
    assert resp.headers["Content-Disposition"] == 'inline; filename="scan.pdf"'
    assert data.count(b"/Type /Page\n") == 1 and b"/Width 160" in data and b"/Height 120" in data
    assert json.loads(resp.headers["X-Corners"]) == DETECTED


def test_raw_body_works_too(client):
    resp = client.post("/scan?format=jpeg", data=PHOTO, content_type="image/png")
    assert resp.status_code == 200 and resp.mimetype == "image/jpeg"
    assert resp.headers["X-Page-Found"] == "true"


def test_user_corners_in_any_order_are_used_in_tl_tr_br_bl_order(client, fake):
    tl, tr, br, bl = [10, 5], [190, 20], [170, 140], [-8, 130]  # a corner a little outside is fine
    resp = scan(client, corners=[br, tl, bl, tr])  # shuffled: a "bow tie" in this order
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["X-Page-Found"] == "true"
    assert json.loads(resp.headers["X-Corners"]) == [tl, tr, br, bl]
    np.testing.assert_allclose(fake.scans[-1]["corners"], [tl, tr, br, bl])
    # The stand-in sizes the page from the quad's longer opposite sides: the output follows the corners.
    width = round(max(np.hypot(180, 15), np.hypot(178, 10)))
    height = round(max(np.hypot(18, 125), np.hypot(30, 120)))
    assert opened(resp).size == (width, height)


def test_corners_as_a_file_part_and_fractional_values(client):
    corners = json.dumps([[20.5, 15.25], [180, 15], [180, 135], [20, 135]]).encode()
    resp = scan(client, corners=(io.BytesIO(corners), "corners.json", "application/json"))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert json.loads(resp.headers["X-Corners"])[0] == [20.5, 15.25]


def test_enhance_flag_is_passed_through(client, fake):
    resp = scan(client, query="?enhance=1")
    assert resp.status_code == 200 and fake.scans[-1]["enhance"] is True
    assert opened(resp).mode == "L"  # the stand-in's "scan look" is black and white
    assert scan(client, query="?enhance=0").status_code == 200 and fake.scans[-1]["enhance"] is False
    resp = scan(client, corners=DETECTED, query="?enhance=1&format=pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf" and fake.scans[-1]["enhance"] is True


def test_no_page_found_answers_the_whole_photo(client):
    resp = scan(client, image=FLAT)
    assert resp.status_code == 200
    assert resp.headers["X-Page-Found"] == "false" and resp.headers["X-Corners"] == "null"
    assert opened(resp).size == (W, H)
    # Corners given: that is the page, found or not.
    resp = scan(client, image=FLAT, corners=DETECTED)
    assert resp.headers["X-Page-Found"] == "true" and opened(resp).size == (160, 120)


# -- /scan: bad input -----------------------------------------------------------------------------
def test_missing_two_or_corrupt_images_are_400(client):
    resp = client.post("/scan", data={"corners": json.dumps(DETECTED)}, content_type="multipart/form-data")
    assert_error(resp, 400, "missing_image")
    two = {"image": [(io.BytesIO(PHOTO), "a.png"), (io.BytesIO(PHOTO), "b.png")]}
    assert "got 2" in assert_error(client.post("/scan", data=two, content_type="multipart/form-data"), 400,
                                   "one_image_only")["message"]
    err = assert_error(scan(client, image=PHOTO[: len(PHOTO) // 2]), 400, "bad_image")
    assert "page.png" in err["message"]
    assert_error(client.post("/scan"), 400, "missing_image")


@pytest.mark.parametrize(
    ("corners", "says"),
    [
        ("not json", "not valid JSON"),
        ("", "not valid JSON"),
        ("[" * 900, "not valid JSON"),  # nested too deep for the parser
        ('{"tl": [0, 0]}', "got a JSON dict"),
        ("[[20, 15], [180, 15], [180, 135]]", "got 3 items"),
        ("[[20, 15], [180, 15], [180, 135], [20, 135], [1, 1]]", "got 5 items"),
        ("[[20, 15], [180, 15], [180, 135], [20]]", "point 3 must be [x, y]"),
        ('[[20, "15"], [180, 15], [180, 135], [20, 135]]', "point 0 must be [x, y]"),
        ("[[true, 15], [180, 15], [180, 135], [20, 135]]", "point 0 must be [x, y]"),
        ("[[null, 15], [180, 15], [180, 135], [20, 135]]", "point 0 must be [x, y]"),
        ("[[NaN, 15], [180, 15], [180, 135], [20, 135]]", "not valid JSON"),
        ("[[20, 15], [Infinity, 15], [180, 135], [20, 135]]", "not valid JSON"),
        ("[[20, 15], [1e400, 15], [180, 135], [20, 135]]", "point 1 is not a finite number"),
        (f"[[20, 15], [{'9' * 400}, 15], [180, 135], [20, 135]]", "point 1 is not a finite number"),
        ("[[20, 15], [180, 15], [180, 135], [-101, 135]]", "far outside"),  # over 50 % of 200 beyond
        ("[[20, 15], [180, 15], [180, 226], [20, 135]]", "far outside"),  # over 50 % of 150 beyond
        ("[[50, 50], [50, 50], [50, 50], [50, 50]]", "covers 0.00%"),
        ("[[0, 0], [100, 0], [200, 0], [100, 1]]", "must cover at least 1%"),  # a sliver
        ("[[10, 10], [20, 10], [20, 20], [10, 20]]", "must cover at least 1%"),  # 100 px of 30,000
        ("[[0, 0], [200, 0], [100, 40], [100, 150]]", "convex"),  # one point inside the others' triangle
        ("[[0, 0], [100, 0], [200, 0], [100, 150]]", "convex"),  # three in a line
        (" " * 1001 + "[]", "over 1000 characters"),
    ],
)
def test_bad_corners_are_400(client, corners, says):
    err = assert_error(scan(client, corners=corners), 400, "bad_corners")
    assert says in err["message"], err["message"]
    assert "'corners'" in err["message"]


def test_corners_sent_twice_are_400(client):
    resp = scan(client, corners=[json.dumps(DETECTED), json.dumps(DETECTED)])
    assert "send it once" in assert_error(resp, 400, "bad_corners")["message"]


@pytest.mark.parametrize(
    "query",
    ["?format=png", "?format=PDF", "?format=", "?format=pdf&format=jpeg", "?enhance=2", "?enhance=yes",
     "?enhance=", "?enhance=0&enhance=1"],
)
def test_bad_format_or_enhance_is_400(client, query):
    err = assert_error(scan(client, query=query), 400, "bad_parameter")
    name = query[1:].split("=")[0]
    assert repr(name) in err["message"]
    assert ("jpeg, pdf" if name == "format" else "0 or 1") in err["message"]


def test_scan_without_doc_edges_weights_is_503(tmp_path):
    client = create_app(registry=ModelRegistry(tmp_path)).test_client()
    err = assert_error(scan(client), 503, "model_unavailable")
    assert "doc-edges" in err["message"]
    assert_error(client.post("/predict/doc-edges", data=PHOTO, content_type="image/png"), 503, "model_unavailable")


_NUMBERS = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                     st.none(), st.text(max_size=3))


@given(points=st.lists(st.lists(_NUMBERS, max_size=3), max_size=6), noise=st.sampled_from(["", "]", ",", " x"]))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_random_corners_never_give_a_500(client, points, noise):
    text = json.dumps(points) + noise  # json.dumps writes NaN / Infinity, which must be refused
    resp = scan(client, corners=text)
    assert resp.status_code in (200, 400), resp.get_data(as_text=True)
    if resp.status_code == 400:
        assert_error(resp, 400, "bad_corners")

