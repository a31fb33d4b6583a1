import numpy as np
import pytest

from handwrite_digit_ocr import data as data_mod
from handwrite_digit_ocr.data import (
    ArrayBatches,
    AugmentConfig,
    elastic_warp,
    load_dataset,
    load_mnist,
    make_augmenter,
    make_dataset,
)
from ocr_common.datadir import cache_dir, find_file, resolve_data_dir
from ocr_common.npz_cache import cached_folder, folder_to_npz, list_labelled_images, load_npz
from tests.toy_data import draw_digit, write_toy_mnist


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("OCR_DATA_DIR", raising=False)
    assert str(resolve_data_dir()) == "data"
    monkeypatch.setenv("OCR_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"  # the flag wins
    assert find_file("missing.npz") is None
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "x.npz").write_bytes(b"")
    assert find_file("x.npz") == tmp_path / "env" / "x.npz"


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("OCR_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path


def _write_folder(root, n=3):
    import cv2

    for d in (1, 7):
        folder = root / str(d)
        folder.mkdir(parents=True)
        for i in range(n):
            ext = ".PNG" if i % 2 else ".png"  # extensions match case-insensitively
            cv2.imwrite(str(folder / f"{i}{ext}"), 255 - draw_digit(d, canvas=(40, 30), rng=np.random.default_rng(i)))
    (root / "notes.txt").write_text("not an image folder")


def test_npz_round_trip(tmp_path):
    from handwrite_digit_ocr.preprocess import normalize_char

    _write_folder(tmp_path / "imgs")
    items = list_labelled_images(tmp_path / "imgs")
    assert len(items) == 6 and {lab for _, lab in items} == {"1", "7"}
    out = folder_to_npz(tmp_path / "imgs", tmp_path / "c.npz", normalize_char)
    d = load_npz(out)
    assert d["x"].shape == (6, 28, 28) and list(d["y"]) == ["1"] * 3 + ["7"] * 3
    assert d["files"][0] == "1/0.png"
    np.testing.assert_allclose(d["x"][0], normalize_char(255 - draw_digit(1, canvas=(40, 30),
                                                                           rng=np.random.default_rng(0))), atol=1e-6)
    # Cached: a second call loads without rebuilding, even with a transform that would fail.
    again = cached_folder(tmp_path / "imgs", out, transform=lambda im: 1 / 0)
    assert np.array_equal(again["x"], d["x"])
    with pytest.raises(FileNotFoundError):
        list_labelled_images(tmp_path / "nope")


def test_mnist_from_local_npz(tmp_path, monkeypatch):
    monkeypatch.setenv("OCR_CACHE_DIR", str(tmp_path / "cache"))
    write_toy_mnist(tmp_path / "mnist.npz", n_train=300, n_test=30)
    ds = load_mnist(tmp_path, val_size=20)
    assert ds.labels == tuple("0123456789")
    assert ds.x_train.shape == (280, 28, 28) and ds.x_val.shape == (20, 28, 28) and ds.x_test.shape == (30, 28, 28)
    assert ds.x_train.dtype == np.uint8 and ds.x_train.max() == 255
    assert any(p.name.startswith("mnist_train_norm-") for p in (tmp_path / "cache").iterdir())
    assert load_dataset("mnist", tmp_path).x_test.shape == (30, 28, 28)
    # The validation split is capped at a tenth of the training images.
    assert load_mnist(tmp_path, val_size=200).x_val.shape == (30, 28, 28)
    with pytest.raises(KeyError, match="unknown dataset"):
        load_dataset("nope", tmp_path)


def test_mnist_falls_back_to_keras_download(tmp_path, monkeypatch):
    """Without a local file the loader asks Keras (which downloads); stubbed: no network."""
    import keras

    calls = []
    x = np.zeros((3, 28, 28), np.uint8)

    def fake_load_data():
        calls.append(1)
        return (x, np.zeros(3, np.uint8)), (x, np.zeros(3, np.uint8))

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fake_load_data)
    (a, _), _ = data_mod.load_mnist_raw(tmp_path / "empty")
    assert calls == [1] and a.shape == (3, 28, 28)


def test_augmenter_keeps_range_and_changes_images():
    x = np.stack([draw_digit(d, rng=np.random.default_rng(d)) for d in range(8)]).astype(np.float32)[..., None] / 255
    aug = make_augmenter(AugmentConfig(), seed=1)
    out = np.asarray(aug(x))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1.0 + 1e-6
    assert np.abs(out - x).mean() > 0.01
    ds = make_dataset((x[..., 0] * 255).astype(np.uint8), np.arange(8), 4, training=True, aug=AugmentConfig())
    xb, yb = next(iter(ds))
    assert xb.shape == (4, 28, 28, 1) and yb.shape == (4,)


def test_augment_presets_and_flags():
    from handwrite_digit_ocr.train import build_parser

    assert AugmentConfig.preset("none") is None
    assert AugmentConfig.preset("full") == AugmentConfig()
    geo = AugmentConfig.preset("geometry")
    assert (geo.stroke_p, geo.blur_p, geo.gamma, geo.noise_std) == (0.0, 0.0, (1.0, 1.0), 0.0)
    assert geo.rotation_deg == AugmentConfig().rotation_deg > 0
    with pytest.raises(ValueError, match="unknown augmentation"):
        AugmentConfig.preset("heavy")
    parse = build_parser().parse_args
    assert parse([]).augment == "full"
    assert parse(["--augment", "geometry"]).augment == "geometry"
    assert parse(["--augment", "elastic"]).augment == "elastic"
    assert AugmentConfig.preset("elastic") == AugmentConfig(elastic_alpha=34.0)
    assert parse(["--no-augment"]).augment == "none"
    # With every photometric step off and no geometry, the augmenter is the identity.
    x = np.zeros((4, 28, 28, 1), np.float32)
    x[:, 6:22, 12:16] = 1.0
    out = np.asarray(make_augmenter(AugmentConfig(rotation_deg=0, zoom=0, shift=0, stroke_p=0, blur_p=0,
                                                  gamma=(1, 1), noise_std=0))(x))
    np.testing.assert_allclose(out, x, atol=1e-5)


def test_elastic_warp_bends_strokes_but_keeps_the_digit():
    import keras

    keras.utils.set_random_seed(0)
    x = np.stack([draw_digit(d, rng=np.random.default_rng(d)) for d in range(8)]).astype(np.float32)[..., None] / 255
    np.testing.assert_allclose(np.asarray(elastic_warp(x, 0.0, 4.0)), x, atol=1e-6)  # alpha 0: identity
    out = np.asarray(elastic_warp(x, 34.0, 4.0))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1.0 + 1e-6
    assert np.abs(out - x).mean() > 0.005  # strokes moved
    mass_in, mass_out = x.sum(axis=(1, 2, 3)), out.sum(axis=(1, 2, 3))
    # Stretching and squeezing thin strokes changes their area (0.7-1.3x seen), but ink neither
    # vanishes nor multiplies.
    np.testing.assert_allclose(mass_out, mass_in, rtol=0.45)
    grid = np.arange(28, dtype=np.float32)
    for a, b in zip(x[..., 0], out[..., 0]):  # a gentle warp: the centre of mass stays within 2 px
        ca = np.array([grid @ a.sum(1), grid @ a.sum(0)]) / a.sum()
        cb = np.array([grid @ b.sum(1), grid @ b.sum(0)]) / b.sum()
        assert np.abs(ca - cb).max() < 2.0
    # Part of the default pipeline when the preset asks for it.
    aug = make_augmenter(AugmentConfig(rotation_deg=0, zoom=0, shift=0, stroke_p=0, blur_p=0, gamma=(1, 1),
                                       noise_std=0, elastic_alpha=34.0))
    assert np.abs(np.asarray(aug(x)) - x).mean() > 0.005


_IDENTITY = AugmentConfig(rotation_deg=0, zoom=0, shift=0, stroke_p=0, blur_p=0, gamma=(1, 1), noise_std=0)


def _marked_images(n: int) -> np.ndarray:
    """Image k has one lit pixel at position k (row-major): whatever order batches come in,
    the pixel says which image it is."""
    x = np.zeros((n, 28, 28), np.uint8)
    x.reshape(n, -1)[np.arange(n), np.arange(n)] = 255
    return x


def test_array_batches_pair_images_with_labels_through_chunks_and_epochs():
    n = 25
    x, y = _marked_images(n), np.arange(n)
    # Batches of 4 in chunks of 3 batches: 7 batches, the last one short, the last chunk partial.
    ds = ArrayBatches(x, y, 4, training=True, aug=_IDENTITY, seed=3, chunk_batches=3)
    assert len(ds) == 7
    epochs = []
    for _ in range(2):
        seen = []
        for i in range(len(ds)):
            xb, yb = ds[i]
            assert xb.shape == (len(yb), 28, 28, 1) and xb.dtype == np.float32
            assert np.array_equal(xb.reshape(len(yb), -1).argmax(1), yb)  # each image with its own label
            seen.extend(yb.tolist())
        assert sorted(seen) == list(range(n))  # every image exactly once per epoch
        epochs.append(seen)
        ds.on_epoch_end()
    assert epochs[0] != epochs[1] != list(range(n))  # shuffled, and reshuffled each epoch
    val = ArrayBatches(x, y, 10, training=False, aug=AugmentConfig())  # no augmentation, fixed order
    assert [b[1].tolist() for b in (val[0], val[1], val[2])] == [list(range(10)), list(range(10, 20)),
                                                                 list(range(20, 25))]
    np.testing.assert_array_equal(val[2][0][..., 0], x[20:] / 255.0)
    with pytest.raises(ValueError, match="as many labels"):
        ArrayBatches(x, y[:-1], 4, training=True)


def test_array_batches_augment_like_the_tf_data_pipeline():
    x = np.stack([draw_digit(d, rng=np.random.default_rng(d)) for d in range(8)])
    ds = ArrayBatches(x, np.arange(8), 4, training=True, aug=AugmentConfig(), chunk_batches=2)
    xb, yb = ds[0]
    assert xb.min() >= 0 and xb.max() <= 1.0 + 1e-6
    np.testing.assert_allclose(xb.max(axis=(1, 2, 3)), 1.0, atol=1e-5)  # strongest ink rescaled to 1, as served
    assert np.abs(xb - x[ds.order[:4]][..., None] / 255.0).mean() > 0.01  # changed


def test_make_dataset_uses_array_batches_off_tensorflow(monkeypatch):
    import keras

    x = _marked_images(6)
    assert not isinstance(make_dataset(x, np.arange(6), 2, training=False), ArrayBatches)  # tf.data on TF
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    ds = make_dataset(x, np.arange(6), 2, training=True, aug=_IDENTITY)
    assert isinstance(ds, ArrayBatches) and ds.training and len(ds) == 3
