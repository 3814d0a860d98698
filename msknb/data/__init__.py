"""Notebook 00: loading ultrasound images and masks, FOV crop, DICOM, splits, download, phantoms.

The public names of loading live here: ``from msknb.data import load_folder, load_mask``.
Modules: :mod:`~msknb.data.readers` (one file), :mod:`~msknb.data.fov` (field-of-view crop),
:mod:`~msknb.data.resize`, :mod:`~msknb.data.dataset` (``UltrasoundSet``),
:mod:`~msknb.data.folder` (``load_folder``), :mod:`~msknb.data.manifest`,
:mod:`~msknb.data.spacing` (the one spacing reader), :mod:`~msknb.data.cache`,
:mod:`~msknb.data.dicom`, :mod:`~msknb.data.splits`, :mod:`~msknb.data.split_file` (the one split-JSON parser),
:mod:`~msknb.data.kit_split`, :mod:`~msknb.data.download`,
:mod:`~msknb.data.phantom`.
"""
from msknb.data.dataset import UltrasoundSet
from msknb.data.folder import load_folder
from msknb.data.fov import crop_fov
from msknb.data.manifest import build_manifest, write_manifest_csv
from msknb.data.readers import ALL_EXTS, DICOM_EXTS, IMAGE_EXTS, load_image, load_mask
from msknb.data.resize import resize_image, resize_mask
from msknb.data.spacing import parse_spacing

__all__ = ["ALL_EXTS", "DICOM_EXTS", "IMAGE_EXTS", "UltrasoundSet", "build_manifest", "crop_fov", "load_folder",
           "load_image", "load_mask", "parse_spacing", "resize_image", "resize_mask", "write_manifest_csv"]
