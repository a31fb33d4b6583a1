"""PNG sheets of sample images with their readings, for the evaluate scripts of the text tasks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np


def reading_sheet(images: list[np.ndarray], truths: list[str], preds: list[str], path: Path, title: str, *,
                  n: int = 40, cols: int = 4, cell: tuple[float, float] = (3.2, 1.25), chars: int = 28,
                  same: Callable[[str, str], bool] = lambda p, t: p == t, font_file: str | None = None) -> Path:
    """A grid of the first ``n`` images, each titled with its reading (green when ``same(pred,
    truth)``, red with the truth beside it otherwise); ``font_file`` draws the titles (a CJK face
    for Chinese readings)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.font_manager import FontProperties

    font = FontProperties(fname=font_file) if font_file and Path(font_file).is_file() else None
    n = min(n, len(images))
    rows = max(1, (n + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell[0], rows * cell[1]))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for i, ax in enumerate(np.atleast_1d(axes).ravel()[:n]):
        img = images[i]
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, aspect="auto", vmin=0, vmax=255)
        ok = same(preds[i], truths[i])
        ax.set_title(preds[i][:chars] + ("" if ok else f"  ({truths[i][: chars * 2 // 3]})"), fontsize=8,
                     fontproperties=font, color="green" if ok else "red")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
