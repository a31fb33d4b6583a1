"""Config of a word recogniser, saved as JSON beside its weights."""

from __future__ import annotations

import string
from dataclasses import dataclass

from ocr_common.ctc_model import CtcFrames

# Letters, digits and the punctuation that handwriting carries; index 0 of the model output is
# the CTC blank (ocr_common.ctc.BLANK), character i of this string is class i + 1. Space is in
# it so that two words a segmenter failed to split can still be read.
WORD_CHARS = string.ascii_letters + string.digits + " .,;:!?'\"-()&/#%+*"


@dataclass(frozen=True)
class WordConfig(CtcFrames):
    """Everything needed to rebuild and feed a trained word model.

    A word image is normalised by :func:`handwrite_word_ocr.preprocess.normalize_word` to
    ``height`` x ``width`` (ink = 1, left-aligned, aspect kept unless the word is too long);
    the network downsamples the width by ``stride`` into ``width / stride`` CTC frames.
    ``head``: ``conv`` (dilated 1-D convolutions) or ``lstm`` (two bidirectional LSTMs).
    """

    height: int = 32
    width: int = 128
    chars: str = WORD_CHARS
    head: str = "conv"
    units: int = 256
    base: int = 32  # filters of the first conv stage; the others scale with it (tests use 4)
    stride: int = 4
    task: str = "word"
