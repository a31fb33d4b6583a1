"""Letter datasets (EMNIST zip, letter folders, '+' combinations), the font renderer and the
zoo with 26 outputs. Everything runs on tiny data made here: no network, no shared data."""

from __future__ import annotations

import gzip
import shutil
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from handwrite_digit_ocr import data as data_mod
from handwrite_digit_ocr.config import LETTERS, CharConfig
from handwrite_digit_ocr.data import CharDataset, load_dataset
from handwrite_digit_ocr.letters import (
    file_number,
    letter_label,
    letter_split,
    load_emnist_letters,
    load_letters_dir,
    load_synthetic_letters,
    read_emnist_zip,
)
from handwrite_digit_ocr.model import ARCHS, build_model


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Normalised-array caches go to a throw-away folder, never the user's data/cache."""
    monkeypatch.setenv("OCR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OCR_DATA_DIR", raising=False)


# --------------------------------------------------------------------------- EMNIST


def l_shape() -> np.ndarray:
    """An upright 'L' (white ink on black, as EMNIST): left vertical stroke, bottom bar."""
    img = np.zeros((28, 28), np.uint8)
    img[4:24, 6:10] = 255
    img[20:24, 6:22] = 255
    return img


def idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    return gzip.compress(header + arr.astype(np.uint8).tobytes())


def write_emnist_zip(path: Path, n_train: int = 6, n_test: int = 3) -> Path:
    """A zip laid out like the ``emnist`` package's cache, images stored transposed as NIST did."""
    with zipfile.ZipFile(path, "w") as zf:
        for usage, n in (("train", n_train), ("test", n_test)):
            images = np.stack([l_shape().T] * n)
            labels = np.arange(n) % 26 + 1  # EMNIST letters are labelled 1..26
            zf.writestr(f"gzip/emnist-letters-{usage}-images-idx3-ubyte.gz", idx_bytes(images))
            zf.writestr(f"gzip/emnist-letters-{usage}-labels-idx1-ubyte.gz", idx_bytes(labels))
    return path


def assert_upright_l(img: np.ndarray) -> None:
    """Ink sits left (the stem) and low (the bar); a transposed L has it right and high."""
    ink = img.astype(np.float32)
    h, w = ink.shape
    assert ink[:, : w // 2].sum() > 1.5 * ink[:, w // 2 :].sum()
    assert ink[h // 2 :].sum() > 1.5 * ink[: h // 2].sum()


def test_read_emnist_zip_undoes_the_transpose(tmp_path):
    x, y = read_emnist_zip(write_emnist_zip(tmp_path / "emnist.zip"), "letters", "train")
    assert x.shape == (6, 28, 28) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[0], l_shape())
    np.testing.assert_array_equal(y, np.arange(1, 7))


def test_emnist_letters_loader_from_data_dir(tmp_path):
    write_emnist_zip(tmp_path / "emnist.zip")
    ds = load_emnist_letters(tmp_path, val_size=2)
    assert ds.labels == LETTERS
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (4, 2, 3)
    np.testing.assert_array_equal(ds.y_train, [0, 1, 2, 3])  # 1..26 -> a..z
    np.testing.assert_array_equal(ds.y_val, [4, 5])
    assert ds.x_train.shape[1:] == (28, 28) and ds.x_train.max() == 255  # normalised, ink = 255
    assert_upright_l(ds.x_train[0])
    assert_upright_l(ds.x_test[0])


def test_emnist_package_fallback_is_not_transposed_twice(tmp_path, monkeypatch):
    """Without a zip, the ``emnist`` package is used; it already returns upright images."""
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.cache/emnist/emnist.zip
    fake = types.ModuleType("emnist")
    fake.extract_training_samples = lambda name: (np.stack([l_shape()] * 5), np.arange(1, 6))
    fake.extract_test_samples = lambda name: (np.stack([l_shape()] * 2), np.array([26, 1]))
    monkeypatch.setitem(sys.modules, "emnist", fake)
    ds = load_emnist_letters(tmp_path / "empty", val_size=1)
    np.testing.assert_array_equal(ds.y_test, [25, 0])
    assert_upright_l(ds.x_train[0])


# --------------------------------------------------------------------------- letter folders


def write_letter(path: Path, horizontal: bool) -> None:
    """A dark stroke on grey paper, RGBA and fully opaque like the real crops."""
    img = np.full((30, 26, 4), 200, np.uint8)
    img[..., 3] = 255
    if horizontal:
        img[13:17, 3:23, :3] = 30
    else:
        img[3:27, 11:15, :3] = 30
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img, "RGBA").save(path, format="PNG")


def test_letter_names_and_split():
    assert letter_label("upper_A") == "a" and letter_label("lower_q") == "q"
    assert letter_label("digit_1") is None and letter_label("upper_AB") is None
    assert file_number("CAP_A_17.png") == 17 and file_number("SMALL_z_3.PNG") == 3
    assert file_number("x.png") == file_number("x.png")  # stable pseudo-number without one
    assert [letter_split(f"CAP_A_{n}.png") for n in (0, 69, 70, 79, 80, 99)] == [
        "train", "train", "val", "val", "test", "test"]


def test_letters_dir_merges_cases_and_reads_upper_case_extensions(tmp_path):
    root = tmp_path / "letters" / "train"
    write_letter(root / "upper_A" / "CAP_A_1.PNG", horizontal=False)  # .PNG (upper-case extension)
    write_letter(root / "lower_a" / "SMALL_a_2.png", horizontal=False)
    write_letter(root / "lower_b" / "SMALL_b_3.png", horizontal=True)
    write_letter(root / "upper_B" / "CAP_B_75.PNG", horizontal=True)  # val
    write_letter(root / "lower_a" / "SMALL_a_90.png", horizontal=False)  # test
    write_letter(root / "digit_1" / "DIGIT_1_0.png", horizontal=False)  # not a letter folder
    (root / "lower_a" / "notes.txt").write_text("not an image")

    ds = load_dataset("letters-dir", tmp_path)
    assert ds.labels == LETTERS
    assert sorted(ds.y_train.tolist()) == [0, 0, 1]  # upper_A and lower_a are both 'a'
    np.testing.assert_array_equal(ds.y_val, [1])
    np.testing.assert_array_equal(ds.y_test, [0])
    assert ds.x_train.shape == (3, 28, 28) and ds.x_train.dtype == np.uint8 and ds.x_train.max() == 255

    with pytest.raises(FileNotFoundError):
        load_letters_dir(tmp_path / "nowhere")


# --------------------------------------------------------------------------- '+' combinations


def tiny(name: str, value: int, n: int, labels=LETTERS) -> CharDataset:
    def part(k):
        return np.full((k, 28, 28), value, np.uint8), np.full(k, value, np.int32)

    return CharDataset(labels, *part(n), *part(2), *part(3), name=name)


def test_plus_concatenates_train_and_keeps_first_val_test(monkeypatch):
    monkeypatch.setitem(data_mod.DATASETS, "real", lambda d=None: tiny("real", 1, 4))
    monkeypatch.setitem(data_mod.DATASETS, "fake", lambda d=None: tiny("fake", 2, 10))
    monkeypatch.setitem(data_mod.DATASETS, "digits", lambda d=None: tiny("digits", 3, 1, labels=tuple("0123456789")))

    ds = load_dataset("real+fake")
    assert len(ds.x_train) == 14 and sorted(set(ds.y_train.tolist())) == [1, 2]
    assert (ds.y_val == 1).all() and (ds.y_test == 1).all()  # held out from the first (real) part only
    assert len(ds.x_val) == 2 and len(ds.x_test) == 3

    ds = load_dataset("real*3+fake")
    assert (ds.y_train == 1).sum() == 12 and (ds.y_train == 2).sum() == 10

    with pytest.raises(KeyError, match="unknown dataset"):
        load_dataset("real+nope")
    with pytest.raises(ValueError, match="labels differ"):
        load_dataset("real+digits")
    with pytest.raises(ValueError, match="repeat"):
        load_dataset("real*x")


# --------------------------------------------------------------------------- synthetic letters


def _two_fonts() -> list[Path]:
    from handwrite_digit_ocr.synth import find_fonts

    fonts = find_fonts()
    if len(fonts) < 2:
        pytest.skip("handwriting fonts not installed (apt-get install fonts-comic-neue fonts-humor-sans ...)")
    return fonts


def test_render_char_draws_the_requested_letter():
    from handwrite_digit_ocr.preprocess import normalize_char
    from handwrite_digit_ocr.synth import render_char

    font = next(f for f in _two_fonts() if "ComicNeue-Regular" in f.name or "Humor" in f.name)
    raw_l = render_char("l", font, np.random.default_rng(0), size=40)
    raw_o = render_char("o", font, np.random.default_rng(0), size=40)
    assert raw_l.shape == (40, 40) and raw_l.dtype == np.uint8
    # Dark ink on light paper, like a photo crop.
    assert np.median(raw_l) > 140 and raw_l.min() < np.median(raw_l) - 60
    norm_l, norm_o = normalize_char(raw_l), normalize_char(raw_o)
    for img in (norm_l, norm_o):
        assert img.shape == (28, 28) and img.max() == pytest.approx(1.0)
        ys, xs = np.nonzero(img)
        cy, cx = (ys * img[ys, xs]).sum() / img.sum(), (xs * img[ys, xs]).sum() / img.sum()
        assert abs(cy - 14) < 2 and abs(cx - 14) < 2  # centred by mass, as MNIST
    # An 'l' is a tall thin stroke, an 'o' a wide ring: their ink boxes differ in width.
    width = [np.ptp(np.nonzero(im.max(0) > 0.3)[0]) for im in (norm_l, norm_o)]
    assert width[0] < 0.6 * width[1]
    assert np.abs(norm_l - norm_o).mean() > 0.1

    with pytest.raises(ValueError, match="no glyph"):
        render_char("\u4e2d", font, np.random.default_rng(0))


def test_synthetic_letters_and_held_out_fonts(tmp_path):
    from handwrite_digit_ocr.synth import HELD_OUT_FAMILIES, synthetic_letters

    fonts = _two_fonts()
    x, y = synthetic_letters(2, fonts[:1], seed=0)
    assert x.shape == (52, 28, 28) and x.dtype == np.uint8 and x.max() == 255
    np.testing.assert_array_equal(np.bincount(y, minlength=26), np.full(26, 2))

    # A font folder with one training family and one held-out family (the folder is the family).
    root = tmp_path / "fonts"
    for family, font in (("comic-neue", fonts[0]), (HELD_OUT_FAMILIES[0], fonts[1])):
        (root / family).mkdir(parents=True)
        shutil.copy(font, root / family / font.name)
    ds = load_synthetic_letters(n_per_class=2, held_out_per_class=2, font_root=root)
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (52, 26, 26)


# --------------------------------------------------------------------------- models with 26 classes


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_every_arch_builds_with_26_outputs_and_trains_a_step(arch):
    import keras

    keras.utils.set_random_seed(0)
    model = build_model(CharConfig(arch=arch, labels=LETTERS, width=8, task="letter"))
    assert model.output_shape == (None, 26)
    # Eager: one step does not repay tracing a graph (several seconds for rcnn).
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=True)
    x = np.random.default_rng(0).random((4, 28, 28, 1), np.float32)
    loss = model.train_on_batch(x, np.array([0, 5, 11, 25]))
    assert np.isfinite(float(np.asarray(loss).ravel()[0]))
    probs = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-4)
