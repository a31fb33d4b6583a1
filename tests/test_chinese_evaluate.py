"""``python -m chinese_ocr.evaluate``: a training checkpoint measured on every set, as tables,
metrics.json and sheets, then published and served (a tiny untrained recogniser: the figures are
noise, the path is what is pinned)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chinese_ocr import fonts
from tests.test_chinese_data import labelled_folder

try:
    fonts.faces("heldout"), fonts.faces("eval")
except FileNotFoundError as e:  # pragma: no cover - CI installs the fonts
    pytest.skip(f"Chinese fonts not installed: {e}", allow_module_level=True)


def test_evaluate_measures_every_set_then_publishes_a_servable_model(tmp_path, capsys):
    import keras

    from benchmarks.bench_chinese import TINY_RECOGNIZER
    from chinese_ocr import evaluate
    from chinese_ocr.config import ChineseConfig
    from chinese_ocr.fonts import faces
    from chinese_ocr.model import build_model
    from ocr_common.config import save_config
    from ocr_common.io import sha256_file
    from serving import create_app
    from tests.http_helpers import encode

    keras.utils.set_random_seed(0)
    run = tmp_path / "run"
    run.mkdir()
    cfg = ChineseConfig(arch="crnn", **TINY_RECOGNIZER)
    build_model(cfg).save(run / "best.keras")  # a training checkpoint: logits, no softmax
    save_config(cfg, run / "best.json")
    (run / "command.txt").write_text("python -m chinese_ocr.train --arch crnn")
    dev, models, out = labelled_folder(tmp_path / "dev"), tmp_path / "models", tmp_path / "eval"

    summary = evaluate.main(["--model", str(run / "best.keras"), "--synth-dir", str(tmp_path / "synth"),
                             "--n-synth", "3", "--n-print", "2", "--plates", "", "--zh-dev", str(dev),
                             "--decoders", "best-path", "beam", "--lm-alpha", "0.5", "--out-dir", str(out),
                             "--publish", str(models)])
    printed = capsys.readouterr().out
    printed_set = [("print-eval-fonts", 2)] if faces("eval") else []
    assert set(summary) == {"heldout-font", "eval-fonts", "zh-dev", *dict(printed_set)}
    for name, n in (("heldout-font", 3), ("eval-fonts", 3), ("zh-dev", 3), *printed_set):
        assert set(summary[name]) == {"best-path", "beam", "beam-lm@0.5"}
        row = summary[name]["best-path"]
        assert row["n"] == n and 0.0 <= row["line_accuracy"] <= 1.0 and row["char_accuracy"] <= 1.0
        assert f"### {name} ({n} lines)" in printed and (out / f"sheet-{name}.png").is_file()
    assert json.loads((out / "metrics.json").read_text()) == summary

    entry = next(e for e in json.loads((models / "manifest.json").read_text())["models"] if e["name"] == "chinese")
    assert entry["task"] == "chinese" and entry["sha256"] == sha256_file(models / "chinese.keras")
    assert entry["command"] == "python -m chinese_ocr.train --arch crnn" and entry["metrics"] == summary
    assert f"--n-synth 3 --n-print 2 --zh-dev {dev}" in entry["evaluate_command"]
    # The published file is the softmax model, and the server reads a line with it.
    assert keras.models.load_model(models / "chinese.keras", compile=False).layers[-1].name == "probs"
    client = create_app(models).test_client()
    line = np.full((40, 160, 3), 240, np.uint8)
    line[10:30, 10:150:12] = 20
    resp = client.post("/predict/chinese?detect=0", data=encode(line), content_type="image/png")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["model"]["sha256"] == entry["sha256"]
    # Pages need the detector, which this folder does not have: a clear 503.
    page = client.post("/predict/chinese", data=encode(line), content_type="image/png")
    assert page.status_code == 503 and "detect=0" in page.get_json()["error"]["message"]


def test_a_plate_reader_is_measured_on_plates_shipped_and_found_beside_the_recogniser(tmp_path, capsys):
    import keras

    from benchmarks.bench_chinese import TINY_RECOGNIZER
    from chinese_ocr import evaluate
    from chinese_ocr.charset import PLATES, charset_chars
    from chinese_ocr.config import ChineseConfig
    from chinese_ocr.model import build_model
    from chinese_ocr.predict import ChinesePredictor
    from ocr_common.config import save_config
    from serving.registry import ModelRegistry
    from tests.test_chinese_train import plate_folder

    keras.utils.set_random_seed(0)
    models, plates = tmp_path / "models", plate_folder(tmp_path / "plate-photos")
    for name, charset in (("lines", "GB2312-1"), ("plates", PLATES)):
        (tmp_path / name).mkdir()
        cfg = ChineseConfig(arch="crnn", **{**TINY_RECOGNIZER, "charset": charset, "chars": charset_chars(charset)})
        build_model(cfg).save(tmp_path / name / "best.keras")
        save_config(cfg, tmp_path / name / "best.json")
    summary = evaluate.main(["--model", str(tmp_path / "plates" / "best.keras"), "--n-synth", "4",
                             "--plates", str(plates), "--decoders", "best-path", "--out-dir", str(tmp_path / "e1"),
                             "--publish", str(models)])
    assert set(summary) == {"heldout-plates", "plates-val"} and summary["heldout-plates"]["best-path"]["n"] == 4
    with pytest.raises(SystemExit, match="plate reader itself"):
        evaluate.main(["--model", str(tmp_path / "plates" / "best.keras"), "--plate-model", str(models / "x.keras")])
    evaluate.main(["--model", str(tmp_path / "lines" / "best.keras"), "--synth-dir", str(tmp_path / "synth"),
                   "--n-synth", "2", "--n-print", "0", "--plates", "", "--decoders", "best-path",
                   "--out-dir", str(tmp_path / "e2"), "--publish", str(models)])
    capsys.readouterr()
    evaluate.main(["--model", str(models / "chinese.keras"), "--synth-dir", str(tmp_path / "synth"),
                   "--n-synth", "2", "--n-print", "0", "--plates", "", "--decoders", "best-path",
                   "--out-dir", str(tmp_path / "e3")])
    assert f"plate reader: {models / 'chinese_plates.keras'}" in capsys.readouterr().out
    names = [e["name"] for e in json.loads((models / "manifest.json").read_text())["models"]]
    assert names == ["chinese", "chinese_plates"]
    assert ModelRegistry(models).by_task["chinese"].name == "chinese"  # the recogniser serves the task
    predictor = ChinesePredictor(models / "chinese.keras")
    assert predictor.recognizer.plates is not None and predictor.recognizer.plates.config.charset == PLATES
    assert ChinesePredictor(models / "chinese.keras", plates=False).recognizer.plates is None


def test_error_kinds_split_the_cer_into_spaces_widths_and_the_rest():
    from chinese_ocr.evaluate import error_kinds
    from ocr_common.ctc import text_metrics

    truths = ["DCTCP 基于数据", "识别（OCR）", "杭州科技"]  # 10 + 7 + 4 = 21 characters
    preds = ["DCTCP基于数据", "识别(OCR）", "抗州科技 "]  # a space lost, a width twin, a wrong character and a space
    kinds = error_kinds(preds, truths)
    assert kinds == {"space": round(2 / 21, 4), "width": round(1 / 21, 4), "other": round(1 / 21, 4)}
    assert sum(kinds.values()) == pytest.approx(text_metrics(preds, truths)["cer"], abs=1e-3)
    assert error_kinds(truths, truths) == {"space": 0.0, "width": 0.0, "other": 0.0}
