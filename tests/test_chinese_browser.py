"""The Chinese tab in headless Chromium: upload a photo or a page, see each text line outlined on the
image and its text and confidence in a list (hovering one highlights the other), switch line
detection off (``?detect=0``), copy the text, and read the server's errors in words.

The predictor is the stand-in from tests/http_helpers (``FakeChinese``: bands of ink rows are the
lines, named "你好世界", "第二行文字", ...), so this pins the page's behaviour, not a model's accuracy.
``SCREENSHOTS=1`` also writes ``docs/screenshots/chinese[-mobile].png`` with the shipped models
(skipped while ``models/manifest.json`` has no Chinese recogniser).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from ocr_common.errors import ModelUnavailable
from serving import create_app
from serving.registry import ModelRegistry
from tests import test_browser
from tests.http_helpers import FakeChinese, stand_in_registry

# Fixtures and helpers shared with the other browser tests (the same headless Chromium set-up).
browser = test_browser.browser
no_script_errors = test_browser.no_script_errors  # autouse: a JavaScript error fails the test
LiveServer, error_text, open_page = test_browser.LiveServer, test_browser.error_text, test_browser.open_page
screenshot, set_viewport, wait = test_browser.screenshot, test_browser.set_viewport, test_browser.wait

TAB = "chinese"
REPO_ROOT = Path(__file__).resolve().parent.parent
W, H = 480, 176
LINES = [("一二三四五六七", 24, 24), ("八九十三二一", 24, 104)]


def page_png(path: Path, lines=LINES, size: tuple[int, int] = (W, H)) -> Path:
    """Two lines of Chinese type (dark bars where no CJK font is installed: the stand-in only needs ink)."""
    img = Image.new("RGB", size, (248, 246, 240))
    draw = ImageDraw.Draw(img)
    try:
        from chinese_ocr import fonts

        face = next(f for f in fonts.faces("train") if fonts.can_draw(f, "".join(t for t, _, _ in lines)))
        font = fonts.pil_font(fonts.font_file(face), face.index, 36)
    except (FileNotFoundError, StopIteration):
        font = None
    for text, x, y in lines:
        if font is None:
            draw.rectangle((x, y + 4, x + 36 * len(text), y + 36), fill=(25, 25, 30))
        else:
            draw.text((x, y), text, font=font, fill=(25, 25, 30))
    img.save(path)
    return path


def expected(path: Path, detect: bool = True) -> dict:
    """What the stand-in answers for the file at ``path``."""
    return FakeChinese().predict([np.asarray(Image.open(path).convert("RGB"))], detect=detect)[0].to_dict()


class NoDetector(FakeChinese):
    """A server without the text-line detector: ``detect=1`` (the default) is the predictor's 503."""

    def predict(self, images, **options: bool):
        if options.get("detect", True):
            self.calls.append(options)
            raise ModelUnavailable("the text-line detector (ctpn) is not installed; read one line with ?detect=0")
        return super().predict(images, **options)


@pytest.fixture(scope="module")
def fake() -> FakeChinese:
    return FakeChinese()


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake) -> Iterator[LiveServer]:
    srv = LiveServer(create_app(registry=stand_in_registry(tmp_path_factory.mktemp("zh-models"), TAB, fake)))
    yield srv
    srv.close()


# -- helpers --------------------------------------------------------------------------------------
def upload(driver, path: Path) -> None:
    driver.find_element(By.ID, f"{TAB}-file").send_keys(str(path))


def reading(driver, calls_before: int, fake: FakeChinese) -> dict:
    """Wait for an answer to a request made after call number ``calls_before`` of ``fake``, with its
    outlines drawn; return its rows, outlines, the image's size and the overlay's geometry."""

    def ready(d):
        if len(fake.calls) <= calls_before:
            return False
        return d.execute_script(
            "const id = arguments[0];"
            "const region = document.querySelector('#' + id + '-panel .result-live');"
            "const source = document.querySelector('#' + id + '-result .source');"
            "if (region.getAttribute('aria-busy') !== 'false' || !source) return null;"
            "const rows = [...document.querySelectorAll('#' + id + '-lines li')];"
            "const shapes = [...document.querySelectorAll('#' + id + '-panel .overlay .shape')];"
            "const img = document.getElementById(id + '-preview');"
            "if (rows.length && (shapes.length !== rows.length || !img.naturalWidth)) return null;"
            "const box = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; };"
            "const svg = document.querySelector('#' + id + '-panel .overlay');"
            "const cells = (li) => ['.zh-line-text', '.zh-line-p'].map((c) => li.querySelector(c).textContent);"
            "return {rows: rows.map(cells),"
            "  shapes: shapes.map((g) => g.querySelector('polygon').getAttribute('points')),"
            "  image: [img.naturalWidth, img.naturalHeight], viewBox: svg.getAttribute('viewBox'),"
            "  shown: box(img), overlay: box(svg)};",
            TAB,
        )

    return wait(driver).until(ready)


def points(box: list[list[float]]) -> str:
    """A 4-point box as the overlay's polygon writes it."""
    return " ".join(f"{x},{y}" for x, y in box)


# -- tests ----------------------------------------------------------------------------------------
def test_tab_upload_shows_line_outlines_and_rows(browser, server, fake, tmp_path):
    open_page(browser, server, "digit")
    tabs = [b.get_attribute("id") for b in browser.find_elements(By.CSS_SELECTOR, "#tabs [role=tab]")]
    assert tabs.index("tab-chinese") == tabs.index("tab-doc-edges") + 1
    browser.find_element(By.ID, "tab-chinese").click()
    wait(browser).until(lambda d: d.find_element(By.ID, f"{TAB}-panel").is_displayed())
    assert not browser.find_element(By.ID, "digit-panel").is_displayed()
    assert browser.current_url.endswith("#chinese")
    switch = browser.find_element(By.ID, f"{TAB}-detect")
    assert switch.is_selected()  # lines are found by default

    path = page_png(tmp_path / "page.png")
    want = expected(path)
    assert len(want["lines"]) == 2
    before = len(fake.calls)
    upload(browser, path)
    got = reading(browser, before, fake)
    assert fake.calls[-1] == {"detect": True}
    # One outline per line of the answer, drawn from its four corners, and one row per line.
    assert got["image"] == [W, H] and got["viewBox"] == f"0 0 {W} {H}"
    assert got["shapes"] == [points(line["box"]) for line in want["lines"]]
    assert got["rows"] == [["你好世界", "90.0%"], ["第二行文字", "90.0%"]]
    # The overlay lies exactly over the image as shown, so the pixel boxes scale with it.
    assert got["overlay"] == pytest.approx(got["shown"], abs=0.5)
    assert browser.find_element(By.CSS_SELECTOR, f"#{TAB}-result .source").text == "From page.png"
    assert "2 lines" in browser.find_element(By.ID, f"{TAB}-result").text.lower()  # a heading in capitals
    assert "null" not in browser.find_element(By.ID, f"{TAB}-result").text

    # Hovering a row highlights its outline; hovering an outline highlights its row.
    row = browser.find_element(By.ID, f"{TAB}-line-1")
    ActionChains(browser).move_to_element(row).perform()
    shape = "return document.querySelectorAll('#' + arguments[0] + '-panel .overlay .shape')[1].classList"
    wait(browser).until(lambda d: d.execute_script(shape + ".contains('active')", TAB))
    assert "active" in row.get_attribute("class")
    polygon = browser.find_elements(By.CSS_SELECTOR, f"#{TAB}-panel .overlay .shape polygon")[0]
    ActionChains(browser).move_to_element(polygon).perform()
    first = browser.find_element(By.ID, f"{TAB}-line-0")
    wait(browser).until(lambda d: "active" in first.get_attribute("class"))
    assert "active" not in row.get_attribute("class")


def test_switch_off_sends_detect_0_and_reads_one_line(browser, server, fake, tmp_path):
    open_page(browser, server, TAB)
    path = page_png(tmp_path / "sign.png")
    before = len(fake.calls)
    upload(browser, path)
    assert len(reading(browser, before, fake)["rows"]) == 2
    before = len(fake.calls)
    browser.find_element(By.ID, f"{TAB}-detect").click()  # the same image is read again
    got = reading(browser, before, fake)
    assert fake.calls[-1] == {"detect": False}
    assert got["shapes"] == [f"0,0 {W},0 {W},{H} 0,{H}"]
    assert got["rows"] == [["你好世界", "80.0%"]]
    # Uploading another file keeps the switch's setting.
    before = len(fake.calls)
    upload(browser, page_png(tmp_path / "other.png", LINES[:1]))
    reading(browser, before, fake)
    assert fake.calls[-1] == {"detect": False}


def test_copy_puts_the_text_on_the_clipboard(browser, server, fake, tmp_path):
    open_page(browser, server, TAB)
    before = len(fake.calls)
    upload(browser, page_png(tmp_path / "page.png"))
    reading(browser, before, fake)
    # A hook in place of the Clipboard API records what the page copies.
    browser.execute_script(
        "window.copied = [];"
        "Object.defineProperty(navigator, 'clipboard', {configurable: true, value: {"
        "  writeText: (t) => { window.copied.push(t); return Promise.resolve(); }}});"
    )
    browser.find_element(By.ID, f"{TAB}-copy").click()
    status = browser.find_element(By.ID, f"{TAB}-copy-status")
    wait(browser).until(lambda d: status.text == "Copied.")
    assert browser.execute_script("return window.copied") == ["你好世界\n第二行文字"]

    # Where the Clipboard API refuses, the text is copied through a selected textarea and execCommand.
    browser.execute_script(
        "window.copied = [];"
        "Object.defineProperty(navigator, 'clipboard', {configurable: true, value: {"
        "  writeText: () => Promise.reject(new DOMException('denied', 'NotAllowedError'))}});"
        "document.execCommand = (cmd) => {"
        "  window.copied.push([cmd, document.activeElement.value.slice("
        "    document.activeElement.selectionStart, document.activeElement.selectionEnd)]); return true; };"
    )
    browser.find_element(By.ID, f"{TAB}-copy").click()
    wait(browser).until(lambda d: d.execute_script("return window.copied.length") == 1)
    assert browser.execute_script("return window.copied") == [["copy", "你好世界\n第二行文字"]]
    assert not browser.find_elements(By.CSS_SELECTOR, "textarea.copy-buffer")  # cleaned up
    assert browser.switch_to.active_element == browser.find_element(By.ID, f"{TAB}-copy")

    # And where neither works, the page says so.
    browser.execute_script("window.copied = []; document.execCommand = () => false;")
    browser.find_element(By.ID, f"{TAB}-copy").click()
    wait(browser).until(lambda d: "Could not copy" in status.text)
    assert "warn" in status.get_attribute("class")


def test_real_clipboard(browser, server, fake, tmp_path):
    """With the page allowed to use the clipboard, Copy really puts the text there."""
    browser.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": server.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    try:
        open_page(browser, server, TAB)
        before = len(fake.calls)
        upload(browser, page_png(tmp_path / "page.png"))
        reading(browser, before, fake)
        browser.find_element(By.ID, f"{TAB}-copy").click()
        wait(browser).until(lambda d: d.find_element(By.ID, f"{TAB}-copy-status").text == "Copied.")
        text = browser.execute_async_script(
            "const done = arguments[0]; navigator.clipboard.readText().then(done, (e) => done('error: ' + e));")
        assert text == "你好世界\n第二行文字"
    finally:
        browser.execute_cdp_cmd("Browser.resetPermissions", {})


def test_blank_image_says_no_text_was_found(browser, server, fake, tmp_path):
    open_page(browser, server, TAB)
    path = tmp_path / "blank.png"
    Image.new("L", (200, 80), 250).save(path)
    before = len(fake.calls)
    upload(browser, path)
    got = reading(browser, before, fake)
    assert got["rows"] == [] and got["shapes"] == []
    text = browser.find_element(By.ID, f"{TAB}-result").text
    assert "No text was found" in text and "null" not in text
    assert not browser.find_elements(By.ID, f"{TAB}-copy")


@pytest.mark.parametrize(
    ("name", "data"), [("notes.txt", b"this is not a picture\n"), ("broken.png", b"\x89PNG\r\n\x1a\n")]
)
def test_uploading_a_non_image_shows_a_clear_error(browser, server, tmp_path, name, data):
    open_page(browser, server, TAB)
    path = tmp_path / name
    path.write_bytes(data)
    upload(browser, path)
    assert "not an image" in error_text(browser, TAB)
    assert not browser.find_elements(By.ID, f"{TAB}-lines")


def test_missing_detector_is_explained_and_one_line_still_reads(browser, tmp_path):
    fake = NoDetector()
    srv = LiveServer(create_app(registry=stand_in_registry(tmp_path, TAB, fake)))
    try:
        open_page(browser, srv, TAB)
        upload(browser, page_png(tmp_path / "page.png"))
        text = error_text(browser, TAB)
        assert "no text-line detector" in text and "Detect lines" in text
        assert "Server said: the text-line detector (ctpn) is not installed" in text
        assert not browser.find_elements(By.ID, f"{TAB}-lines")
        assert not browser.find_elements(By.CSS_SELECTOR, f"#{TAB}-panel .overlay .shape")
        # Switched off, the same image is read as one line and the error goes away.
        before = len(fake.calls)
        browser.find_element(By.ID, f"{TAB}-detect").click()
        got = reading(browser, before, fake)
        assert fake.calls[-1] == {"detect": False} and len(got["rows"]) == 1
        assert not browser.find_element(By.ID, f"{TAB}-error").is_displayed()
    finally:
        srv.close()


def test_mobile_layout_fits(browser, server, fake, tmp_path):
    try:
        open_page(browser, server, TAB, width=375, mobile=True)
        before = len(fake.calls)
        upload(browser, page_png(tmp_path / "page.png"))
        got = reading(browser, before, fake)
        # The image is shown smaller than its pixels, and the overlay (with its viewBox in image pixels) with it.
        assert len(got["shapes"]) == 2 and got["shown"][2] < W and got["viewBox"] == f"0 0 {W} {H}"
        assert got["overlay"] == pytest.approx(got["shown"], abs=0.5)
        for width in (320, 375, 768, 1024):
            set_viewport(browser, width, mobile=width < 600)
            assert browser.execute_script(
                "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"), width
    finally:
        set_viewport(browser, 1200)


def _shipped(file: str = "chinese.keras") -> bool:
    import json

    try:
        entries = json.loads((REPO_ROOT / "models" / "manifest.json").read_text(encoding="utf-8"))["models"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return any(isinstance(e, dict) and e.get("file") == file for e in entries)


@pytest.mark.skipif(os.environ.get("SCREENSHOTS") != "1", reason="set SCREENSHOTS=1 to write docs/screenshots/")
def test_screenshots_shipped_model(browser, tmp_path):
    """The screenshots for the docs: a rendered page (fonts the project never trains on) read by the
    shipped models; without a shipped detector, one line of such a face read with "Detect lines" off."""
    if not _shipped():
        pytest.skip("models/manifest.json has no shipped Chinese recogniser (models/chinese.keras)")
    from ctpn.synth import render_eval_page

    path = tmp_path / "page.png"
    pages = _shipped("ctpn.keras")
    if pages:
        Image.fromarray(render_eval_page(np.random.default_rng(5), "eval").image).save(path)
    else:
        from tests.test_chinese_shipped import _lines

        Image.fromarray(_lines()[3][0]).save(path)
    registry = ModelRegistry(REPO_ROOT / "models")
    if not registry.by_task.get(TAB) or not registry.by_task[TAB].ready:
        pytest.skip(f"the shipped Chinese model does not load: {registry.reason(TAB)}")
    srv = LiveServer(create_app(registry=registry))
    try:
        for name, width in (("chinese", 1200), ("chinese-mobile", 375)):
            open_page(browser, srv, TAB, width=width, mobile=width < 600)
            if not pages:
                browser.find_element(By.ID, f"{TAB}-detect").click()
            upload(browser, path)
            wait(browser, 120).until(lambda d: d.execute_script(
                "const region = document.querySelector('#' + arguments[0] + '-panel .result-live');"
                "const rows = document.querySelectorAll('#' + arguments[0] + '-lines li').length;"
                "const shapes = document.querySelectorAll('#' + arguments[0] + '-panel .overlay .shape').length;"
                "return region.getAttribute('aria-busy') === 'false' && rows > 0 && rows === shapes;", TAB))
            screenshot(browser, name, width)
    finally:
        set_viewport(browser, 1200)
        srv.close()
