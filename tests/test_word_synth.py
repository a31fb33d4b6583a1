"""The synthetic word renderer: what it draws, which fonts each split may use, determinism, and
resumable sharding."""

from __future__ import annotations

import numpy as np
import pytest

from handwrite_word_ocr import synth
from handwrite_word_ocr.config import WORD_CHARS
from ocr_common.ctc import Charset


def test_held_out_fonts_never_train():
    train = {synth.family(f) for f in synth.find_fonts(synth.split_families("train"))}
    held = {synth.family(f) for f in synth.find_fonts(synth.split_families("heldout"))}
    if not train or not held:
        pytest.skip("handwriting font packages not installed (see .ci/apt-packages.txt)")
    assert not train & held
    assert held <= set(synth.HELD_OUT_FAMILIES)
    assert train <= set(synth.FAMILIES)


def test_random_texts_fit_the_charset_and_the_frames():
    rng = np.random.default_rng(0)
    cs = Charset(WORD_CHARS)
    texts = [synth.random_text(rng) for _ in range(500)]
    assert all(0 < len(t) <= synth.MAX_CHARS and cs.covers(t) for t in texts)
    assert any(t.isdigit() for t in texts) and any(t[:1].isupper() for t in texts) and any(" " in t for t in texts)
    assert all(t.isalpha() for t in (synth.random_text(rng, letters_only=True) for _ in range(100)))


def test_samples_are_normalised_words_and_deterministic():
    r = synth.Renderer("heldout")
    a = [r.sample(np.random.default_rng(5)) for _ in range(1)][0]
    b = r.sample(np.random.default_rng(5))
    assert a.text == b.text and np.array_equal(a.image, b.image)
    assert a.image.shape == (32, 128) and a.image.dtype == np.uint8
    assert a.source.split(":")[1] in synth.HELD_OUT_FAMILIES
    # Ink is bright on a dark field and the word starts at the left edge, as normalize_word leaves it.
    assert a.image.max() > 200 and a.image[:, :4].max() > 0 and np.median(a.image) < 40


def _letters(tmp_path):
    """A tiny letter-crop folder in the layout of shared/data/letters/train."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 30)
    for ch in "abcdefghijklmnopqrstuvwxyz":
        d = tmp_path / f"lower_{ch}"
        d.mkdir(parents=True)
        for k in range(8):
            img = Image.new("RGB", (34, 40), (200 + k, 195, 180))
            ImageDraw.Draw(img).text((6, 2), ch, fill=(30, 30, 40), font=font)
            img.save(d / f"SMALL_{ch}_{k}.png")
    return tmp_path


def test_letter_words_use_only_their_split_of_crops(tmp_path):
    root = _letters(tmp_path / "letters")
    held = synth.letter_crops(str(root), True)
    train = synth.letter_crops(str(root), False)
    n_held = sum(map(len, held.values()))
    n_train = sum(map(len, train.values()))
    assert n_held + n_train == 26 * 8 and 0 < n_held < n_train
    r = synth.Renderer("letters-heldout", root)
    s = r.sample(np.random.default_rng(1))
    assert s.source == "letters" and s.text.isalpha() and s.image.max() > 200


def test_render_shards_resume(tmp_path):
    out = tmp_path / "shards"
    paths = synth.render_shards(out, 6, split="heldout", seed=3, shard_size=4, workers=1)
    assert [p.name for p in paths] == ["shard-00000.npz", "shard-00001.npz"]
    with np.load(paths[1]) as z:
        assert z["images"].shape == (2, 32, 128) and len(z["texts"]) == 2
        first = z["images"].copy()
    stamp = paths[0].stat().st_mtime_ns
    paths[1].write_bytes(b"truncated")  # a shard cut short by a killed run is rendered again
    synth.render_shards(out, 6, split="heldout", seed=3, shard_size=4, workers=1)
    assert paths[0].stat().st_mtime_ns == stamp
    with np.load(paths[1]) as z:
        assert np.array_equal(z["images"], first)
