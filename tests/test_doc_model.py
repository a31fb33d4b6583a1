"""Document-edge networks: one training step of each, the losses, soft-argmax, the inference cut,
shard streaming with its geometric augmentation, and the photo-folder loader."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from doc_edge_detection.config import DocEdgeConfig
from doc_edge_detection.model import (
    ARCHS,
    LOSSES,
    SoftArgmax2D,
    build_model,
    hed_loss,
    inference_model,
)


def _toy_batch(n: int, size: int, rng):
    """Bright quads on dark noise, their outlines and corners."""
    x = (rng.random((n, size, size, 3)) * 60).astype(np.float32) / 255
    edges = np.zeros((n, size, size, 1), np.float32)
    corners = np.zeros((n, 4, 2), np.float32)
    for i in range(n):
        a, b = rng.integers(4, size // 3, 2)
        c, d = rng.integers(2 * size // 3, size - 4, 2)
        quad = np.array([[a, b], [c, b + 2], [c - 1, d], [a + 2, d - 1]], np.int32)
        img = (x[i] * 255).astype(np.uint8).copy()
        cv2.fillPoly(img, [quad], (230, 230, 220))
        x[i] = img / 255
        e = np.zeros((size, size), np.uint8)
        cv2.polylines(e, [quad], True, 1, 1)
        edges[i, ..., 0] = e
        corners[i] = (quad + 0.5) / size
    return x, edges, corners


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_one_training_step_moves_weights_and_shapes(arch):
    cfg = DocEdgeConfig(arch=arch, input_size=64, width=4)
    model = build_model(cfg)
    model.compile("adam", LOSSES[arch])
    x, edges, corners = _toy_batch(4, 64, np.random.default_rng(0))
    y = edges if arch == "hed" else corners
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    served = inference_model(model, cfg)
    out = served.predict_on_batch(x)
    assert out.shape == ((4, 64, 64, 1) if arch == "hed" else (4, 4, 2))
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_hed_learns_a_toy_outline():
    """Forty steps on toy quads: the fused edge map is higher on the outline than off it."""
    import keras

    keras.utils.set_random_seed(0)
    cfg = DocEdgeConfig(arch="hed", input_size=48, width=4)
    model = build_model(cfg)
    model.compile(keras.optimizers.Adam(1e-2), LOSSES["hed"])
    x, edges, _ = _toy_batch(16, 48, np.random.default_rng(1))
    model.fit(x, edges, epochs=20, batch_size=8, verbose=0)
    # Batch statistics: the moving averages are still settling after 40 steps.
    prob = 1 / (1 + np.exp(-np.asarray(model(x, training=True))[..., -1:]))
    on, off = prob[edges > 0].mean(), prob[edges == 0].mean()
    assert on > off + 0.4, (on, off)


def test_hed_loss_is_class_balanced():
    """Missing every edge pixel costs as much as a false alarm on every background pixel, though
    edges are a small share of the image (HED's beta weighting)."""
    y = np.zeros((1, 20, 20, 1), np.float32)
    y[0, 10, :, 0] = 1  # 20 of 400 pixels
    miss = np.where(y > 0, -4.0, -4.0).astype(np.float32)  # says "no edge" everywhere
    alarm = np.where(y > 0, 4.0, 4.0).astype(np.float32)  # says "edge" everywhere
    lm, la = float(hed_loss(y, miss)[0]), float(hed_loss(y, alarm)[0])
    assert lm == pytest.approx(la, rel=1e-4)
    perfect = np.where(y > 0, 8.0, -8.0).astype(np.float32)
    assert float(hed_loss(y, perfect)[0]) < 0.01 * lm


def test_soft_argmax_reads_peaks():
    heat = np.full((1, 16, 32, 2), -50.0, np.float32)
    heat[0, 4, 8, 0] = 50.0  # x = (8 + .5) / 32, y = (4 + .5) / 16
    heat[0, 15, 31, 1] = 50.0
    out = np.asarray(SoftArgmax2D()(heat))
    np.testing.assert_allclose(out[0], [[8.5 / 32, 4.5 / 16], [31.5 / 32, 15.5 / 16]], atol=1e-4)


def test_unknown_arch():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model(DocEdgeConfig(arch="unet"))


def _write_shard(path, n=6, size=32, seed=0):
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 3), np.uint8)
    edges = np.zeros((n, size, size), np.uint8)
    corners = np.zeros((n, 4, 2), np.float32)
    for i in range(n):
        q = np.array([[4, 5], [26, 3], [28, 27], [6, 24]], np.float32) + rng.integers(-2, 3, (4, 2))
        corners[i] = q
        cv2.polylines(edges[i], [q.astype(np.int32)], True, 1, 1)
        images[i, ..., 0] = edges[i] * 255
    has = np.ones(n, bool)
    has[-1] = False
    corners[-1] = np.nan
    edges[-1], images[-1] = 0, 0
    np.savez(path, images=images, edges=edges, corners=corners, has_page=has)


def test_shard_stream_keeps_corners_on_the_turned_edges(tmp_path):
    from doc_edge_detection.data import iterate_shards, shard_files

    _write_shard(tmp_path / "shard-00000.npz")
    files = shard_files(tmp_path)
    stream = iterate_shards(files, "corners", seed=3, batch=6)
    for _ in range(6):  # several random turns and flips
        x, y, w = next(stream)
        assert x.shape == (6, 32, 32, 3) and y.shape == (6, 4, 2)
        assert sorted(w) == [0, 1, 1, 1, 1, 1]  # the no-page sample (shuffled) is not learnt from
        for img, c, weight in zip(x, y, w):
            if not weight:
                continue
            px = np.round(c * 32 - 0.5).astype(int)
            assert all(img[yy, xx, 0] == 255 for xx, yy in px)  # every corner still sits on the outline
            # position order: TL has the smallest x + y, BR the largest
            s = c.sum(1)
            assert s.argmin() == 0 and s.argmax() == 2
    x, y, w = next(iterate_shards(files, "hed", augment=False, batch=6))
    assert y.shape == (6, 32, 32, 1)
    np.testing.assert_array_equal(y[..., 0] * 255, x[..., 0])


def test_photo_folder_loader(tmp_path):
    from doc_edge_detection.data import load_photo_folder

    img = np.full((40, 60, 3), 200, np.uint8)
    cv2.imwrite(str(tmp_path / "b.jpg"), img)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    quad = [[1, 2], [50, 3], [55, 35], [2, 30]]
    (tmp_path / "corners.json").write_text(json.dumps({"b.jpg": quad, "a.png": quad}))
    photos = load_photo_folder(tmp_path)
    assert [p.name for p in photos] == ["a.png", "b.jpg"]
    assert photos[0].image.shape[:2] == (40, 60)
    np.testing.assert_array_equal(photos[1].corners, quad)
    (tmp_path / "corners.json").write_text(json.dumps({"a.png": [[1, 2], [3, 4]]}))
    with pytest.raises(ValueError, match="4 \\[x, y\\] points"):
        load_photo_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="corners.json"):
        load_photo_folder(tmp_path / "nowhere")


def test_train_cli_trains_resumes_and_is_evaluable(tmp_path, arch="hed"):
    """The training command on tiny shards: a best checkpoint with its config, the log, and a rerun
    of the same command that continues after the finished epochs instead of starting over (the
    corner model shares this driver; its training step is tested above)."""
    import csv

    from doc_edge_detection import train
    from doc_edge_detection.evaluate import inference_file

    for split, n in (("train", 2), ("heldout", 1)):
        (tmp_path / "synth" / split).mkdir(parents=True)
        for i in range(n):
            _write_shard(tmp_path / "synth" / split / f"shard-{i:05d}.npz", n=6, size=32, seed=i)
    run = tmp_path / "run"
    argv = ["--arch", arch, "--width", "4", "--input-size", "32", "--synth-dir", str(tmp_path / "synth"),
            "--n-train", "12", "--n-val", "6", "--batch-size", "4", "--no-tensorboard", "--run-dir", str(run)]
    summary = train.main([*argv, "--epochs", "1"])
    assert summary["epochs_this_session"] == 1 and (run / "best.keras").is_file() and (run / "best.json").is_file()
    train.main([*argv, "--epochs", "2"])
    epochs = [int(r["epoch"]) for r in csv.DictReader(open(run / "log.csv"))]
    assert epochs == [0, 1]  # resumed at epoch 1, not rerun from 0
    served = inference_file(run / "best.keras")  # the fused-output model, cut from the checkpoint
    assert served.name == "inference.keras" and served.with_suffix(".json").is_file()
