"""The 0 / 180 degree line classifier: the turn used in training, and the shipped model on rendered
lines in a face it never saw, upright and turned."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from chinese_ocr.orientation import HEIGHT, WIDTH, training_pairs, turn

MODELS = Path(__file__).resolve().parents[1] / "models"


def _line(width: int = 120) -> np.ndarray:
    x = np.zeros((HEIGHT, 280), np.uint8)
    x[4:10, 0:width] = 255  # a heavy stroke near the top: upside down it is near the bottom
    x[20:24, 10:40] = 180
    return x


def test_turn_keeps_padding_on_the_right_and_is_its_own_inverse():
    x = _line()
    t = turn(x)
    assert t[:, 120:].max() == 0  # padding stays on the right
    assert t[HEIGHT - 10 : HEIGHT - 4, 0:120].min() == 255  # the top stroke is now at the bottom
    assert np.array_equal(turn(t), x)


def test_training_pairs_fit_the_model_input_and_turn_about_half():
    x = np.stack([_line(40 + 5 * i) for i in range(64)])
    xt, y = training_pairs(x, np.random.default_rng(0))
    assert xt.shape == (64, HEIGHT, WIDTH, 1) and xt.dtype == np.float32
    assert 16 < y.sum() < 48
    for i in range(64):
        top = xt[i, 4:10, :, 0].mean() > xt[i, HEIGHT - 10 : HEIGHT - 4, :, 0].mean()
        assert top == (y[i] == 0)


def _shipped() -> Path | None:
    manifest = MODELS / "manifest.json"
    if not manifest.is_file():
        return None
    names = {m["name"]: m["file"] for m in json.loads(manifest.read_text(encoding="utf-8"))["models"]}
    return MODELS / names["zh_orientation"] if "zh_orientation" in names else None


def test_shipped_classifier_finds_turned_lines_in_an_unseen_face():
    path = _shipped()
    if path is None:
        pytest.skip("no zh_orientation model shipped in models/manifest.json")
    from chinese_ocr.fonts import faces
    from chinese_ocr.orientation import OrientationClassifier
    from chinese_ocr.synth import Renderer

    try:
        faces("heldout")
    except FileNotFoundError as e:
        pytest.skip(str(e))
    rng = np.random.default_rng(11)
    r = Renderer("heldout", charset="GB2312-1")
    lines = [255 - r.sample(rng).image for _ in range(24)]  # dark on light, as a crop is
    clf = OrientationClassifier(path, backend="tf")
    upright = clf.turned(lines)
    turned = clf.turned([np.ascontiguousarray(im[::-1, ::-1]) for im in lines])
    assert np.mean(upright < 0.5) >= 0.85 and np.mean(turned > 0.5) >= 0.85


def test_jitter_shrinks_and_moves_a_line_but_keeps_its_ink():
    from chinese_ocr.orientation import _jitter

    x = _line()[:, :120]
    rng = np.random.default_rng(3)
    for _ in range(20):
        j = _jitter(x, rng)
        assert j.shape == x.shape and j.dtype == x.dtype
        rows = np.nonzero(j.max(axis=1) > 0)[0]
        assert 0 < len(rows) <= 20  # the ink spans rows 4..23 before: 70-100 % of that
        assert j.sum() <= x.sum() and j.max() == 255
    xt, y = training_pairs(np.stack([_line(40 + 5 * i) for i in range(16)]), rng, jitter=True)
    assert xt.shape == (16, HEIGHT, WIDTH, 1) and set(np.unique(y)) <= {0, 1}


def test_measure_reads_every_line_both_ways():
    from chinese_ocr.orientation import measure, table

    class TopHeavy:  # calls a line turned when its lower half holds more ink (a "perfect" rule here)
        def turned(self, images):
            return np.array([float(im[im.shape[0] // 2 :].mean() < im[: im.shape[0] // 2].mean()) for im in images])

    dark_on_light = [255 - _line(60), 255 - _line(90)]
    blank = np.full((HEIGHT, 100), 255, np.uint8)  # no ink: both halves equal, "upright" both ways
    r = measure(TopHeavy(), {"lines": dark_on_light, "blank": [blank]})
    assert r["lines"] == {"n": 2, "accuracy": 1.0, "upright_called_turned": 0.0, "turned_found": 1.0}
    assert r["blank"]["accuracy"] == 0.5 and r["blank"]["turned_found"] == 0.0
    assert "| lines | 2 | 1.000 | 0.000 | 1.000 |" in table(r)


def _top_heavy_reader(sure: float = 0.9):
    """A recogniser whose network is a stand-in: sure of a line whose upper half holds the ink (as
    this test's upright lines do: one frame, 字 at ``sure``), doubtful of one whose lower half does
    (丁 at 0.5). ``rec.seen`` collects the line images its network was given."""
    from chinese_ocr.recognize import LineRecognizer
    from ocr_common.ctc import Charset

    rec = object.__new__(LineRecognizer)
    rec.variants, rec.charset, rec.seen = False, Charset("字丁"), []

    def probabilities(images):
        rec.seen.extend(images)
        return [np.array([[1 - sure, sure, 0.0] if im[: im.shape[0] // 2].mean() < im[im.shape[0] // 2 :].mean()
                          else [0.1, 0.4, 0.5]]) for im in images]

    rec.probabilities = probabilities
    return rec


def test_recognizer_orientation_turns_the_line_it_reads_less_surely():
    from chinese_ocr.orientation import RecognizerOrientation, measure

    clf = RecognizerOrientation(_top_heavy_reader(), threshold=0.05)
    up = 255 - _line(80)  # dark on light, ink in the upper half
    np.testing.assert_allclose(clf.turned([up, up[::-1, ::-1]]), [-0.4, 0.4], atol=1e-6)
    assert clf.turned([]).shape == (0,)
    r = measure(clf, {"lines": [up, 255 - _line(50)]})["lines"]
    assert r["accuracy"] == 1.0 and r["upright_called_turned"] == 0.0


@pytest.mark.parametrize("sure, reads_upright", [(0.97, 1), (0.94, 2)])
def test_a_line_read_surely_as_given_is_not_read_turned(sure, reads_upright):
    """A confidence is at most 1: a line read at 0.97 as given cannot be beaten by its turned
    reading by more than 0.05, so it is not read turned; at 0.94 it could be, so it is. Either
    way the decision is the one reading both ways gives."""
    from chinese_ocr.orientation import RecognizerOrientation
    from chinese_ocr.recognize import LineText

    rec = _top_heavy_reader(sure)
    clf = RecognizerOrientation(rec, threshold=0.05)
    up = 255 - _line(80)
    assert clf.sure_upright(0.9501) and clf.sure_upright(1.0) and not clf.sure_upright(0.9499)
    assert clf.read_upright(up) == (False, LineText("字", sure))
    rec.seen.clear()
    clf.read_upright(up)
    assert len(rec.seen) == reads_upright
    rec.seen.clear()
    turned, line = clf.read_upright(up[::-1, ::-1])  # doubtful as given (0.5): read turned, and turned
    assert (turned, line.text, len(rec.seen)) == (True, "字", 2)
    both_ways = clf.turned([up, up[::-1, ::-1]]) > clf.threshold
    assert both_ways.tolist() == [False, True]


def test_a_page_whose_voting_lines_read_surely_is_not_read_turned():
    """The page vote (the weighted mean of turned minus upright confidence over its longest lines)
    cannot pass the threshold when the weighted mean of the upright confidences is 1 - threshold
    or more: no turned reading is made. One doubtful line and the page is read turned as before."""
    from chinese_ocr.orientation import RecognizerOrientation
    from chinese_ocr.predict import ChinesePredictor
    from chinese_ocr.recognize import LineText

    rec = _top_heavy_reader(0.97)
    predictor = object.__new__(ChinesePredictor)
    predictor.recognizer, predictor.orientation = rec, RecognizerOrientation(rec, threshold=0.05)
    up = 255 - _line(80)
    crops = [up, up, up]
    assert predictor._is_turned(crops, [LineText("字", 0.97)] * 3) is False and rec.seen == []
    assert predictor._is_turned(crops, [LineText("字", 1.0)] * 2 + [LineText("字", 0.88)]) is False
    assert rec.seen == []  # a mean of 0.96: sure as a whole
    assert predictor._is_turned(crops, [LineText("字", 0.97)] * 2 + [LineText("丁", 0.5)]) is False
    assert len(rec.seen) == 3  # the doubtful line made the vote read them all turned
    turned_crops = [c[::-1, ::-1] for c in crops]
    assert predictor._is_turned(turned_crops, [LineText("丁", 0.5)] * 3) is True


def test_measure_pages_asks_the_page_pipeline_both_ways():
    from chinese_ocr.orientation import measure_pages, table

    class Pipeline:  # turned when the page's first row is darker than its last (this test's pages are not)
        def read_page(self, image):
            from types import SimpleNamespace

            return SimpleNamespace(turned=bool(image[0].mean() < image[-1].mean()))

    page = np.full((40, 60), 255, np.uint8)
    page[30:] = 0  # ink at the bottom: upright; turned, it is at the top
    wrong = page[::-1].copy()  # a page the rule gets wrong both ways
    r = measure_pages(Pipeline(), {"pages": [page], "hard": [wrong]})
    assert r["pages"] == {"n": 1, "accuracy": 1.0, "upright_called_turned": 0.0, "turned_found": 1.0}
    assert r["hard"]["accuracy"] == 0.0
    assert "| hard | 1 | 0.000 | 1.000 | 0.000 |" in table(r)
