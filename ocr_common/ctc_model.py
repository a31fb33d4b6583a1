"""Keras pieces shared by the CTC line recognisers (handwritten words, Chinese lines): the served
softmax model cut from a logits training model, compiling with ``keras.losses.CTC``, and the
frame arithmetic of a config."""

from __future__ import annotations


class CtcFrames:
    """Mixin for a frozen config with ``width`` and ``stride``: the CTC frames of a training line
    and the longest label they can carry."""

    @property
    def frames(self) -> int:
        return self.width // self.stride  # type: ignore[attr-defined]

    @property
    def max_label(self) -> int:
        # CTC needs a blank between repeated characters, so a label longer than about half the
        # frames can be unreadable; the renderers keep their texts shorter.
        return self.frames // 2


def inference_model(model):
    """The served model: per-frame character probabilities (softmax of the ``logits`` layer)."""
    import keras

    probs = keras.layers.Softmax(name="probs")(model.get_layer("logits").output)
    return keras.Model(model.input, probs, name=model.name + "_infer")


def compile_model(model, optimizer: str, lr: float):
    """Compile with ``keras.losses.CTC`` on the logits, gradients clipped (CTC spikes on hard
    batches early on)."""
    import keras

    from ocr_common.training import make_optimizer

    opt = make_optimizer(optimizer, lr)
    opt.clipnorm = 5.0
    model.compile(optimizer=opt, loss=keras.losses.CTC())
    return model


def transfer_weights(model, chars: str, source, source_chars: str) -> dict:
    """Copy a trained CTC recogniser (``source``, a Keras model writing ``source_chars``) into
    ``model`` (writing ``chars``), for fine-tuning to another charset: every layer whose name and
    weight shapes match is copied; the ``logits`` layer's columns are matched by character
    (blank = class 0, character i = class i + 1), so a grown charset keeps all it could read.
    A new character starts as the average of the source's characters (mean kernel column and
    bias): its logit is the mean of theirs, below the best of them, so the grown network reads
    exactly as the source did until training teaches it the new ones (a random column at a
    typical bias would win most frames: a trained network's logits for the characters not seen
    sit far below their biases). Returns counts:
    ``{"layers": copied, "skipped": [names], "chars_kept": n, "chars_new": n}``."""
    import numpy as np

    src = {layer.name: layer for layer in source.layers}
    copied, skipped = 0, []
    for layer in model.layers:
        s = src.get(layer.name)
        if s is None or not layer.weights or layer.name == "logits":
            continue
        if [w.shape for w in s.get_weights()] != [w.shape for w in layer.get_weights()]:
            skipped.append(layer.name)
            continue
        layer.set_weights(s.get_weights())
        copied += 1
    k_src, b_src = src["logits"].get_weights()
    k, b = model.get_layer("logits").get_weights()
    if k.shape[0] != k_src.shape[0]:
        raise ValueError(f"logits inputs differ: {k_src.shape[0]} features in the source, {k.shape[0]} here")
    new_idx, old_idx = matched_columns(chars, source_chars)
    k[:, new_idx], b[new_idx] = k_src[:, old_idx], b_src[old_idx]
    fresh = np.setdiff1d(np.arange(1, len(chars) + 1), new_idx)
    if len(fresh):
        k[:, fresh] = k_src[:, 1:].mean(axis=1, keepdims=True)
        b[fresh] = b_src[1:].mean()
    model.get_layer("logits").set_weights([k, b])
    return {"layers": copied + 1, "skipped": skipped, "chars_kept": len(new_idx) - 1, "chars_new": len(fresh)}


def matched_columns(chars: str, source_chars: str):
    """``(columns, source_columns)``: the classifier columns (blank = 0, character i = i + 1) of a
    model writing ``chars`` that a model writing ``source_chars`` has too, and theirs there; the
    blank first."""
    import numpy as np

    old = {c: i + 1 for i, c in enumerate(source_chars)}
    pairs = [(0, 0)] + [(i + 1, old[c]) for i, c in enumerate(chars) if c in old]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
