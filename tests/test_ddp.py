"""The training entry point under ``torchrun`` (DDP, gloo on CPU): two ranks stay in step,
rank 0 writes the checkpoint, and a stop decided by one rank (its own clock passed
``max_seconds``) is taken by all of them instead of leaving the others waiting in a
collective for a rank that has left."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent

_SCRIPT = textwrap.dedent("""
    import os, sys, time, numpy as np, torch
    torch.set_num_threads(1)
    sys.path.insert(0, {repo!r})
    from msknb.ddpm.config import TrainConfig
    from msknb.ddpm.train import train_ddpm
    rank = int(os.environ["RANK"])
    rng = np.random.default_rng(0)
    x = rng.random((12, 2, 16, 16)).astype(np.float32); x[:, 1] = (x[:, 1] > 0.7).astype(np.float32)
    cfg = TrainConfig(image_size=16, channels=2, dim=8, dim_mults=(1, 2), batch_size=2, epochs=2,
                      checkpoint_every=2, lr=1e-3, seed=3, max_seconds={max_seconds!r})
    import msknb.ddpm.train as T
    skew = [0.0]
    T.time = type("Clock", (), {{"perf_counter": staticmethod(lambda: time.perf_counter() + skew[0])}})
    def skew_rank_1(info):  # from step 2 on, rank 1's clock says its time is up; rank 0's does not
        if rank == 1 and info["step"] == 1 and {skew!r}:
            skew[0] = 1000.0
    res = train_ddpm(x, cfg, {out!r}, progress=False, callback=skew_rank_1)
    torch.save({{"steps": res.steps, "model": res.model.state_dict(), "world": int(os.environ["WORLD_SIZE"]),
                 "checkpoint": str(res.checkpoint_path)}}, os.path.join({out!r}, f"rank{{rank}}.pt"))
""")


def _torchrun(tmp_path: Path, name: str, max_seconds=None, skew=False) -> list[dict]:
    out = tmp_path / name
    out.mkdir()
    script = tmp_path / f"{name}.py"
    script.write_text(_SCRIPT.format(repo=str(REPO), out=str(out), max_seconds=max_seconds, skew=skew))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]


@pytest.mark.timeout(600)
def test_torchrun_two_ranks_train_one_model(tmp_path):
    from msknb.ddpm.checkpoints import load_checkpoint

    r0, r1 = _torchrun(tmp_path, "full")
    assert r0["world"] == r1["world"] == 2
    # 12 images over 2 ranks, batch 2 -> 3 steps per epoch, 2 epochs
    assert r0["steps"] == r1["steps"] == 6
    for k, v in r0["model"].items():  # DDP averaged the gradients: identical weights on both ranks
        assert torch.equal(v, r1["model"][k]), k
    ckpt = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    assert ckpt["step"] == 6 and ckpt["n_images"] == 12
    assert all(torch.equal(v, ckpt["model"][k]) for k, v in r0["model"].items())
    assert r1["checkpoint"].endswith("checkpoint.pt")  # rank 1 returns after rank 0 wrote it

    # rank 1's clock passes max_seconds at step 2, rank 0's never does: both stop after step 2
    # (were rank 0 to go on alone, its step-3 all-reduce would wait for rank 1 forever)
    s0, s1 = _torchrun(tmp_path, "timed", max_seconds=500.0, skew=True)
    assert s0["steps"] == s1["steps"] == 2
    assert load_checkpoint(tmp_path / "timed" / "checkpoint.pt")["step"] == 2
