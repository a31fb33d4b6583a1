"""``chinese_ocr.gpu_bundle``: what a GPU machine without the Debian fonts, jieba or wordfreq needs
to render training lines: subset faces found through ``ZH_FACE_DIR``, saved word lists through
``ZH_WORD_LISTS``, and a run script."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from chinese_ocr import fonts

try:
    FACE = next(f for f in fonts.faces("train") if f.name == "wqy-microhei")
except (FileNotFoundError, StopIteration) as e:  # pragma: no cover - CI installs the fonts
    pytest.skip(f"Chinese fonts not installed: {e}", allow_module_level=True)


def _ink(face, text):
    from chinese_ocr.synth import Renderer

    r = Renderer("train", "GB2312-1", clean=True)
    r.faces = [face]
    r.by_family = {face.family: [face]}
    r.families = [face.family]
    r._paths[face.name] = fonts.font_file(face)
    r._cover[face.name] = fonts.coverage(fonts.font_file(face), face.index)
    return r.sample(np.random.default_rng(0), text).image.astype(np.float32)


def test_a_subset_face_stands_in_for_the_installed_one(tmp_path, monkeypatch):
    from chinese_ocr.charset import charset_chars
    from chinese_ocr.gpu_bundle import SUBSET_EXTRA, subset_face

    chars = "".join(sorted(set(charset_chars("GB2312-1")) | set(SUBSET_EXTRA)))
    name, size = subset_face((FACE, chars, tmp_path))
    assert name == FACE.name and 0 < size < (fonts.FONT_ROOT / FACE.path).stat().st_size / 3
    monkeypatch.setenv(fonts.FACE_DIR_ENV, str(tmp_path))
    found = {f.name: f for f in fonts.faces("train")}
    sub = found[FACE.name]
    assert sub.path == str((tmp_path / f"{FACE.name}.font").resolve()) and sub.index == 0
    assert found["noto-sans-regular"].path == next(f.path for f in fonts.TRAIN_FACES if f.name == "noto-sans-regular")
    cover = fonts.coverage(fonts.font_file(sub), 0)
    assert set(charset_chars("GB2312-1")) <= cover | set(" ")
    assert "〇" not in cover  # cut to the charset
    # The same glyphs; hinting is dropped, so advances may move a pixel here and there.
    a, b = _ink(FACE, "中"), _ink(sub, "中")
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9
    a, b = _ink(FACE, "中文识别Ab12"), _ink(sub, "中文识别Ab12")
    ends = [np.flatnonzero(x.max(axis=0) > 100)[[0, -1]] for x in (a, b)]
    assert np.abs(ends[0] - ends[1]).max() <= 6 and abs(a.sum() - b.sum()) < 0.1 * a.sum()


def test_saved_word_lists_give_the_same_text_without_jieba(tmp_path):
    from chinese_ocr.corpus import TextSampler, save_word_lists

    path = tmp_path / "words.pkl.gz"
    save_word_lists(path, ("GB2312-1",))
    code = ("import numpy as np, sys; sys.modules['jieba'] = None; sys.modules['wordfreq'] = None\n"
            "from chinese_ocr.corpus import TextSampler\n"
            "s = TextSampler('GB2312-1', latin=True); r = np.random.default_rng(5)\n"
            "print('|'.join(s.line(r, 2, 12) for _ in range(30)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "ZH_WORD_LISTS": str(path)})
    assert out.returncode == 0, out.stderr[-2000:]
    s, r = TextSampler("GB2312-1", latin=True), np.random.default_rng(5)
    assert out.stdout.strip() == "|".join(s.line(r, 2, 12) for _ in range(30))


def test_bundle_holds_faces_word_lists_held_out_sets_and_a_run_script(tmp_path, monkeypatch):
    from chinese_ocr import gpu_bundle

    synth = tmp_path / "synth"
    for name in ("heldout", "eval", "plates-train", "plates-val"):
        (synth / name).mkdir(parents=True)
        np.savez(synth / name / "shard-00000.npz", images=np.zeros((1, 32, 280), np.uint8), texts=np.array(["中"]),
                 fonts=np.array(["x"]))
    monkeypatch.setattr(fonts, "faces", lambda split="train": [FACE])
    plates = tmp_path / "plates"
    (plates / "train").mkdir(parents=True)
    (plates / "labels.tsv").write_text("file\ttext\ntrain/a.jpg\t皖A12345\n", encoding="utf-8")
    (plates / "train" / "a.jpg").write_bytes(b"\xff\xd8 not decoded here")
    out = gpu_bundle.build(tmp_path / "gpu", synth, "GB2312-1", wheels=False, workers=1, plates=plates)
    with tarfile.open(out / "faces.tar.xz") as t:
        assert [m.name for m in t.getmembers() if m.isfile()] == [f"{FACE.name}.font"]
    assert (out / "word-lists.pkl.gz").stat().st_size > 100_000
    assert (out / "synth" / "eval" / "shard-00000.npz").is_file()
    assert (out / "synth" / "plates-val" / "shard-00000.npz").is_file()
    assert (out / "plates" / "labels.tsv").is_file() and (out / "plates" / "train" / "a.jpg").is_file()
    assert subprocess.run(["bash", "-n", str(out / "run.sh")]).returncode == 0
    assert (out / "charset").read_text() == "GB2312-1"  # what run.sh trains
    with pytest.raises(SystemExit, match="no shards"):
        gpu_bundle.build(tmp_path / "gpu2", tmp_path / "nothing", wheels=False)


def test_the_bundle_charset_defaults_to_the_shipped_recognisers(tmp_path):
    """A fine-tune on the GPU machine must write every class the shipped model writes."""
    from chinese_ocr.gpu_bundle import shipped_charset

    config = tmp_path / "chinese.json"
    config.write_text(json.dumps({"charset": "GB2312", "chars": "啊阿"}))
    assert shipped_charset(config) == "GB2312"
    config.write_text(json.dumps({"charset": "GB2312-1"}))
    assert shipped_charset(config) == "GB2312-1"
    assert shipped_charset(tmp_path / "missing.json") == "GB2312"
    config.write_text("{not json")
    assert shipped_charset(config, fallback="GB2312-1") == "GB2312-1"
