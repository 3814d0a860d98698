"""The next notebook's kernel starts while the current one runs (msknb.runner.warm_kernel): the
notebook then sees exactly a fresh kernel (namespace, execution counts, outputs), only
its modules are already imported; an unused kernel is shut down."""
from __future__ import annotations

import json
import time

import nbformat
import psutil
from nb_helpers import write_notebook

from msknb.runner.series import run_series
from msknb.runner.warm_kernel import WarmKernel, notebook_imports, warm_up_code


def _write_nb(path, *cells: str) -> None:
    write_notebook(path, *cells, params='profile = "quick"\ndata_dir = None\nout_dir = None\nseed = 0')


def _kernels() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)
            if "ipykernel" in " ".join(p.cmdline())}


def test_notebook_imports_top_level_and_lazy_ones(tmp_path):
    nb = tmp_path / "x.ipynb"
    _write_nb(nb, "import json, os.path\nfrom msknb.segmentation import figures\n%matplotlib inline",
              "from . import nothing\ndef f():\n    import csv\nfrom json import dumps")
    assert notebook_imports(nb) == ["json"]  # the cell with a magic does not parse: skipped
    _write_nb(nb, "import json, os.path\nfrom msknb.segmentation import figures",
              "from . import nothing\ndef f():\n    import csv\nfrom json import dumps")
    assert notebook_imports(nb) == ["json", "os.path", "msknb.segmentation", "monai.networks.nets", "monai.losses"]


def test_warm_up_code_leaves_no_name_behind():
    namespace: dict = {}
    exec(warm_up_code(["json", "no_such_module_xyz"]), namespace)
    assert set(namespace) <= {"__builtins__"}


def test_second_notebook_runs_on_the_warm_kernel_as_on_a_fresh_one(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _write_nb(nbs / "00_first.ipynb", "import time\ntime.sleep(2)")
    _write_nb(nbs / "01_second.ipynb", "import csv\nimport sys",
              "from msknb.results import save_results\n"
              "save_results(out_dir, '01_second', {'names': sorted(k for k in dir() if not k.startswith('_')),"
              " 'csv_loaded': 'csv' in sys.modules, 'pid': __import__('os').getpid()})")
    out = tmp_path / "out"
    series = run_series("smoke", data_dir=tmp_path, out_dir=out, notebooks_dir=nbs, report=False, verbose=False)
    assert [nb.status for nb in series.notebooks] == ["ok", "ok"], [nb.error for nb in series.notebooks]
    res = json.loads((out / "results" / "01_second.json").read_text())["results"]
    assert res["names"] == ["In", "Out", "csv", "data_dir", "exit", "get_ipython", "open", "out_dir", "profile",
                            "quit", "save_results", "seed", "sys"]
    executed = nbformat.read(out / "notebooks" / "01_second.ipynb", as_version=4)
    assert [c.execution_count for c in executed.cells if c.cell_type == "code"] == [1, 2, 3, 4]
    assert res["pid"] not in _kernels()  # shut down at the end


def test_unused_warm_kernel_is_shut_down(tmp_path):
    _write_nb(tmp_path / "00_x.ipynb", "import json")
    before = _kernels()
    warm = WarmKernel(tmp_path / "00_x.ipynb")
    warm._km.result(timeout=120)
    assert len(_kernels() - before) == 1
    warm.discard()
    deadline = time.monotonic() + 30
    while _kernels() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _kernels() - before
