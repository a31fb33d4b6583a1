import json

import keras
import numpy as np
import pytest

from handwrite_digit_ocr.config import CharConfig
from handwrite_digit_ocr.ensemble import build_ensemble, greedy_select, log_loss
from handwrite_digit_ocr.ensemble import main as ensemble_main
from handwrite_digit_ocr.model import build_model
from ocr_common.config import save_config
from tests.toy_data import write_toy_mnist


def _probs(y: np.ndarray, unsure: list[int], classes: int = 3) -> np.ndarray:
    """0.9 on the true class, except at ``unsure`` where 0.5 goes to a wrong class and 0.4 to the true one."""
    p = np.full((len(y), classes), 0.05)
    p[np.arange(len(y)), y] = 0.9
    for i in unsure:
        p[i] = 0.1
        p[i, y[i]], p[i, (y[i] + 1) % classes] = 0.4, 0.5
    return p


def test_log_loss_known_value():
    p = np.array([[0.5, 0.5], [0.25, 0.75]])
    assert log_loss(p, np.array([0, 1])) == pytest.approx(-(np.log(0.5) + np.log(0.75)) / 2)


def test_greedy_select_adds_complementary_member_and_skips_harmful_one():
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    a = _probs(y, [6])  # wrong once
    b = _probs(y, [3])  # wrong once, elsewhere than a (same log-loss: the lower index wins)
    c = np.roll(np.eye(3)[y] * 0.9 + 0.05, 1, axis=1)  # confidently wrong everywhere
    steps = greedy_select([c, b, a], y)
    assert [s["member"] for s in steps] == [1, 2]  # b first, then a fixes its error; never c
    assert [s["errors"] for s in steps] == [1, 0]
    assert steps[1]["log_loss"] < steps[0]["log_loss"]
    with pytest.raises(ValueError):
        greedy_select([], y)


def test_build_ensemble_averages_member_probabilities():
    cfg = CharConfig(arch="simple_cnn")
    keras.utils.set_random_seed(1)
    m1 = build_model(cfg)
    keras.utils.set_random_seed(2)
    m2 = build_model(cfg)
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    expected = (m1.predict_on_batch(x) + m2.predict_on_batch(x)) / 2
    ens = build_ensemble([m1, m2])
    np.testing.assert_allclose(ens.predict_on_batch(x), expected, atol=1e-6)


def _save_run(model: keras.Model, cfg: CharConfig, run) -> None:
    run.mkdir(parents=True)
    model.save(run / "best.keras")
    save_config(cfg, run / "best.json")


def test_select_keeps_trained_model_and_drops_untrained(tmp_path, monkeypatch, capsys):
    """On the validation split a trained candidate is kept; averaging in untrained (near-uniform)
    candidates only raises the log-loss, so selection leaves them out of the saved ensemble."""
    from handwrite_digit_ocr.data import load_dataset

    monkeypatch.setenv("OCR_CACHE_DIR", str(tmp_path / "cache"))
    write_toy_mnist(tmp_path / "data" / "mnist.npz", n_train=1200, n_test=50)
    data = load_dataset("mnist", tmp_path / "data")
    cfg = CharConfig(arch="simple_cnn")
    keras.utils.set_random_seed(0)
    good = build_model(cfg)
    good.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy")
    good.fit(data.x_train[..., None] / 255.0, data.y_train, epochs=5, batch_size=32, verbose=0)
    runs = []
    for name, model in (("untrained-a", build_model(cfg)), ("trained", good), ("untrained-b", build_model(cfg))):
        _save_run(model, cfg, tmp_path / name)
        runs.append(str(tmp_path / name))
    out = tmp_path / "ens"
    ensemble_main([*runs, "--select", "--data-dir", str(tmp_path / "data"), "--out", str(out)])
    table = capsys.readouterr().out
    assert "| 1 | trained |" in table and "| 2 |" not in table
    assert json.loads((out / "best.json").read_text())["arch"] == "ensemble(simple_cnn)"
    assert (out / "best.keras").exists() and "--select" in (out / "command.txt").read_text()
    # A letter model is never selected on digits: refused before any scoring.
    letters = CharConfig(arch="simple_cnn", labels=tuple("abcdefghijklmnopqrstuvwxyz"), task="letter")
    _save_run(build_model(letters), letters, tmp_path / "letter-run")
    with pytest.raises(SystemExit, match="dataset mnist has labels"):
        ensemble_main([str(tmp_path / "letter-run"), "--select", "--dataset", "mnist", "--data-dir",
                       str(tmp_path / "data"), "--out", str(tmp_path / "bad")])
    assert not (tmp_path / "bad").exists()
