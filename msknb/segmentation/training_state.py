"""The resumable state of a segmenter training run (one file, rewritten after every epoch).

A run killed at any moment loses at most the epoch in progress: re-running the same
command with the same ``state_path`` continues after the last finished epoch (model,
optimiser, learning-rate schedule, random generator, best epoch so far, history). A state
file that cannot be read, or that comes from other settings, is moved aside
(:func:`msknb.io.move_aside`), never overwritten.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from msknb.io import atomic_path, move_aside

#: settings that must agree for a run to continue from a state file
RESUME_KEYS = ("channels", "strides", "batch_size", "lr", "lr_step", "lr_gamma", "loss", "augment",
               "samples_per_epoch", "min_samples_per_epoch", "image_size")


def run_signature(cfg: dict[str, Any], seed: int, n_train: int, n_val: int, init: str | None) -> dict[str, Any]:
    """What identifies a run: its settings, seed, data sizes and starting weights."""
    sig = {k: cfg.get(k) for k in RESUME_KEYS}
    sig = {k: list(v) if isinstance(v, tuple) else v for k, v in sig.items()}
    return {**sig, "seed": int(seed), "n_train": int(n_train), "n_val": int(n_val), "init_from": init}


def save_state(path: str | Path, signature: dict[str, Any], model, opt, sched, gen: torch.Generator,
               best: tuple[float, int, dict], history: list[dict[str, float]]) -> Path:
    """Write the state after a finished epoch (atomically: a kill mid-write keeps the old file)."""
    state = {"signature": signature, "model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
             "best": {"score": best[0], "epoch": best[1], "weights": best[2]}, "history": history}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_state(path: str | Path, signature: dict[str, Any]) -> dict[str, Any] | None:
    """The state stored at ``path`` when it exists, reads and matches ``signature``;
    else None (an unusable file is moved aside with a printed note)."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
        stored = state["signature"]
    except Exception as e:  # noqa: BLE001 - any unreadable file is set aside, never overwritten
        move_aside(p, f"unreadable training state ({type(e).__name__})")
        return None
    diff = sorted(k for k in set(stored) | set(signature) if stored.get(k) != signature.get(k))
    if diff:
        move_aside(p, "training state from other settings (" + ", ".join(
            f"{k}: {stored.get(k)!r} vs {signature.get(k)!r}" for k in diff) + ")")
        return None
    return state


def restore(state: dict[str, Any], model, opt, sched, gen: torch.Generator) -> tuple[tuple[float, int, dict], list]:
    """Put a loaded state back into the run's objects; returns ``(best, history)``."""
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    gen.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    b = state["best"]
    return (float(b["score"]), int(b["epoch"]), b["weights"]), list(state["history"])
