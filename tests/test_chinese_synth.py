"""The synthetic Chinese line renderer: what it draws matches the label, faces only draw glyphs they
have, every line comes out ink-high at the model's size with a label in the charset, and shards
are deterministic and resumable."""

from __future__ import annotations

import numpy as np
import pytest

from chinese_ocr import fonts, synth
from chinese_ocr.charset import charset_chars, normalize_text
from ocr_common.ctc import Charset

try:
    fonts.faces("train"), fonts.faces("heldout"), fonts.faces("eval")
except FileNotFoundError as e:  # pragma: no cover - the CI image installs them
    pytest.skip(f"Chinese fonts not installed: {e}", allow_module_level=True)


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of every run of True."""
    edges = np.diff(np.r_[0, flags.astype(np.int8), 0])
    return list(zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]))


def test_clean_lines_show_the_strokes_of_their_label():
    r = synth.Renderer("train", clean=True)
    used = set()
    for seed in range(8):
        s = r.sample(np.random.default_rng(seed), text="一二三")
        used.add(s.font)
        assert s.text == "一二三" and s.image.shape == (32, 280) and s.image.dtype == np.uint8
        ink = s.image > 100
        chars = runs(ink.any(axis=0))
        assert len(chars) == 3, (s.font, chars)
        # Horizontal strokes per character, from the row projection of its column band.
        strokes = [len(runs(ink[:, a:b].any(axis=1))) for a, b in chars]
        assert strokes == [1, 2, 3], (s.font, strokes)
    assert len(used) >= 3  # several faces, not one lucky one


def test_same_seed_same_line_other_text_other_line():
    r = synth.Renderer("heldout")
    a, b = r.sample(np.random.default_rng(5)), r.sample(np.random.default_rng(5))
    assert a.text == b.text and a.font == b.font and np.array_equal(a.image, b.image)
    c = r.sample(np.random.default_rng(6))
    assert c.text != a.text and not np.array_equal(c.image, a.image)
    clean = synth.Renderer("heldout", clean=True)
    x, y = (clean.sample(np.random.default_rng(1), text=t).image for t in ("中文字", "字文中"))
    assert not np.array_equal(x, y)
    # Same characters in reverse order: the same ink, elsewhere.
    assert abs(int(x.astype(int).sum()) - int(y.astype(int).sum())) < 0.05 * x.astype(int).sum()


def test_a_face_never_draws_a_character_it_lacks():
    r = synth.Renderer("train")
    by_name = {f.name: f for f in r.faces}
    if "cwtex-fangsong" not in by_name:
        pytest.skip("fonts-cwtex-fs not installed")
    fang = by_name["cwtex-fangsong"]
    lacks = next(c for c in charset_chars() if not fonts.can_draw(fang, c))  # a simplified-only character
    assert fonts.can_draw(fang, "大中")
    has = {r.pick_face(np.random.default_rng(i), "大中").name for i in range(200)}
    lacking = [r.pick_face(np.random.default_rng(i), "大" + lacks) for i in range(200)]
    assert "cwtex-fangsong" in has  # the family is drawn when it can be: the check below means something
    assert all(f is not None and f.name != "cwtex-fangsong" and fonts.can_draw(f, lacks) for f in lacking)
    for i in range(5):
        s = r.sample(np.random.default_rng(i), text="大" + lacks)
        assert s.font != "cwtex-fangsong" and s.image.max() > 200
    # Sampled lines too: whatever face drew a line has every glyph of it.
    rng = np.random.default_rng(3)
    for _ in range(100):
        s = r.sample(rng)
        assert fonts.can_draw(by_name[s.font], s.text), (s.font, s.text)


@pytest.mark.parametrize("split,n", [("train", 160), ("heldout", 50), ("eval", 50)])
def test_lines_are_ink_high_model_sized_and_in_the_charset(split, n):
    r = synth.Renderer(split)
    cs = Charset(charset_chars())
    names = {f.name for f in fonts.faces(split)}
    rng = np.random.default_rng(11)
    texts = []
    for _ in range(n):
        s = r.sample(rng)
        img = s.image
        assert img.shape == (32, 280) and img.dtype == np.uint8
        used = img[:, : np.nonzero(img.max(axis=0))[0][-1] + 1]
        # Ink high: the paper (most of the line) is dark and the text bright, whatever the colours were.
        assert np.median(img) < img.max() and np.median(used) < 150 and used.max() > 150, s.text
        assert cs.covers(s.text) and 1 <= len(s.text) <= synth.MAX_CHARS and normalize_text(s.text) == s.text
        assert s.font in names
        texts.append(s.text)
    if split == "train":
        assert any(len(t) <= 3 for t in texts) and any(len(t) >= 8 for t in texts)
        assert any(c.isascii() and c.isalnum() for t in texts for c in t)


def test_smaller_charset_gives_texts_in_it():
    r = synth.Renderer("eval", charset="GB2312-1")
    cs = Charset(charset_chars("GB2312-1"))
    rng = np.random.default_rng(0)
    assert all(cs.covers(r.sample(rng).text) for _ in range(40))


def test_render_shards_resume_and_are_deterministic(tmp_path):
    out = tmp_path / "heldout"
    paths = synth.render_shards(out, 6, split="heldout", seed=3, shard_size=4, workers=1)
    assert [p.name for p in paths] == ["shard-00000.npz", "shard-00001.npz"]
    with np.load(paths[0]) as z:
        assert set(z.files) == {"images", "texts", "fonts"}
        assert z["images"].shape == (4, 32, 280) and z["images"].dtype == np.uint8
        assert z["texts"].dtype.kind == "U" and len(z["texts"]) == len(z["fonts"]) == 4
        assert set(z["fonts"]) <= {f.name for f in fonts.faces("heldout")}
        first = {k: z[k].copy() for k in z.files}
    with np.load(paths[1]) as z:
        assert z["images"].shape == (2, 32, 280)
        second = {k: z[k].copy() for k in z.files}
    stamp = paths[0].stat().st_mtime_ns
    paths[1].write_bytes(b"truncated")  # a shard cut short by a killed run is rendered again
    synth.render_shards(out, 6, split="heldout", seed=3, shard_size=4, workers=1)
    assert paths[0].stat().st_mtime_ns == stamp  # a complete shard is kept
    with np.load(paths[1]) as z:
        assert all(np.array_equal(z[k], second[k]) for k in second)
    # Shard i depends only on (seed, split, i): the same shard of a longer run, another process.
    again = synth.render_shards(tmp_path / "again", 4, split="heldout", seed=3, shard_size=4, workers=1)
    other = synth.render_shards(tmp_path / "other", 4, split="heldout", seed=4, shard_size=4, workers=1)
    with np.load(again[0]) as a, np.load(other[0]) as o:
        assert all(np.array_equal(a[k], first[k]) for k in first)
        assert not np.array_equal(o["images"], first["images"])


def test_cli_renders_shards_and_a_sheet(tmp_path):
    sheet = tmp_path / "sheet.png"
    synth.main(["--out", str(tmp_path / "cli"), "--n", "3", "--split", "eval", "--shard-size", "3",
                "--workers", "1", "--sheet", str(sheet)])
    with np.load(tmp_path / "cli" / "shard-00000.npz") as z:
        assert len(z["texts"]) == 3
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_live_lines_render_labelled_rows_on_demand():
    """``LiveLines``, the stream that ``--live-share`` trains on: rows rendered when asked for, every
    label in the charset and decodable back to a text of the training faces."""
    from chinese_ocr.charset import charset_chars
    from chinese_ocr.synth import LiveLines
    from ocr_common.ctc import Charset

    charset = Charset(charset_chars("GB2312-1"))
    live = LiveLines(charset, "GB2312-1", 35, rng=np.random.default_rng(0))
    x, y = live.take(12)
    assert x.shape == (12, 32, 280) and x.dtype == np.uint8 and y.shape == (12, 35)
    assert (y > 0).sum(axis=1).min() >= 1 and (x.max(axis=(1, 2)) > 100).all()  # text and ink in every row
    x2, _ = LiveLines(charset, "GB2312-1", 35, rng=np.random.default_rng(0)).take(12)
    assert np.array_equal(x, x2)  # deterministic for a seed


def test_print_lines_are_clean_words_in_unseen_faces_black_on_white_and_repeatable():
    """The plain yardstick set: words (no line of evenly drawn characters), dark type on white cut
    just after the text, the same lines every time."""
    from chinese_ocr.corpus import TextSampler

    if not fonts.faces("eval"):
        pytest.skip("the evaluation faces (fonts-arphic-*, fonts-droid-fallback) are not installed")
    images, texts = synth.print_lines(30, progress=False)
    again, texts2 = synth.print_lines(30, progress=False)
    assert texts == texts2 and all(np.array_equal(a, b) for a, b in zip(images, again))
    cs = Charset(charset_chars())
    for img, text in zip(images, texts):
        assert img.dtype == np.uint8 and img.shape[0] == 32 and img.shape[1] <= 280 and cs.covers(text)
        assert np.median(img) > 200 and img.min() < 80  # black on white
        ink_cols = np.nonzero(img.min(axis=0) < 128)[0]
        assert img.shape[1] - 1 - ink_cols[-1] <= synth.PRINT_MARGIN + 1  # cut just after the last stroke
    # Without lines of evenly drawn characters, lines thick with level-2 characters all but vanish.
    rng = np.random.default_rng(0)
    level2 = set(charset_chars("GB2312")) - set(charset_chars("GB2312-1"))
    rare = lambda s: sum(sum(c in level2 for c in s.line(rng, 8, 8)) >= 3 for _ in range(1000))  # noqa: E731
    plain, natural = rare(TextSampler()), rare(TextSampler(uniform_share=0.0))
    assert plain > 40 and natural < plain / 5
