"""msknb.data.dicom: write -> read keeps the exact spacing, no PHI, colour and bad files."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest

from msknb.data.dicom import DEIDENTIFICATION_TAGS, US_IMAGE_STORAGE, assert_no_phi, read_dicom, write_dicom
from msknb.errors import DataError, SpacingError


@pytest.fixture()
def image():
    return np.random.default_rng(0).random((40, 56)).astype(np.float32)


def test_write_read_exact_spacing(tmp_path, image):
    spacing = (0.0712345678901234, 0.123456789012345)
    path = write_dicom(tmp_path / "a.dcm", image, spacing, description="test", instance=3)
    d = read_dicom(path)
    assert d.spacing_mm == spacing  # float64 in the ultrasound region: exact
    assert d.meta["spacing_source"] == "ultrasound_regions"
    assert d.image.dtype == np.float32 and d.image.shape == image.shape
    assert np.abs(d.image - np.round(image * 255) / 255).max() < 1e-6
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == US_IMAGE_STORAGE and ds.Modality == "US" and ds.InstanceNumber == 3
    assert ds.PhotometricInterpretation == "MONOCHROME2" and ds.BitsAllocated == 8
    # PixelSpacing (DS, 16 characters) agrees to 1e-9 relative
    assert np.allclose([float(v) for v in ds.PixelSpacing], spacing, rtol=1e-9, atol=0)
    # without the region sequence, PixelSpacing is used
    del ds.SequenceOfUltrasoundRegions
    ds.save_as(tmp_path / "ps.dcm")
    d2 = read_dicom(tmp_path / "ps.dcm")
    assert d2.meta["spacing_source"] == "pixel_spacing"
    assert np.allclose(d2.spacing_mm, spacing, rtol=1e-9, atol=0)


def test_uids_fresh_and_series(tmp_path, image):
    a = pydicom.dcmread(write_dicom(tmp_path / "a.dcm", image, 0.1, series_uid="1.2.3.4"))
    b = pydicom.dcmread(write_dicom(tmp_path / "b.dcm", image, 0.1, series_uid="1.2.3.4"))
    assert a.SOPInstanceUID != b.SOPInstanceUID and a.SeriesInstanceUID == b.SeriesInstanceUID == "1.2.3.4"
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temp file


def test_no_phi(tmp_path, image):
    path = write_dicom(tmp_path / "a.dcm", image, 0.1)
    ds = pydicom.dcmread(path)
    assert_no_phi(ds)
    assert_no_phi(path)
    assert ds.PatientIdentityRemoved == "YES" and ds.DeidentificationMethod
    for kw in ("PatientBirthDate", "InstitutionName", "StudyDate", "OperatorsName"):
        assert not str(ds.get(kw, "") or "")
    assert "PatientName" in DEIDENTIFICATION_TAGS and "InstitutionName" in DEIDENTIFICATION_TAGS
    ds.PatientName = "Doe^John"
    ds.InstitutionName = "Hospital"
    with pytest.raises(AssertionError, match="PatientName.*InstitutionName"):
        assert_no_phi(ds)


@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL"])
def test_colour_dicom_reads_as_gray(tmp_path, image, photometric):
    path = write_dicom(tmp_path / "a.dcm", image, 0.1)
    gray = read_dicom(path).image
    ds = pydicom.dcmread(path)
    pix = ds.pixel_array
    if photometric == "RGB":
        arr = np.stack([pix, pix, pix], -1)
    else:  # Y = gray, chroma neutral (128)
        arr = np.stack([pix, np.full_like(pix, 128), np.full_like(pix, 128)], -1)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, photometric, 0
    ds.PixelData = arr.tobytes()
    ds.save_as(tmp_path / "c.dcm")
    d = read_dicom(tmp_path / "c.dcm")
    assert d.image.shape == image.shape
    assert np.abs(d.image - gray).max() < 2 / 255


def test_monochrome1_16bit_multiframe(tmp_path, image):
    ds = pydicom.dcmread(write_dicom(tmp_path / "a.dcm", image, 0.1))
    pix16 = (np.round(image * 4095)).astype(np.uint16)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.NumberOfFrames = 2
    ds.PixelData = np.stack([pix16, 4095 - pix16]).tobytes()
    ds.save_as(tmp_path / "m.dcm")
    d = read_dicom(tmp_path / "m.dcm")
    assert d.meta["n_frames"] == 2 and d.image.shape == image.shape  # first frame only
    assert np.abs(d.image - (1 - pix16 / 4095)).max() < 1e-6


def test_bad_files_named(tmp_path, image):
    good = write_dicom(tmp_path / "good.dcm", image, 0.1)
    raw = good.read_bytes()
    (tmp_path / "trunc.dcm").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "garbage.dcm").write_bytes(np.random.default_rng(1).bytes(2000))
    (tmp_path / "empty.dcm").write_bytes(b"")
    ds = pydicom.dcmread(good)
    del ds.PixelData
    ds.save_as(tmp_path / "nopix.dcm")
    for name, match in [("trunc", "truncated"), ("garbage", "not a DICOM"), ("empty", "empty"),
                        ("nopix", "no pixel data"), ("missing", "does not exist")]:
        with pytest.raises(DataError, match=match) as e:
            read_dicom(tmp_path / f"{name}.dcm")
        assert f"{name}.dcm" in str(e.value)


def test_missing_spacing(tmp_path, image):
    ds = pydicom.dcmread(write_dicom(tmp_path / "a.dcm", image, 0.1))
    del ds.SequenceOfUltrasoundRegions, ds.PixelSpacing
    ds.save_as(tmp_path / "nosp.dcm")
    with pytest.raises(SpacingError, match="spacing_mm=.*--spacing-mm") as e:
        read_dicom(tmp_path / "nosp.dcm")
    assert "nosp.dcm" in str(e.value)
    assert read_dicom(tmp_path / "nosp.dcm", spacing_mm=0.2).spacing_mm == (0.2, 0.2)
    assert read_dicom(tmp_path / "nosp.dcm", spacing_mm=(0.1, 0.3)).spacing_mm == (0.1, 0.3)
    assert np.isnan(read_dicom(tmp_path / "nosp.dcm", require_spacing=False).spacing_mm).all()
