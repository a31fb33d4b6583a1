"""The Word tab in headless Chromium: write on the wide pad (mouse and touch) or upload a photo, see
the reading with its lines, the word boxes over the image and each word's confidence; the
"split into words" and "dictionary" toggles reach the server as ``segment`` / ``lexicon``.

The word predictor is the stand-in from tests/http_helpers (``FakeWord``: ink runs split into lines
and words, named "hello", "world", "second", ... and upper-cased when ``lexicon=0``), so this pins
the page's behaviour, not a model's accuracy. ``SCREENSHOTS=1`` also writes
``docs/screenshots/word[-mobile].png``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from serving import create_app
from serving.registry import ModelRegistry
from tests import test_browser
from tests.http_helpers import FakeWord, stand_in_registry

# Fixtures and helpers shared with the other browser tests (the same headless Chromium set-up).
browser = test_browser.browser
no_script_errors = test_browser.no_script_errors  # autouse: a JavaScript error fails the test
LiveServer, draw, error_text, open_page = (
    test_browser.LiveServer, test_browser.draw, test_browser.error_text, test_browser.open_page)
screenshot, set_viewport, wait = test_browser.screenshot, test_browser.set_viewport, test_browser.wait

TAB = "word"
# Strokes in canvas fractions: two short zigzag "words" on a top line, one on a line below.
PHRASE = [
    [(0.05, 0.3), (0.08, 0.15), (0.11, 0.35), (0.14, 0.15), (0.17, 0.35), (0.2, 0.2)],
    [(0.45, 0.2), (0.5, 0.35), (0.55, 0.15), (0.6, 0.3)],
    [(0.1, 0.7), (0.15, 0.85), (0.2, 0.65), (0.25, 0.85), (0.3, 0.7)],
]
HANDWRITING_FONT = Path("/usr/share/fonts/truetype/fifthhorseman/dkg.ttf")


def handwriting(path: Path, size: tuple[int, int] = (800, 200), font_path: Path = HANDWRITING_FONT) -> Path:
    """"hello world / second line" in a handwriting font (type where the font is missing), words
    set far enough apart for the stand-in to split them."""
    img = Image.new("L", size, 250)
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(font_path), 62) if font_path.is_file() else ImageFont.load_default(56)
    for text, x, y in (("hello", 40, -6), ("world", 300, 0), ("second", 60, 90), ("line", 390, 84)):
        d.text((x, y), text, font=font, fill=25)
    img.save(path)
    return path


@pytest.fixture(scope="module")
def fake() -> FakeWord:
    return FakeWord()


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake) -> Iterator[LiveServer]:
    srv = LiveServer(create_app(registry=stand_in_registry(tmp_path_factory.mktemp("word-models"), "word", fake)))
    yield srv
    srv.close()


# -- helpers --------------------------------------------------------------------------------------
def reading(driver, calls_before: int, fake: FakeWord, text: str | None = None) -> dict:
    """Wait for an answer to a request made after call number ``calls_before`` of ``fake`` (and,
    when given, reading ``text``: a pause between strokes may send a first read of part of the
    writing) with its boxes drawn; return its text, word chips, boxes and image size."""

    def ready(d):
        if len(fake.calls) <= calls_before:
            return False
        got = d.execute_script(
            "const id = arguments[0];"
            "const region = document.querySelector('#' + id + '-panel .result-live');"
            "const text = document.getElementById(id + '-reading');"
            "if (region.getAttribute('aria-busy') !== 'false' || !text) return null;"
            "const chips = [...document.querySelectorAll('#' + id + '-words li')];"
            "const shapes = document.querySelectorAll('#' + id + '-result .overlay .shape');"
            "const img = document.getElementById(id + '-preview');"
            "if (chips.length && (shapes.length !== chips.length || !img.naturalWidth)) return null;"
            "return {text: text.textContent, shapes: shapes.length, image: [img.naturalWidth, img.naturalHeight],"
            "  chips: chips.map((li) => ['.word-text', '.word-p'].map((c) => li.querySelector(c).textContent)),"
            "  boxes: [...shapes].map((g) => g.querySelector('polygon').getAttribute('points'))};",
            TAB,
        )
        return got if got and (text is None or got["text"] == text) else None

    return wait(driver).until(ready)


def no_overflow(driver) -> bool:
    return driver.execute_script("return document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def canvas_ink(driver) -> int:
    return driver.execute_script(
        "const c = document.getElementById(arguments[0] + '-canvas');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] < 128; return n;",
        TAB,
    )


def touch_stroke(driver, canvas, points: list[tuple[float, float]]) -> None:
    """One stroke with a finger (CDP touch events: the page sees pointerType "touch")."""
    r = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width, r.height];", canvas)
    at = [{"x": r[0] + fx * r[2], "y": r[1] + fy * r[3]} for fx, fy in points]
    driver.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [at[0]]})
    for p in at[1:]:
        driver.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [p]})
    driver.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


# -- tests ----------------------------------------------------------------------------------------
def test_writing_shows_the_reading_lines_and_word_boxes(browser, server, fake):
    open_page(browser, server, TAB)
    tabs = [b.get_attribute("id") for b in browser.find_elements(By.CSS_SELECTOR, "#tabs [role=tab]")]
    assert tabs.index("tab-word") == tabs.index("tab-letter") + 1 == tabs.index("tab-doc-edges") - 1
    canvas = browser.find_element(By.ID, f"{TAB}-canvas")
    assert 3.8 < canvas.size["width"] / canvas.size["height"] < 4.2  # a wide pad for a line of writing
    assert canvas.size["width"] > 500
    before = len(fake.calls)
    draw(browser, canvas, PHRASE)  # no button: the page reads once the writer pauses
    got = reading(browser, before, fake, "hello world\nsecond")
    assert got["text"] == "hello world\nsecond"  # lines preserved
    assert browser.find_element(By.ID, f"{TAB}-reading").text == "hello world\nsecond"
    assert got["shapes"] == 3 and got["image"] == [800, 200]
    assert got["chips"] == [["hello", "90.0%"], ["world", "90.0%"], ["second", "90.0%"]]
    assert fake.calls[-1] == {"segment": True, "lexicon": True}
    assert browser.find_element(By.CSS_SELECTOR, f"#{TAB}-result .source").text == "From your writing"
    assert "null" not in browser.find_element(By.ID, f"{TAB}-result").text
    # Each box sits over its stroke: the first word's box is in the top-left of the image.
    x0, y0 = (float(v) for v in got["boxes"][0].split()[0].split(","))
    assert x0 < 0.1 * 800 and y0 < 0.2 * 200
    # Hovering a word in the list highlights its box.
    chip = browser.find_element(By.ID, f"{TAB}-word-1")
    ActionChains(browser).move_to_element(chip).perform()
    shape = "return document.querySelectorAll('#' + arguments[0] + '-result .overlay .shape')[1].classList"
    wait(browser).until(lambda d: d.execute_script(shape + ".contains('active')", TAB))
    assert "active" in chip.get_attribute("class")
    # And hovering a box highlights its word in the list.
    polygon = browser.find_elements(By.CSS_SELECTOR, f"#{TAB}-result .overlay .shape polygon")[2]
    ActionChains(browser).move_to_element(polygon).perform()
    last = browser.find_element(By.ID, f"{TAB}-word-2")
    wait(browser).until(lambda d: "active" in last.get_attribute("class"))
    assert "active" not in chip.get_attribute("class")
    # A toggle reads the pad again with the new option: "split into words" off sends segment=0.
    before = len(fake.calls)
    browser.find_element(By.ID, f"{TAB}-segment").click()
    got = reading(browser, before, fake, "hello")
    assert fake.calls[-1] == {"segment": False, "lexicon": True}
    assert got["boxes"] == ["0,0 800,0 800,200 0,200"]
    # Clear empties the pad and the answer.
    browser.find_element(By.ID, f"{TAB}-clear").click()
    wait(browser).until(lambda d: not d.find_elements(By.ID, f"{TAB}-reading"))
    assert canvas_ink(browser) == 0


def test_upload_and_the_toggles_reach_the_server(browser, server, fake, tmp_path):
    open_page(browser, server, TAB)
    before = len(fake.calls)
    browser.find_element(By.ID, f"{TAB}-file").send_keys(str(handwriting(tmp_path / "note.png")))
    got = reading(browser, before, fake)
    assert got["text"] == "hello world\nsecond line" and got["shapes"] == 4 and got["image"] == [800, 200]
    assert browser.find_element(By.CSS_SELECTOR, f"#{TAB}-result .source").text == "From note.png"

    # "Split into words" off: the same file is read again as one word covering the whole image.
    before = len(fake.calls)
    browser.find_element(By.ID, f"{TAB}-segment").click()
    got = reading(browser, before, fake)
    assert fake.calls[-1] == {"segment": False, "lexicon": True}
    assert got["text"] == "hello" and got["shapes"] == 1
    assert got["boxes"] == ["0,0 800,0 800,200 0,200"]

    # "Dictionary" off too.
    before = len(fake.calls)
    browser.find_element(By.ID, f"{TAB}-lexicon").click()
    got = reading(browser, before, fake)
    assert fake.calls[-1] == {"segment": False, "lexicon": False}
    assert got["chips"] == [["HELLO", "60.0%"]]

    # The Read button sends the pad with the current options (and a blank pad reads as nothing).
    before = len(fake.calls)
    browser.find_element(By.ID, f"{TAB}-read").click()
    got = reading(browser, before, fake)
    assert fake.calls[-1] == {"segment": False, "lexicon": False}
    assert got["text"] == "" and got["shapes"] == 0 and got["chips"] == []
    text = browser.find_element(By.ID, f"{TAB}-result").text
    assert "No writing was found" in text and "null" not in text


@pytest.mark.parametrize(
    ("name", "data"), [("notes.txt", b"this is not a picture\n"), ("broken.png", b"\x89PNG\r\n\x1a\n")]
)
def test_uploading_a_non_image_shows_a_clear_error(browser, server, tmp_path, name, data):
    open_page(browser, server, TAB)
    path = tmp_path / name
    path.write_bytes(data)
    browser.find_element(By.ID, f"{TAB}-file").send_keys(str(path))
    assert "not an image" in error_text(browser, TAB)
    assert not browser.find_elements(By.ID, f"{TAB}-reading")


def test_mobile_layout_and_writing_with_a_finger(browser, server, fake):
    try:
        open_page(browser, server, TAB, width=375, mobile=True)
        browser.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 1})
        canvas = browser.find_element(By.ID, f"{TAB}-canvas")
        assert canvas.size["width"] <= 375 and 3.8 < canvas.size["width"] / canvas.size["height"] < 4.2
        before = len(fake.calls)
        for stroke in PHRASE:
            touch_stroke(browser, canvas, stroke)
        assert canvas_ink(browser) > 300
        got = reading(browser, before, fake, "hello world\nsecond")
        assert got["shapes"] == 3
        assert no_overflow(browser)
        # On a phone: write, then the answer, then the upload.
        tops = browser.execute_script(
            "return ['-canvas', '-result', '-file'].map((s) => {"
            "  const el = document.getElementById(arguments[0] + s).closest('.card');"
            "  return el.getBoundingClientRect().top; });",
            TAB,
        )
        assert tops == sorted(tops), tops
        for width in (320, 768, 1024):
            set_viewport(browser, width, mobile=width < 600)
            assert no_overflow(browser), width
    finally:
        browser.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})
        set_viewport(browser, 1200)


def paint(driver, url: str) -> None:
    """Paint an image (a data URL) onto the Word pad, as if it had been written there."""
    driver.execute_async_script(
        "const [id, url, done] = arguments, img = new Image();"
        "const ctx = document.getElementById(id + '-canvas').getContext('2d');"
        "img.onload = () => { ctx.drawImage(img, 0, 0); done(); };"
        "img.src = url;",
        TAB, url,
    )


@pytest.mark.skipif(os.environ.get("SCREENSHOTS") != "1", reason="set SCREENSHOTS=1 to write docs/screenshots/")
def test_screenshots(browser, server, fake, tmp_path):
    # The note is painted onto the pad (the stand-in names the words it finds "hello world second line").
    note = "data:image/png;base64," + base64.b64encode(handwriting(tmp_path / "note.png").read_bytes()).decode()
    try:
        for name, width in (("word", 1200), ("word-mobile", 375)):
            open_page(browser, server, TAB, width=width, mobile=width < 600)
            paint(browser, note)
            before = len(fake.calls)
            browser.find_element(By.ID, f"{TAB}-read").click()
            reading(browser, before, fake, "hello world\nsecond line")
            screenshot(browser, name, width)
    finally:
        set_viewport(browser, 1200)


def test_handwriting_sample_is_split_as_the_tests_expect(tmp_path):
    """The uploaded sample is four words on two lines for the stand-in (a check on the fixture itself)."""
    image = np.asarray(Image.open(handwriting(tmp_path / "note.png")))
    (result,) = FakeWord().predict([image])
    assert result.to_dict()["text"] == "hello world\nsecond line"


@pytest.mark.skipif(os.environ.get("SCREENSHOTS") != "1", reason="set SCREENSHOTS=1 to write docs/screenshots/")
def test_screenshots_shipped_model(browser, tmp_path):
    """The screenshots for the docs, read by the shipped model (models/), not the stand-in."""
    registry = ModelRegistry(Path(__file__).resolve().parent.parent / "models")
    if "word" not in registry.by_task or not registry.by_task["word"].ready:
        pytest.skip("no shipped word model")
    # In Klee, a font the shipped model never trained on (handwrite_word_ocr.synth.HELD_OUT_FAMILIES).
    klee = Path("/usr/share/fonts/truetype/klee/KleeOne-Regular.ttf")
    png = handwriting(tmp_path / "note.png", font_path=klee).read_bytes()
    note = "data:image/png;base64," + base64.b64encode(png).decode()
    srv = LiveServer(create_app(registry=registry))
    try:
        for name, width in (("word", 1200), ("word-mobile", 375)):
            open_page(browser, srv, TAB, width=width, mobile=width < 600)
            paint(browser, note)
            browser.find_element(By.ID, f"{TAB}-read").click()
            wait(browser).until(lambda d: (d.find_element(By.ID, f"{TAB}-reading").text or "").strip())
            screenshot(browser, name, width)
    finally:
        set_viewport(browser, 1200)
        srv.close()
