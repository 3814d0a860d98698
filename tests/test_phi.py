"""PHI-free export (issue 7): training data that carries patient identifiers in its DICOM
headers never leaks them into anything msknb writes (synthetic DICOMs, PNGs, manifest)."""
from __future__ import annotations

import numpy as np
import pydicom
import torch

from msknb.ddpm import diffusion as D
from msknb.data.loading import load_folder
from msknb.data.dicom import assert_no_phi, write_dicom
from msknb.ddpm.config import TrainConfig, build_model
from msknb.ddpm.export import write_synthetic_set
from msknb.ddpm.sample import sample_images

PHI = {
    "PatientName": "Doe^Jane",
    "PatientID": "MRN-0042-77",
    "PatientBirthDate": "19800101",
    "InstitutionName": "Saint Example Hospital",
    "ReferringPhysicianName": "House^Gregory",
    "StudyDate": "20230517",
    "AccessionNumber": "ACC98765",
    "OperatorsName": "Sono^Grapher",
}


def _scanner_dicom_with_phi(path, seed):
    rng = np.random.default_rng(seed)
    image = (rng.random((48, 48)) * 255).astype(np.uint8)
    write_dicom(path, image, (0.15, 0.15))
    ds = pydicom.dcmread(path)
    for keyword, value in PHI.items():
        setattr(ds, keyword, value)
    ds.PatientIdentityRemoved = "NO"
    ds.save_as(path)
    return path


def test_exported_samples_carry_no_phi_from_training_dicoms(tmp_path):
    src = tmp_path / "scans"
    src.mkdir()
    for i in range(3):
        _scanner_dicom_with_phi(src / f"scan{i}.dcm", i)
    assert pydicom.dcmread(src / "scan0.dcm").PatientName == "Doe^Jane"  # the input really has PHI

    ds = load_folder(src, image_size=16, crop_fov=False)
    spacing = tuple(ds.spacing_mm[0])
    assert np.allclose(spacing, 0.15 * 48 / 16)
    torch.manual_seed(0)
    model = build_model(TrainConfig(image_size=16, channels=1, dim=8, dim_mults=(1, 2), timesteps=20)).eval()
    images = sample_images(model, D.make_schedule("linear", 20), 2, method="ddim", steps=4, seed=0, progress=False)
    info = write_synthetic_set(images, tmp_path / "synthetic", spacing_mm=spacing)
    assert info["dicom"] == 2

    out_files = [p for p in (tmp_path / "synthetic").rglob("*") if p.is_file()]
    assert out_files
    for path in out_files:
        data = path.read_bytes()
        for value in PHI.values():
            assert value.encode() not in data, f"{value!r} leaked into {path}"
    for dcm in (tmp_path / "synthetic" / "dicom").glob("*.dcm"):
        assert_no_phi(dcm)
        back = pydicom.dcmread(dcm)
        assert back.PatientIdentityRemoved == "YES"
        assert np.allclose([float(v) for v in back.PixelSpacing], spacing, rtol=1e-9)


def test_every_torch_load_in_msknb_is_weights_only():
    """Safe loading: no msknb code unpickles arbitrary objects from a user's file."""
    import re

    from msknb.paths import REPO_ROOT

    offenders = []
    for path in sorted((REPO_ROOT / "msknb").rglob("*.py")):
        text = path.read_text()
        for match in re.finditer(r"torch\.load\(([^()]|\([^()]*\))*\)", text):
            if "weights_only=True" not in match.group(0):
                offenders.append(f"{path.name}: {match.group(0)}")
        if re.search(r"\bpickle\.loads?\(|allow_pickle=True", text):
            offenders.append(f"{path.name}: raw pickle load")
    assert not offenders, offenders
