"""Fast checks of the benchmark helpers (no servers, no timing runs): the FLOP counter against
MACs worked out by hand, and the percentile / timing statistics on known data."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from benchmarks.common import (
    count_macs,
    fp32_flops_per_cycle,
    markdown_table,
    peak_gflops,
    percentile,
    summarize,
    time_calls,
)


def test_macs_of_tiny_conv_dense_model_match_hand_count():
    import keras
    from keras import layers

    inp = keras.Input((8, 8, 2))
    x = layers.Conv2D(4, 3, padding="valid", name="conv")(inp)  # -> 6x6x4
    x = layers.Conv2D(3, 3, strides=2, padding="same", name="strided")(x)  # -> 3x3x3
    x = layers.MaxPooling2D(name="pool")(x)  # not counted -> 1x1x3
    x = layers.Flatten()(x)
    out = layers.Dense(5, name="dense")(x)
    macs = count_macs(keras.Model(inp, out))

    conv = 6 * 6 * 4 * (3 * 3 * 2)  # output positions x channels x kernel taps x input channels
    strided = 3 * 3 * 3 * (3 * 3 * 4)
    dense = 3 * 5
    assert macs["by_layer"] == {"conv": conv, "strided": strided, "dense": dense}
    assert macs["macs"] == conv + strided + dense == 2592 + 972 + 15
    assert macs["flops"] == 2 * macs["macs"]


def test_macs_of_recurrent_conv_count_ff_once_and_rec_per_step():
    import keras

    from handwrite_digit_ocr.model import RecurrentConv

    inp = keras.Input((6, 6, 2))
    out = RecurrentConv(4, steps=2, name="rcl")(inp)
    macs = count_macs(keras.Model(inp, out))
    ff = 6 * 6 * 4 * (3 * 3 * 2)
    rec = 6 * 6 * 4 * (3 * 3 * 4)
    assert macs["macs"] == ff + 2 * rec == 2592 + 2 * 5184


def test_macs_of_simple_cnn_from_the_zoo():
    from handwrite_digit_ocr.config import CharConfig
    from handwrite_digit_ocr.model import build_model

    macs = count_macs(build_model(CharConfig(arch="simple_cnn")))["macs"]
    # conv 3x3 1->32 at 28x28, conv 3x3 32->64 at 14x14, dense 7*7*64 -> 64, dense 64 -> 10
    assert macs == 28 * 28 * 32 * 9 + 14 * 14 * 64 * 9 * 32 + 7 * 7 * 64 * 64 + 64 * 10


def test_percentile_and_summary_on_known_data():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([7.0], 99) == 7.0
    seconds = [i / 1000 for i in range(1, 101)]  # 1 ms .. 100 ms
    s = summarize(seconds)
    assert s["n"] == 100
    # Linear interpolation between closest ranks: rank q/100 * (n - 1) of the sorted samples.
    assert math.isclose(s["median_ms"], 50.5)
    assert math.isclose(s["p95_ms"], 95.05)
    assert math.isclose(s["p99_ms"], 99.01)
    assert math.isclose(s["mean_ms"], 50.5)
    assert (s["min_ms"], s["max_ms"]) == pytest.approx((1.0, 100.0))
    assert summarize([]) == {"n": 0}
    with pytest.raises(ValueError):
        percentile([], 50)


def test_time_calls_counts_warmup_separately():
    calls = []
    samples = time_calls(lambda: calls.append(1), n=3, warmup=2)
    assert len(samples) == 3 and len(calls) == 5
    assert all(s >= 0 for s in samples)
    # min_seconds keeps going, but never past max_n.
    assert len(time_calls(lambda: None, n=1, warmup=0, min_seconds=60.0, max_n=7)) == 7


def test_peak_estimate_and_table_formatting():
    assert fp32_flops_per_cycle(["avx2", "fma", "avx512f"]) == 32
    assert fp32_flops_per_cycle(["avx", "avx2", "fma"]) == 16
    assert fp32_flops_per_cycle(["sse2"]) == 4
    assert peak_gflops(2, 2.5, 32) == 160.0
    assert peak_gflops(2, None, 32) is None
    table = markdown_table([{"a": "x", "b": 1234.5}, {"a": "y", "b": None}], [("a", "A", ""), ("b", "B", ",.1f")])
    assert table.splitlines() == ["| A | B |", "| --- | ---: |", "| x | 1,234.5 |", "| y | n/a |"]


def test_stack_server_answers_the_contract_without_a_model(tiny_models_dir):
    """The no-model baseline runs the real routes (decode, limits, JSON) with a constant answer."""
    from benchmarks.stack_server import create_stack_app
    from tests.http_helpers import digit_like, encode

    client = create_stack_app(tiny_models_dir).test_client()
    resp = client.post("/predict/digit", data=encode(digit_like(3)), content_type="image/png")
    assert resp.status_code == 200
    (result,) = resp.get_json()["results"]
    assert result["label"] == "0" and len(result["top"]) == 5
    # Bad input is still refused by the same code as the real server's.
    assert client.post("/predict/digit", data=b"not an image", content_type="image/png").status_code == 400


def test_layer_rows_compare_each_endpoint_with_predict_and_stack():
    from benchmarks.bench_inference import layer_rows

    run = {"task": "digit", "clients": 8}
    results = {
        "tasks": {"digit": {"latency": [{"method": "CharPredictor.predict (x)", "median_ms": 1.0}],
                            "throughput": [{"img_per_s": 900.0}, {"img_per_s": 1500.0}]}},
        "http": {"variants": [
            {"runs": [{**run, "variant": "stack", "variant_label": "stack", "median_ms": 0.5, "req_per_s": 1000.0}]},
            {"runs": [{**run, "variant": "greedy", "variant_label": "greedy", "median_ms": 2.5, "req_per_s": 400.0}]},
        ]},
    }
    rows = layer_rows(results)
    assert [r["layer"] for r in rows][1:] == ["stack", "greedy"]
    assert rows[0]["rps"] == 1500.0 and rows[0]["p50"] == 1.0
    assert rows[2]["vs_predict"] == pytest.approx(1.5) and rows[2]["vs_stack"] == pytest.approx(0.4)


# --------------------------------------------------------------------------- bench_peers / bench_word


def test_peer_table_formats_rows_and_readers_that_did_not_run():
    from benchmarks.bench_peers import peer_table

    rows = [
        {"reader": "ours", "n": 4, "status": "ok", "cer": 0.125, "word_accuracy": 0.75, "word_accuracy_ci": 1.0,
         "ms_median": 12.34, "ms_mean": 15.0, "ms_batched": 3.21},
        {"reader": "Tesseract --psm 8", "n": 4, "status": "not installed"},
    ]
    lines = peer_table(rows, "word").splitlines()
    assert lines[0] == ("| reader | n | CER | word acc | word acc (ci) | ms/image median | ms/image mean "
                        "| ms/image batched |")
    assert lines[2] == "| ours | 4 | 0.125 | 75.0% | 100.0% | 12.3 | 15.0 | 3.2 |"
    assert lines[3] == "| Tesseract --psm 8 | 4 | " + " | ".join(["not installed"] * 6) + " |"
    # Line sets add WER and count whole lines; a missing batched time prints n/a.
    line_rows = [{**rows[0], "wer": 0.5, "ms_batched": None}]
    head, _, row = peer_table(line_rows, "line").splitlines()
    assert "| WER | line acc | line acc (ci) |" in head
    assert row == "| ours | 4 | 0.125 | 0.500 | 75.0% | 100.0% | 12.3 | 15.0 | n/a |"


def test_peer_task_registry_and_unknown_task():
    from benchmarks.bench_peers import TASKS, build_parser, run_word, task_runner

    assert task_runner("word") is run_word and set(TASKS) >= {"word"}
    with pytest.raises(ValueError, match="unknown task 'klingon'"):
        task_runner("klingon")
    args = build_parser().parse_args(["--quick", "--line-psm", "6"])
    assert args.quick and args.line_psm == 6 and args.tasks == "word"


def test_score_squashes_whitespace_on_lines_only():
    from benchmarks.bench_peers import score

    line = score(["hello  world\nagain"], ["hello world again"], "line")
    assert line["cer"] == 0.0 and line["word_accuracy"] == 1.0 and line["wer"] == 0.0
    word = score([" Cat\n"], ["cat"], "word")
    assert word["word_accuracy"] == 0.0 and word["word_accuracy_ci"] == 1.0


def test_run_set_times_each_reader_and_reports_missing_ones():
    from benchmarks.bench_peers import EvalSet, Reader, run_set

    calls = []

    def read(img):
        calls.append(img.shape)
        return "ab" if img.shape[1] == 2 else "x"

    images = [np.zeros((1, 2), np.uint8), np.zeros((1, 3), np.uint8), np.zeros((1, 2), np.uint8)]
    readers = [Reader("fake", read, lambda imgs: [read(i) for i in imgs]), Reader("peer", None, status="not installed")]
    fake, missing = run_set(readers, EvalSet("s", images, ["ab", "ab", "ab"], "word"), batch=2)
    assert len(calls) == 1 + 3 + 3  # warm-up, one timed call per image, then the batched pass
    assert fake["preds"] == ["ab", "x", "ab"] and fake["n"] == 3
    assert fake["word_accuracy"] == pytest.approx(2 / 3) and fake["cer"] == pytest.approx(2 / 6)
    assert fake["ms_median"] >= 0 and fake["ms_batched"] >= 0 and fake["batched_same_text"] == 1.0
    assert missing["status"] == "not installed" and "cer" not in missing


def test_tesseract_reader_without_tesseract_is_a_status_not_a_crash():
    from benchmarks.bench_peers import tesseract_reader

    r = tesseract_reader({"status": "not installed", "why": "no pytesseract"}, 8, "one word")
    assert r.read is None and r.status == "not installed" and r.note == "no pytesseract"


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")
def test_tesseract_reads_a_clear_printed_word():
    pytest.importorskip("pytesseract")
    import cv2

    from benchmarks.bench_peers import tesseract_reader

    img = np.full((90, 330), 255, np.uint8)
    cv2.putText(img, "HELLO", (15, 65), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 0, 5, cv2.LINE_AA)
    reader = tesseract_reader({"status": "ok", "version": "test"}, 8, "one word")
    assert reader.read(img).upper() == "HELLO"


def test_bench_word_falls_back_to_drawn_images():
    from benchmarks.bench_word import build_parser, gray, load_inputs

    words, lines, source = load_inputs(None, 8)
    assert "drawn" in source and len(words) >= 2 and len(lines) == 1
    assert all(w.ndim == 2 and w.dtype.name == "uint8" for w in words + lines)
    assert gray(np.dstack([words[0]] * 3)).shape == words[0].shape
    args = build_parser().parse_args(["--untrained", "--http", "none"])
    assert args.untrained and args.http == "none" and args.batch == 32


# --------------------------------------------------------------------------- Chinese: bench_peers / bench_chinese


def test_zh_text_drops_spaces_next_to_cjk_and_keeps_latin_word_spaces():
    from benchmarks.bench_peers import zh_text

    assert zh_text("你 好 世 界") == "你好世界"  # Tesseract's spaces between characters
    assert zh_text("第一行\n第二行") == "第一行第二行"
    assert zh_text("Hello   world") == "Hello world"
    assert zh_text("New York 纽约") == "New York纽约"  # next to a Chinese character on one side
    assert zh_text("价格 ： 30 元") == "价格：30元"  # full-width punctuation counts as CJK
    assert zh_text("ＡＢＣ　１２３，好") == "ABC 123，好"  # full-width letters and space folded first
    assert zh_text("¥490.68") == zh_text("￥490.68") == "￥490.68"  # the charset's yen sign (GB 2312's)
    assert zh_text("3 % off") == "3 % off"  # ASCII % is no CJK character


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def test_page_metrics_match_lines_then_count_edits_on_a_hand_made_page():
    from benchmarks.bench_peers import page_metrics
    from ctpn.textline import match_lines, match_pairs

    truth = [(_rect(10, 10, 210, 40), "你好世界"), (_rect(10, 60, 210, 90), "中文识别")]
    pred = [(_rect(12, 62, 208, 92), "中文识利"),  # the second line, one wrong character
            (_rect(10, 10, 210, 40), "你 好 世 界"),  # the first, right (spaces between CJK do not count)
            (_rect(300, 200, 400, 230), "噪声")]  # spurious: both characters inserted
    pairs = match_pairs([q for q, _ in pred], [q for q, _ in truth])
    assert sorted(pairs) == [(0, 1), (1, 0)]
    assert match_lines([q for q, _ in pred], [q for q, _ in truth]) == (2, 1, 0)
    m = page_metrics([pred], [truth])
    assert (m["tp"], m["fp"], m["fn"]) == (2, 1, 0)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == 1.0 and m["f"] == pytest.approx(0.8)
    assert (m["edits"], m["chars"]) == (3, 8)  # 0 + 1 + 2 inserted, over 4 + 4 true characters
    assert m["cer"] == pytest.approx(3 / 8) and m["char_accuracy"] == pytest.approx(5 / 8)
    assert m["line_accuracy"] == 0.5 and m["n"] == 1 and m["lines"] == 2
    # A second page whose only line is missed: all its characters count as deleted.
    m2 = page_metrics([pred, []], [truth, [(_rect(0, 0, 50, 20), "测试")]])
    assert (m2["edits"], m2["chars"], m2["fn"]) == (5, 10, 1) and m2["line_accuracy"] == pytest.approx(1 / 3)


def test_chinese_peers_that_are_missing_are_statuses():
    from benchmarks.bench_peers import TASKS, rapidocr_readers, run_chinese, tesseract_page_reader, tesseract_reader

    assert TASKS["chinese"] is run_chinese
    line, page = rapidocr_readers(None, {"status": "not installed", "why": "no rapidocr"})
    assert line.read is None and page.read is None and line.status == "not installed" and page.note == "no rapidocr"
    missing = {"status": "not installed", "why": "no chi_sim.traineddata"}
    assert tesseract_page_reader(missing).read is None
    r = tesseract_reader(missing, 7, "one text line", lang="chi_sim")
    assert r.read is None and "chi_sim" in r.name


def _line_image(text: str) -> np.ndarray:
    import cv2

    img = np.full((40, 24 * len(text) + 16), 250, np.uint8)
    cv2.putText(img, text, (8, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 20, 2, cv2.LINE_AA)
    return img


def _labelled_folder(folder, names_texts) -> None:
    import cv2

    folder.mkdir(parents=True)
    rows = ["file\ttext"]
    for name, text in names_texts:
        cv2.imwrite(str(folder / name), _line_image(text))
        rows.append(f"{name}\t{text}")
    (folder / "labels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def _chinese_peer_data(tmp_path) -> list[str]:
    """Shards, plates and real-line folders of a few drawn lines; the bench_peers arguments naming them."""
    from chinese_ocr.data import plate_split

    texts = ["AB12", "CD34", "EF56"]
    for split in ("eval", "heldout"):
        (tmp_path / "zh" / split).mkdir(parents=True)
        # As stored: normalised lines, ink 255 on 0, 32 x 280.
        x = np.zeros((3, 32, 280), np.uint8)
        for i, t in enumerate(texts):
            x[i, :, : 24 * len(t) + 16] = 255 - _line_image(t)[4:36]
        np.savez(tmp_path / "zh" / split / "shard-00000.npz", images=x, texts=np.array(texts),
                 fonts=np.array(["drawn"] * 3))
    names = [(f"P{i:02d}.png", f"A{i:02d}B") for i in range(12)]
    _labelled_folder(tmp_path / "plates", names)
    assert plate_split(tmp_path / "plates")[1], "no plate in the validation half"
    _labelled_folder(tmp_path / "dev", [("a.png", "XY9"), ("b.png", "QR7")])
    # The page both real lines were cut from, as a source checkout (chinese_ocr.source_pages).
    import cv2

    page = np.full((120, 200), 250, np.uint8)
    page[10:50, 10:98], page[60:100, 10:98] = _line_image("XY9"), _line_image("QR7")
    (tmp_path / "src" / "me" / "scans").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "src" / "me" / "scans" / "p.png"), page)
    (tmp_path / "dev" / "labels.tsv").write_text(
        "file\ttext\tsource_repo\tcommit\tsource_path\tbox\n"
        "a.png\tXY9\tme/scans\tc0\tp.png\tbox=[10, 10, 98, 50]\n"
        "b.png\tQR7\tme/scans\tc0\tp.png\tbox=[10, 60, 98, 100]\n", encoding="utf-8")
    return ["--zh-synth-dir", str(tmp_path / "zh"), "--plates", str(tmp_path / "plates"),
            "--zh-dev", str(tmp_path / "dev"), "--zh-sources", str(tmp_path / "src")]


def test_bench_peers_chinese_runs_untrained_quick(tmp_path):
    """Every set and reader gets a row; a reader that is installed here has figures, one that is not
    a status. Pages need the evaluation faces (fonts-arphic-*, fonts-droid-fallback)."""
    from benchmarks.bench_peers import main
    from chinese_ocr.fonts import faces

    pages = 1 if faces("eval") else 0
    out = tmp_path / "peers.json"
    res = main(["--tasks", "chinese", "--untrained", "--tiny", "--quick", "--n-pages", str(pages), "--n-print-pages",
                str(pages), "--out", str(out), *_chinese_peer_data(tmp_path)])["chinese"]
    want = ["zh-lines", "zh-heldout-font", *(["zh-print"] if pages else []), "plates", "zh-dev",
            *(["pages", "print-pages"] if pages else []), "zh-dev-pages"]
    assert [s["name"] for s in res["sets"]] == want
    assert res["tiny"] and res["detector"] and res["orientation"]
    for s in res["sets"]:
        rows = [r for r in res["rows"] if r["set"] == s["name"]]
        assert len(rows) == 3, s  # Tesseract, RapidOCR, ours
        installed = {"Tesseract": res["tesseract"]["status"] == "ok", "RapidOCR": res["rapidocr"]["status"] == "ok",
                     "ours": True}
        for r in rows:
            ok = next(v for k, v in installed.items() if r["reader"].startswith(k))
            assert (r["status"] == "ok") == ok, r
            if ok:
                assert r["n"] == s["n"] and r["ms_median"] >= 0 and "cer" in r and "char_accuracy" in r
                assert ("f" in r) == (s["kind"] == "page")
                assert ("found" in r) == (s["kind"] == "labelled-page")
    assert out.is_file() and json.loads(out.read_text())["results"]["chinese"]["sets"] == res["sets"]


def test_bench_chinese_runs_untrained_tiny(tmp_path):
    from benchmarks.bench_chinese import main
    from chinese_ocr.fonts import faces

    if not faces("eval"):
        pytest.skip("the evaluation faces (fonts-arphic-ukai, ...) are not installed: no pages to render")

    res = main(["--untrained", "--tiny", "--quick", "--pages", "1", "--batch", "4", "--train-charsets", "GB2312-1",
                "--out", str(tmp_path / "zh.json")])
    names = [r["stage"] for r in res["stages"]]
    for part in ("normalize_line", "recogniser network", "decode best-path", "detect=False", "detection network",
                 "line building", "crop every line", "orientation", "recognition of every line", "page end to end"):
        assert any(part in n for n in names), part
    assert all(r["n"] >= 3 and r["median_ms"] >= 0 for r in res["stages"])
    assert [r["batch"] for r in res["throughput"]] == [4, 4, 4] and all(r["lines_per_s"] > 0 for r in res["throughput"])
    assert sorted((r["arch"], r["charset"]) for r in res["training"]) == [("crnn", "GB2312-1"),
                                                                          ("densenet", "GB2312-1")]
    assert [r["endpoint"] for r in res["http"]] == ["one 960x720 page", "one line, ?detect=0"]
    assert (tmp_path / "zh.json").is_file()


def test_labelled_page_metrics_join_pieces_ignore_unlabelled_text_and_count_misses():
    from benchmarks.bench_peers import labelled_page_metrics

    truth = [(_rect(10, 10, 210, 40), "你好世界"), (_rect(10, 60, 210, 90), "中文识别")]
    pred = [(_rect(112, 14, 206, 36), "世界"),  # right half of line 1 ...
            (_rect(14, 12, 108, 38), "你好"),  # ... and its left half, found second: joined left to right
            (_rect(400, 10, 500, 40), "页眉"),  # text nobody labelled: ignored, not an error
            (_rect(10, 60, 60, 90), "中")]  # a quarter of line 2: read in part, not "found"
    m = labelled_page_metrics([pred], [truth])
    assert (m["lines"], m["found"], m["recall"]) == (2, 1, 0.5)
    assert (m["edits"], m["chars"]) == (3, 8) and m["line_accuracy"] == 0.5
    assert m["char_accuracy"] == pytest.approx(5 / 8)
    # A page where nothing was read: every labelled character is missing.
    m = labelled_page_metrics([[]], [truth])
    assert (m["found"], m["edits"], m["line_accuracy"]) == (0, 8, 0.0)


def test_compare_runs_reads_each_run_at_the_same_training_time(tmp_path):
    from benchmarks.compare_runs import main

    def run(name, seconds, cers):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "log.csv").write_text("epoch,loss,val_cer\n" + "".join(
            f"{e},1.0,{c}\n" for e, c in enumerate(cers)))
        (folder / "times.csv").write_text("epoch,train_seconds,val_seconds\n" + "".join(
            f"{e},{s},5\n" for e, s in enumerate(seconds)))
        return str(folder)

    fast = run("fast", [60, 60, 60, 60], [0.9, 0.7, 0.5, 0.4])  # ends at 4 min
    slow = run("slow", [100, 100], [0.8, 0.3])  # ends at 3.3 min: the common budget
    text = main([fast, slow, "--out", str(tmp_path / "race.png")])
    same = text.split("At the same training time (3.3 min)")[1]
    assert "| fast | 3 | 3.0 | 0.500 |" in same and "| slow | 2 | 3.3 | 0.300 |" in same
    assert (tmp_path / "race.png").stat().st_size > 0
