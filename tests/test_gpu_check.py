"""benchmarks/gpu_check.py runs end to end at toy size on the CPU (numbers not asserted)."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))


@pytest.mark.timeout(300)
def test_gpu_check_tiny_writes_every_section(tmp_path):
    import gpu_check

    out = tmp_path / "gpu.json"
    assert gpu_check.main(["--tiny", "--modes", "fp32", "bf16", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert set(r["training"]) == {"fp32", "bf16"} and r["train_flops_per_image"] > 0
    assert all(m["loss_finite"] and m["img_per_s"] > 0 for m in r["training"].values())
    assert r["paper_profile"]["fastest_mode"] in r["training"]
    assert r["sampling"]["ddim_50"]["finite"] and r["sampling"]["ddpm_300"]["n"] == 2


def test_peak_table_knows_the_lent_gpu():
    import gpu_check

    assert gpu_check.peak_for("NVIDIA H200", bf16=True, override=None) == 989e12
    assert gpu_check.peak_for("unknown", bf16=True, override=None) is None
