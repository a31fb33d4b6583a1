"""Config of a single-character classifier (digits or letters)."""

from __future__ import annotations

from dataclasses import dataclass

DIGITS: tuple[str, ...] = tuple("0123456789")
LETTERS: tuple[str, ...] = tuple("abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class CharConfig:
    """Everything needed to rebuild and feed a trained character model.

    ``labels[i]`` is the text of class ``i``. Images are ``input_size`` squares, float32 in
    ``[0, 1]`` with ink = 1 (MNIST polarity); ``preprocess.normalize_char`` produces them.
    """

    arch: str = "kaggle_cnn"
    labels: tuple[str, ...] = DIGITS
    input_size: int = 28
    width: int = 32  # base filter count for vgg / rcnn
    task: str = "digit"

    @property
    def num_classes(self) -> int:
        return len(self.labels)
