"""Real line images drawn again and again, a little different each time.

The real licence plates are few (646 in the training split) and a normalised shard of them is the
same 646 rows on every pass: a network that has seen each a hundred times knows those pixels, not
plates. :class:`RealLines` keeps the photos as they were cut and draws every row afresh from one
of them: the crop's four corners moved (a tighter or looser margin, a slight turn, shear or
perspective), its width stretched a little, then lower resolution, blur, colour and contrast,
noise and JPEG, before :func:`~chinese_ocr.preprocess.normalize_line` makes it a training row.
``python -m chinese_ocr.train`` draws its plate share this way when the plate folder is there
(a GPU bundle without it falls back to the shards).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from chinese_ocr.preprocess import normalize_line, to_gray
from ocr_common.ctc import Charset, encode_labels

# How far each corner of the crop may move, as a share of the line's height: inwards (a tighter
# crop) or outwards (more margin). The ends move inwards less than the top and bottom: a plate's
# first and last characters reach its ends (at a third of the height the province was cut).
CORNER_X = (-0.25, 0.08)
CORNER_Y = (-0.15, 0.10)
STRETCH = 0.12  # the width is scaled by exp(U(-STRETCH, STRETCH))


def warp_crop(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """``image`` re-cut: each corner of the crop moved by its own random amount
    (:data:`CORNER_X`, :data:`CORNER_Y`, positive = inwards) and the quadrilateral warped to a
    rectangle of the same height and a width stretched by up to :data:`STRETCH`; what lies
    outside the photo repeats its border."""
    h, w = image.shape[:2]
    dx = rng.uniform(*CORNER_X, 4) * h
    dy = rng.uniform(*CORNER_Y, 4) * h
    # top-left, top-right, bottom-right, bottom-left; inwards is + for the left and top edges
    src = np.float32([[dx[0], dy[0]], [w - dx[1], dy[1]], [w - dx[2], h - dy[2]], [dx[3], h - dy[3]]])
    out_w = max(4, int(round(w * float(np.exp(rng.uniform(-STRETCH, STRETCH))))))
    dst = np.float32([[0, 0], [out_w, 0], [out_w, h], [0, h]])
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(image, m, (out_w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def photometric(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Lower resolution, blur, colour and contrast, noise and JPEG, each only sometimes; uint8."""
    img = image
    h, w = img.shape[:2]
    if rng.random() < 0.4:  # a more distant or smaller camera: fewer pixels, upscaled later
        s = rng.uniform(0.55, 0.9)
        img = cv2.resize(img, (max(4, round(w * s)), max(4, round(h * s))), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 0.9))
    x = img.astype(np.float32)
    gain = rng.uniform(0.6, 1.25) * (rng.uniform(0.85, 1.15, 3) if x.ndim == 3 else 1.0)
    x = (x - x.mean()) * rng.uniform(0.6, 1.2) + x.mean()  # contrast about the mean
    x = x * gain + rng.uniform(-25, 25)
    if rng.random() < 0.3:
        x = x + rng.normal(0, rng.uniform(2, 8), x.shape[:2] + (1,) * (x.ndim - 2))
    out = np.clip(x, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, jpg = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 95))])
        out = cv2.imdecode(jpg, cv2.IMREAD_UNCHANGED)
    return out


def augment_line(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """One new look of a real line photo: :func:`warp_crop`, then :func:`photometric`."""
    return photometric(rng, warp_crop(rng, np.ascontiguousarray(image)))


class RealLines:
    """Endless training rows from a few real line photos (the stream interface of
    :func:`chinese_ocr.data.iterate_shards`): ``take(n) -> (x (n, height, width) uint8 ink-high,
    y (n, max_len) int32)``, each row one photo drawn at random and :func:`augment_line` -d.
    ``lines``: :class:`chinese_ocr.data.LabelledLine` (or anything with ``image`` and ``text``);
    those the charset cannot write are left out."""

    def __init__(self, lines: Sequence, charset: Charset, max_len: int, *, height: int = 32, width: int = 280,
                 rng: np.random.Generator | None = None):
        y, keep = encode_labels([r.text for r in lines], charset, max_len)
        if not keep.any():
            raise ValueError("no real line that the charset can write and max_len can hold")
        self.images = [r.image for r, k in zip(lines, keep) if k]
        self.y = y[keep]
        self.height, self.width = height, width
        self.rng = rng or np.random.default_rng()

    def __len__(self) -> int:
        return len(self.images)

    def take(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        idx = self.rng.integers(0, len(self.images), n)
        x = [normalize_line(augment_line(self.rng, self.images[i]), self.height, self.width) for i in idx]
        return np.stack(x) if x else np.zeros((0, self.height, self.width), np.uint8), self.y[idx]


def sheet(lines: Sequence, path, looks: int = 5, seed: int = 0, scale: int = 2):
    """A PNG grid: each photo as cut (left) and ``looks`` of its training rows' photos beside it,
    each scaled to the photo's size times ``scale``."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in lines:
        h, w = r.image.shape[:2]
        ims = [r.image] + [augment_line(rng, r.image) for _ in range(looks)]
        ims = [im if im.ndim == 3 else cv2.cvtColor(to_gray(im), cv2.COLOR_GRAY2RGB) for im in ims]
        rows.append(np.hstack([np.pad(cv2.resize(im, (w * scale, h * scale)), ((2, 2), (2, 2), (0, 0)),
                                      constant_values=255) for im in ims]))
    width = max(r.shape[1] for r in rows)
    grid = np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return Path(path)


def main(argv: list[str] | None = None) -> None:
    import argparse

    from chinese_ocr.data import plate_split

    ap = argparse.ArgumentParser(prog="python -m chinese_ocr.augment", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plates", default="../shared/data/plates", help="plate folder (labels.tsv) [%(default)s]")
    ap.add_argument("--n", type=int, default=8, help="photos of the training split [8]")
    ap.add_argument("--looks", type=int, default=5, help="augmented looks of each [5]")
    ap.add_argument("--sheet", default="plates-augmented.png", help="PNG to write [%(default)s]")
    args = ap.parse_args(argv)
    print(sheet(plate_split(args.plates)[0][: args.n], args.sheet, args.looks))


if __name__ == "__main__":
    main()
