"""Reading and writing ultrasound DICOM files (pydicom), with pixel spacing in mm.

:func:`read_dicom` turns any single-image ultrasound DICOM into a grayscale float image
(H, W) in [0, 1] plus its pixel spacing ``(row_mm, col_mm)`` (mm per pixel):

- MONOCHROME1 is inverted, RGB / YBR images are converted to gray (luma),
  8-, 12- and 16-bit data are scaled by the range of their stored bits;
- multi-frame files (cine loops): the first frame is read (``meta["n_frames"]`` says how
  many there were), or every frame with ``all_frames=True`` (``image`` then (F, H, W));
- spacing comes from the Sequence of Ultrasound Regions (0018,6011) when its physical
  units are cm (code 3), else from PixelSpacing (0028,0030) or ImagerPixelSpacing
  (0018,1164), else from the ``spacing_mm`` argument; otherwise :class:`SpacingError`
  (or NaN spacing with ``require_spacing=False``).

:func:`write_dicom` writes an 8-bit MONOCHROME2 *Ultrasound Image Storage* file with no
patient identifiers (synthetic images are not from a patient), spacing both in a
Sequence of Ultrasound Regions (cm, float64 -- exact) and in PixelSpacing.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, generate_uid
from pydicom.valuerep import format_number_as_ds

from msknb.data.spacing import parse_spacing
from msknb.errors import ConfigError, DataError, SpacingError
from msknb.io import atomic_path

#: SOP Class UID of Ultrasound Image Storage
US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"

#: Keywords that identify a patient, an institution or a date; :func:`assert_no_phi`
#: checks that each is absent or empty (PatientName / PatientID may be "ANONYMOUS").
DEIDENTIFICATION_TAGS: list[str] = [
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "PatientSex", "PatientAge",
    "PatientSize", "PatientWeight", "PatientAddress", "PatientTelephoneNumbers", "PatientMotherBirthName",
    "OtherPatientIDs", "OtherPatientNames", "OtherPatientIDsSequence", "EthnicGroup", "MilitaryRank",
    "MedicalRecordLocator", "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
    "ReferringPhysicianName", "ReferringPhysicianAddress", "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy", "OperatorsName", "PhysiciansOfRecord", "RequestingPhysician",
    "StationName", "DeviceSerialNumber", "AccessionNumber", "StudyID", "StudyDate", "SeriesDate",
    "AcquisitionDate", "ContentDate", "StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime",
    "AcquisitionDateTime", "InstanceCreationDate", "InstanceCreationTime", "IssuerOfPatientID",
    "PatientComments", "AdditionalPatientHistory", "RequestAttributesSequence",
]

_ANONYMOUS_OK = {"PatientName", "PatientID"}

#: non-identifying header fields copied into ``DicomImage.meta``
_META_KEYWORDS = ("Modality", "Manufacturer", "ManufacturerModelName", "PhotometricInterpretation",
                  "BitsAllocated", "BitsStored", "Rows", "Columns", "SOPClassUID", "SeriesDescription",
                  "TransducerData", "ImageType")


@dataclass
class DicomImage:
    """One DICOM image.

    ``image``: float32 (H, W) grayscale in [0, 1] (first frame of a multi-frame file; every
    frame, (F, H, W), when read with ``all_frames=True``);
    ``spacing_mm``: (row_mm, col_mm), mm per pixel (NaN when unknown and not required);
    ``meta``: non-identifying header fields plus ``spacing_source``, ``n_frames``, ``path``.
    """

    image: np.ndarray
    spacing_mm: tuple[float, float]
    meta: dict[str, Any] = field(default_factory=dict)


def _spacing_from_dataset(ds) -> tuple[tuple[float, float] | None, str]:
    """(row_mm, col_mm) and its source from a dataset, or (None, "unknown")."""
    regions = ds.get("SequenceOfUltrasoundRegions")
    if regions:
        # prefer a 2D tissue region (RegionSpatialFormat 1), then any region in cm
        ordered = sorted(regions, key=lambda r: 0 if r.get("RegionSpatialFormat", None) == 1 else 1)
        for reg in ordered:
            try:
                ux, uy = int(reg.PhysicalUnitsXDirection), int(reg.PhysicalUnitsYDirection)
                dx, dy = abs(float(reg.PhysicalDeltaX)), abs(float(reg.PhysicalDeltaY))
            except (AttributeError, TypeError, ValueError):
                continue
            if ux == 3 and uy == 3 and dx > 0 and dy > 0 and math.isfinite(dx) and math.isfinite(dy):
                return (dy * 10.0, dx * 10.0), "ultrasound_regions"
    for keyword, source in (("PixelSpacing", "pixel_spacing"), ("ImagerPixelSpacing", "imager_pixel_spacing")):
        value = ds.get(keyword)
        if value is not None:
            try:
                row, col = float(value[0]), float(value[1])
            except (TypeError, ValueError, IndexError):
                continue
            if row > 0 and col > 0 and math.isfinite(row) and math.isfinite(col):
                return (row, col), source
    return None, "unknown"


def _to_gray(arr: np.ndarray, ds, path: Path, all_frames: bool = False) -> np.ndarray:
    """First frame of the pixel array as float32 (H, W) in [0, 1]; every frame (F, H, W)
    with ``all_frames``."""
    frames = arr if int(ds.get("NumberOfFrames", 1) or 1) > 1 else arr[None]
    if all_frames:
        return np.stack([_frame_to_gray(f, ds, path) for f in frames]) if len(frames) else frames.astype(np.float32)
    return _frame_to_gray(frames[0], ds, path)


def _frame_to_gray(arr: np.ndarray, ds, path: Path) -> np.ndarray:
    """One frame of the pixel array as float32 (H, W) in [0, 1]."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    if spp > 1 and arr.ndim == 3 and arr.shape[0] == spp and arr.shape[-1] != spp:
        arr = np.moveaxis(arr, 0, -1)  # planar configuration read as (C, H, W)
    if arr.ndim == 3 and spp > 1:
        color = arr[..., :3].astype(np.float64)
        if photometric.startswith("YBR"):
            gray = color[..., 0]  # Y is the luma (pixel data read without RGB conversion)
        else:
            gray = 0.299 * color[..., 0] + 0.587 * color[..., 1] + 0.114 * color[..., 2]
    elif arr.ndim == 2:
        gray = arr.astype(np.float64)
    else:
        raise DataError(f"unsupported pixel array shape {arr.shape} (SamplesPerPixel={spp})", path)
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 8)) or 8)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    if arr.dtype.kind == "f":  # float pixel data: use its own range
        lo, hi = float(np.nanmin(gray)), float(np.nanmax(gray))
        hi = hi if hi > lo else lo + 1.0
    img = (gray - lo) / float(hi - lo)
    img = np.clip(img, 0.0, 1.0)
    if photometric == "MONOCHROME1":
        img = 1.0 - img
    return img.astype(np.float32)


def _header_meta(ds, path: Path, source: str) -> dict[str, Any]:
    """Non-identifying header fields (:data:`_META_KEYWORDS`) plus path, spacing source, n_frames."""
    meta: dict[str, Any] = {"path": str(path), "spacing_source": source,
                            "n_frames": int(ds.get("NumberOfFrames", 1) or 1)}
    for key in _META_KEYWORDS:
        if key in ds:
            value = ds.get(key)
            if isinstance(value, (int, float)):
                meta[key] = value
            elif isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
                meta[key] = "\\".join(str(v) for v in value)
            else:
                meta[key] = str(value)
    return meta


def read_dicom(path: str | Path, spacing_mm: float | Sequence[float] | None = None, *,
               require_spacing: bool = True, all_frames: bool = False) -> DicomImage:
    """Read one ultrasound DICOM as a grayscale image with its pixel spacing.

    ``spacing_mm`` (float, or (row_mm, col_mm)) is used only when the file holds no
    spacing. Without either, raises :class:`SpacingError` -- unless
    ``require_spacing=False``, then spacing is (NaN, NaN). A file that is not DICOM, is
    truncated, or has no pixel data raises :class:`DataError` naming it.
    Multi-frame files: only the first frame is returned, unless ``all_frames`` (then
    ``image`` is (F, H, W), also for a single-frame file: F = 1).
    """
    path = Path(path)
    fallback = parse_spacing(spacing_mm)
    if not path.is_file():
        raise DataError("DICOM file does not exist", path)
    if path.stat().st_size == 0:
        raise DataError("file is empty (0 bytes), not a DICOM", path)
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError as e:
        raise DataError(f"not a DICOM file ({e})", path) from e
    except Exception as e:  # truncated / garbage: pydicom raises many kinds
        raise DataError(f"unreadable or truncated DICOM ({type(e).__name__}: {e})", path) from e
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise DataError("DICOM has no pixel data (not an image: e.g. a structured report or a "
                        "DICOMDIR)", path)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if photometric.startswith("YBR"):
                ds.pixel_array_options(as_rgb=False)
            arr = ds.pixel_array
    except Exception as e:
        raise DataError(f"cannot decode pixel data, file truncated or compressed with an unsupported "
                        f"codec ({type(e).__name__}: {e})", path) from e
    image = _to_gray(np.asarray(arr), ds, path, all_frames)
    if image.size == 0:
        raise DataError("DICOM image is empty (0 pixels)", path)
    spacing, source = _spacing_from_dataset(ds)
    if spacing is None and fallback is not None:
        spacing, source = fallback, "argument"
    if spacing is None:
        if require_spacing:
            raise SpacingError(
                "no pixel spacing in this DICOM (no Sequence of Ultrasound Regions in cm, no "
                "PixelSpacing); pass one by hand: spacing_mm=0.1 or spacing_mm=(row_mm, col_mm) in "
                "Python, --spacing-mm 0.1 on the command line", path)
        spacing = (float("nan"), float("nan"))
    meta = _header_meta(ds, path, source)
    if meta["n_frames"] > 1 and not all_frames:
        meta["frame"] = 0
    return DicomImage(image=image, spacing_mm=(float(spacing[0]), float(spacing[1])), meta=meta)


def _format_ds(value: float) -> str:
    """A DS string (<= 16 characters) as close to ``value`` as DS allows."""
    return format_number_as_ds(float(value))


def write_dicom(path: str | Path, image: np.ndarray, spacing_mm: float | Sequence[float], *,
                description: str = "msknb synthetic", series_uid: str | None = None,
                instance: int = 1) -> Path:
    """Write ``image`` (H, W) as an 8-bit MONOCHROME2 Ultrasound Image Storage DICOM.

    ``image``: float in [0, 1] (clipped) or uint8. ``spacing_mm``: float or (row_mm, col_mm).
    Spacing is stored in a Sequence of Ultrasound Regions (PhysicalDeltaX/Y in cm, float64)
    and in PixelSpacing (DS). Fresh UIDs; ``series_uid`` groups several files in one series.
    No patient identifiers (PatientName/PatientID "ANONYMOUS", no dates, no institution;
    PatientIdentityRemoved "YES"). Written atomically. Returns the path.
    """
    path = Path(path)
    row_mm, col_mm = parse_spacing(spacing_mm) or (None, None)
    if row_mm is None:
        raise ConfigError("write_dicom needs spacing_mm (mm per pixel)", "spacing_mm")
    pix = _as_uint8_pixels(image, path)
    ds = _anonymous_us_dataset(description, series_uid, instance)
    rows, cols = pix.shape
    ds.SequenceOfUltrasoundRegions = DicomSequence([_spacing_region(rows, cols, row_mm, col_mm)])
    ds.PixelSpacing = [_format_ds(row_mm), _format_ds(col_mm)]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pix).tobytes()
    with atomic_path(path) as tmp:
        pydicom.dcmwrite(tmp, ds, enforce_file_format=True)
    return path


def _as_uint8_pixels(image: np.ndarray, path: Path) -> np.ndarray:
    """uint8 (H, W): uint8 as is, other numbers clipped to [0, 1] and scaled to 0..255."""
    arr = np.asarray(image)
    if arr.ndim != 2 or arr.size == 0:
        raise DataError(f"image to write must be 2-D (H, W), got shape {arr.shape}", path)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind not in "fiub":
        raise DataError(f"cannot write image of dtype {arr.dtype}", path)
    return np.round(np.clip(np.nan_to_num(arr.astype(np.float64)), 0.0, 1.0) * 255.0).astype(np.uint8)


def _anonymous_us_dataset(description: str, series_uid: str | None, instance: int) -> Dataset:
    """An Ultrasound Image Storage dataset with fresh UIDs and no patient identifiers."""
    sop_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = US_IMAGE_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality = "US"
    ds.SeriesDescription = str(description)[:64]
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.Manufacturer = "msknb"
    ds.SeriesNumber = 1
    ds.InstanceNumber = int(instance)
    # type-2 attributes, present but carrying no identity
    ds.PatientName = "ANONYMOUS"
    ds.PatientID = "ANONYMOUS"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.ReferringPhysicianName = ""
    ds.AccessionNumber = ""
    ds.StudyID = ""
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "msknb synthetic image: no patient data, no dates, no institution"
    ds.BurnedInAnnotation = "NO"
    return ds


def _spacing_region(rows: int, cols: int, row_mm: float, col_mm: float) -> Dataset:
    """One Sequence of Ultrasound Regions item: the whole image, 2-D tissue, deltas in cm."""
    region = Dataset()
    region.RegionSpatialFormat = 1  # 2D
    region.RegionDataType = 1  # tissue
    region.RegionFlags = 0
    region.RegionLocationMinX0 = 0
    region.RegionLocationMinY0 = 0
    region.RegionLocationMaxX1 = cols - 1
    region.RegionLocationMaxY1 = rows - 1
    region.PhysicalUnitsXDirection = 3  # cm
    region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = float(col_mm) / 10.0
    region.PhysicalDeltaY = float(row_mm) / 10.0
    return region


def assert_no_phi(dataset) -> None:
    """Raise ``AssertionError`` listing every identifying element of ``dataset`` (a
    pydicom Dataset or a path) that is present and not empty; PatientName / PatientID may
    be "ANONYMOUS". Also requires PatientIdentityRemoved == "YES"."""
    ds = pydicom.dcmread(dataset) if isinstance(dataset, (str, Path)) else dataset
    found = []
    for keyword in DEIDENTIFICATION_TAGS:
        if keyword not in ds:
            continue
        value = ds.get(keyword)
        text = "" if value is None else str(value).strip()
        if not text or (keyword in _ANONYMOUS_OK and text.upper() == "ANONYMOUS"):
            continue
        found.append(f"{keyword}={text!r}")
    if str(ds.get("PatientIdentityRemoved", "")).upper() != "YES":
        found.append("PatientIdentityRemoved is not 'YES'")
    if found:
        raise AssertionError("identifying DICOM elements present: " + ", ".join(found))
