"""Bad-input catalogue (issue 7): each kind of bad input, through a public entry point,
gives an error naming the file and the problem, exits non-zero from the command line
without a traceback, and leaves existing outputs intact.

Cases are small files made in tmp_path; the command line is called in-process
(``msknb.cli.main``) except one case run as a real subprocess.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from msknb.cli import main
from msknb.data.dicom import write_dicom

RNG = np.random.default_rng(0)
IMG = (RNG.random((64, 80)) * 255).astype(np.uint8)
MASK = np.zeros((64, 80), np.uint8)
MASK[10:14] = 255
MASK[40:44] = 255


def _pair_folder(root: Path, image=IMG, mask=MASK, name="a") -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    Image.fromarray(image).save(root / "images" / f"{name}.png")
    if mask is not None:
        Image.fromarray(mask).save(root / "masks" / f"{name}.png")
    return root


def _dicom(root: Path, edit=None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = write_dicom(root / "scan.dcm", IMG, 0.1)
    if edit is not None:
        edit(path)
    return root


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _drop_pixels(path: Path) -> None:
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)


def _drop_spacing(path: Path) -> None:
    ds = pydicom.dcmread(path)
    for keyword in ("SequenceOfUltrasoundRegions", "PixelSpacing"):
        if keyword in ds:
            delattr(ds, keyword)
    ds.save_as(path)


# (case id, builder(tmp) -> data folder, name the message must contain, problem words)
DATA_CASES = [
    ("truncated-dicom", lambda t: _dicom(t / "d", _truncate), "scan.dcm", "truncated"),
    ("garbage-dicom", lambda t: (t / "d").mkdir() or (t / "d" / "scan.dcm").write_bytes(os.urandom(2000)) and t / "d",
     "scan.dcm", "not a DICOM"),
    ("dicom-without-pixels", lambda t: _dicom(t / "d", _drop_pixels), "scan.dcm", "no pixel data"),
    ("missing-mask", lambda t: _pair_folder(t / "d", mask=None), "a.png", "no mask"),
    ("mask-size-mismatch", lambda t: _pair_folder(t / "d", mask=MASK[:32]), "a.png", "does not match"),
    ("empty-folder", lambda t: (t / "d" / "images").mkdir(parents=True) or t / "d", "images", "no images"),
    ("missing-folder", lambda t: t / "absent", "absent", "does not exist"),
]


@pytest.mark.parametrize("case, build, name, problem", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_data_loader_errors_name_file_and_problem(case, build, name, problem, tmp_path, capsys):
    folder = build(tmp_path)
    assert main(["data", "info", str(folder), "--image-size", "32"]) == 2
    err = capsys.readouterr().err
    assert name in err and problem in err, err
    assert "Traceback" not in err and err.count("\n") == 1


def test_dicom_without_spacing_error_then_spacing_by_hand(tmp_path):
    from msknb.data.dicom import read_dicom
    from msknb.errors import SpacingError

    folder = _dicom(tmp_path / "d", _drop_spacing)
    with pytest.raises(SpacingError, match="scan.dcm.*spacing"):
        read_dicom(folder / "scan.dcm")
    assert read_dicom(folder / "scan.dcm", spacing_mm=0.2).spacing_mm == (0.2, 0.2)


@pytest.mark.parametrize("kind", ["16-bit", "rgb"])
def test_16bit_and_rgb_images_load_as_gray(kind, tmp_path, capsys):
    image = (IMG.astype(np.uint16) * 257) if kind == "16-bit" else np.stack([IMG] * 3, -1)
    folder = _pair_folder(tmp_path / "d", image=image)
    assert main(["data", "info", str(folder), "--image-size", "32"]) == 0
    from msknb.data.loading import load_folder

    ds = load_folder(folder, image_size=32, crop_fov=False)
    assert ds.images.shape == (1, 32, 32) and 0 <= ds.images.min() and ds.images.max() <= 1
    assert ds.images.max() > 0.5  # 16-bit scaled by its dtype range, not clipped to 0


def test_non_image_file_in_data_folder_is_skipped_with_warning(tmp_path, capsys):
    folder = _pair_folder(tmp_path / "d")
    (folder / "images" / "notes.txt").write_text("scan notes")
    assert main(["data", "info", str(folder), "--image-size", "32"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert any("notes.txt" in w for w in out["warnings"])


def _masks(tmp_path: Path) -> Path:
    folder = tmp_path / "masks"
    folder.mkdir()
    zero = np.zeros_like(MASK)
    one = MASK.copy()
    one[40:44] = 0
    three = MASK.copy()
    three[55:58] = 255
    for name, m in {"zero": zero, "one": one, "two": MASK, "three": three}.items():
        Image.fromarray(m).save(folder / f"{name}.png")
    (folder / "garbage.png").write_bytes(b"not a png at all")
    return folder


def test_thickness_cli_masks_with_0_1_3_bands_and_garbage(tmp_path, capsys):
    folder = _masks(tmp_path)
    assert main(["thickness", str(folder), "--json"]) == 1  # some could not be measured
    captured = capsys.readouterr()
    rows = {r["id"]: r for r in map(json.loads, captured.out.splitlines())}
    assert rows["two"]["mt_px"] == pytest.approx(26.0, abs=0.5)
    assert rows["three"]["mt_px"] == pytest.approx(26.0, abs=0.5)  # third band ignored
    assert "zero.png" in rows["zero"]["error"] and "found 0 aponeurosis" in rows["zero"]["error"]
    assert "one.png" in rows["one"]["error"] and "found 1 aponeurosis" in rows["one"]["error"]
    assert "garbage.png" in rows["garbage"]["error"]
    assert "Traceback" not in captured.err


def test_thickness_cli_missing_path(tmp_path, capsys):
    assert main(["thickness", str(tmp_path / "nothing.png")]) == 2
    err = capsys.readouterr().err
    assert "nothing.png" in err and "Traceback" not in err


def test_runner_unknown_profile_and_unknown_notebook(tmp_path, capsys):
    assert main(["run", "--profile", "fast", "--out", str(tmp_path)]) == 2
    assert "unknown profile 'fast'" in capsys.readouterr().err
    assert main(["run", "--profile", "smoke", "--only", "42", "--data", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "unknown notebook '42'" in capsys.readouterr().err


def test_unknown_notebook_parameter_is_named():
    from msknb.errors import ConfigError
    from msknb.profiles import settings

    with pytest.raises(ConfigError, match="image_szie"):
        settings("data", "smoke", image_szie=64)


def test_output_folder_that_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "out"
    blocker.write_text("a file the user cares about")
    assert main(["phantom", "--out", str(blocker / "phantoms"), "--n-per-preset", "1", "--size", "64"]) == 2
    err = capsys.readouterr().err
    assert "out" in err and "Traceback" not in err
    assert blocker.read_text() == "a file the user cares about"


def test_real_process_exit_status_without_traceback(tmp_path):
    folder = _dicom(tmp_path / "d", _truncate)
    proc = subprocess.run([sys.executable, "-m", "msknb", "data", "info", str(folder)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "scan.dcm" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.filterwarnings("ignore:Detected pickle protocol 4")  # torch's note on the garbage file's header
def test_sample_cli_garbage_checkpoint_keeps_existing_outputs(tmp_path, capsys):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"\x80\x04not really a checkpoint")
    out = tmp_path / "synthetic"
    (out / "images").mkdir(parents=True)
    (out / "images" / "keep.png").write_bytes(b"earlier sample")
    assert main(["sample", "--model", str(bad), "--out", str(out), "--n", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "model.pt" in err and "checkpoint" in err and "Traceback" not in err
    assert (out / "images" / "keep.png").read_bytes() == b"earlier sample"


def test_train_cli_checkpoint_from_other_architecture(tmp_path, capsys):
    from msknb.paths import CHECKPOINTS_DIR, PHANTOM_SAMPLES_DIR

    shipped = CHECKPOINTS_DIR / "ddpm_dltrack_64.pt"  # 64², dim 16: not the smoke architecture
    out = tmp_path / "train"
    assert main(["train", "--data", str(PHANTOM_SAMPLES_DIR), "--profile", "smoke", "--out", str(out),
                 "--init-from", str(shipped), "--max-steps", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "ddpm_dltrack_64.pt" in err and "cannot initialise" in err and "dim" in err
    assert not any(out.rglob("*.pt"))


def test_train_cli_unknown_profile(tmp_path, capsys):
    from msknb.paths import PHANTOM_SAMPLES_DIR

    assert main(["train", "--data", str(PHANTOM_SAMPLES_DIR), "--profile", "huge", "--out", str(tmp_path)]) == 2
    assert "unknown profile 'huge'" in capsys.readouterr().err


def test_runner_unknown_notebook_parameter(tmp_path, capsys):
    assert main(["run", "--profile", "smoke", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                 "-p", "epoch=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'epoch'" in err and "epochs" in err
