"""Cut a picture of handwritten phrases or lines into word boxes in reading order.

The recogniser reads one word at a time, so a phrase or a page must first be split into words.
This follows the scale-space idea of Manmatha & Srimal ("Scale space technique for word
segmentation in handwritten manuscripts", 1999): blur the ink with an anisotropic Gaussian
elongated along the text line (``sigma_x = theta * sigma_y``), so that the small gaps between
letters fill in while the wider gaps between words stay open, and take the blobs as words.

Where they search over scales for the one at which blobs are words, the scale here comes from
the x-height measured on the image itself (:func:`text_height`), so one setting serves a 40 px
word crop, a 2000 px scanned line and a photographed page. The blur runs at a small base scale
that joins the strokes of letters; whether the gap between two neighbouring blobs is a word
space is then decided on the gap itself, measured row by row (as the blur would see it at the
scale that just bridges it, but exact for slanted writing and cheaper than many blurs).

Around that core: an ink map that copes with either polarity, faint pencil and paper shading;
ruled lines erased before anything is measured (they would join every word on a line); dots,
commas, quote marks and t-bars merged into the nearest word (they are part of it: ``Dr.``,
``"The``); line blobs at a large scale say which words share a line; boxes come out top to
bottom, left to right.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from handwrite_digit_ocr.preprocess import to_gray
from ocr_common.image import load_image_file

# The paper estimate runs on a copy shrunk to this longer side: it varies slowly, and a full
# resolution closing of a phone photo would take seconds.
_BG_MAX_SIDE = 800
# Fewer grey levels than this between paper and the darkest marks is JPEG noise or paper grain,
# not writing: stretching it to full contrast would invent words on a blank page.
_MIN_CONTRAST = 20.0
# Hysteresis thresholds on the ink map: a stroke is ink where it reaches STRONG somewhere, and
# extends down to WEAK, so faint pencil keeps its thin connecting strokes without paper grain.
_STRONG = 0.5
_WEAK = 0.25
# A ruled line runs across most of the image; no pen stroke does. Ink covers at least this
# share of its length, and its centre strays this many pixels at most (median) from a straight
# line: the tops of a row of letters are gappy and wavy.
_RULE_MIN_FRAC = 0.5
_RULE_COVER = 0.7
_RULE_WOBBLE = 1.0
_RULE_WORK_SIDE = 1200
# The blur runs on a copy shrunk so that the x-height is about this many pixels: the same pixel
# sizes then mean the same thing for a 40 px crop and a 4000 px photo, and a photo costs no more.
_WORK_XHEIGHT = 16.0
# A gap is bridged where the blurred ink is at least this fraction of the strongest nearby; for
# two inked regions that bridges gaps up to about 1.35 sigma_x.
_BLOB_LEVEL = 0.5
# The blur itself runs on a further shrunk copy where sigma_y is about this many pixels.
_BLUR_SIGMA_Y_PX = 1.5
# Base scale, sigma_x in x-heights: joins the strokes of a letter and letters set close
# (type: under 0.2 x-heights apart), never two words.
_BASE_SIGMA_X = 0.25
# Lines: blobs at this sigma_x (x-heights) with almost no vertical blur run along a whole line.
_LINE_SIGMA_X = 1.5
_LINE_SIGMA_Y = 0.05
# The word space in x-heights: gaps (row by row, between base-scale blobs) at least this wide
# separate words. Handwritten words are usually a full x-height or more apart, while the gaps
# inside a word (pen lifts, spaced-out print letters) stay under about 0.6; type sets words
# 0.7-0.9 x-heights apart, so typeset text is at the limit.
_WORD_SPACE = 0.7
# A piece lower than this (x-heights) cannot be a word: a bar, a dash, a tilde, a rule remnant.
_FLAT = 0.5
# A stray mark further than this many x-heights from every word is noise, not punctuation.
_MERGE_DIST = 1.5

T = TypeVar("T")


@dataclass(frozen=True)
class WordBox:
    """One word: pixel box (``x1``, ``y1`` exclusive) and the index of its line, top line 0."""

    x0: int
    y0: int
    x1: int
    y1: int
    line: int

    @property
    def box(self) -> list[int]:
        """``[x0, y0, x1, y1]``, the form the HTTP answer uses."""
        return [self.x0, self.y0, self.x1, self.y1]


def ink_map(image: np.ndarray) -> np.ndarray:
    """Ink strength per pixel at full resolution, float32 in [0, 1], ink = 1, either polarity.

    The paper brightness is estimated by a morphological closing (which removes thin strokes and
    keeps slow shading) and subtracted, then the contrast is stretched so that typical ink is 1:
    faint pencil then reads as ink and a shadow across the page does not.
    """
    gray = _gray(image)
    h, w = gray.shape
    if gray.size == 0:
        return np.zeros((h, w), np.float32)
    if _light_ink(gray):
        gray = 255.0 - gray
    diff = np.maximum(_paper(gray) - gray, 0.0)
    if float(diff.max()) < _MIN_CONTRAST:
        return np.zeros((h, w), np.float32)
    # Otsu on the difference separates paper grain from strokes; the upper quartile of the
    # strokes is "full ink", so a few very dark blots do not make the rest look faint.
    d8 = np.clip(diff, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(d8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    strokes = diff[diff > max(float(otsu), _MIN_CONTRAST / 2)]
    full = max(float(np.percentile(strokes, 75)) if strokes.size else 0.0, _MIN_CONTRAST)
    return np.clip(diff / full, 0.0, 1.0).astype(np.float32)


def segment_words(
    image: np.ndarray,
    *,
    theta: float = 7.0,
    scale: float | None = None,
    min_area_frac: float = 0.5,
) -> list[WordBox]:
    """Word boxes in reading order (lines top to bottom, words left to right); ``[]`` if no ink.

    ``theta``: how much wider than tall the blur is (``sigma_x = theta * sigma_y``).
    ``scale``: ``None`` blurs at a base scale set from the measured x-height (:func:`text_height`)
    and splits words where the gap between blobs is at least ``_WORD_SPACE`` x-heights; a number
    is a fixed ``sigma_y`` in pixels of ``image`` whose blobs are taken as the words, as in the
    single-scale form of the method. ``min_area_frac``: a mark whose bounding square is smaller
    than this fraction of the squared x-height (a dot, comma, quote mark or speck) is not a word
    of its own; it joins the nearest word, or is dropped as noise when no word is near. So does
    a mark lower than half an x-height (a t-bar, a hyphen, what is left of a rule).
    """
    ink = remove_rules(binarize(ink_map(image)))
    if not ink.any():
        return []
    xh = text_height(ink)
    f = min(1.0, _WORK_XHEIGHT / xh)
    work = _shrink_mask(ink, f)
    size = (ink.shape[1], ink.shape[0])
    sigma_x = (theta * float(scale) if scale else _BASE_SIGMA_X * xh) * f
    pieces = _upscale_labels(_blob_labels(work, sigma_x, sigma_x / theta, xh * f), f, size)
    lines = _upscale_labels(_blob_labels(work, _LINE_SIGMA_X * xh * f, _LINE_SIGMA_Y * xh * f, xh * f), f, size)
    ids, boxes = _ink_boxes(pieces, ink)
    line_ids, line_boxes = _ink_boxes(lines, ink)
    groups = _line_groups(line_boxes)
    line_of_blob = {line_ids[i]: k for k, group in enumerate(groups) for i in group}
    line_of = {piece: line_of_blob.get(blob, 0) for piece, blob in _majority(pieces, lines, ink).items()}
    members = [([line_ids[i] for i in group], [line_boxes[i] for i in group]) for group in groups]

    # Not a word: a mark too small, too flat, or short and clear of the middle of its line's
    # core band there, which every word crosses (quotes and apostrophes sit above, commas below).
    min_side = np.sqrt(min_area_frac) * xh
    small = []
    for i, (x0, y0, x1, y1) in zip(ids, boxes):
        mark = max(x1 - x0, y1 - y0) < min_side or y1 - y0 < _FLAT * xh
        if not mark and y1 - y0 < xh:
            reach = int(2 * xh)
            mid = _core_middle(lines, ink, *members[line_of.get(i, 0)], (x0 - reach, x1 + reach))
            mark = y1 <= mid or y0 >= mid
        small.append(mark)
    if all(small):  # nothing but small marks (a lone dash, a dot): they are the writing
        small = [False] * len(boxes)
    marks = [b for b, s in zip(boxes, small) if s]
    by_line: dict[int, list[tuple[tuple[int, int, int, int], int]]] = {}
    for i, b, s in zip(ids, boxes, small):
        if not s:
            by_line.setdefault(line_of.get(i, 0), []).append((b, i))
    gaps = {}
    for line, items in by_line.items():
        items.sort()
        gaps[line] = _row_gaps(items, pieces, ink)
    # A fixed scale makes its blobs the words (joined only where they interleave).
    space = 0.0 if scale else _WORD_SPACE * xh
    words = [(w, line) for line, items in by_line.items() for w in _join(items, gaps[line], space)]
    words = _attach_marks(words, marks, _MERGE_DIST * xh)
    ranks = {line: r for r, line in enumerate(sorted({line for _, line in words}))}
    return [WordBox(*w, line=ranks[line]) for w, line in sorted(words, key=lambda t: (ranks[t[1]], t[0][0]))]


def group_lines(boxes: Sequence[T]) -> list[list[T]]:
    """Boxes (``WordBox`` or ``[x0, y0, x1, y1]``) grouped into text lines, top line first,
    each line left to right."""
    return [[boxes[i] for i in group] for group in _line_groups([_xyxy(b) for b in boxes])]


def _line_groups(coords: Sequence[tuple[int, int, int, int]]) -> list[list[int]]:
    """:func:`group_lines` on plain ``(x0, y0, x1, y1)`` tuples, as lists of indices.

    The full-height boxes make the lines: walking left to right, each joins the line whose last
    box it overlaps most vertically (at least half of the shorter height), which follows lines
    that slope. Short boxes (dots, commas, a lone "a") only join afterwards, the line of the
    nearest box they overlap by half their height: as line seeds they would match two lines."""
    if not coords:
        return []
    heights = np.array([max(1, c[3] - c[1]) for c in coords], np.float64)
    widths = np.array([max(1, c[2] - c[0]) for c in coords], np.float64)
    tall = heights >= 0.5 * _weighted_median(heights, widths)
    order = sorted(range(len(coords)), key=lambda i: (coords[i][0], coords[i][1]))
    lines: list[list[int]] = []
    for i in (i for i in order if tall[i]):
        best, best_overlap = -1, 0.5
        for k, line in enumerate(lines):
            overlap = _v_overlap(coords[i], coords[line[-1]])
            if overlap >= best_overlap:
                best, best_overlap = k, overlap
        if best < 0:
            lines.append([i])
        else:
            lines[best].append(i)
    for i in (i for i in order if not tall[i]):
        x0, _, x1, _ = coords[i]
        best, best_dist = -1, np.inf
        for k, line in enumerate(lines):
            for j in line:
                dist = max(0, coords[j][0] - x1, x0 - coords[j][2])
                if _v_overlap(coords[i], coords[j]) >= 0.5 and dist < best_dist:
                    best, best_dist = k, dist
        if best < 0:
            lines.append([i])
        else:
            lines[best].append(i)
    for line in lines:
        line.sort(key=lambda i: (coords[i][0], coords[i][1]))
    lines.sort(key=lambda line: float(np.median([(coords[i][1] + coords[i][3]) / 2 for i in line])))
    return lines


def _v_overlap(a: Sequence[int], b: Sequence[int]) -> float:
    """Vertical overlap of two boxes as a share of the shorter one's height."""
    return (min(a[3], b[3]) - max(a[1], b[1])) / max(1, min(a[3] - a[1], b[3] - b[1]))


def crop_words(image: np.ndarray, boxes: Sequence[WordBox | Sequence[int]], pad: int = 4) -> list[np.ndarray]:
    """One copy of ``image`` per box, grown by ``pad`` pixels on each side (clipped to the image),
    so the recogniser sees a little paper around the strokes as it did in training."""
    image = np.asarray(image)
    h, w = image.shape[:2]
    crops = []
    for b in boxes:
        x0, y0, x1, y1 = _xyxy(b)
        crops.append(image[max(0, y0 - pad) : min(h, y1 + pad), max(0, x0 - pad) : min(w, x1 + pad)].copy())
    return crops


def binarize(ink: np.ndarray) -> np.ndarray:
    """Ink map -> bool mask by hysteresis: faint strokes stay connected, grain does not appear."""
    weak = (ink >= _WEAK).astype(np.uint8)
    if not weak.any():
        return weak.astype(bool)
    n, labels = cv2.connectedComponents(weak, connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[ink >= _STRONG])] = True
    keep[0] = False
    return keep[labels]


def remove_rules(mask: np.ndarray) -> np.ndarray:
    """Bool ink mask with long thin straight horizontal lines (ruled paper, form lines) erased.

    A rule touches every word on its line and would make the whole line one blob, and its
    broken remnants would pass for dashes. Candidates are long runs in a mask smeared a little
    vertically (a photographed rule is not quite level) and along the row (a faint one is
    broken); a candidate is a rule only if ink covers most of its length along a straight,
    thin path, which the tops of a row of letters never do. Only thin ink goes, and along the
    whole row to the rule's broken ends: a stroke crossing the rule keeps its pixels there."""
    h, w = mask.shape
    if w < 32 or h < 3:
        return mask
    # Rules are found on a copy at most _RULE_WORK_SIDE long (any ink in a block keeps it, so
    # a thin rule survives): long kernels on a 12 MP photo would cost seconds.
    f = min(1.0, _RULE_WORK_SIDE / max(h, w))
    m = _shrink_mask(mask, f).astype(np.uint8)
    sh, sw = m.shape
    tol = max(3, sh // 40) | 1
    smeared = cv2.dilate(m, np.ones((tol, 1), np.uint8))
    smeared = cv2.morphologyEx(smeared, cv2.MORPH_CLOSE, np.ones((1, max(3, sw // 40) | 1), np.uint8))
    length = max(16, int(sw * _RULE_MIN_FRAC))
    candidates = cv2.morphologyEx(smeared, cv2.MORPH_OPEN, np.ones((1, length), np.uint8))
    if not candidates.any():
        return mask
    n, labels, stats, _ = cv2.connectedComponentsWithStats(candidates, connectivity=8)
    rules = np.zeros_like(m)
    thickness = []
    for i in range(1, n):
        x, y, bw, bh, _ = stats[i]
        band = m[y : y + bh, x : x + bw].astype(bool) & (labels[y : y + bh, x : x + bw] == i)
        cols = band.any(axis=0)
        if cols.mean() < _RULE_COVER:
            continue
        counts = band.sum(axis=0)[cols]
        centre = (band * np.arange(bh)[:, None]).sum(axis=0)[cols] / counts
        xs = np.flatnonzero(cols)
        # Fit the straight path through columns no thicker than the rule typically is: where a
        # letter sits on the rule its column centre moves up, and would tilt the fit.
        thin = counts <= 2 * np.median(counts)
        slope, offset = np.polyfit(xs[thin], centre[thin], 1)
        if np.median(np.abs(centre[thin] - (slope * xs[thin] + offset))) > _RULE_WOBBLE:
            continue
        rules[y : y + bh, x : x + bw] |= (labels[y : y + bh, x : x + bw] == i).astype(np.uint8)
        thickness.append(float(np.median(counts)))
    if not thickness:
        return mask
    along = cv2.dilate(rules, np.ones((tol, length // 2 | 1), np.uint8))
    if f < 1.0:
        along = cv2.resize(along, (w, h), interpolation=cv2.INTER_NEAREST)
    run = int(np.ceil(2 * np.median(thickness) / f)) + 1
    tall = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((max(3, run), 1), np.uint8))
    return mask & ~(along.astype(bool) & ~tall.astype(bool))


def text_height(mask: np.ndarray) -> float:
    """Typical x-height of the writing in pixels (the height of the core band, where letters
    without ascenders or descenders live).

    The height of connected ink pieces is a poor ruler: printed letters are pieces of one
    x-height, cursive words are pieces of ascender-to-descender height, twice as tall. So that
    rough size only joins words into line pieces, and each line piece's core band is read from
    its row profile (:func:`_core_band`)."""
    rough = _piece_height(mask)
    m = mask.astype(np.uint8)
    joined = cv2.dilate(m, np.ones((1, 2 * int(rough) + 1), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    cores, weights = [], []
    for i in range(1, n):
        x, y, w, h, _ = stats[i]
        if w < 2 * rough or h < 0.5 * rough:
            continue  # a lone letter, a mark or a rule remnant: no core band to read
        ink = m[y : y + h, x : x + w] * (labels[y : y + h, x : x + w] == i)
        profile = ink.sum(axis=1)
        top, bottom = _core_band(profile)
        cores.append(bottom - top + 1)
        weights.append(int(profile.sum()))
    if not cores:
        return rough
    return max(1.0, _weighted_median(np.array(cores, np.float64), np.array(weights, np.float64)))


def _core_band(profile: np.ndarray) -> tuple[int, int]:
    """First and last row of the core band in a line's row profile (ink per row): the rows
    around the densest one holding at least half as much ink as a typical dense row. Half of
    a high percentile rather than of the peak: serifs and a ruled baseline make a few rows far
    denser than the rest of the band."""
    peak = int(np.argmax(profile))
    above = profile >= 0.5 * np.percentile(profile[profile > 0], 90)
    top = peak
    while top > 0 and above[top - 1]:
        top -= 1
    bottom = peak
    while bottom < len(profile) - 1 and above[bottom + 1]:
        bottom += 1
    return top, bottom


def _piece_height(mask: np.ndarray) -> float:
    """Median height of connected ink pieces, weighted by ink (so specks and i-dots count for
    little): a rough size of the writing, within a factor of two of the x-height."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return 1.0
    heights = stats[1:, cv2.CC_STAT_HEIGHT].astype(np.float64)
    return max(1.0, _weighted_median(heights, stats[1:, cv2.CC_STAT_AREA].astype(np.float64)))


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2)])


def count_report(folder: str | Path) -> dict:
    """Word counts found vs. labelled on the ``line`` images of a words_dev-style folder
    (``labels.tsv`` with columns ``file, kind, text, ...``; lines of one image joined by ``|``).

    Counts are a cheap proxy for segmentation quality that needs no box annotations: a wrong
    count means a split or merged word. Also reports how often a single-word image gives one box.
    """
    folder = Path(folder)
    per_image = []
    single_ok = single_n = 0
    with open(folder / "labels.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    for row in rows:
        found = len(segment_words(load_image_file(folder / row["file"])))
        if row["kind"] == "word":
            single_n += 1
            single_ok += found == 1
        elif row["kind"] == "line":
            truth = len(row["text"].replace("|", " ").split())
            per_image.append({"file": row["file"], "true": truth, "found": found})
    errors = [abs(r["found"] - r["true"]) for r in per_image]
    return {
        "line_images": len(per_image),
        "exact_share": sum(e == 0 for e in errors) / max(1, len(errors)),
        "mean_abs_error": float(np.mean(errors)) if errors else 0.0,
        "word_images": single_n,
        "word_images_one_box_share": single_ok / max(1, single_n),
        "per_image": per_image,
    }


def _gray(image: np.ndarray) -> np.ndarray:
    """Float32 grey levels 0..255; uint8 RGB is converted before widening (a 12 MP photo as
    float RGB first costs a second and 140 MB)."""
    image = np.asarray(image)
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return to_gray(image)


def _light_ink(gray: np.ndarray) -> bool:
    """True for light writing on a dark ground. Paper is most of any picture of writing, so the
    median is paper; it lies nearer the bright end of the range when the ink is dark."""
    lo, med, hi = np.percentile(gray, [1, 50, 99])
    return bool(med - lo < hi - med)


def _paper(gray: np.ndarray) -> np.ndarray:
    """Paper brightness under dark ink, full size: closing (local max then min) on a shrunk copy
    with a window wider than any stroke, smoothed so its block edges do not show as ink."""
    h, w = gray.shape
    f = min(1.0, _BG_MAX_SIDE / max(h, w))
    small = cv2.resize(gray, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    k = int(np.clip(min(small.shape) // 3, 5, 41)) | 1
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    paper = cv2.GaussianBlur(paper, (0, 0), k / 4)
    paper = cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.maximum(paper, gray)


def _shrink_mask(mask: np.ndarray, f: float) -> np.ndarray:
    """Bool mask scaled by ``f`` <= 1; a small pixel is ink if any ink falls in it, so thin
    strokes survive and every full-size ink pixel lands on small ink."""
    if f >= 1.0:
        return mask.copy()
    h, w = mask.shape
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0


def _blob_labels(mask: np.ndarray, sigma_x: float, sigma_y: float, xheight: float) -> np.ndarray:
    """Connected blobs (int32 labels, 0 = none) of the ink plus the gaps the anisotropic blur
    bridges at this scale.

    A gap is bridged when its blurred ink is at least _BLOB_LEVEL of the strongest blurred ink
    nearby (within 2 sigma_x across and half an x-height up or down): relative, so thin pens
    and thick markers behave alike, and compared with the dense core of the line so that two
    lone strokes facing each other across a word space (the edges of an "s" and an "o") are not
    joined. For two inked regions a gap g apart this bridges g up to about 1.35 sigma_x.
    The blur runs on a copy shrunk so sigma_y is a pixel or two: the blur is smooth, and a
    page-wide sigma_x at full size would cost seconds."""
    h, w = mask.shape
    f = min(1.0, _BLUR_SIGMA_Y_PX / max(sigma_y, 1e-6))
    small = cv2.resize(
        mask.astype(np.float32), (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA
    )
    blurred = cv2.GaussianBlur(small, (0, 0), sigmaX=max(sigma_x * f, 0.3), sigmaY=max(sigma_y * f, 0.3))
    kx = 2 * int(np.ceil(2 * sigma_x * f)) + 1
    ky = 2 * int(np.ceil(0.5 * xheight * f)) + 1
    nearby = cv2.dilate(blurred, np.ones((ky, kx), np.uint8))
    ratio = cv2.resize(blurred / np.maximum(nearby, 1e-6), (w, h), interpolation=cv2.INTER_LINEAR)
    blobs = mask | (ratio >= _BLOB_LEVEL)
    _, labels = cv2.connectedComponents(blobs.astype(np.uint8), connectivity=8)
    return labels


def _extents(lab: np.ndarray, xs: np.ndarray, ys: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """Per label: min x, max x, min y, max y (inclusive) of the given pixels."""
    big = np.iinfo(np.int64).max
    x0, y0 = np.full(n, big), np.full(n, big)
    x1, y1 = np.full(n, -1), np.full(n, -1)
    np.minimum.at(x0, lab, xs)
    np.maximum.at(x1, lab, xs)
    np.minimum.at(y0, lab, ys)
    np.maximum.at(y1, lab, ys)
    return x0, x1, y0, y1


def _ink_boxes(labels: np.ndarray, ink: np.ndarray) -> tuple[list[int], list[tuple[int, int, int, int]]]:
    """Labels present on ink, and the bounding box of the ink (not of the blurred blob) of each."""
    ys, xs = np.nonzero(ink)
    lab = labels[ys, xs]
    keep = lab > 0
    ys, xs, lab = ys[keep], xs[keep], lab[keep]
    x0, x1, y0, y1 = _extents(lab, xs, ys, int(labels.max()) + 1)
    ids = [int(i) for i in np.unique(lab)]
    return ids, [(int(x0[i]), int(y0[i]), int(x1[i]) + 1, int(y1[i]) + 1) for i in ids]


def _core_middle(
    labels: np.ndarray, ink: np.ndarray, ids: list[int], boxes: list[tuple[int, int, int, int]], span: tuple[int, int]
) -> float:
    """Middle row of the core band of one text line (the given line blobs) between columns
    ``span``: measured locally, because lines slope."""
    top, bottom = min(b[1] for b in boxes), max(b[3] for b in boxes)
    profile = np.zeros(bottom - top, np.int64)
    for i, (x0, y0, x1, y1) in zip(ids, boxes):
        x0, x1 = max(x0, span[0]), min(x1, span[1])
        if x1 > x0:
            profile[y0 - top : y1 - top] += ((labels[y0:y1, x0:x1] == i) & ink[y0:y1, x0:x1]).sum(axis=1)
    if not profile.any():
        return (top + bottom) / 2
    lo, hi = _core_band(profile)
    return top + (lo + hi + 1) / 2


def _majority(pieces: np.ndarray, lines: np.ndarray, ink: np.ndarray) -> dict[int, int]:
    """For each piece label, the line blob label holding most of its ink."""
    ys, xs = np.nonzero(ink)
    p, q = pieces[ys, xs].astype(np.int64), lines[ys, xs].astype(np.int64)
    base = int(q.max()) + 1
    keys, counts = np.unique(p * base + q, return_counts=True)
    owner: dict[int, tuple[int, int]] = {}
    for key, c in zip(keys, counts):
        piece, line = divmod(int(key), base)
        if c > owner.get(piece, (-1, 0))[0]:
            owner[piece] = (int(c), line)
    return {piece: line for piece, (_, line) in owner.items()}


def _upscale_labels(labels: np.ndarray, f: float, size: tuple[int, int]) -> np.ndarray:
    """Work-copy labels at full size. Nearest-neighbour upscaling can miss a blob by a pixel at
    its rim; a 3x3 max first gives every full-size ink pixel the label of its blob."""
    if f >= 1.0:
        return labels
    grown = cv2.dilate(labels.astype(np.float32), np.ones((3, 3), np.uint8))
    return cv2.resize(grown, size, interpolation=cv2.INTER_NEAREST).astype(np.int32)


def _row_gaps(items: list[tuple[tuple[int, int, int, int], int]], labels: np.ndarray, ink: np.ndarray) -> list[float]:
    """Gap before each piece of a line (sorted by x0) after the first: the narrowest horizontal
    space between its ink and the ink of the pieces left of it, row by row where both have ink
    (the box gap where no row has both). Row by row, because slanted writing has boxes that
    nearly touch across a clear word space; negative where the pieces interleave."""
    top = min(b[1] for b, _ in items)
    right = np.full(max(b[3] for b, _ in items) - top, -np.inf)
    union_x1 = items[0][0][2]
    gaps = []
    for k, ((x0, y0, x1, y1), label) in enumerate(items):
        m = (labels[y0:y1, x0:x1] == label) & ink[y0:y1, x0:x1]
        has = m.any(axis=1)
        left = np.where(has, x0 + m.argmax(axis=1), np.inf)
        rightmost = np.where(has, x1 - 1 - m[:, ::-1].argmax(axis=1), -np.inf)
        before = right[y0 - top : y1 - top]
        if k > 0:
            both = has & np.isfinite(before)
            gaps.append(float(np.min(left[both] - before[both] - 1)) if both.any() else float(x0 - union_x1))
        right[y0 - top : y1 - top] = np.maximum(before, rightmost)
        union_x1 = max(union_x1, x1)
    return gaps


def _join(
    items: list[tuple[tuple[int, int, int, int], int]], gaps: list[float], space: float
) -> list[tuple[int, int, int, int]]:
    """Boxes of a line's pieces joined across gaps narrower than ``space``, and wherever they
    interleave (a t-stem under its bar, an accent over its letter)."""
    words: list[list[int]] = []
    for k, (b, _) in enumerate(items):
        if k and gaps[k - 1] < max(space, 1e-9):
            w = words[-1]
            w[:] = [min(w[0], b[0]), min(w[1], b[1]), max(w[2], b[2]), max(w[3], b[3])]
        else:
            words.append(list(b))
    return [(w[0], w[1], w[2], w[3]) for w in words]


def _attach_marks(
    words: list[tuple[tuple[int, int, int, int], int]], marks: list[tuple[int, int, int, int]], max_dist: float
) -> list[tuple[tuple[int, int, int, int], int]]:
    """Marks too small or flat to be a word join the nearest word (or vanish when none is near).

    Nearness is the gap between boxes with vertical distance counted double, so a full stop
    joins the word it ends rather than the word above it on the previous line."""
    boxes = np.array([w for w, _ in words], np.float64).reshape(-1, 4)
    for b in marks:
        dx = np.maximum(0, np.maximum(boxes[:, 0] - b[2], b[0] - boxes[:, 2]))
        dy = np.maximum(0, np.maximum(boxes[:, 1] - b[3], b[1] - boxes[:, 3]))
        dist = np.hypot(dx, 2 * dy)
        k = int(np.argmin(dist))
        if dist[k] <= max_dist:
            boxes[k, :2] = np.minimum(boxes[k, :2], b[:2])
            boxes[k, 2:] = np.maximum(boxes[k, 2:], b[2:])
    return [((int(x0), int(y0), int(x1), int(y1)), line) for (x0, y0, x1, y1), (_, line) in zip(boxes, words)]


def _xyxy(b: object) -> tuple[int, int, int, int]:
    if isinstance(b, WordBox):
        return b.x0, b.y0, b.x1, b.y1
    x0, y0, x1, y1 = b  # type: ignore[misc]
    return int(x0), int(y0), int(x1), int(y1)


def main(argv: list[str] | None = None) -> None:
    """``python -m handwrite_word_ocr.segment FOLDER``: print :func:`count_report` as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="folder with labels.tsv and its images (e.g. words_dev)")
    print(json.dumps(count_report(parser.parse_args(argv).folder), indent=2))


if __name__ == "__main__":
    main()
