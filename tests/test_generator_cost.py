"""The generator cost table (msknb.ddpm.cost): one architecture timed, the stored table read; the
figure of the folded generator's images beside their real pairs (notebook 04)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from msknb.ddpm.cost import cost_reading, measure_cost, read_cost_table
from msknb.ddpm.figures import cost_figure, real_mask_generated_figure
from msknb.errors import CheckpointError


def test_measure_cost_times_training_and_sampling():
    r = measure_cost({"image_size": 16, "dim": 8, "dim_mults": (1, 2), "fold": 2, "condition": "mask+lowres",
                      "lowres_size": 8}, batch_size=2, steps=1, sample_steps=5)
    assert r["train_img_per_s"] > 0 and r["sample_s_per_image"] > 0 and r["parameters"] > 0


def test_the_table_is_read_drawn_and_read_out(tmp_path):
    with pytest.raises(CheckpointError, match="bench_generator_cost"):
        read_cost_table(tmp_path / "absent.json")
    rows = {"pixel 64 px, width 16": {"train_img_per_s": 16.0, "sample_s_per_image": 0.9},
            "fold 4 at 256 px, width 32 (shipped)": {"train_img_per_s": 8.0, "sample_s_per_image": 2.0}}
    (tmp_path / "cost.json").write_text(json.dumps({"rows": rows, "threads": 1}))
    table = read_cost_table(tmp_path / "cost.json")
    assert "2.0x per training image" in cost_reading(table)
    assert len(cost_figure(table).axes[0].patches) == 2


def test_real_mask_generated_figure_has_one_titled_row_per_pair():
    real = np.full((2, 16, 16), 0.25, dtype=np.float32)
    masks = np.zeros((2, 16, 16), dtype=np.uint8)
    masks[:, 4:6] = 1
    drawn = np.stack([np.full((2, 16, 16), 0.5, dtype=np.float32), np.concatenate([real[:1], masks[:1]])])
    axes = real_mask_generated_figure(real, masks, drawn).axes
    assert len(axes) == 6
    titles = [ax.get_title() for ax in axes]
    assert titles[:3] == ["real image (mean grey 0.250)", "its mask: the condition", "generated (mean grey 0.500)"]
    assert titles[5] == "generated (mean grey 0.250)"


def test_the_stored_generator_screen_is_read_ranked_and_read_out(tmp_path):
    from msknb.evaluation.figures import generator_screen_figure
    from msknb.evaluation.generator_screen import read_generator_screen, screen_readings, screen_rows

    with pytest.raises(CheckpointError, match="bench_generator_screen"):
        read_generator_screen(tmp_path / "absent.json")

    def entry(ratio, align, **extra):
        return {"step": 100, "train_seconds": 3600.0, "sampler": {"guidance": 1.0, "seconds_per_image": 2.0},
                "domain": {"ratio": ratio}, "alignment": {"dice_mean": align}, "alignment_real": {"dice_mean": 0.8},
                "intensity": {"mean_grey": 0.22, "real_mean_grey": 0.23, "hist_l1": 0.1,
                              "skewness_inside_real_p5_p95": 0.9},
                "memorisation": {"fraction_above": {"p95": 0.0}}, **extra}

    stored = {"generators": {"fold": entry(3.0, 0.79), "cascade": entry(1.8, 0.82, base="b.pt", base_train_seconds=1800.0)},
              "resolution_gap": {"by_size": {"64": {"ratio": 61.0}, "32": {"ratio": 160.0}}}}
    (tmp_path / "screen.json").write_text(json.dumps(stored))
    s = read_generator_screen(tmp_path / "screen.json")
    rows = screen_rows(s)
    assert [r["name"] for r in rows] == ["cascade", "fold"] and rows[0]["kind"] == "cascade"
    assert rows[0]["train_hours"] == pytest.approx(1.5) and rows[0]["memorised"] == 0.0
    text = screen_readings(s)
    assert "32 px: 160, 64 px: 61" in text[0]
    assert "domain ratio <= 2, alignment >= 0.80, mean grey within 0.02" in text[1]
    fig = generator_screen_figure(rows, s["resolution_gap"]["by_size"])
    assert len(fig.axes[0].patches) == 4


def test_over_seeds_gives_mean_sd_and_values():
    from msknb.evaluation.generator_screen import over_seeds
    rows = [{"domain": {"ratio": r}, "alignment": {"dice_mean": a}, "intensity": {"mean_grey": 0.2, "hist_l1": 0.1}}
            for r, a in [(3.0, 0.8), (5.0, 0.7)]]
    out = over_seeds(rows, [0, 1])
    assert out["seeds"] == [0, 1] and out["domain_ratio"]["values"] == [3.0, 5.0]
    assert out["domain_ratio"]["mean"] == pytest.approx(4.0) and out["domain_ratio"]["sd"] == pytest.approx(2 ** 0.5)
    assert out["alignment_dice"]["mean"] == pytest.approx(0.75) and out["mean_grey"]["sd"] == pytest.approx(0.0)
    json.dumps(out)


def _screened(ratio, align, sampler, seeds=None):
    row = {"checkpoint": "msknb/checkpoints/ddpm_cond_dltrack_256_step2892.pt", "sampler": sampler,
           "domain": {"ratio": ratio}, "alignment": {"dice_mean": align},
           "intensity": {"mean_grey": 0.22, "real_mean_grey": 0.23, "hist_l1": 0.1}}
    if seeds:
        row["over_seeds"] = {"seeds": seeds[2] if len(seeds) > 2 else [0, 1, 2],
                             "domain_ratio": {"mean": seeds[0], "sd": seeds[1],
                                              "values": [seeds[0] - 0.1, seeds[0], seeds[0] + 0.1]},
                             "alignment_dice": {"mean": align, "sd": 0.01, "values": [align] * 3}}
    return row


def test_guidance_rows_readings_and_figure():
    import matplotlib.pyplot as plt
    from msknb.evaluation.figures import guidance_settings_figure
    from msknb.ddpm.checkpoints import guidance_label
    from msknb.evaluation.generator_screen import guidance_readings, guidance_rows
    screen = {"generators": {"shipped-w1.5": _screened(3.5, 0.79, {"guidance": 1.5}, seeds=(3.9, 0.3, [3, 4, 5])),
                             "other": {**_screened(1.0, 0.9, {"guidance": 1.0}), "checkpoint": "x/other.pt"}},
              "guidance": {"gi": _screened(3.1, 0.81, {"guidance": 2.0, "guidance_interval": [0.2, 0.8]},
                                           seeds=(3.2, 0.2)),
                           "rescale": _screened(9.9, 0.83, {"guidance": 2.0, "guidance_rescale": 0.7})}}
    rows = guidance_rows(screen)
    assert [r["name"] for r in rows] == ["gi", "shipped-w1.5", "rescale"]      # other checkpoints left out
    assert rows[0]["label"] == "w 2, t/T 0.2-0.8" and rows[2]["label"] == "w 2, every step, rescale 0.7"
    text = " ".join(guidance_readings(rows))
    assert "3.10 (w 2, t/T 0.2-0.8" in text and "no measurable effect" in text   # 3.2 ± 0.2 vs 3.9 ± 0.3 overlap at 2 sd
    assert guidance_label({"guidance": 2, "steps": 50}) == "w 2, every step, DDIM-50"
    screen["generators"]["shipped-w1.5"]["over_seeds"]["seeds"] = [0, 1, 2]   # same seeds: compared seed by seed
    paired = " ".join(guidance_readings(guidance_rows(screen)))
    assert "lower in ratio on each of the 3 seeds (by 0.70 to 0.70) and no worse in alignment" in paired
    screen["guidance"]["gi"]["over_seeds"]["alignment_dice"]["values"] = [0.70, 0.81, 0.81]
    assert "change sign: no measurable change in alignment" in " ".join(guidance_readings(guidance_rows(screen)))
    screen["guidance"]["gi"]["over_seeds"]["alignment_dice"]["values"] = [0.70, 0.75, 0.76]
    assert "a trade between the two" in " ".join(guidance_readings(guidance_rows(screen)))
    against = guidance_readings(guidance_rows(screen), stored="w 1.5, every step")
    assert against[1] == "The setting stored with these weights (what samplers use with them by default): w 1.5, every step."
    assert len(against) == 3 and against[2].startswith("Over 3 sampling seeds: w 2, t/T 0.2-0.8 ratio")
    fig = guidance_settings_figure(rows)
    listed = [t.get_text() for t in fig.axes[1].texts]
    assert len(listed) == len(rows) and listed[0].startswith(f"1. {rows[0]['label']}")
    plt.close(fig)


def test_training_rows_readings_and_curve():
    import matplotlib.pyplot as plt
    from msknb.evaluation.figures import training_curve_figure
    from msknb.evaluation.generator_screen import guidance_rows
    from msknb.evaluation.training_screen import training_readings, training_rows
    sampler = {"guidance": 2.0, "guidance_interval": [0.2, 0.8]}
    snap = lambda ratio, align, step: {**_screened(ratio, align, sampler, seeds=(ratio, 0.3)),   # noqa: E731
                                       "step": step, "train_seconds": step * 1.0}
    screen = {"training": {"run/ema_step0008000": snap(2.6, 0.80, 8000), "run/ema_step0006000": snap(3.3, 0.81, 6000)},
              "guidance": {"gi": {**_screened(3.5, 0.80, sampler, seeds=(3.5, 0.6)), "step": 2892}}}
    rows = training_rows(screen)
    assert [r["step"] for r in rows] == [6000, 8000] and rows[0]["run"] == "run"
    assert rows[1]["train_hours"] == pytest.approx(8000 / 3600) and rows[1]["label"] == "w 2, t/T 0.2-0.8"
    start = guidance_rows(screen)[0]
    assert start["step"] == 2892
    text = training_readings(rows, start)
    assert text[0].startswith("run: from step 6000 to step 8000 (0.6 hours more on one thread), the domain ratio over 3")
    assert "3.30 ± 0.30 to 2.60 ± 0.30" in text[0]
    assert "lowest mean ratio is run at step 8000: 2.60 ± 0.30, alignment 0.800 (ratio <= 2 not met, alignment >= 0.80 met)" in text[1]
    assert "against step 2892 (the runs' start)" in text[3] or "step 2892 (the runs' start)" in text[3]
    assert "run step 8000 ratio 2.60" in text[3] and "lower in ratio on each of the 3 seeds (by 0.90 to 0.90)" in text[3]
    assert training_readings([]) == []
    screen["training"]["tail/ema_step0001000"] = {**snap(2.9, 0.80, 1000), "started_from": "run/ema_step0006000.pt",
                                                  "started_from_step": 6000, "started_from_seconds": 6000.0}
    tail = [r for r in training_rows(screen) if r["run"] == "tail"][0]   # steps and hours continue the parent's
    assert tail["step"] == 7000 and tail["train_hours"] == pytest.approx(7000 / 3600)
    plt.close(training_curve_figure(training_rows(screen), start))
    fig = training_curve_figure(rows, start)
    assert len(fig.axes) == 2 and "step 2892 (the runs' start)" in fig.axes[0].get_legend_handles_labels()[1]
    plt.close(fig)
