"""Networks for document edge detection: HED and a corner-heatmap model.

Both are pure builders ``build_<arch>(cfg) -> keras.Model`` over the same slim VGG-style trunk
(3x3 conv + batch norm + ReLU, max-pooling between stages), trained from scratch: ImageNet
weights cannot be downloaded here, and slim channels are what made HED practical on phones.

* **HED** (Xie & Tu, "Holistically-Nested Edge Detection", ICCV 2015): a side output (1x1 conv
  to one logit) after every stage, upsampled to the input size, and a fused output (1x1 conv over
  the stacked side logits). The training model answers all of them as one ``(S, S, stages + 1)``
  logit tensor so one loss (:func:`hed_loss`, class-balanced sigmoid cross-entropy on every
  channel) covers deep supervision; :func:`hed_inference_model` cuts the fused probability out.
* **corners**: the trunk to 1/16 with dilated context, back up to 1/4 with skips, four heatmap
  logits (TL, TR, BR, BL by image position), read out by a spatial soft-argmax into ``(4, 2)`` coordinates in
  ``[0, 1]``; trained with an L1 loss on the coordinates (:func:`corner_loss`).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers, ops

from doc_edge_detection.config import DocEdgeConfig


def _conv_bn(x, filters: int, name: str):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _trunk(inp, cfg: DocEdgeConfig, stages: int, convs: tuple[int, ...] = (2, 2, 2, 2, 2)) -> list:
    """Feature maps after each stage (stage i at 1 / 2**i of the input)."""
    feats = []
    x = inp
    for s, (w, n) in enumerate(zip(cfg.stage_widths(stages), convs)):
        if s:
            x = layers.MaxPooling2D(name=f"pool{s}")(x)
        for c in range(n):
            x = _conv_bn(x, w, f"s{s + 1}_{c + 1}")
        feats.append(x)
    return feats


def _input(cfg: DocEdgeConfig):
    return keras.Input(shape=(cfg.input_size, cfg.input_size, 3), name="image")


def build_hed(cfg: DocEdgeConfig) -> keras.Model:
    """Training HED: ``(S, S, 3)`` -> ``(S, S, 6)`` logits (5 side outputs, then the fused one)."""
    inp = _input(cfg)
    feats = _trunk(inp, cfg, stages=5)
    sides = []
    for s, f in enumerate(feats):
        side = layers.Conv2D(1, 1, name=f"side{s + 1}")(f)
        if s:
            # Bilinear upsampling rather than learned deconvolution: fewer parameters to train from
            # scratch, and HED's own ablation found the fixed upsampling as good.
            side = layers.UpSampling2D(2**s, interpolation="bilinear", name=f"side{s + 1}_up")(side)
        sides.append(side)
    stacked = layers.Concatenate(name="sides")(sides)
    fused = layers.Conv2D(1, 1, name="fused", kernel_initializer=keras.initializers.Constant(1.0 / len(sides)))(stacked)
    out = layers.Concatenate(name="hed_logits")([stacked, fused])
    return keras.Model(inp, out, name=f"hed_w{cfg.width}")


def hed_inference_model(train_model: keras.Model) -> keras.Model:
    """The fused edge probability ``(S, S, 1)``, cut from the training model (shares its weights)."""
    fused = train_model.get_layer("fused").output
    prob = layers.Activation("sigmoid", name="edge_prob")(fused)
    return keras.Model(train_model.input, prob, name=train_model.name)


@keras.saving.register_keras_serializable(package="doc_edge_detection")
class SoftArgmax2D(layers.Layer):
    """``(N, H, W, K)`` heatmap logits -> ``(N, K, 2)`` expected (x, y) in ``[0, 1]`` (pixel centres)."""

    def call(self, logits):
        shape = ops.shape(logits)
        h, w, k = shape[1], shape[2], shape[3]
        flat = ops.reshape(ops.transpose(logits, (0, 3, 1, 2)), (-1, k, h * w))
        prob = ops.reshape(ops.softmax(flat, axis=-1), (-1, k, h, w))
        xs = (ops.cast(ops.arange(w), prob.dtype) + 0.5) / ops.cast(w, prob.dtype)
        ys = (ops.cast(ops.arange(h), prob.dtype) + 0.5) / ops.cast(h, prob.dtype)
        x = ops.sum(ops.sum(prob, axis=2) * xs, axis=-1)
        y = ops.sum(ops.sum(prob, axis=3) * ys, axis=-1)
        return ops.stack([x, y], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[3], 2)


def build_corners(cfg: DocEdgeConfig) -> keras.Model:
    """Corner heatmaps: ``(S, S, 3)`` -> ``(4, 2)`` corner coordinates in ``[0, 1]`` of the input.

    Which bright corner is the page's top-left is a question about the whole page, so the trunk
    goes to 1/16 and adds dilated context there before coming back up (1/8, then 1/4, with skips)."""
    inp = _input(cfg)
    feats = _trunk(inp, cfg, stages=5)
    widths = cfg.stage_widths()
    x = feats[4]
    for i, rate in enumerate((2, 4)):  # receptive field over the whole 16 x 16 map
        x = layers.Conv2D(widths[4], 3, padding="same", dilation_rate=rate, use_bias=False, name=f"ctx{i + 1}_conv")(x)
        x = layers.BatchNormalization(name=f"ctx{i + 1}_bn")(x)
        x = layers.Activation("relu", name=f"ctx{i + 1}_relu")(x)
    for level in (3, 2):  # back up to 1/8, then 1/4, with the trunk's finer features
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, feats[level]])
        x = _conv_bn(x, widths[level], f"head{level}")
    heat = layers.Conv2D(4, 1, name="heatmaps")(x)
    out = SoftArgmax2D(name="corners")(heat)
    return keras.Model(inp, out, name=f"corners_w{cfg.width}")


ARCHS: dict[str, Callable[[DocEdgeConfig], keras.Model]] = {"hed": build_hed, "corners": build_corners}

CUSTOM_OBJECTS = {"SoftArgmax2D": SoftArgmax2D}


def build_model(cfg: DocEdgeConfig) -> keras.Model:
    try:
        return ARCHS[cfg.arch](cfg)
    except KeyError:
        raise ValueError(f"unknown architecture {cfg.arch!r}; choose one of {sorted(ARCHS)}") from None


def inference_model(model: keras.Model, cfg: DocEdgeConfig) -> keras.Model:
    """What is shipped and served: HED's fused probability, or the corner model as it is."""
    return hed_inference_model(model) if cfg.arch == "hed" else model


def hed_loss(y_true, y_pred):
    """Class-balanced sigmoid cross-entropy (HED eq. 2) on every side output and the fused one.

    ``y_true``: ``(N, S, S, 1)`` edge map in {0, 1}; ``y_pred``: ``(N, S, S, K)`` logits. Edge
    pixels are ~2 % of an image, so each class is weighted by the other's share per image;
    otherwise predicting "no edge" everywhere is a near-optimal start the net never leaves.
    """
    y = ops.cast(y_true, y_pred.dtype)
    pos = ops.sum(y, axis=(1, 2, 3), keepdims=True)
    total = ops.cast(ops.prod(ops.shape(y)[1:]), y.dtype)
    beta = 1.0 - pos / total  # share of non-edge pixels
    weights = beta * y + (1.0 - beta) * (1.0 - y)
    # max(z, 0) - z*y + log(1 + exp(-|z|)): cross-entropy on logits, stable for large |z|.
    bce = ops.maximum(y_pred, 0.0) - y_pred * y + ops.log1p(ops.exp(-ops.abs(y_pred)))
    return ops.mean(weights * bce, axis=(1, 2, 3))


def corner_loss(y_true, y_pred):
    """Mean L1 distance of the four corners, in units of the input side; ``y_true`` ``(N, 4, 2)``."""
    return ops.mean(ops.abs(y_true - y_pred), axis=(1, 2))


LOSSES = {"hed": hed_loss, "corners": corner_loss}
