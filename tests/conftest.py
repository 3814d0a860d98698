"""Shared fixtures. Tests that need the real shared data fail in CI (CI=true) when it
is missing, and skip on a user's machine."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("MSKNB_NO_DOWNLOAD", "1")  # tests never download


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` first (stable otherwise): ``make test`` runs pytest-xdist with
    ``--dist loadfile``, and the file that holds the longest chain (the smoke series, then
    nbval re-running it) must start at once for the workers to finish together."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture(autouse=True)
def _close_figures():
    """Each test's matplotlib figures are closed after it (figure helpers return them open)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the real DL_Track set (``../shared/data/dltrack_apo``)."""
    from msknb.paths import shared_data_dir

    path = shared_data_dir()
    if not (path / "images").is_dir():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"shared data missing in CI: {path}")
        pytest.skip(f"shared data not present: {path}")
    return path
