"""CTPN (Tian et al. 2016, "Detecting Text in Natural Image with Connectionist Text Proposal Network").

A slim VGG-16-style backbone trained from scratch (3x3 conv + batch norm + ReLU, stages of 2, 2,
3 and 3 convs, four max-pools: stride 16), a 3x3 conv as the paper's sliding window, a
bidirectional GRU along every feature row (:class:`RowBiRNN`: a text line is read as a sequence
of columns, so each cell knows whether its neighbours look like text), a 1x1 "fc" conv, and three
1x1 heads per cell over its ``k`` anchors:

* ``cls`` ``(B, H, W, k)``: text / non-text logits (sigmoid);
* ``reg`` ``(B, H, W, 2k)``: vertical offsets, channel ``2a`` = ``v_c`` and ``2a + 1`` = ``v_h`` of
  anchor ``a`` (reshape to ``(H, W, k, 2)``); one channel axis keeps H and W free for ONNX;
* ``side`` ``(B, H, W, k)``: side-refinement offset ``o`` in anchor widths.

The losses take the packed targets of :func:`ctpn.targets.targets_to_maps` (value + mask), so a
plain ``model.fit(images, {"cls": ..., "reg": ..., "side": ...})`` trains it.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from ctpn.config import CTPNConfig

_CONVS = (2, 2, 3, 3)  # convs per backbone stage; a max-pool after each
LOSS_WEIGHTS = {"cls": 1.0, "reg": 1.0, "side": 2.0}  # paper eq. 3: lambda_1 = 1, lambda_2 = 2


@keras.saving.register_keras_serializable(package="ctpn")
class RowBiRNN(layers.Layer):
    """``(B, H, W, C)`` -> ``(B, H, W, 2 * units)``: a bidirectional GRU along each row (over W).

    The rows of all images are one batch of ``B * H`` sequences; H, W and B may all be dynamic."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.rnn = layers.Bidirectional(layers.GRU(units, return_sequences=True), name="bigru")

    def build(self, input_shape):
        self.rnn.build((None, None, input_shape[-1]))

    def call(self, x):
        shape = ops.shape(x)
        rows = ops.reshape(x, (-1, shape[2], x.shape[-1]))
        return ops.reshape(self.rnn(rows), (shape[0], shape[1], shape[2], 2 * self.units))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], 2 * self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


CUSTOM_OBJECTS = {"RowBiRNN": RowBiRNN}


def _conv_bn(x, filters: int, name: str):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def build_model(cfg: CTPNConfig) -> keras.Model:
    """Training model: ``image`` ``(H, W, 3)`` in [0, 1] -> ``cls``, ``reg``, ``side`` at 1/16 (floor)."""
    if cfg.stride != 2 ** len(_CONVS):
        raise ValueError(f"the backbone has stride {2 ** len(_CONVS)}, not {cfg.stride}")
    inp = keras.Input((None, None, 3), name="image")
    x = inp
    for s, n in enumerate(_CONVS):
        for c in range(n):
            x = _conv_bn(x, cfg.base * 2**s, f"s{s + 1}_{c + 1}")
        x = layers.MaxPooling2D(name=f"pool{s + 1}")(x)
    x = _conv_bn(x, cfg.base * 8, "window")  # the paper's 3x3 sliding window over conv5
    x = RowBiRNN(cfg.rnn_units, name="row_rnn")(x)
    x = layers.Conv2D(cfg.fc_units, 1, activation="relu", name="fc")(x)
    cls = layers.Conv2D(cfg.k, 1, name="cls")(x)
    reg = layers.Conv2D(2 * cfg.k, 1, name="reg")(x)
    side = layers.Conv2D(cfg.k, 1, name="side")(x)
    return keras.Model(inp, [cls, reg, side], name=f"ctpn_b{cfg.base}")


def inference_model(model: keras.Model) -> keras.Model:
    """The served model: ``prob`` (sigmoid of ``cls``), ``reg`` and ``side``; shares the weights."""
    prob = layers.Activation("sigmoid", name="prob")(model.get_layer("cls").output)
    return keras.Model(model.input, [prob, model.get_layer("reg").output, model.get_layer("side").output],
                       name=model.name + "_infer")


def _smooth_l1(d):
    a = ops.abs(d)
    return ops.where(a < 1.0, 0.5 * d * d, a - 0.5)


def _masked_mean(values, mask):
    return ops.sum(values * mask) / ops.maximum(ops.sum(mask), 1.0)


@keras.saving.register_keras_serializable(package="ctpn")
def cls_loss(y_true, y_pred):
    """Sigmoid cross-entropy over the sampled anchors; ``y_true`` ``(B, H, W, k)`` in {1, 0, -1 = ignore}."""
    y = ops.cast(y_true, y_pred.dtype)
    t = ops.maximum(y, 0.0)
    # max(z, 0) - z*t + log(1 + exp(-|z|)): cross-entropy on logits, stable for large |z|.
    bce = ops.maximum(y_pred, 0.0) - y_pred * t + ops.log1p(ops.exp(-ops.abs(y_pred)))
    return _masked_mean(bce, ops.cast(y >= 0, y_pred.dtype))


@keras.saving.register_keras_serializable(package="ctpn")
def reg_loss(y_true, y_pred):
    """Smooth-L1 of ``v_c, v_h`` over positives; ``y_true`` ``(B, H, W, k, 3)``, ``y_pred`` ``(B, H, W, 2k)``."""
    t = ops.reshape(ops.cast(y_true, y_pred.dtype), (-1, 3))
    p = ops.reshape(y_pred, (-1, 2))
    return _masked_mean(ops.sum(_smooth_l1(p - t[:, :2]), axis=-1), t[:, 2])


@keras.saving.register_keras_serializable(package="ctpn")
def side_loss(y_true, y_pred):
    """Smooth-L1 of the side offset over its mask; ``y_true`` ``(B, H, W, k, 2)``, ``y_pred`` ``(B, H, W, k)``."""
    t = ops.reshape(ops.cast(y_true, y_pred.dtype), (-1, 2))
    p = ops.reshape(y_pred, (-1,))
    return _masked_mean(_smooth_l1(p - t[:, 0]), t[:, 1])


def ctpn_losses() -> dict:
    """One loss per output name; each averages over its own anchors, as the paper normalises each term.

    They are registered with Keras, so a compiled ``.keras`` file loads with its losses."""
    return {"cls": cls_loss, "reg": reg_loss, "side": side_loss}


def compile_model(model: keras.Model, optimizer: str = "adam", lr: float = 1e-3) -> keras.Model:
    from ocr_common.training import make_optimizer

    model.compile(optimizer=make_optimizer(optimizer, lr), loss=ctpn_losses(), loss_weights=LOSS_WEIGHTS)
    return model
