"""Expert masks vs predicted masks (notebook 06): the test split's expert masks prepared
as notebook 05 prepared its inputs, notebook 05's predictions (read through
:mod:`msknb.artifacts`), and MT of both by the same method."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from msknb import artifacts
from msknb.data import ALL_EXTS, DICOM_EXTS, crop_fov, load_folder, load_image, load_mask, resize_mask
from msknb.data.dicom import read_dicom
from msknb.data.manifest import read_manifest_spacing
from msknb.paper import PAPER_EXPERIMENTS
from msknb.thickness.batch import measure_many


def _from_any_layout(root: Path, ids: list[str], image_size: int | None, crop: bool) -> dict[str, Any]:
    """:func:`load_expert_masks` for layouts other than DL_Track's, through ``load_folder``."""
    ds = load_folder(root, image_size=image_size, crop_fov=crop)
    where = {i: k for k, i in enumerate(ds.ids)}
    keep = [i for i in ids if i in where]
    sub = ds.subset([where[i] for i in keep])
    box = sub.boxes if sub.boxes is not None else np.zeros((len(keep), 4))
    shape = np.array(sub.masks.shape[1:], float)
    scale = np.column_stack([(box[:, 1] - box[:, 0]) / shape[0], (box[:, 3] - box[:, 2]) / shape[1]])
    return {"ids": keep, "masks": sub.masks, "scale": scale, "spacing_mm": sub.spacing_mm,
            "missing": [i for i in ids if i not in where]}


def _one_expert_mask(image_path: Path, mask_path: Path, image_size: int | None, crop: bool,
                     manifest_sp) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask at ``image_size``², stored-file px per px (row, col), mm per px at this size)."""
    img = load_image(image_path)
    msk = load_mask(mask_path)
    y0, y1, x0, x1 = crop_fov(img) if crop else (0, img.shape[0], 0, img.shape[1])
    msk = msk[y0:y1, x0:x1]
    sc = np.array([1.0, 1.0])
    if image_size is not None:
        sc = np.array([(y1 - y0) / image_size, (x1 - x0) / image_size])
        msk = resize_mask(msk, int(image_size))
    sp = np.array(manifest_sp if manifest_sp is not None else (np.nan, np.nan))
    if image_path.suffix.lower() in DICOM_EXTS:
        sp = np.asarray(read_dicom(image_path, require_spacing=False).spacing_mm, float)
    return msk, sc, sp * sc


def load_expert_masks(data_dir: str | Path, ids: Sequence[str], image_size: int | None = None,
                      crop_fov: bool = True) -> dict[str, Any]:
    """Expert masks of ``ids`` prepared exactly as :func:`msknb.data.load_folder` prepares
    them (crop to the field of view found on the image, nearest resize to
    ``image_size``²), read one file at a time so that a test split of a large folder is
    fast. DL_Track layout (``images/`` + ``masks/``); other layouts go through ``load_folder``.

    Returns ``{"ids", "masks" uint8 (N, S, S), "scale" (N, 2) stored-file px per px
    (row, col), "spacing_mm" (N, 2) mm per px at this size (NaN unknown), "missing"}``.
    Use ``scale`` as the spacing of :func:`measure_thickness` to get lengths in pixels of
    the stored file (the square resize squashes the images anisotropically).
    """
    root = Path(data_dir)
    ids = [str(i) for i in ids]
    images_dir, masks_dir = root / "images", root / "masks"
    if not (images_dir.is_dir() and masks_dir.is_dir()):
        return _from_any_layout(root, ids, image_size, crop_fov)
    index = {p.stem: p for p in images_dir.iterdir() if p.suffix.lower() in ALL_EXTS}
    mindex = {p.stem: p for p in masks_dir.iterdir() if p.suffix.lower() in ALL_EXTS}
    manifest = read_manifest_spacing(root)
    out_ids, masks, scales, spacings, missing = [], [], [], [], []
    for i in ids:
        if i not in index or i not in mindex:
            missing.append(i)
            continue
        msk, sc, sp = _one_expert_mask(index[i], mindex[i], image_size, crop_fov, manifest.get(i))
        out_ids.append(i)
        masks.append(msk)
        scales.append(sc)
        spacings.append(sp)
    return {"ids": out_ids, "masks": np.stack(masks) if masks else np.zeros((0, 1, 1), np.uint8),
            "scale": np.array(scales).reshape(-1, 2), "spacing_mm": np.array(spacings).reshape(-1, 2),
            "missing": missing}


def find_segmentation_outputs(out_dir: str | Path) -> dict[str, Any] | None:
    """What notebook 05 left in ``out_dir`` (:mod:`msknb.artifacts`): ``{"split": the split,
    "test_ids": [...], "image_size", "crop_fov", "experiments": {experiment folder: {id: png
    path}}}`` (the paper's experiments first, in its order), or None when there is no split
    or no experiment with predicted masks."""
    split = artifacts.read_split(out_dir)
    if split is None:
        return None
    experiments = artifacts.list_predictions(out_dir, order=PAPER_EXPERIMENTS)
    if not experiments:
        return None
    image_size = split.get("image_size")
    if image_size is None:
        first = next(iter(next(iter(experiments.values())).values()))
        image_size = int(load_mask(first).shape[0])
    test_ids = split["test"] or sorted({i for e in experiments.values() for i in e})
    return {"split": split, "test_ids": test_ids, "image_size": int(image_size),
            "crop_fov": bool(split.get("crop_fov", True)), "experiments": experiments}


def _measure_predictions(preds: dict[str, Path], ids: list[str], spacing: np.ndarray,
                         **kwargs: Any) -> tuple[np.ndarray, dict[str, str], list]:
    """MT (N,) of one experiment's predicted masks of ``ids`` (NaN: none / not measured)."""
    values = np.full(len(ids), np.nan)
    errs: dict[str, str] = {}
    keep = [k for k, i in enumerate(ids) if i in preds]
    errs.update({i: "no predicted mask" for i in ids if i not in preds})
    results: list = [None] * len(ids)
    if keep:
        mt, e, res = measure_many([load_mask(preds[ids[k]]) for k in keep], [ids[k] for k in keep],
                                  spacing_mm=np.array([spacing[k] for k in keep]), **kwargs)
        values[keep] = mt[:, 1]
        errs.update(e)
        for k, r in zip(keep, res):
            results[k] = r
    return values, errs, results


def compare_with_experts(data_dir: str | Path, seg: dict[str, Any], n_chords: int = 5,
                         max_images: int | None = None, method: str = "chords") -> dict[str, Any]:
    """MT on expert masks vs predicted masks of each experiment in ``seg`` (from
    :func:`find_segmentation_outputs`), both at the segmentation size and by ``method``,
    lengths converted to mm when every spacing is known, else to pixels of the stored
    image files.

    Returns ``{"unit", "ids", "expert" (N,), "predicted": {experiment: (N,)},
    "flags": {"expert"|experiment: [flag per id]}, "errors": {"expert"|experiment: {id: message}},
    "missing": [...], "method"}`` (NaN = not measured).
    """
    ids = list(seg["test_ids"])[: max_images or None]
    ex = load_expert_masks(data_dir, ids, seg["image_size"], seg["crop_fov"])
    use_mm = len(ex["ids"]) > 0 and bool(np.all(np.isfinite(ex["spacing_mm"])))
    spacing = ex["spacing_mm"] if use_mm else ex["scale"]
    kwargs = {"n_chords": n_chords, "method": method}
    expert, err_e, res_e = measure_many(ex["masks"], ex["ids"], spacing_mm=spacing, **kwargs)
    flag = lambda rs: [None if r is None else r.flag for r in rs]  # noqa: E731
    out = {"unit": "mm" if use_mm else "px", "ids": ex["ids"], "expert": expert[:, 1], "predicted": {},
           "flags": {"expert": flag(res_e)}, "errors": {"expert": err_e}, "missing": ex["missing"], "method": method}
    for name, preds in seg["experiments"].items():
        values, errs, res = _measure_predictions(preds, ex["ids"], spacing, **kwargs)
        out["predicted"][name] = values
        out["errors"][name] = errs
        out["flags"][name] = flag(res)
    return out
