"""Turn any picture of one handwritten character into what the model saw in training.

MNIST was made by fitting each digit's ink into a 20x20 box (aspect kept, anti-aliased)
and centring it by centre of mass in a 28x28 field, white ink on black. A photo of a digit
on paper differs in every respect (dark ink, uneven light, arbitrary size and position,
paper texture), so the same steps are redone here. Training runs every image through
:func:`normalize_char` too, so serving and training see identical inputs.
"""

from __future__ import annotations

import cv2
import numpy as np

# Images at least this large (short side) are treated as photos/scans and get background
# flattening; smaller ones are already character crops (MNIST, EMNIST, letter crops).
_PHOTO_MIN_SIDE = 64
# Larger photos are shrunk first: the output is 20 px tall, and the background estimate
# costs O(kernel^2) per pixel, so a 12 MP photo would otherwise take minutes.
_WORK_MAX_SIDE = 512
_MIN_CONTRAST = 12.0
# Crops are thresholded at this fraction of the strongest ink, far below Otsu's threshold, so
# faint strokes stay ink; and a small piece within _CROP_NEAR of the main strokes (a fraction of
# the crop's longer side) is a broken stroke, not a speck. (Otsu plus despeckling, right for
# photos, split faint strokes into fragments and dropped them: the top bar of a 5, half a 0.)
_CROP_INK_FLOOR = 0.1
_CROP_NEAR = 0.1


def to_gray(image: np.ndarray) -> np.ndarray:
    """HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA, composited on white) -> HxW float32 0..255."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 4:
        rgb = img[..., :3].astype(np.float32)
        alpha = img[..., 3:4].astype(np.float32) / 255.0
        img = rgb * alpha + 255.0 * (1.0 - alpha)
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img.astype(np.float32), cv2.COLOR_RGB2GRAY)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D image or HxWxC with C in 1, 3, 4; got shape {img.shape}")
    return img.astype(np.float32)


def dark_ink(gray: np.ndarray) -> bool:
    """True when the ink is darker than the paper, judged from the border (mostly paper)."""
    h, w = gray.shape
    b = max(1, min(h, w) // 10)
    border = np.concatenate([gray[:b].ravel(), gray[-b:].ravel(), gray[:, :b].ravel(), gray[:, -b:].ravel()])
    return float(np.median(border)) > float(np.median(gray)) or float(np.median(border)) > 127.0


def ink_map(image: np.ndarray, max_side: int = _WORK_MAX_SIDE, flatten_min_side: int = _PHOTO_MIN_SIDE) -> np.ndarray:
    """Ink strength per pixel, float32 in [0, 1], 1 = full ink, whatever the polarity.

    For photos the paper brightness is estimated with a morphological closing (removes
    thin strokes, keeps the slowly varying light) so shadows and gradients do not read as ink.
    Images longer than ``max_side`` are shrunk first (a line of handwriting needs more than a
    character does), so the map may be smaller than the image. Images whose shorter side is under
    ``flatten_min_side`` are taken as clean crops and not flattened.
    """
    image = np.asarray(image)
    h, w = image.shape[:2]
    if max(h, w) > max_side:
        # Shrink before converting to float: a 36 MP RGB upload as float32 would be ~430 MB.
        f = max_side / max(h, w)
        image = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    gray = to_gray(image)
    if dark_ink(gray):
        gray = 255.0 - gray
    h, w = gray.shape
    if min(h, w) >= flatten_min_side:
        k = max(15, (min(h, w) // 8) | 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        # gray is now "ink bright"; the background is the local minimum (opening).
        background = cv2.morphologyEx(gray, cv2.MORPH_OPEN, kernel)
        gray = np.clip(gray - background, 0, None)
    lo = float(np.percentile(gray, 5))
    gray = np.clip(gray - lo, 0, None)
    hi = float(np.percentile(gray, 99.5))
    # Less than this many grey levels between paper and "ink" is noise (JPEG, resampling), not
    # a character: stretching it to full contrast would invent strokes on a blank page.
    if hi < _MIN_CONTRAST:
        return np.zeros_like(gray)
    return np.clip(gray / hi, 0.0, 1.0)


def _ink_mask(ink: np.ndarray) -> np.ndarray:
    """Which pixels are ink: a threshold, then specks far smaller than the main stroke dropped.

    A photo is thresholded by Otsu. A crop (shorter side under ``_PHOTO_MIN_SIDE``, the images
    that also skip background flattening) keeps all ink above ``_CROP_INK_FLOOR``, and a small
    piece lying next to the main strokes stays: a faint stroke broken into fragments is the
    writer's, a speck off to the side is not."""
    u8 = (ink * 255).astype(np.uint8)
    crop = min(ink.shape) < _PHOTO_MIN_SIDE
    if crop:
        mask = (u8 > round(255 * _CROP_INK_FLOOR)).astype(np.uint8) * 255
    else:
        thr, mask = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        if thr < 20:  # near-empty / uniform image: Otsu splits noise; require real contrast
            mask = (u8 > 76).astype(np.uint8) * 255
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 2:
        return mask > 0
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(n, bool)
    keep[1:] = areas >= max(2, 0.08 * areas.max())
    if crop:
        r = max(1, round(_CROP_NEAR * max(ink.shape)))
        near = cv2.dilate(keep[labels].astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
        keep[np.unique(labels[(near > 0) & (labels > 0)])] = True
    return keep[labels]


def normalize_char(image: np.ndarray, size: int = 28, box: int = 20) -> np.ndarray:
    """Any image of one character -> ``size`` x ``size`` float32 in [0, 1], ink = 1.

    Steps (as MNIST was made): ink map (polarity + lighting), threshold and despeckle (see
    ``_ink_mask``: crops keep faint strokes), crop to the ink, resize keeping aspect so the
    longer side is ``box``, paste so the centre of mass sits at the centre. A blank image returns all zeros.
    """
    ink = ink_map(image)
    mask = _ink_mask(ink)
    if not mask.any():
        return np.zeros((size, size), np.float32)
    # Keep anti-aliased grey levels inside a 1-px margin of the mask (soft edges as MNIST).
    soft = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    ink = np.where(soft, ink, 0.0).astype(np.float32)
    ys, xs = np.nonzero(mask)
    crop = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = crop.shape
    scale = box / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(crop, (nw, nh), interpolation=interp)
    small = np.clip(small, 0, None)
    m = small.max()
    if m > 0:
        small = small / m
    total = small.sum()
    cy, cx = ((np.arange(nh) @ small.sum(1)) / total, (np.arange(nw) @ small.sum(0)) / total)
    # MNIST puts the centre of mass at pixel (14, 14) of 28x28, clamped to stay inside.
    oy = int(np.clip(round(size / 2 - cy), 0, size - nh))
    ox = int(np.clip(round(size / 2 - cx), 0, size - nw))
    out = np.zeros((size, size), np.float32)
    out[oy : oy + nh, ox : ox + nw] = small
    return out


def normalize_batch(images, size: int = 28) -> np.ndarray:
    """List/array of images -> (N, size, size, 1) float32 batch for the model."""
    return np.stack([normalize_char(im, size) for im in images])[..., None]
