"""chinese_ocr.source_pages: the real images a labelled line folder was cut from, as pages."""

import subprocess

import cv2
import numpy as np
import pytest

from chinese_ocr.source_pages import load_source_pages, parse_box

HEADER = "file\ttext\tsource_repo\tcommit\tsource_path\tbox\tlabel_source\tlicence\n"


def _png(path, w=64, h=40):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((h, w, 3), 255, np.uint8)
    img[10:20, 5:40] = 0
    cv2.imwrite(str(path), img)
    return path


def test_parse_box_reads_boxes_and_quads_and_rejects_the_rest():
    q = parse_box("box=[5, 10, 45, 30]")
    assert q.tolist() == [[5, 10], [45, 10], [45, 30], [5, 30]]
    q = parse_box("quad=[[1.5, 2], [40, 3], [41, 20], [2, 19]] trim(l,t,r,b)=[0, 4, 0, 5]")
    assert q.shape == (4, 2) and q[0].tolist() == [1.5, 2.0]
    for bad in ("", "box=[1, 2, 3]", "quad=[[1, 2], [3, 4]]"):
        with pytest.raises(ValueError):
            parse_box(bad)


def test_pages_group_lines_by_source_from_checkouts_and_bare_mirrors(tmp_path):
    root = tmp_path / "sources"
    _png(root / "alice" / "shop" / "img" / "a.png")  # ROOT/<owner>/<name>/<path>
    # A bare mirror, read at the labelled commit (ROOT/<owner>+<name>/repo).
    work = tmp_path / "work"
    _png(work / "docs" / "b.png", w=80)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", str(work)], check=True)
    subprocess.run([*git, "-C", str(work), "add", "."], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-qm", "b"], check=True)
    commit = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], check=True, capture_output=True,
                            text=True).stdout.strip()
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(root / "bob+docs" / "repo")], check=True)
    folder = tmp_path / "zh_dev"
    folder.mkdir()
    (folder / "labels.tsv").write_text(
        HEADER
        + "a_1.png\t你好\talice/shop\tc0\timg/a.png\tbox=[5, 10, 40, 20]\tby eye\tMIT\n"
        + f"b_1.png\t世界\tbob/docs\t{commit}\tdocs/b.png\tquad=[[1, 1], [30, 1], [30, 9], [1, 9]]\tby eye\tMIT\n"
        + "a_2.png\t中文\talice/shop\tc0\timg/a.png\tbox=[5, 22, 40, 32]\tby eye\tMIT\n"
        + "c_1.png\t缺\tcarol/gone\tc1\tx.png\tbox=[0, 0, 4, 4]\tby eye\tMIT\n",
        encoding="utf-8")
    pages, missing = load_source_pages(folder, root)
    assert [p.name for p in pages] == ["alice/shop:img/a.png", "bob/docs:docs/b.png"]
    assert pages[0].texts == ["你好", "中文"] and pages[0].image.shape[:2] == (40, 64)
    assert pages[0].quads[1].tolist() == [[5, 22], [40, 22], [40, 32], [5, 32]]
    assert pages[1].texts == ["世界"] and pages[1].image.shape[:2] == (40, 80)
    assert missing == ["carol/gone:x.png"]


def test_a_labels_file_without_sources_is_refused(tmp_path):
    (tmp_path / "labels.tsv").write_text("file\ttext\na.png\t你\n", encoding="utf-8")
    with pytest.raises(ValueError, match="source_repo"):
        load_source_pages(tmp_path, tmp_path)
