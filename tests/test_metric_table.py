"""The one table of notebook 07's metrics: the metrics table, the verdict and the report all read
it, so a new row (with its compute function) shows up in all three; the table's own computed
metric (histogram L1), contrast/sharpness, and the PCA reading in real SDs."""
from __future__ import annotations

import numpy as np
import pytest

from report_fixture import write_run

from msknb.evaluation import metric_table
from msknb.evaluation.figures import pca_static_figure
from msknb.evaluation.intensity import histogram_l1_with_baseline
from msknb.evaluation.metric_table import KINDS, METRICS, EvalSets, Metric, compute_table_metrics, metric_values
from msknb.evaluation.pca import pca_offsets, read_pca
from msknb.evaluation.report import write_report
from msknb.evaluation.summary import metrics_rows
from msknb.evaluation.texture import texture_ratios, texture_stats
from msknb.evaluation.verdict import synthetic_verdict
from msknb.results import load_results, save_results


def _sets(seed=0, n=12, shift=0.0):
    rng = np.random.default_rng(seed)
    real = rng.random((2 * n, 16, 16)) * 0.5 + 0.2
    return EvalSets(real[:n], real[n:], np.clip(rng.random((n, 16, 16)) * 0.5 + 0.2 + shift, 0, 1), seed)


def test_table_rows_are_well_formed():
    keys = [m.key for m in METRICS]
    assert len(set(keys)) == len(keys) and all(m.kind in KINDS for m in METRICS)
    assert {"fid", "domain_kid", "lpips", "ssim", "psnr", "histogram_l1"} <= set(keys)
    assert all(m.pairwise for m in METRICS if m.key in ("lpips", "ssim", "psnr"))


def _new_metric(sets: EvalSets) -> dict:
    """A made-up metric: absolute difference of mean grey levels."""
    query = sets.real_a if sets.synthetic is None else sets.synthetic
    return {"n": len(query), "note": "mean grey difference",
            "synthetic_vs_real": {"value": float(abs(query.mean() - sets.real_b.mean())), "spread": 0.001},
            "real_vs_real": {"value": float(abs(sets.real_a.mean() - sets.real_b.mean())) + 0.01, "spread": 0.001}}


def test_a_new_row_reaches_summary_verdict_and_report(tmp_path, monkeypatch):
    row = Metric("grey_diff", "mean grey difference", "distance", ("metrics", "grey_diff", "synthetic_vs_real", "value"),
                 ("metrics", "grey_diff", "real_vs_real", "value"), n=("metrics", "grey_diff", "n"),
                 compute=_new_metric)
    monkeypatch.setattr(metric_table, "METRICS", METRICS + (row,))
    results = {"metrics": compute_table_metrics(_sets(shift=0.3))}
    assert set(results["metrics"]) == {"histogram_l1", "grey_diff"}
    assert [r["metric"] for r in metrics_rows(results)] == ["intensity histogram L1 (256 bins)", "mean grey difference"]
    verdict = synthetic_verdict(results)
    assert next(r for r in verdict["rows"] if r["key"] == "grey_diff")["reading"] == "far"
    out, ref = write_run(tmp_path)
    payload = load_results(out, "07_evaluation")
    payload["results"]["metrics"]["grey_diff"] = results["metrics"]["grey_diff"]
    save_results(out, "07_evaluation", payload["results"], **payload["context"])
    assert "<td>mean grey difference</td>" in write_report(out, ref).read_text()


def test_histogram_l1_beside_its_baseline():
    same = histogram_l1_with_baseline(_sets())
    shifted = histogram_l1_with_baseline(_sets(shift=0.3))
    assert same["n"] == 12 and 0 <= same["real_vs_real"]["value"] <= 2
    assert shifted["synthetic_vs_real"]["value"] > 3 * shifted["real_vs_real"]["value"]
    assert shifted["real_vs_real"]["spread"] > 0
    none = histogram_l1_with_baseline(EvalSets(*_sets()[:2], None, 0))
    assert none["synthetic_vs_real"] is None and none["real_vs_real"]["value"] == same["real_vs_real"]["value"]
    v = metric_values(next(m for m in METRICS if m.key == "histogram_l1"), {"metrics": {"histogram_l1": shifted}})
    assert v["synthetic"] == shifted["synthetic_vs_real"]["value"] and v["real_spread"] is not None


def test_texture_tells_a_blurred_set():
    rng = np.random.default_rng(0)
    sharp = rng.random((4, 32, 32))
    blurred = (sharp + np.roll(sharp, 1, 1) + np.roll(sharp, 1, 2) + np.roll(sharp, 1, (1, 2))) / 4
    t = texture_ratios({"real": texture_stats(sharp), "synthetic": texture_stats(blurred)})
    assert t["contrast"] < 0.7 and t["sharpness"] < 0.7
    assert texture_ratios({"real": texture_stats(sharp), "synthetic": None}) is None


def test_pca_reading_in_real_sds():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 2))
    synth = np.column_stack([rng.normal(0.1, 1, 100), rng.normal(1.5, 0.5, 100)])
    offsets = pca_offsets(real, synth)
    assert offsets[1]["offset_sd"] == pytest.approx(1.5, abs=0.25) and offsets[1]["spread_ratio"] < 0.7
    text = read_pca(offsets, [0.4, 0.2])
    assert "PC1 (40 % of variance)" in text and "(overlap)" in text and "PC2 (20 % of variance) +1." in text
    assert "tell synthetic from real along PC2" in text and "narrower than the real one on PC2" in text
    assert read_pca(pca_offsets(real, synth[:1])).startswith("PCA: no synthetic set")
    fig = pca_static_figure(real, synth, [0.4, 0.2])
    assert len(fig.axes[0].collections) >= 2 and "PC1 (40.0 % var.)" == fig.axes[0].get_xlabel()
