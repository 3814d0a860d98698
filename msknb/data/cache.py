"""A disk cache for prepared data: a loaded, FOV-cropped and resized set is stored once
and read back by later notebooks and runs (``load_folder(..., cache_dir=...)``), and so
are near-duplicate clusters (:func:`cached_clusters`).

Entries are ``<cache_dir>/<kind>-<key>.npz`` (numpy arrays, no pickles) where ``key`` is
a SHA-256 of the inputs: for a folder, each file's (path, size, mtime) and the loading
settings, so a changed, added or removed file or a different setting misses the cache.
Writes are atomic; an unreadable entry is ignored (and rewritten).
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from msknb.data.dataset import UltrasoundSet
from msknb.data.splits import near_duplicate_clusters
from msknb.io import ensure_dir, save_with

#: bump when the prepared data would change (e.g. a new FOV crop), so old entries are not used
CACHE_VERSION = 1
CACHE_SUBDIR = "cache"


def default_cache_dir(out_dir: str | Path) -> Path:
    """``<out_dir>/cache``: the cache the notebooks of one run share."""
    return Path(out_dir) / CACHE_SUBDIR


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def folder_key(files: Sequence[Path], settings: dict[str, Any]) -> str:
    """Key of a set loaded from ``files`` with ``settings``: each file's resolved path, size
    and mtime (ns; an absent file by its name) plus the settings and :data:`CACHE_VERSION`."""
    stamps = []
    for f in files:
        p = Path(f)
        try:
            st = p.stat()
            stamps.append([str(p.resolve()), st.st_size, st.st_mtime_ns])
        except OSError:
            stamps.append([p.name, None, None])  # absent (e.g. no manifest): its name only
    return _digest({"version": CACHE_VERSION, "files": stamps, "settings": settings})


def _entry(cache_dir: str | Path, kind: str, key: str) -> Path:
    return Path(cache_dir) / f"{kind}-{key}.npz"


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    ensure_dir(path.parent)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    return save_with(path, write)


def _load_npz(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None


def write_set(cache_dir: str | Path, key: str, ds: UltrasoundSet) -> Path:
    """Store ``ds`` under ``key``; returns the entry's path."""
    meta = {"ids": ds.ids, "paths": [str(p) for p in ds.paths], "groups": ds.groups, "subjects": ds.subjects,
            "root": None if ds.root is None else str(ds.root), "has_masks": ds.masks is not None}
    arrays = {"images": ds.images, "spacing_mm": ds.spacing_mm, "meta": np.array(json.dumps(meta))}
    for name in ("masks", "boxes", "original_shapes"):
        if getattr(ds, name) is not None:
            arrays[name] = getattr(ds, name)
    return _save_npz(_entry(cache_dir, "set", key), arrays)


def read_set(cache_dir: str | Path, key: str) -> UltrasoundSet | None:
    """The set stored under ``key``, or ``None`` when there is none (or it is unreadable)."""
    z = _load_npz(_entry(cache_dir, "set", key))
    if z is None or "meta" not in z:
        return None
    meta = json.loads(str(z["meta"]))
    return UltrasoundSet(images=z["images"], masks=z.get("masks") if meta["has_masks"] else None,
                         ids=list(meta["ids"]), paths=[Path(p) for p in meta["paths"]], spacing_mm=z["spacing_mm"],
                         groups=list(meta["groups"]), subjects=list(meta["subjects"]), boxes=z.get("boxes"),
                         original_shapes=z.get("original_shapes"),
                         root=None if meta["root"] is None else Path(meta["root"]))


def cached_clusters(images: np.ndarray, cache_dir: str | Path | None, **kwargs: Any) -> np.ndarray:
    """:func:`msknb.data.splits.near_duplicate_clusters` of ``images`` (N, H, W), computed
    once per (images' bytes, ``kwargs``) and kept in ``cache_dir`` (``None``: no cache)."""
    if cache_dir is None:
        return near_duplicate_clusters(images, **kwargs)
    arr = np.ascontiguousarray(images)
    h = hashlib.sha256(arr.tobytes())
    h.update(repr((arr.shape, str(arr.dtype))).encode())
    also = kwargs.get("also")
    if also is not None:
        h.update(np.ascontiguousarray(np.stack(list(also))).tobytes())
    key = _digest({"version": CACHE_VERSION, "images": h.hexdigest(),
                   "kwargs": {k: v for k, v in kwargs.items() if k != "also"}})
    path = _entry(cache_dir, "clusters", key)
    z = _load_npz(path)
    if z is not None and "labels" in z:
        return z["labels"]
    labels = near_duplicate_clusters(images, **kwargs)
    _save_npz(path, {"labels": np.asarray(labels)})
    return labels
