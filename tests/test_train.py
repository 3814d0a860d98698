"""DDPM training: config validation, bit-reproducible resume after SIGKILL, checkpoint
safety (weights_only) and errors."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from msknb.errors import CheckpointError, ConfigError, TrainingError
from msknb.io import sha256_file
from msknb.ddpm.checkpoints import export_ema, load_checkpoint, load_model
from msknb.ddpm.config import TrainConfig, config_from_settings
from msknb.ddpm.train import train_ddpm
from msknb.ddpm.training_data import images_to_array

REPO = Path(__file__).resolve().parent.parent

TINY = dict(image_size=16, channels=2, dim=8, dim_mults=(1, 2), batch_size=4, epochs=3, checkpoint_every=3,
            lr=1e-3, hflip=True, seed=3)


def tiny_data(n: int = 12) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.random((n, 2, 16, 16)).astype(np.float32)
    x[:, 1] = (x[:, 1] > 0.7).astype(np.float32)
    return x


def test_config_validation_and_roundtrip():
    cfg = TrainConfig(**TINY)
    again = TrainConfig.from_dict(cfg.to_dict())
    assert again == cfg and isinstance(cfg.to_dict()["dim_mults"], list)
    for bad, name in [(dict(loss="l3"), "loss"), (dict(lr=-1.0), "lr"), (dict(channels=3), "channels"),
                      (dict(image_size=18, dim_mults=(1, 2, 4)), "image_size"), (dict(schedule="nope"), "schedule"),
                      (dict(optimizer="sgd"), "optimizer"), (dict(dim=12, resnet_groups=8), "resnet_groups"),
                      (dict(amp="fp8"), "amp")]:
        with pytest.raises(ConfigError) as e:
            TrainConfig(**{**TINY, **bad})
        assert e.value.path == name
    with pytest.raises(ConfigError, match="colour"):
        TrainConfig.from_dict({**TINY, "colour": 1})
    s = {"image_size": 16, "dim": 8, "dim_mults": (1, 2), "joint_mask": True, "n_samples": 4}
    assert config_from_settings(s, seed=5).channels == 2
    with pytest.raises(ConfigError, match="channel"):
        train_ddpm(tiny_data()[:, :1], TrainConfig(**TINY), None, progress=False)


_CHILD = textwrap.dedent("""
    import os, sys, time, numpy as np, torch
    torch.set_num_threads(1)
    sys.path.insert(0, {repo!r})
    from msknb.ddpm.config import TrainConfig
    from msknb.ddpm.train import train_ddpm
    rng = np.random.default_rng(0)
    x = rng.random((12, 2, 16, 16)).astype(np.float32); x[:, 1] = (x[:, 1] > 0.7).astype(np.float32)
    def cb(info):
        if info["step"] == {kill_at}:
            open({marker!r}, "w").write("x")
            time.sleep(120)
    train_ddpm(x, TrainConfig(**{cfg!r}), {out!r}, progress=False, callback=cb)
""")


def test_sigkill_resume_is_bit_identical(tmp_path):
    data = tiny_data()
    cfg = TrainConfig(**TINY)  # 12 images / batch 4 = 3 steps per epoch, 9 steps, checkpoints at 3, 6, 9
    ref = train_ddpm(data, cfg, None, progress=False)  # uninterrupted, writes nothing
    assert ref.steps == 9

    out = tmp_path / "killed"
    marker = tmp_path / "at_step_5"
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(repo=str(REPO), kill_at=5, marker=str(marker), cfg=cfg.to_dict(), out=str(out)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        deadline = time.time() + 60
        while not marker.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "child never reached step 5"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3  # last checkpoint before the kill

    resumed = train_ddpm(data, cfg, out, progress=False)
    assert resumed.resumed_from_step == 3 and resumed.steps == 9
    for name in ("model", "ema"):
        a, b = getattr(ref, name).state_dict(), getattr(resumed, name).state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), f"{name} weights differ after resume"
    assert ref.losses == resumed.losses

    # the checkpoint is weights_only-safe and holds everything
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert {"model", "ema", "optimizer", "rng", "step", "losses", "config"} <= set(ck)
    assert {"torch", "numpy", "python", "data"} <= set(ck["rng"])
    # finished run: calling again returns at once with the same weights
    again = train_ddpm(data, cfg, out, progress=False)
    assert again.steps == 9 and all(torch.equal(v, again.model.state_dict()[k]) for k, v in ref.model.state_dict().items())


def test_checkpoint_errors(tmp_path):
    data = tiny_data(8)
    cfg = TrainConfig(**{**TINY, "epochs": 1})
    res = train_ddpm(data, cfg, tmp_path / "a", progress=False)
    # another architecture in the same folder -> CheckpointError naming file and mismatch
    with pytest.raises(CheckpointError) as e:
        train_ddpm(data, TrainConfig(**{**TINY, "epochs": 1, "dim": 16}), tmp_path / "a", progress=False)
    assert "checkpoint.pt" in str(e.value) and "dim" in str(e.value)
    # garbage / truncated / pickled objects
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_model(bad)
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(res.checkpoint_path.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="trunc.pt"):
        load_model(trunc)
    evil = tmp_path / "evil.pt"
    torch.save({"format": "msknb-ddpm", "obj": Path("/x")}, evil)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_model(evil)
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "missing.pt")
    # EMA export (fp16) loads weights-only and matches the EMA up to fp16 rounding
    ema_path = export_ema(res.checkpoint_path, tmp_path / "ema.pt")
    model, schedule, config = load_model(ema_path)
    assert config.dim == 8 and schedule.timesteps == 300
    for k, v in res.ema.state_dict().items():
        assert torch.allclose(model.state_dict()[k], v, atol=1e-2, rtol=1e-2)
    # fine-tuning from it: 2 more steps, EMA starts from the pretrained weights
    ft = train_ddpm(data, TrainConfig(**{**TINY, "epochs": 1, "max_steps": 2}), tmp_path / "ft", progress=False,
                    init_from=ema_path)
    assert ft.started_from == str(ema_path) and ft.steps == 2
    with pytest.raises(CheckpointError, match="dim"):
        train_ddpm(data, TrainConfig(**{**TINY, "dim": 16}), tmp_path / "ft2", progress=False, init_from=ema_path)


def test_nan_loss_raises_training_error(tmp_path, monkeypatch):
    import msknb.ddpm.train as T

    real = T.D.diffusion_loss
    calls = {"n": 0}

    def flaky_loss(*args, **kwargs):  # the loss diverges at the 5th step
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 5 else loss

    monkeypatch.setattr(T.D, "diffusion_loss", flaky_loss)
    cfg = TrainConfig(**{**TINY, "checkpoint_every": 2})
    with pytest.raises(TrainingError, match=r"loss became nan at step 5") as e:
        train_ddpm(tiny_data(), cfg, tmp_path, progress=False)
    assert "checkpoint.pt" in str(e.value)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 4  # intact, untouched by the failure


def test_images_to_array():
    imgs, masks = np.zeros((3, 8, 8), np.float32), np.ones((3, 8, 8), np.uint8)
    assert images_to_array(imgs, masks, joint=True).shape == (3, 2, 8, 8)
    assert images_to_array(imgs).shape == (3, 1, 8, 8)


def test_updated_pretrained_file_is_not_silently_resumed(tmp_path):
    """A run fine-tuned from checkpoint A is not resumed when the caller now starts from a
    different file (e.g. an updated shipped checkpoint): CheckpointError, or a restart."""
    from types import SimpleNamespace

    from msknb.ddpm.groups import train_groups

    data = tiny_data(8)
    base = train_ddpm(data, TrainConfig(**{**TINY, "epochs": 1}), tmp_path / "base", progress=False)
    a = export_ema(base.checkpoint_path, tmp_path / "a.pt")
    cfg = TrainConfig(**{**TINY, "epochs": 1, "max_steps": 1})
    ft = train_ddpm(data, cfg, tmp_path / "ft", progress=False, init_from=a)
    assert load_checkpoint(ft.checkpoint_path)["started_from_sha256"]
    # same file: resumes (already finished -> returns at once)
    again = train_ddpm(data, cfg, tmp_path / "ft", progress=False, init_from=a)
    assert again.resumed_from_step == 1
    more = train_ddpm(data, TrainConfig(**{**TINY, "epochs": 2, "max_steps": None}), tmp_path / "base",
                      progress=False)
    b = export_ema(more.checkpoint_path, tmp_path / "a.pt")  # "a.pt" updated in place
    with pytest.raises(CheckpointError, match="started_from.*a.pt"):
        train_ddpm(data, cfg, tmp_path / "ft", progress=False, init_from=b)
    class OneGroup(SimpleNamespace):
        def __len__(self):
            return len(self.images)

    ds = OneGroup(images=data[:, 0], masks=(data[:, 1] > 0).astype(np.uint8), groups=["all"] * 8)
    s = {**TINY, "joint_mask": True, "epochs": 1, "max_steps": 1, "timesteps": 300}
    res = train_groups(ds, s, tmp_path / "ft", seed=TINY["seed"], progress=False, pretrained=b,
                       restart_on_mismatch=True)["all"]
    assert res.resumed_from_step == 0 and res.steps == 1
    assert load_checkpoint(res.checkpoint_path)["started_from_sha256"] == sha256_file(b)


def test_train_groups_and_form(tmp_path):
    from types import SimpleNamespace

    from msknb.ddpm.checkpoints import find_checkpoint
    from msknb.ddpm.groups import train_groups
    from msknb.ddpm.widgets import training_form

    x = tiny_data(8)
    ds = SimpleNamespace(images=x[:, 0], masks=(x[:, 1] > 0).astype(np.uint8), groups=["TA"] * 4 + ["RF"] * 4)
    s = {"image_size": 16, "dim": 8, "dim_mults": (1, 2), "joint_mask": True, "epochs": 1, "batch_size": 4,
         "timesteps": 20, "lr": 1e-3}
    res = train_groups(ds, s, tmp_path / "ddpm", progress=False)
    assert set(res) == {"TA", "RF"} and all(r.steps == 1 for r in res.values())
    assert (tmp_path / "ddpm" / "RF" / "checkpoint.pt").is_file()
    path, note = find_checkpoint(tmp_path, pretrained="no-such-file.pt")
    assert path == tmp_path / "ddpm" / "RF" / "checkpoint.pt" and "RF" in note
    assert find_checkpoint(tmp_path / "empty", pretrained="no-such-file.pt")[0] is None
    # other settings in the same folder: restart instead of raising
    res2 = train_groups(ds, {**s, "lr": 5e-4}, tmp_path / "ddpm", progress=False, restart_on_mismatch=True)
    assert all(r.resumed_from_step == 0 for r in res2.values())
    # ... and the checkpoint it could not resume is moved aside, not overwritten
    assert len(list((tmp_path / "ddpm" / "RF").glob("checkpoint.set-aside-*.pt"))) == 1
    form = training_form(lambda values: None, {"timesteps": 300, "schedule": "linear", "loss": "l1", "lr": 1e-4,
                                                "batch_size": 4, "image_size": 64, "epochs": 1})
    assert len(form.children) == 9


def test_prediction_options_in_config_and_old_checkpoints(tmp_path):
    """TrainConfig validates the objective options; a checkpoint written before they existed
    reads as eps-prediction and is still resumable by a default config."""
    with pytest.raises(ConfigError, match="ill-posed") as e:
        TrainConfig(**{**TINY, "zero_terminal_snr": True})  # eps by default
    assert e.value.path == "prediction"
    for bad, name in [(dict(prediction="score"), "prediction"), (dict(min_snr_gamma=0), "min_snr_gamma")]:
        with pytest.raises(ConfigError) as e:
            TrainConfig(**{**TINY, **bad})
        assert e.value.path == name
    assert TrainConfig(**{**TINY, "prediction": "v", "zero_terminal_snr": True, "min_snr_gamma": 5.0})
    data = tiny_data(8)
    cfg = TrainConfig(**{**TINY, "epochs": 1, "max_steps": 1})
    res = train_ddpm(data, cfg, tmp_path / "old", progress=False)
    ck = torch.load(res.checkpoint_path, weights_only=True)
    for key in ("prediction", "zero_terminal_snr", "min_snr_gamma"):
        del ck["config"][key]
    torch.save(ck, res.checkpoint_path)
    model, schedule, config = load_model(res.checkpoint_path)
    assert config.prediction == "eps" and model.prediction == "eps" and not schedule.zero_terminal_snr
    again = train_ddpm(data, TrainConfig(**{**TINY, "epochs": 1, "max_steps": 2}), tmp_path / "old", progress=False)
    assert again.resumed_from_step == 1 and again.steps == 2
    with pytest.raises(CheckpointError, match="prediction"):
        train_ddpm(data, TrainConfig(**{**TINY, "epochs": 1, "max_steps": 2, "prediction": "v"}), tmp_path / "old",
                   progress=False)


def test_cli_train_prediction_is_read_back_by_sample(tmp_path):
    from msknb.cli import main
    from msknb.paths import PHANTOM_SAMPLES_DIR

    out = tmp_path / "train"
    assert main(["train", "--data", str(PHANTOM_SAMPLES_DIR), "--profile", "smoke", "--out", str(out),
                 "--max-steps", "1", "--prediction", "v", "--zero-terminal-snr", "--min-snr-gamma", "5",
                 "--quiet"]) == 0
    ckpt = next(out.rglob("checkpoint.pt"))
    cfg = load_checkpoint(ckpt)["config_obj"]
    assert (cfg.prediction, cfg.zero_terminal_snr, cfg.min_snr_gamma) == ("v", True, 5.0)
    assert main(["sample", "--model", str(ckpt), "--n", "2", "--steps", "4", "--out", str(tmp_path / "syn"),
                 "--quiet"]) == 0
    assert len(list((tmp_path / "syn" / "images").glob("*.png"))) == 2


def test_a_corrupt_checkpoint_is_moved_aside_not_overwritten(tmp_path, capsys):
    """A new user's corrupt outputs/.../ddpm/checkpoint.pt: kept under a printed name, training starts anew."""
    from types import SimpleNamespace

    from msknb.ddpm.groups import train_groups

    x = tiny_data(4)
    class Four(SimpleNamespace):
        def __len__(self):
            return 4

    ds = Four(images=x[:, 0], masks=(x[:, 1] > 0).astype(np.uint8), groups=["all"] * 4)
    s = {"image_size": 16, "dim": 8, "dim_mults": (1, 2), "joint_mask": True, "epochs": 1, "batch_size": 4,
         "timesteps": 20, "lr": 1e-3}
    (tmp_path / "ddpm").mkdir()
    (tmp_path / "ddpm" / "checkpoint.pt").write_bytes(b"hours of training, damaged")
    res = train_groups(ds, s, tmp_path / "ddpm", progress=False, restart_on_mismatch=True)
    aside = list((tmp_path / "ddpm").glob("checkpoint.set-aside-*.pt"))
    assert len(aside) == 1 and aside[0].read_bytes() == b"hours of training, damaged"
    assert aside[0].name in capsys.readouterr().out
    assert res["all"].steps == 1 and (tmp_path / "ddpm" / "checkpoint.pt").is_file()


def test_folded_unet_is_a_256px_model_at_64px_cost():
    """fold = 4: the network sees (C·16, H/4, W/4); output has the input's size; the weights load back."""
    from msknb.ddpm.config import build_model
    from msknb.ddpm.fold import FoldedUNet

    cfg = TrainConfig(image_size=32, dim=8, dim_mults=(1, 2), fold=4, condition="mask", prediction="v",
                      zero_terminal_snr=True, timesteps=20)
    m = build_model(cfg)
    assert isinstance(m, FoldedUNet) and m.net.channels == 2 * 16 and m.net.out_channels == 16
    out = m(torch.randn(2, 2, 32, 32), torch.tensor([3, 7]))
    assert out.shape == (2, 1, 32, 32)
    with pytest.raises(ConfigError) as e:
        TrainConfig(image_size=36, dim=8, dim_mults=(1, 2), fold=4)
    assert e.value.path == "image_size"
    with pytest.raises(ConfigError) as e:
        m(torch.randn(1, 2, 30, 30), torch.tensor([1]))
    assert e.value.path == "image_size"
