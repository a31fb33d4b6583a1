"""The real document predictor end to end: every method, the scan, the registry loader, the
server on a real (tiny, untrained) HED model, evaluate's table and sheet."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from doc_edge_detection.config import DocEdgeConfig
from doc_edge_detection.geometry import quad_iou
from doc_edge_detection.predict import DocEdgePredictor
from tests.conftest import manifest_entry, write_manifest
from tests.http_helpers import encode

TRUE_QUAD = np.array([[130, 90], [520, 120], [500, 640], [110, 610]], np.float32)


def photo(seed: int = 0) -> np.ndarray:
    """A white page with text lines on a dark wooden-ish table, 600 x 760."""
    rng = np.random.default_rng(seed)
    img = np.zeros((760, 600, 3), np.uint8)
    img[:] = (70, 50, 35)
    img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    cv2.fillPoly(img, [TRUE_QUAD.astype(np.int32)], (235, 235, 228), cv2.LINE_AA)
    for y in range(170, 560, 28):
        cv2.line(img, (170, y + 3), (450, y + 6), (40, 40, 40), 3)
    return cv2.GaussianBlur(img, (3, 3), 0)


def tiny_hed(folder, arch: str = "hed") -> tuple:
    from doc_edge_detection.model import build_model, inference_model
    from ocr_common.config import save_config

    cfg = DocEdgeConfig(arch=arch, input_size=64, width=4)
    path = folder / f"doc_{arch}.keras"
    inference_model(build_model(cfg), cfg).save(path)
    save_config(cfg, path.with_suffix(".json"))
    return path, cfg


@pytest.mark.parametrize("method", ["paper", "canny"])
def test_classical_methods_find_the_page_and_scan_it(method):
    p = DocEdgePredictor(method=method)
    pred = p.predict([photo()])[0]
    assert pred.found
    assert quad_iou(pred.corners, TRUE_QUAD) > 0.97
    d = pred.to_dict()
    assert set(d) == {"found", "corners", "confidence"} and len(d["corners"]) == 4
    scan = p.scan(photo())
    assert scan.found
    h, w = scan.image.shape[:2]
    assert 1.2 < h / w < 1.5  # the page is ~400 x ~520
    assert scan.image.mean() > 150  # mostly paper, not table


def test_scan_with_user_corners_and_no_page():
    p = DocEdgePredictor(method="paper")
    img = photo()
    given = TRUE_QUAD[[2, 0, 3, 1]]  # any order
    scan = p.scan(img, given, enhance=True)
    np.testing.assert_allclose(scan.corners, TRUE_QUAD)
    assert scan.image.ndim == 2  # the scan look is gray
    blank = np.full((300, 400, 3), 90, np.uint8)
    assert not p.predict([blank])[0].found
    scan = p.scan(blank)
    assert not scan.found and scan.corners is None and scan.image.shape == blank.shape


def test_scan_of_a_long_strip_without_a_page_is_capped():
    """No page in an 8 x 7000 strip: the whole image comes back, shrunk to the scan size limit
    (JPEG cannot encode a side over 65500 px, so an uncapped 8 x 70000 one would fail)."""
    from doc_edge_detection.predict import MAX_SCAN_SIDE

    scan = DocEdgePredictor(method="paper").scan(np.full((8, 7000, 3), 200, np.uint8))
    assert not scan.found and max(scan.image.shape[:2]) == MAX_SCAN_SIDE


@pytest.mark.parametrize("arch", ["hed", "corners"])
def test_network_methods_run_on_the_runtime(tmp_path, arch):
    path, cfg = tiny_hed(tmp_path, arch)
    p = DocEdgePredictor(path, backend="tf")
    assert p.method == arch and p.config == cfg
    preds = p.predict([photo(), photo(1)[:500]])
    assert len(preds) == 2
    for pred in preds:  # untrained: only the shape of the answer is known
        d = pred.to_dict()
        assert d["found"] == (d["corners"] is not None)
    with pytest.raises(ValueError, match="is a 'hed' model" if arch == "hed" else "is a 'corners' model"):
        DocEdgePredictor(path, method="corners" if arch == "hed" else "hed")


def test_unknown_method_and_missing_weights():
    with pytest.raises(ValueError, match="unknown method"):
        DocEdgePredictor(method="sobel")
    with pytest.raises(ValueError, match="needs a weights file"):
        DocEdgePredictor(method="hed")


def test_server_serves_the_real_predictor(tmp_path):
    """The manifest names a HED model: /predict/doc-edges and /scan answer through it."""
    from serving import create_app
    from serving.registry import ModelRegistry

    tiny_hed(tmp_path)
    write_manifest(tmp_path, [manifest_entry(tmp_path, "doc-edges", "doc_hed", architecture="hed")])
    registry = ModelRegistry(tmp_path, loader_options={"backend": "tf", "batching": False})
    assert registry.health()["doc-edges"]["ready"], registry.health()
    client = create_app(registry=registry).test_client()
    data = encode(photo(), "JPEG")
    r = client.post("/predict/doc-edges", data=data, content_type="image/jpeg")
    assert r.status_code == 200, r.get_data(as_text=True)
    (res,) = r.get_json()["results"]
    assert set(res) == {"found", "corners", "confidence"}
    corners = json.dumps(TRUE_QUAD.tolist())
    r = client.post("/scan?format=pdf", data={"image": (io.BytesIO(data), "p.jpg"), "corners": corners},
                    content_type="multipart/form-data")
    assert r.status_code == 200 and r.data.startswith(b"%PDF")
    np.testing.assert_allclose(json.loads(r.headers["X-Corners"]), TRUE_QUAD, atol=0.01)


def test_evaluate_compares_methods_on_a_folder(tmp_path, capsys):
    from doc_edge_detection import evaluate

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"p{i}.jpg"), cv2.cvtColor(photo(i), cv2.COLOR_RGB2BGR))
    (folder / "corners.json").write_text(json.dumps({f"p{i}.jpg": TRUE_QUAD.tolist() for i in range(2)}))
    heldout = tmp_path / "synth" / "heldout"  # held-out shards: 3 photos without a page, 1 with
    heldout.mkdir(parents=True)
    blank = np.full((4, 64, 64, 3), 60, np.uint8)
    blank[2, 10:50, 12:52] = 235
    np.savez(heldout / "shard-00000.npz", images=blank, has_page=np.array([False, False, True, False]))
    metrics = evaluate.main(["--methods", "canny,paper", "--photos", str(folder), "--out-dir", str(tmp_path / "out"),
                             "--model", str(tmp_path / "none.keras"), "--no-page", "5",
                             "--synth-dir", str(tmp_path / "synth")])
    out = capsys.readouterr().out
    assert "| photos | canny | 2 |" in out and "| photos | paper | 2 |" in out
    assert metrics["no_page_false_pages"] == {"canny": 0, "paper": 0, "n": 3}
    for method in ("canny", "paper"):
        s = metrics["photos"][method]
        assert s["found"] == 2 and s["mean_iou"] > 0.97 and s["mean_corner_error"] < 0.01
    assert (tmp_path / "out" / "sheet-photos.png").is_file()
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["photos"]["photos"]["paper"][0]["name"] == "p0.jpg"


SHIPPED = Path(__file__).resolve().parent.parent / "models" / "doc_edges.keras"


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped doc_edges model")
def test_shipped_model_finds_the_page():
    """Golden test of the shipped HED pipeline on a page it never saw (drawn by this test)."""
    p = DocEdgePredictor(SHIPPED, backend="tf")
    img = photo(3)
    pred = p.predict([img])[0]
    assert pred.found and quad_iou(pred.corners, TRUE_QUAD) > 0.97
    assert np.abs(pred.corners - TRUE_QUAD).max() < 6  # px, on a 600 x 760 photo


def test_predict_command_prints_corners_writes_scans_and_reports_bad_files(tmp_path, capsys):
    from doc_edge_detection import predict

    good, bad = tmp_path / "page.jpg", tmp_path / "bad.jpg"
    cv2.imwrite(str(good), cv2.cvtColor(photo(), cv2.COLOR_RGB2BGR))
    bad.write_bytes(b"not an image")
    status = predict.main([str(bad), str(good), "--method", "paper", "--scan-dir", str(tmp_path / "scans")])
    out = capsys.readouterr().out.splitlines()
    assert status == 1  # one file could not be read; the other was still done
    assert out[0].startswith(f"{bad}\terror:")
    name, answer = out[1].split("\t")
    assert name == str(good) and json.loads(answer)["found"] is True
    assert (tmp_path / "scans" / "page.jpg").is_file()
