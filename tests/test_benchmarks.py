"""The benchmark scripts run end to end at toy sizes (their numbers are not asserted)."""
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))


@pytest.mark.timeout(300)
def test_bench_paper_epoch_writes_projection(tmp_path):
    import bench_paper_epoch

    out = tmp_path / "paper_epoch.json"
    rc = bench_paper_epoch.main(["--image-size", "32", "--dim", "8", "--mults", "1", "2", "--steps", "2",
                                 "--warmup", "1", "--amp", "off", "--n-images", "10", "--epochs", "3",
                                 "--no-sampling", "--out", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())
    t = r["training"]["amp_off"]
    assert r["profile"] == "paper" and r["batch_size"] == 4 and r["timesteps"] == 300
    assert t["steps_timed"] == 2 and t["steps_per_epoch"] == 3
    assert t["seconds_per_epoch"] == pytest.approx(3 * t["seconds_per_step_median"])
    assert t["projected_hours_3_epochs"] == pytest.approx(3 * t["seconds_per_epoch"] / 3600)


def test_bench_paper_epoch_rejects_too_few_steps(tmp_path):
    import bench_paper_epoch

    with pytest.raises(SystemExit):
        bench_paper_epoch.main(["--steps", "1", "--out", str(tmp_path / "x.json")])
