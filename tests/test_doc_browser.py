"""The Document tab in headless Chromium: upload a photo, see the page outline and its four handles,
move a corner with the pointer or the keyboard, and get a new flattened scan from ``POST /scan``.

The doc-edges predictor is the stand-in from tests/http_helpers (corners inset 10 % from the
border, flattening with OpenCV), so this pins the page's behaviour, not a model's accuracy.
``SCREENSHOTS=1`` also writes ``docs/screenshots/document[-mobile].png``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from serving import create_app
from tests import test_browser
from tests.http_helpers import FakeDocEdges, stand_in_registry

# Fixtures and helpers shared with the other browser tests (the same headless Chromium set-up).
browser = test_browser.browser
no_script_errors = test_browser.no_script_errors  # autouse: a JavaScript error fails the test
LiveServer, error_text, open_page = test_browser.LiveServer, test_browser.error_text, test_browser.open_page
screenshot, set_viewport, wait = test_browser.screenshot, test_browser.set_viewport, test_browser.wait

TAB = "doc-edges"
W, H = 320, 240
INSET = [[32, 24], [288, 24], [288, 216], [32, 216]]  # where the stand-in "finds" the page


def page_photo(path: Path, corners: list[list[float]], size: tuple[int, int] = (W, H), lines: bool = False) -> Path:
    """A bright page (a quad at ``corners``) on a dark table, as a PNG."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    table = (45 + 25 * xx / w + 10 * np.sin(yy / 7.0)).astype(np.uint8)  # a little texture
    img = np.dstack([table + 10, table, table - 10])
    quad = np.array(corners, np.float32)
    cv2.fillPoly(img, [quad.round().astype(np.int32)], (238, 234, 224), cv2.LINE_AA)
    if lines:  # text-like strokes drawn on the flat page, then warped onto the quad
        flat = np.full((400, 300, 3), 255, np.uint8)
        for i, y in enumerate(range(50, 370, 24)):
            cv2.line(flat, (30, y), (270 - 40 * (i % 3 == 2), y), (60, 60, 70), 5)
        cv2.putText(flat, "Invoice", (30, 30), cv2.FONT_HERSHEY_DUPLEX, 0.9, (30, 30, 90), 2, cv2.LINE_AA)
        m = cv2.getPerspectiveTransform(np.float32([[0, 0], [300, 0], [300, 400], [0, 400]]), quad)
        warped = cv2.warpPerspective(flat, m, (w, h))
        mask = cv2.warpPerspective(np.full((400, 300), 255, np.uint8), m, (w, h)) > 128
        img[mask] = np.minimum(img[mask], warped[mask] * 0.93 + 10).astype(np.uint8)
    Image.fromarray(img).save(path)
    return path


def flat_photo(path: Path) -> Path:
    Image.fromarray(np.full((H, W, 3), 70, np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def fake() -> FakeDocEdges:
    return FakeDocEdges()


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake) -> Iterator[LiveServer]:
    srv = LiveServer(create_app(registry=stand_in_registry(tmp_path_factory.mktemp("doc-models"), "doc-edges", fake)))
    yield srv
    srv.close()


# -- helpers --------------------------------------------------------------------------------------
def upload(driver, path: Path) -> None:
    driver.find_element(By.ID, f"{TAB}-file").send_keys(str(path))


def scan_state(driver) -> tuple[list | None, int]:
    """(corners the server used for the scan shown, its width), once it has loaded and no scan is running."""
    return wait(driver).until(
        lambda d: d.execute_script(
            "const img = document.getElementById(arguments[0] + '-scan');"
            "const busy = document.querySelector('#' + arguments[0] + '-panel .result-live').getAttribute('aria-busy');"
            "if (busy !== 'false' || !img || !img.isConnected || !img.complete || !img.naturalWidth) return null;"
            "return [JSON.parse(img.dataset.corners), img.naturalWidth];",
            TAB,
        )
    )


def next_scan(driver, before: list | None) -> tuple[list, int]:
    """Wait for a scan made with corners other than ``before``."""
    return wait(driver).until(lambda d: (s := scan_state(d)) and s[0] != before and s)


def handle_centres(driver) -> list[tuple[float, float]]:
    """The four handles' centres in photo pixels, read back through the canvas' own scale."""
    return driver.execute_script(
        "const stage = document.querySelector('#' + arguments[0] + '-panel .quad-stage').getBoundingClientRect();"
        "const [w, h, m] = arguments[1];"
        "const s = stage.width / (w + 2 * m);"
        "return [0, 1, 2, 3].map((i) => {"
        "  const r = document.getElementById(arguments[0] + '-handle-' + i).getBoundingClientRect();"
        "  return [(r.left + r.width / 2 - stage.left) / s - m, (r.top + r.height / 2 - stage.top) / s - m]; });",
        TAB,
        [W, H, round(0.06 * W)],
    )


def outline_pixels(driver) -> int:
    """How many canvas pixels have the outline's blue (#1d5fd1)."""
    return driver.execute_script(
        "const c = document.getElementById(arguments[0] + '-canvas');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
        "for (let i = 0; i < d.length; i += 4) n += Math.abs(d[i] - 29) < 30 && Math.abs(d[i + 1] - 95) < 30"
        " && Math.abs(d[i + 2] - 209) < 30;"
        "return n;",
        TAB,
    )


def drag(driver, element, dx: int, dy: int, steps: int = 5) -> None:
    """Press on ``element``, move by (dx, dy) CSS pixels in a few steps, release: real pointer input."""
    actions = ActionChains(driver, duration=0).click_and_hold(element)
    for i in range(steps):  # whole pixels per step, adding up to exactly (dx, dy)
        actions.move_by_offset(dx * (i + 1) // steps - dx * i // steps, dy * (i + 1) // steps - dy * i // steps)
    actions.release().perform()


# -- tests ----------------------------------------------------------------------------------------
def test_upload_shows_quad_and_handles_and_dragging_remakes_the_scan(browser, server, fake, tmp_path):
    open_page(browser, server, TAB)
    upload(browser, page_photo(tmp_path / "page.png", INSET))
    corners, width = scan_state(browser)
    assert corners == INSET and width == 256  # the stand-in's page: 288 - 32 wide
    status = browser.find_element(By.ID, f"{TAB}-status").text
    assert "Page found (90.0% sure)" in status
    handles = [browser.find_element(By.ID, f"{TAB}-handle-{i}") for i in range(4)]
    assert all(h.is_displayed() for h in handles)
    assert all(h.size["width"] >= 44 and h.size["height"] >= 44 for h in handles)  # finger-sized
    np.testing.assert_allclose(handle_centres(browser), INSET, atol=1.5)
    assert outline_pixels(browser) > 300
    assert fake.scans[-1]["corners"].tolist() == INSET and fake.scans[-1]["enhance"] is False

    # Drag the top-left corner out, left and up: a new scan with that corner moved, a wider page.
    scale = browser.find_element(By.CSS_SELECTOR, f"#{TAB}-panel .quad-stage").size["width"] / (W + 2 * 19)
    drag(browser, handles[0], -30, -20)
    corners, wider = next_scan(browser, INSET)
    moved = np.array(corners[0]) - INSET[0]
    np.testing.assert_allclose(moved, [-30 / scale, -20 / scale], atol=2.5)
    assert corners[1:] == INSET[1:] and wider > width
    np.testing.assert_allclose(fake.scans[-1]["corners"], corners, atol=0.01)  # what the page sent
    assert browser.switch_to.active_element == handles[0]

    # Keyboard: the focused handle moves with the arrow keys (2 px a press on this photo), one scan after.
    handles[2].send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_DOWN)
    # Wait for the scan of all three presses: on a loaded machine the debounce may also send one
    # for the first presses, so only the final state is asserted, not the number of scans.
    final = [INSET[2][0] + 4, INSET[2][1] + 2]
    corners2, _ = wait(browser).until(lambda d: (s := scan_state(d)) and s[0][2] == final and s)
    assert corners2[:2] == corners[:2]

    # Enhance: the same corners, the scan look.
    browser.find_element(By.ID, f"{TAB}-enhance").click()
    wait(browser).until(lambda d: fake.scans[-1]["enhance"] is True)
    assert scan_state(browser)[0] == corners2


def test_download_pdf_uses_the_original_photo_and_current_corners(browser, server, fake, tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    open_page(browser, server, TAB)
    upload(browser, page_photo(tmp_path / "receipt.png", INSET))
    scan_state(browser)
    browser.find_element(By.ID, f"{TAB}-download-pdf").click()
    pdf = downloads / "receipt-scan.pdf"
    wait(browser).until(lambda d: pdf.is_file() and pdf.stat().st_size > 0)
    assert pdf.read_bytes().startswith(b"%PDF")
    assert fake.scans[-1]["corners"].tolist() == INSET


def test_no_page_found_starts_from_an_inset_rectangle_and_says_so(browser, server, tmp_path):
    open_page(browser, server, TAB)
    upload(browser, flat_photo(tmp_path / "wall.png"))
    corners, _ = scan_state(browser)
    assert corners == INSET  # the page sends its default rectangle, which the server then uses
    status = browser.find_element(By.ID, f"{TAB}-status")
    assert "No page found" in status.text and "warn" in status.get_attribute("class")
    np.testing.assert_allclose(handle_centres(browser), INSET, atol=1.5)


def test_corners_the_server_refuses_show_its_error(browser, server, tmp_path):
    open_page(browser, server, TAB)
    upload(browser, page_photo(tmp_path / "page.png", INSET))
    scan_state(browser)
    handle = browser.find_element(By.ID, f"{TAB}-handle-0")
    stage = browser.find_element(By.CSS_SELECTOR, f"#{TAB}-panel .quad-stage")
    scale = stage.size["width"] / (W + 2 * 19)
    # Top-left dragged deep inside the page: a dented shape, which /scan refuses (400 bad_corners).
    drag(browser, handle, round(190 * scale), round(150 * scale))
    text = error_text(browser, TAB)
    assert "do not outline a page" in text and "convex" in text
    assert not browser.find_elements(By.ID, f"{TAB}-scan")


class _KnownPage(FakeDocEdges):
    """Finds the page the screenshot photo really has."""

    CORNERS = np.array([[70, 40], [262, 58], [250, 222], [58, 205]], float) * 2.5

    def _detect(self, image):
        found = super()._detect(image)
        found.corners, found.confidence = self.CORNERS.copy(), 0.97
        return found


@pytest.mark.skipif(os.environ.get("SCREENSHOTS") != "1", reason="set SCREENSHOTS=1 to write docs/screenshots/")
def test_screenshots(browser, tmp_path):
    path = page_photo(tmp_path / "invoice.jpg.png", _KnownPage.CORNERS.tolist(), (800, 600), lines=True)
    srv = LiveServer(create_app(registry=stand_in_registry(tmp_path, "doc-edges", _KnownPage())))
    try:
        for name, width in (("document", 1200), ("document-mobile", 400)):
            open_page(browser, srv, TAB, width=width, mobile=width < 600)
            upload(browser, path)
            scan_state(browser)
            screenshot(browser, name, width)
    finally:
        srv.close()
        set_viewport(browser, 1200)

