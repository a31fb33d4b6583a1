"""``POST /predict/chinese`` end to end with the REAL ``ChinesePredictor``: CTPN detector, deskewed line
crops, orientation classifier and recogniser on the shared runtime, all tiny and UNTRAINED, found
through the manifest as the server finds the shipped ones (recogniser ``chinese`` first, then
``ctpn`` and ``zh_orientation``).

The readings are noise; what is pinned is the HTTP side and the shape of the answer. An untrained
CTPN finds no line at all, so the tests that need lines replace only the detector's network with an
"ink oracle" that answers, for each band of dark rows, the anchors a trained CTPN would fire; all
that follows the network (proposal decoding, line building, mapping back to the upload's pixels,
crops, orientation, recognition) is the real code. Also unit tests of ``crop_line`` and
``turn_quads``.
"""

from __future__ import annotations

import io
import json
import shutil

import cv2
import numpy as np
import openapi_schema_validator
import pytest
from jsonschema.exceptions import ValidationError

from serving import create_app
from serving.openapi import build_openapi
from serving.registry import ModelRegistry
from tests.conftest import manifest_entry, write_manifest
from tests.http_helpers import assert_error, encode

PAGE_W, PAGE_H = 480, 176  # multiples of CTPN's stride: the oracle's cells tile the page exactly
PAGE_LINES = [("一二三四五六七", 20, 20), ("八九十三二一", 20, 100)]  # (text, x, y) at 36 px
LINE_W, LINE_H = 320, 64


def _face_for(text: str):
    """An installed training face that draws ``text``; skips the module when there is none."""
    from chinese_ocr import fonts

    try:
        installed = fonts.faces("train")
    except FileNotFoundError as e:
        pytest.skip(f"no CJK font installed: {e}")
    for face in installed:
        if fonts.can_draw(face, text):
            return face
    pytest.skip(f"no installed Chinese face draws {text!r}")


def render(lines: list[tuple[str, int, int]], size: tuple[int, int], em: int = 36) -> np.ndarray:
    """Dark Chinese type on light paper (RGB), one ``(text, x, y)`` per line."""
    from PIL import Image, ImageDraw

    from chinese_ocr import fonts

    face = _face_for("".join(t for t, _, _ in lines))
    font = fonts.pil_font(fonts.font_file(face), face.index, em)
    img = Image.new("RGB", size, (248, 246, 240))
    draw = ImageDraw.Draw(img)
    for text, x, y in lines:
        draw.text((x, y), text, font=font, fill=(25, 25, 30))
    return np.asarray(img)


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return render(PAGE_LINES, (PAGE_W, PAGE_H))


@pytest.fixture(scope="module")
def page_png(page) -> bytes:
    return encode(page)


@pytest.fixture(scope="module")
def line_png() -> bytes:
    return encode(render([("一二三四五", 12, 10)], (LINE_W, LINE_H), em=40))


def ink_bands(image: np.ndarray, min_gap: int = 8) -> list[tuple[int, int, int, int]]:
    """``(x0, y0, x1, y1)`` around each band of rows holding dark ink (exclusive ends)."""
    gray = image.mean(axis=2) if image.ndim == 3 else image.astype(np.float32)
    ink = gray < 0.5 * (gray.max() if gray.max() <= 1 else 255)
    rows = np.flatnonzero(ink.any(axis=1))
    if rows.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(rows) > min_gap)
    out = []
    for y0, y1 in zip([rows[0], *rows[cuts + 1]], [*rows[cuts] + 1, rows[-1] + 1]):
        cols = np.flatnonzero(ink[y0:y1].any(axis=0))
        out.append((int(cols[0]), int(y0), int(cols[-1]) + 1, int(y1)))
    return out


def ink_oracle(cfg):
    """A stand-in for ``CTPNDetector.runtime.run_images``: per band of ink, the cells of the row
    holding its centre fire the anchor nearest its height, regressed onto the band."""
    from ocr_common.runtime import ImageResult

    heights = np.asarray(cfg.anchor_heights, np.float32)
    s = cfg.stride

    def run_images(images):
        out = []
        for x in images:
            h, w = -(-x.shape[0] // s), -(-x.shape[1] // s)
            prob = np.zeros((h, w, cfg.k), np.float32)
            reg = np.zeros((h, w, cfg.k, 2), np.float32)
            for x0, y0, x1, y1 in ink_bands(x):
                centre, height = (y0 + y1) / 2, y1 - y0
                row, j = int(centre // s), int(np.argmin(np.abs(np.log(heights / height))))
                prob[row, x0 // s : (x1 - 1) // s + 1, j] = 1.0
                reg[row, x0 // s : (x1 - 1) // s + 1, j] = [(centre - (row * s + s / 2)) / heights[j],
                                                           np.log(height / heights[j])]
            out.append(ImageResult([prob, reg.reshape(h, w, -1), np.zeros_like(prob)], x.shape[:2], x.shape[:2]))
        return out

    return run_images


# -- models and server ------------------------------------------------------------------------------
def _orientation_entry(models_dir) -> dict:
    """The orientation classifier has no config file: its input size is fixed in its module."""
    from ocr_common.io import sha256_file

    path = models_dir / "zh_orientation.keras"
    return {"name": "zh_orientation", "task": "chinese", "file": path.name, "sha256": sha256_file(path),
            "size_bytes": path.stat().st_size, "architecture": "5-layer CNN (tiny, untrained)"}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """Tiny untrained recogniser, detector and orientation classifier, in the order the server reads them."""
    import keras

    from chinese_ocr import orientation
    from chinese_ocr.config import ChineseConfig
    from chinese_ocr.model import build_model, inference_model
    from ctpn import model as ctpn_model
    from ctpn.config import CTPNConfig
    from ocr_common.config import save_config

    d = tmp_path_factory.mktemp("chinese-models")
    keras.utils.set_random_seed(7)  # the same untrained weights, hence the same readings, every run
    cfg = ChineseConfig(base=4, bottleneck=16, chars="一二三四五六七八九十abc0123456789 ")
    inference_model(build_model(cfg)).save(d / "chinese.keras")
    save_config(cfg, d / "chinese.json")
    det = CTPNConfig(base=4, rnn_units=4, fc_units=8)
    ctpn_model.inference_model(ctpn_model.build_model(det)).save(d / "ctpn.keras")
    save_config(det, d / "ctpn.json")
    orientation.build_model(base=4).save(d / "zh_orientation.keras")
    write_manifest(d, [
        manifest_entry(d, "chinese", "chinese", architecture="densenet-ctc (tiny, untrained)", dataset="none"),
        manifest_entry(d, "chinese", "ctpn", architecture="ctpn (tiny, untrained)", dataset="none"),
        _orientation_entry(d),
    ])
    return d


@pytest.fixture(scope="module")
def registry(models_dir) -> ModelRegistry:
    reg = ModelRegistry(models_dir)  # the real loaders: TASK_LOADERS
    assert reg.health()["chinese"] == {"ready": True, "reason": None}, reg.health()
    predictor = reg.by_task["chinese"].predictor
    assert predictor.detector is not None and predictor.orientation is not None  # found through the manifest
    return reg


@pytest.fixture(scope="module")
def client(registry):
    return create_app(registry=registry).test_client()


@pytest.fixture
def predictor(registry):
    return registry.by_task["chinese"].predictor


@pytest.fixture
def oracle(predictor, monkeypatch):
    """The detector's network answers the ink's lines (see ``ink_oracle``); the untrained
    recogniser's unsure readings are all kept."""
    monkeypatch.setattr(predictor.detector.runtime, "run_images", ink_oracle(predictor.detector.config))
    monkeypatch.setattr(predictor, "min_confidence", 0.0)


def post(client, body: bytes, query: str = "", content_type: str = "image/png"):
    return client.post(f"/predict/chinese{query}", data=body, content_type=content_type)


def result_of(resp, n: int = 1) -> list[dict]:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["task"] == "chinese" and body["model"]["name"] == "chinese"
    schema = {"$ref": "#/components/schemas/ChinesePrediction", "components": build_openapi()["components"]}
    openapi_schema_validator.validate(body, schema, cls=openapi_schema_validator.OAS30Validator)
    assert len(body["results"]) == n
    return body["results"]


def check_lines(result: dict, width: int, height: int) -> None:
    """Four-point boxes inside the image, and the text made of the lines."""
    for line in result["lines"]:
        box = np.array(line["box"], float)
        assert box.shape == (4, 2), line
        assert (box[:, 0] >= 0).all() and (box[:, 0] <= width).all(), line
        assert (box[:, 1] >= 0).all() and (box[:, 1] <= height).all(), line
        assert line["text"] and 0 <= line["confidence"] <= 1
    assert result["text"] == "\n".join(line["text"] for line in result["lines"])
    assert isinstance(result["turned"], bool)


def hull(box: list[list[float]]) -> tuple[float, float, float, float]:
    b = np.array(box)
    return b[:, 0].min(), b[:, 1].min(), b[:, 0].max(), b[:, 1].max()


# -- answers ----------------------------------------------------------------------------------------
def test_untrained_pipeline_answers_a_page(client, page_png):
    """Everything real, the detector included: whatever an untrained CTPN finds, the answer is well formed."""
    (result,) = result_of(post(client, page_png))
    check_lines(result, PAGE_W, PAGE_H)


@pytest.mark.parametrize("turned", [False, True], ids=["upright", "upside-down"])
def test_two_line_page_answers_its_lines_with_boxes(client, predictor, page, page_png, oracle, monkeypatch, turned):
    # The orientation classifier is untrained: make it say what this case needs.
    monkeypatch.setattr(predictor.orientation, "turned", lambda crops: np.full(len(crops), float(turned), np.float32))
    (result,) = result_of(post(client, page_png))
    check_lines(result, PAGE_W, PAGE_H)
    assert result["turned"] is turned
    assert len(result["lines"]) == 2 and result["text"].count("\n") == 1
    # Each box lies on a drawn line, one box per line, in reading order: top line first on an upright
    # page; on a page read upside down the bottom line is its first, its corners turned with it.
    bands = ink_bands(page)
    assert len(bands) == 2
    boxes = [hull(line["box"]) for line in result["lines"]]
    for (x0, y0, x1, y1), (bx0, by0, bx1, by1) in zip(bands[::-1] if turned else bands, boxes):
        assert abs(by0 - y0) <= 4 and abs(by1 - y1) <= 4, (boxes, bands)
        assert abs(bx0 - x0) <= 16 and abs(bx1 - x1) <= 16, (boxes, bands)
    tl, tr, br, bl = np.array(result["lines"][0]["box"])
    if turned:
        assert tl[0] > tr[0] and tl[1] > bl[1]  # the reader starts at the image's lower right
    else:
        assert tl[0] < tr[0] and tl[1] < bl[1]


def test_detect_0_reads_the_whole_image_as_one_line(client, line_png):
    (result,) = result_of(post(client, line_png, "?detect=0"))
    check_lines(result, LINE_W, LINE_H)
    (line,) = result["lines"]
    assert line["box"] == [[0, 0], [LINE_W, 0], [LINE_W, LINE_H], [0, LINE_H]]
    assert result["text"] == line["text"]


def test_detect_flag_reaches_the_predictor(client, predictor, page_png, monkeypatch):
    seen: list[dict] = []
    real = predictor.predict

    def spy(images, **options):
        seen.append(options)
        return real(images, **options)

    monkeypatch.setattr(predictor, "predict", spy)
    for query in ("?detect=0", "?detect=1", ""):
        check_lines(result_of(post(client, page_png, query))[0], PAGE_W, PAGE_H)
    assert seen == [{"detect": False}, {"detect": True}, {}]


def test_multipart_batch_is_answered_in_upload_order(client, page_png, line_png, oracle):
    files = [(io.BytesIO(page_png), "page.png"), (io.BytesIO(line_png), "line.png")]
    resp = client.post("/predict/chinese", data={"image": files}, content_type="multipart/form-data")
    page, line = result_of(resp, 2)
    check_lines(page, PAGE_W, PAGE_H)
    check_lines(line, LINE_W, LINE_H)
    assert len(page["lines"]) == 2 and len(line["lines"]) == 1
    # Batched or alone, an image gets the same answer.
    assert page == result_of(post(client, page_png))[0]
    assert line == result_of(post(client, line_png))[0]


def test_blank_page_reads_as_nothing(client, oracle):
    (result,) = result_of(post(client, encode(np.full((128, 320), 255, np.uint8))))
    assert result == {"text": "", "lines": [], "turned": False}


def test_chinese_schema_is_exact():
    """The documented Chinese answer admits the real shape and nothing looser."""
    schema = {"$ref": "#/components/schemas/ChineseResult", "components": build_openapi()["components"]}

    def valid(instance) -> bool:
        try:
            openapi_schema_validator.validate(instance, schema, cls=openapi_schema_validator.OAS30Validator)
        except ValidationError:
            return False
        return True

    line = {"text": "你好", "box": [[0.0, 1.5], [20, 1], [20, 12], [0, 12.5]], "confidence": 0.5}
    assert valid({"text": "你好", "lines": [line], "turned": False})
    assert valid({"text": "", "lines": [], "turned": True})
    for bad in (
        {**line, "box": [[0, 1], [20, 1], [20, 12]]},
        {**line, "box": [[0, 1, 2], [20, 1], [20, 12], [0, 12]]},
        {**line, "box": [[-1, 1], [20, 1], [20, 12], [0, 12]]},
        {**line, "box": [0, 1, 20, 12]},
        {**line, "confidence": 1.5},
        {**line, "text": ""},
        {**line, "extra": 1},
        {k: v for k, v in line.items() if k != "confidence"},
    ):
        assert not valid({"text": "你好", "lines": [bad], "turned": False}), bad
    assert not valid({"text": "你好", "lines": [line]})  # turned is always answered
    assert not valid({"text": "你好", "lines": [line], "turned": "no"})
    assert not valid({"text": "你好", "lines": [line], "turned": False, "words": []})


# -- errors -----------------------------------------------------------------------------------------
def test_without_the_detector_detect_is_503_and_detect_0_still_reads(models_dir, tmp_path, page_png, line_png):
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    manifest = json.loads((models / "manifest.json").read_text(encoding="utf-8"))
    write_manifest(models, [e for e in manifest["models"] if e["name"] != "ctpn"])
    registry = ModelRegistry(models)
    try:
        assert registry.by_task["chinese"].predictor.detector is None
        client = create_app(registry=registry).test_client()
        assert client.get("/health").get_json()["tasks"]["chinese"] == {"ready": True, "reason": None}
        for query in ("", "?detect=1"):
            err = assert_error(post(client, page_png, query), 503, "model_unavailable")
            assert "detector" in err["message"] and "detect=0" in err["message"]
        (result,) = result_of(post(client, line_png, "?detect=0"))
        check_lines(result, LINE_W, LINE_H)
        assert len(result["lines"]) == 1
    finally:
        registry.by_task["chinese"].predictor.close()


@pytest.mark.parametrize("query", ["?detect=maybe", "?detect=2", "?detect=", "?detect=0&detect=1", "?segment=yes"])
def test_bad_flags_are_400(client, page_png, query):
    err = assert_error(post(client, page_png, query), 400, "bad_parameter")
    assert "0 or 1" in err["message"]


def test_bad_input(client, registry, page_png):
    assert_error(post(client, b"\x89PNG\r\n\x1a\n not really a png"), 400)
    assert_error(post(client, page_png[: len(page_png) // 2]), 400)  # truncated
    assert_error(post(client, b""), 400, "missing_image")
    assert_error(client.post("/predict/chinese"), 400, "missing_image")
    assert_error(post(client, b"hello", content_type="text/plain"), 415, "unsupported_media_type")
    assert_error(post(client, encode(np.full((1, 1), 255, np.uint8))), 400, "too_small")
    small = create_app(registry=registry, max_upload_bytes=1_000).test_client()
    assert_error(post(small, page_png), 413, "too_large")
    assert_error(client.get("/predict/chinese"), 405)
    assert_error(client.put("/predict/chinese", data=page_png, content_type="image/png"), 405)
    assert post(client, page_png).status_code == 200  # and the server still answers


# -- the pipeline's geometry ------------------------------------------------------------------------
def test_crop_line_levels_a_slanted_line():
    """A black bar drawn at 12 degrees, cropped with its own corners, comes out as a level bar; a
    crop lower than ``CROP_MIN_HEIGHT`` comes out enlarged to it."""
    from chinese_ocr.predict import CROP_MARGIN_Y, CROP_MIN_HEIGHT, crop_line

    img = np.full((300, 400, 3), 255, np.uint8)
    length, thick, angle = 240.0, 30.0, np.deg2rad(12)
    u, v = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
    tl = np.array([70.0, 80.0])
    quad = np.array([tl, tl + length * u, tl + length * u + thick * v, tl + thick * v], np.float32)
    cv2.fillPoly(img, [np.round(quad * 16).astype(np.int32)], (0, 0, 0), cv2.LINE_AA, shift=4)

    # Without a margin the crop is the bar itself: dark all over.
    bare = crop_line(img, quad, margin_y=0, margin_x=0, min_height=0)
    assert abs(bare.shape[1] - length) <= 2 and abs(bare.shape[0] - thick) <= 2
    assert (bare[2:-2, 2:-2] < 64).all()

    # With the default margins: paper above and below, and the bar level, the same rows dark in every column.
    crop = crop_line(img, quad, min_height=0)
    gray = crop.mean(axis=2)
    dark = gray < 128
    my = CROP_MARGIN_Y * thick
    assert crop.shape[0] == round(thick + 2 * my) and crop.shape[1] > bare.shape[1]
    cols = np.flatnonzero(dark.any(axis=0))
    assert len(cols) >= length - 4
    inner = cols[4:-4]
    tops = np.array([np.flatnonzero(dark[:, c])[0] for c in inner])
    bottoms = np.array([np.flatnonzero(dark[:, c])[-1] for c in inner])
    assert np.ptp(tops) <= 1 and np.ptp(bottoms) <= 1  # level: a slant of 12 degrees would move them ~50 px
    assert abs(tops.mean() - my) <= 1.5 and abs(bottoms.mean() - (crop.shape[0] - 1 - my)) <= 1.5
    assert (gray[: int(my) - 1] > 200).all() and (gray[-(int(my) - 1):] > 200).all()

    # At the default size the same crop, enlarged: CROP_MIN_HEIGHT high, its shape and darkness kept.
    assert crop.shape[0] < CROP_MIN_HEIGHT
    big = crop_line(img, quad)
    zoom = CROP_MIN_HEIGHT / crop.shape[0]
    assert big.shape[0] == CROP_MIN_HEIGHT and abs(big.shape[1] - crop.shape[1] * zoom) <= 2
    small = cv2.resize(big, crop.shape[1::-1], interpolation=cv2.INTER_AREA).mean(axis=2)
    assert np.abs(small - gray).mean() < 8


def test_turn_quads_maps_corners_to_the_opposite_ones_and_twice_is_identity():
    from chinese_ocr.predict import turn_quads

    h, w = 120, 200
    whole = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    line = np.array([[10, 20], [150, 25], [148, 45], [9, 40]], np.float32)
    turned = turn_quads([whole, line], (h, w, 3))
    # The image's corners swap with their opposites: top-left <-> bottom-right, top-right <-> bottom-left.
    np.testing.assert_array_equal(turned[0], whole[[2, 3, 0, 1]])
    np.testing.assert_allclose(turned[1], [[190, 100], [50, 95], [52, 75], [191, 80]])
    for q, back in zip([whole, line], turn_quads(turned, (h, w))):
        np.testing.assert_array_equal(back, q)
    assert turn_quads([], (h, w)) == []


def test_without_a_classifier_the_recogniser_decides_which_way_up(models_dir, tmp_path, monkeypatch):
    """No ``zh_orientation`` shipped: a line is turned when the recogniser reads it turned more
    surely; ``orientation=False`` reads it as it comes."""
    from chinese_ocr.orientation import RecognizerOrientation
    from chinese_ocr.predict import ChinesePredictor

    for name in ("chinese.keras", "chinese.json"):
        shutil.copy(models_dir / name, tmp_path / name)  # no manifest here: no detector, no classifier
    predictor = ChinesePredictor(tmp_path / "chinese.keras")
    plain = ChinesePredictor(tmp_path / "chinese.keras", orientation=False)
    try:
        assert isinstance(predictor.orientation, RecognizerOrientation) and plain.orientation is None

        n = predictor.recognizer.charset.num_classes

        def probabilities(images):  # one frame: sure of 一 when the ink is in the upper half, else 二 at 0.5
            out = []
            for im in images:
                p = np.zeros((1, n))
                top = im[: im.shape[0] // 2].mean() < im[im.shape[0] // 2 :].mean()
                p[0, :3] = [0.1, 0.9, 0.0] if top else [0.1, 0.4, 0.5]
                out.append(p)
            return out

        for p in (predictor, plain):
            monkeypatch.setattr(p.recognizer, "probabilities", probabilities)
        line = np.full((32, 120), 255, np.uint8)
        line[4:14, 10:110] = 0  # ink in the upper half
        assert (predictor.read_line(line).turned, predictor.read_line(line).text) == (False, "一")
        upside_down = np.ascontiguousarray(line[::-1, ::-1])
        assert (predictor.read_line(upside_down).turned, predictor.read_line(upside_down).text) == (True, "一")
        assert (plain.read_line(upside_down).turned, plain.read_line(upside_down).text) == (False, "二")
    finally:
        predictor.close()
        plain.close()


def test_a_page_turned_by_the_recognisers_check_reads_each_upright_line_once(models_dir, tmp_path, monkeypatch):
    """Without a classifier a page votes with its lines read both ways; an upright page keeps the
    upright readings (one reading per line plus one turned confidence per voting line, not
    decoded), an upside-down page is turned and read upright."""
    from types import SimpleNamespace

    from chinese_ocr.predict import ChinesePredictor
    from chinese_ocr.recognize import LineText

    for name in ("chinese.keras", "chinese.json"):
        shutil.copy(models_dir / name, tmp_path / name)
    predictor = ChinesePredictor(tmp_path / "chinese.keras", detector=models_dir / "ctpn.keras")
    try:
        quads = [np.array([[20, 20 + 60 * i], [300, 20 + 60 * i], [300, 52 + 60 * i], [20, 52 + 60 * i]], np.float32)
                 for i in range(3)]
        monkeypatch.setattr(predictor.detector, "detect",
                            lambda images: [[SimpleNamespace(box=q, fit=None) for q in quads]])
        read_sizes = []

        def read(images, decoder="best-path", variants=None):  # sure of ink in the upper half of a line
            read_sizes.append(len(images))
            top = [im[: im.shape[0] // 2].mean() < im[im.shape[0] // 2 :].mean() for im in images]
            return [LineText("上" if t else "下", 0.9 if t else 0.4) for t in top]

        def confidences(images):  # the vote's turned lines: confidences only, not decoded
            scored.append(len(images))
            return np.array([r.confidence for r in read(images)])

        scored = []
        monkeypatch.setattr(predictor.recognizer, "read", read)
        monkeypatch.setattr(predictor.recognizer, "confidences", confidences)
        page = np.full((200, 320), 255, np.uint8)
        for q in quads:
            page[int(q[0, 1]) + 2 : int(q[0, 1]) + 14, 30:290] = 0  # ink in each line's upper half
        result = predictor.read_page(page)
        assert (result.turned, result.text) == (False, "上\n上\n上")
        assert sum(read_sizes) == 3 + 3 and scored == [3]  # each line upright once, and turned once for the vote
        result = predictor.read_page(np.ascontiguousarray(page[::-1, ::-1]))
        assert (result.turned, result.text) == (True, "上\n上\n上")
    finally:
        predictor.close()


def test_a_widened_line_is_read_from_its_fitted_box_and_answered_with_the_wider_one(models_dir, tmp_path,
                                                                                     monkeypatch):
    """The detector reports a line's box moved out to its proposals' reach and keeps the fitted box
    (``ctpn.textline.widen``): the recogniser reads the fitted box's crop, the answer carries the
    reported box."""
    from chinese_ocr.predict import ChinesePredictor, crop_line
    from chinese_ocr.recognize import LineText
    from ctpn.textline import TextLine

    for name in ("chinese.keras", "chinese.json"):
        shutil.copy(models_dir / name, tmp_path / name)
    predictor = ChinesePredictor(tmp_path / "chinese.keras", detector=models_dir / "ctpn.keras", orientation=False)
    try:
        fit = np.array([[20, 40], [300, 40], [300, 72], [20, 72]], np.float32)
        box = np.array([[20, 32], [300, 32], [300, 76], [20, 76]], np.float32)
        monkeypatch.setattr(predictor.detector, "detect", lambda images: [[TextLine(box, 0.95, 12, fit=fit)]])
        shapes = []

        def read(images, decoder="best-path", variants=None):
            shapes.extend(im.shape for im in images)
            return [LineText("字", 0.95) for _ in images]

        monkeypatch.setattr(predictor.recognizer, "read", read)
        page = np.full((120, 320), 255, np.uint8)
        page[44:70, 30:290] = 0
        result = predictor.read_page(page)
        assert result.text == "字" and shapes == [crop_line(page, fit).shape] != [crop_line(page, box).shape]
        np.testing.assert_array_equal(result.lines[0].box, box)
    finally:
        predictor.close()


def test_a_page_is_read_at_the_serving_size_and_unsure_lines_left_out(models_dir, tmp_path, monkeypatch):
    """A large page is detected again at up to ``FINE_SIDE``; a page keeps the lines read at least
    ``min_confidence`` surely; ``detect=0`` answers its line however unsure."""
    from types import SimpleNamespace

    from chinese_ocr.predict import MIN_LINE_CONFIDENCE, ChinesePredictor
    from chinese_ocr.recognize import LineText
    from ctpn.predict import FINE_SIDE

    for name in ("chinese.keras", "chinese.json"):
        shutil.copy(models_dir / name, tmp_path / name)
    predictor = ChinesePredictor(tmp_path / "chinese.keras", detector=models_dir / "ctpn.keras", orientation=False)
    try:
        assert predictor.min_confidence == MIN_LINE_CONFIDENCE
        assert predictor.detector.fine_side == FINE_SIDE  # a large page is read at more than the training size
        quads = [np.array([[20, 20 + 60 * i], [300, 20 + 60 * i], [300, 52 + 60 * i], [20, 52 + 60 * i]], np.float32)
                 for i in range(3)]
        monkeypatch.setattr(predictor.detector, "detect",
                            lambda images: [[SimpleNamespace(box=q, fit=None) for q in quads]])
        sure = iter([0.95, MIN_LINE_CONFIDENCE - 0.01, MIN_LINE_CONFIDENCE] * 2)

        def read(images, decoder="best-path", variants=None):
            return [LineText("字", next(sure)) for _ in images]

        monkeypatch.setattr(predictor.recognizer, "read", read)
        result = predictor.read_page(np.full((200, 320), 255, np.uint8))
        assert [r.confidence for r in result.lines] == [0.95, MIN_LINE_CONFIDENCE]
        assert result.text == "字\n字"
        predictor.min_confidence = 0.0
        assert len(predictor.read_page(np.full((200, 320), 255, np.uint8)).lines) == 3

        monkeypatch.setattr(predictor.recognizer, "refine", lambda images, first, *a, **k: list(first))
        monkeypatch.setattr(predictor.recognizer, "read",
                            lambda images, decoder="best-path", variants=None: [LineText("字", 0.1) for _ in images])
        predictor.min_confidence = MIN_LINE_CONFIDENCE
        line = predictor.read_line(np.full((32, 120), 255, np.uint8))
        assert line.text == "字" and line.lines[0].confidence == 0.1
    finally:
        predictor.close()
