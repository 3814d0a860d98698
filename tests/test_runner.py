"""The papermill runner: order, parameters, index, stop at the first failure."""
from __future__ import annotations

import json
import os

import pytest
from nb_helpers import write_notebook

from msknb.runner import series as runner
from msknb.cli import main
from msknb.errors import ConfigError
from msknb.runner.series import list_notebooks, run_series


def _write_nb(path, code: str) -> None:
    write_notebook(path, code, params='profile = "quick"\ndata_dir = None\nout_dir = None\nseed = 0', title="# test")


@pytest.fixture
def series_dir(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _write_nb(nbs / "00_first.ipynb", "from msknb.results import save_results\n"
              "save_results(out_dir, '00_first', {'profile': profile, 'seed': seed})")
    _write_nb(nbs / "01_broken.ipynb", "x = 1\nraise ValueError('planted failure')")
    _write_nb(nbs / "02_never.ipynb", "print('should not run')")
    return nbs


def test_runner_injects_parameters_and_stops_at_failure(series_dir, tmp_path, capsys):
    out = tmp_path / "out"
    series = run_series("smoke", data_dir=tmp_path, out_dir=out, seed=7, notebooks_dir=series_dir, report=False)
    assert [nb.status for nb in series.notebooks] == ["ok", "failed", "not run"]
    res = json.loads((out / "results" / "00_first.json").read_text())
    assert res["results"] == {"profile": "smoke", "seed": 7}
    index = json.loads((out / "index.json").read_text())
    assert index["notebooks"][0]["seconds"] > 0 and index["notebooks"][0]["peak_rss_mib"] >= 0
    err = index["notebooks"][1]["error"]
    assert "planted failure" in err and "raise ValueError" in err
    assert not (out / "notebooks" / "02_never.ipynb").exists()
    assert "01_broken.ipynb failed" in capsys.readouterr().out


def test_list_notebooks_only_and_unknown(series_dir):
    assert [p.stem for p in list_notebooks(series_dir, ["01"])] == ["01_broken"]
    with pytest.raises(ConfigError, match="99"):
        list_notebooks(series_dir, ["99"])


def test_cli_unknown_profile_is_one_line_error(tmp_path, capsys):
    assert main(["run", "--profile", "huge", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown profile 'huge'" in err and "Traceback" not in err


def test_cli_missing_data_folder(tmp_path, capsys):
    assert main(["run", "--profile", "smoke", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "nope: data folder does not exist" in capsys.readouterr().err


def test_extra_parameters_routed_and_typos_rejected(series_dir, tmp_path):
    from msknb.runner.series import parse_param

    assert parse_param("epochs=3") == ("epochs", 3)
    assert parse_param("schedule=cosine") == ("schedule", "cosine")
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        parse_param("epochs")
    with pytest.raises(ConfigError, match="unknown parameter 'epoch'"):
        run_series("smoke", data_dir=tmp_path, out_dir=tmp_path / "o", notebooks_dir=series_dir,
                   params={"epoch": 3}, report=False)
    series = run_series("smoke", data_dir=tmp_path, out_dir=tmp_path / "o", notebooks_dir=series_dir,
                        params={"seed": 11}, only=["00"], report=False)
    assert json.loads((tmp_path / "o" / "results" / "00_first.json").read_text())["results"]["seed"] == 11


def test_times_summary_and_times_file(series_dir, tmp_path, capsys):
    from msknb.runner.machine import machine_info
    from msknb.runner.series import times_summary, write_times

    series = run_series("smoke", data_dir=tmp_path, out_dir=tmp_path / "out", notebooks_dir=series_dir,
                        only=["00"], report=False)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line == times_summary(series)
    assert line.startswith("times (smoke): 00_first ") and line.endswith(" s") and "total" in line
    path = write_times(series, tmp_path / "bench" / "notebook_times_smoke.json")
    data = json.loads(path.read_text())
    assert data["profile"] == "smoke" and data["ok"] and data["notebooks"][0]["name"] == "00_first"
    assert data["total_seconds"] == pytest.approx(series.notebooks[0].seconds)
    assert data["wall_seconds"] >= data["total_seconds"] and "runner start to end" in line
    assert data["machine"]["cpu_count"] >= 1 and data["machine"]["cpu_model"] == machine_info()["cpu_model"]


def test_kernel_threads_leave_busy_cores_alone(monkeypatch):
    """Issue 16: 2 OpenMP threads on 2 busy cores ran the U-Net 4-25x slower than 1 thread."""
    assert runner.kernel_threads(cpus=2, load=0.3) == 2       # idle: every core
    assert runner.kernel_threads(cpus=2, load=5.0) == 1       # busy: one thread, never 0
    assert runner.kernel_threads(cpus=8, load=1.2) == 7
    monkeypatch.setenv("OMP_NUM_THREADS", "3")                # the user's choice wins
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    with runner._kernel_environment():
        assert os.environ["OMP_NUM_THREADS"] == "3" and os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert "OMP_WAIT_POLICY" not in os.environ and os.environ["OMP_NUM_THREADS"] == "3"


def test_progress_inside_a_notebook_and_the_kernels_own_peak(tmp_path, monkeypatch, capsys):
    """Issue 29: a long notebook is no silent wait (cell k of n on the terminal, a line every
    HEARTBEAT_S in a log), and index.json holds the kernel's own peak memory."""
    from msknb.runner import cell_progress

    monkeypatch.setattr(cell_progress, "HEARTBEAT_S", 0.3)
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    write_notebook(nbs / "00_slow.ipynb", "import numpy as np\nheld = np.ones(300 * 2**20 // 8)  # 300 MiB",
                   "import time\ntime.sleep(2.5)", "del held", params='out_dir = None', title="# test")
    series = run_series("smoke", data_dir=tmp_path, out_dir=tmp_path / "out", notebooks_dir=nbs, report=False)
    assert series.ok
    out = capsys.readouterr().out
    assert "    cell 4/5 · 1 s in this cell · " in out   # 5 code cells: parameters, injected ones, 3
    assert 300 < series.notebooks[0].peak_rss_mib < 300 + 2048
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["notebooks"][0]["peak_rss_mib"] == series.notebooks[0].peak_rss_mib


def test_cell_progress_redraws_one_line_on_a_terminal():
    import io

    from msknb.runner.cell_progress import CellProgress, duration

    stream = io.StringIO()
    with CellProgress(stream, interactive=True) as progress:
        progress.cell(2, 5)
        progress.say("    retrying once")
        progress.cell(3, 5)
    text = stream.getvalue()
    assert text.startswith("\r    cell 2/5 · 0 s in this cell") and "\r\x1b[K    retrying once\n" in text
    assert "\r    cell 3/5 · " in text and text.endswith("\r\x1b[K")   # the line is cleared at the end
    assert [duration(s) for s in (5, 62, 7500, 3.5 * 86400)] == ["5 s", "1 min 02 s", "2 h 05 min", "3.5 days"]


def test_paper_on_a_cpu_says_so_first_and_sets_the_kernels_malloc(series_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner.torch.cuda, "is_available", lambda: False)
    (tmp_path / "data" / "images").mkdir(parents=True)
    for i in range(5):
        (tmp_path / "data" / "images" / f"img_{i}.png").write_bytes(b"")
    _write_nb(series_dir / "00_first.ipynb", "import os\nfrom msknb.results import save_results\n"
              "save_results(out_dir, '00_first', {'malloc': os.environ.get('MALLOC_MMAP_THRESHOLD_')})")
    run_series("paper", data_dir=tmp_path / "data", out_dir=tmp_path / "out", notebooks_dir=series_dir,
               only=["00"], report=False)
    out = capsys.readouterr().out
    assert out.index("the paper profile is meant for a GPU") < out.index("[1/1] 00_first")
    assert "5 images" in out and "max_images=8" in out
    res = json.loads((tmp_path / "out" / "results" / "00_first.json").read_text())
    assert res["results"]["malloc"] == runner.CPU_PAPER_MALLOC["MALLOC_MMAP_THRESHOLD_"]
    run_series("smoke", data_dir=tmp_path / "data", out_dir=tmp_path / "out2", notebooks_dir=series_dir,
               only=["00"], report=False)
    assert "meant for a GPU" not in capsys.readouterr().out
    assert json.loads((tmp_path / "out2" / "results" / "00_first.json").read_text())["results"]["malloc"] is None
