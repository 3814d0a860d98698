"""Download the public DL_Track data set (for users with internet access).

The DL_Track images and aponeurosis masks (Cronin, Finni & Seynnes 2020, Apache-2.0)
are published in the GitHub repository ``njcronin/DL_Track`` (folders ``apo_images/``
and ``apo_masks/``, TIFF). :data:`DLTRACK_URL` is the zip archive of that repository at
a fixed commit, so its content does not change.

Checksums: GitHub builds archives on the fly, so their bytes are not guaranteed to be
stable and no fixed digest is shipped (:data:`DLTRACK_SHA256` is ``None``). Then the
first download records its SHA-256 beside the archive (trust on first use) and later
runs check the cached archive against it. Pass ``sha256=`` to pin a digest: a mismatch
raises :class:`~msknb.errors.DataError` and nothing is extracted.

``load_folder(fetch_dltrack())`` reads the result (original TIFF layout).
Tests never download: they use ``file://`` URLs.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

from msknb.errors import DataError, MsknbError
from msknb.io import atomic_path, ensure_dir, sha256_file, write_text_atomic

#: commit of njcronin/DL_Track that holds apo_images/ and apo_masks/
DLTRACK_COMMIT = "99ee21877d04bc288e83378d260963fe415da8c8"
DLTRACK_URL = f"https://github.com/njcronin/DL_Track/archive/{DLTRACK_COMMIT}.zip"
#: expected SHA-256 of the archive; None = record on first download (see module doc)
DLTRACK_SHA256: str | None = None

_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """``$MSKNB_CACHE/dltrack`` if set, else ``~/.cache/msknb/dltrack``."""
    env = os.environ.get("MSKNB_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "msknb") / "dltrack"


def _download(url: str, target: Path, progress: bool = True) -> None:
    """Stream ``url`` into ``target`` atomically with a tqdm progress bar."""
    try:
        response = urllib.request.urlopen(url, timeout=60)  # noqa: S310 - user-chosen URL
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise DataError(f"cannot download ({getattr(e, 'reason', e)}); check the URL and your internet "
                        f"connection, or download it by hand and pass file://...", url) from e
    with response, atomic_path(target) as tmp, open(tmp, "wb") as out:
        total = response.headers.get("Content-Length")
        bar = tqdm(total=int(total) if total and total.isdigit() else None, unit="B", unit_scale=True,
                   desc=target.name, disable=not progress)
        try:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except OSError as e:
                    raise DataError(f"download interrupted ({e})", url) from e
                if not chunk:
                    break
                out.write(chunk)
                bar.update(len(chunk))
        finally:
            bar.close()


def _extract(archive: Path, dest: Path) -> None:
    """Extract a zip into ``dest`` atomically (temp folder, then rename)."""
    ensure_dir(dest.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with zipfile.ZipFile(archive) as zf:
            root = tmp.resolve()
            for member in zf.namelist():
                if not (tmp / member).resolve().is_relative_to(root):
                    raise DataError(f"unsafe path in archive: {member!r}", archive)
            zf.extractall(tmp)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except zipfile.BadZipFile as e:
        raise DataError(f"not a valid zip archive ({e})", archive) from e
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _data_root(extracted: Path) -> Path:
    """The folder holding ``apo_images/`` or ``images/`` inside the extracted archive."""
    for name in ("apo_images", "images"):
        hits = sorted(p.parent for p in extracted.rglob(name) if p.is_dir())
        if hits:
            return min(hits, key=lambda p: len(p.parts))
    return extracted


def fetch_dltrack(cache_dir: str | Path | None = None, url: str = DLTRACK_URL,
                  sha256: str | None = DLTRACK_SHA256, *, progress: bool = True) -> Path:
    """Download (once) and extract the DL_Track data set; return the folder that
    :func:`msknb.data.loading.load_folder` reads (holding ``apo_images/`` and ``apo_masks/``).

    ``cache_dir``: default :func:`default_cache_dir`. The archive is kept as
    ``cache_dir/archive.zip``; when it is already there and its checksum matches
    (``sha256`` or the recorded one), nothing is downloaded. A checksum mismatch of a new
    download raises :class:`DataError` (the bad archive is removed).
    """
    cache = ensure_dir(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    archive = cache / "archive.zip"
    recorded_file = cache / "archive.sha256"
    extracted = cache / "extracted"
    expected = sha256.lower().strip() if sha256 else None
    if expected is not None and (len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected)):
        raise MsknbError(f"sha256 must be 64 hex digits, got {sha256!r}", "sha256")
    recorded = recorded_file.read_text().strip() if recorded_file.is_file() else None
    want = expected or recorded

    if archive.is_file():
        digest = sha256_file(archive)
        if want is not None and digest == want:
            if not extracted.is_dir():
                _extract(archive, extracted)
            return _data_root(extracted)
        # stale or corrupt cache: download again

    _download(url, archive, progress=progress)
    digest = sha256_file(archive)
    if expected is not None and digest != expected:
        archive.unlink(missing_ok=True)
        raise DataError(f"checksum mismatch: SHA-256 {digest} but {expected} expected; the file was "
                        f"removed. The data set may have changed upstream, or the download is corrupt",
                        url)
    write_text_atomic(recorded_file, digest + "\n")
    _extract(archive, extracted)
    return _data_root(extracted)
