"""msknb.readings: paired bootstrap CIs and readings built from the numbers."""
import math

import numpy as np
import pytest

from msknb.errors import ConfigError
from msknb.evaluation.mt_readings import (dice_by_id, error_decomposition, explain_rmse_vs_mean_error,
                                         measurability, mt_abs_errors, read_mt)
from msknb.readings import jsonable, paired_bootstrap, read_comparison, read_experiments
from msknb.evaluation.report import write_report
from msknb.evaluation.verdict import synthetic_verdict
from msknb.results import save_results


def _pair(n=60, shift=0.05, sd=0.05, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.normal(0.8, 0.1, n)
    return a, a + shift + rng.normal(0, sd, n)


def test_ci_contains_true_difference_and_is_seeded():
    a, b = _pair(n=200, shift=0.05)
    r = paired_bootstrap(a, b, seed=3)
    assert r["n"] == 200 and r["ci_low"] < 0.05 < r["ci_high"]
    assert r["significant"] and r["diff"] == pytest.approx(np.mean(b - a))
    assert r["mean_b"] - r["mean_a"] == pytest.approx(r["diff"])
    assert paired_bootstrap(a, b, seed=3) == r
    assert paired_bootstrap(a, b, seed=4)["ci_low"] != r["ci_low"]


def test_nan_pairs_dropped_and_counted():
    a, b = _pair(n=30)
    a[2], b[5] = np.nan, np.inf
    r = paired_bootstrap(a, b)
    assert r["n"] == 28 and r["n_dropped"] == 2 and math.isfinite(r["ci_low"])
    assert paired_bootstrap([np.nan], [1.0])["n"] == 0
    assert not paired_bootstrap([1.0], [2.0])["significant"]  # n < 2: no CI


def test_identical_arrays_give_zero_ci_not_significant():
    a, _ = _pair()
    r = paired_bootstrap(a, a.copy())
    assert r["ci_low"] == 0.0 and r["ci_high"] == 0.0 and not r["significant"]


def test_bad_input():
    with pytest.raises(ConfigError):
        paired_bootstrap([1, 2, 3], [1, 2])
    with pytest.raises(ConfigError):
        paired_bootstrap([1, 2], [1, 2], n_boot=0)


def test_read_comparison_directions():
    a, b = _pair(shift=0.05)
    better = read_comparison("Dice", "Real", a, "Real+Gen", b)
    assert better["direction"] == "better" and "Real+Gen is better than Real" in better["text"]
    worse = read_comparison("Dice", "Real", b, "Gen", a)
    assert worse["direction"] == "worse" and "lower beyond the uncertainty" in worse["text"]
    # lower is better (an error): a higher error reads as worse
    err = read_comparison("MT error", "Real", a, "Gen", b, higher_is_better=False, unit="mm", decimals=2)
    assert err["direction"] == "worse" and " mm (95 % CI" in err["text"]
    a, b = _pair(shift=0.0, sd=0.2)
    none = read_comparison("Dice", "Real", a, "Real+Gen", b)
    assert none["direction"] == "no effect" and "no measurable effect" in none["text"]
    assert none["text"].startswith("Real+Gen vs Real: Dice ") and f"n = {none['n']}" in none["text"]


def test_one_training_seed_reads_a_difference_as_one_example():
    a, b = _pair(shift=0.05)
    one = read_comparison("Dice", "Real", a, "Real+Gen", b, training_seeds=1)
    assert one["direction"] == "better" and one["training_seeds"] == 1
    assert "is better than" not in one["text"] and "in this one training run (one seed: one example" in one["text"]
    a, b = _pair(shift=0.0, sd=0.2)
    assert "no measurable effect" in read_comparison("Dice", "Real", a, "Real+Gen", b, training_seeds=1)["text"]


def test_read_comparison_with_paper_value():
    a, b = _pair(shift=0.0, sd=0.2)
    inside = read_comparison("Dice", "Real", a, "Real+Gen", b, paper_diff=0.01)
    assert "The paper reports +0.010, inside our CI" in inside["text"]
    a, b = _pair(shift=-0.05)
    opposite = read_comparison("Dice", "10%", a, "10%+Gen", b, paper_diff=0.023)
    assert "above our CI (opposite direction)" in opposite["text"] and opposite["paper_diff"] == 0.023


def test_read_experiments_grid_and_json():
    a, b = _pair()
    per_image = {"Real": list(a), "Gen": list(b), "ids": {"x": 1.0}}
    out = read_experiments(per_image, [("Real", "Gen"), ("Real", "Real+Gen")], paper={"Real": 0.85, "Gen": 0.80})
    assert len(out) == 1 and out[0]["paper_diff"] == pytest.approx(-0.05)
    by_id = read_experiments({"A": {"i1": 1.0, "i2": 2.0, "i3": 3.0}, "B": {"i3": 4.0, "i1": 2.0}}, [("A", "B")])
    assert by_id[0]["n"] == 2 and by_id[0]["diff"] == pytest.approx(1.0)
    j = jsonable(paired_bootstrap([1.0], [2.0]))
    assert j["ci_low"] is None and isinstance(j["significant"], bool)


# ---- notebook 07's verdict ---------------------------------------------------------------
def _sim(syn, rr):
    """A similarity dict as notebook 07 stores it: {pairing: {"synthetic", "inter_patient"}}."""
    side = lambda v: {"psnr_db": {"mean": v[0]}, "ssim": {"mean": v[1]}, "lpips": {"mean": v[2]}}  # noqa: E731
    return {"nearest": {"synthetic": side(syn), "inter_patient": side(rr)}}


def _results(fid=None, domain=None, sim=None, **more):
    return {"fid": fid, "domain": domain, "similarity": sim, **more}


def test_verdict_all_far_all_close_and_mixed():
    far = synthetic_verdict(_results({"synthetic_vs_real": {"frechet": 40.0}, "real_vs_real": {"frechet": 4.0}},
                                     {"synthetic_vs_real": {"frechet": 2.0, "kid_mean": 0.5},
                                      "real_vs_real": {"frechet": 0.1, "kid_mean": 0.01}},
                                     _sim((10.0, 0.02, 0.4), (20.0, 0.2, 0.1)), lpips={"pretrained": True}))
    ratios = {r["key"]: r["ratio"] for r in far["rows"]}
    assert ratios["fid"] == pytest.approx(10.0) and ratios["domain_kid"] == pytest.approx(50.0)
    assert ratios["psnr"] == pytest.approx(10.0) and ratios["ssim"] == pytest.approx(10.0)
    assert far["counts"]["far"] == 6 and "6 of 6 far" in far["verdict"]
    assert "not interchangeable with real ones" in far["verdict"]
    close = synthetic_verdict(_results({"status": "not run"}, None, _sim((19.8, 0.19, 0.11), (20.0, 0.2, 0.1)),
                                       lpips={"pretrained": True}))
    assert close["counts"]["close"] == 3 and close["counts"]["closer than real pairs"] == 0
    assert "cannot tell the synthetic images from real ones" in close["verdict"]
    mixed = synthetic_verdict(_results(None, {"synthetic_vs_real": {"frechet": 2.0, "kid_mean": 0.1},
                                              "real_vs_real": {"frechet": 1.0, "kid_mean": -0.01}},
                                       _sim((20.0, -0.1, 0.5), (20.0, 0.2, 0.1)), lpips={"pretrained": True}))
    by = {r["key"]: r for r in mixed["rows"]}
    assert by["domain_kid"]["reading"] == "too small to compare" and by["ssim"]["ratio"] == math.inf
    assert by["domain_frechet"]["reading"] == "in between" and "1 of 4 in between" in mixed["verdict"]
    assert "Not counted: domain KID (segmentation bottleneck) (too small to compare)" in mixed["verdict"]
    assert synthetic_verdict(_results())["verdict"].startswith("No metric")


def test_verdict_leaves_out_random_lpips_and_untrained_features():
    sim = _sim((10.0, 0.02, 0.05), (20.0, 0.2, 0.1))
    domain = {"trained": False, "synthetic_vs_real": {"frechet": 2.0}, "real_vs_real": {"frechet": 1.0}}
    v = synthetic_verdict(_results(None, domain, sim, lpips={"pretrained": False, "reason": "alexnet file missing"}))
    by = {r["key"]: r for r in v["rows"]}
    assert by["lpips"]["reading"] == "not a metric" and by["lpips"]["ratio"] is None
    assert by["domain_frechet"]["reading"] == "not a metric"
    assert v["counts"]["far"] == 2 and "2 of 2 far" in v["verdict"] and "LPIPS (nearest pairing) (not a metric)" in v["verdict"]


def test_verdict_reads_ratios_below_one_on_nearest_pairing_as_averaging():
    sim = _sim((21.0, 0.3, 0.08), (20.0, 0.2, 0.1))  # every nearest-pairing ratio below 1
    smooth = {"real": {"contrast": 0.13, "sharpness": 0.06}, "synthetic": {"contrast": 0.10, "sharpness": 0.045}}
    v = synthetic_verdict(_results(None, None, sim, lpips={"pretrained": True}, texture=smooth))
    assert v["counts"]["close"] == 0 and v["counts"]["closer than real pairs"] == 3
    assert "3 of 3 put each synthetic image closer to its nearest real image" in v["verdict"]
    assert "contrast 0.77x and sharpness 0.75x" in v["verdict"] and "points to averaging" in v["verdict"]
    sharp = {"real": {"contrast": 0.13, "sharpness": 0.06}, "synthetic": {"contrast": 0.13, "sharpness": 0.06}}
    assert "near-copies" in synthetic_verdict(_results(None, None, sim, lpips={"pretrained": True},
                                                       texture=sharp))["verdict"]


def test_verdict_does_not_divide_by_a_near_zero_kid():
    domain = {"synthetic_vs_real": {"frechet": 3.0, "kid_mean": 0.004, "kid_std": 0.001},
              "real_vs_real": {"frechet": 1.0, "kid_mean": 2e-6, "kid_std": 9e-6}}
    v = synthetic_verdict(_results(None, domain, None))
    kid = next(r for r in v["rows"] if r["key"] == "domain_kid")
    assert kid["reading"] == "too small to compare" and kid["ratio"] is None
    assert "2e-06 ± 9e-06 is within its spread of 0" in kid["why"] and "0.004 ± 0.001, 4.0 spreads above 0" in kid["why"]
    assert "too small to compare" in v["markdown"] and "2e+03" not in v["markdown"]


# ---- notebook 06's MT readings -----------------------------------------------------------
def _comparison():
    ids = [f"i{k}" for k in range(8)]
    expert = np.array([100.0, 110, 90, 120, 105, 95, 100, 115])
    real = expert + np.array([1, -1, 2, -2, 1, -1, 2, -2.0])
    plus = expert + np.array([5, -6, 7, -5, 6, -7, np.nan, np.nan])
    flags = {"Real": ["ok"] * 8, "Real+Gen": ["ok", "doubtful: chords disagree"] + ["ok"] * 4 + [None, None]}
    return {"unit": "px", "ids": ids, "expert": expert, "predicted": {"Real": real, "Real+Gen": plus}, "flags": flags}


def test_mt_readings_explain_higher_dice_worse_mt():
    cmp = _comparison()
    errors = mt_abs_errors(cmp)
    assert errors["Real"]["i0"] == pytest.approx(1.0) and math.isnan(errors["Real+Gen"]["i6"])
    counts = measurability(cmp)
    assert counts["Real+Gen"] == {"n": 8, "not_measured": 2, "doubtful": 1}
    r05 = {"test_ids": cmp["ids"], "experiments": {"Real": {"test_dice_per_image": [0.80] * 8},
                                                   "Real+Gen": {"test_dice_per_image": [0.85] * 8}}}
    out = read_mt(cmp, [("Real", "Real+Gen"), ("Real", "Gen")], dice=dice_by_id(r05), paper_rmse={"Real": 0.35, "Real+Gen": 0.38})
    (r,) = out["readings"]
    assert r["n"] == 6 and r["direction"] == "worse" and "went 0.35 -> 0.38 mm (higher)" in r["text"]
    assert "higher mean Dice than Real (+0.050) yet a larger MT error" in r["explanation"]
    assert "2/8 of Real+Gen's masks vs 0/8 of Real's" in r["explanation"]
    swapped = read_mt(cmp, [("Real+Gen", "Real")], dice=dice_by_id(r05))["readings"][0]
    assert "Real has lower mean Dice than Real+Gen (-0.050) yet a smaller MT error" in swapped["explanation"]
    r05["experiments"]["Real+Gen"]["test_dice_per_image"] = [0.7] * 8
    agree = read_mt(cmp, [("Real", "Real+Gen")], dice=dice_by_id(r05))["readings"][0]
    assert agree["explanation"] is None  # lower Dice and a larger error: nothing to explain
    assert dice_by_id(None) == {} and dice_by_id({"test_ids": ["a"], "experiments": {"X": {"test_dice_per_image": [1, 2]}}}) == {}


def test_error_decomposition_rmse_squared_is_bias_squared_plus_sd_squared():
    rng = np.random.default_rng(0)
    e = 100 + rng.normal(0, 10, 40)
    p = e + 3 + rng.normal(0, 5, 40)
    p[0] = np.nan
    d = error_decomposition(e, p)
    assert d["n"] == 39 and d["rmse"] ** 2 == pytest.approx(d["bias"] ** 2 + d["sd"] ** 2)
    assert d["top_k"] == 3 and 0 < d["top_share"] < 1
    assert math.isnan(error_decomposition([1.0], [np.nan])["rmse"])


def test_mt_reading_reconciles_a_lower_rmse_with_a_larger_mean_error():
    ids = [f"i{k}" for k in range(10)]
    expert = np.full(10, 100.0)
    real = expert + np.array([1, -1, 1, -1, 1, -1, 1, -1, 1, 40.0])   # small errors and one gross failure
    gen = expert + np.array([5, -5, 5, -5, 5, -5, 5, -5, 5, -5.0])     # every image a moderate error
    cmp = {"unit": "px", "ids": ids, "expert": expert, "predicted": {"Real": real, "Gen": gen},
           "flags": {"Real": ["ok"] * 10, "Gen": ["ok"] * 10}}
    (r,) = read_mt(cmp, [("Real", "Gen")], n_boot=200)["readings"]
    assert r["diff"] > 0                                                # Gen's mean |error| is larger
    text = r["explanation"]
    assert "The RMSE table ranks Gen first (Real 12.68 px over 10 images, Gen 5.00 px over 10)" in text
    assert "On the 10 images both were measured on, Gen still has the lower RMSE" in text
    assert "RMSE² = bias² + SD²" in text and "Gen 5.0² = +0.0² + 5.0²" in text
    assert "Real's 1 largest carry 99 %" in text and "Real has the smaller typical error" in text
    assert explain_rmse_vs_mean_error({"a": "Real", "b": "Gen"}, {**cmp, "predicted": {"Real": real, "Gen": real + 1}}) is None


def test_mt_reading_finds_a_lower_rmse_that_comes_from_an_image_only_one_was_measured_on():
    ids = [f"i{k}" for k in range(11)]
    expert = np.full(11, 100.0)
    real = expert + np.array([1, -1, 1, -1, 1, -1, 1, -1, 1, -1, -90.0])   # a gross failure on i10
    gen = expert + np.array([2, -2, 2, -2, 2, -2, 2, -2, 2, -2, np.nan])   # Gen's mask of i10 was not measured
    cmp = {"unit": "px", "ids": ids, "expert": expert, "predicted": {"Real": real, "Gen": gen},
           "flags": {"Real": ["ok"] * 11, "Gen": ["ok"] * 10 + [None]}}
    text = explain_rmse_vs_mean_error({"a": "Real", "b": "Gen"}, cmp)
    assert "ranks Gen first" in text and "on one of them, i10, Real is off by -90.0 px" in text
    assert "alone carries 100 % of Real's squared error" in text
    assert "On the 10 images both were measured on the RMSE agrees with the mean |error| (Real 1.00, Gen 2.00 px" in text
    assert "comes from which images are counted" in text


def test_report_shows_readings_verdict_and_overlap(tmp_path):
    a, b = _pair()
    readings = [jsonable(r) for r in read_experiments({"Real": list(a), "Real+Gen": list(b)}, [("Real", "Real+Gen")])]
    verdict = synthetic_verdict({"similarity": _sim((10.0, 0.02, 0.4), (20.0, 0.2, 0.1)), "lpips": {"pretrained": True}})
    save_results(tmp_path, "05_segmentation", {"experiments": {}, "readings": readings, "generator_test_overlap": 3})
    save_results(tmp_path, "06_muscle_thickness", {"unit": "px", "agreement": {}, "readings": readings})
    save_results(tmp_path, "07_evaluation", {"verdict": {k: verdict[k] for k in ("rows", "counts", "verdict")},
                                             "generator_test_overlap": None})
    page = write_report(tmp_path).read_text()
    assert page.count("95 % CI (paired bootstrap)") == 2 and "Real+Gen vs Real: Dice" in page
    assert "Test images the generator was trained on: <b>3</b>" in page and "provenance unknown" in page
    assert "3 of 3 far" in page and "10×" in page
    assert read_comparison("Dice", "A", [1.0], "B", [2.0])["direction"] == "too few"


def test_report_says_which_readings_are_missing(tmp_path):
    """Results from runs that wrote no readings / verdict / overlap (or garbled ones): the
    report is written and says, per section, what is missing."""
    save_results(tmp_path, "05_segmentation", {"experiments": {}})
    save_results(tmp_path, "06_muscle_thickness", {"unit": "px", "agreement": {}, "readings": {"Real": 1}})
    save_results(tmp_path, "07_evaluation", {"eval_image_size": 64})
    page = write_report(tmp_path).read_text()
    assert "Readings: paired differences between experiments: missing — 05_segmentation wrote no" in page
    assert "Generator overlap with the test split: missing — 05_segmentation did not record" in page
    assert "06_muscle_thickness wrote &quot;readings&quot; as dict, not a list" in page
    assert "Verdict: missing — 07_evaluation wrote no" in page
    assert "missing — 07_evaluation did not record &quot;generator_test_overlap&quot;" in page
    # no pair ran / partial readings / 07 without a synthetic set
    save_results(tmp_path, "05_segmentation", {"experiments": {}, "generator_test_overlap": 0,
                                               "readings": [{"a": "Real", "b": "Gen", "diff": 0.1}, "garbled"]})
    save_results(tmp_path, "06_muscle_thickness", {"unit": "px", "agreement": {}, "readings": []})
    save_results(tmp_path, "07_evaluation", {"verdict": None, "fallback_reason": "no synthetic set in X"})
    page = write_report(tmp_path).read_text()
    assert "Gen vs Real" in page and "+0.1" in page and "(this reading has no sentence)" in page
    assert "1 unreadable reading(s) left out" in page
    assert "Test images the generator was trained on: <b>0</b> (must be 0)" in page
    assert "per-image MT error between experiments: none — fewer than two" in page
    assert "Verdict: none — no synthetic set in X" in page


def test_report_readings_match_the_notebooks_numbers(tmp_path):
    """The report prints the difference and CI a notebook stored, to 3 significant digits."""
    a, b = _pair(n=40, shift=0.03, seed=5)
    r = jsonable(read_comparison("Dice", "Real", a, "Real+Gen", b, paper_diff=0.01))
    save_results(tmp_path, "05_segmentation", {"experiments": {}, "readings": [r], "generator_test_overlap": 0})
    page = write_report(tmp_path).read_text()
    assert f"{r['diff']:+.3g}" in page and f"{r['ci_low']:+.3g} to {r['ci_high']:+.3g}" in page
    assert r["text"].replace("'", "&#x27;") in page


def test_too_few_reading_names_n_and_no_empty_numbers():
    r = read_comparison("|MT error|", "Real", [np.nan, 1.0, np.nan], "Gen", [1.0, np.nan, 2.0],
                        higher_is_better=False, unit="px", paper_diff=0.7)
    assert r["direction"] == "too few" and "n/a" not in r["text"]
    assert r["text"] == ("Gen vs Real: |MT error|: too few paired images to read (n = 0 with both values; "
                         "3 left out where either value is missing). The paper reports +0.700.")


def test_describe_measurability():
    from msknb.evaluation.mt_readings import describe_measurability

    text = describe_measurability({"measurability": {"Real": {"n": 4, "not_measured": 2, "doubtful": 1}},
                                   "dice_mt_spearman": {"rho": None, "n": 2}})
    assert "Real 2/4 not measured, 1 doubtful" in text and "cannot be estimated from 2 image(s)" in text
    assert "+0.41 (moderate, n = 30)" in describe_measurability({"dice_mt_spearman": {"rho": 0.41, "n": 30}})
    assert "05's results not found" in describe_measurability({}, have_dice=False)


def test_a_ci_bound_near_zero_keeps_its_sign():
    from msknb.readings import _fmt
    assert _fmt(0.0003, 3) == "+0.0003" and _fmt(-0.0004, 3) == "-0.0004"
    assert _fmt(0.0, 3) == "+0.000" and _fmt(0.0123, 3) == "+0.012" and _fmt(float("nan"), 3) == "n/a"
