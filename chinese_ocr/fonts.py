"""The Chinese typefaces the renderers draw with, and which characters each can draw.

Training draws only with the faces of the Debian packages in ``FONT_PACKAGES`` (the issue's
list), across the four families of printed Chinese: Song/Ming, Hei, Kai and Fangsong. One of
them, AR PL UMing (a Ming face), is held out of training (``HELD_OUT``) to measure a typeface
the model never saw. ``EVAL_FACES`` come from packages the project never trains on
(fonts-arphic-ukai, -gbsn00lp, -gkai00mp, fonts-droid-fallback): "fonts the project does not use".

A character is drawn with a face only when the face's cmap has it: the cwTeX faces are
traditional-character fonts and miss about a third of GB 2312.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

FONT_ROOT = Path("/usr/share/fonts")
FONT_PACKAGES = (
    "fonts-wqy-microhei fonts-wqy-zenhei fonts-noto-cjk fonts-noto-cjk-extra fonts-arphic-uming "
    "fonts-lxgw-wenkai fonts-cwtex-kai fonts-cwtex-fs fonts-cwtex-ming fonts-cwtex-heib"
).split()
EVAL_PACKAGES = "fonts-arphic-ukai fonts-arphic-gbsn00lp fonts-arphic-gkai00mp fonts-droid-fallback".split()


@dataclass(frozen=True)
class Face:
    name: str
    path: str  # relative to FONT_ROOT
    index: int  # face in a .ttc collection
    family: str  # song, hei, kai, fangsong


_NOTO = "opentype/noto"
TRAIN_FACES: tuple[Face, ...] = (
    Face("wqy-microhei", "truetype/wqy/wqy-microhei.ttc", 0, "hei"),
    Face("wqy-zenhei", "truetype/wqy/wqy-zenhei.ttc", 0, "hei"),
    Face("wqy-zenhei-sharp", "truetype/wqy/wqy-zenhei.ttc", 2, "hei"),
    # Noto CJK collections: face 2 is the simplified-Chinese (SC) one.
    *(Face(f"noto-sans-{w.lower()}", f"{_NOTO}/NotoSansCJK-{w}.ttc", 2, "hei")
      for w in ("Light", "Regular", "Medium", "Bold", "Black", "DemiLight")),
    *(Face(f"noto-serif-{w.lower()}", f"{_NOTO}/NotoSerifCJK-{w}.ttc", 2, "song")
      for w in ("Light", "Regular", "Medium", "SemiBold", "Bold", "Black")),
    *(Face(f"lxgw-wenkai-{w.lower()}", f"truetype/lxgw-wenkai/LXGWWenKai-{w}.ttf", 0, "kai")
      for w in ("Light", "Regular", "Bold")),
    Face("lxgw-wenkai-mono", "truetype/lxgw-wenkai/LXGWWenKaiMono-Regular.ttf", 0, "kai"),
    Face("cwtex-kai", "truetype/cwtex/cwkai.ttf", 0, "kai"),
    Face("cwtex-fangsong", "truetype/cwtex/cwfs.ttf", 0, "fangsong"),
    Face("cwtex-ming", "truetype/cwtex/cwming.ttf", 0, "song"),
    Face("cwtex-heibold", "truetype/cwtex/cwheib.ttf", 0, "hei"),
)
# From the training packages, never trained on: a Ming face (Noto Serif and cwTeX Ming stay in).
HELD_OUT: tuple[Face, ...] = (Face("arphic-uming", "truetype/arphic/uming.ttc", 0, "song"),)
EVAL_FACES: tuple[Face, ...] = (
    Face("arphic-ukai", "truetype/arphic/ukai.ttc", 0, "kai"),
    Face("arphic-gbsn00lp", "truetype/arphic-gbsn00lp/gbsn00lp.ttf", 0, "song"),
    Face("arphic-gkai00mp", "truetype/arphic-gkai00mp/gkai00mp.ttf", 0, "kai"),
    Face("droid-fallback", "truetype/droid/DroidSansFallbackFull.ttf", 0, "hei"),
)
SPLITS: dict[str, tuple[Face, ...]] = {"train": TRAIN_FACES, "heldout": HELD_OUT, "eval": EVAL_FACES}


FACE_DIR_ENV = "ZH_FACE_DIR"  # a folder of <face name>.font files, one face each (chinese_ocr.gpu_bundle)


def _from_face_dir(face: Face) -> Face | None:
    """``face`` as a single-face file ``$ZH_FACE_DIR/<name>.font`` (a subset made by
    :mod:`chinese_ocr.gpu_bundle` for a machine without the Debian fonts), if there is one."""
    folder = os.environ.get(FACE_DIR_ENV)
    path = Path(folder) / f"{face.name}.font" if folder else None
    return Face(face.name, str(path.resolve()), 0, face.family) if path and path.is_file() else None


def faces(split: str = "train", root: str | Path = FONT_ROOT) -> list[Face]:
    """The faces of ``split`` that are installed under ``root``; a face given as a file in
    ``$ZH_FACE_DIR`` stands in for the installed one. None installed is an error that names the
    packages to install."""
    if split not in SPLITS:
        raise ValueError(f"unknown font split {split!r}; choose one of {list(SPLITS)}")
    # An absolute path (a face from ZH_FACE_DIR) stays itself under any root.
    found = [_from_face_dir(f) or f for f in SPLITS[split]]
    found = [f for f in found if (Path(root) / f.path).is_file()]
    if not found:
        pkgs = EVAL_PACKAGES if split == "eval" else FONT_PACKAGES
        raise FileNotFoundError(f"no {split} Chinese fonts under {root}: apt install {' '.join(pkgs)}")
    return found


def font_file(face: Face, root: str | Path = FONT_ROOT) -> str:
    return str(Path(root) / face.path)


@cache
def coverage(path: str, index: int = 0) -> frozenset[str]:
    """The characters a face has glyphs for (its best cmap)."""
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=index, lazy=True) as font:
        return frozenset(chr(c) for c in font.getBestCmap())


def can_draw(face: Face, text: str, root: str | Path = FONT_ROOT) -> bool:
    cov = coverage(font_file(face, root), face.index)
    return all(c in cov or c == " " for c in text)


@cache
def pil_font(path: str, index: int, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size, index=index)
