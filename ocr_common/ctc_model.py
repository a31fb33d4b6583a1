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
