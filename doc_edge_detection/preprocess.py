"""Preprocessing shared by training, evaluation and serving: a photo to the network's square."""

from __future__ import annotations

import cv2
import numpy as np


def to_rgb(image: np.ndarray) -> np.ndarray:
    """HxW gray or HxWx3 RGB uint8 -> HxWx3 RGB uint8."""
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def network_input(image: np.ndarray, size: int) -> np.ndarray:
    """The whole photo stretched to ``size`` squared, RGB float32 in ``[0, 1]``. Stretching (not
    letterboxing) keeps every pixel of the network busy and matches the synthetic shards, which are
    rendered at photo aspect ratios and resized the same way; corners scale back per axis."""
    small = cv2.resize(to_rgb(image), (size, size), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0
