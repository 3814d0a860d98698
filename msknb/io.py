"""Atomic file writing: a write either completes or leaves the old file untouched.

All msknb outputs (PNG, DICOM, JSON, checkpoints, HTML) go through these helpers:
data is written to a temporary file in the same folder, flushed, fsynced and then
``os.replace``-d over the target. A full disk or an unwritable folder raises
:class:`~msknb.errors.MsknbError` naming the path, and the previous file survives.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from PIL import Image

from msknb.errors import MsknbError


def ensure_dir(path: str | Path) -> Path:
    """Create ``path`` (and parents) if needed; error naming it if impossible."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MsknbError(f"cannot create output folder ({e.strerror or e})", p) from e
    if not os.access(p, os.W_OK):
        raise MsknbError("output folder is not writable", p)
    return p


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it over ``path``.

    Use for writers that want a file name (``torch.save``, ``pydicom.dcmwrite``,
    ``PIL.Image.save``). On any exception the temporary file is removed and the
    original ``path`` is left as it was.
    """
    target = Path(path)
    ensure_dir(target.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as e:
        raise MsknbError(f"cannot write ({e.strerror or e})", target) from e
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    except OSError as e:
        tmp_path.unlink(missing_ok=True)
        raise MsknbError(f"cannot write ({e.strerror or e}); the previous file is unchanged", target) from e
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json_object(path: str | Path, error: type[MsknbError], what: str) -> dict[str, Any]:
    """The JSON object stored at ``path``; ``error`` (an :class:`MsknbError` class) naming the
    file when it cannot be read ("cannot read <what> (...)") or holds no object ("<what> must
    hold a JSON object")."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise error(f"cannot read {what} ({e})", p) from e
    if not isinstance(data, dict):
        raise error(f"{what} must hold a JSON object", p)
    return data


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (numpy scalars/arrays and Paths converted)."""
    return write_text_atomic(path, json.dumps(obj, indent=2, default=_json_default, allow_nan=True) + "\n")


def save_with(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` and move the result to ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in ``chunk_bytes`` chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_bytes), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------ value ranges ----------
# Images live in [0, 1] (numpy, as msknb.data loads them); networks work in [-1, 1]
# (torch, ``x = 2 * image - 1``); files hold 8-bit grey levels. Each conversion once.
def to_model(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Images in [0, 1], (H, W), (N, H, W) or (N, C, H, W) -> float32 tensor in [-1, 1],
    (N, C, H, W) (a channel axis of 1 added to 2-D/3-D input; a single image gets N = 1)."""
    x = torch.as_tensor(np.asarray(images, dtype=np.float32) if not isinstance(images, torch.Tensor) else images,
                        dtype=torch.float32)
    if x.dim() == 2:
        x = x[None]
    if x.dim() == 3:
        x = x[:, None]
    return 2.0 * x - 1.0


def from_model(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """A tensor/array in [-1, 1] (any shape) -> float32 numpy in [0, 1], clipped, same shape."""
    a = x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    return np.clip((a + 1.0) / 2.0, 0.0, 1.0).astype(np.float32)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] (any shape) -> uint8 grey levels round(255 x), clipped; NaN -> 0."""
    a = np.nan_to_num(np.asarray(images, dtype=np.float64))
    return np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)


def write_png(path: str | Path, image: np.ndarray, mask: bool = False) -> Path:
    """Write one grey image (H, W) atomically as an 8-bit PNG: uint8 as is, float in [0, 1]
    through :func:`to_uint8`; ``mask=True`` writes ``image > 0`` as 0/255. Deterministic bytes
    (zlib level 9), so regenerated files are bit-identical. Returns the path."""
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise MsknbError(f"a PNG image must be 2-D (H, W), got shape {arr.shape}", path)
    if mask:
        arr = (arr > 0).astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        arr = to_uint8(arr)
    img = Image.fromarray(np.ascontiguousarray(arr), mode="L")
    return save_with(path, lambda tmp: img.save(tmp, format="PNG", optimize=False, compress_level=9))


def move_aside(path: str | Path, why: str) -> Path:
    """Move a file that cannot be used (unreadable, or from other settings) to
    ``<name>.set-aside-<UTC time><suffix>`` beside it instead of overwriting it, print
    where it went and why, and return the new path. Nothing a long run wrote is lost."""
    src = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    dst = src.with_name(f"{src.stem}.set-aside-{stamp}{src.suffix}")
    k = 1
    while dst.exists():
        dst = src.with_name(f"{src.stem}.set-aside-{stamp}-{k}{src.suffix}")
        k += 1
    os.replace(src, dst)
    print(f"{src}: {why}; moved aside to {dst.name} (kept, not overwritten); starting anew")
    return dst


def ids_sha256(ids: Iterable[str]) -> str:
    """SHA-256 (hex) of the sorted ids joined by ``"\\n"``: one short name for a set of ids."""
    return hashlib.sha256("\n".join(sorted(str(i) for i in ids)).encode("utf-8")).hexdigest()
