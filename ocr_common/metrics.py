"""Classification metrics: confusion matrix, per-class table, most-confused pairs, PNG."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    """``cm[t, p]`` = count of true class t predicted as p."""
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


def per_class_table(cm: np.ndarray, labels: Sequence[str]) -> str:
    """Markdown table: class, support, recall (accuracy on that class), precision."""
    rows = ["| class | support | recall | precision |", "| --- | ---: | ---: | ---: |"]
    for i, lab in enumerate(labels):
        support, tp, predicted = cm[i].sum(), cm[i, i], cm[:, i].sum()
        rec = tp / support if support else float("nan")
        prec = tp / predicted if predicted else float("nan")
        rows.append(f"| {lab} | {support} | {rec:.4f} | {prec:.4f} |")
    return "\n".join(rows)


def top_confusions(cm: np.ndarray, labels: Sequence[str], k: int = 10) -> list[tuple[str, str, int]]:
    """The ``k`` largest off-diagonal cells as (true, predicted, count)."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None)[:k]
    pairs = [(labels[i], labels[j], int(off[i, j])) for i, j in zip(*np.unravel_index(flat, off.shape))]
    return [p for p in pairs if p[2] > 0]


def plot_confusion(cm: np.ndarray, labels: Sequence[str], out_png: str | Path, title: str = "") -> Path:
    """Confusion matrix heat map (log colour scale so rare errors stay visible)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    n = len(labels)
    fig, ax = plt.subplots(figsize=(max(5, n * 0.35 + 2), max(4, n * 0.35 + 1.5)))
    im = ax.imshow(cm + 1e-1, cmap="Blues", norm=LogNorm(vmin=0.5, vmax=max(cm.max(), 1)))
    ax.set_xticks(range(n), labels)
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 12:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if cm[i, j] > cm.max() / 3 else "black")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_png.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, out_png)
    return out_png
