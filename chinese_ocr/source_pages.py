"""The whole images a labelled line folder was cut from, as real pages for the page pipeline.

``zh_dev/labels.tsv`` names, for every line crop, the public repository, commit and path of the
image it was cut from and the crop's ``box`` in that image (``box=[x0, y0, x1, y1]`` or
``quad=[[x, y] x 4]``, TL TR BR BL, after the image's EXIF orientation). The images themselves are
not in the folder; put them under a sources root in any of these layouts (first found wins)::

    ROOT/<owner>/<name>/<path>          git clone https://github.com/<owner>/<name> ROOT/<owner>/<name>
    ROOT/<name>/<path>
    ROOT/<owner>+<name>/<path>
    ROOT/<owner>+<name>/repo            a bare mirror: the file is read at the labelled commit

Only some lines of each image are labelled, so these pages measure recall and the reading of the
labelled lines, not precision (``benchmarks.bench_peers.labelled_page_metrics``). For measuring only:
never train on them.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_BOX = re.compile(r"\b(box|quad)=(\[[-\d.,\s\[\]]+\])")


@dataclass
class SourcePage:
    name: str  # "<owner>/<name>:<path>"
    image: np.ndarray
    quads: list[np.ndarray] = field(default_factory=list)  # labelled lines, (4, 2) float32
    texts: list[str] = field(default_factory=list)


def parse_box(text: str) -> np.ndarray:
    """The first ``box=[x0, y0, x1, y1]`` or ``quad=[[x, y] x 4]`` of a labels.tsv ``box`` field,
    as a ``(4, 2)`` float32 quad (TL, TR, BR, BL)."""
    m = _BOX.search(text)
    if not m:
        raise ValueError(f"no box=[...] or quad=[...] in {text!r}")
    v = np.asarray(json.loads(m.group(2)), np.float32)
    if m.group(1) == "box":
        if v.shape != (4,):
            raise ValueError(f"box needs 4 numbers, got {text!r}")
        x0, y0, x1, y1 = v
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    if v.shape != (4, 2):
        raise ValueError(f"quad needs 4 points, got {text!r}")
    return v


def source_bytes(root: Path, repo: str, commit: str, path: str) -> bytes | None:
    """The file's bytes from one of the layouts in the module docstring, or None."""
    owner, _, name = repo.partition("/")
    for base in (root / owner / name, root / name, root / f"{owner}+{name}"):
        if (base / path).is_file():
            return (base / path).read_bytes()
    for git_dir in (root / f"{owner}+{name}" / "repo", root / f"{owner}+{name}"):
        if (git_dir / "objects").is_dir():
            r = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"],
                               capture_output=True, check=False)
            if r.returncode == 0:
                return r.stdout
    return None


def load_source_pages(folder: str | Path, root: str | Path) -> tuple[list[SourcePage], list[str]]:
    """``(pages, missing)``: one page per source image of ``folder/labels.tsv`` (first-seen order)
    with its labelled lines, and the ``repo:path`` of every source not found under ``root``."""
    from ocr_common.image import decode_image

    folder, root = Path(folder), Path(root)
    with open(folder / "labels.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    need = {"text", "source_repo", "commit", "source_path", "box"}
    if rows and not need <= set(rows[0]):
        raise ValueError(f"{folder / 'labels.tsv'} lacks the columns {sorted(need - set(rows[0]))}")
    pages: dict[str, SourcePage | None] = {}
    for row in rows:
        key = f"{row['source_repo']}:{row['source_path']}"
        if key not in pages:
            data = source_bytes(root, row["source_repo"], row["commit"], row["source_path"])
            pages[key] = SourcePage(key, decode_image(data)) if data is not None else None
        page = pages[key]
        if page is not None:
            page.quads.append(parse_box(row["box"]))
            page.texts.append(row["text"])
    return [p for p in pages.values() if p is not None], [k for k, p in pages.items() if p is None]
