"""Config of a Chinese line recogniser, saved as JSON beside its weights (charset included)."""

from __future__ import annotations

from dataclasses import dataclass, field

from chinese_ocr.charset import charset_chars
from ocr_common.ctc_model import CtcFrames


@dataclass(frozen=True)
class ChineseConfig(CtcFrames):
    """Everything needed to rebuild and feed a trained line recogniser.

    A line is normalised by :func:`chinese_ocr.preprocess.normalize_line` to ``height`` px high
    (ink = 1); training uses ``width`` (280) and serving any width that is a multiple of
    ``stride``, the network's downsampling along the line, so a line of W px gives W / stride CTC
    frames (70 for 280 px: a Chinese character is about 8 frames wide, a Latin letter 3-4).
    ``arch``: ``densenet`` (dense blocks, no recurrent layer, as the original chinese_ocr) or
    ``crnn`` (a VGG-style conv stack and one bidirectional LSTM). ``bottleneck``: the features
    per frame before the ~6,900-way classifier, whose cost dominates on a CPU.
    """

    height: int = 32
    width: int = 280
    charset: str = "GB2312"
    chars: str = field(default_factory=charset_chars)
    arch: str = "densenet"
    growth: int = 12  # densenet growth rate (filters added per layer)
    depth: int = 6  # layers per dense block
    base: int = 64  # first conv's filters (crnn: first stage); the others scale with it
    bottleneck: int = 256
    units: int = 128  # crnn: LSTM units per direction
    stride: int = 4
    task: str = "chinese"
