"""IAM loaders on a tiny tree in the IAM format, in both layouts IAM is found in."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from PIL import Image

from handwrite_word_ocr.iam import IamSample, find_iam_root, load_iam_lines, load_iam_words, split_by_form

WORDS_TXT = """\
#--- words.txt ---------------------------------------------------------------#
#
# iam database word information
#
# format: a01-000u-00-00 ok 154 1 408 768 27 51 AT A
#
a01-000u-00-00 ok 154 408 768 27 51 AT A
a01-000u-00-01 ok 154 507 766 213 48 NN MOVE
a01-000u-00-02 err 154 796 764 70 50 TO to
a01-000u-01-00 ok 156 395 932 441 59 VB nominating
a01-000x-00-00 ok 182 350 700 20 30 " "
a01-000x-00-01 ok 182 380 700 60 50 POS 's

b04-020-02-03 ok 170 900 1200 180 70 NP New York
r06-022-03-05 ok 188 1706 1109 1 1 . .
"""

LINES_TXT = """\
#--- lines.txt ---------------------------------------------------------------#
# format: a01-000u-00 ok 154 19 408 746 1661 89 A|MOVE|to|stop|Mr.|Gaitskell|from
a01-000u-00 ok 154 19 408 746 1661 89 A|MOVE|to|stop|Mr.|Gaitskell|from
a01-000u-01 err 156 19 395 932 1850 105 nominating|any|more|Labour|life|Peers
a01-000x-02 ok 182 8 400 1100 1500 90 "|Well|,|it's|Nkrumah's|"
b04-020-05 ok 170 3 420 1600 900 80 missing|image|here
"""


def png(path: Path, empty: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if empty:
        path.write_bytes(b"")
    else:
        Image.new("L", (12, 8), 255).save(path)


def build(root: Path, ascii_dir: bool) -> Path:
    """IAM tree under ``root``: index files in ``root/ascii`` (as shipped) or in ``root``."""
    index_dir = root / "ascii" if ascii_dir else root
    index_dir.mkdir(parents=True, exist_ok=True)
    (index_dir / "words.txt").write_text(WORDS_TXT, encoding="utf-8")
    (index_dir / "lines.txt").write_text(LINES_TXT, encoding="utf-8")
    for word_id in ["a01-000u-00-00", "a01-000u-00-01", "a01-000u-00-02", "a01-000x-00-00", "a01-000x-00-01"]:
        png(root / "words" / "a01" / word_id[:8] / f"{word_id}.png")
    png(root / "words" / "b04" / "b04-020" / "b04-020-02-03.png")
    png(root / "words" / "r06" / "r06-022" / "r06-022-03-05.png", empty=True)  # IAM's broken file
    for line_id in ["a01-000u-00", "a01-000u-01", "a01-000x-02"]:
        png(root / "lines" / "a01" / line_id[:8] / f"{line_id}.png")
    return root


def word(root: Path, word_id: str, text: str, ok: bool = True) -> IamSample:
    form = "-".join(word_id.split("-")[:2])
    return IamSample(root / "words" / form.split("-")[0] / form / f"{word_id}.png", text, form, ok)


@pytest.fixture(params=[True, False], ids=["ascii-layout", "flat-layout"])
def iam(request, tmp_path) -> Path:
    return build(tmp_path / "IAM", ascii_dir=request.param)


def test_words_exact(iam, caplog):
    with caplog.at_level(logging.INFO, logger="handwrite_word_ocr.iam"):
        samples = load_iam_words(iam)
    assert samples == [
        word(iam, "a01-000u-00-00", "A"),
        word(iam, "a01-000u-00-01", "MOVE"),
        word(iam, "a01-000x-00-00", '"'),
        word(iam, "a01-000x-00-01", "'s"),
        word(iam, "b04-020-02-03", "New York"),
    ]
    assert "1 missing, 1 empty" in caplog.text


def test_words_with_err_and_without_skipping(iam):
    with_err = load_iam_words(iam, include_err=True)
    assert word(iam, "a01-000u-00-02", "to", ok=False) in with_err
    assert len(with_err) == 6
    everything = load_iam_words(iam, include_err=True, skip_missing=False)
    assert [s.path.name for s in everything][-1] == "r06-022-03-05.png"
    assert word(iam, "a01-000u-01-00", "nominating") in everything
    assert len(everything) == 8


def test_lines_exact(iam):
    lines = load_iam_lines(iam)
    assert lines == [
        IamSample(iam / "lines/a01/a01-000u/a01-000u-00.png", "A MOVE to stop Mr. Gaitskell from", "a01-000u", True),
        IamSample(iam / "lines/a01/a01-000x/a01-000x-02.png", "\" Well , it's Nkrumah's \"", "a01-000x", True),
    ]
    assert [s.ok for s in load_iam_lines(iam, include_err=True)] == [True, False, True]


def test_find_root_accepts_both_layouts_and_the_ascii_folder(tmp_path):
    shipped = build(tmp_path / "shipped", ascii_dir=True)
    flat = build(tmp_path / "flat", ascii_dir=False)
    assert find_iam_root(shipped) == shipped
    assert find_iam_root(shipped / "ascii") == shipped
    assert find_iam_root(flat) == flat
    assert load_iam_words(shipped / "ascii") == load_iam_words(shipped)
    with pytest.raises(FileNotFoundError, match="words.txt"):
        find_iam_root(tmp_path / "nowhere")


def test_split_by_form_never_splits_a_form(tmp_path):
    samples = [
        IamSample(tmp_path / f"{form}-{i}.png", "w", form, True)
        for form, n in [("a01-000u", 5), ("a01-000x", 3), ("b04-020", 4), ("c03-003a", 6), ("d01-016", 2)]
        for i in range(n)
    ]
    for seed in range(5):
        train, val = split_by_form(samples, val_fraction=0.3, seed=seed)
        assert sorted(train + val, key=samples.index) == samples
        assert not {s.form for s in train} & {s.form for s in val}
        assert len(val) >= 0.3 * len(samples)
        assert train == [s for s in samples if s in train]  # input order kept
    assert split_by_form(samples, 0.3, seed=1) == split_by_form(samples, 0.3, seed=1)
    assert split_by_form(samples, 0.0) == (samples, [])
    with pytest.raises(ValueError):
        split_by_form(samples, 1.0)


def test_iam_words_become_training_shards(tmp_path):
    """--iam: IAM's words normalised once into shards the training stream reads beside the synthetic ones."""
    import numpy as np

    from handwrite_word_ocr.data import iam_shards, iterate_shards
    from ocr_common.ctc import Charset

    root = build(tmp_path / "IAM", ascii_dir=True)
    train, val = iam_shards(root, tmp_path / "iam", val_fraction=0.3)
    texts = []
    for folder in (train, val):
        for f in sorted(folder.glob("shard-*.npz")):
            with np.load(f) as z:
                assert z["images"].shape[1:] == (32, 128) and z["images"].dtype == np.uint8
                texts += list(z["texts"])
    assert sorted(texts) == sorted(['A', 'MOVE', '"', "'s", "New York"])
    stamp = next(train.glob("shard-*.npz")).stat().st_mtime_ns
    iam_shards(root, tmp_path / "iam", val_fraction=0.3)  # done: kept, not normalised again
    assert next(train.glob("shard-*.npz")).stat().st_mtime_ns == stamp
    x, y = next(iterate_shards([train, val], Charset("AMOVEsNwYork\"' "), 8, batch=2))
    assert x.shape == (2, 32, 128, 1) and y.shape == (2, 8)
