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
