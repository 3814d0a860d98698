"""The README's table of notebook times comes from benchmarks/results (msknb.runner.times_table)."""
from pathlib import Path

import pytest

from msknb.errors import DataError
from msknb.runner.times_table import BEGIN, END, read_times, readme_block, times_table, update_readme

ROOT = Path(__file__).resolve().parents[1]


def _times(profile, secs):
    return {"profile": profile, "measured": "2026-12-01T05:00:00", "ok": True,
            "machine": {"cpu_model": "AMD EPYC", "cpu_count": 2},
            "notebooks": [{"name": n, "seconds": s} for n, s in secs.items()],
            "total_seconds": sum(secs.values())}


def test_table_has_a_row_per_notebook_and_the_total():
    table = times_table({"smoke": _times("smoke", {"00_data": 9.6, "01_forward_diffusion": 4.2}),
                         "quick": _times("quick", {"00_data": 18.4})})
    assert "| 00_data | 10 s | 18 s |" in table
    assert "| 01_forward_diffusion | 4 s | – |" in table
    assert "**14 s**" in table and "**18 s**" in table and "2 x AMD EPYC" in table
    assert "start to end" not in table  # files written before the runner timed itself
    timed = {"smoke": {**_times("smoke", {"00_data": 9.6}), "wall_seconds": 12.2}}
    assert "| runner, start to end | 12 s |" in times_table(timed)


def test_update_readme_rewrites_only_the_block(tmp_path):
    import json
    (tmp_path / "notebook_times_quick.json").write_text(json.dumps(_times("quick", {"00_data": 18.0})))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\nold table\n{END}\nrest\n")
    update_readme(readme, tmp_path)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "old table" not in text
    assert "| 00_data | 18 s |" in readme_block(text)


def test_missing_markers_and_bad_json_name_the_file(tmp_path):
    with pytest.raises(DataError, match="README.md"):
        readme_block("no markers", tmp_path / "README.md")
    (tmp_path / "notebook_times_smoke.json").write_text("{broken")
    with pytest.raises(DataError, match="notebook_times_smoke.json"):
        read_times(tmp_path)


def test_readme_quotes_the_measured_files():
    """The table in README.md is exactly the one rendered from benchmarks/results."""
    text = (ROOT / "README.md").read_text()
    assert readme_block(text) == times_table(read_times(ROOT / "benchmarks" / "results"))


def test_notebook_headers_quote_the_measured_times(tmp_path):
    """Every header's smoke and quick cells equal the measured files (one source of times)."""
    from msknb.runner.header_times import HEADER_ROW, header_text, update_headers

    text = f"**How long**\n\n{HEADER_ROW}| 6 s | 39 s | hours on a GPU |\n\nmeasured by the runner (`python -m msknb run`) on 1 Dec 2026; x"
    new = header_text(text, 7.4, 41.0, "4 Dec 2026")
    assert "| 7 s | 41 s | hours on a GPU |" in new and "on 4 Dec 2026; x" in new
    times = read_times(ROOT / "benchmarks" / "results")
    import nbformat
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        header = next(c.source for c in nbformat.read(path, as_version=4).cells if HEADER_ROW in c.source)
        for p in ("smoke", "quick"):
            secs = {nb["name"]: nb["seconds"] for nb in times[p]["notebooks"]}
            if path.stem in secs:
                row = header.split(HEADER_ROW, 1)[1].splitlines()[0]
                assert f"{secs[path.stem]:.0f} s" in row, (path.name, p, row)
    assert update_headers(tmp_path, ROOT / "benchmarks" / "results") == []
