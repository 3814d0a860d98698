"""Where things are: the repository, the shared real data, the phantom samples, outputs."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
DATA_SAMPLES_DIR = REPO_ROOT / "data_samples"
PHANTOM_SAMPLES_DIR = DATA_SAMPLES_DIR / "phantoms"
CHECKPOINTS_DIR = REPO_ROOT / "msknb" / "checkpoints"


def shared_data_dir() -> Path:
    """The real DL_Track aponeurosis set laid beside the repository (``../shared``).

    ``MSKNB_SHARED_DATA`` overrides it. The folder may not exist on a user's machine.
    """
    env = os.environ.get("MSKNB_SHARED_DATA")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "data" / "dltrack_apo"


def default_data_dir() -> Path:
    """Default data for notebooks and the main job.

    ``MSKNB_DATA`` if set; else the real shared set when present; else the phantom
    samples shipped in ``data_samples/phantoms``.
    """
    env = os.environ.get("MSKNB_DATA")
    if env:
        return Path(env)
    shared = shared_data_dir()
    if (shared / "images").is_dir():
        return shared
    return PHANTOM_SAMPLES_DIR


def default_output_dir(profile: str = "quick") -> Path:
    """``$MSKNB_OUT/<profile>`` when set, else ``outputs/<profile>`` in the repository
    (git-ignored)."""
    base = os.environ.get("MSKNB_OUT")
    return (Path(base) if base else REPO_ROOT / "outputs") / profile
