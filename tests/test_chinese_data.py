"""Chinese line data: labelled folders, the original chinese_ocr format, shards and the weighted
training stream, on tiny trees the tests write."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from chinese_ocr import data
from ocr_common.ctc import Charset
from ocr_common.npz_cache import save_npz


def line_image(path: Path, seed: int = 0, size: tuple[int, int] = (120, 30)) -> None:
    """A dark-on-light "text line" of a few blocks, saved in the format of the extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, (235, 230, 220))
    draw = ImageDraw.Draw(img)
    for k in range(3 + seed % 3):
        draw.rectangle((6 + 22 * k, 6, 20 + 22 * k, 24), fill=(20, 20, 30))
    img.save(path)


def labelled_folder(root: Path) -> Path:
    """A folder in the format of shared/data/zh_dev: extra columns, a subfolder, full-width text."""
    line_image(root / "a.png", 0)
    line_image(root / "sub" / "b.jpg", 1)
    line_image(root / "c.png", 2)
    (root / "labels.tsv").write_text(
        "file\ttext\tsource\n"
        "a.png\t维生素B2\tdemo\n"
        "sub/b.jpg\tＡＢ１２　　京\tdemo\n"
        "c.png\t“你好”，世界\tdemo\n",
        encoding="utf-8",
    )
    return root


def test_labelled_folder_reads_every_row_in_order(tmp_path):
    lines = data.load_labelled_folder(labelled_folder(tmp_path / "zh"))
    assert [r.name for r in lines] == ["a.png", "sub/b.jpg", "c.png"]
    assert [r.text for r in lines] == ["维生素B2", "AB12 京", "“你好”，世界"]  # full-width ASCII folded
    assert all(r.image.dtype == np.uint8 and r.image.shape == (30, 120, 3) for r in lines)


def test_labelled_folder_errors_name_the_format_and_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"labels\.tsv.*file and text"):
        data.load_labelled_folder(tmp_path)
    root = labelled_folder(tmp_path / "zh")
    (root / "sub" / "b.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ValueError, match=r"line 3: cannot read .*sub/b\.jpg"):
        data.load_labelled_folder(root)
    (root / "sub" / "b.jpg").unlink()
    with pytest.raises(ValueError, match=r"line 3: cannot read .*sub/b\.jpg"):
        data.load_labelled_folder(root)
    (root / "labels.tsv").write_text("name\ttext\na.png\tx\n", encoding="utf-8")
    with pytest.raises(ValueError, match="file"):
        data.load_labelled_folder(root)


CHARS = [" ", "，", "的", "。", "一", "是", "0", "不", "A", "１"]  # line 0 is the placeholder, as in the original


def chinese_ocr_tree(root: Path, encoding: str = "utf-8") -> dict[str, list[tuple[str, str]]]:
    """A tree in the original project's layout; returns the ``(file, text)`` it encodes per split."""
    (root / "images").mkdir(parents=True)
    (root / data.CHAR_FILE).write_bytes(("\n".join(CHARS) + "\n").encode(encoding))
    splits = {
        "train": [("1_a.jpg", "的一是"), ("2_b.jpg", "不，0A。"), ("3_c.jpg", "一１")],
        "test": [("4_d.jpg", "是的")],
    }
    for split, rows in splits.items():
        # idx k is the character on line k of the char file (counting from 0)
        lines = [f"{name} " + " ".join(str(CHARS.index(c)) for c in text) for name, text in rows]
        (root / f"data_{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for k, (name, _) in enumerate(rows):
            line_image(root / "images" / name, k, size=(280, 32))
    return splits


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_chinese_ocr_list_decodes_indices_into_the_char_file(tmp_path, encoding):
    splits = chinese_ocr_tree(tmp_path, encoding)
    for split, rows in splits.items():
        got = data.load_chinese_ocr_list(tmp_path, split)
        # full-width "１" comes back as "1": texts are normalised like every other label
        assert got == [(tmp_path / "images" / name, text.replace("１", "1")) for name, text in rows]


def test_chinese_ocr_list_rejects_the_placeholder_and_missing_files(tmp_path):
    chinese_ocr_tree(tmp_path)
    (tmp_path / "data_test.txt").write_text("4_d.jpg 2 0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1: labels must be indices 1..9"):
        data.load_chinese_ocr_list(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="data_val.txt"):
        data.load_chinese_ocr_list(tmp_path, "val")
    with pytest.raises(FileNotFoundError, match="one character a line"):
        data.load_chinese_ocr_list(tmp_path, "train", char_file=tmp_path / "nowhere.txt")


def test_chinese_ocr_shards_drop_lines_outside_the_charset(tmp_path, capsys):
    chinese_ocr_tree(tmp_path / "src")
    charset = Charset("的一是不，0。1")  # no "A": the second line goes
    folder = data.chinese_ocr_shards(tmp_path / "src", tmp_path / "zh360", "train", charset, shard_size=1)
    assert folder == tmp_path / "zh360" / "train" and (folder / "done").exists()
    assert "1 of 3 lines read dropped" in capsys.readouterr().out
    x, texts, fonts = data.load_shards(sorted(folder.glob("shard-*.npz")))
    assert x.shape == (2, 32, 280) and x.dtype == np.uint8 and x.max() == 255
    assert texts == ["的一是", "一1"] and fonts == ["chinese_ocr"] * 2
    limited = data.chinese_ocr_shards(tmp_path / "src", tmp_path / "lim", "train", charset, limit=1)
    assert data.load_shards(sorted(limited.glob("shard-*.npz")))[1] == ["的一是"]


def test_folder_shards_resume(tmp_path):
    root = labelled_folder(tmp_path / "zh")
    out = data.folder_shards(root, tmp_path / "shards", shard_size=2)
    files = sorted(out.glob("shard-*.npz"))
    assert [f.name for f in files] == ["shard-00000.npz", "shard-00001.npz"] and (out / "done").exists()
    with np.load(files[1]) as z:
        assert set(z.files) == {"images", "texts", "fonts"}
        assert z["images"].shape == (1, 32, 280) and z["images"].dtype == np.uint8
        assert list(z["texts"]) == ["“你好”，世界"] and list(z["fonts"]) == ["zh"]
        second = z["images"].copy()
    stamps = [f.stat().st_mtime_ns for f in files]
    data.folder_shards(root, out, shard_size=2)  # done: kept as it is
    assert [f.stat().st_mtime_ns for f in files] == stamps
    (out / "done").unlink()
    files[1].write_bytes(b"cut short")  # an interrupted run: only the broken shard is written again
    data.folder_shards(root, out, shard_size=2)
    assert files[0].stat().st_mtime_ns == stamps[0] and (out / "done").exists()
    with np.load(files[1]) as z:
        assert np.array_equal(z["images"], second)
    # a subset (one side of a split) with its own source name, and a charset that drops a line
    lines = data.load_labelled_folder(root)
    sub = data.folder_shards(root, tmp_path / "sub", lines=lines[:2], source="plates", charset=Charset("AB12 京"))
    _, texts, fonts = data.load_shards(sorted(sub.glob("shard-*.npz")))
    assert texts == ["AB12 京"] and fonts == ["plates"]


def test_split_rows_is_stable_disjoint_and_about_the_fraction():
    names = [f"train/京A{i:05d}.jpg" for i in range(3000)]
    rows = [(n, "x") for n in names]
    train, val = data.split_rows(rows, 0.2)
    assert sorted(train + val) == sorted(rows) and not set(train) & set(val)
    assert 0.17 < len(val) / len(rows) < 0.23
    assert (train, val) == data.split_rows(rows, 0.2)
    assert train == [r for r in rows if r in set(train)]  # input order kept
    # a row's side depends on its name alone: new rows never move old ones
    more_train, more_val = data.split_rows(rows[::-1] + [(f"new{i}", "y") for i in range(500)], 0.2)
    assert set(val) <= set(more_val) and set(train) <= set(more_train)
    assert data.split_rows(rows, 0.2, seed=1)[1] != val
    assert data.split_rows(rows, 0.0) == (rows, [])
    lines = [data.LabelledLine(n, np.zeros((1, 1), np.uint8), "x") for n in names[:50]]
    assert [r.name for r in data.split_rows(lines)[1]] == [n for n, _ in data.split_rows(rows[:50])[1]]


CS = Charset("甲乙丙丁ABC123")


def shard_folder(folder: Path, texts: list[str], shard_size: int, mark: int) -> dict[int, str]:
    """Shards whose image ``i`` carries its id in pixel (0, 0) and ink in the columns after it;
    returns id -> text. ``mark`` separates the folders' ids."""
    ids = {}
    for s in range(0, len(texts), shard_size):
        part = texts[s : s + shard_size]
        x = np.zeros((len(part), 32, 280), np.uint8)
        for k, t in enumerate(part):
            ids[mark + s + k] = t
            x[k, 0, 0] = mark + s + k
            x[k, 4:28, 1 : 10 * len(t)] = 255
        save_npz(folder / f"shard-{s // shard_size:05d}.npz", images=x, texts=np.array(part),
                 fonts=np.array(["f"] * len(part)))
    return ids


def two_folders(tmp_path):
    synth = [a + b for a in "甲乙丙丁" for b in "甲乙丙丁"] + ["甲X", "甲乙丙丁甲乙丙丁甲"]  # unwritable, too long
    plates = ["A12", "B23", "C31", "AB", "123", "A1B2", "Z9", "CCC"]  # Z9: unwritable
    a = shard_folder(tmp_path / "synth", synth, 7, mark=0)
    b = shard_folder(tmp_path / "plates", plates, 5, mark=100)
    return tmp_path / "synth", tmp_path / "plates", a, b


def test_weighted_stream_mixes_folders_in_proportion(tmp_path):
    fa, fb, a, b = two_folders(tmp_path)
    stream = data.iterate_shards([fa, fb], CS, 8, batch=10, seed=3, augment=False, weights=[0.75, 0.25])
    from_b = seen = 0
    for _ in range(80):
        x, y = next(stream)
        assert x.shape == (10, 32, 280, 1) and x.dtype == np.uint8
        assert y.shape == (10, 8) and y.dtype == np.int32
        for img, label in zip(x[..., 0], y):
            ident = int(img[0, 0])
            text = (a | b)[ident]
            assert CS.decode(label) == text  # image and label stay paired
            from_b += ident >= 100
            seen += 1
    assert 0.22 < from_b / seen < 0.28
    used = {CS.decode(label) for label in next(stream)[1]}
    assert "甲X" not in used and "Z9" not in used
    with pytest.raises(ValueError, match="2 weights"):
        next(data.iterate_shards([fa], CS, 8, weights=[0.5, 0.5]))


def test_pooled_stream_skips_unusable_lines_and_shifts_within_the_room(tmp_path):
    fa, fb, a, b = two_folders(tmp_path)
    texts, starts = set(), set()
    stream = data.iterate_shards([fa, fb], CS, 8, batch=4, seed=0)
    for _ in range(60):
        x, y = next(stream)
        texts |= {CS.decode(label) for label in y}
        for img in x[..., 0]:
            starts.add(int(np.flatnonzero(img[10])[0]))
    assert texts == {t for t in (a | b).values() if 0 < len(t) <= 8 and CS.covers(t)}
    assert min(starts) == 1 and max(starts) <= 1 + data.MAX_SHIFT and len(starts) > 3
    with pytest.raises(ValueError, match="fits the charset"):
        next(data.iterate_shards([fb], Charset("XYZ"), 8, batch=2))
    with pytest.raises(FileNotFoundError, match="no shards"):
        next(data.iterate_shards([tmp_path / "none"], CS, 8))


def test_validation_arrays_and_tf_dataset(tmp_path):
    fa, fb, a, b = two_folders(tmp_path)
    x, y, texts = data.validation_arrays([fa, fb], CS, 8, limit=10)
    assert x.dtype == np.float32 and x.shape == (len(texts), 32, 280, 1) and 0 <= x.min() and x.max() <= 1
    assert texts == list(a.values())[:10] + [t for t in b.values() if t != "Z9"]
    assert [CS.decode(r) for r in y] == texts
    ds = data.tf_dataset([fa, fb], CS, 8, 32, 280, 6, weights=[0.5, 0.5])
    xb, yb = next(iter(ds))
    assert xb.shape == (6, 32, 280, 1) and yb.shape == (6, 8)
    assert 0.0 <= float(xb.numpy().min()) and float(xb.numpy().max()) <= 1.0


def test_packing_puts_short_lines_side_by_side_with_their_labels_joined():
    texts = ["甲乙", "A1", "丙", "B2", "丁甲乙丙丁甲乙丙", "1", "C", "乙丙丁"] * 3
    x = np.zeros((len(texts), 32, 280), np.uint8)
    for i, t in enumerate(texts):
        x[i, 4:28, 3 : 3 + 30 * len(t)] = 100 + i  # each line's ink has its own level
    cs = Charset(CS.chars + " ")  # a space where Latin meets Latin, and where Latin meets Chinese across a wide gap
    y, keep = data.encode_labels(texts, cs, 12)
    assert keep.all()
    out_x, out_y, used = data.pack_rows(x, y, 10, np.random.default_rng(0), charset=cs, p=1.0)
    assert out_x.shape == (10, 32, 280) and out_y.shape == (10, 12)
    segments = 0
    for img, label in zip(out_x, out_y):
        row = img[10]
        starts = [k for k, v in enumerate(row) if v and (k == 0 or row[k - 1] != v)]
        levels = [int(row[k]) for k in starts]
        assert len(set(levels)) == len(levels)  # every line whole, in one run, none overlapping
        parts = [texts[v - 100] for v in levels]
        joined = parts[0]
        for k, part in zip(starts[1:], parts[1:]):
            gap = k - (np.flatnonzero(row[:k]).max() + 1)
            spaced = joined[-1].isascii() + part[0].isascii()
            joined += " " if spaced == 2 or (spaced == 1 and gap >= data.SPACED_GAP[0]) else ""
            joined += part
        assert cs.decode(label) == joined
        assert np.flatnonzero(row).max() < 280 - data.MAX_SHIFT
        segments += len(parts)
    assert segments == used.sum() > 10  # lines were packed, and exactly the used ones
    # Without packing (p=0) every row is one line, in order.
    _, plain_y, used0 = data.pack_rows(x, y, 10, np.random.default_rng(0), charset=cs, p=0.0)
    assert [cs.decode(r) for r in plain_y] == texts[:10] and used0.sum() == 10


def test_packing_sets_latin_off_from_chinese_by_a_wide_gap_and_a_space_or_by_neither():
    """Where only one side of a join is a Latin letter or digit, the label has a space exactly when
    the gap is wide, and both kinds occur; Chinese meeting Chinese never gets a space."""
    texts = ["甲乙", "AB", "丙丁", "12"] * 40
    x = np.zeros((len(texts), 32, 280), np.uint8)
    for i, t in enumerate(texts):
        x[i, 4:28, 3 : 3 + 20 * len(t)] = 255
    cs = Charset(CS.chars + " ")
    y, _ = data.encode_labels(texts, cs, 16)
    _, out_y, _ = data.pack_rows(x, y, 60, np.random.default_rng(3), charset=cs, p=1.0)
    text = "|".join(cs.decode(r) for r in out_y)
    for before, after in (("[乙丁]", "[A1]"), ("[B2]", "[甲丙]")):  # both ways round, both kinds
        assert re.search(before + " " + after, text) and re.search(before + after, text)
    assert not re.search("[乙丁] [甲丙]", text) and not re.search("[B2][A1]", text)


def test_packed_stream_keeps_the_batch_size_and_carries_more_characters(tmp_path):
    fa, fb, a, b = two_folders(tmp_path)
    plain = data.iterate_shards([fa, fb], CS, 8, batch=6, seed=1, augment=False, weights=[0.5, 0.5])
    packed = data.iterate_shards([fa, fb], CS, 8, batch=6, seed=1, augment=False, weights=[0.5, 0.5], pack=0.9)
    chars = {}
    for name, stream in (("plain", plain), ("packed", packed)):
        chars[name] = 0
        for _ in range(30):
            x, y = next(stream)
            assert x.shape == (6, 32, 280, 1) and y.shape == (6, 8)
            chars[name] += int((y > 0).sum())
    assert chars["packed"] > 1.3 * chars["plain"]
