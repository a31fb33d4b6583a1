"""Turn any picture of a handwritten word into what the word model saw in training.

Training renders every synthetic word as a photo-like grey image and runs it through
:func:`normalize_word`, and serving runs uploads and segmented word crops through the same
function, so the network never sees two kinds of input. Steps: ink map (polarity, uneven
light), ruled lines removed, specks dropped, crop to the ink, scale to the model height keeping
the aspect ratio (squeezed only when the word is too long), left-aligned on a blank field.
"""

from __future__ import annotations

import cv2
import numpy as np

from handwrite_digit_ocr.preprocess import ink_map

# A line image of 2000 px must keep its strokes; a word photo is shrunk to this first.
WORK_MAX_SIDE = 1024
# Ink below this (after stretching the strongest ink to 1) is paper texture or JPEG noise.
INK_FLOOR = 0.18
# A ruled line runs across most of the crop; strokes never do.
RULE_MIN_FRAC = 0.6


def remove_rules(ink: np.ndarray) -> np.ndarray:
    """Ink with long thin horizontal lines (ruled paper, form lines) erased."""
    h, w = ink.shape
    if w < 32:
        return ink
    # A low threshold and a vertical smear first: photographed rules are faint, a pixel or two
    # thick and not quite level, and a rule found only in part leaves dashes the model reads.
    mask = cv2.dilate((ink > 0.12).astype(np.uint8), np.ones((3, 1), np.uint8))
    rules = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, max(16, int(w * RULE_MIN_FRAC))), np.uint8))
    if not rules.any():
        return ink
    rules = cv2.dilate(rules, np.ones((5, 7), np.uint8))
    return np.where(rules > 0, 0.0, ink).astype(np.float32)


def ink_bbox(ink: np.ndarray, floor: float = INK_FLOOR) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` (exclusive) around the ink, specks excluded; None when blank."""
    mask = (ink > floor).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    # A speck is tiny next to the whole word; an i-dot or a comma is not (against the total
    # ink, not the largest piece, so print letters written apart all count).
    keep = np.nonzero(areas >= max(3, 0.004 * areas.sum()))[0] + 1
    if len(keep) == 0:
        return None
    s = stats[keep]
    x0, y0 = s[:, cv2.CC_STAT_LEFT].min(), s[:, cv2.CC_STAT_TOP].min()
    x1 = (s[:, cv2.CC_STAT_LEFT] + s[:, cv2.CC_STAT_WIDTH]).max()
    y1 = (s[:, cv2.CC_STAT_TOP] + s[:, cv2.CC_STAT_HEIGHT]).max()
    return int(x0), int(y0), int(x1), int(y1)


def fit_word(ink: np.ndarray, height: int = 32, width: int = 128) -> np.ndarray:
    """A cropped ink map -> ``height`` x ``width`` uint8 (ink 255), aspect kept unless too wide."""
    h, w = ink.shape
    nh = height
    nw = max(1, min(width, round(w * height / h)))
    interp = cv2.INTER_AREA if h > nh else cv2.INTER_LINEAR
    small = np.clip(cv2.resize(ink, (nw, nh), interpolation=interp), 0.0, 1.0)
    out = np.zeros((height, width), np.uint8)
    out[:, :nw] = np.round(small * 255).astype(np.uint8)
    return out


def word_ink(image: np.ndarray) -> np.ndarray:
    """Full-size ink map of a word or line image: float32 [0, 1], 1 = ink, rules removed, contrast
    stretched so the strongest strokes are 1 and paper noise is 0."""
    # Always flattened: a word photographed 40 px high still has shading and a paper gradient,
    # which unflattened read as a block of ink.
    ink = remove_rules(ink_map(image, max_side=WORK_MAX_SIDE, flatten_min_side=0))
    # Paper texture under faint ink survives flattening at a third or so of the stroke contrast:
    # half of Otsu's ink/paper split is below every stroke and above most of the grain.
    otsu, _ = cv2.threshold(np.round(ink * 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    floor = max(INK_FLOOR, 0.5 * otsu / 255)
    ink = np.where(ink > floor, ink, 0.0)
    on = ink[ink > 0]
    if on.size:
        ink = np.clip(ink / max(float(np.percentile(on, 90)), 1e-3), 0.0, 1.0)
    return np.where(ink > INK_FLOOR, ink, 0.0).astype(np.float32)


def normalize_word(image: np.ndarray, height: int = 32, width: int = 128) -> np.ndarray:
    """Any image of one handwritten word -> ``height`` x ``width`` uint8, ink = 255, left-aligned.
    A blank image gives all zeros."""
    ink = word_ink(image)
    box = ink_bbox(ink)
    if box is None:
        return np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = box
    return fit_word(ink[y0:y1, x0:x1], height, width)


def normalize_batch(images, height: int = 32, width: int = 128) -> np.ndarray:
    """List of images -> (N, height, width, 1) float32 in [0, 1] for the model."""
    return (np.stack([normalize_word(im, height, width) for im in images]).astype(np.float32) / 255.0)[..., None]
