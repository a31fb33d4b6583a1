"""Word segmentation on rendered phrases whose word boxes are known from the font layout."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from handwrite_word_ocr.segment import WordBox, crop_words, group_lines, ink_map, segment_words

FONT = "/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf"
PHRASE = ["the quick brown", "fox jumps"]


def render(lines: list[str], size: int, ink: int = 0, paper: int = 255) -> tuple[np.ndarray, list]:
    """Grey image of ``lines`` set word by word, and each word's ([x0, y0, x1, y1], line index)."""
    font = ImageFont.truetype(FONT, size)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    space = probe.textlength(" ", font=font)
    margin, step = size, int(size * 1.6)
    placed, width = [], 0.0
    for li, line in enumerate(lines):
        x = float(margin)
        for word in line.split():
            placed.append((word, li, x, margin + li * step))
            x += probe.textlength(word, font=font) + space
        width = max(width, x)
    img = Image.new("L", (int(width + margin), margin * 2 + step * len(lines)), paper)
    draw = ImageDraw.Draw(img)
    truth = []
    for word, li, x, y in placed:
        draw.text((x, y), word, font=font, fill=ink)
        truth.append(([round(v) for v in draw.textbbox((x, y), word, font=font)], li))
    return np.asarray(img), truth


def iou(a: list[int], b: list[int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def assert_matches(found: list[WordBox], truth: list[tuple[list[int], int]]) -> None:
    assert len(found) == len(truth), [w.box for w in found]
    for w, (box, line) in zip(found, truth):
        assert iou(w.box, box) > 0.6, (w.box, box)
        assert w.line == line


@pytest.mark.parametrize("size", [20, 80])
def test_two_lines_in_reading_order(size):
    image, truth = render(PHRASE, size)
    found = segment_words(image)
    assert_matches(found, truth)
    assert [w.line for w in found] == [0, 0, 0, 1, 1]


def test_light_ink_on_dark():
    image, truth = render(PHRASE, 40, ink=255, paper=0)
    assert_matches(segment_words(image), truth)


def test_rgb_and_rgba_inputs():
    image, truth = render(PHRASE, 40)
    rgb = np.repeat(image[..., None], 3, axis=2)
    assert_matches(segment_words(rgb), truth)
    # Strokes drawn in the alpha channel on a transparent (black) canvas, as a browser exports.
    rgba = np.zeros(image.shape + (4,), np.uint8)
    rgba[..., 3] = 255 - image
    assert_matches(segment_words(rgba), truth)


def test_faint_pencil_on_shaded_paper():
    image, truth = render(PHRASE, 40, ink=190)
    h, w = image.shape
    shade = np.linspace(0, 60, w)[None, :] * np.linspace(0.3, 1, h)[:, None]
    noise = np.random.default_rng(0).normal(0, 3, image.shape)
    shaded = np.clip(image.astype(np.float64) - shade + noise, 0, 255).astype(np.uint8)
    assert_matches(segment_words(shaded), truth)


@pytest.mark.parametrize("size", [20, 80])
def test_ruled_line_under_the_words(size):
    image, truth = render(PHRASE, size)
    ruled = Image.fromarray(image)
    draw = ImageDraw.Draw(ruled)
    for li in range(2):
        # Through the descenders of each line, across the whole width, slightly sloped.
        y = max(b[3] for b, line in truth if line == li) - size // 8
        draw.line([(0, y), (ruled.width, y + 2)], fill=120, width=max(1, size // 30))
    assert_matches(segment_words(np.asarray(ruled)), truth)


def test_blank_images_give_no_words():
    assert segment_words(np.full((120, 300), 255, np.uint8)) == []
    assert segment_words(np.zeros((120, 300, 3), np.uint8)) == []
    noise = np.clip(np.random.default_rng(1).normal(230, 2, (120, 300)), 0, 255).astype(np.uint8)
    assert segment_words(noise) == []


def test_single_word_gives_one_box():
    image, truth = render(["handwriting"], 40)
    found = segment_words(image)
    assert len(found) == 1
    assert iou(found[0].box, truth[0][0]) > 0.8
    assert found[0].line == 0


def test_full_stop_and_i_dot_belong_to_their_word():
    image, truth = render(["it is done."], 40)
    found = segment_words(image)
    assert_matches(found, truth)
    assert found[-1].x1 >= truth[-1][0][2] - 2  # the box reaches the full stop


def test_fixed_scale_joins_more_at_larger_scale():
    image, _ = render(PHRASE, 40)
    assert len(segment_words(image, scale=0.5)) >= 5
    # A sigma_x of a few word spaces joins each line into one blob.
    assert [w.line for w in segment_words(image, scale=5)] == [0, 1]


def test_wordbox_box():
    assert WordBox(1, 2, 3, 4, line=0).box == [1, 2, 3, 4]


def test_group_lines_orders_plain_boxes():
    boxes = [[300, 105, 400, 150], [0, 0, 100, 40], [10, 100, 120, 140], [150, 5, 250, 45], [260, 20, 270, 30]]
    assert group_lines(boxes) == [
        [[0, 0, 100, 40], [150, 5, 250, 45], [260, 20, 270, 30]],
        [[10, 100, 120, 140], [300, 105, 400, 150]],
    ]
    assert group_lines([]) == []


def test_crop_words_pads_and_clips():
    image = np.arange(100 * 200, dtype=np.uint32).reshape(100, 200)
    crops = crop_words(image, [WordBox(10, 20, 50, 40, line=0), [0, 0, 5, 5]], pad=4)
    assert crops[0].shape == (28, 48)
    assert crops[0][0, 0] == image[16, 6]
    assert crops[1].shape == (9, 9)  # clipped at the top-left corner
    crops[0][:] = 0
    assert image[20, 10] != 0  # copies, not views


def test_ink_map_range_and_polarity():
    image, truth = render(["ink"], 40)
    dark = ink_map(image)
    light = ink_map(255 - image)
    assert dark.dtype == np.float32 and dark.shape == image.shape
    assert 0.0 <= dark.min() and dark.max() <= 1.0
    x0, y0, x1, y1 = truth[0][0]
    assert dark[y0:y1, x0:x1].max() == 1.0 and dark[:5, :5].max() == 0.0
    np.testing.assert_allclose(dark, light, atol=0.05)
