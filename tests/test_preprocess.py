import cv2
import numpy as np
import pytest

from handwrite_digit_ocr.preprocess import dark_ink, normalize_batch, normalize_char, to_gray
from tests.toy_data import draw_digit


def _com(img):
    ys, xs = np.mgrid[: img.shape[0], : img.shape[1]]
    return (ys * img).sum() / img.sum(), (xs * img).sum() / img.sum()


def _bbox(img, thr=0.1):
    ys, xs = np.nonzero(img > thr)
    return ys.max() - ys.min() + 1, xs.max() - xs.min() + 1


@pytest.mark.parametrize("canvas", [(28, 28), (60, 90), (300, 200), (640, 480)])
@pytest.mark.parametrize("dark_on_light", [False, True])
@pytest.mark.parametrize("digit", [1, 4, 7])
def test_any_size_position_polarity_ends_centred(canvas, dark_on_light, digit):
    rng = np.random.default_rng(digit)
    img = draw_digit(digit, rng=rng, canvas=canvas, dark_on_light=dark_on_light, scale=min(canvas) / 60)
    out = normalize_char(img)
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert out.max() == pytest.approx(1.0) and out.min() >= 0.0
    cy, cx = _com(out)
    assert abs(cy - 14) <= 1.0 and abs(cx - 14) <= 1.0
    assert max(_bbox(out)) in (19, 20, 21)  # longer side fitted into the 20-px box
    assert out[0].max() < 0.05 and out[-1].max() < 0.05  # margin stays empty


def test_polarity_and_size_do_not_change_the_result():
    rng = np.random.default_rng(3)
    small = draw_digit(3, rng=rng, canvas=(28, 28), scale=0.8)
    big = cv2.resize(small, (280, 280), interpolation=cv2.INTER_CUBIC)
    a, b, c = normalize_char(small), normalize_char(255 - big), normalize_char(big)
    mask = lambda x: x > 0.3  # noqa: E731
    iou = (mask(a) & mask(b)).sum() / (mask(a) | mask(b)).sum()
    assert iou > 0.6
    assert np.abs(b - c).max() < 1e-5  # polarity is undone exactly


def test_uneven_lighting_and_rgb_photo():
    rng = np.random.default_rng(5)
    ink = draw_digit(5, rng=rng, canvas=(240, 320), scale=4)
    # Paper lit from one side: brightness falls from 250 to 120 across the page.
    light = np.linspace(250, 120, 320)[None, :].repeat(240, 0)
    photo = np.clip(light - ink.astype(float) * 0.6, 0, 255).astype(np.uint8)
    rgb = np.dstack([photo, photo * 0.95, photo * 0.9]).astype(np.uint8)
    out = normalize_char(rgb)
    ref = normalize_char(ink)
    assert (np.abs(out - ref) > 0.5).mean() < 0.05
    # The dark side of the page is not mistaken for ink.
    assert out[:, :4].max() < 0.05 and out[:, -4:].max() < 0.05


def test_rgba_is_composited_on_white():
    ink = draw_digit(2, canvas=(50, 50), scale=1.2)
    rgba = np.zeros((50, 50, 4), np.uint8)
    rgba[..., 3] = ink  # black strokes, transparent paper
    assert to_gray(rgba).max() == 255  # transparent -> white paper
    out = normalize_char(rgba)
    assert np.abs(out - normalize_char(255 - ink)).max() < 1e-5


def test_blank_and_specks():
    assert normalize_char(np.full((40, 40), 255, np.uint8)).max() == 0
    img = np.full((100, 100), 255, np.uint8)
    cv2.line(img, (50, 20), (50, 80), 0, 6)
    img[5, 5] = 0  # a speck of dust in the corner
    out = normalize_char(img)
    assert abs(_com(out)[1] - 14) <= 1  # the speck did not pull the crop off-centre
    assert _bbox(out)[0] == 20


def test_faint_detached_stroke_of_a_crop_is_kept():
    """In a 28x28 crop (MNIST-like) a faint stroke detached from the main one is the writer's
    ink, not a speck: it stays (the top bar of a 5 once vanished here). A photo still drops
    specks (test above)."""
    img = np.zeros((28, 28), np.uint8)
    cv2.line(img, (14, 10), (14, 24), 255, 2)  # the bright main stroke
    cv2.line(img, (11, 4), (19, 4), 60, 1)  # a faint bar, apart from it, far below Otsu's threshold
    out = normalize_char(img)
    top = out[np.nonzero(out.max(axis=1) > 0.1)[0][0]]  # the first row with ink
    assert (top > 0.1).sum() >= 6  # is the bar (the main stroke is 2-3 px wide), ...
    assert _bbox(out)[0] == 20  # and the digit, bar included, fills the 20-px box


def test_dark_ink_detection_and_batch():
    ink = draw_digit(8, canvas=(28, 28))
    assert not dark_ink(ink.astype(np.float32))
    assert dark_ink((255 - ink).astype(np.float32))
    batch = normalize_batch([ink, 255 - ink])
    assert batch.shape == (2, 28, 28, 1)


def test_rejects_bad_shapes():
    with pytest.raises(ValueError):
        to_gray(np.zeros((4, 4, 2)))


def test_large_photo_is_fast():
    import time

    img = np.full((3000, 4000), 230, np.uint8)
    cv2.putText(img, "4", (1500, 2200), cv2.FONT_HERSHEY_SIMPLEX, 40, 20, 120)
    t = time.perf_counter()
    out = normalize_char(img)
    assert time.perf_counter() - t < 2.0  # a 12 MP upload must not hold a worker for minutes
    assert abs(_com(out)[0] - 14) <= 1


def test_simulated_photo_normalises_back_to_the_digit():
    from handwrite_digit_ocr.photo_sim import photo_like

    rng = np.random.default_rng(0)
    digit = draw_digit(6, rng=rng, scale=0.9)
    photo = photo_like(digit, rng)
    assert photo.ndim == 3 and photo.shape[2] == 3 and min(photo.shape[:2]) >= 60
    assert photo.mean() > 100  # dark ink on light paper
    a, b = normalize_char(digit) > 0.3, normalize_char(photo) > 0.3
    assert (a & b).sum() / (a | b).sum() > 0.5


@pytest.mark.parametrize("shape", [(40, 40), (2000, 1500), (700, 900, 3)])
def test_blank_page_stays_blank(shape):
    rng = np.random.default_rng(0)
    page = np.clip(230 + rng.normal(0, 1.5, shape), 0, 255).astype(np.uint8)  # paper + sensor noise
    assert normalize_char(page).max() == 0
