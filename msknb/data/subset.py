"""Loading only some images of a data folder, by id (:func:`load_ids`): a 40-image test
split does not read all 463 files."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

from msknb.data.dataset import UltrasoundSet
from msknb.data.folder import load_folder
from msknb.errors import MsknbError


def _link_subset(root: Path, images_dir: Path, masks_dir: Path | None, files: list[Path], wanted: set[str],
                 tmp: Path) -> None:
    """A DL_Track-layout folder ``tmp`` of symbolic links to ``files``, their masks and the manifest."""
    (tmp / "images").mkdir()
    for f in files:
        os.symlink(f.resolve(), tmp / "images" / f.name)
    if masks_dir is not None:
        (tmp / "masks").mkdir()
        for m in sorted(masks_dir.iterdir()):
            if m.stem in wanted:
                os.symlink(m.resolve(), tmp / "masks" / m.name)
    if (root / "manifest.csv").is_file():
        os.symlink((root / "manifest.csv").resolve(), tmp / "manifest.csv")


def load_ids(root: str | Path, ids: Sequence[str], image_size: int | None, crop_fov: bool = True,
             cache_dir: str | Path | None = None) -> UltrasoundSet:
    """Load only the images ``ids`` (file stems) of a data folder with
    :func:`~msknb.data.folder.load_folder` (through a temporary folder of symbolic links to
    those files, their masks and the manifest). Near-duplicate clusters are computed among
    the loaded images. Ids not found are ignored (compare ``len(result)`` with ``len(ids)``);
    none found raises :class:`MsknbError` naming the folder. ``cache_dir``: as for
    ``load_folder`` (the key follows the links to the original files)."""
    root = Path(root)
    images_dir = next((root / d for d in ("images", "apo_images") if (root / d).is_dir()), root)
    masks_dir = next((root / d for d in ("masks", "apo_masks") if (root / d).is_dir()), None)
    wanted = set(map(str, ids))
    files = [f for f in sorted(images_dir.iterdir()) if f.is_file() and f.stem in wanted]
    if not files:
        raise MsknbError(f"none of the {len(wanted)} split ids found in this folder", images_dir)
    with tempfile.TemporaryDirectory(prefix="msknb-ids-") as tmp:
        _link_subset(root, images_dir, masks_dir, files, wanted, Path(tmp))
        ds = load_folder(tmp, image_size=image_size, crop_fov=crop_fov, allow_missing_masks=True,
                         cache_dir=cache_dir)
    ds.paths = [images_dir / Path(f).name for f in ds.paths]  # the links are gone: point at the originals
    ds.root = root
    return ds
