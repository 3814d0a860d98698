"""The reference experiment (msknb.evaluation.reference): cells are written as they finish,
a re-run skips them, the summary reads them with paired CIs, and the CLI prints one JSON."""
from __future__ import annotations

import json

import numpy as np
import pytest

from msknb.data.phantom import make_phantom
from msknb.errors import CheckpointError
from msknb.evaluation.reference import cell as C
from msknb.evaluation.reference import plan as P
from msknb.evaluation.reference import run as R
from msknb.evaluation.reference.store import cell_cpu_seconds, read_reference, replace_cells
from msknb.evaluation.reference.summary import summarise_reference


@pytest.fixture()
def tiny(monkeypatch):
    ph = [make_phantom("TA", size=32, seed=s) for s in range(24)]
    imgs = np.stack([p.image for p in ph]).astype(np.float32)
    msk = np.stack([p.mask for p in ph]).astype(np.float32)
    data = C.RealData(imgs, msk, [f"p{i}" for i in range(24)], [f"c{i // 2}" for i in range(24)],
                      np.arange(16), np.arange(16, 20), np.arange(20, 24), ["p21"])
    monkeypatch.setattr(R, "load_real", lambda d, s: data)
    monkeypatch.setitem(P.TRAINING_RULE, "image_size", 32)
    monkeypatch.setitem(P.TRAINING_RULE, "epochs", 2)
    monkeypatch.setitem(P.TRAINING_RULE, "patience", 2)
    monkeypatch.setitem(P.TRAINING_RULE, "min_samples_per_epoch", 8)
    return data


def test_cells_are_ordered_room_first_and_nested():
    names = [c.name for c in P.real_cells()]
    assert names[:3] == ["real-d0-s0", "10pct-d0-s0", "10pct-d1-s0"]
    assert len(names) == len(set(names)) == 3 * 5
    rng = np.random.default_rng(0)
    train, clusters = np.arange(100), [f"c{k}" for k in rng.integers(0, 40, 100)]
    from msknb.segmentation.experiments import fraction_subset
    small, big = fraction_subset(train, clusters, 0.1, seed=0), fraction_subset(train, clusters, 0.3, seed=0)
    assert set(small) <= set(big)


def test_run_writes_each_cell_skips_finished_and_summarises(tiny, tmp_path, capsys):
    cells = [P.Cell("Real", 1.0, 0, 0), P.Cell("10%", 0.1, 0, 0), P.Cell("Real", 1.0, 0, 1), P.Cell("10%", 0.1, 0, 1)]
    done = R.run_cells("unused", cells, folder=tmp_path, state_dir=tmp_path / "state", progress=False)
    assert done == [c.name for c in cells]
    rec = json.loads((tmp_path / "cells" / "real-d0-s0.json").read_text())
    assert len(rec["test"]["dice"]) == 4 and rec["test"]["flagged"] == [False, True, False, False]
    assert not set(rec["train_ids"]) & set(rec["test"]["ids"])
    assert sorted(p.name for p in (tmp_path / "weights").glob("*.pt")) == ["10pct-d0-s0.pt", "10pct-d0-s1.pt", "real-d0-s0.pt"]
    assert R.run_cells("unused", cells, folder=tmp_path, progress=False) == []
    s = summarise_reference(tmp_path)
    assert s["n_seeds"] == 2 and set(s["dice"]) == {"Real", "10%"}
    room = s["real_minus_10pct"]
    assert room["ci_low"] <= room["mean"] <= room["ci_high"]
    assert s["gain_10pct"] is None and s["cpu_hours"] > 0
    assert rec["train_cpu_seconds"] > 0 and s["cpu_measured_cells"] == 4        # CPU time, all threads
    assert s["cpu_hours"] == pytest.approx(sum(cell_cpu_seconds(c) for c in read_reference(tmp_path)["cells"].values()) / 3600)
    assert cell_cpu_seconds({"train_seconds": 10.0, "threads": 2}) == 20.0   # older cells: wall x threads
    from msknb.evaluation.reference.summary import provenance_line
    line = provenance_line(s)
    assert line.startswith("Precomputed by `python -m msknb experiment run") and "4 models" in line
    assert "CPU time measured" in line and "at most" not in line
    from msknb.cli import main
    capsys.readouterr()
    assert main(["experiment", "summary", "--json", "--folder", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("resolution", "n_seeds", "cpu_hours", "generator", "dice", "real_minus_10pct", "gain_10pct",
                "gain_10pct_vs_control", "gen_over_real"):
        assert key in out


def test_gen_cells_wait_for_their_start_and_record_the_generator(tiny, tmp_path, monkeypatch, capsys):
    syn = {"images": tiny.images[:16], "masks": tiny.masks[:16],
           "record": {"checkpoint": "gen.pt", "training_ids": ["p0"], "sampler": "ddim-25", "n": 16}}
    monkeypatch.setattr(R, "_synthetic_for", lambda *a: syn)
    cells = P.gen_cells((0,), fractions=(0.1,))
    assert [c.name for c in cells] == ["10pct+gen-control-d0-s0", "10pct+gen-control-d1-s0", "gen-d0-s0",
                                       "10pct+gen-pretrain-d0-s0", "10pct+gen-pretrain-d1-s0",
                                       "10pct+gen-mix-d0-s0", "10pct+gen-mix-d1-s0"]
    done = R.run_cells("unused", cells, folder=tmp_path, state_dir=tmp_path / "state", progress=False)
    assert "waits for 10pct-d0-s0" in capsys.readouterr().out
    assert done == ["gen-d0-s0", "10pct+gen-pretrain-d0-s0", "10pct+gen-pretrain-d1-s0", "10pct+gen-mix-d0-s0",
                    "10pct+gen-mix-d1-s0"]
    R.run_cells("unused", [P.Cell("10%", 0.1, 0, 0), P.Cell("10%", 0.1, 1, 0), *cells], folder=tmp_path,
                state_dir=tmp_path / "state", progress=False, command="second run")
    s = summarise_reference(tmp_path)
    assert s["generator"] == ["gen.pt"] and s["gain_10pct"] is not None and s["gain_10pct_vs_control"] is not None
    assert s["gen_over_real"] is None
    pre = json.loads((tmp_path / "cells" / "10pct+gen-pretrain-d0-s0.json").read_text())
    assert pre["starts_from"] == "gen-d0-s0" and pre["generator"]["checkpoint"] == "gen.pt"
    assert len(s["commands"]) == 2 and s["commands"][-1] == "second run"       # every run's command is kept


def test_summary_without_results_says_what_to_run(tmp_path):
    with pytest.raises(CheckpointError, match="experiment run"):
        summarise_reference(tmp_path)


def test_reference_figure_draws_the_stored_cells(tiny, tmp_path):
    from msknb.evaluation.reference.figures import reference_figure
    from msknb.evaluation.reference.store import read_reference

    R.run_cells("unused", [P.Cell("Real", 1.0, 0, 0), P.Cell("10%", 0.1, 0, 0)], folder=tmp_path,
                state_dir=tmp_path / "state", progress=False)
    fig = reference_figure(read_reference(tmp_path)["cells"])
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("share") and len(ax.get_legend().get_texts()) >= 2


def test_readings_follow_the_ci():
    from msknb.evaluation.reference.summary import reference_readings

    s = {"real_minus_10pct": {"mean": 0.05, "ci_low": 0.03, "ci_high": 0.07, "n_test": 47, "n_cells": [6, 3]},
         "gain_10pct": {"mean": 0.004, "ci_low": -0.01, "ci_high": 0.02, "n_test": 47, "n_cells": [6, 6]},
         "gain_10pct_pretrain": None, "gain_10pct_vs_control": None, "gen_over_real": None}
    r = reference_readings(s)
    assert "measurable gain" in r[0] and "no measurable effect" in r[1] and "not run yet" in r[2]
    assert any("rules out a gain of the paper's size" in line for line in r)    # paper: +0.023 > 0.02
    s["gain_10pct"]["ci_high"] = 0.03
    assert any("cannot rule it out" in line for line in reference_readings(s))


def test_a_cell_never_trains_on_a_test_image(tiny):
    from msknb.errors import DataError

    bad = C.RealData(tiny.images, tiny.masks, tiny.ids, tiny.clusters, np.arange(24), tiny.val, tiny.test, [])
    with pytest.raises(DataError, match="test image"):
        C.train_cell(bad, P.Cell("Real", 1.0, 0, 0), state_path=None, progress=False)


def test_reference_mt_rows_pool_the_models_of_each_experiment(tiny, tmp_path):
    from msknb.evaluation.reference.store import read_reference
    from msknb.evaluation.reference.figures import reference_mt_figure
    from msknb.evaluation.reference.thickness import reference_mt_reading, reference_mt_rows

    R.run_cells("unused", [P.Cell("Real", 1.0, 0, 0), P.Cell("10%", 0.1, 0, 0)], folder=tmp_path,
                state_dir=tmp_path / "state", progress=False)
    cells = read_reference(tmp_path)["cells"]
    rows = reference_mt_rows(cells, clean=True)
    for r in rows:
        assert r["n"] + r["n_missing"] <= 3 and 0 <= r["within_5pct_pct"] <= 100
    if rows:
        assert reference_mt_reading(rows).startswith("MT of the predicted test masks")
        reference_mt_figure(cells)
    assert reference_mt_reading([]) is None


def test_comparisons_pair_the_same_draw_and_seed():
    from msknb.evaluation.reference.summary import compare, matched

    one = np.ones(3)
    ten = {(0, 0): 0.5 * one, (1, 0): 0.6 * one, (0, 1): 0.7 * one}
    pre = {(0, 0): 0.55 * one}
    real = {(None, 0): 0.8 * one, (None, 1): 0.9 * one}
    a, b = matched(ten, pre)
    assert a.shape == b.shape == (1, 3) and a[0, 0] == 0.5          # only d0 s0 is shared
    a, b = matched(ten, real)
    assert len(a) == 3 and len(b) == 2                                # undrawn side: matched by seed
    assert matched(pre, {(None, 5): one})[0].shape == (0, 0)
    c = compare({"10%": ten, "10%+Gen (pretrain)": pre}, "10%", "10%+Gen (pretrain)")
    assert c["mean"] == pytest.approx(0.05) and c["n_cells"] == [1, 1]


def test_scarce_label_cells_use_their_own_set_and_are_summarised(tiny, tmp_path, monkeypatch):
    seen = []

    def fake_set(data_dir, data, folder, progress, cell=None, max_seconds=None):
        seen.append((cell.labels, cell.draw))
        rec = {"checkpoint": "generator_d0.pt", "training_ids": ["p0"], "sampler": "ddim-25", "n": 16,
               "draw_cpu_seconds": 1800.0, "draw_chunks_timed": "1 of 1", "finetune_cpu_seconds": 1800.0,
               "condition_masks": "copies of the subset's masks", "setting": "scarce labels",
               "fine_tuned_from": "shipped.pt", "condition_mask_ids": ["p0"]}
        return {"images": tiny.images[:16], "masks": tiny.masks[:16], "record": rec}

    monkeypatch.setattr(R, "_synthetic_for", fake_set)
    cells = P.scarce_cells((0,), (0,))
    assert [c.name for c in cells] == ["10pct+scarcegen-mix-d0-s0", "scarcegen-d0-s0", "10pct+scarcegen-pretrain-d0-s0"]
    assert P.starts_from(cells[2]) == cells[1] and P.needs_synthetic(cells[1])
    R.run_cells("unused", [P.Cell("10%", 0.1, 0, 0), *cells, P.Cell("10%+Gen", 0.1, 0, 0, "control")],
                folder=tmp_path, state_dir=tmp_path / "state", progress=False)
    assert seen == [("subset", 0)]                     # one set for the draw, shared by its cells
    mix = json.loads((tmp_path / "cells" / "10pct+scarcegen-mix-d0-s0.json").read_text())
    assert mix["labels"] == "subset" and mix["generator"]["setting"] == "scarce labels"
    assert mix["generator"]["fine_tuned_from"] == "shipped.pt"
    s = summarise_reference(tmp_path)
    assert s["gain_10pct_scarce"] is not None and s["gain_10pct_scarce_vs_control"] is not None
    assert s["gain_10pct"] is None and s["generator_detail"] is None   # the paper's setting is not run here
    assert s["cpu_hours_synthetic_sets"] == 1.0 and s["synthetic_sets_not_timed"] == []
    assert "10%+Gen, 10 % labels (pretrain)" in s["dice"]
    from msknb.evaluation.reference.summary import reference_readings
    assert any(r.startswith("Scarce-label rows: `shipped.pt` fine-tuned on the 1 pairs") for r in reference_readings(s))
    from msknb.evaluation.reference.figures import reference_figure
    from msknb.evaluation.reference.store import read_reference
    legend = reference_figure(read_reference(tmp_path)["cells"]).axes[0].get_legend().get_texts()
    assert "10 % labels" in " ".join(t.get_text() for t in legend)


def test_scarce_generator_fine_tune_resumes_and_exports(tmp_path, monkeypatch):
    from PIL import Image
    from msknb.evaluation.reference import scarce as S
    (tmp_path / "d" / "images").mkdir(parents=True)
    (tmp_path / "d" / "masks").mkdir()
    for k in range(3):
        p = make_phantom("TA", size=64, seed=k)
        Image.fromarray((p.image * 255).astype(np.uint8)).save(tmp_path / "d" / "images" / f"im{k}.png")
        Image.fromarray((p.mask > 0).astype(np.uint8) * 255).save(tmp_path / "d" / "masks" / f"im{k}.png")
    monkeypatch.setitem(S.FINETUNE, "max_steps", 2)
    monkeypatch.setitem(S.FINETUNE, "checkpoint_every", 1)
    out = S.finetune_generator(tmp_path / "d", ["im0", "im1"], 0, folder=tmp_path / "s", progress=False)
    rec = S.fine_tune_record(out)
    assert out.name == "generator_d0.pt" and rec["step"] == 2 and rec["finetuned_ids"] == ["im0", "im1"]
    assert S.finetune_generator(tmp_path / "d", ["im0", "im1"], 0, folder=tmp_path / "s") == out   # done: skipped


def test_replace_cells_swaps_in_a_redrawn_cell_and_keeps_what_the_old_one_cost(tmp_path):
    from msknb.evaluation.reference.store import write_cell, write_meta
    from msknb.evaluation.reference.summary import provenance_line

    dst, src = tmp_path / "reference", tmp_path / "redraw"
    write_cell(dst, "gen-d0-s0", {"generator": {"checkpoint": "old.pt"}, "train_seconds": 3600.0, "threads": 1})
    write_cell(dst, "real-d0-s0", {"train_cpu_seconds": 1800.0})
    write_meta(dst, {"commands": ["first"], "cpu_hours": 1.5})
    (dst / "weights").mkdir()
    (dst / "weights" / "gen-d0-s0.pt").write_bytes(b"old")
    write_cell(src, "gen-d0-s0", {"generator": {"checkpoint": "new.pt"}, "train_cpu_seconds": 900.0})
    write_meta(src, {"commands": ["redraw"], "commit": "fed9876"})
    with pytest.raises(CheckpointError, match="not stored here yet") as err:
        replace_cells(dst, src, ["gen-d0-s0", "gen-d0-s1"], "abc1234")
    assert "gen-d0-s1.json" in str(err.value)
    assert json.loads((dst / "cells" / "gen-d0-s0.json").read_text())["generator"]["checkpoint"] == "old.pt"
    meta = replace_cells(dst, src, ["gen-d0-s0"], "abc1234")
    assert read_reference(dst)["cells"]["gen-d0-s0"]["generator"]["checkpoint"] == "new.pt"
    assert not (dst / "weights" / "gen-d0-s0.pt").exists()          # the old model's weights go with it
    assert meta["cpu_hours"] == pytest.approx(0.75) and meta["commands"] == ["first", "redraw"]
    assert meta["commit"] == "fed9876"                                   # the last run that trained a stored cell
    assert meta["superseded"] == [{"cells": ["gen-d0-s0"], "cpu_hours": 1.0, "generators": ["old.pt"],
                                   "in_git_history_at": "abc1234"}]
    assert replace_cells(dst, src, ["gen-d0-s0"], "def5678")["superseded"] == meta["superseded"]  # once only
    line = provenance_line({"n_cells": {"Gen": 1}, "commands": ["x"], "superseded": meta["superseded"]})
    assert "1 models trained on sets drawn by old.pt were replaced (1.0 CPU-hours" in line


def test_a_cell_records_where_guidance_acted_and_the_reading_names_it():
    from msknb.evaluation.reference.summary import reference_readings

    g = R._generator_summary({"checkpoint": "gen.pt", "sampler": "ddim-25", "guidance": 2.5, "n": 354,
                              "guidance_interval": [0.2, 0.8], "guidance_region": 8, "training_ids": ["a"]})
    assert g["guidance_interval"] == [0.2, 0.8] and g["guidance_region"] == 8 and "guidance_coarse" not in g
    text = " ".join(reference_readings({"generator_detail": g}))
    assert "guidance w 2.5, t/T 0.2-0.8, within 8 px of the mask" in text
    old = R._generator_summary({"checkpoint": "old.pt", "sampler": "ddim-25", "guidance": 1.5, "n": 354})
    assert "guidance w 1.5, every step" in " ".join(reference_readings({"generator_detail": old}))
