"""Which images a generator saw (issue 18): records in checkpoints, unions on fine-tuning,
the shipped files' records, the generator record of the synthetic set, and 04's
conditional synthetic set at tiny scale."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from msknb import artifacts
from msknb.ddpm import provenance as P
from msknb.ddpm.checkpoints import SHIPPED_COND_DDPM, SHIPPED_DDPM, export_ema, load_checkpoint
from msknb.ddpm.config import TrainConfig
from msknb.ddpm.export import write_synthetic_set
from msknb.ddpm.synthetic_set import draw_conditional, generator_record, training_condition_masks
from msknb.ddpm.train import train_ddpm
from msknb.errors import CheckpointError, MsknbError, TrainingError
from msknb.paths import CHECKPOINTS_DIR

TINY = dict(image_size=16, channels=2, dim=8, dim_mults=(1, 2), batch_size=4, epochs=5, max_steps=2,
            timesteps=20, lr=1e-3, seed=0)
COND = dict(TINY, channels=1, condition="mask", cond_dropout=0.1)


def data(n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.random((n, 2, 16, 16)).astype(np.float32)
    x[:, 1] = 0
    x[:, 1, 3:5] = 1
    x[:, 1, 10:12] = 1
    return x


def test_ids_sha256_is_order_free_and_overlap():
    assert P.ids_sha256(["b", "a"]) == P.ids_sha256(["a", "b"]) != P.ids_sha256(["a"])
    assert P.test_overlap(["a", "b", "c"], ["c", "d", "a"]) == ["a", "c"]
    assert P.test_overlap(None, ["a"]) is None
    assert P.union_ids(["a"], None, has_parent=True) is None
    assert P.union_ids(["b"], ["a"], has_parent=True) == ["a", "b"]


def test_record_written_exported_and_unioned_on_fine_tune(tmp_path):
    ids = [f"img_{i}" for i in range(6)]
    base = train_ddpm(data(), TrainConfig(**TINY), tmp_path / "base", progress=False, ids=ids[::-1])
    assert base.training_ids == ids == P.training_ids(base.checkpoint_path)
    assert load_checkpoint(base.checkpoint_path)["training_ids_sha256"] == P.ids_sha256(ids)
    ema = export_ema(base.checkpoint_path, tmp_path / "ema.pt")
    assert P.training_ids(ema) == ids
    ft = train_ddpm(data(3), TrainConfig(**TINY), tmp_path / "ft", progress=False, init_from=ema,
                    ids=["new_1", "new_2", "img_0"])
    assert ft.training_ids == sorted(set(ids) | {"new_1", "new_2"}) == P.training_ids(ft.checkpoint_path)
    again = train_ddpm(data(3), TrainConfig(**{**TINY, "max_steps": 3}), tmp_path / "ft", progress=False,
                       init_from=ema, ids=["new_1", "new_2", "img_0"])  # resumed: the record stays
    assert again.steps == 3 and again.training_ids == ft.training_ids
    with pytest.raises(CheckpointError, match="other images"):
        train_ddpm(data(3), TrainConfig(**{**TINY, "max_steps": 4}), tmp_path / "ft", progress=False,
                   init_from=ema, ids=["x", "y", "z"])
    with pytest.raises(TrainingError):
        train_ddpm(data(3), TrainConfig(**TINY), None, progress=False, ids=["a"])


def test_unknown_parent_or_no_ids_records_none(tmp_path):
    unknown = train_ddpm(data(), TrainConfig(**TINY), tmp_path / "u", progress=False)
    assert unknown.training_ids is None and P.training_ids(unknown.checkpoint_path) is None
    parent = export_ema(unknown.checkpoint_path, tmp_path / "u.pt")
    child = train_ddpm(data(), TrainConfig(**TINY), tmp_path / "c", progress=False, init_from=parent,
                       ids=list("abcdef"))
    assert child.training_ids is None and load_checkpoint(child.checkpoint_path)["training_ids_sha256"] is None


def test_stamp_keeps_the_weights_and_checks_the_hash(tmp_path):
    run = train_ddpm(data(), TrainConfig(**TINY), tmp_path / "r", progress=False)
    src = export_ema(run.checkpoint_path, tmp_path / "e.pt")
    before = torch.load(src, weights_only=True)
    P.stamp_training_ids(src, ["b", "a"])
    after = torch.load(src, weights_only=True)
    assert after["training_ids"] == ["a", "b"]
    assert all(torch.equal(before["ema"][k], after["ema"][k]) for k in before["ema"])
    after["training_ids_sha256"] = "0" * 64
    with pytest.raises(CheckpointError, match="do not match"):
        P.training_ids(after)
    assert P.main([str(src), "--split", str(CHECKPOINTS_DIR / "dltrack_split.json")]) == 0
    assert len(P.training_ids(src)) == 369


def test_shipped_generators_record_what_they_saw():
    split = json.loads((CHECKPOINTS_DIR / "dltrack_split.json").read_text())
    joint = P.training_ids(CHECKPOINTS_DIR / SHIPPED_DDPM)
    cond = P.training_ids(CHECKPOINTS_DIR / SHIPPED_COND_DDPM)
    assert len(joint) == 463 and set(split["test"]) <= set(joint)
    assert cond == sorted(split["train"]) and len(cond) == 369
    assert P.test_overlap(cond, split["test"]) == [] and len(P.test_overlap(joint, split["test"])) == 47


def test_generator_record_round_trip_and_errors(tmp_path):
    assert artifacts.read_generator_record(tmp_path) is None
    rec = {"checkpoint": "g.pt", "training_ids": ["b", "a"], "mode": "mask", "sampler": "ddim-10", "n": 2,
           "condition_mask_ids": ["a", "b"]}
    artifacts.write_generator_record(tmp_path, rec)
    back = artifacts.read_generator_record(tmp_path)
    assert back["training_ids"] == ["a", "b"] and back["training_ids_sha256"] == P.ids_sha256(["a", "b"])
    assert back["condition_mask_ids"] == ["a", "b"] and back["n"] == 2
    artifacts.write_generator_record(tmp_path, {**rec, "training_ids": None})
    assert artifacts.read_generator_record(tmp_path)["training_ids_sha256"] is None
    path = artifacts.generator_record_path(tmp_path)
    path.write_text("{not json")
    with pytest.raises(MsknbError, match="generator.json"):
        artifacts.read_generator_record(tmp_path)
    path.write_text(json.dumps({"checkpoint": "g.pt"}))
    with pytest.raises(MsknbError, match="lacks"):
        artifacts.read_generator_record(tmp_path)
    with pytest.raises(MsknbError, match="mode"):
        artifacts.write_generator_record(tmp_path, {**rec, "mode": "dream"})


def test_conditional_synthetic_set_at_tiny_scale(tmp_path):
    x = data(4)
    run = train_ddpm(x, TrainConfig(**COND), tmp_path / "cond", progress=False, ids=["t1", "t2", "t3", "t4"])
    ckpt = export_ema(run.checkpoint_path, tmp_path / "cond.pt")
    masks, src = training_condition_masks(x[:, 1], ["t1", "t2", "t3", "t4"], 6, 16, seed=0)
    assert masks.shape == (6, 16, 16) and src[:4] == ["t1", "t2", "t3", "t4"] and src[4:] == ["augmented"] * 2
    few, few_src = training_condition_masks(x[:, 1], ["t1", "t2", "t3", "t4"], 2, 16, seed=0)
    assert len(few) == 2 and len(set(few_src)) == 2
    syn, seconds = draw_conditional(ckpt, masks, steps=3, seed=0, progress=False)
    assert syn.shape == (6, 2, 16, 16) and seconds >= 0
    np.testing.assert_array_equal(syn[:, 1], masks)
    info = write_synthetic_set(syn, artifacts.synthetic_dir(tmp_path), group="all")
    artifacts.write_generator_record(tmp_path, generator_record(ckpt, "mask", "ddim-3", info["n"],
                                                                condition_mask_ids=src))
    back = artifacts.read_synthetic(tmp_path)
    assert len(back) == 6 and back.masks is not None
    rec = artifacts.read_generator_record(tmp_path)
    assert rec["training_ids"] == ["t1", "t2", "t3", "t4"] and rec["checkpoint"] == "cond.pt"
    assert P.test_overlap(rec["training_ids"], ["t9"]) == []


def test_the_256px_default_generator_saw_only_the_kit_train_ids():
    """``msknb sample``'s default: mask-conditioned, folded 256 px, trained on kit train ids only,
    with the guidance chosen on val masks stored."""
    import json

    from msknb.ddpm.checkpoints import SHIPPED_SAMPLE_DDPM

    ck = load_checkpoint(CHECKPOINTS_DIR / SHIPPED_SAMPLE_DDPM)
    split = json.loads((CHECKPOINTS_DIR / "dltrack_split.json").read_text())
    assert ck["config"]["image_size"] == 256 and ck["config"]["fold"] == 4 and ck["config"]["condition"] == "mask"
    assert set(ck["training_ids"]) <= set(split["train"]) and not set(ck["training_ids"]) & set(split["test"])
    assert ck["guidance"] >= 1.0 and "val masks" in ck["guidance_chosen_by"] and "test" not in ck["guidance_chosen_by"]
