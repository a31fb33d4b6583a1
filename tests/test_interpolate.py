"""Weight interpolation (ocr_common.interpolate) and its recogniser command (chinese_ocr.interpolate)."""

import numpy as np
import pytest

from benchmarks.bench_chinese import TINY_RECOGNIZER
from ocr_common.interpolate import interpolate_weights


def test_interpolate_weights_is_the_straight_line_between_the_two():
    base = [np.array([0.0, 2.0], np.float32), np.array([[1.0]], np.float16)]
    tuned = [np.array([4.0, 2.0], np.float32), np.array([[3.0]], np.float16)]
    mixed = interpolate_weights(base, tuned, 0.25)
    np.testing.assert_allclose(mixed[0], [1.0, 2.0])
    np.testing.assert_allclose(mixed[1], [[1.5]])
    assert [m.dtype for m in mixed] == [np.float32, np.float16]
    np.testing.assert_array_equal(interpolate_weights(base, tuned, 0.0)[0], base[0])
    np.testing.assert_array_equal(interpolate_weights(base, tuned, 1.0)[0], tuned[0])


@pytest.mark.parametrize("tuned, alpha, match", [
    ([np.zeros(2)], 0.5, "2 weight tensors against 1"),
    ([np.zeros(2), np.zeros(3)], 0.5, "tensor 1 differs in shape"),
    ([np.zeros(2), np.zeros((1, 1))], 1.5, "alpha must be in"),
])
def test_interpolate_weights_refuses_models_that_do_not_match(tuned, alpha, match):
    with pytest.raises(ValueError, match=match):
        interpolate_weights([np.zeros(2), np.zeros((1, 1))], tuned, alpha)


def test_recogniser_between_base_and_fine_tune(tmp_path):
    import keras

    from chinese_ocr import interpolate
    from chinese_ocr.config import ChineseConfig
    from chinese_ocr.model import build_model, inference_model
    from ocr_common.config import load_config, save_config
    from ocr_common.export import load_keras_model

    cfg = ChineseConfig(arch="crnn", **TINY_RECOGNIZER)
    keras.utils.set_random_seed(0)
    inference_model(build_model(cfg)).save(tmp_path / "base.keras")  # as shipped: softmax output
    save_config(cfg, tmp_path / "base.json")
    run = tmp_path / "run"
    run.mkdir()
    keras.utils.set_random_seed(1)
    build_model(cfg).save(run / "best.keras")  # a training checkpoint: logits, cut on the way
    save_config(cfg, run / "best.json")
    (run / "command.txt").write_text("python -m chinese_ocr.train --init-from base.keras\n")
    out = tmp_path / "mix" / "model.keras"

    interpolate.main(["--base", str(tmp_path / "base.keras"), "--tuned", str(run / "best.keras"),
                      "--alpha", "0.25", "--out", str(out)])

    base = load_keras_model(tmp_path / "base.keras", compile=False).get_weights()
    tuned = load_keras_model(run / "inference.keras", compile=False).get_weights()
    mixed = load_keras_model(out, compile=False)
    assert mixed.layers[-1].name == "probs"
    for m, a, b in zip(mixed.get_weights(), base, tuned, strict=True):
        np.testing.assert_allclose(m, 0.75 * a + 0.25 * b, rtol=1e-5, atol=1e-6)
    assert load_config(ChineseConfig, out.with_suffix(".json")).chars == cfg.chars
    assert (out.parent / "command.txt").read_text().startswith(
        "python -m chinese_ocr.train --init-from base.keras && python -m chinese_ocr.interpolate --base ")

    other = ChineseConfig(arch="crnn", **{**TINY_RECOGNIZER, "chars": cfg.chars[:-1]})
    inference_model(build_model(other)).save(tmp_path / "other.keras")
    save_config(other, tmp_path / "other.json")
    with pytest.raises(SystemExit, match="different characters"):
        interpolate.main(["--base", str(tmp_path / "base.keras"), "--tuned", str(tmp_path / "other.keras"),
                          "--alpha", "0.5", "--out", str(tmp_path / "x.keras")])
