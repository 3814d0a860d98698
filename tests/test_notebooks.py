"""Every notebook runs headless in the smoke profile (papermill), writes its results
JSON, and the executed copies pass nbval (re-executed; outputs of cells marked
``# NBVAL_CHECK_OUTPUT`` compared after sanitising values that legitimately vary)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from msknb.paths import NOTEBOOKS_DIR, REPO_ROOT
from msknb.runner import list_notebooks, run_series

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


def test_series_runs_in_smoke_profile(smoke_series):
    failed = [nb for nb in smoke_series.notebooks if nb.status != "ok"]
    assert not failed, "\n\n".join(f"{nb.name}: {nb.status}\n{nb.error}" for nb in failed)
    out = Path(smoke_series.out_dir)
    for nb in smoke_series.notebooks:
        payload = json.loads((out / "results" / f"{nb.name}.json").read_text())
        assert payload["results"], f"{nb.name} wrote empty results"
    index = json.loads((out / "index.json").read_text())
    assert [n["status"] for n in index["notebooks"]] == ["ok"] * len(NOTEBOOKS)


def test_executed_notebooks_pass_nbval(smoke_series):
    executed = sorted((Path(smoke_series.out_dir) / "notebooks").glob("*.ipynb"))
    assert executed
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
           "--nbval-sanitize-with", str(REPO_ROOT / "tests" / "nbval_sanitize.cfg"),
           "--rootdir", smoke_series.out_dir, *map(str, executed)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=smoke_series.out_dir, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
