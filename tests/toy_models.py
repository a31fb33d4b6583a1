"""Toy models of the shapes the task models have, for runtime and export tests."""

from __future__ import annotations


def build_crnn():
    """(32, W, 1) -> (W / 4, 5) logits: convs, pooling by 4 along the width, a BiLSTM."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(1)
    inp = keras.Input((32, None, 1), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Permute((2, 1, 3))(x)
    x = layers.Reshape((-1, 64))(x)
    x = layers.Bidirectional(layers.LSTM(8, return_sequences=True))(x)
    return keras.Model(inp, layers.Dense(5, name="logits")(x), name="toy_crnn")


def build_page():
    """(H, W, 3) -> [side (H, W, 1), fused (H, W, 1), head (H/2, W/2, 6)]: free height and width."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(2)
    inp = keras.Input((None, None, 3), name="page")
    a = layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    side = layers.Conv2D(1, 1, activation="sigmoid", name="side")(a)
    b = layers.Conv2D(4, 3, padding="same", activation="relu")(layers.MaxPooling2D(2)(a))
    head = layers.Conv2D(6, 1, name="head")(b)
    up = layers.UpSampling2D(2)(layers.Conv2D(1, 1)(b))
    fused = layers.Conv2D(1, 1, activation="sigmoid", name="fused")(layers.Concatenate()([side, up]))
    return keras.Model(inp, [side, fused, head], name="toy_page")
