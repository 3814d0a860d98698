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


@pytest.mark.timeout(300)
def test_bench_samplers_compares_ddpm_and_ddim(tmp_path):
    import numpy as np

    import bench_samplers
    from msknb.ddpm.checkpoints import export_ema
    from msknb.ddpm.config import TrainConfig
    from msknb.ddpm.train import train_ddpm

    data = np.random.default_rng(0).random((4, 2, 16, 16)).astype(np.float32)
    cfg = TrainConfig(image_size=16, channels=2, dim=8, dim_mults=(1, 2), timesteps=20, batch_size=4, epochs=1)
    ckpt = export_ema(train_ddpm(data, cfg, tmp_path / "run", progress=False).checkpoint_path, tmp_path / "ema.pt")
    out = tmp_path / "samplers.json"
    rc = bench_samplers.main(["--checkpoint", str(ckpt), "--data", str(REPO / "data_samples" / "phantoms"),
                              "--n", "3", "--ddim-steps", "2", "5", "--batch", "2", "--grids", str(tmp_path / "g"),
                              "--out", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())
    (entry,) = r["checkpoints"]
    assert set(entry["samplers"]) == {"ddpm_20", "ddim_2", "ddim_5"}
    assert entry["joint_mask"] and entry["samplers"]["ddim_5"]["aponeurosis_pairs"]["n"] == 3
    assert r["real_aponeurosis_pairs_16"]["n"] == 3
    assert len(list((tmp_path / "g").glob("*.png"))) == 3


def test_bench_samplers_names_a_missing_checkpoint(tmp_path, capsys):
    import bench_samplers

    with pytest.raises(SystemExit):
        bench_samplers.main(["--checkpoint", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "x.json")])
    assert "nope.pt" in capsys.readouterr().err


def test_profile_notebooks_times_cells_and_finds_the_heavy_one(tmp_path):
    import nbformat

    import profile_notebooks

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("profile = 'quick'\nout_dir = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("import time\ntime.sleep(0.6)\nx = profile"),
                nbformat.v4.new_code_cell("y = x + '!'")]
    path = tmp_path / "00_tiny.ipynb"
    nbformat.write(nb, str(path))
    r = profile_notebooks.profile_notebook(path, {"profile": "smoke", "out_dir": str(tmp_path)}, heavy_s=0.5)
    assert r["notebook"] == "00_tiny" and [c["cell"] for c in r["cells"]] == [0, 1, 2]
    assert r["heaviest_cells"][0] == 1 and r["cells"][1]["seconds"] >= 0.6
    assert any("sleep" in f["function"] for f in r["cells"][1]["top_functions"])
    assert "top_functions" not in r["cells"][2]


@pytest.mark.timeout(300)
def test_bench_measure_scores_a_segmenter_on_the_split_test_ids(tmp_path):
    import torch

    import bench_measure
    from msknb.segmentation.model import build_segmenter, full_config, save_segmenter

    phantoms = REPO / "data_samples" / "phantoms"
    torch.manual_seed(0)
    cfg = full_config({"image_size": 32, "channels": (4, 8), "crop_fov": True})
    ck = save_segmenter(build_segmenter(cfg["channels"], cfg["strides"]), cfg, tmp_path / "tiny.pt")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": [], "val": [], "test": ["BB-000", "RF-001", "TA-002"]}))
    out = tmp_path / "measure.json"
    rc = bench_measure.main(["--data", str(phantoms), "--model", str(ck), "--split", str(split), "--n-timing", "2",
                             "--threads", "1", "--out", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())
    assert r["n_test"] == 3 and r["dice"]["train_size_px"] == 32 and r["dice"]["at_full_size"]["n"] == 3
    for m in ("chords", "dltrack"):
        s = r["mt"][m]
        assert s["n_measured"] + s["n_failed"] + s["n_expert_unmeasurable"] == 3
        assert s["outside_10pct_unflagged"] == len(s["outside_10pct_unflagged_ids"])
    t = r["measure_timing"]
    assert t["n_images"] == 2 and t["seconds_per_image"] > 0 and len(t["loadavg_before"]) == 3
    assert r["machine"]["cpu_count"] and r["targets"]["dice"] == 0.85

