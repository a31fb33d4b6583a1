"""``POST /predict/word`` end to end with the REAL ``WordPredictor``: word segmentation, the CRNN on
the shared runtime and the decoders, on a tiny UNTRAINED model (``WordConfig(base=4, units=16)``).

The readings are noise; what is pinned is the HTTP side and the shape of the answer: boxes inside
the image in reading order, line indices, the text joined from the words, the ``segment`` and
``lexicon`` flags reaching the predictor, and the contract's error codes.
"""

from __future__ import annotations

import io
import re
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

W, H = 560, 180
# Words drawn one by one, far apart, on two lines: (text, x, baseline y).
PHRASE = [("hello", 20, 70), ("world", 300, 70), ("second", 20, 150), ("line", 330, 150)]


def phrase_image(words=PHRASE, size: tuple[int, int] = (W, H), ink: int = 20, paper: int = 245) -> np.ndarray:
    """Dark type on light paper (grayscale)."""
    img = np.full((size[1], size[0]), paper, np.uint8)
    for text, x, y in words:
        cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 1.6, ink, 3, cv2.LINE_AA)
    return img


PHRASE_PNG = encode(phrase_image())
ONE_WORD_PNG = encode(phrase_image([("cat", 15, 50)], size=(140, 70)))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, tiny_models_dir):
    """``tiny_models_dir``'s digit model plus a tiny untrained word model, both in the manifest."""
    import keras

    from handwrite_word_ocr.config import WordConfig
    from handwrite_word_ocr.model import build_model, inference_model
    from ocr_common.config import save_config

    d = tmp_path_factory.mktemp("word-models")
    for name in ("digit.keras", "digit.json"):
        shutil.copy2(tiny_models_dir / name, d / name)
    keras.utils.set_random_seed(7)  # the same untrained weights, hence the same readings, every run
    cfg = WordConfig(base=4, units=16)
    inference_model(build_model(cfg)).save(d / "word.keras")
    save_config(cfg, d / "word.json")
    entries = [
        manifest_entry(d, "digit", "digit", architecture="simple_cnn"),
        manifest_entry(d, "word", "word", architecture="crnn-conv (tiny, untrained)", dataset="none"),
    ]
    write_manifest(d, entries)
    return d


@pytest.fixture(scope="module")
def registry(models_dir) -> ModelRegistry:
    reg = ModelRegistry(models_dir)  # the real loaders: TASK_LOADERS
    assert reg.health()["word"] == {"ready": True, "reason": None}, reg.health()
    return reg


@pytest.fixture(scope="module")
def client(registry):
    return create_app(registry=registry).test_client()


def post(client, body: bytes, query: str = "", content_type: str = "image/png"):
    return client.post(f"/predict/word{query}", data=body, content_type=content_type)


def result_of(resp, n: int = 1) -> list[dict]:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["task"] == "word" and body["model"]["name"] == "word"
    schema = {"$ref": "#/components/schemas/WordPrediction", "components": build_openapi()["components"]}
    openapi_schema_validator.validate(body, schema, cls=openapi_schema_validator.OAS30Validator)
    assert len(body["results"]) == n
    return body["results"]


def check_words(result: dict, width: int, height: int) -> None:
    """Boxes inside the image, reading order, and the text made of the words."""
    words = result["words"]
    for w in words:
        x0, y0, x1, y1 = w["box"]
        assert all(isinstance(v, int) for v in w["box"]), w
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, w
        assert isinstance(w["line"], int) and w["line"] >= 0
        assert w["text"] == w["text"].strip() and w["text"]
        assert 0 <= w["confidence"] <= 1
    order = [(w["line"], w["box"][0]) for w in words]
    assert order == sorted(order), "words are not in reading order"
    lines: dict[int, list[str]] = {}
    for w in words:
        lines.setdefault(w["line"], []).append(w["text"])
    assert result["text"] == "\n".join(" ".join(lines[k]) for k in sorted(lines))


# -- answers ----------------------------------------------------------------------------------------
def test_two_line_phrase_answers_words_with_boxes_and_lines(client):
    (result,) = result_of(post(client, PHRASE_PNG))
    check_words(result, W, H)
    assert {w["line"] for w in result["words"]} == {0, 1}
    assert result["text"].count("\n") == 1
    # Each word's box lies on the line it was drawn on (baselines at y 70 and 150).
    for w in result["words"]:
        assert w["box"][1] < (70 if w["line"] == 0 else 150) < w["box"][3] + 8, w


def test_segment_0_reads_the_whole_image_as_one_word(client):
    (result,) = result_of(post(client, PHRASE_PNG, "?segment=0"))
    (word,) = result["words"]
    assert word["box"] == [0, 0, W, H] and word["line"] == 0
    assert result["text"] == word["text"]


def test_lexicon_flag_reaches_the_predictor(client, registry, monkeypatch):
    predictor = registry.by_task["word"].predictor
    seen: list[dict] = []
    real = predictor.predict

    def spy(images, **options):
        seen.append(options)
        return real(images, **options)

    monkeypatch.setattr(predictor, "predict", spy)
    (free,) = result_of(post(client, PHRASE_PNG, "?lexicon=0"))
    check_words(free, W, H)
    (constrained,) = result_of(post(client, PHRASE_PNG, "?lexicon=1&segment=1"))
    check_words(constrained, W, H)
    assert seen == [{"lexicon": False}, {"lexicon": True, "segment": True}]
    # Word beam search spells only dictionary words; digits and punctuation stay free between them.
    from handwrite_word_ocr.spelling import default_lexicon_tree

    lexicon = default_lexicon_tree()
    runs = [r for w in constrained["words"] for r in re.findall(r"[A-Za-z']+", w["text"])]
    assert all(r in lexicon for r in runs), runs


def test_multipart_batch_is_answered_in_upload_order(client):
    files = [(io.BytesIO(PHRASE_PNG), "phrase.png"), (io.BytesIO(ONE_WORD_PNG), "cat.png")]
    phrase, cat = result_of(client.post("/predict/word", data={"image": files}, content_type="multipart/form-data"), 2)
    check_words(phrase, W, H)
    check_words(cat, 140, 70)
    # Batched or alone, an image gets the same answer.
    assert phrase == result_of(post(client, PHRASE_PNG))[0]
    assert cat == result_of(post(client, ONE_WORD_PNG))[0]


def test_blank_page_reads_as_nothing(client):
    (result,) = result_of(post(client, encode(np.full((120, 400), 255, np.uint8))))
    assert result == {"text": "", "words": []}


@pytest.mark.parametrize(
    "name, body",
    [
        ("light ink on dark", encode(phrase_image(ink=235, paper=25))),
        ("RGB JPEG", encode(np.dstack([phrase_image()] * 3), "JPEG", quality=90)),
        ("RGBA PNG", encode(np.dstack([phrase_image()] * 3 + [np.full((H, W), 255, np.uint8)]))),
        ("smallest accepted image", encode(np.full((8, 8), 255, np.uint8))),
    ],
)
def test_other_images_are_read(client, name, body):
    (result,) = result_of(post(client, body))
    check_words(result, *((8, 8) if "smallest" in name else (W, H)))
    if "smallest" not in name:
        assert result["words"], name


def test_word_schema_is_exact():
    """The documented word answer admits the real shape and nothing looser."""
    doc = build_openapi()
    schema = {"$ref": "#/components/schemas/WordResult", "components": doc["components"]}

    def valid(instance) -> bool:
        try:
            openapi_schema_validator.validate(instance, schema, cls=openapi_schema_validator.OAS30Validator)
        except ValidationError:
            return False
        return True

    word = {"text": "hi", "box": [0, 1, 20, 12], "line": 0, "confidence": 0.5}
    assert valid({"text": "hi", "words": [word]}) and valid({"text": "", "words": []})
    for bad in (
        {**word, "box": [0, 1, 20]},
        {**word, "box": [0.5, 1, 20, 12]},
        {**word, "box": [-1, 1, 20, 12]},
        {**word, "line": -1},
        {**word, "line": "0"},
        {**word, "confidence": 1.5},
        {**word, "text": ""},
        {**word, "extra": 1},
        {k: v for k, v in word.items() if k != "line"},
    ):
        assert not valid({"text": "hi", "words": [bad]}), bad
    assert not valid({"text": "hi"}) and not valid({"text": "hi", "words": [], "lines": []})


# -- errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("query", ["?segment=maybe", "?lexicon=2", "?segment=0&segment=1", "?detect=yes"])
def test_bad_flags_are_400(client, query):
    err = assert_error(post(client, PHRASE_PNG, query), 400, "bad_parameter")
    assert "0 or 1" in err["message"]


def test_bad_input(client, registry):
    assert_error(post(client, b"\x89PNG\r\n\x1a\n not really a png"), 400)
    assert_error(post(client, PHRASE_PNG[: len(PHRASE_PNG) // 2]), 400)  # truncated
    assert_error(post(client, b""), 400, "missing_image")
    assert_error(client.post("/predict/word"), 400, "missing_image")
    assert_error(post(client, b"hello", content_type="text/plain"), 415, "unsupported_media_type")
    assert_error(post(client, encode(np.full((1, 1), 255, np.uint8))), 400, "too_small")
    small = create_app(registry=registry, max_upload_bytes=1_000).test_client()
    assert_error(post(small, PHRASE_PNG), 413, "too_large")
    assert_error(client.get("/predict/word"), 405)
    assert post(client, PHRASE_PNG).status_code == 200  # and the server still answers


# -- listing and health -----------------------------------------------------------------------------
def test_models_and_health_list_the_word_model(client, models_dir):
    from ocr_common.io import sha256_file

    models = {m["name"]: m for m in client.get("/models").get_json()["models"]}
    word = models["word"]
    assert word["task"] == "word" and word["ready"] is True and word["reason"] is None
    assert word["sha256"] == sha256_file(models_dir / "word.keras")
    tasks = client.get("/health").get_json()["tasks"]
    assert tasks["word"] == {"ready": True, "reason": None} and tasks["digit"]["ready"] is True


def test_missing_word_weights_are_503_and_the_rest_still_serves(models_dir, tmp_path):
    broken = tmp_path / "models"
    shutil.copytree(models_dir, broken)
    (broken / "word.keras").unlink()
    client = create_app(broken).test_client()
    health = client.get("/health").get_json()["tasks"]
    assert health["word"]["ready"] is False and "missing" in health["word"]["reason"]
    err = assert_error(post(client, PHRASE_PNG), 503, "model_unavailable")
    assert "word.keras" in err["message"] and str(tmp_path) not in err["message"]
    resp = client.post("/predict/digit", data=encode(phrase_image(size=(60, 60))), content_type="image/png")
    assert resp.status_code == 200, resp.get_data(as_text=True)


def test_loader_options_reach_the_word_runtime(models_dir):
    """``server.py --backend tf --batch-wait-ms 2`` as the registry passes it to every loader."""
    reg = ModelRegistry(models_dir, loader_options={"backend": "tf", "batching": None, "batch_wait_ms": 2.0})
    predictor = reg.by_task["word"].predictor
    try:
        assert predictor.backend == "tf" and predictor.runtime._batcher is not None
        client = create_app(registry=reg).test_client()
        (result,) = result_of(post(client, PHRASE_PNG, "?segment=0&lexicon=0"))
        assert [w["box"] for w in result["words"]] == [[0, 0, W, H]]
    finally:
        predictor.close()
        reg.by_task["digit"].predictor.close()
