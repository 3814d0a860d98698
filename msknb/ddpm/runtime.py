"""Where and how a training run executes: devices and DDP, mixed precision, seeding, RNG state.

* ``init_distributed``: under ``torchrun`` (``WORLD_SIZE`` > 1) joins the process group
  (NCCL on CUDA, gloo on CPU) and picks each rank's device; ``agree`` OR-s stop flags over
  all ranks, so every rank takes the same decision.
* ``amp_dtype``: bf16 (or fp16) autocast on CUDA, none on CPU; ``autocast_forward`` runs a
  network under it.
* ``rng_state`` / ``set_rng_state``: every RNG (torch, CUDA, numpy, Python, the data
  generator) as weights_only-safe tensors and plain values, for bit-exact resume.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed

from msknb.errors import ConfigError


@dataclass
class Dist:
    """This process's place in a (possibly one-process) run."""

    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> tuple[Dist, torch.device]:
    """``(Dist, device)`` for ``device_name`` ('auto' | 'cpu' | 'cuda' | 'cuda:N'); joins the
    process group when ``WORLD_SIZE`` > 1 (each rank on ``cuda:LOCAL_RANK``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if device_name == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(device_name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device 'cuda' requested but no CUDA GPU is available", "device")
    if world <= 1:
        return Dist(), device
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Dist(world, rank, local), device


def agree(dist: Dist, device: torch.device, *flags: bool) -> list[bool]:
    """``flags`` OR-ed over all ranks (one all-reduce under DDP; as given otherwise)."""
    if dist.world <= 1:
        return [bool(f) for f in flags]
    t = torch.tensor([float(f) for f in flags], device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for config.amp on ``device``: None on CPU or with 'off'."""
    if device.type != "cuda" or amp == "off":
        return None
    return torch.float16 if amp == "fp16" else torch.bfloat16


def autocast_forward(model: torch.nn.Module, device: torch.device, dtype: torch.dtype | None) -> Callable:
    """``f(x_t, t) -> model(x_t, t)`` in float32, run under autocast to ``dtype`` (None = off)."""
    def forward(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            return model(x_t, t).float()

    return forward


def rng_state(data_gen: torch.Generator) -> dict[str, Any]:
    """Every RNG state (torch, CUDA, numpy, Python, ``data_gen``) as weights_only-safe values."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": {"name": str(np_state[0]), "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": int(py_state[0]), "state": torch.tensor(py_state[1], dtype=torch.int64),
                   "gauss_next": py_state[2]},
        "data": data_gen.get_state(),
    }


def set_rng_state(state: dict[str, Any], data_gen: torch.Generator) -> None:
    """Inverse of :func:`rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss_next"]))
    data_gen.set_state(state["data"].cpu())


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
