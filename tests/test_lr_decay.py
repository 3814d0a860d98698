"""Cosine learning-rate decay and EMA snapshots of long DDPM runs (msknb.ddpm.lr_schedule)."""
from __future__ import annotations

import pytest
import torch

from msknb.ddpm.checkpoints import load_checkpoint, load_model
from msknb.ddpm.config import TrainConfig
from msknb.ddpm.lr_schedule import cosine_lr
from msknb.ddpm.train import train_ddpm
from msknb.errors import ConfigError

TINY = dict(image_size=16, dim=8, dim_mults=(1, 2), batch_size=2, epochs=100, lr=1e-3, seed=1, device="cpu",
            checkpoint_every=2)


def test_cosine_lr_follows_torch_cosine_annealing():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.1)
    for step in range(11):
        assert cosine_lr(step + 5, 1.0, 5, 15, 0.1) == pytest.approx(opt.param_groups[0]["lr"], abs=1e-9)
        opt.step()
        sched.step()
    assert cosine_lr(3, 1.0, 5, 15, 0.1) == 1.0  # constant before the start
    assert cosine_lr(99, 1.0, 5, 15, 0.1) == 0.1  # lr_min after the end


def test_lr_decay_config_is_checked():
    with pytest.raises(ConfigError, match="lr_decay"):
        TrainConfig(**{**TINY, "lr_decay": "step"})
    with pytest.raises(ConfigError, match="lr_min"):
        TrainConfig(**{**TINY, "lr_decay": "cosine", "lr_min": 1.0})
    with pytest.raises(ConfigError, match="snapshot_every"):
        TrainConfig(**{**TINY, "snapshot_every": 0})


def test_a_run_gets_a_decaying_tail_and_snapshots_when_resumed(tmp_path):
    x = torch.rand(6, 1, 16, 16)
    first = train_ddpm(x, {**TINY, "max_steps": 4}, tmp_path, progress=False)
    assert first.steps == 4
    tail = {**TINY, "max_steps": 8, "lr_decay": "cosine", "lr_decay_start": 4, "lr_min": 1e-5,
            "ema_decay": 0.99, "snapshot_every": 3}
    resumed = train_ddpm(x, tail, tmp_path, progress=False)
    assert resumed.resumed_from_step == 4 and resumed.steps == 8
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(cosine_lr(7, 1e-3, 4, 8, 1e-5))
    snaps = sorted(p.name for p in (tmp_path / "snapshots").iterdir())
    assert snaps == ["ema_step0000006.pt"]
    model, _, cfg = load_model(tmp_path / "snapshots" / snaps[0])
    snap = load_checkpoint(tmp_path / "snapshots" / snaps[0])
    assert snap["step"] == 6 and snap["dtype"] == "float16" and cfg.lr_decay == "cosine"


def test_decay_is_reproducible_across_a_resume(tmp_path):
    x = torch.rand(6, 1, 16, 16)
    cfg = {**TINY, "max_steps": 6, "lr_decay": "cosine", "lr_decay_start": 1}
    whole = train_ddpm(x, cfg, None, progress=False)
    train_ddpm(x, {**cfg, "max_steps": 6, "max_seconds": 1e-9}, tmp_path, progress=False)  # stops after 1 step
    resumed = train_ddpm(x, cfg, tmp_path, progress=False)
    assert resumed.steps == 6
    assert all(torch.equal(v, resumed.ema.state_dict()[k]) for k, v in whole.ema.state_dict().items())


def test_snapshots_of_one_run_average_into_one_file_and_other_runs_are_refused(tmp_path):
    from msknb.ddpm.checkpoints import CheckpointError, average_snapshots

    x = torch.rand(6, 1, 16, 16)
    train_ddpm(x, {**TINY, "max_steps": 4, "snapshot_every": 2}, tmp_path / "run", progress=False)
    snaps = sorted((tmp_path / "run" / "snapshots").iterdir())
    out = average_snapshots(snaps, tmp_path / "mean.pt", half=False)
    mean, each = load_checkpoint(out), [load_checkpoint(p) for p in snaps]
    assert mean["averaged_steps"] == [2, 4] and mean["step"] == 4
    key = next(k for k, v in mean["ema"].items() if v.is_floating_point())
    expected = (each[0]["ema"][key].float() + each[1]["ema"][key].float()) / 2
    assert torch.allclose(mean["ema"][key], expected, atol=1e-3)
    load_model(out)
    train_ddpm(x, {**TINY, "dim": 16, "max_steps": 2, "snapshot_every": 2}, tmp_path / "other", progress=False)
    other = next((tmp_path / "other" / "snapshots").iterdir())
    with pytest.raises(CheckpointError, match="not a snapshot of the same run.*dim"):
        average_snapshots([snaps[0], other], tmp_path / "x.pt")
