"""CTPN core: anchors, fine-scale strips, target assignment, proposal decoding, the text-line builder,
NMS, line matching, and the model (shapes, .keras round trip, ONNX parity, learning a toy bar)."""

from __future__ import annotations

import numpy as np
import pytest

from ctpn.anchors import decode_vertical, encode_vertical, make_anchors
from ctpn.config import CTPNConfig
from ctpn.nms import nms
from ctpn.targets import SIDE_RANGE, assign_targets, line_strips, targets_to_maps
from ctpn.textline import TextLine, build_lines, decode_proposals, match_lines, quad_iou, reading_order

CFG = CTPNConfig()
TINY = CTPNConfig(base=4, rnn_units=4, fc_units=8)


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


# --- config and anchors -------------------------------------------------------------------------


def test_config_round_trips_through_json(tmp_path):
    from ocr_common.config import load_config, save_config

    cfg = CTPNConfig(base=8, anchor_heights=(11, 16, 22), max_side=640)
    save_config(cfg, tmp_path / "ctpn.json")
    back = load_config(CTPNConfig, tmp_path / "ctpn.json")
    assert back == cfg and back.k == 3 and CFG.k == 8


def test_anchors_count_centres_and_heights():
    a = make_anchors(3, 5, CFG)
    assert a.shape == (3 * 5 * CFG.k, 4) and a.dtype == np.float32
    g = a.reshape(3, 5, CFG.k, 4)
    cx, cy = (g[..., 0] + g[..., 2]) / 2, (g[..., 1] + g[..., 3]) / 2
    np.testing.assert_allclose(cx, np.broadcast_to((np.arange(5) * 16 + 8)[None, :, None], cx.shape))
    np.testing.assert_allclose(cy, np.broadcast_to((np.arange(3) * 16 + 8)[:, None, None], cy.shape))
    np.testing.assert_allclose(g[..., 2] - g[..., 0], 16)
    np.testing.assert_allclose(g[..., 3] - g[..., 1], np.broadcast_to(np.array(CFG.anchor_heights), cx.shape))


def test_anchor_order_matches_a_reshaped_model_output():
    """Anchor i belongs to the cell and height that an (H, W, k) output's element i reads from."""
    h, w, k = 4, 6, CFG.k
    out = np.arange(h * w * k).reshape(h, w, k)  # value = flat index of (y, x, a)
    y, x, j = np.unravel_index(out.reshape(-1), (h, w, k))
    a = make_anchors(h, w, CFG)
    np.testing.assert_allclose((a[:, 0] + a[:, 2]) / 2, x * 16 + 8)
    np.testing.assert_allclose((a[:, 1] + a[:, 3]) / 2, y * 16 + 8)
    np.testing.assert_allclose(a[:, 3] - a[:, 1], np.array(CFG.anchor_heights)[j])


def test_vertical_encoding_round_trips():
    a = make_anchors(2, 2, CFG)
    boxes = a.copy()
    boxes[:, 1] += 3.0
    boxes[:, 3] += 9.0
    np.testing.assert_allclose(decode_vertical(a, encode_vertical(a, boxes)), boxes, atol=1e-4)


# --- strips and targets ---------------------------------------------------------------------------


def test_line_strips_of_a_horizontal_box():
    # x 29..98: the first cell (16..32) holds 3 px and the last (96..112) 2 px, both < a quarter.
    s = line_strips(_rect(29, 30, 98, 50))
    np.testing.assert_allclose(s[:, 0], [32, 48, 64, 80])
    np.testing.assert_allclose(s[:, 2], [48, 64, 80, 96])
    np.testing.assert_allclose(s[:, [1, 3]], np.tile([30, 50], (4, 1)))
    # x 20..100: 12 px and exactly a quarter (4 px) are kept.
    np.testing.assert_allclose(line_strips(_rect(20, 30, 100, 50))[:, 0], [16, 32, 48, 64, 80, 96])


def test_line_strips_of_a_slanted_quad():
    """Top and bottom edges drop 1 px per 8 px; each strip takes the highest top and lowest bottom."""
    quad = np.array([[16, 30], [112, 42], [112, 62], [16, 50]], np.float32)
    s = line_strips(quad)
    cols = np.arange(1, 7)
    np.testing.assert_allclose(s[:, 0], cols * 16)
    np.testing.assert_allclose(s[:, 1], 30 + (cols * 16 - 16) / 8)
    np.testing.assert_allclose(s[:, 3], 50 + (cols * 16 + 16 - 16) / 8)
    assert line_strips(_rect(20, 30, 22, 50)).shape == (0, 4)  # narrower than a quarter cell


def _assign(lines, h=8, w=16, **kw):
    anchors = make_anchors(h, w, CFG)
    kw.setdefault("n_samples", 10**6)  # label everything unless a test is about sampling
    return anchors, assign_targets(anchors, lines, CFG, rng=np.random.default_rng(0), **kw)


def test_assign_targets_on_one_box():
    box = _rect(40, 48, 200, 70)  # 22 px high, centre y 59; strips in columns 2..12
    anchors, t = _assign([box])
    assert t.labels.dtype == np.int8 and t.vertical.shape == (len(anchors), 2)
    pos = np.flatnonzero(t.labels == 1)
    col = ((anchors[:, 0] + anchors[:, 2]) / 2 - 8) // 16
    assert set(col[pos]) == set(range(2, 13))  # every strip has a positive, none outside the box
    heights = anchors[pos, 3] - anchors[pos, 1]
    assert np.all((heights >= 22 * 0.7) & (heights <= 22 / 0.7))
    # The regression targets bring each positive anchor onto its strip.
    back = decode_vertical(anchors[pos], t.vertical[pos])
    np.testing.assert_allclose(back[:, [1, 3]], np.tile([48, 70], (len(pos), 1)), atol=1e-3)
    # Anchors in other columns, or clear of the box vertically, are negatives.
    far = (col < 2) | (col > 12) | (anchors[:, 3] < 40) | (anchors[:, 1] > 80)
    assert np.all(t.labels[far] == 0)
    assert np.any(t.labels == -1)  # ...and the ambiguous middle is ignored


def test_assign_targets_keeps_the_best_anchor_of_a_strip_below_pos_iou():
    """A 13-px line halfway between two rows has no anchor at IoU 0.7; its best one is still positive."""
    anchors, t = _assign([_rect(32, 26, 48, 39)])
    pos = np.flatnonzero(t.labels == 1)
    assert len(pos) == 1 and anchors[pos[0], 0] == 32


def test_sampling_respects_n_samples_and_the_positive_cap():
    lines = [_rect(16, y, 240, y + 16) for y in (16, 48, 80)]
    _, full = _assign(lines)
    assert (full.labels == 1).sum() > 16
    _, t = _assign(lines, n_samples=64, pos_fraction=0.25)
    assert (t.labels == 1).sum() == 16 and (t.labels == 0).sum() == 48
    assert set(np.flatnonzero(t.labels == 1)) <= set(np.flatnonzero(full.labels == 1))
    _, few = _assign([_rect(40, 48, 80, 70)], n_samples=64)  # few positives: negatives fill up to 64
    assert (few.labels >= 0).sum() == 64 and (few.labels == 1).sum() < 32


def test_side_targets_only_near_the_line_ends():
    anchors, t = _assign([_rect(40, 48, 200, 70)])
    cx = (anchors[:, 0] + anchors[:, 2]) / 2
    assert t.side_mask.dtype == bool and np.all(t.labels[t.side_mask] == 1)
    m = t.side_mask
    assert np.all(np.minimum(np.abs(cx[m] - 40), np.abs(cx[m] - 200)) <= SIDE_RANGE)
    assert np.any(cx[m] < 100) and np.any(cx[m] > 140)  # both ends
    assert not np.any(m & (cx > 80) & (cx < 160))  # nothing in the middle
    left = m & (cx < 100)
    np.testing.assert_allclose(t.side[left], (40 - cx[left]) / 16)
    np.testing.assert_allclose(t.side[m & (cx > 140)], (200 - cx[m & (cx > 140)]) / 16)
    assert np.all(t.side[~m] == 0)


def test_targets_to_maps_packs_values_and_masks():
    anchors, t = _assign([_rect(40, 48, 200, 70)])
    maps = targets_to_maps(t, 8, 16, CFG.k)
    assert {key: v.shape for key, v in maps.items()} == {"cls": (8, 16, 8), "reg": (8, 16, 8, 3), "side": (8, 16, 8, 2)}
    np.testing.assert_array_equal(maps["cls"].reshape(-1), t.labels)
    np.testing.assert_array_equal(maps["reg"][..., 2].reshape(-1), t.labels == 1)
    np.testing.assert_allclose(maps["reg"][..., :2].reshape(-1, 2), t.vertical)
    np.testing.assert_array_equal(maps["side"][..., 1].reshape(-1), t.side_mask)


def test_no_lines_gives_only_negatives():
    _, t = _assign([], n_samples=32)
    assert (t.labels == 0).sum() == 32 and (t.labels == 1).sum() == 0 and not t.side_mask.any()


# --- decoding, NMS, text lines --------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["2k", "k2"])
def test_decode_proposals_inverts_the_target_encoding(layout):
    h, w, k = 4, 6, CFG.k
    anchors = make_anchors(h, w, CFG)
    idx = np.array([5, 100, 170])
    strips = anchors[idx].copy()
    strips[:, 1] += [2.0, -5.0, 1.5]
    strips[:, 3] += [4.0, 3.0, -2.5]
    probs = np.zeros(h * w * k, np.float32)
    probs[idx] = [0.9, 0.8, 0.95]
    reg = np.zeros((h * w * k, 2), np.float32)
    reg[idx] = encode_vertical(anchors[idx], strips)
    side = np.zeros(h * w * k, np.float32)
    side[idx] = [0.5, -1.0, 0.0]
    reg = reg.reshape(h, w, 2 * k) if layout == "2k" else reg.reshape(h, w, k, 2)
    boxes, scores, off = decode_proposals(probs.reshape(h, w, k), reg, side.reshape(h, w, k), CFG, 0.7)
    np.testing.assert_allclose(boxes, strips, atol=1e-3)
    np.testing.assert_allclose(scores, [0.9, 0.8, 0.95])
    np.testing.assert_allclose(off, [0.5, -1.0, 0.0])


def test_nms_keeps_the_higher_score_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    assert list(nms(boxes, [0.5, 0.9, 0.3], 0.5)) == [1, 2]
    assert list(nms(boxes, [0.5, 0.9, 0.3], 0.5, score_threshold=0.4)) == [1]
    assert list(nms(boxes, [0.5, 0.9, 0.3], 0.5, top_k=1)) == [1]
    # IoU of two half-overlapping boxes is 1/3: kept apart at 0.34, suppressed at 0.3.
    half = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)
    assert len(nms(half, [0.5, 0.9], 0.34)) == 2 and list(nms(half, [0.5, 0.9], 0.3)) == [1]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)


def _chain(cols, y0: float, y1: float, slope: float = 0.0, score: float = 0.95):
    """Proposals in the given grid columns, top and bottom moving by ``slope`` px per px of x."""
    cols = np.asarray(list(cols))
    x0 = cols * 16.0
    dy = slope * (x0 + 8)
    boxes = np.stack([x0, y0 + dy, x0 + 16, y1 + dy], axis=1)
    return boxes, np.full(len(cols), score)


def _lines(*chains, side=None, shape=(200, 400), **kw):
    boxes = np.concatenate([c[0] for c in chains])
    scores = np.concatenate([c[1] for c in chains])
    return build_lines(boxes, scores, side, shape, CFG, **kw)


def test_two_lines_at_different_heights_stay_apart_in_reading_order():
    lines = _lines(_chain(range(2, 12), 100, 120), _chain(range(2, 12), 20, 40))
    assert len(lines) == 2 and all(isinstance(t, TextLine) for t in lines)
    np.testing.assert_allclose(lines[0].box, _rect(32, 20, 192, 40), atol=1e-3)
    np.testing.assert_allclose(lines[1].box, _rect(32, 100, 192, 120), atol=1e-3)
    assert lines[0].n == 10 and lines[0].box.dtype == np.float32 and abs(lines[0].score - 0.95) < 1e-6


def test_a_gap_below_max_gap_is_bridged_and_a_wider_one_splits():
    # The default joins neighbouring columns only (x0 16 px apart): one missing column splits.
    assert len(_lines(_chain(range(1, 13), 20, 40))) == 1
    split = _lines(_chain(range(1, 6), 20, 40), _chain(range(7, 13), 20, 40))  # x0 80 -> 112: 32 px
    assert len(split) == 2 and split[0].box[0, 0] < split[1].box[0, 0]  # same row: left one first
    one = _lines(_chain(range(1, 6), 20, 40), _chain(range(8, 13), 20, 40), max_gap=50)  # 48 px
    assert len(one) == 1 and one[0].n == 10
    two = _lines(_chain(range(1, 6), 20, 40), _chain(range(9, 14), 20, 40), max_gap=50)  # 64 px
    assert len(two) == 2
    three = _lines(_chain(range(1, 6), 20, 40), _chain(range(9, 14), 20, 40), max_gap=70)
    assert len(three) == 1


def test_a_fragment_inside_a_longer_line_is_dropped():
    from ctpn.textline import drop_contained

    long, frag, below = TextLine(_rect(0, 20, 200, 40), 0.9, 12), TextLine(_rect(60, 22, 100, 42), 0.95, 3), \
        TextLine(_rect(60, 50, 100, 70), 0.9, 3)
    assert drop_contained([frag, long, below]) == [long, below]
    assert len(drop_contained([frag, long, below], max_inside=1.0)) == 3


def test_chaining_needs_vertical_overlap_and_similar_height():
    assert len(_lines(_chain(range(1, 5), 20, 40), _chain(range(5, 9), 32, 52))) == 2  # overlap 8/20 < 0.5
    assert len(_lines(_chain(range(1, 5), 20, 40), _chain(range(5, 9), 28, 48))) == 1  # overlap 12/20: joined
    assert len(_lines(_chain(range(1, 5), 20, 40), _chain(range(5, 9), 20, 50))) == 2  # heights 20 vs 30


def test_a_slanted_chain_gives_a_slanted_quad():
    (line,) = _lines(_chain(range(2, 20), 40, 60, slope=0.1))
    tl, tr, br, bl = line.box
    assert np.isclose((tr[1] - tl[1]) / (tr[0] - tl[0]), 0.1, atol=1e-3)
    assert np.isclose((br[1] - bl[1]) / (br[0] - bl[0]), 0.1, atol=1e-3)
    assert np.isclose(tl[1], 40 + 0.1 * 32, atol=1e-2) and np.isclose(bl[1] - tl[1], 20, atol=1e-2)


def test_side_offsets_refine_the_ends_and_weak_lines_are_dropped():
    boxes, scores = _chain(range(2, 12), 20, 40)
    side = np.zeros(len(boxes))
    side[0], side[-1] = 0.25, -0.5  # the line starts 4 px right of the first centre (40 + 4)
    (line,) = build_lines(boxes, scores, side, (200, 400), CFG)
    assert np.isclose(line.box[0, 0], 44) and np.isclose(line.box[1, 0], 184 - 8)
    assert _lines(_chain(range(2, 12), 20, 40, score=0.85)) == []  # mean score below min_score (0.9)
    assert _lines(_chain([3], 20, 40)) == []  # one proposal is not a line
    assert build_lines(np.zeros((0, 4)), np.zeros(0), None, (200, 400), CFG) == []


def test_a_line_reaches_the_tops_of_its_tallest_proposals_once_widened():
    """Three tall proposals (characters) and twelve lower ones (dot leaders) on one baseline: the
    fitted top runs through the middle, the widened box reaches the characters' tops (by at most
    ENVELOPE_CAP of the median height) and keeps the fitted box; even lines are left as they are."""
    from ctpn.textline import ENVELOPE_CAP, widen

    tall, low = _chain(range(2, 5), 20, 40), _chain(range(5, 17), 25, 40)
    (line,) = _lines(tall, low)
    (plain,) = _lines(tall, low, envelope=0)
    np.testing.assert_array_equal(line.box, plain.box)  # decisions between lines see the fitted box
    assert plain.rise == plain.drop == 0 and line.drop == 0 and 0 < line.rise <= ENVELOPE_CAP * 15
    (wide,) = widen([line], (200, 400))
    assert wide.fit is line.box and wide.box[0, 1] < line.box[0, 1] - 1 and wide.box[0, 1] <= 20.5
    np.testing.assert_allclose(wide.box[2:], line.box[2:])
    np.testing.assert_allclose(wide.box[:2, 1], line.box[:2, 1] - line.rise, atol=1e-4)
    (even,) = _lines(_chain(range(2, 20), 40, 60, slope=0.1))
    assert even.rise == even.drop == 0 and widen([even], (200, 400))[0] is even
    (short,) = _lines(_chain(range(2, 4), 20, 40), _chain(range(4, 5), 25, 40))  # too few to say
    assert short.rise == short.drop == 0


def test_weaker_duplicate_proposals_do_not_make_extra_lines():
    strong = _chain(range(2, 12), 20, 40, score=0.97)
    weak = _chain(range(2, 12), 21, 43, score=0.92)
    (line,) = _lines(strong, weak)
    assert line.n == 10 and np.isclose(line.score, 0.97)


def _page_with_strokes(rule_x: int | None, dark: bool = True) -> np.ndarray:
    """A 200 x 400 page with a line's ink between y 20 and 40 (vertical glyph strokes and an
    underline, none of which is a rule) and, at ``rule_x``, a 2-px rule from y 0 to 100."""
    bg, ink = (255, 0) if dark else (30, 230)
    img = np.full((200, 400, 3), bg, np.uint8)
    for x in range(40, 190, 9):
        img[21:40, x : x + 2] = ink  # strokes as tall as the line
    img[41:43, 30:190] = ink  # an underline
    if rule_x is not None:
        img[0:100, rule_x : rule_x + 2] = ink
    return img


def test_rule_columns_finds_a_rule_through_the_line_and_not_the_glyphs():
    from ctpn.textline import rule_columns

    flat_top, flat_bottom = (0.0, 20.0), (0.0, 40.0)
    for dark in (True, False):  # dark rules on paper, light ones on a dark panel
        grey = _page_with_strokes(111, dark).mean(axis=2) / 255.0
        (rule,) = rule_columns(grey, 32, 192, flat_top, flat_bottom)
        assert 110 <= rule[0] <= 111 and 113 <= rule[1] <= 114
        assert rule_columns(_page_with_strokes(None, dark).mean(axis=2) / 255.0, 32, 192, flat_top, flat_bottom) == []
    # A stroke ending just above the line is not a rule (it must reach beyond both edges).
    grey = _page_with_strokes(None).mean(axis=2) / 255.0
    grey[21:100, 111:113] = 0.0
    assert rule_columns(grey, 32, 192, flat_top, flat_bottom) == []


def test_a_chain_crossing_a_rule_becomes_two_lines_ending_at_it():
    chain = _chain(range(2, 12), 20, 40)  # x 32 .. 192, one chain without the image
    assert len(_lines(chain)) == 1
    assert len(_lines(chain, image=_page_with_strokes(None))) == 1
    left, right = _lines(chain, image=_page_with_strokes(111))
    assert left.box[:, 0].min() == 32 and left.box[:, 0].max() <= 111
    assert right.box[:, 0].min() >= 113 and right.box[:, 0].max() == 192
    assert left.n + right.n == 10
    # A rule near an end leaves one proposal on that side: no line there, the rest ends at the rule.
    (line,) = _lines(chain, image=_page_with_strokes(180))
    assert line.box[:, 0].min() == 32 and line.box[:, 0].max() <= 180
    # Rules closer together than the line is high are stripes (a barcode): the chain stays whole.
    striped = _page_with_strokes(100)
    striped[0:100, 112:114] = 0
    (line,) = _lines(chain, image=striped)
    assert line.n == 10


def test_lines_are_clipped_to_the_image():
    (line,) = _lines(_chain(range(0, 8), -6, 14), shape=(100, 100))
    assert line.box[:, 0].max() <= 100 and line.box[:, 1].min() >= 0


def test_reading_order_groups_rows():
    def line(x0, y0, x1, y1):
        return TextLine(_rect(x0, y0, x1, y1), 0.9, 2)

    a, b, c = line(200, 22, 300, 42), line(10, 20, 100, 40), line(10, 60, 300, 80)
    assert [id(t) for t in reading_order([c, a, b])] == [id(b), id(a), id(c)]


def test_quad_iou_and_matching():
    a = _rect(0, 0, 10, 10)
    assert quad_iou(a, a) == pytest.approx(1.0)
    assert quad_iou(a, _rect(5, 0, 15, 10)) == pytest.approx(1 / 3, abs=1e-5)
    assert quad_iou(a, _rect(20, 20, 30, 30)) == 0.0
    tilted = np.array([[0, 0], [10, 2], [10, 12], [0, 10]], np.float32)
    assert 0.7 < quad_iou(a, tilted) < 0.9
    pred = [_rect(0, 0, 10, 10), _rect(1, 0, 11, 10), _rect(50, 50, 60, 60)]
    gt = [_rect(0, 0, 10, 10), _rect(100, 0, 110, 10)]
    assert match_lines(pred, gt) == (1, 2, 1)  # one-to-one: the near-duplicate is a false positive
    assert match_lines([], gt) == (0, 0, 2) and match_lines(pred, []) == (0, 3, 0)


def test_cover_rule_forgives_a_margin_but_not_a_miss_or_a_merge():
    from ctpn.textline import match_pairs

    tight = _rect(655, 353, 730, 366)  # a 75 x 13 price, labelled tight to the ink
    padded = _rect(651, 346, 736, 373)  # PP-OCR-style box: half a text height of margin
    assert quad_iou(padded, tight) < 0.5
    assert match_pairs([padded], [tight]) == []
    assert match_pairs([padded], [tight], rule="cover") == [(0, 0)]
    # Half the line found: it does not cover 0.8 of it.
    assert match_pairs([_rect(655, 353, 690, 366)], [tight], rule="cover") == []
    # A box far too big for the line (the line fills < 0.4 of it) does not count either.
    assert match_pairs([_rect(600, 300, 800, 420)], [tight], rule="cover") == []
    # One box over two lines, one above the other: one to one, so it stands for one of them only.
    upper, lower = _rect(0, 0, 100, 20), _rect(0, 24, 100, 44)
    assert len(match_pairs([_rect(0, 0, 100, 44)], [upper, lower], rule="cover")) == 1
    with pytest.raises(ValueError, match="rule"):
        match_pairs([tight], [tight], rule="dice")


# --- model ----------------------------------------------------------------------------------------


def test_model_output_shapes_follow_the_input():
    from ctpn.model import build_model, inference_model

    model = build_model(TINY)
    assert model.output_names == ["cls", "reg", "side"]
    k = TINY.k
    for n, (h, w) in ((1, (64, 96)), (2, (48, 160)), (1, (70, 100))):
        cls, reg, side = model(np.zeros((n, h, w, 3), np.float32))
        assert cls.shape == (n, h // 16, w // 16, k) and reg.shape == (n, h // 16, w // 16, 2 * k)
        assert side.shape == (n, h // 16, w // 16, k)
    prob, _, _ = inference_model(model)(np.random.default_rng(0).random((1, 64, 96, 3), np.float32))
    assert 0.0 <= float(np.min(prob)) and float(np.max(prob)) <= 1.0


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # saved before its first step
def test_model_saves_loads_and_exports_to_onnx(tmp_path):
    from ctpn.model import build_model, compile_model, inference_model
    from ocr_common.export import check_parity, export_onnx, load_keras_model

    model = compile_model(build_model(TINY), "adam", 1e-3)
    x = np.random.default_rng(1).random((2, 64, 96, 3), np.float32)
    model.save(tmp_path / "m.keras")
    back = load_keras_model(tmp_path / "m.keras")
    for a, b in zip(model(x), back(x)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    for name, m in (("train", back), ("served", inference_model(back))):
        assert check_parity(m, export_onnx(m, tmp_path / f"{name}.onnx"), "onnx") < 1e-4


def _bar_batch():
    """Dark bars on white (one "text line" per 64 x 128 image), their packed training targets (64
    sampled anchors per image, half positive at most), every positive anchor, and the far anchors."""
    bars = [(16, 16, 112, 32), (24, 32, 96, 48), (8, 24, 120, 40), (40, 8, 104, 24)]
    anchors = make_anchors(4, 8, TINY)
    x = np.ones((len(bars), 64, 128, 3), np.float32)
    ys, pos, far = {"cls": [], "reg": [], "side": []}, [], []
    for i, (x0, y0, x1, y1) in enumerate(bars):
        x[i, y0:y1, x0:x1] = 0.05
        line = [_rect(x0, y0, x1, y1)]
        for key, v in targets_to_maps(assign_targets(anchors, line, TINY, rng=np.random.default_rng(i), n_samples=64),
                                      4, 8, TINY.k).items():
            ys[key].append(v)
        pos.append(assign_targets(anchors, line, TINY, rng=np.random.default_rng(i), n_samples=10**6).labels == 1)
        far.append((anchors[:, 2] <= x0) | (anchors[:, 0] >= x1) | (anchors[:, 3] <= y0) | (anchors[:, 1] >= y1))
    return x, {key: np.stack(v) for key, v in ys.items()}, np.stack(pos), np.stack(far)


def test_training_steps_learn_to_fire_on_a_dark_bar():
    import keras

    from ctpn.model import build_model, compile_model

    keras.utils.set_random_seed(0)
    model = compile_model(build_model(TINY), "adam", 1e-2)
    x, y, pos, far = _bar_batch()
    first = model.train_on_batch(x, y)
    second = model.train_on_batch(x, y)  # the loss after one update, on the same batch
    assert second < first
    for _ in range(80):  # train_on_batch: fit's per-epoch overhead is 10x a step of this tiny model
        model.train_on_batch(x, y)
    # Batch statistics: the moving averages are still settling after 80 steps.
    prob = 1 / (1 + np.exp(-np.asarray(model(x, training=True)[0]).reshape(len(x), -1)))
    assert np.mean(prob[pos] > 0.5) > 0.9 and np.mean(prob[far] < 0.5) > 0.9, (prob[pos].mean(), prob[far].mean())


def _page_lines(rects):
    return [TextLine(_rect(*r), 0.9, 2) for r in rects]


def test_reading_order_reads_columns_one_after_the_other():
    """A heading over two columns of text, the left column longer, then a full-width paragraph:
    heading, the whole left column, the whole right column, the paragraph."""
    heading = [(200, 10, 600, 50)]
    left = [(20, 80 + 30 * i, 380, 100 + 30 * i) for i in range(6)] + [(20, 260, 200, 280)]
    right = [(420, 80 + 30 * i, 780, 100 + 30 * i) for i in range(4)] + [(420, 200, 560, 220)]
    below = [(20, 320, 780, 340), (20, 350, 500, 370)]
    truth = _page_lines(heading + left + right + below)
    shuffled = [truth[i] for i in np.random.default_rng(0).permutation(len(truth))]
    assert [id(t) for t in reading_order(shuffled)] == [id(t) for t in truth]


def test_reading_order_keeps_tables_and_receipts_by_rows():
    """Cells of a table (short, ragged) and a receipt's item and price share rows: read across."""
    table = []
    for r in range(5):
        y = 20 + 40 * r
        table += [(20, y, 20 + 40 + 25 * (r % 3), y + 20), (300, y, 300 + 30 + 20 * ((r + 1) % 3), y + 20)]
    receipt = []
    for r in range(6):
        y = 20 + 30 * r
        receipt += [(20, y, 240 + 10 * r, y + 20), (400, y, 470, y + 20)]
    for rects in (table, receipt):
        truth = _page_lines(rects)
        shuffled = [truth[i] for i in np.random.default_rng(1).permutation(len(truth))]
        assert [id(t) for t in reading_order(shuffled)] == [id(t) for t in truth]


def test_a_short_line_takes_its_inks_box_and_a_long_or_crowded_one_keeps_its_own():
    from ctpn.textline import snap_to_ink

    page = np.full((120, 300), 1.0, np.float32)
    page[40:60, 50:70] = 0.0  # a lone character's ink, 20 x 20: a box with a stroke across (日)
    page[42:58, 52:68] = 1.0
    page[49:51, 52:68] = 0.0
    short = TextLine(_rect(52, 44, 70, 58), 0.99, 1)  # the proposals' box misses 4 px above, 2 below
    (got,) = snap_to_ink([short], page)
    assert np.array_equal(got.box, _rect(50, 40, 70, 60)) and got.n == 1 and got.score == short.score
    long = TextLine(_rect(52, 44, 70, 58), 0.99, 4)  # four proposals: its fitted edges stand
    assert snap_to_ink([long], page)[0] is long
    crowded = page.copy()
    crowded[34:40, 40:80] = 0.0  # ink reaching the window's top edge (a line above): no snap
    assert snap_to_ink([short], crowded)[0] is short
    blank = np.full((120, 300), 1.0, np.float32)
    assert snap_to_ink([short], blank)[0] is short
    tall = page.copy()
    tall[20:60, 50:52] = 0.0  # ink twice the line's height (a rule, a figure): no snap
    assert snap_to_ink([short], tall)[0] is short


def _page_with_words(gap: int, noisy: bool = False) -> np.ndarray:
    """A 200 x 400 page with a 20-px line of glyph strokes from x 32 to 192 and an empty stretch of
    ``gap`` px ending at x 120 (``noisy``: busy paper, speckled up to half the ink's contrast)."""
    img = np.full((200, 400, 3), 230, np.uint8)
    if noisy:
        speckle = np.random.default_rng(0).integers(-100, 100, img.shape[:2])[..., None]
        img = np.clip(img.astype(int) + speckle, 0, 255).astype(np.uint8)
    for x in range(34, 190, 6):
        if not 120 - gap <= x < 120:
            img[21:40, x : x + 3] = 30
    return img


def test_a_chain_spanning_a_wide_empty_gap_becomes_two_lines_ending_at_its_ink():
    from ctpn.textline import GAP_CUT, gap_columns

    flat_top, flat_bottom = (0.0, 20.0), (0.0, 40.0)
    wide = int(GAP_CUT * 20) + 10  # wider than GAP_CUT line heights
    page = _page_with_words(wide)
    (gap,) = gap_columns(page.mean(axis=2) / 255.0, 32, 192, flat_top, flat_bottom)
    ink = np.flatnonzero(page[30, :, 0] < 128)
    assert gap == (float(ink[ink < 120].max() + 1), float(ink[ink >= 120].min()))  # from ink to ink
    narrow = int(GAP_CUT * 20) - 10  # a word space, however wide, under GAP_CUT line heights
    assert gap_columns(_page_with_words(narrow).mean(axis=2) / 255.0, 32, 192, flat_top, flat_bottom) == []
    # The margins beyond the line's ends are no gap; nor is a stretch of busy paper.
    assert gap_columns(_page_with_words(0).mean(axis=2) / 255.0, 0, 260, flat_top, flat_bottom) == []
    assert gap_columns(_page_with_words(wide, noisy=True).mean(axis=2) / 255.0, 32, 192, flat_top, flat_bottom) == []
    chain = _chain(range(2, 12), 20, 40)  # x 32 .. 192
    left, right = _lines(chain, image=page)
    assert left.box[:, 0].min() == 32 and left.box[:, 0].max() == gap[0]  # the gap ends it
    assert right.box[:, 0].min() >= gap[1] and right.box[:, 0].max() == 192
    assert left.n + right.n == 7  # the three proposals centred in the gap belong to neither
    (line,) = _lines(chain, image=_page_with_words(narrow))
    assert line.n == 10
