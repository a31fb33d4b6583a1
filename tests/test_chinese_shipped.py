"""Golden test of the shipped Chinese recogniser, served: lines of everyday text in typefaces the
project never trains on (the eval faces), drawn by this test, read over HTTP with ``?detect=0``.
Skips until ``models/manifest.json`` ships ``chinese.keras``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from ocr_common.ctc import edit_distance
from tests.http_helpers import encode

MODELS = Path(__file__).resolve().parents[1] / "models"
LINES = [
    "今天天气很好", "我们明天上午九点开会", "请把文件发给我", "这本书的价格是35元", "北京市海淀区中关村大街",
    "欢迎光临本店", "学生们在操场上跑步", "电话号码是010-62751234", "注意安全", "他在银行工作了十年",
    "春节快到了", "你吃饭了吗？", "会议室在三楼", "这个问题很重要", "请勿吸烟",
]
# These lines read at CER 0.085 when the model shipped (epoch 15, 2026-12-04); a broken model,
# charset or preprocessing reads almost nothing (CER near 1).
MAX_CER = 0.15


def _shipped() -> bool:
    try:
        entries = json.loads((MODELS / "manifest.json").read_text(encoding="utf-8"))["models"]
    except (OSError, ValueError, KeyError):
        return False
    return any(e.get("file") == "chinese.keras" for e in entries)


pytestmark = pytest.mark.skipif(not _shipped(), reason="no Chinese recogniser shipped in models/manifest.json")


def _lines() -> list[tuple[np.ndarray, str]]:
    from chinese_ocr import fonts

    try:
        faces = fonts.faces("eval")
    except FileNotFoundError as e:
        pytest.skip(f"eval faces not installed: {e}")
    out = []
    for i, text in enumerate(LINES):
        face = [f for f in faces if fonts.can_draw(f, text)][i % 2 if len(faces) > 1 else 0]
        font = fonts.pil_font(fonts.font_file(face), face.index, 40)
        img = Image.new("RGB", (int(font.getlength(text)) + 40, 64), (246, 244, 238))
        ImageDraw.Draw(img).text((20, 10), text, font=font, fill=(30, 30, 35))
        out.append((np.asarray(img), text))
    return out


def test_shipped_recogniser_reads_unseen_typefaces_over_http():
    from serving import create_app

    client = create_app(MODELS).test_client()
    errors = chars = 0
    for image, text in _lines():
        resp = client.post("/predict/chinese?detect=0", data=encode(image), content_type="image/png")
        assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
        reading = resp.get_json()["results"][0]["text"]
        errors += edit_distance(reading, text)
        chars += len(text)
    assert errors / chars <= MAX_CER, f"CER {errors / chars:.3f}"
