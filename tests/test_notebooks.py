"""Every notebook runs headless in the smoke profile (papermill), writes its results
JSON, and the executed copies pass nbval (re-executed; outputs of cells marked
``# NBVAL_CHECK_OUTPUT`` compared after sanitising values that legitimately vary)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from papermill.parameterize import parameterize_notebook

from msknb.paths import NOTEBOOKS_DIR, REPO_ROOT
from msknb.runner.series import list_notebooks, run_series

NOTEBOOKS = list_notebooks(NOTEBOOKS_DIR) if any(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")) else []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_in_git_has_no_outputs_and_a_parameters_cell(path: Path):
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "markdown" and cells[0]["source"], "first cell must be a title"
    assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in cells), "no 'parameters' cell"
    stored = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not stored, f"cells {stored} carry stored outputs"


@pytest.fixture(scope="module")
def smoke_series(tmp_path_factory, shared_data):
    out = tmp_path_factory.mktemp("smoke")
    return run_series("smoke", data_dir=shared_data, out_dir=out, seed=0)


@pytest.mark.slow
def test_series_runs_in_smoke_profile(smoke_series):
    failed = [nb for nb in smoke_series.notebooks if nb.status != "ok"]
    assert not failed, "\n\n".join(f"{nb.name}: {nb.status}\n{nb.error}" for nb in failed)
    out = Path(smoke_series.out_dir)
    for nb in smoke_series.notebooks:
        payload = json.loads((out / "results" / f"{nb.name}.json").read_text())
        assert payload["results"], f"{nb.name} wrote empty results"
    index = json.loads((out / "index.json").read_text())
    assert [n["status"] for n in index["notebooks"]] == ["ok"] * len(NOTEBOOKS)


def _nbval_copy(executed: Path, series_out: Path, work: Path) -> Path:
    """A private copy of the series' output folder for re-running ``executed`` (nbval writes
    what the notebook writes), its ``out_dir`` parameter re-injected (papermill) to point
    there: the notebooks then re-run side by side without reading each other's half-written
    files. Returns the copied notebook."""
    folder = work / executed.stem
    shutil.copytree(series_out, folder, ignore=shutil.ignore_patterns("notebooks", "*.log"))
    nb = nbformat.read(executed, as_version=4)
    params = {**nb.metadata["papermill"]["parameters"], "out_dir": str(folder)}
    nb = parameterize_notebook(nb, params)
    target = folder / executed.name
    nbformat.write(nb, target)
    return target


def _nbval(notebook: Path) -> tuple[str, subprocess.CompletedProcess]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
           "--nbval-sanitize-with", str(REPO_ROOT / "tests" / "nbval_sanitize.cfg"),
           "--rootdir", str(notebook.parent), str(notebook)]
    return notebook.stem, subprocess.run(cmd, capture_output=True, text=True, cwd=notebook.parent, timeout=600)


@pytest.mark.slow
def test_executed_notebooks_pass_nbval(smoke_series, tmp_path):
    """nbval re-runs every executed copy, two at a time (each in its own copy of the outputs)."""
    executed = sorted((Path(smoke_series.out_dir) / "notebooks").glob("*.ipynb"))
    assert executed
    copies = [_nbval_copy(nb, Path(smoke_series.out_dir), tmp_path) for nb in executed]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_nbval, copies))
    failed = [f"{name}:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}" for name, proc in results if proc.returncode]
    assert not failed, "\n\n".join(failed)
