"""Label QA (msknb.data.label_qa, the sheet, ``msknb data check``): pairs made wrong on purpose
(mask shifted, flipped, swapped, emptied, cut to one band, of another size) are flagged,
correct pairs are not, and the known mislabelled DL_Track run is found on the real data."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from msknb.cli import main as cli_main
from msknb.data import label_qa
from msknb.data.dataset import UltrasoundSet
from msknb.data.figures import label_qa_sheet, save_label_qa_sheet
from msknb.data.phantom import make_phantom
from msknb.errors import DataError
from msknb.io import write_png
from msknb.paths import shared_data_dir

SIZE = 96


@pytest.fixture(scope="module")
def phantoms():
    return {(p, s): make_phantom(p, size=SIZE, seed=s) for p in ("TA", "GCM", "BB") for s in (0, 1)}


def test_correct_pairs_are_not_flagged(phantoms):
    for key, ph in phantoms.items():
        chk = label_qa.check_pair(ph.image, ph.mask, str(key))
        assert chk.flags == [] and chk.ok, (key, chk)
        assert chk.scores["min_band_contrast"] > 1.0
        assert chk.scores["n_bands"] >= 2


@pytest.mark.parametrize("dy", [-2, 2])
def test_shifted_mask_is_off_band(phantoms, dy):
    ph = phantoms[("TA", 0)]
    t = int(round(label_qa.band_thickness(ph.mask)))
    chk = label_qa.check_pair(ph.image, np.roll(ph.mask, dy * t, axis=0), "shifted")
    assert "off_band" in chk.flags
    assert "not brighter" in chk.messages[-1] and chk.messages[-1].startswith("shifted:")


def test_flipped_mask_is_off_band(phantoms):
    for key, ph in phantoms.items():
        assert "off_band" in label_qa.check_pair(ph.image, ph.mask[::-1], "flipped").flags, key


@pytest.mark.parametrize("a, b", [(("TA", 0), ("TA", 1)), (("GCM", 0), ("GCM", 1)), (("BB", 0), ("GCM", 1))])
def test_swapped_masks_are_off_band(phantoms, a, b):
    assert "off_band" in label_qa.check_pair(phantoms[a].image, phantoms[b].mask).flags
    assert "off_band" in label_qa.check_pair(phantoms[b].image, phantoms[a].mask).flags


def test_empty_and_single_band_masks(phantoms):
    ph = phantoms[("TA", 0)]
    empty = label_qa.check_pair(ph.image, np.zeros_like(ph.mask), "e")
    assert empty.flags == ["empty"]
    labels, n = ndimage.label(ph.mask)
    top = labels == labels[np.nonzero(ph.mask)][0]  # the first band in reading order (superficial)
    single = label_qa.check_pair(ph.image, top.astype(np.uint8), "s")
    assert single.flags == ["single_band"], single  # on a band, but only one
    assert single.scores["two_band_columns"] < label_qa.TWO_BAND_COLUMNS


def test_size_mismatch_in_memory(phantoms):
    ph = phantoms[("TA", 0)]
    chk = label_qa.check_pair(ph.image, ph.mask[:-3], "x")
    assert chk.flags == ["size_mismatch"]


def test_flagged_ids_summary_and_dataset(phantoms):
    ims = np.stack([phantoms[("TA", 0)].image, phantoms[("TA", 1)].image, phantoms[("GCM", 0)].image])
    mks = np.stack([phantoms[("TA", 0)].mask, phantoms[("TA", 0)].mask, np.zeros((SIZE, SIZE), np.uint8)])
    ds = UltrasoundSet(images=ims, masks=mks, ids=["c", "b", "a"], paths=[Path(i) for i in "cba"],
                       spacing_mm=np.full((3, 2), np.nan), groups=["all"] * 3, subjects=["s"] * 3)
    checks = label_qa.check_dataset(ds)
    assert [c.id for c in checks] == ["c", "b", "a"]
    assert label_qa.flagged_ids(checks) == ["a", "b"]
    s = label_qa.summary(checks)
    assert s["n_pairs"] == 3 and s["n_flagged"] == 2
    assert s["by_flag"]["off_band"] == 1 and s["by_flag"]["empty"] == 1
    assert set(s["by_flag"]) == set(label_qa.FLAGS)
    ds.masks = None
    with pytest.raises(DataError, match="no masks"):
        label_qa.check_dataset(ds)


def _write_folder(root: Path, phantoms) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    good, other = phantoms[("TA", 0)], phantoms[("TA", 1)]
    write_png(root / "images" / "good.png", good.image)
    write_png(root / "masks" / "good.png", good.mask, mask=True)
    write_png(root / "images" / "swapped.png", good.image)
    write_png(root / "masks" / "swapped.png", other.mask, mask=True)
    write_png(root / "images" / "small.png", good.image)
    write_png(root / "masks" / "small.png", good.mask[:80, :70], mask=True)
    write_png(root / "images" / "broken.png", good.image)
    (root / "masks" / "broken.png").write_bytes(b"not a png")
    write_png(root / "images" / "lonely.png", good.image)
    return root


def test_check_folder_flags_files_without_crashing(tmp_path, phantoms):
    root = _write_folder(tmp_path / "set", phantoms)
    checks = {c.id: c for c in label_qa.check_folder(root)}
    assert checks["good"].flags == []
    assert checks["swapped"].flags == ["off_band"]
    assert checks["small"].flags == ["size_mismatch"]
    assert str(root / "masks" / "small.png") in checks["small"].messages[0] and "70x80" in checks["small"].messages[0]
    assert checks["broken"].flags == ["unreadable"] and str(root / "masks" / "broken.png") in checks["broken"].messages[0]
    assert checks["lonely"].flags == ["no_mask"]
    assert checks["good"].image_path == str(root / "images" / "good.png")
    with pytest.raises(DataError, match="no masks/"):
        label_qa.check_folder(tmp_path / "set" / "images")
    with pytest.raises(DataError, match="does not exist"):
        label_qa.check_folder(tmp_path / "nowhere")


def test_sheet_png_and_html(tmp_path, phantoms):
    ph = phantoms[("TA", 0)]
    checks = [label_qa.check_pair(ph.image, ph.mask, "ok"), label_qa.check_pair(ph.image, ph.mask[::-1], "flip")]
    fig = label_qa_sheet([ph.image, ph.image], [ph.mask, ph.mask[::-1]], checks)
    titles = [a.get_title() for a in fig.axes if a.get_title()]
    assert len(titles) == 1 and titles[0].startswith("flip\noff_band (")  # only the flagged pair, with its score
    png = save_label_qa_sheet(tmp_path / "s.png", fig, checks)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = save_label_qa_sheet(tmp_path / "s.html", label_qa_sheet([None, None], [None, None], checks), checks)
    text = page.read_text()
    assert "data:image/png;base64," in text and "flip" in text and "1 of 2 pairs flagged" in text


def test_cli_check(tmp_path, phantoms, capsys):
    root = _write_folder(tmp_path / "set", phantoms)
    out = tmp_path / "qa.json"
    assert cli_main(["data", "check", str(root), "--json", str(out), "--sheet", str(tmp_path / "qa.png")]) == 0
    printed = capsys.readouterr().out
    assert "5 pairs, 4 flagged" in printed and "swapped: off_band" in printed
    rep = json.loads(out.read_text())
    assert rep["flagged_ids"] == ["broken", "lonely", "small", "swapped"]
    assert rep["by_flag"]["size_mismatch"] == 1 and len(rep["checks"]) == 5
    assert (tmp_path / "qa.png").is_file()
    assert cli_main(["data", "check", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert cli_main(["data", "check", str(root), "--size", "8"]) == 2


REAL = shared_data_dir()


@pytest.mark.skipif(not (REAL / "masks").is_dir(),
                    reason="the shared DL_Track set (shared/data/dltrack_apo) is not on this machine")
def test_real_mislabelled_run_is_flagged():
    for pid, bad in (("img_00536", True), ("img_00540", True), ("img_00532", False), ("img_00555", False),
                     ("img_00001", False)):
        image, mask = label_qa.read_pair(REAL / "images" / f"{pid}.png", REAL / "masks" / f"{pid}.png", size=128)
        chk = label_qa.check_pair(image, mask, pid)
        assert (chk.flags == ["off_band"]) == bad, chk


def test_describe_counts_flags_and_names_ids(phantoms):
    ph = phantoms[("TA", 0)]
    checks = [label_qa.check_pair(ph.image, ph.mask, "ok"), label_qa.check_pair(ph.image, ph.mask[::-1], "flip"),
              label_qa.check_pair(ph.image, np.zeros_like(ph.mask), "none")]
    text = label_qa.describe(checks)
    assert text.startswith("2 of 3 pairs flagged")
    assert f"off_band (1): {label_qa.FLAGS['off_band']}" in text and "flip" in text
    assert "empty (1)" in text and "single_band" not in text and "ok," not in text
    assert label_qa.describe(checks[:1]).startswith("0 of 1 pairs flagged - every mask")
    many = [label_qa.check_pair(ph.image, ph.mask[::-1], f"f{k}") for k in range(10)]
    assert "... (+2)" in label_qa.describe(many, max_ids=8)


def test_cli_check_bare_json_goes_to_stdout(tmp_path, phantoms, capsys):
    root = _write_folder(tmp_path / "set", phantoms)
    assert cli_main(["data", "check", str(root), "--json"]) == 0
    out = capsys.readouterr()
    rep = json.loads(out.out)  # stdout is the JSON alone
    assert rep["n_flagged"] == 4 and rep["flagged"]["swapped"] == ["off_band"]
    assert "5 pairs, 4 flagged" in out.err
