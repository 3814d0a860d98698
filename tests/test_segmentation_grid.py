"""Tests of notebook 05's honesty checks: the generator / test-split overlap
(msknb.segmentation.generator_check), readings and flagged-pair metrics of the grid
(msknb.segmentation.grid_readings), dropping ids from training and a fixed number of
samples per epoch, and the take-away written from the readings (msknb.segmentation.takeaway)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from msknb.data import UltrasoundSet
from msknb.segmentation import experiments
from msknb.segmentation.figures import flagged_table_markdown
from msknb.segmentation.generator_check import generator_check
from msknb.segmentation.grid_readings import comparison_pairs, dice_with_and_without, grid_readings, paper_dice
from msknb.segmentation.takeaway import flagged_sentence, generator_sentence, takeaway_markdown
from msknb.segmentation.training import epoch_samples

TINY = {"image_size": 32, "channels": (4, 8), "epochs": 1, "batch_size": 4, "lr": 3e-3,
        "loss": "generalized_dice_bce", "augment": False}


def _record(ids):
    return {"checkpoint": "checkpoint.pt", "training_ids": ids, "mode": "joint", "sampler": "ddim-10", "n": 8}


def test_generator_without_test_images_is_used():
    g = generator_check(_record(["a", "b"]), ["c", "d"])
    assert g["generator_test_overlap"] == 0 and g["use_generator"] and g["warning"] is None
    assert "trained on 2 real images" in g["generator_provenance"]


def test_generator_that_saw_test_images_is_refused_unless_allowed():
    g = generator_check(_record(["a", "c"]), ["c", "d"])
    assert g["generator_test_overlap"] == 1 and g["overlap_ids"] == ["c"]
    assert not g["use_generator"] and "skipped" in g["warning"] and g["refused"]
    ok = generator_check(_record(["a", "c"]), ["c", "d"], allow_overlap=True)
    assert ok["use_generator"] and ok["refused"] is None and ok["warning"].startswith("**Warning")


def test_unknown_generator_is_refused_and_no_synthetic_set_is_no_question():
    for record in (None, _record(None)):
        g = generator_check(record, ["c"])
        assert g["generator_test_overlap"] is None and not g["use_generator"] and "unknown" in g["warning"]
    g = generator_check(None, ["c"], has_synthetic=False)
    assert g["generator_test_overlap"] is None and g["warning"] is None and g["generator_provenance"] == "no synthetic set"


def _grid_results():
    rng = np.random.default_rng(0)
    ids = [f"t{i}" for i in range(30)]
    real = np.clip(rng.normal(0.70, 0.1, 30), 0, 1)
    rows = {"Real": real, "Real+Gen": real + 0.001 * rng.normal(size=30), "Gen": real - 0.2,
            "10%": real - 0.1, "10%+Gen": real - 0.05, "50%": real}
    return {"test_ids": ids, "experiments": {k: {"test_dice_per_image": list(v)} for k, v in rows.items()}}


def test_readings_follow_the_numbers():
    res = _grid_results()
    assert comparison_pairs(res["experiments"]) == [("Real", "Real+Gen"), ("Real", "Gen"), ("10%", "10%+Gen")]
    readings = grid_readings(res, n_boot=500)
    by = {(r["a"], r["b"]): r for r in readings}
    assert by[("Real", "Real+Gen")]["direction"] == "no effect"
    gen = by[("Real", "Gen")]
    assert gen["direction"] == "worse" and abs(gen["diff"] + 0.2) < 1e-9
    assert abs(gen["paper_diff"] - (paper_dice()["Gen"] - paper_dice()["Real"])) < 1e-9
    assert "% of Real's Dice" in gen["text"] and 0 < gen["ratio"] < 1
    assert by[("10%", "10%+Gen")]["direction"] == "better" and by[("10%", "10%+Gen")]["paper_diff"] > 0
    assert grid_readings(res, exclude=res["test_ids"][:10], n_boot=500)[0]["n"] == 20


def test_dice_with_and_without_flagged_pairs():
    res = _grid_results()
    res["experiments"]["Real"]["test_dice_per_image"][0] = 0.0  # a wrong label: the model cannot match it
    s = dice_with_and_without(res, ["t0", "not-a-test-id"])
    assert s["flagged_test_ids"] == ["t0"]
    real = s["experiments"]["Real"]
    assert real["all"]["n"] == 30 and real["without_flagged"]["n"] == 29
    assert real["without_flagged"]["mean"] > real["all"]["mean"]
    assert "1 test pair(s) flagged" in flagged_table_markdown(s)


def _toy(n=16, size=32):
    rng = np.random.default_rng(1)
    masks = np.zeros((n, size, size), np.uint8)
    masks[:, 8:10] = 1
    masks[:, 20:23] = 1
    images = np.clip(0.3 * rng.random((n, size, size)) + 0.6 * masks, 0, 1).astype(np.float32)
    return UltrasoundSet(images=images, masks=masks, ids=[f"x{i}" for i in range(n)],
                         paths=[Path(f"x{i}.png") for i in range(n)], spacing_mm=np.full((n, 2), np.nan),
                         groups=["all"] * n, subjects=[f"s{i}" for i in range(n)])


def test_grid_drops_ids_from_training_and_refuses_gen(tmp_path):
    ds = _toy()
    sp = experiments.make_split(ds, seed=0)
    drop = [ds.ids[sp["train"][0]], ds.ids[sp["test"][0]]]
    r = experiments.run_experiment_grid(ds, ds, ["Real", "Gen"], TINY, tmp_path, seed=0, progress=False,
                                        split=sp, drop_ids=drop, gen_refused="the generator saw 3 test images")
    assert r["split"]["dropped_from_training"] == {"train": [drop[0]], "val": []}
    assert r["experiments"]["Real"]["n_train_real"] == len(sp["train"]) - 1
    assert drop[1] in r["test_ids"]  # the test split stays whole
    assert list(r["experiments"]) == ["Real"] and "saw 3 test images" in r["skipped"]["Gen"]


def test_pretrain_fine_tunes_the_gen_model_on_the_real_part(tmp_path):
    import pytest
    import torch

    from msknb.errors import ConfigError
    from msknb.segmentation.model import full_config

    ds = _toy()
    sp = experiments.make_split(ds, seed=0)
    syn = ds.subset(sp["train"])
    mix = experiments.run_experiment_grid(ds, syn, ["Gen", "Real+Gen"], TINY, None, seed=0, progress=False, split=sp)
    pre = experiments.run_experiment_grid(ds, syn, ["Real+Gen", "Gen"], {**TINY, "gen_use": "pretrain"}, tmp_path,
                                          seed=0, progress=False, split=sp)
    assert mix["experiments"]["Real+Gen"]["gen_use"] == "mix" and pre["experiments"]["Real+Gen"]["gen_use"] == "pretrain"
    assert pre["experiments"]["Gen"]["gen_use"] == "only"
    # "Real+Gen" was listed before "Gen": Gen runs first and Real+Gen starts from its model
    from msknb import artifacts
    meta = torch.load(artifacts.segmenter_path(tmp_path, "Real+Gen"), weights_only=True)["meta"]
    assert meta["init_from"] == "Gen" and meta["n_train"] == len(sp["train"])
    assert mix["experiments"]["Gen"]["dice"] == pre["experiments"]["Gen"]["dice"]  # same seed, same Gen model
    with pytest.raises(ConfigError, match="gen_use"):
        full_config({"gen_use": "blend"})


def _synthetic_use_report(seeds=(0, 1)):
    def row(v, t):
        return {"val_dice": v, "test_dice": t}
    runs = {}
    for k, s in enumerate(seeds):
        base = {"Real": row(0.80, 0.74), "10%": row(0.79, 0.72), "Gen": row(0.78, 0.70)}
        runs[f"mix/seed{s}"] = {**base, "Real+Gen": row(0.79, 0.73), "10%+Gen": row(0.78, 0.72), "seconds": 1.0}
        runs[f"pretrain/seed{s}"] = {**base, "Real+Gen": row(0.81 + 0.01 * k, 0.75), "10%+Gen": row(0.80, 0.73)}
        runs[f"control/seed{s}"] = {"Real twice": row(0.81, 0.75), "10% twice": row(0.80, 0.73)}
    return {"seeds": list(seeds), "n_synthetic": 64, "synthetic": "shipped conditional", "runs": runs}


def test_synthetic_use_is_read_and_concluded_from_its_numbers(tmp_path):
    import json

    import pytest

    from msknb.errors import StoredResultError
    from msknb.segmentation.figures import synthetic_use_figure
    from msknb.segmentation.synthetic_use import read_synthetic_use, synthetic_use_conclusion, synthetic_use_rows

    with pytest.raises(StoredResultError, match="bench_synthetic_use.py --control"):
        read_synthetic_use(tmp_path / "none.json")
    path = tmp_path / "s.json"
    path.write_text(json.dumps(_synthetic_use_report()))
    report = read_synthetic_use(path)
    rows = synthetic_use_rows(report)
    assert list(rows) == ["Real", "10%"] and rows["Real"]["+ Gen, pretrain"]["val"] == pytest.approx([0.81, 0.82])
    text = synthetic_use_conclusion(report)
    assert "Pretrain minus mix +0.025 (seeds +0.020 to +0.030)" in text
    assert "budget-matched control +0.005 (seeds +0.000 to +0.010)" in text
    synthetic_use_figure(rows)
    bad = _synthetic_use_report()
    del bad["runs"]["control/seed1"]
    path.write_text(json.dumps(bad))
    with pytest.raises(StoredResultError, match="s.json"):
        read_synthetic_use(path)


def test_takeaway_says_when_x_plus_gen_was_pretrained():
    res = {"experiments": {"Real": {"gen_use": "none"}, "Real+Gen": {"gen_use": "pretrain"}}, "config": {"image_size": 64}}
    assert "updates on top of" in takeaway_markdown(res, [])
    res["experiments"]["Real+Gen"]["gen_use"] = "mix"
    assert "updates on top of" not in takeaway_markdown(res, [])


def test_samples_per_epoch_is_fixed_whatever_the_set_size():
    assert epoch_samples(369, {"samples_per_epoch": 128}) == 128
    assert epoch_samples(10, {"samples_per_epoch": 128}) == 128
    assert epoch_samples(10, {"min_samples_per_epoch": 96}) == 96
    assert epoch_samples(369, {"min_samples_per_epoch": 96}) == 369


def test_ids_by_side_says_where_flagged_pairs_fall():
    ds = _toy()
    sp = experiments.make_split(ds, seed=0)
    ids = [ds.ids[sp["train"][0]], ds.ids[sp["test"][-1]], "not-loaded"]
    got = experiments.ids_by_side(ds, sp, ids)
    assert got == {"train": [ids[0]], "val": [], "test": [ids[1]]}


def _reading(a, b, direction, diff, ci=(-0.01, 0.01), paper_diff=None, **extra):
    return {"a": a, "b": b, "direction": direction, "diff": diff, "ci_low": ci[0], "ci_high": ci[1],
            "paper_diff": paper_diff, **extra}


def test_takeaway_counts_what_the_readings_say():
    res = {"near_copies_test_in_train": 0, "split": {"source": "kit split"}, "synthetic_mask_source": experiments.JOINT,
           "config": {"image_size": 64}}
    readings = [_reading("Real", "Real+Gen", "no effect", 0.002, paper_diff=0.0),
                _reading("Real", "Gen", "worse", -0.2, ci=(-0.25, -0.15), paper_diff=-0.05, ratio=0.7, paper_ratio=0.94),
                _reading("10%", "10%+Gen", "better", 0.05, ci=(0.02, 0.08), paper_diff=0.1)]
    text = takeaway_markdown(res, readings, generator_check(_record(["a"]), ["t0"]))
    assert "No test image has a near copy" in text and "overlap 0" in text
    assert "better beyond the uncertainty in 1 (10%+Gen)" in text and "worse beyond the uncertainty in 0 (none)" in text
    assert "no measurable effect in 1 (Real+Gen)" in text
    assert "inside our 95 % CI in 1 of 2" in text  # 0.0 inside (-0.01, 0.01); 0.1 outside (0.02, 0.08)
    assert "70 % of Real's Dice (paper: 94 %)" in text and "lower than Real's beyond the uncertainty" in text
    assert "64 px" in text and "helps" not in text
    flipped = [dict(r, direction="worse") if r["b"] == "10%+Gen" else r for r in readings]
    assert "worse beyond the uncertainty in 1 (10%+Gen)" in takeaway_markdown(res, flipped)


def test_takeaway_says_the_live_run_cannot_answer_the_question_and_one_seed_is_one_example():
    res = {"near_copies_test_in_train": 0, "config": {"image_size": 64, "epochs": 6, "samples_per_epoch": 256}}
    readings = [_reading("Real", "Real+Gen", "better", 0.014, ci=(0.0004, 0.028), training_seeds=1),
                _reading("Real", "Gen", "worse", -0.05, ci=(-0.08, -0.03), ratio=0.93, paper_ratio=0.94,
                         training_seeds=1)]
    text = takeaway_markdown(res, readings)
    first = text.splitlines()[0]
    assert "cannot answer the paper's question" in first and "same short budget (6 epochs of 256 samples at 64 px)" in first
    assert "one training seed" in first and "Reference results (precomputed)" in first
    assert "the 2 difference(s) beyond their CI below are each one example" in first
    assert "better beyond the uncertainty in 1 (Real+Gen) (one seed: one example each)" in text
    assert "lower than Real's beyond the uncertainty in this one training run (one seed: one example)" in text
    assert "a fixed budget of 300 epoch(s)" in takeaway_markdown({"config": {"image_size": 256, "epochs": 300}}, [])


def test_takeaway_names_leaks_refusals_and_flagged_pairs():
    res = {"near_copies_test_in_train": 3, "split": {"source": "grouped"}, "config": {"image_size": 64}}
    refused = generator_check(_record(["t0"]), ["t0", "t1"])
    text = takeaway_markdown(res, [], refused)
    assert "**3 test image(s) have a near copy" in text and "Gen experiments were skipped" in text
    assert "No comparison with and without the synthetic set ran" in text
    flags = {"flagged_test_ids": ["t0"], "experiments": {"Real": {"all": {"n": 30, "mean": 0.70, "std": 0.1},
                                                                  "without_flagged": {"n": 29, "mean": 0.72, "std": 0.1}}}}
    before = [_reading("10%", "10%+Gen", "no effect", 0.01)]
    after = [_reading("10%", "10%+Gen", "better", 0.02, ci=(0.01, 0.03))]
    line = flagged_sentence(flags, before, after)
    assert "flagged 1 test pair(s)" in line and "0.700 with them and 0.720 without" in line
    assert "the reading changes for 10%+Gen vs 10% (no effect -> better)" in line
    assert "no reading changes" in flagged_sentence(flags, before, before)
    assert "flagged no test pair" in flagged_sentence({"flagged_test_ids": [], "experiments": {}}, [], [])
    assert "no synthetic set" in generator_sentence(generator_check(None, ["t0"], has_synthetic=False))


def test_mask_source_follows_the_generator_mode():
    assert generator_check({**_record(["a"]), "mode": "mask"}, ["c"])["mask_source"].startswith("real training masks")
    assert "joint" in generator_check({**_record(["a"]), "mode": "joint"}, ["c"])["mask_source"]
    assert generator_check(None, ["c"], has_synthetic=False)["mask_source"] == "no synthetic set"


def test_dice_bar_static_draws_each_experiment_and_the_paper():
    from msknb.segmentation.figures import dice_bar_static

    res = {"experiments": {n: {"dice": {"mean": 0.7, "std": 0.1}, "test_dice_per_image": [0.6, 0.8]}
                           for n in ("Real", "10%")}}
    ax = dice_bar_static(res).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Real", "10%"]
    assert "paper (its own data)" in [t.get_text() for t in ax.get_legend().get_texts()]
