"""`msknb measure` (issue 14): a researcher's scans, DICOMs and cine loops in; masks, overlays,
measurements.csv/.json out; MT at the scan's own resolution, in mm when the spacing is
known; bad inputs named, the batch goes on. A tiny random-initialised segmenter (no
shipped weights needed) and phantoms from msknb.data.phantom."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from PIL import Image

from msknb.cli import main
from msknb.data.dicom import read_dicom, write_dicom
from msknb.data.phantom import make_phantom
from msknb.segmentation.model import build_segmenter, save_segmenter
from msknb.segmentation.predict import predict_full_size
from msknb.thickness import pipeline
from msknb.thickness.scans import expand_scans, read_frames


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_segmenter(build_segmenter((4, 8)), {"channels": (4, 8), "image_size": 32, "crop_fov": False}, path)
    return path


@pytest.fixture(scope="module")
def phantom():
    return make_phantom("TA", size=64, seed=1, speckle=False)


def _cine(path: Path, frames: np.ndarray, spacing: float) -> Path:
    """A multi-frame (cine) DICOM: write_dicom's first frame, then every frame's pixels."""
    ds = pydicom.dcmread(write_dicom(path, frames[0], spacing))
    pix = np.round(np.clip(frames, 0, 1) * 255).astype(np.uint8)
    ds.NumberOfFrames = len(frames)
    ds.PixelData = pix.tobytes()
    ds.save_as(path)
    return path


def test_multiframe_dicom_reads_every_frame(tmp_path, phantom):
    frames = np.stack([phantom.image, 1 - phantom.image, 0.5 * phantom.image])
    path = _cine(tmp_path / "cine.dcm", frames, 0.2)
    first = read_dicom(path)
    assert first.image.shape == phantom.image.shape and first.meta["n_frames"] == 3  # unchanged default
    every = read_dicom(path, all_frames=True)
    assert every.image.shape == (3, *phantom.image.shape) and every.spacing_mm == pytest.approx((0.2, 0.2))
    assert np.abs(every.image - frames).max() < 1 / 255 + 1e-6
    single = read_dicom(write_dicom(tmp_path / "one.dcm", phantom.image, 0.2), all_frames=True)
    assert single.image.shape == (1, *phantom.image.shape)
    got = list(read_frames(path))
    assert [f.frame for f in got] == [0, 1, 2] and got[2].name == "cine_f0002" and got[0].spacing_mm == (0.2, 0.2)


def test_probabilities_come_back_at_the_image_size(tiny_model):
    from msknb.segmentation.model import load_segmenter

    model = load_segmenter(tiny_model)
    prob = predict_full_size(model, np.random.default_rng(0).random((50, 70)).astype(np.float32))
    assert prob.shape == (50, 70) and prob.dtype == np.float32 and 0 <= prob.min() <= prob.max() <= 1


def test_measure_frame_in_mm_at_full_resolution(monkeypatch, tiny_model, phantom):
    """With a segmenter that returns the phantom's own mask, MT is the phantom's true MT, in mm."""
    from msknb.segmentation.model import load_segmenter

    monkeypatch.setattr(pipeline, "predict_full_size", lambda model, image: phantom.mask.astype(np.float32))
    frame = next(read_frames_from_array(phantom))
    for method in ("chords", "dltrack"):
        m = pipeline.measure_frame(load_segmenter(tiny_model), frame, method=method)
        assert m.row["method"] == method and m.row["error"] == "" and m.row["flag"] == "ok"
        assert m.row["mt_px"] == pytest.approx(phantom.thickness_px, abs=0.6)
        assert m.row["mt_mm"] == pytest.approx(phantom.thickness_mm, abs=0.6 * phantom.spacing_mm)
        assert m.mask.shape == phantom.mask.shape and set(pipeline.COLUMNS) == set(m.row)


def read_frames_from_array(ph):
    from msknb.thickness.scans import Frame

    yield Frame("ph", Path("ph.png"), ph.image, (ph.spacing_mm, ph.spacing_mm))


def test_measure_command_batch_with_cine_and_bad_inputs(tmp_path, tiny_model, phantom, capsys):
    scans = tmp_path / "scans"
    scans.mkdir()
    Image.fromarray((phantom.image * 255).astype(np.uint8)).save(scans / "a.png")
    Image.fromarray(np.zeros((40, 52), np.uint8)).save(scans / "b_other_size.png")
    write_dicom(scans / "c.dcm", phantom.image, phantom.spacing_mm)
    _cine(scans / "d_cine.dcm", np.stack([phantom.image] * 3), phantom.spacing_mm)
    (scans / "e_broken.png").write_bytes(b"\x89PNG garbage")
    missing = tmp_path / "nope.dcm"
    out = tmp_path / "out"
    status = main(["measure", str(scans), str(missing), "--out", str(out), "--model", str(tiny_model),
                   "--method", "dltrack"])
    err = capsys.readouterr().err
    assert status == 1  # some inputs could not be measured; the rest were
    assert "e_broken.png" in err and "nope.dcm" in err and "Traceback" not in err
    rows = list(csv.DictReader(open(out / "measurements.csv")))
    assert [(r["id"], r["frame"]) for r in rows] == [("a", ""), ("b_other_size", ""), ("c", ""), ("d_cine", "0"),
                                                     ("d_cine", "1"), ("d_cine", "2"), ("e_broken", ""), ("nope", "")]
    assert list(rows[0]) == list(pipeline.COLUMNS) and all(r["method"] == "dltrack" for r in rows)
    by = {(r["id"], r["frame"]): r for r in rows}
    assert "e_broken.png" in by[("e_broken", "")]["error"] and by[("e_broken", "")]["flag"] == "error"
    for r in rows:  # a random segmenter: measured (mt + flag) or a named error, never a silent number
        assert (r["mt_px"] != "" and r["flag"].split(":")[0] in ("ok", "doubtful")) or r["error"]
    masks = {p.name for p in (out / "masks").iterdir()}
    assert masks == {"a.png", "b_other_size.png", "c.png", "d_cine_f0000.png", "d_cine_f0001.png", "d_cine_f0002.png"}
    assert np.asarray(Image.open(out / "masks" / "b_other_size.png")).shape == (40, 52)  # the scan's own size
    assert {p.name for p in (out / "overlays").iterdir()} == masks
    assert (out / "mt_over_time" / "d_cine.png").is_file()
    info = json.loads((out / "measurements.json").read_text())
    assert len(info["rows"]) == 8 and info["summary"]["n_rows"] == 8 and info["summary"]["seconds_per_frame"] > 0
    assert info["method"] == "dltrack"
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


@pytest.mark.parametrize("command", [["measure"], ["segment", "predict"]])
def test_without_the_shipped_segmenter_the_error_names_the_file(command, tmp_path, monkeypatch, capsys, phantom):
    from msknb.cli import segment as seg_cli

    absent = tmp_path / "segmenter_absent.pt"
    monkeypatch.setattr(seg_cli, "DEFAULT_SEGMENTER", absent)
    Image.fromarray((phantom.image * 255).astype(np.uint8)).save(tmp_path / "a.png")
    assert main([*command, str(tmp_path / "a.png"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "segmenter_absent.pt" in err and "Traceback" not in err


def test_expand_scans_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    from msknb.errors import DataError

    with pytest.raises(DataError, match="empty"):
        expand_scans([tmp_path / "empty"])
    d = tmp_path / "d" / "images"
    d.mkdir(parents=True)
    (d / "x.png").write_bytes(b"")
    (d / ".hidden.png").write_bytes(b"")
    assert [p.name for p in expand_scans([tmp_path / "d"])] == ["x.png"]


def test_image_spacing_from_a_manifest_beside_it(tmp_path, phantom):
    root = tmp_path / "set"
    (root / "images").mkdir(parents=True)
    Image.fromarray((phantom.image * 255).astype(np.uint8)).save(root / "images" / "a.png")
    (root / "manifest.csv").write_text("id,spacing_row_mm,spacing_col_mm\na,0.25,0.3\n")
    assert next(read_frames(root / "images" / "a.png")).spacing_mm == (0.25, 0.3)
    assert next(read_frames(root / "images" / "a.png", spacing_mm=0.1)).spacing_mm == (0.1, 0.1)  # the argument wins


def test_shipped_vs_experts_measures_both_at_the_image_size_in_mm_when_known(tiny_model):
    from msknb.thickness.full_size import shipped_summary, shipped_vs_experts

    phantoms = Path(__file__).resolve().parent.parent / "data_samples" / "phantoms"
    res = shipped_vs_experts(phantoms, ["TA-000", "RF-001", "nope"], ("chords", "dltrack"), model_path=tiny_model,
                             progress=False)
    assert res["ids"] == ["TA-000", "RF-001"] and res["missing"] == ["nope"]
    assert res["unit"] == "mm" and np.allclose(res["spacing_mm"][0], 0.3125)
    for m in ("chords", "dltrack"):
        v = res["methods"][m]
        assert np.isfinite(v["expert_px"]).all() and np.allclose(v["expert_mm"], v["expert_px"] * res["spacing_mm"][:, 0],
                                                                   rtol=1e-3)
        assert len(v["flags"]) == 2 and all(f == "ok" or f.startswith(("doubtful", "error")) for f in v["flags"])
    rows = shipped_summary(res)
    assert [(r["method"], r["subset"]) for r in rows][:3] == [("chords", "all"), ("chords", "not in its training"),
                                                              ("chords", "flagged ok")]
    assert all(r["unit"] == "mm" and 0 <= r["n"] <= 2 for r in rows)


def test_an_image_too_small_for_the_segmenter_is_named_in_the_users_words(tmp_path, capsys):
    """A 1 x 1 px scan: the error names the file, its size and the size the segmenter needs; the rest goes on."""
    from PIL import Image

    from msknb.cli import main

    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "one.png")
    status = main(["segment", "predict", str(tmp_path / "one.png"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and "one.png" in err and "1 x 1 px" in err and "at least 32 x 32 px" in err


def test_an_ensemble_manifest_loads_as_one_model_averaging_its_members(tmp_path, phantom):
    """Two members at 32 and 64 px: the ensemble's full-size map is the mean of theirs, and
    `measure` reads the manifest like any checkpoint."""
    import json

    from msknb.errors import CheckpointError
    from msknb.segmentation.model import load_segmenter
    from msknb.segmentation.predict import predict

    torch.manual_seed(0)
    for name, size in (("a.pt", 32), ("b.pt", 64)):
        save_segmenter(build_segmenter((4, 8)), {"channels": (4, 8), "image_size": size, "crop_fov": False},
                       tmp_path / name)
    manifest = tmp_path / "ens.json"
    manifest.write_text(json.dumps({"format": "msknb-segmenter-ensemble", "members": ["a.pt", "b.pt"]}))
    ens = load_segmenter(manifest)
    a, b = load_segmenter(tmp_path / "a.pt"), load_segmenter(tmp_path / "b.pt")
    img = phantom.image.astype(np.float32)
    full = predict_full_size(ens, img)
    assert full.shape == img.shape
    assert np.allclose(full, (predict_full_size(a, img) + predict_full_size(b, img)) / 2, atol=1e-6)
    prob, _ = predict(ens, img[None])          # at any input size, each member at its own size
    assert prob.shape == (1, *img.shape) and ens.msknb_config["image_size"] == 64
    Image.fromarray((phantom.image * 255).astype(np.uint8)).save(tmp_path / "scan.png")
    assert main(["measure", str(tmp_path / "scan.png"), "--out", str(tmp_path / "out"), "--model", str(manifest)]) in (0, 2)
    assert json.loads((tmp_path / "out" / "measurements.json").read_text())["model"].endswith("ens.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"members": []}))
    with pytest.raises(CheckpointError, match="bad.json"):
        load_segmenter(bad)
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"format": "msknb-segmenter-ensemble", "members": ["nope.pt"]}))
    with pytest.raises(CheckpointError, match="nope.pt"):
        load_segmenter(missing)


def test_shipped_reading_compares_the_limits_with_the_human_reference():
    from msknb.thickness.figures import bland_altman_static
    from msknb.thickness.full_size import shipped_reading

    rows = [{"method": "chords", "subset": "not in its training", "n": 40, "unit": "px", "bias": -5.0,
             "relative_loa_halfwidth_pct": 26.7, "relative_rmse_pct": 13.8, "within_5pct_pct": 88.0},
            {"method": "chords", "subset": "flagged ok", "n": 34, "unit": "px", "bias": -0.1,
             "relative_loa_halfwidth_pct": 3.5, "relative_rmse_pct": 1.8, "within_5pct_pct": 97.0}]
    text = shipped_reading(rows, 12.7)
    assert "±26.7 %" in text and "wider than the 12.7 %" in text and "34 readings flagged ok" in text
    assert "±3.5 %" in text and "inside the human 12.7 %" in text and "doubtful" not in text  # no 'all' row here
    with_all = shipped_reading([{**rows[0], "subset": "all"}] + rows, 12.7)
    assert "come from the 6 reading(s) flagged doubtful" in with_all
    rows[0]["relative_loa_halfwidth_pct"] = 10.0
    assert "inside the 12.7 %" in shipped_reading(rows, 12.7)
    assert shipped_reading([{**rows[0], "n": 2}], 12.7) is None
    fig = bland_altman_static([10.0, 20.0, 30.0, np.nan], [11.0, 19.0, 36.0, 5.0], ["ok", "ok", "doubtful: x", "ok"])
    assert fig.axes[0].get_title().endswith("(n = 3)")
