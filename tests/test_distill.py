"""Knowledge distillation: the target mixture, and a student that learns from a trained teacher."""

from __future__ import annotations

import json

import numpy as np
import pytest

from handwrite_digit_ocr.distill import distill_targets, soften
from tests.toy_data import write_toy_mnist


def test_targets_mix_teacher_and_label():
    teacher = np.array([[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]], np.float32)
    got = np.asarray(distill_targets(teacher, np.array([1, 2]), 3, alpha=0.7))
    np.testing.assert_allclose(got, [[0.42, 0.51, 0.07], [0.07, 0.07, 0.86]], atol=1e-6)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-6)
    assert np.asarray(distill_targets(teacher, np.array([0, 0]), 3, alpha=0.0))[:, 0].tolist() == [1.0, 1.0]


def test_temperature_softens_and_keeps_the_order():
    p = np.array([[0.9, 0.09, 0.01]], np.float32)
    np.testing.assert_allclose(soften(p, 1.0), p)
    s = np.asarray(soften(p, 2.0))[0]
    np.testing.assert_allclose(s, np.sqrt(p[0]) / np.sqrt(p[0]).sum(), rtol=1e-5)
    assert s[0] < p[0, 0] and s[2] > p[0, 2] and list(np.argsort(-s)) == [0, 1, 2]


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("distill-data")
    write_toy_mnist(d / "mnist.npz", n_train=1500, n_test=300)
    return d


def test_student_learns_from_a_trained_teacher(toy_dir, tmp_path, monkeypatch):
    from handwrite_digit_ocr import distill, train
    from handwrite_digit_ocr.predict import CharPredictor

    monkeypatch.setenv("OCR_CACHE_DIR", str(tmp_path / "cache"))
    common = ["--data-dir", str(toy_dir), "--batch-size", "32", "--no-augment", "--no-tensorboard",
              "--lr-schedule", "none"]
    teacher = train.main(["--model", "simple_cnn", "--run-dir", str(tmp_path / "teacher"), "--epochs", "4",
                          "--optimizer", "adam", *common])
    assert teacher["best_val_accuracy"] > 0.8
    student_dir = tmp_path / "student"
    summary = distill.main(["--teacher", str(tmp_path / "teacher" / "best.keras"), "--student", "simple_cnn",
                            "--run-dir", str(student_dir), "--epochs", "3", "--alpha", "0.8", *common])
    # Far above chance (10 %) from a target that is mostly the teacher's reading.
    assert summary["best_val_accuracy"] > 0.7 and summary["teacher"].endswith("best.keras")
    assert json.loads((student_dir / "best.json").read_text())["arch"] == "simple_cnn"
    assert (student_dir / "command.txt").read_text().startswith("python -m handwrite_digit_ocr.distill --teacher")
    # The student is an ordinary model: it serves like any other.
    pred = CharPredictor(student_dir / "best.keras", backend="tf")
    assert pred.model.name == "simple_cnn" and len(pred.predict([np.zeros((28, 28), np.uint8)])) == 1


def test_bad_alpha_is_refused(tmp_path):
    from handwrite_digit_ocr import distill

    with pytest.raises(SystemExit, match="alpha"):
        distill.main(["--teacher", "x.keras", "--alpha", "1.5", "--run-dir", str(tmp_path / "r")])
