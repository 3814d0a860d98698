"""Pretrained weights for the published metrics: fetched once, checksummed, cached.

:func:`fetch_weights` returns the path of a weights file in :func:`checkpoint_dir`
(``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch/hub/checkpoints`` -- where
torchvision and torch-fidelity look too). A file already there is checked against its
pinned SHA-256 and used; an absent one is downloaded **once** (streamed to a temporary
file beside the target, hashed while it arrives, moved into place only when the hash
matches -- a wrong download leaves nothing behind).

Offline (no internet, or ``MSKNB_NO_DOWNLOAD=1``) it fails fast -- one attempt with a
short timeout, no retries -- with a :class:`WeightsUnavailableError` naming the file,
its URL and the folder to put it in. Callers (notebook 07) then fall back to clearly
labelled random-backbone / domain-feature metrics.

Files (:data:`ALEXNET`, :data:`FID_INCEPTION`; see ``WEIGHTS`` for all):

===========================================  =========================================  ================================
file                                         used by                                    checksum
===========================================  =========================================  ================================
``alexnet-owt-7be5be79.pth`` (233 MB)        LPIPS backbone (torchvision ImageNet)      SHA-256 prefix ``7be5be79`` (in
                                                                                        the name, as ``torch.hub`` checks)
``weights-inception-2015-12-05-6726825d.pth``  FID: torch-fidelity's TF-ported           full SHA-256 ``6726825d0af5...``
(95.6 MB)                                    Inception-v3 (torchmetrics' default)
===========================================  =========================================  ================================

LPIPS's linear layers (``lpips/weights/v0.1/<net>.pth``) ship inside the ``lpips``
package; :data:`LPIPS_LINEAR_SHA256` pins them.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

import torch
from tqdm.auto import tqdm

from msknb.errors import MsknbError
from msknb.io import atomic_path, sha256_file

#: set to 1 to never touch the network (tests; air-gapped sites): absent files fail at once
NO_DOWNLOAD_ENV = "MSKNB_NO_DOWNLOAD"
#: seconds for connecting and for each read; one attempt, no retries (offline must fail fast)
DEFAULT_TIMEOUT_S = 5.0
_CHUNK = 1 << 20


class WeightsError(MsknbError):
    """A pretrained weights file is unavailable or not the file it should be."""


class WeightsUnavailableError(WeightsError):
    """The file is not in the cache and cannot be downloaded (offline, or downloads off)."""


class WeightsChecksumError(WeightsError):
    """A downloaded or cached file does not have the pinned SHA-256."""


@dataclass(frozen=True)
class WeightsFile:
    """One pinned weights file: cache ``filename``, download ``url``, ``sha256`` (64 hex
    digits, or a prefix of at least 8 when only that is published, e.g. torchvision's
    ``<name>-<first 8 hex>.pth``), ``what`` it is (for messages), approximate ``megabytes``."""
    filename: str
    url: str
    sha256: str
    what: str
    megabytes: float


ALEXNET = WeightsFile("alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                      "7be5be79", "LPIPS AlexNet ImageNet backbone (torchvision)", 233.1)
VGG16 = WeightsFile("vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth",
                    "397923af", "LPIPS VGG-16 ImageNet backbone (torchvision)", 528.0)
SQUEEZENET = WeightsFile("squeezenet1_1-b8a52dc0.pth", "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
                         "b8a52dc0", "LPIPS SqueezeNet-1.1 ImageNet backbone (torchvision)", 4.7)
#: the FID network's weights: TF Inception (2015-12-05) ported by torch-fidelity; the same
#: bytes as pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (95,628,359 bytes)
FID_INCEPTION = WeightsFile(
    "weights-inception-2015-12-05-6726825d.pth",
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
    "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    "FID Inception-v3 (TF 2015-12-05 weights, torch-fidelity / torchmetrics)", 95.6)
#: LPIPS backbone name -> its ImageNet weights
LPIPS_BACKBONES = {"alex": ALEXNET, "vgg": VGG16, "squeeze": SQUEEZENET}
#: SHA-256 of the LPIPS v0.1 linear layers shipped in the lpips package (0.1.4)
LPIPS_LINEAR_SHA256 = {
    "alex": "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
    "squeeze": "4a5350f23600cb79923ce65bb07cbf57dca461329894153e05a1346bd531cf76",
    "vgg": "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
}

Opener = Callable[[str, float], BinaryIO]


def checkpoint_dir() -> Path:
    """``<torch hub dir>/checkpoints`` (``$TORCH_HOME/hub/checkpoints``): where the
    weights are cached (and where torchvision and torch-fidelity look for them)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _how_to_get_it(spec: WeightsFile, folder: Path) -> str:
    return (f"download {spec.url} ({spec.megabytes:.0f} MB) on a machine with internet and put it into the "
            f"folder {folder} (or set TORCH_HOME to a folder whose hub/checkpoints holds it)")


def hash_matches(digest: str, expected: str) -> bool:
    """``digest`` (64 hex) equals ``expected`` (64 hex) or starts with it (a >= 8-digit prefix)."""
    want = expected.lower()
    if len(want) < 8:
        raise MsknbError(f"a pinned SHA-256 needs at least 8 hex digits, got {expected!r}", "sha256")
    return digest.lower() == want if len(want) == 64 else digest.lower().startswith(want)


def verify_file(path: Path, spec: WeightsFile) -> Path:
    """``path`` if its SHA-256 matches ``spec``; else :class:`WeightsChecksumError`
    telling to delete or replace it."""
    digest = sha256_file(path)
    if not hash_matches(digest, spec.sha256):
        raise WeightsChecksumError(
            f"{spec.what}: SHA-256 {digest[:16]}... does not match the pinned {spec.sha256[:16]}...; "
            f"the file is damaged or a different file: delete it (it is fetched again on next use) or "
            f"replace it with {spec.url}", path)
    return path


def _urlopen(url: str, timeout_s: float) -> BinaryIO:
    return urllib.request.urlopen(url, timeout=timeout_s)  # noqa: S310 - pinned https URLs (file:// in tests)


def _stream_verified(response: BinaryIO, target: Path, spec: WeightsFile, progress: bool) -> None:
    """Copy ``response`` into ``target`` atomically, hashing on the way; a hash mismatch
    raises inside the atomic write, so the temporary file is removed and ``target`` untouched."""
    h = hashlib.sha256()
    headers = getattr(response, "headers", None)
    total = headers.get("Content-Length") if headers is not None else None
    with atomic_path(target) as tmp, open(tmp, "wb") as out:
        bar = tqdm(total=int(total) if total and str(total).isdigit() else None, unit="B", unit_scale=True,
                   desc=spec.filename, disable=not progress)
        try:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except OSError as e:  # includes socket timeouts mid-download
                    raise WeightsUnavailableError(f"download of {spec.what} interrupted ({e}); "
                                                  + _how_to_get_it(spec, target.parent), target) from e
                if not chunk:
                    break
                h.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
        finally:
            bar.close()
        if not hash_matches(h.hexdigest(), spec.sha256):
            raise WeightsChecksumError(
                f"{spec.what}: downloaded file has SHA-256 {h.hexdigest()[:16]}..., expected "
                f"{spec.sha256[:16]}...; nothing was saved. Download {spec.url} by hand and put it into "
                f"{target.parent}", target)


def fetch_weights(spec: WeightsFile, folder: str | Path | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                  opener: Opener | None = None, progress: bool = True) -> Path:
    """Path of ``spec``'s file in ``folder`` (default :func:`checkpoint_dir`), verified.

    Present: its SHA-256 is checked (:class:`WeightsChecksumError` on mismatch; the file
    is left for the user to inspect). Absent: one download from ``spec.url`` (``opener(url,
    timeout_s)``, default ``urllib``; ``timeout_s`` per connect/read, no retries), hashed
    while streaming and written atomically. Unreachable, or ``MSKNB_NO_DOWNLOAD=1``:
    :class:`WeightsUnavailableError` naming the file, the URL and the folder.
    """
    folder = Path(folder) if folder is not None else checkpoint_dir()
    target = folder / spec.filename
    if target.is_file():
        return verify_file(target, spec)
    if os.environ.get(NO_DOWNLOAD_ENV, "").strip() not in ("", "0"):
        raise WeightsUnavailableError(f"{spec.what}: file {spec.filename} not found and downloads are off "
                                      f"({NO_DOWNLOAD_ENV} is set); " + _how_to_get_it(spec, folder), target)
    try:
        response = (opener or _urlopen)(spec.url, timeout_s)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise WeightsUnavailableError(f"{spec.what}: file {spec.filename} not found and cannot be downloaded "
                                      f"({reason}); offline? " + _how_to_get_it(spec, folder), target) from e
    with response:
        _stream_verified(response, target, spec, progress)
    return target
