"""Chinese line recognisers for CTC: per-frame character logits from a 32-px-high line.

* ``densenet`` (default, the original chinese_ocr's design): a 5x5 stem, three dense blocks
  (each layer BN-ReLU-conv3x3 adding ``growth`` channels, concatenated), transitions that halve
  the height (and the width once), no recurrent layer: every frame sees a context of about 2.5
  characters through the stacked 3x3 convolutions.
* ``crnn``: a VGG-style conv stack down to one row and one bidirectional LSTM.

Both end in a ``bottleneck`` projection per frame and the ~6,900-way classifier ``logits``
(``keras.losses.CTC`` wants logits, class 0 the blank). Width is free (``None``), so a served line
keeps its aspect; :func:`inference_model` cuts the softmax model out of the training model.
"""

from __future__ import annotations

import keras
from keras import layers

from chinese_ocr.config import ChineseConfig
from ocr_common.ctc_model import compile_model, inference_model  # noqa: F401  (the task's API)

CUSTOM_OBJECTS: dict = {}
ARCHS = ("densenet", "crnn")


def _bn_relu(x, name: str):
    return layers.ReLU(name=f"{name}_relu")(layers.BatchNormalization(name=f"{name}_bn")(x))


def _dense_block(x, depth: int, growth: int, name: str):
    for i in range(depth):
        y = layers.Conv2D(growth, 3, padding="same", use_bias=False, name=f"{name}_l{i}_conv")(
            _bn_relu(x, f"{name}_l{i}"))
        x = layers.Concatenate(name=f"{name}_l{i}_cat")([x, y])
    return x


def _transition(x, filters: int, pool, name: str):
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_conv")(_bn_relu(x, name))
    return layers.AveragePooling2D(pool, name=f"{name}_pool")(x)


def _densenet(x, cfg: ChineseConfig):
    # 32 x W -> stem (stride 2) 16 x W/2 -> t1 (2, 2) 8 x W/4 -> t2 (2, 1) 4 x W/4 -> t3 (2, 1) 2 x W/4.
    x = layers.Conv2D(cfg.base, 5, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    filters = cfg.base
    for b, pool in enumerate(((2, 2), (2, 1), (2, 1))):
        x = _dense_block(x, cfg.depth, cfg.growth, f"b{b}")
        filters = filters // 2 + cfg.depth * cfg.growth // 2 + cfg.base // 2
        x = _transition(x, filters, pool, f"t{b}")
    x = _dense_block(x, cfg.depth, cfg.growth, "b3")
    return _bn_relu(x, "out")


def _conv(x, filters: int, name: str):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    return _bn_relu(x, name)


def _crnn(x, cfg: ChineseConfig):
    b = cfg.base
    for i, (filters, pool) in enumerate(((b, (2, 2)), (2 * b, (2, 2)), (4 * b, None), (4 * b, (2, 1)),
                                         (6 * b, None), (6 * b, (2, 1)), (6 * b, (2, 1)))):
        x = _conv(x, filters, f"s{i}")
        if pool is not None:
            x = layers.MaxPooling2D(pool, name=f"s{i}_pool")(x)
    return x


def build_model(cfg: ChineseConfig) -> keras.Model:
    """Training model: ``image`` (height, None, 1) in [0, 1], ink = 1 -> ``logits`` (W / stride, classes)."""
    if cfg.arch not in ARCHS:
        raise ValueError(f"unknown arch {cfg.arch!r}; choose one of {ARCHS}")
    if cfg.height != 32 or cfg.stride != 4:
        raise ValueError("the recognisers take 32-px-high lines and downsample the width by 4")
    inp = keras.Input((cfg.height, None, 1), name="image")
    x = _densenet(inp, cfg) if cfg.arch == "densenet" else _crnn(inp, cfg)
    # (B, h, W/4, C) -> (B, W/4, h * C): the remaining rows become features of their frame.
    x = layers.Permute((2, 1, 3), name="frames")(x)
    x = layers.Reshape((-1, x.shape[2] * x.shape[3]), name="columns")(x)
    if cfg.arch == "crnn":
        x = layers.Bidirectional(layers.LSTM(cfg.units, return_sequences=True), name="bilstm")(x)
    x = layers.Dense(cfg.bottleneck, name="bottleneck")(x)
    x = layers.ReLU(name="bottleneck_relu")(layers.LayerNormalization(name="bottleneck_ln")(x))
    x = layers.Dropout(0.2, name="drop")(x)
    logits = layers.Dense(len(cfg.chars) + 1, name="logits")(x)
    return keras.Model(inp, logits, name=f"zh_{cfg.arch}")
