"""Model zoo for single-character classification (digits now, letters later).

Every builder is a pure function ``build_<name>(cfg) -> keras.Model`` that takes a
:class:`~handwrite_digit_ocr.config.CharConfig` and returns an *uncompiled* model whose
input is ``(size, size, 1)`` float32 in ``[0, 1]`` (ink = 1) and whose output is a softmax
over ``cfg.num_classes``. ``ARCHS`` is the registry; :func:`build_model` is the only entry
point other modules use.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

from handwrite_digit_ocr.config import CharConfig


def _input(cfg: CharConfig) -> keras.KerasTensor:
    return keras.Input(shape=(cfg.input_size, cfg.input_size, 1), name="image")


def _head(x, cfg: CharConfig, name: str) -> keras.Model:
    out = layers.Dense(cfg.num_classes, activation="softmax", name="probs")(x)
    return out


def build_simple_cnn(cfg: CharConfig) -> keras.Model:
    """Small baseline: two conv/pool stages and one hidden dense layer (~0.2 M params)."""
    inp = _input(cfg)
    x = layers.Conv2D(32, 3, activation="relu", padding="same")(inp)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(inp, _head(x, cfg, "simple_cnn"), name="simple_cnn")


def build_kaggle_cnn(cfg: CharConfig) -> keras.Model:
    """The well-known Kaggle MNIST recipe (~99.7 % with augmentation).

    2x[Conv32 5x5] -> pool -> dropout .25, 2x[Conv64 3x3] -> pool -> dropout .25,
    Dense 256 -> dropout .5.
    """
    inp = _input(cfg)
    x = layers.Conv2D(32, 5, padding="same", activation="relu")(inp)
    x = layers.Conv2D(32, 5, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(strides=2)(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inp, _head(x, cfg, "kaggle_cnn"), name="kaggle_cnn")


def _conv_bn(x, filters: int, kernel: int = 3, strides: int = 1):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def build_vgg(cfg: CharConfig) -> keras.Model:
    """VGG16-style stacks of 3x3 convs, scaled down for 28x28 grayscale input.

    Stock VGG16 expects 224x224x3 and has 138 M parameters (134 M with a 10-class head) and
    15.5 G multiply-adds (31 GFLOPs) per image; on a 28x28 digit upsampled to that size it
    is mostly wasted compute (see ``benchmarks/vgg_overkill.py``).
    Here: three blocks (2, 2, 3 convs) at width ``cfg.width`` with batch norm, global
    pooling instead of the 4096-wide dense layers.
    """
    w = cfg.width
    inp = _input(cfg)
    x = inp
    for filters, reps in ((w, 2), (2 * w, 2), (4 * w, 3)):
        for _ in range(reps):
            x = _conv_bn(x, filters)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(0.2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(8 * w, activation="relu")(x)
    x = layers.Dropout(0.4)(x)
    return keras.Model(inp, _head(x, cfg, "vgg"), name="vgg")


def build_bn_cnn(cfg: CharConfig) -> keras.Model:
    """Batch-normalised CNN that learns its own downsampling.

    Two stages of [Conv 3x3, Conv 3x3, Conv 5x5 stride 2] (widths ``cfg.width`` and
    ``2 * cfg.width``), each conv followed by batch norm and ReLU and each stage by dropout
    0.4, then Dense 128 with batch norm and dropout 0.4. The strided 5x5 convolutions replace
    max pooling (the "all-convolutional" idea of Springenberg et al., 2015); batch norm lets
    it train at a higher learning rate than ``kaggle_cnn``, and its errors differ from the
    pooled networks', which is what an ensemble needs.
    """
    w = cfg.width
    inp = _input(cfg)
    x = inp
    for filters in (w, 2 * w):
        x = _conv_bn(x, filters)
        x = _conv_bn(x, filters)
        x = _conv_bn(x, filters, kernel=5, strides=2)
        x = layers.Dropout(0.4)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.4)(x)
    return keras.Model(inp, _head(x, cfg, "bn_cnn"), name="bn_cnn")


class RecurrentConv(layers.Layer):
    """Recurrent convolutional layer (Liang & Hu, CVPR 2015).

    ``x(t) = relu(BN_t(ff(u) + rec(x(t-1))))`` with one feed-forward and one recurrent
    3x3 convolution whose weights are shared across the ``steps`` unrolled iterations, so
    the receptive field grows with depth while the parameter count does not.
    """

    def __init__(self, filters: int, steps: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.steps = steps
        self.ff = layers.Conv2D(filters, 3, padding="same", use_bias=False)
        self.rec = layers.Conv2D(filters, 3, padding="same", use_bias=False)
        # One BN per step: activations change scale as the recurrence unrolls.
        self.norms = [layers.BatchNormalization() for _ in range(steps + 1)]

    def build(self, input_shape):
        self.ff.build(input_shape)
        out_shape = tuple(input_shape[:-1]) + (self.filters,)
        self.rec.build(out_shape)
        for n in self.norms:
            n.build(out_shape)
        self.built = True

    def call(self, inputs, training=None):
        f = self.ff(inputs)
        x = keras.ops.relu(self.norms[0](f, training=training))
        for t in range(1, self.steps + 1):
            x = keras.ops.relu(self.norms[t](f + self.rec(x), training=training))
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "steps": self.steps}


def build_rcnn(cfg: CharConfig) -> keras.Model:
    """Recurrent convolutional network: conv stem then RCL blocks unrolled 3 steps."""
    w = cfg.width
    inp = _input(cfg)
    x = _conv_bn(inp, w, kernel=5)
    x = RecurrentConv(w, steps=3)(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.2)(x)
    x = RecurrentConv(2 * w, steps=3)(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.2)(x)
    x = RecurrentConv(4 * w, steps=3)(x)
    x = layers.GlobalMaxPooling2D()(x)
    x = layers.Dropout(0.4)(x)
    return keras.Model(inp, _head(x, cfg, "rcnn"), name="rcnn")


ARCHS: dict[str, Callable[[CharConfig], keras.Model]] = {
    "simple_cnn": build_simple_cnn,
    "kaggle_cnn": build_kaggle_cnn,
    "vgg": build_vgg,
    "bn_cnn": build_bn_cnn,
    "rcnn": build_rcnn,
}

CUSTOM_OBJECTS = {"RecurrentConv": RecurrentConv}


def build_model(cfg: CharConfig) -> keras.Model:
    """Build the architecture named by ``cfg.arch``; unknown names raise ``KeyError``."""
    try:
        builder = ARCHS[cfg.arch]
    except KeyError:
        raise KeyError(f"unknown architecture {cfg.arch!r}; choose one of {sorted(ARCHS)}") from None
    return builder(cfg)
