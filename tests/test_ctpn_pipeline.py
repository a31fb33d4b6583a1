"""CTPN pipeline: page preprocessing, the training stream (augmentation, padding, targets), training end
to end, the detector's mapping back to original pixels, and evaluation (metrics, folders, publish).

Pages are made by hand (white paper, black bars as text lines) and packed in the shard format of
``ctpn.synth``, so nothing here depends on the font renderer."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from chinese_ocr.fonts import faces
from ctpn.config import CTPNConfig
from ctpn.preprocess import prepare_page

CFG = CTPNConfig()
TINY = CTPNConfig(base=4, rnn_units=4, fc_units=8)


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def _page(h: int, w: int, rects: list[tuple[int, int, int, int]]):
    from ctpn.synth import Page

    img = np.full((h, w, 3), 255, np.uint8)
    for x0, y0, x1, y1 in rects:
        img[y0:y1, x0:x1] = 0
    return Page(img, [_rect(*r) for r in rects], [f"line {i}" for i in range(len(rects))])


def _random_page(rng: np.random.Generator):
    h, w = int(rng.choice([192, 256])), int(rng.choice([256, 320]))
    rects, y = [], int(rng.integers(8, 24))
    while y + 40 < h:
        lh = int(rng.integers(14, 30))
        x0 = int(rng.integers(4, 60))
        rects.append((x0, y, int(rng.integers(x0 + 80, w - 4)), y + lh))
        y += lh + int(rng.integers(16, 40))
    return _page(h, w, rects)


def _write_shard(folder, pages, index: int = 0):
    from ctpn.synth import pack_pages

    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / f"shard-{index:05d}.npz", **pack_pages(pages))


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    """``train`` (two shards of 6 pages) and ``heldout`` (4 pages) of hand-made pages."""
    root = tmp_path_factory.mktemp("ctpn_synth")
    rng = np.random.default_rng(0)
    for i in range(2):
        _write_shard(root / "train", [_random_page(rng) for _ in range(6)], i)
    _write_shard(root / "heldout", [_random_page(rng) for _ in range(4)])
    return root


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory):
    """An untrained tiny CTPN training model with its config, as a run's ``best.keras``."""
    from ctpn.model import build_model, compile_model
    from ocr_common.config import save_config

    d = tmp_path_factory.mktemp("ctpn_model")
    path = d / "best.keras"
    compile_model(build_model(TINY)).save(path)
    save_config(TINY, path.with_suffix(".json"))
    return path


# --- preprocessing ------------------------------------------------------------------------------


def test_prepare_page_shrinks_to_max_side_and_never_enlarges():
    big = np.full((1200, 1920), 200, np.uint8)  # grey
    x, scale = prepare_page(big, CFG)
    assert x.shape == (600, 960, 3) and x.dtype == np.float32 and scale == 0.5
    np.testing.assert_allclose(x, 200 / 255, atol=1e-5)
    small = np.zeros((300, 200, 3), np.uint8)
    x, scale = prepare_page(small, CFG)
    assert x.shape == (300, 200, 3) and scale == 1.0 and x.max() == 0.0


def test_prepare_page_brings_short_sides_up_and_composites_alpha():
    cfg = CTPNConfig(min_side=64)
    x, scale = prepare_page(np.zeros((20, 100, 3), np.uint8), cfg)
    assert x.shape == (64, 320, 3) and scale == pytest.approx(3.2)
    # ... but never past max_side: the long side wins
    x, scale = prepare_page(np.zeros((10, 2000, 3), np.uint8), cfg)
    assert x.shape[1] == 960 and scale == pytest.approx(0.48)
    rgba = np.zeros((40, 80, 4), np.uint8)  # fully transparent black
    x, _ = prepare_page(rgba, CTPNConfig(min_side=32))
    np.testing.assert_allclose(x, 1.0)
    x, _ = prepare_page(np.full((64, 64, 1), 0.25, np.float32), cfg)  # float input is already [0, 1]
    np.testing.assert_allclose(x, 0.25)


# --- augmentation and targets -------------------------------------------------------------------


def test_rotate_180_moves_quads_and_keeps_top_left_first():
    from ctpn.data import rotate_180

    img = np.zeros((100, 200, 3), np.float32)
    img[20:30, 10:50] = 1
    out, q = rotate_180(img, _rect(10, 20, 50, 30)[None])
    np.testing.assert_allclose(q[0], _rect(150, 70, 190, 80))
    assert out[70:80, 150:190].min() == 1 and out.sum() == img.sum()


def test_crop_clips_lines_mostly_inside_and_ignores_the_rest():
    from ctpn.data import crop

    img = np.zeros((200, 200, 3), np.float32)
    quads = np.stack([_rect(20, 20, 80, 40),  # inside
                      _rect(60, 60, 140, 80),  # 75 % of its width inside: clipped
                      _rect(90, 100, 180, 120),  # 1/9 inside: ignored
                      _rect(150, 150, 190, 170)])  # outside
    out, kept, ignore = crop(img, quads, (10, 10, 130, 130))
    assert out.shape == (120, 120, 3)
    np.testing.assert_allclose(kept, np.stack([_rect(10, 10, 70, 30), _rect(50, 50, 120, 70)]))
    np.testing.assert_allclose(ignore, [[80, 90, 120, 110]])


def test_page_targets_ignore_background_over_dropped_lines():
    from ctpn.data import page_targets

    rng = np.random.default_rng(0)
    plain = page_targets(128, 128, np.zeros((0, 4, 2)), CFG, rng)
    assert plain["cls"].shape == (8, 8, CFG.k) and (plain["cls"] == 1).sum() == 0
    ign = page_targets(128, 128, np.zeros((0, 4, 2)), CFG, rng, ignore=np.array([[0, 0, 64, 64]], np.float32))
    assert (ign["cls"][:4, :4] >= 0).sum() == 0 and (ign["cls"][5:, 5:] == 0).any()


def _check_batch(x, y, k):
    b, h, w, c = x.shape
    assert c == 3 and h % 16 == 0 and w % 16 == 0 and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y["cls"].shape == (b, h // 16, w // 16, k)
    assert y["reg"].shape == (b, h // 16, w // 16, k, 3) and y["side"].shape == (b, h // 16, w // 16, k, 2)
    np.testing.assert_array_equal(y["reg"][..., 2], (y["cls"] == 1).astype(np.float32))


def test_iterate_pages_pads_batches_and_puts_positives_on_the_lines(tmp_path):
    from ctpn.data import iterate_pages

    pages = [_page(200, 300, [(20, 30, 200, 50), (40, 120, 280, 144)]), _page(150, 120, [(10, 60, 100, 80)]),
             _page(96, 96, [])]
    _write_shard(tmp_path, pages)
    batches = list(iterate_pages(tmp_path, CFG, batch=2, augment=False, repeat=False))
    assert [len(x) for x, _ in batches] == [2, 1]
    x, y = batches[0]
    _check_batch(x, y, CFG.k)
    assert x.shape[1:3] == (208, 304)
    np.testing.assert_allclose(x[1, 150:, :], 1.0)  # padded with the page's white border
    np.testing.assert_allclose(x[1, :, 120:], 1.0)
    for i, page in enumerate(pages[:2]):
        rows, cols, _ = np.nonzero(y["cls"][i] == 1)
        cx, cy = cols * 16 + 8, rows * 16 + 8
        boxes = np.array([[q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()] for q in page.lines])
        near = ((cx[:, None] >= boxes[:, 0] - 8) & (cx[:, None] <= boxes[:, 2] + 8)
                & (np.abs(cy[:, None] - (boxes[:, 1] + boxes[:, 3]) / 2) <= 16))
        assert near.any(axis=1).all() and near.any(axis=0).all()  # every positive on a line, every line has some
    assert (batches[1][1]["cls"] == 1).sum() == 0  # the page without lines


def test_iterate_pages_augmented_stream_is_endless_and_consistent(synth_dir):
    from itertools import islice

    from ctpn.data import iterate_pages

    for x, y in islice(iterate_pages(synth_dir / "train", CFG, batch=3, seed=1), 8):  # 24 pages: two passes
        _check_batch(x, y, CFG.k)
        assert len(x) == 3 and max(x.shape[1:3]) <= 640 + 15
        assert (y["cls"] == 1).sum() > 0


# --- training -----------------------------------------------------------------------------------


def test_training_runs_end_to_end(synth_dir, tmp_path):
    from ctpn.train import main

    run_dir = tmp_path / "run"
    summary = main(["--no-render", "--synth-dir", str(synth_dir), "--run-dir", str(run_dir), "--base", "4",
                    "--rnn-units", "4", "--fc-units", "8", "--epochs", "1", "--steps-per-epoch", "40",
                    "--batch-size", "2", "--n-val", "4", "--n-val-loss", "4", "--no-tensorboard"])
    for name in ("best.keras", "best.json", "log.csv", "command.txt"):
        assert (run_dir / name).is_file(), name
    with open(run_dir / "log.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert {"val_f", "val_precision", "val_recall", "val_loss"} <= set(row)
    assert 0.0 <= float(row["val_f"]) <= 1.0 and np.isfinite(float(row["val_loss"]))
    assert "best_val_f" in summary and json.loads((run_dir / "best.json").read_text())["base"] == 4


# --- detector -----------------------------------------------------------------------------------


def test_detector_cuts_a_checkpoint_and_answers_every_image(tiny_model_file):
    from ctpn.predict import CTPNDetector, is_training_model

    det = CTPNDetector(tiny_model_file, backend="tf")
    assert not is_training_model(det.runtime.model) and det.config == TINY
    images = [np.full((100, 130), 255, np.uint8), np.zeros((1100, 700, 3), np.uint8), np.zeros((50, 60, 4), np.uint8)]
    found = det.detect(images, score_threshold=0.0)
    assert len(found) == 3
    for im, lines in zip(images, found):
        for t in lines:
            assert t.box.shape == (4, 2)
            assert (t.box[:, 0] <= im.shape[1]).all() and (t.box[:, 1] <= im.shape[0]).all()
    assert det.predict([]) == []


def test_detector_maps_lines_back_to_original_pixels(tiny_model_file, monkeypatch):
    """A stubbed network answers one line on the prepared (halved) page; it comes back doubled."""
    from ctpn.predict import CTPNDetector
    from ocr_common.runtime import ImageResult

    cfg = CTPNConfig(base=4, rnn_units=4, fc_units=8, max_side=640)
    det = CTPNDetector(tiny_model_file, cfg, backend="tf", fine_side=None)
    seen = []

    def stub(images):
        (x,) = images
        seen.append(x.shape)
        h, w = x.shape[0] // 16, x.shape[1] // 16
        prob, reg, side = np.zeros((h, w, cfg.k)), np.zeros((h, w, 2 * cfg.k)), np.zeros((h, w, cfg.k))
        j = cfg.anchor_heights.index(16)
        prob[5, 10:20, j] = 1.0  # cells of row 5 (y 80-96), columns 10-19 (x 160-320)
        side[5, 10, j], side[5, 19, j] = -0.5, 0.5  # the ends at the cells' outer edges
        return [ImageResult([prob, reg, side], x.shape[:2], x.shape[:2])]

    monkeypatch.setattr(det.runtime, "run_images", stub)
    result = det.predict([np.full((640, 1280, 3), 255, np.uint8)])[0]
    assert seen == [(320, 640, 3)]
    (line,) = result.lines
    np.testing.assert_allclose(line.box, _rect(320, 160, 640, 192), atol=1e-3)
    d = result.to_dict()
    assert d["lines"][0]["box"] == [[320.0, 160.0], [640.0, 160.0], [640.0, 192.0], [320.0, 192.0]]

    # fine_side given: a page over the training size is read again at up to that size. The stub
    # answers the same 16 px line on either: on the page, 32 px high from the coarse pass (16 at the
    # training size: large, kept) and 16 px from the fine one (8 there: small, kept, elsewhere).
    det = CTPNDetector(tiny_model_file, cfg, backend="tf", fine_side=1280)
    assert det.config == cfg and det.fine_side == 1280
    monkeypatch.setattr(det.runtime, "run_images", stub)
    seen.clear()
    small, large = det.detect([np.full((640, 1280, 3), 255, np.uint8)])[0]  # reading order
    assert seen == [(320, 640, 3), (640, 1280, 3)]
    np.testing.assert_allclose(small.box, _rect(160, 80, 320, 96), atol=1e-3)
    np.testing.assert_allclose(large.box, _rect(320, 160, 640, 192), atol=1e-3)
    seen.clear()
    assert len(det.detect([np.full((320, 640, 3), 255, np.uint8)])[0]) == 1  # within the training size: once
    assert seen == [(320, 640, 3)]


def test_merge_scales_takes_large_lines_from_the_coarse_pass_and_small_ones_from_the_fine():
    from ctpn.predict import SPLIT_HEIGHT, merge_scales
    from ctpn.textline import TextLine

    def line(x0, y0, x1, y1):
        return TextLine(box=_rect(x0, y0, x1, y1), score=0.95, n=5)

    scale = 0.5  # the coarse pass read the page at half size: heights count half
    tall = 2 * SPLIT_HEIGHT + 10  # page pixels: large at the training size
    short = 2 * SPLIT_HEIGHT - 4  # small there
    heading = line(100, 20, 900, 20 + tall)
    coarse = [heading, line(100, 300, 500, 300 + short)]  # the small one is dropped: the fine pass reads it
    body = [line(100, 300, 700, 300 + short), line(100, 360, 700, 360 + short)]
    piece = line(120, 25, 400, 25 + short)  # part of the heading, found again at the fine size
    big = line(100, 600, 900, 600 + tall)  # large: the coarse pass's business
    merged = merge_scales(coarse, [piece, *body, big], scale)
    assert [m.box.tolist() for m in merged] == [t.box.tolist() for t in (heading, *body)]
    assert merge_scales([], [], scale) == []
    # A button measured just under the split at the coarse size and just over it at the fine one
    # (the fine pass measures lines a little taller) is small, not lost between the two.
    button_coarse = line(100, 800, 200, 800 + 2 * SPLIT_HEIGHT - 1)
    button_fine = line(100, 799, 200, 801 + 2 * SPLIT_HEIGHT)
    assert merge_scales([button_coarse], [button_fine], scale) == [button_fine]


def test_predict_cli_prints_lines_and_draws_them(tiny_model_file, tmp_path, capsys):
    import cv2

    from ctpn.predict import main

    cv2.imwrite(str(tmp_path / "page.png"), np.full((120, 200, 3), 255, np.uint8))
    assert main([str(tmp_path / "page.png"), "--model", str(tiny_model_file), "--backend", "tf",
                 "--out-dir", str(tmp_path / "out")]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(str(tmp_path / "page.png")) and "lines" in json.loads(line.split("\t")[1])
    assert (tmp_path / "out" / "page.png").is_file()


# --- evaluation ---------------------------------------------------------------------------------


def test_detection_metrics_perfect_and_hand_made():
    from ctpn.evaluate import detection_metrics

    gt = [[_rect(0, 0, 100, 20), _rect(0, 40, 100, 60)], [_rect(10, 10, 50, 30)], []]
    m = detection_metrics(gt, gt)
    assert (m["precision"], m["recall"], m["f"]) == (1.0, 1.0, 1.0) and m["tp"] == 3
    preds = [[_rect(0, 2, 100, 22), _rect(200, 0, 300, 20)],  # a hit (IoU 18/22) and a false line
             [_rect(10, 10, 25, 30)],  # IoU 15/40: a miss and a false line
             []]
    m = detection_metrics(preds, gt)
    assert (m["tp"], m["fp"], m["fn"]) == (1, 2, 2)
    assert m["precision"] == pytest.approx(1 / 3) and m["recall"] == pytest.approx(1 / 3)
    assert m["f"] == pytest.approx(1 / 3)
    assert detection_metrics([[]], [[]])["f"] == 1.0 and detection_metrics([[]], gt[1:2])["f"] == 0.0


def test_evaluate_folder_writes_metrics_sheet_and_publishes(tiny_model_file, tmp_path):
    import cv2

    from ctpn.evaluate import main
    from ocr_common.manifest import find_entry, load_manifest

    folder = tmp_path / "pages"
    folder.mkdir()
    page = _page(160, 240, [(20, 30, 200, 50)])
    cv2.imwrite(str(folder / "a.png"), page.image)
    (folder / "labels.json").write_text(json.dumps({"a.png": [q.tolist() for q in page.lines]}))
    out, models = tmp_path / "eval", tmp_path / "models"
    summary = main(["--model", str(tiny_model_file), "--no-synth", "--folder", str(folder), "--backend", "tf",
                    "--out-dir", str(out), "--publish", str(models)])
    assert summary["pages"]["pages"] == 1 and summary["pages"]["lines"] == 1
    assert json.loads((out / "metrics.json").read_text()) == summary
    assert (out / "sheet-pages.png").is_file()
    assert (tiny_model_file.parent / "inference.keras").is_file()
    entry = find_entry(load_manifest(models), "ctpn")
    assert entry["task"] == "chinese" and (models / "ctpn.keras").is_file() and (models / "ctpn.json").is_file()
    if faces("eval"):  # the printed-page yardstick, rendered on the fly; no held-out shards with --n 0
        from ctpn.synth import print_pages

        summary = main(["--model", str(tiny_model_file), "--n", "0", "--n-print", "1", "--backend", "tf",
                        "--sheet-pages", "0", "--out-dir", str(out)])
        assert list(summary) == ["print-pages"] and summary["print-pages"]["pages"] == 1
        assert summary["print-pages"]["lines"] == len(print_pages(1)[0].lines)
