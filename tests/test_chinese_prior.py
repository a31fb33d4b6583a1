"""chinese_ocr.prior: a grown recogniser's new characters lowered by a prior shift, the source's
characters untouched, so a rare look-alike stops outscoring a common character."""

import numpy as np
import pytest


def _toy(chars: str):
    from chinese_ocr.config import ChineseConfig
    from chinese_ocr.model import build_model

    cfg = ChineseConfig(arch="crnn", charset="toy", chars=chars, base=8, bottleneck=16, units=8)
    return cfg, build_model(cfg)


def test_new_columns_are_the_characters_the_source_lacked():
    from chinese_ocr.prior import new_columns

    assert new_columns("xbca", "abc").tolist() == [1]
    assert new_columns("abcde", "abc").tolist() == [4, 5]
    assert new_columns("abc", "abc").tolist() == []


def test_prior_shift_lowers_only_the_new_characters_and_chains_the_command(tmp_path):
    import keras

    from chinese_ocr import prior
    from chinese_ocr.model import inference_model
    from ocr_common.config import load_config, save_config
    from ocr_common.export import load_keras_model

    keras.utils.set_random_seed(0)
    src_cfg, src = _toy("abc")
    inference_model(src).save(tmp_path / "src.keras")
    save_config(src_cfg, tmp_path / "src.json")
    run = tmp_path / "run"
    run.mkdir()
    cfg, grown = _toy("xbcay")
    grown.save(run / "best.keras")  # a training checkpoint (logits): cut to an inference model on the way
    save_config(cfg, run / "best.json")
    (run / "command.txt").write_text("python -m chinese_ocr.train --keep-columns\n")
    x = np.random.default_rng(0).random((1, 32, 48, 1)).astype("float32")
    before = np.asarray(keras.Model(grown.input, grown.get_layer("logits").output)(x))

    out = prior.main(["--model", str(run / "best.keras"), "--source", str(tmp_path / "src.keras"), "--shift", "2.5",
                      "--out", str(tmp_path / "p" / "model.keras")])

    model = load_keras_model(out, compile=False)
    assert model.layers[-1].name == "probs" and load_config(type(cfg), out.with_suffix(".json")).chars == "xbcay"
    after = np.asarray(keras.Model(model.input, model.get_layer("logits").output)(x))
    np.testing.assert_allclose(after[..., [1, 5]], before[..., [1, 5]] - 2.5, rtol=1e-5, atol=1e-4)  # x, y
    np.testing.assert_allclose(after[..., [0, 2, 3, 4]], before[..., [0, 2, 3, 4]], rtol=1e-5, atol=1e-4)
    cmd = (out.parent / "command.txt").read_text()
    assert cmd.startswith("python -m chinese_ocr.train --keep-columns && python -m chinese_ocr.prior --model")
    with pytest.raises(SystemExit, match="nothing is new"):
        prior.main(["--model", str(tmp_path / "src.keras"), "--source", str(run / "best.keras"), "--shift", "1",
                    "--out", str(tmp_path / "q" / "model.keras")])
