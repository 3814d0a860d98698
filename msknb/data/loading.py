"""Old home of the loading functions, kept so that ``from msknb.data.loading import ...``
in students' notebooks still works. New code imports from :mod:`msknb.data`
(``from msknb.data import load_folder``); each name lives in one module there."""
from msknb.data.dataset import UltrasoundSet
from msknb.data.folder import load_folder
from msknb.data.fov import crop_fov
from msknb.data.manifest import MANIFEST_FIELDS, build_manifest, write_manifest_csv
from msknb.data.readers import ALL_EXTS, DICOM_EXTS, IMAGE_EXTS, load_image, load_mask
from msknb.data.resize import resize_image, resize_mask

__all__ = ["ALL_EXTS", "DICOM_EXTS", "IMAGE_EXTS", "MANIFEST_FIELDS", "UltrasoundSet", "build_manifest", "crop_fov",
           "load_folder", "load_image", "load_mask", "resize_image", "resize_mask", "write_manifest_csv"]
