"""Config of a CTPN text-line detector, saved as JSON beside its weights."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CTPNConfig:
    """Everything needed to rebuild and feed a trained CTPN.

    The image (RGB float32 in ``[0, 1]``, any size) is resized so that its long side is at most
    ``max_side`` and its short side at least ``min_side``; the backbone pools four times, so each
    output cell covers a ``stride`` (16) px wide column and predicts ``k`` anchors of width
    ``anchor_width`` and heights ``anchor_heights`` centred on the cell (Tian et al. 2016, sec. 3.1).

    The paper uses ten heights from 11 to 273 px (x 1/0.7 each) for scene text; text on the pages
    here is 12-64 px high, so the eight heights 11..134 cover it (a strip matches an anchor at
    IoU >= 0.7 within a factor 1/0.7 of its height) and the two tallest would only add negatives.
    ``base``: filters of the first backbone stage; the stages are base, 2, 4 and 8 x base (tests use 4).
    ``rnn_units``: GRU units per direction of the row-wise bidirectional RNN.
    """

    base: int = 32
    rnn_units: int = 64
    fc_units: int = 256
    stride: int = 16  # fixed: the backbone pools four times
    anchor_width: int = 16
    anchor_heights: tuple[int, ...] = (11, 16, 22, 32, 46, 66, 94, 134)
    max_side: int = 960
    min_side: int = 32
    task: str = "ctpn"

    @property
    def k(self) -> int:
        """Anchors per feature-map cell."""
        return len(self.anchor_heights)
