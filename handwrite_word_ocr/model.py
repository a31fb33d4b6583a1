"""CRNN word recognisers (SimpleHTR family): a conv stack that turns a 32-px-high word into a
sequence of ``width / 4`` column features, a sequence head, and per-frame character logits for CTC.

Two heads, same conv stack: ``conv`` (dilated 1-D convolutions; several times the training speed
on a CPU) and ``lstm`` (two bidirectional LSTMs, as SimpleHTR). The training model outputs logits
(``keras.losses.CTC`` wants them); :func:`inference_model` cuts the softmax model out of it.
"""

from __future__ import annotations

import keras
from keras import layers

from handwrite_word_ocr.config import WordConfig
from ocr_common.ctc_model import compile_model, inference_model  # noqa: F401  (the task's API)

CUSTOM_OBJECTS: dict = {}
HEADS = ("conv", "lstm")

# (filters, pool) per conv stage: the first two halve both axes (stride 4 in width), the rest
# halve only the height, down to one row, as SimpleHTR does, so each frame sees a tall strip.
_STAGES = ((32, (2, 2)), (64, (2, 2)), (128, (2, 1)), (128, None), (192, (2, 1)), (192, None), (256, (2, 1)),
           (256, None))


def _conv(x, filters: int, kernel=3, name: str = ""):
    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_model(cfg: WordConfig) -> keras.Model:
    """Training model: ``image`` (height, width, 1) in [0, 1], ink = 1 -> ``logits`` (frames, classes)."""
    if cfg.head not in HEADS:
        raise ValueError(f"unknown head {cfg.head!r}; choose one of {HEADS}")
    if cfg.height != 32 or cfg.width % cfg.stride:
        raise ValueError("the conv stack takes 32-px-high words whose width is a multiple of 4")
    inp = keras.Input((cfg.height, cfg.width, 1), name="image")
    x = inp
    for i, (filters, pool) in enumerate(_STAGES):
        x = _conv(x, filters * cfg.base // 32, name=f"s{i}")
        if pool is not None:
            x = layers.MaxPooling2D(pool, name=f"s{i}_pool")(x)
    x = layers.Reshape((cfg.frames, _STAGES[-1][0] * cfg.base // 32), name="columns")(x)  # height is 1 now
    if cfg.head == "conv":
        for i, d in enumerate((1, 2, 4, 1)):
            y = layers.Conv1D(cfg.units, 3, padding="same", dilation_rate=d, use_bias=False, name=f"h{i}_conv")(x)
            y = layers.BatchNormalization(name=f"h{i}_bn")(y)
            y = layers.ReLU(name=f"h{i}_relu")(y)
            x = y if x.shape[-1] != cfg.units else layers.Add(name=f"h{i}_add")([x, y])
    else:
        for i in range(2):
            x = layers.Bidirectional(layers.LSTM(cfg.units // 2, return_sequences=True), name=f"h{i}_bilstm")(x)
    x = layers.Dropout(0.2, name="drop")(x)
    logits = layers.Dense(len(cfg.chars) + 1, name="logits")(x)
    return keras.Model(inp, logits, name=f"crnn_{cfg.head}")
