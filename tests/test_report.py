"""msknb.evaluation.report: our numbers come from results/*.json, the paper's from PAPER; the page is
self-contained; missing notebooks show "not run"; the CLI names a folder without results."""
from __future__ import annotations

import re

import pytest

from msknb.evaluation import report
from msknb.cli import main
from msknb.errors import MsknbError
from msknb.results import save_results


def _fake_results(out):
    ctx = dict(profile="smoke", seed=7, data="dltrack_apo", image_size=64, epochs=3, split="cluster 40/20/40")
    save_results(out, "03_train_ddpm", {"final_loss": 0.123456, "steps": 321, "epochs": 3, "n_params": 98765,
                                        "img_per_s": 12.5}, **ctx)
    save_results(out, "05_segmentation", {
        "experiments": {"Real": {"precision": {"mean": 0.6123, "std": 0.05}, "recall": {"mean": 0.7011, "std": 0.04},
                                 "dice": {"mean": 0.6543, "std": 0.03}, "iou": {"mean": 0.4861, "std": 0.02},
                                 "n_train_real": 150, "n_train_gen": 0, "n_test": 141}},
        "near_copies_test_in_train": 0, "synthetic_mask_source": "joint DDPM"}, **ctx)
    save_results(out, "07_evaluation", {
        "eval_image_size": 64, "n_real_test": 40, "n_synthetic": 16, "synthetic_source": "synthetic/",
        "similarity": {"nearest": {"definition": "halves by cluster", "n": 16, "n_reference": 20,
                                   "synthetic": {"psnr_db": {"mean": 17.3219, "std": 1.0}, "ssim": {"mean": 0.4142, "std": 0.1}},
                                   "inter_patient": {"psnr_db": {"mean": 18.8117, "std": 1.0},
                                                     "ssim": {"mean": 0.5233, "std": 0.1}}}},
        "fid": {"status": "not run", "reason": "Inception weights absent"},
        "domain": {"n": 16, "note": "segmentation bottleneck", "synthetic_vs_real": {"frechet": 4.4321, "kid_mean": 0.0917,
                                                                                      "kid_std": 0.01},
                   "real_vs_real": {"frechet": 2.2109, "kid_mean": 0.0044, "kid_std": 0.01}},
        "intensity": {"real": {"all": {"n_images": 40, "skewness": 0.8765, "entropy_bits": 7.1234,
                                       "entropy_bits_16bit": 9.5, "histogram": [1 / 256] * 256}},
                      "synthetic": None, "note": "bits"},
        "memorisation": {"metric": "ncc", "n_synthetic": 16, "n_baseline": 40, "thresholds": {"p95": 0.9111},
                         "fraction_above": {"p95": 0.0625}, "expected_fraction": {"p95": 0.05},
                         "synthetic": {"max": 0.95}, "baseline": {"max": 0.97},
                         "closest": [{"synthetic_id": "gen_0003", "train_id": "img_00042", "similarity": 0.93}]},
        "pca": {"real": [[0, 1], [1, 0]], "synthetic": [[0.5, 0.5]], "explained_variance_ratio": [0.6, 0.2]},
    }, **ctx)


def test_report_has_our_numbers_and_the_papers(tmp_path):
    _fake_results(tmp_path)
    page = report.write_report(tmp_path)
    assert page == tmp_path / "report.html"
    text = page.read_text()
    # ours, formatted from the JSON
    for value in ("0.1235", "321", "0.6543 ± 0.03", "17.32", "0.4142", "0.5233", "4.432", "2.211", "0.8765",
                  "0.0625", "gen_0003", "img_00042"):
        assert value in text, value
    # the paper's reference numbers
    for value in ("61.928", "0.996", "3.819", "0.992", "0.85 ± 0.10", "0.823", "0.35 ± 1.52", "1.31", "10.64",
                  "0.800"):
        assert value in text, value
    assert "doi:10.3390/biomedinformatics3020027" in text
    # annotations of ours: data, split, resolution, epochs, seed, profile
    assert "data: dltrack_apo" in text and "split: cluster 40/20/40" in text and "resolution: 64 px" in text
    assert "epochs: 3" in text and "seed: 7" in text and "profile: smoke" in text
    # missing notebooks / parts
    assert "06_muscle_thickness: not run" in text and "04_sampling" in text
    assert re.search(r"FID \(Inception\)</td><td>not run</td>", text) and "Inception weights absent" in text


def test_report_is_self_contained(tmp_path):
    _fake_results(tmp_path)
    text = report.write_report(tmp_path).read_text()
    assert not re.search(r"<script[^>]+src=['\"]?https?:", text)
    assert not re.search(r"<(img|link|iframe)[^>]+(src|href)=['\"]?https?:", text)
    assert "data:image/png;base64," in text


def test_report_cli_and_errors(tmp_path, capsys):
    with pytest.raises(MsknbError, match="no results"):
        report.write_report(tmp_path)
    assert main(["report", str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err
    _fake_results(tmp_path)
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report.html").is_file()


def test_fmt():
    assert report.fmt(None) == "—" and report.fmt(float("nan")) == "—"
    assert report.fmt({"mean": 0.5, "std": 0.25}) == "0.5 ± 0.25"
    assert report.fmt(3) == "3" and report.fmt(61.928) == "61.93"
