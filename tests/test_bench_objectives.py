"""benchmarks/bench_objectives.py end to end at toy size (its numbers are not asserted)."""
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bench_objectives_trains_and_scores_each_objective(tmp_path):
    import bench_objectives

    ids = sorted(p.stem for p in (REPO / "data_samples" / "phantoms" / "images").iterdir())
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ids[:6], "val": ids[6:9], "test": ids[9:]}))
    out = tmp_path / "objectives.json"
    rc = bench_objectives.main(["--objectives", "v+zsnr", "--steps", "2", "--profile", "smoke",
                                "--image-size", "16", "--batch-size", "2", "--n", "2", "--ddim-steps", "2",
                                "--data", str(REPO / "data_samples" / "phantoms"), "--split", str(split),
                                "--work", str(tmp_path / "work"), "--out", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())
    assert set(r["objectives"]) == {"v+zsnr"} and r["steps"] == 2
    v = r["objectives"]["v+zsnr"]
    assert v["step"] == 2 and v["config"]["prediction"] == "v" and v["train_args"][-1] == "--zero-terminal-snr"
    assert set(v["samplers"]) == {"ddim50", "ddim50+mean"}
    assert 0 <= v["samplers"]["ddim50"]["alignment"]["dice_mean"] <= 1
