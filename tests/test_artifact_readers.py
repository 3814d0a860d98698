"""One reader per hand-off, each with one named error that names the file: stored benchmark
results (msknb/checkpoints/*.json), split files, notebook results, the runner's index.json;
and the machine / command line every stored measurement records."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

from msknb import artifacts
from msknb.data.kit_split import KIT_SPLIT_FILE, load_kit_split
from msknb.data.split_file import read_split_file, split_ids
from msknb.ddpm.cost import COST_TABLE, read_cost_table
from msknb.ddpm.lessons.measures import MEMORISATION_SIZE, read_memorisation_size
from msknb.ddpm.lessons.objectives import OBJECTIVE_SCREENING, read_objective_screening
from msknb.errors import CheckpointError, DataError, ResultsError, RunIndexError, SplitError, StoredResultError
from msknb.paths import REPO_ROOT
from msknb.results import load_results, save_results
from msknb.runner.machine import command_line, device_name, machine_info
from msknb.segmentation.synthetic_use import SYNTHETIC_USE, read_synthetic_use
from msknb.stored_results import StoredResult, read_stored_result

STORED = {OBJECTIVE_SCREENING: read_objective_screening, MEMORISATION_SIZE: read_memorisation_size,
          SYNTHETIC_USE: read_synthetic_use, COST_TABLE: read_cost_table}


@pytest.mark.parametrize("stored", list(STORED), ids=lambda s: s.file)
def test_each_stored_result_is_shipped_read_by_its_reader_and_records_its_command(stored):
    assert stored.path.parent == REPO_ROOT / "msknb" / "checkpoints"
    script = stored.benchmark.split()[0]
    assert (REPO_ROOT / script).is_file()
    assert str(stored.path.relative_to(REPO_ROOT)) in (REPO_ROOT / script).read_text() or \
        stored.file in (REPO_ROOT / script).read_text()
    report = STORED[stored]()
    assert Path(script).name in report["command"]


def test_a_missing_or_garbled_stored_result_names_the_file_and_the_command(tmp_path):
    stored = StoredResult("x.json", "benchmarks/bench_x.py --flag", "toy table")
    with pytest.raises(StoredResultError, match=r"absent.json: no toy table stored yet; run `.*bench_x.py --flag`"):
        read_stored_result(stored, path=tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(StoredResultError, match="bad.json: unreadable toy table"):
        read_stored_result(stored, path=bad)
    bad.write_text(json.dumps({"rows": {}}))
    with pytest.raises(CheckpointError, match="KeyError"):  # a StoredResultError is a CheckpointError
        read_stored_result(stored, lambda r: r["command"], bad)


def test_no_library_module_builds_a_path_into_benchmarks():
    """Precomputed results live under msknb/checkpoints/; the library never opens benchmarks/."""
    found = []
    for path in sorted((REPO_ROOT / "msknb").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
                parts = [n.value for n in (node.left, node.right) if isinstance(n, ast.Constant)]
                if "benchmarks" in parts:
                    found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert not found, f"library modules that build paths into benchmarks/: {found}"


def test_split_files_have_one_parser_with_one_error(tmp_path):
    p = tmp_path / "split.json"
    p.write_text(json.dumps({"splits": {"train": [1, 2], "test": ["3"]}, "seed": 0}))
    split = read_split_file(p)
    assert split["train"] == ["1", "2"] and split["test"] == ["3"] and split["seed"] == 0
    assert split_ids(p, "test") == ["3"]
    with pytest.raises(SplitError, match=r"split.json: split file needs id lists under 'val'"):
        split_ids(p, "val")
    p.write_text("[1, 2]")
    with pytest.raises(SplitError, match="JSON object"):
        read_split_file(p)
    with pytest.raises(DataError, match="absent.json: cannot read the split file"):  # a SplitError is a DataError
        read_split_file(tmp_path / "absent.json")


def test_the_kit_split_and_05s_split_read_through_the_parser(tmp_path):
    kit = load_kit_split()
    assert kit is not None and set(kit) == {"train", "val", "test"} and all(isinstance(i, str) for i in kit["test"])
    assert split_ids(KIT_SPLIT_FILE, "val") == kit["val"]
    assert load_kit_split(tmp_path / "absent.json") is None
    (tmp_path / "kit.json").write_text(json.dumps({"train": ["a"], "test": ["b"]}))
    with pytest.raises(SplitError, match="kit.json.*'val'"):
        load_kit_split(tmp_path / "kit.json")
    assert artifacts.read_split(tmp_path) is None
    artifacts.write_split(tmp_path, {"train": ["a"], "val": [], "test": ["b"], "seed": 3})
    assert artifacts.read_split(tmp_path)["test"] == ["b"]
    with pytest.raises(SplitError, match="split.json"):
        artifacts.write_split(tmp_path, {"train": ["a"]})


def test_notebook_results_have_one_reader(tmp_path):
    assert load_results(tmp_path, "03_train_ddpm") is None and load_results(tmp_path) == {}
    save_results(tmp_path, "03_train_ddpm", {"steps": 2}, epochs=1)
    assert load_results(tmp_path, "03_train_ddpm")["context"]["epochs"] == 1
    assert list(load_results(tmp_path)) == ["03_train_ddpm"]
    (tmp_path / "results" / "05_segmentation.json").write_text("{")
    with pytest.raises(ResultsError, match="05_segmentation.json: cannot read the results file"):
        load_results(tmp_path)


def test_the_run_index_has_one_path_one_writer_one_reader(tmp_path):
    assert artifacts.index_path(tmp_path) == tmp_path / "index.json"
    assert artifacts.read_index(tmp_path) is None
    artifacts.write_index(tmp_path, {"profile": "smoke", "notebooks": [{"name": "00_data", "status": "ok"}]})
    assert artifacts.read_index(tmp_path)["notebooks"][0]["name"] == "00_data"
    artifacts.index_path(tmp_path).write_text("[]")
    with pytest.raises(RunIndexError, match="index.json: the run index must hold a JSON object"):
        artifacts.read_index(tmp_path)


def test_machine_info_device_name_and_command_line(monkeypatch):
    m = machine_info()
    assert m["cpu_count"] >= 1 and m["cpu_model"] and m["torch"] == torch.__version__
    assert m["cpu_model"] in device_name(torch.device("cpu"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cmd = command_line(REPO_ROOT / "benchmarks" / "bench_x.py", ["--out", "a b.json"])
    assert cmd.startswith("OMP_NUM_THREADS=1 ") and "benchmarks/bench_x.py --out 'a b.json'" in cmd
