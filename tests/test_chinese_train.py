"""``python -m chinese_ocr.train`` end to end on a tiny network: lines rendered while training by a
spawned feed worker (``--live-share``, ``--feed-workers``, ``--replay``, no training shards at all), real-format
plates in every batch, a time budget, and a checkpoint that reads a line."""

from __future__ import annotations

import csv
import json

import pytest

from chinese_ocr import fonts
from tests.test_chinese_data import labelled_folder

try:
    fonts.faces("train"), fonts.faces("heldout"), fonts.faces("eval")
except FileNotFoundError as e:  # pragma: no cover - CI installs the fonts
    pytest.skip(f"Chinese fonts not installed: {e}", allow_module_level=True)


def test_training_on_lines_rendered_while_it_runs(tmp_path, capsys):
    import keras

    from chinese_ocr import train

    plates = labelled_folder(tmp_path / "plates")
    run = tmp_path / "run"
    summary = train.main(["--arch", "crnn", "--charset", "GB2312-1", "--base", "8", "--bottleneck", "16",
                          "--synth-dir", str(tmp_path / "synth"), "--n-train", "0", "--n-val", "8",
                          "--plates", str(plates), "--live-share", "0.6", "--easy-share", "0.3",
                          "--feed-workers", "1", "--replay", "2", "--max-reuse", "1", "--batch-size", "4",
                          "--epochs", "2", "--steps-per-epoch", "2",
                          "--time-limit", "30", "--lr-schedule", "cosine", "--no-tensorboard",
                          "--run-dir", str(run)])
    assert summary["epochs_this_session"] == 2 and summary["classes"] == 3871
    fed = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("feed: ")]
    assert len(fed) == 2 and int(fed[-1][1]) + int(fed[-1][4]) >= 4  # fresh + replayed batches, every epoch
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert len(rows) == 2 and float(rows[0]["learning_rate"]) == pytest.approx(1e-3)  # the time budget's cosine
    assert {"val_cer", "val_plates-val_cer", "val_eval-fonts_cer"} <= set(rows[0])
    cfg = json.loads((run / "best.json").read_text())
    model = keras.saving.load_model(run / "best.keras", compile=False)
    assert cfg["charset"] == "GB2312-1" and model.output_shape[-1] == 3871


def test_live_share_needs_room_for_the_folders(tmp_path):
    from chinese_ocr import train

    with pytest.raises(SystemExit, match="below 1"):
        train.main(["--arch", "crnn", "--charset", "GB2312-1", "--base", "8", "--synth-dir", str(tmp_path / "s"),
                    "--n-train", "0", "--n-val", "4", "--plates", str(labelled_folder(tmp_path / "p")),
                    "--live-share", "0.8", "--easy-share", "0.3", "--run-dir", str(tmp_path / "run")])


def test_replay_needs_feed_workers(tmp_path):
    import keras

    from chinese_ocr import train

    if keras.backend.backend() != "tensorflow":  # pragma: no cover - the feed is the only path there
        pytest.skip("other backends always train from feed workers")
    with pytest.raises(SystemExit, match="--feed-workers"):
        train.main(["--arch", "crnn", "--charset", "GB2312-1", "--base", "8", "--synth-dir", str(tmp_path / "s"),
                    "--n-train", "0", "--n-val", "4", "--plates", str(labelled_folder(tmp_path / "p")),
                    "--live-share", "0.6", "--replay", "8", "--run-dir", str(tmp_path / "run")])


def _toy(chars: str, arch: str = "crnn"):
    from chinese_ocr.config import ChineseConfig
    from chinese_ocr.model import build_model

    cfg = ChineseConfig(arch=arch, charset="toy", chars=chars, base=8, bottleneck=16, units=8)
    return cfg, build_model(cfg)


def test_a_grown_charset_keeps_what_the_source_could_read(tmp_path):
    """--init-from a model of another charset: every layer copied, the classifier's columns
    matched by character, so the new network's logits for the old characters are the old ones."""
    import numpy as np

    from chinese_ocr import train
    from ocr_common.config import save_config

    src_cfg, src = _toy("abc")
    rng = np.random.default_rng(0)
    src.set_weights([w + rng.normal(0, 0.1, w.shape).astype(w.dtype) for w in src.get_weights()])
    src.save(tmp_path / "src.keras")
    save_config(src_cfg, tmp_path / "src.json")

    cfg, model = _toy("xbca")
    assert train.grow_from(model, cfg, tmp_path / "src.keras")
    x = rng.random((2, 32, 48, 1)).astype("float32")
    old, new = np.asarray(src(x)), np.asarray(model(x))
    np.testing.assert_allclose(new[..., [0, 4, 2, 3]], old[..., [0, 1, 2, 3]], rtol=1e-4, atol=1e-4)
    # "x" starts as the average old character: the mean of their logits, never above the best.
    np.testing.assert_allclose(new[..., 1], old[..., 1:].mean(axis=-1), rtol=1e-4, atol=1e-4)
    assert (new.argmax(axis=-1) != 1).all()

    same_cfg, same = _toy("abc")
    assert not train.grow_from(same, same_cfg, tmp_path / "src.keras")  # same characters: plain loading
    dn_cfg, dn = _toy("xbca", arch="densenet")
    with pytest.raises(SystemExit, match="does not fit"):
        train.grow_from(dn, dn_cfg, tmp_path / "src.keras")


def test_finished_plate_shards_are_used_without_their_folder(tmp_path):
    """A GPU bundle carries the plate split as shards only."""
    import shutil

    from chinese_ocr import train
    from chinese_ocr.charset import charset_chars
    from ocr_common.ctc import Charset

    plates, synth, cs = labelled_folder(tmp_path / "plates"), tmp_path / "synth", Charset(charset_chars("GB2312-1"))
    made = train.prepare_plates(plates, synth, cs)
    assert made and all((d / "done").exists() for d in made)
    shutil.rmtree(plates)
    assert train.prepare_plates(plates, synth, cs) == made
    assert train.prepare_plates("", synth, cs) is None  # no plates asked for


def plate_folder(root):
    """Five plate "photos" (bars on blue) labelled as plates are, in shared/data/plates' format."""
    from PIL import Image, ImageDraw

    texts = ["皖A12345", "京B6789学", "苏E2K7Q1", "粤BD12345", "沪C0J3N8"]
    root.mkdir(parents=True)
    for i, t in enumerate(texts):
        img = Image.new("RGB", (94, 24), (40, 70, 200))
        d = ImageDraw.Draw(img)
        for k in range(len(t)):
            d.rectangle((5 + 11 * k, 5, 10 + 11 * k + i % 2, 19), fill=(240, 240, 240))
        img.save(root / f"{t}.jpg")
    (root / "labels.tsv").write_text("file\ttext\n" + "".join(f"{t}.jpg\t{t}\n" for t in texts), encoding="utf-8")
    return root


def test_a_plate_reader_trains_on_plates_alone(tmp_path):
    """--charset plates: plates rendered while it trains and the real photos drawn afresh, no
    line shards; the held-out face's plates pick the checkpoint, the real split is measured."""
    from chinese_ocr import train

    plates, run = plate_folder(tmp_path / "plates"), tmp_path / "run"
    common = ["--arch", "crnn", "--charset", "plates", "--base", "8", "--bottleneck", "16",
              "--synth-dir", str(tmp_path / "synth"), "--n-train", "0", "--n-val", "6", "--plates", str(plates),
              "--easy-share", "0", "--pack", "0", "--batch-size", "4", "--epochs", "1", "--steps-per-epoch", "2",
              "--no-tensorboard", "--run-dir", str(run)]
    with pytest.raises(SystemExit, match="--live-share"):
        train.main(common)
    summary = train.main([*common, "--live-share", "0.5"])
    assert summary["classes"] == 72 and summary["charset"] == "plates"
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert {"val_cer", "val_plates-val_cer"} <= set(rows[0]) and "val_eval-fonts_cer" not in rows[0]
    assert json.loads((run / "best.json").read_text())["charset"] == "plates"
    assert not (tmp_path / "synth" / "train").exists()  # no line shards rendered for a plate reader


def test_train_only_the_classifier_of_a_grown_charset(tmp_path):
    """``--train-only logits`` from a level-1 model into GB 2312: the new classifier learns while
    every other weight, batch-norm statistics included, stays as the source had it; with
    ``--keep-columns`` only the new characters' columns move."""
    import keras
    import numpy as np

    from chinese_ocr import train
    from chinese_ocr.charset import charset_chars
    from chinese_ocr.config import ChineseConfig
    from chinese_ocr.model import build_model
    from ocr_common.config import save_config

    keras.utils.set_random_seed(1)
    src_cfg = ChineseConfig(arch="crnn", charset="GB2312-1", chars=charset_chars("GB2312-1"), base=8,
                            bottleneck=16)
    src = build_model(src_cfg)
    src.save(tmp_path / "src.keras")
    save_config(src_cfg, tmp_path / "src.json")
    common = ["--arch", "crnn", "--charset", "GB2312", "--base", "8", "--bottleneck", "16",
              "--synth-dir", str(tmp_path / "synth"), "--n-train", "8", "--n-val", "4", "--plates", "",
              "--live-share", "0.4", "--easy-share", "0.3", "--feed-workers", "1", "--batch-size", "4",
              "--epochs", "1", "--steps-per-epoch", "3", "--no-tensorboard", "--lr", "1e-2",
              "--init-from", str(tmp_path / "src.keras")]
    with pytest.raises(SystemExit, match="no layer nothing"):
        train.main([*common, "--train-only", "nothing", "--run-dir", str(tmp_path / "bad")])
    with pytest.raises(SystemExit, match="--init-from"):
        train.main([*common[:-2], "--keep-columns", "--run-dir", str(tmp_path / "bad2")])
    new = charset_chars("GB2312")
    grown_cfg = ChineseConfig(arch="crnn", charset="GB2312", chars=new, base=8, bottleneck=16)
    grown = build_model(grown_cfg)
    assert train.grow_from(grown, grown_cfg, tmp_path / "src.keras")
    start_k, start_b = grown.get_layer("logits").get_weights()
    old_cols = [0] + [new.index(c) + 1 for c in src_cfg.chars]
    new_cols = sorted(set(range(len(new) + 1)) - set(old_cols))
    for keep in (False, True):
        run = tmp_path / f"run-{keep}"
        summary = train.main([*common, "--train-only", "logits", *(["--keep-columns"] if keep else []),
                              "--run-dir", str(run)])
        assert summary["classes"] == len(new) + 1
        got = keras.saving.load_model(run / "best.keras", compile=False)
        for layer in src.layers:
            if layer.name != "logits" and layer.weights:
                for a, b in zip(layer.get_weights(), got.get_layer(layer.name).get_weights()):
                    np.testing.assert_array_equal(a, b, err_msg=layer.name)
        k, b = got.get_layer("logits").get_weights()
        assert not np.allclose(k[:, new_cols], start_k[:, new_cols])  # the new characters learnt
        # --keep-columns: the blank and the source's characters exactly as they were; else they move too.
        assert np.array_equal(k[:, old_cols], start_k[:, old_cols]) == keep
        assert np.array_equal(b[old_cols], start_b[old_cols]) == keep
