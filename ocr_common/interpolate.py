"""Weight interpolation between a model and its fine-tuned copy.

A network fine-tuned on a narrow change of its data (a new spacing rule, say) learns it but
forgets some of what it knew (faces it never saw read worse). The weights on the straight line
between the two often keep most of both: ``(1 - alpha) * base + alpha * tuned``, ``alpha`` in
[0, 1] (Wortsman et al. 2022, "Robust fine-tuning of zero-shot models", call it WiSE-FT). Both
models must have the same layers and shapes: the fine-tuned one started from the base.
"""

from __future__ import annotations

import numpy as np


def interpolate_weights(base: list[np.ndarray], tuned: list[np.ndarray], alpha: float) -> list[np.ndarray]:
    """``(1 - alpha) * base + alpha * tuned``, tensor by tensor (in the base's dtypes)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if len(base) != len(tuned):
        raise ValueError(f"the models differ: {len(base)} weight tensors against {len(tuned)}")
    out = []
    for i, (a, b) in enumerate(zip(base, tuned)):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            raise ValueError(f"weight tensor {i} differs in shape: {a.shape} against {b.shape}")
        out.append(((1.0 - alpha) * a.astype(np.float64) + alpha * b.astype(np.float64)).astype(a.dtype))
    return out


def interpolate_models(base, tuned, alpha: float):
    """``base`` (a Keras model) with its weights moved ``alpha`` of the way to ``tuned``'s."""
    base.set_weights(interpolate_weights(base.get_weights(), tuned.get_weights(), alpha))
    return base
