import numpy as np
import pytest

from handwrite_digit_ocr.config import LETTERS, CharConfig
from handwrite_digit_ocr.model import ARCHS, build_model


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_every_architecture_builds_trains_and_predicts(arch):
    cfg = CharConfig(arch=arch, width=8)
    model = build_model(cfg)
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    y = np.arange(8) % 10
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))  # one step moved weights
    p = model.predict_on_batch(x)
    assert p.shape == (8, 10)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_letter_head(arch):
    model = build_model(CharConfig(arch=arch, labels=LETTERS, width=8))
    assert model.output_shape == (None, 26)


def test_unknown_architecture():
    with pytest.raises(KeyError, match="unknown architecture 'resnet9000'"):
        build_model(CharConfig(arch="resnet9000"))


def test_rcnn_shares_recurrent_weights():
    """The recurrent conv is unrolled 3 steps with one kernel: 2 convs per block, not 4."""
    from handwrite_digit_ocr.model import RecurrentConv

    model = build_model(CharConfig(arch="rcnn", width=8))
    rcls = [layer for layer in model.layers if isinstance(layer, RecurrentConv)]
    assert len(rcls) == 3
    for layer in rcls:
        kernels = [w for w in layer.trainable_weights if "kernel" in w.path]
        assert len(kernels) == 2


def test_saved_model_round_trip(tmp_path):
    import keras

    from handwrite_digit_ocr.model import CUSTOM_OBJECTS

    model = build_model(CharConfig(arch="rcnn", width=8))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", custom_objects=CUSTOM_OBJECTS, safe_mode=True)
    x = np.random.default_rng(1).random((2, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(model.predict_on_batch(x), again.predict_on_batch(x), atol=1e-6)
