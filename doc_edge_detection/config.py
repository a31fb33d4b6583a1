"""Config of a document-edge network, saved as JSON beside its weights."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DocEdgeConfig:
    """Everything needed to rebuild and feed a trained document network.

    The whole photo is resized (stretched) to ``input_size`` squared, RGB float32 in ``[0, 1]``;
    outputs are in that square's pixels and are scaled back to the photo separately in x and y.
    ``arch``: ``hed`` (edge map of the page outline) or ``corners`` (four corner heatmaps, read
    out by soft-argmax). ``width``: channels of the first stage; stages double it up to 8x.
    """

    arch: str = "hed"
    input_size: int = 256
    width: int = 16
    task: str = "doc-edges"

    def stage_widths(self, stages: int = 5) -> tuple[int, ...]:
        return tuple(self.width * min(2**i, 8) for i in range(stages))
