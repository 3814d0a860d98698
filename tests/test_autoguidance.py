"""Autoguidance (msknb.ddpm.autoguidance): the guided pair is bad + w (good - bad), w = 1 is the
good model alone, it samples like any network, and two models trained for different tasks are
refused with both files named."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from msknb.ddpm.autoguidance import AutoGuided, load_autoguided
from msknb.ddpm.checkpoints import conditioning_extras, export_ema, load_model
from msknb.ddpm.config import TrainConfig
from msknb.ddpm.sample import sample_images
from msknb.ddpm.train import train_ddpm
from msknb.errors import ConfigError
from test_conditioning import COND, cond_data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))


class Constant(torch.nn.Module):
    def __init__(self, value: float):
        super().__init__()
        self.value = torch.nn.Parameter(torch.tensor(float(value)))
        self.image_size, self.prediction = 8, "v"

    def forward(self, x, t):
        assert len(x) > 0, "a network is never called on an empty batch"
        return torch.zeros_like(x[:, :1]) + self.value.detach()


def test_output_is_bad_plus_w_times_the_difference_for_a_mask_and_the_good_model_for_the_null_mask():
    x, t = torch.zeros(2, 2, 8, 8), torch.tensor([3, 4])
    x[1, 1] = -1.0                                   # sample 0: the null mask (all zero); sample 1: a mask
    pair = AutoGuided(Constant(1.0), Constant(0.25), 2.0)
    pair.out_channels = 1
    out = pair(x, t)
    assert torch.allclose(out[1], torch.full((1, 8, 8), 0.25 + 2.0 * 0.75)) and torch.allclose(out[0], torch.ones(1, 8, 8))
    assert torch.equal(AutoGuided(Constant(1.0), Constant(0.25), 1.0)(x, t), torch.ones(2, 1, 8, 8))
    assert pair.image_size == 8 and pair.prediction == "v"
    with pytest.raises(ConfigError, match="autoguidance weight"):
        AutoGuided(Constant(1.0), Constant(0.25), 0.5)


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("ag")
    for name, groups, epochs in (("good", 8, 2), ("bad", 4, 1)):
        cfg = {**COND, "resnet_groups": groups, "epochs": epochs, "sample_every": None}
        run = train_ddpm(cond_data(8, 16), TrainConfig(**cfg),
                         d / name, progress=False)
        data = cond_data(8, 16)
        export_ema(run.checkpoint_path, d / f"{name}.pt", extra=conditioning_extras(data[:, 0], data[:, 1]))
    return d


def test_the_pair_samples_like_any_network_and_weight_one_is_the_good_model(two_models):
    masks = cond_data(3, 16)[:, 1]
    pair, schedule, _ = load_autoguided(two_models / "good.pt", two_models / "bad.pt", 1.0)
    good, _, _ = load_model(two_models / "good.pt")
    kw = dict(method="ddim", steps=4, seed=0, masks=masks, progress=False)
    assert np.array_equal(sample_images(pair, schedule, None, **kw), sample_images(good, schedule, None, **kw))
    pair.weight = 2.0
    out = sample_images(pair, schedule, None, guidance=1.5, **kw)
    assert out.shape == (3, 1, 16, 16) and np.isfinite(out).all()
    assert not np.array_equal(out, sample_images(good, schedule, None, guidance=1.5, **kw))


def test_models_for_different_tasks_are_refused_naming_both_files(two_models, tmp_path):
    run = train_ddpm(cond_data(8, 16), TrainConfig(**{**COND, "prediction": "v", "epochs": 1, "sample_every": None}),
                     tmp_path / "v", progress=False)
    export_ema(run.checkpoint_path, tmp_path / "v.pt")
    with pytest.raises(ConfigError, match=r"v\.pt cannot guide .*good\.pt.*prediction"):
        load_autoguided(two_models / "good.pt", tmp_path / "v.pt", 2.0)


def test_screen_rows_from_a_second_bench_are_kept(tmp_path):
    from bench_generator_screen import SECTIONS, _merge_into

    path = tmp_path / "screen.json"
    path.write_text(json.dumps({"training": {"a": {"x": 1}}, "segmenter": "s.pt"}))
    _merge_into(path, {"training": {"b": {"x": 2}}, "autoguidance": {"c": {}}, "segmenter": "t.pt"}, SECTIONS)
    stored = json.loads(path.read_text())
    assert stored["training"] == {"a": {"x": 1}, "b": {"x": 2}} and "c" in stored["autoguidance"]
    assert stored["segmenter"] == "t.pt"


def test_msknb_sample_autoguides_and_records_it(two_models, tmp_path):
    from msknb.cli import main

    out = tmp_path / "set"
    assert main(["sample", "--model", str(two_models / "good.pt"), "--autoguide", str(two_models / "bad.pt"), "2",
                 "--masks", "prior", "--n", "2", "--steps", "3", "--out", str(out), "--quiet"]) == 0
    record = json.loads((out / "generator.json").read_text())
    assert record["autoguidance"] == {"checkpoint": "bad.pt", "weight": 2.0} and len(list((out / "images").iterdir())) == 2
    assert main(["sample", "--model", str(two_models / "good.pt"), "--autoguide", str(tmp_path / "absent.pt"), "2",
                 "--masks", "prior", "--n", "2", "--out", str(tmp_path / "x"), "--quiet"]) == 2


def test_screen_rows_pair_each_autoguided_setting_with_the_same_weights_without_it():
    from msknb.evaluation.sampling_screen import sampling_readings, sampling_rows
    from msknb.evaluation.figures import guidance_settings_figure

    def row(ratios, aligns, guidance=1.0, autoguide=None, step=5000):
        sampler = {"guidance": guidance, "guidance_interval": None, "seconds_per_image": 2.0}
        if autoguide:
            sampler["autoguidance"] = {"bad": "b.pt", "weight": autoguide, "bad_step": 2892, "bad_dim": 32}
        spread = {k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)), "values": v}
                  for k, v in (("domain_ratio", ratios), ("alignment_dice", aligns))}
        return {"step": step, "train_seconds": 100.0, "sampler": sampler, "over_seeds": {"seeds": [0, 1, 2], **spread},
                "domain": {"ratio": ratios[0]}, "alignment": {"dice_mean": aligns[0]},
                "intensity": {"mean_grey": 0.2, "real_mean_grey": 0.23, "hist_l1": 0.1}}

    screen = {"sampling": {"ag": row([2.0, 1.9, 2.1], [0.66, 0.65, 0.67], autoguide=2.0),
                               "plain": row([2.6, 2.5, 2.9], [0.66, 0.66, 0.67])},
              "training": {"cfg": row([2.8, 2.6, 3.3], [0.80, 0.81, 0.80], guidance=2.0),
                           "other weights": row([9.0, 9.0, 9.0], [0.9, 0.9, 0.9], step=7000)}}
    rows = sampling_rows(screen)
    assert [r["name"] for r in rows] == ["ag", "plain", "cfg"] and rows[0]["variant"]
    assert rows[0]["label"] == "step 5000: w 1, every step, autoguided w 2 by a width-32 model at step 2892"
    text = sampling_readings(rows)
    assert "2.00 ± 0.10" in text[0] and "below the 0.80 target" in text[0]
    assert "Lowest mean ratio with alignment >= 0.80: 2.90" in text[1]
    assert "lower in ratio on each of the 3 seeds" in text[2] and len(text) == 3
    fig = guidance_settings_figure(rows)
    assert "green: autoguided, near the mask or coarse only" in fig.axes[0].get_title()
    injected = {**row([2.2, 2.1, 2.4], [0.73, 0.74, 0.73], step=1000), "config": {"mask_injection": True},
                "started_from_step": 5000, "train_seconds": 50.0}
    screen["sampling"]["inject"] = injected   # layers trained on the step-5000 weights: read against them
    rows = sampling_rows(screen)
    inj = next(r for r in rows if r["name"] == "inject")
    assert inj["label"].startswith("step 6000 (5000 + 1000 with the mask at every level): w 1")
    assert any("step 6000 (5000 + 1000" in t and "lower in ratio on each of the 3 seeds" in t
               for t in sampling_readings(rows))
    region = row([2.4, 2.3, 2.8], [0.78, 0.78, 0.79], guidance=2.0)
    region["sampler"]["guidance_region"] = 8
    coarse = row([2.6, 2.5, 2.9], [0.76, 0.77, 0.77], guidance=2.0)
    coarse["sampler"].update(guidance_region=8, guidance_coarse=2.0)
    screen["sampling"].update(region=region, coarse=coarse)   # coarse only: read against the same without it
    rows = sampling_rows(screen)
    c = next(r for r in rows if r["name"] == "coarse")
    assert c["variant"] and c["plain_label"] == "w 2, every step, within 8 px of the mask"
    assert c["label"].endswith("within 8 px of the mask, structure coarser than 2 px only")
    assert any(t.count("structure coarser than 2 px only") == 1 and "worse in both" in t for t in sampling_readings(rows))
    injected["checkpoint"] = "layers.pt"     # every weight trained on from the layers' file: read against it
    screen["sampling"]["all weights"] = {**row([1.9, 1.8, 2.0], [0.75, 0.76, 0.75], step=500),
                                         "config": {"mask_injection": True, "freeze_base": False},
                                         "started_from": "layers.pt", "started_from_step": 6000}
    rows = sampling_rows(screen)
    assert next(r for r in rows if r["name"] == "all weights")["label"].startswith(
        "step 6500 (6000 + 500 with the mask at every level, every weight trained): w 1")
    assert any(t.count("step 6500") == 1 and t.count("step 6000 (5000 + 1000") == 1 for t in sampling_readings(rows))
    injected["config"]["loss"] = "l2"
    assert any("(5000 + 1000 with the mask at every level, L2 loss)" in r["label"] for r in sampling_rows(screen))


def test_the_null_branch_is_the_good_the_weak_or_the_autoguided_output():
    x, t = torch.zeros(2, 2, 8, 8), torch.tensor([3, 4])
    x[1, 1] = -1.0                                   # sample 0: the null mask; sample 1: a mask
    for null, expected in (("good", 1.0), ("weak", 0.25), ("guided", 1.75)):
        pair = AutoGuided(Constant(1.0), Constant(0.25), 2.0, null=null)
        pair.out_channels = 1
        out = pair(x, t)
        assert torch.allclose(out[0], torch.full((1, 8, 8), expected)), null
        assert torch.allclose(out[1], torch.full((1, 8, 8), 1.75)), null
        assert torch.allclose(pair(x[:1], t[:1])[0], torch.full((1, 8, 8), expected)), null
        assert torch.allclose(pair(x[1:], t[1:])[0], torch.full((1, 8, 8), 1.75)), null
    with pytest.raises(ConfigError, match="null must be one of"):
        AutoGuided(Constant(1.0), Constant(0.25), 2.0, null="other")
