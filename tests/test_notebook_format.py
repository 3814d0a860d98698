"""The notebooks as files: nbformat 4.5 with cell ids (no MissingIDFieldWarning when the
runner reads them), and one ``max_images`` parameter that every notebook takes and uses."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import nbformat
import pytest

from msknb.paths import NOTEBOOKS_DIR
from msknb.runner.series import list_notebooks, notebook_parameters, route_params

NOTEBOOKS = list_notebooks(NOTEBOOKS_DIR)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_validates_without_a_warning(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # MissingIDFieldWarning, DuplicateCellId, ... fail here
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) >= (4, 5)
    raw = json.loads(path.read_text())["cells"]
    ids = [c.get("id") for c in raw]
    assert all(ids), f"cells without an id: {[i for i, c in enumerate(ids) if not c]}"
    assert len(set(ids)) == len(ids), "duplicate cell ids"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_takes_and_uses_max_images(path: Path):
    assert "max_images" in notebook_parameters(path)
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]
    assert any("max_images=max_images" in src or "max_images or" in src for src in code), \
        "max_images is declared but never passed on"


def test_runner_gives_max_images_to_every_notebook():
    routed = route_params(NOTEBOOKS, {"max_images": 8})
    assert all(params == {"max_images": 8} for params in routed.values())
