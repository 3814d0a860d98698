"""Training a DDPM (Ho et al. 2020) on ultrasound images, as in Katakis et al. 2023.

The network :class:`~msknb.ddpm.unet.DiffusionUNet` learns to predict the noise ``eps`` added
by the closed-form forward process (``msknb.ddpm.diffusion.q_sample``); the loss is
``|eps - eps_theta(x_t, t)|`` (L1, the paper's choice; L2 and Huber are options),
t uniform in [0, T). An exponential moving average (EMA) of the weights is what samples.

* Input data: float array (N, C, H, W) in [0, 1]; C = 1 (B-mode) or 2 (image + binary
  aponeurosis mask, "joint" mode, so each sample comes with its own label). The model
  works on [-1, 1].
* Reproducible: the model init, the data order (a seeded ``DistributedSampler`` order per
  epoch), flips, timesteps and noise (one seeded ``torch.Generator``) are all seeded;
  two CPU runs with the same config give bit-identical weights.
* Resumable: ``<out_dir>/checkpoint.pt`` is written atomically every ``checkpoint_every``
  steps and at the end, with model, EMA, optimiser, AMP scaler, every RNG state, step,
  losses and config; a run killed at any moment and resumed ends with the same weights as
  an uninterrupted one. Checkpoints hold only tensors and plain types and load with
  ``torch.load(..., weights_only=True)``.
* Multi-GPU: under ``torchrun`` (``WORLD_SIZE`` > 1) it uses DDP and a
  ``DistributedSampler``; only rank 0 writes files (a resumed multi-process run is
  seeded per rank and step, but not bit-identical to an uninterrupted one).
"""
from __future__ import annotations

import copy
import dataclasses
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from msknb.ddpm import diffusion as D
from msknb.errors import CheckpointError, ConfigError, DataError, TrainingError
from msknb.io import atomic_path, ensure_dir, sha256_file
from msknb.ddpm.unet import DiffusionUNet, count_parameters

__all__ = ["TrainConfig", "TrainResult", "train_ddpm", "build_model", "load_model", "load_checkpoint",
           "export_ema", "config_from_settings", "images_to_array", "check_pretrained", "train_groups",
           "pretrained_path", "plot_losses",
           "training_form", "register_cli", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_FULL = "msknb-ddpm"
FORMAT_EMA = "msknb-ddpm-ema"
LOSSES = ("l1", "l2", "huber")
OPTIMIZERS = ("adam", "adamw")
AMP_MODES = ("auto", "off", "bf16", "fp16")
#: config fields that may change when a run is resumed (everything else must match)
RESUMABLE_CHANGES = ("epochs", "max_steps", "max_seconds", "checkpoint_every", "sample_every", "amp", "device")
#: config fields that define the network (must match a checkpoint to load its weights)
ARCH_FIELDS = ("image_size", "channels", "dim", "dim_mults", "resnet_groups", "init_dim")


# --------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """Everything that defines a training run (units: px, steps, seconds).

    image_size: H = W of the training images (px); channels: 1 = image, 2 = image + mask;
    dim / dim_mults / resnet_groups / init_dim: U-Net size (see DiffusionUNet);
    timesteps T and schedule ('linear', 'cosine', 'quadratic', 'sigmoid');
    loss 'l1' | 'l2' | 'huber'; optimizer 'adam' | 'adamw'; lr; weight_decay (adamw);
    batch_size (per process); epochs; max_steps (cap on optimiser steps, None = no cap);
    max_seconds (stop, with a checkpoint, after this much wall time in one call);
    ema_decay; ema_start (steps before the EMA starts averaging; it copies the model
    until then, then warms up as min(decay, (1+k)/(10+k)));
    grad_clip (max grad norm, None = off); hflip (random horizontal flips);
    seed; checkpoint_every (steps); sample_every (steps, None = no preview grids);
    amp 'auto' (bf16 autocast + channels_last on CUDA, off on CPU) | 'off' | 'bf16' | 'fp16';
    device 'auto' (CUDA when present) | 'cpu' | 'cuda' | 'cuda:N'.
    """

    image_size: int = 64
    channels: int = 1
    dim: int = 64
    dim_mults: tuple = (1, 2, 4, 8)
    resnet_groups: int = 8
    init_dim: int | None = None
    timesteps: int = 300
    schedule: str = "linear"
    loss: str = "l1"
    optimizer: str = "adam"
    lr: float = 1e-4
    weight_decay: float = 0.0
    batch_size: int = 4
    epochs: int = 1
    max_steps: int | None = None
    max_seconds: float | None = None
    ema_decay: float = 0.995
    ema_start: int = 0
    grad_clip: float | None = 1.0
    hflip: bool = False
    seed: int = 0
    checkpoint_every: int = 500
    sample_every: int | None = None
    amp: str = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        self.dim_mults = tuple(int(m) for m in self.dim_mults)
        self.validate()

    def validate(self) -> "TrainConfig":
        """Raise :class:`ConfigError` naming the first bad parameter."""
        def need(ok: bool, name: str, what: str) -> None:
            if not ok:
                raise ConfigError(f"{name} = {getattr(self, name)!r}: {what}", name)

        def is_int(v) -> bool:
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        def is_num(v) -> bool:
            return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)

        need(is_int(self.image_size) and self.image_size >= 4, "image_size", "must be an integer >= 4 (px)")
        need(self.channels in (1, 2), "channels", "must be 1 (image) or 2 (image + mask)")
        need(is_int(self.dim) and self.dim >= 4 and self.dim % 2 == 0, "dim", "must be an even integer >= 4")
        need(len(self.dim_mults) >= 1 and all(m >= 1 for m in self.dim_mults), "dim_mults",
             "must be a non-empty sequence of positive integers")
        need(is_int(self.resnet_groups) and self.resnet_groups >= 1, "resnet_groups", "must be a positive integer")
        widths = [self.init_dim or self.dim] + [self.dim * m for m in self.dim_mults]
        need(all(w % self.resnet_groups == 0 for w in widths), "resnet_groups",
             f"must divide every feature width {widths}")
        need(self.init_dim is None or (is_int(self.init_dim) and self.init_dim >= 1), "init_dim",
             "must be None or a positive integer")
        f = 2 ** (len(self.dim_mults) - 1)
        need(self.image_size % f == 0, "image_size", f"must be divisible by {f} = 2 ** (len(dim_mults) - 1)")
        need(is_int(self.timesteps) and self.timesteps >= 2, "timesteps", "must be an integer >= 2")
        need(self.schedule in D.SCHEDULE_KINDS, "schedule", f"choose one of {', '.join(D.SCHEDULE_KINDS)}")
        need(self.loss in LOSSES, "loss", f"choose one of {', '.join(LOSSES)}")
        need(self.optimizer in OPTIMIZERS, "optimizer", f"choose one of {', '.join(OPTIMIZERS)}")
        need(is_num(self.lr) and 0 < self.lr < 1, "lr", "must be a number in (0, 1)")
        need(is_num(self.weight_decay) and self.weight_decay >= 0, "weight_decay", "must be >= 0")
        need(is_int(self.batch_size) and self.batch_size >= 1, "batch_size", "must be a positive integer")
        need(is_int(self.epochs) and self.epochs >= 1, "epochs", "must be a positive integer")
        need(self.max_steps is None or (is_int(self.max_steps) and self.max_steps >= 1), "max_steps",
             "must be None or a positive integer")
        need(self.max_seconds is None or (is_num(self.max_seconds) and self.max_seconds > 0), "max_seconds",
             "must be None or > 0")
        need(is_num(self.ema_decay) and 0 <= self.ema_decay < 1, "ema_decay", "must be in [0, 1)")
        need(is_int(self.ema_start) and self.ema_start >= 0, "ema_start", "must be an integer >= 0")
        need(self.grad_clip is None or (is_num(self.grad_clip) and self.grad_clip > 0), "grad_clip",
             "must be None or > 0")
        need(isinstance(self.hflip, (bool, np.bool_)), "hflip", "must be True or False")
        need(is_int(self.seed) and self.seed >= 0, "seed", "must be an integer >= 0")
        need(is_int(self.checkpoint_every) and self.checkpoint_every >= 1, "checkpoint_every",
             "must be a positive integer (steps)")
        need(self.sample_every is None or (is_int(self.sample_every) and self.sample_every >= 1), "sample_every",
             "must be None or a positive integer (steps)")
        need(self.amp in AMP_MODES, "amp", f"choose one of {', '.join(AMP_MODES)}")
        need(isinstance(self.device, str) and (self.device in ("auto", "cpu") or self.device.startswith("cuda")),
             "device", "must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (tuples become lists): JSON- and weights_only-safe."""
        d = dataclasses.asdict(self)
        d["dim_mults"] = list(self.dim_mults)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; an unknown key raises ConfigError naming it."""
        known = {f.name for f in dataclasses.fields(cls)}
        for key in d:
            if key not in known:
                raise ConfigError(f"unknown training parameter {key!r}; known: {', '.join(sorted(known))}", key)
        return cls(**d)

    def arch(self) -> dict[str, Any]:
        """The network-defining subset of the config."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.to_dict().items() if k in ARCH_FIELDS}


@dataclass
class TrainResult:
    """What :func:`train_ddpm` returns. ``model``/``ema`` are on the training device in eval
    mode; ``losses`` one float per optimiser step since step 0 (resumed runs included);
    ``steps`` total steps done; ``seconds`` wall time of this call (of the earlier run when
    the checkpoint was already finished); ``img_per_s`` training throughput of this call
    (images per second, all processes; the stored one when nothing was left to do); ``started_from`` the
    checkpoint the weights were initialised from (None = random init)."""

    model: DiffusionUNet
    ema: DiffusionUNet
    schedule: D.Schedule
    losses: list[float]
    checkpoint_path: Path | None
    steps: int
    seconds: float
    img_per_s: float
    config: TrainConfig = None
    epochs_done: float = 0.0
    resumed_from_step: int = 0
    started_from: str | None = None
    device: str = "cpu"
    preview_paths: list[Path] = field(default_factory=list)

    @property
    def final_loss(self) -> float:
        """Mean loss over the last (up to) 20 steps (nan when no step was taken)."""
        return float(np.mean(self.losses[-20:])) if self.losses else float("nan")


def build_model(config: TrainConfig) -> DiffusionUNet:
    """The U-Net for ``config`` (random init from the current torch RNG); its
    ``image_size`` attribute (px) tells samplers the training size."""
    model = DiffusionUNet(dim=config.dim, dim_mults=config.dim_mults, channels=config.channels,
                          resnet_groups=config.resnet_groups, init_dim=config.init_dim)
    model.image_size = config.image_size
    return model


# --------------------------------------------------------------------------------------
# devices, distributed
# --------------------------------------------------------------------------------------
@dataclass
class _Dist:
    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(config: TrainConfig) -> tuple[_Dist, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if config.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(config.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device 'cuda' requested but no CUDA GPU is available", "device")
    if world <= 1:
        return _Dist(), device
    import torch.distributed as dist

    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return _Dist(world, rank, local), device


def _agree(dist: _Dist, device: torch.device, *flags: bool) -> list[bool]:
    """``flags`` OR-ed over all ranks (one all-reduce under DDP; as given otherwise)."""
    if dist.world <= 1:
        return [bool(f) for f in flags]
    t = torch.tensor([float(f) for f in flags], device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def _amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or config.amp == "off":
        return None
    return torch.float16 if config.amp == "fp16" else torch.bfloat16


# --------------------------------------------------------------------------------------
# RNG states as weights_only-safe values
# --------------------------------------------------------------------------------------
def _rng_state(data_gen: torch.Generator) -> dict[str, Any]:
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


def _set_rng_state(state: dict[str, Any], data_gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss_next"]))
    data_gen.set_state(state["data"].cpu())


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


# --------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------
def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read an msknb DDPM checkpoint (full training state or EMA-only export) with
    ``torch.load(weights_only=True)``. Raises :class:`CheckpointError` naming the file
    when it is missing, unreadable, unsafe (pickled objects) or not an msknb DDPM checkpoint."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError("checkpoint file not found", p)
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds (UnpicklingError, RuntimeError, EOFError...)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointError(f"cannot read checkpoint ({type(e).__name__}: {msg[:200]})", p) from e
    if not isinstance(ckpt, dict) or ckpt.get("format") not in (FORMAT_FULL, FORMAT_EMA):
        raise CheckpointError(f"not an msknb DDPM checkpoint (expected format {FORMAT_FULL!r} or {FORMAT_EMA!r})", p)
    try:
        ckpt["config_obj"] = TrainConfig.from_dict(ckpt["config"])
    except (KeyError, TypeError, ConfigError) as e:
        raise CheckpointError(f"checkpoint has an invalid config ({e})", p) from e
    return ckpt


def _mismatches(saved: dict[str, Any], current: dict[str, Any], keys) -> list[str]:
    out = []
    for k in keys:
        a, b = saved.get(k), current.get(k)
        if isinstance(a, tuple):
            a = list(a)
        if isinstance(b, tuple):
            b = list(b)
        if a != b:
            out.append(f"{k}: checkpoint {a!r} vs now {b!r}")
    return out


def check_pretrained(path: str | Path, config: TrainConfig) -> tuple[bool, str]:
    """Whether the checkpoint at ``path`` can initialise a model for ``config``:
    ``(True, "")`` or ``(False, reason)`` (missing/unreadable file, other architecture)."""
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as e:
        return False, str(e)
    diff = _mismatches(ckpt["config"], config.to_dict(), ARCH_FIELDS + ("timesteps", "schedule"))
    return (not diff), "; ".join(diff)


def _save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def _state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    m = model.module if hasattr(model, "module") else model
    return {k: v.detach().contiguous() for k, v in m.state_dict().items()}


def export_ema(checkpoint: str | Path, out_path: str | Path, half: bool = True,
               extra: dict[str, Any] | None = None) -> Path:
    """Write an EMA-only checkpoint (for sampling / shipping) from a training checkpoint:
    ``{"format", "config", "ema" (fp16 when ``half``), "step", "losses", "seconds", ...}``,
    loadable with :func:`load_model`. Returns ``out_path``."""
    ckpt = load_checkpoint(checkpoint)
    ema = ckpt["ema"]
    if half:
        ema = {k: (v.half() if v.is_floating_point() else v) for k, v in ema.items()}
    state = {"format": FORMAT_EMA, "version": 1, "config": ckpt["config"], "ema": ema,
             "step": int(ckpt["step"]), "losses": ckpt["losses"], "seconds": float(ckpt.get("seconds", 0.0)),
             "n_images": int(ckpt.get("n_images", 0)), "started_from": ckpt.get("started_from"),
             "dtype": "float16" if half else "float32"}
    if extra:
        state.update(extra)
    return _save_checkpoint(Path(out_path), state)


def load_model(path: str | Path, map_location: str | torch.device = "cpu"
               ) -> tuple[DiffusionUNet, D.Schedule, TrainConfig]:
    """``(ema_model, schedule, config)`` from a checkpoint (training state or EMA-only),
    loaded weights-only; the model is float32, in eval mode, on ``map_location``.
    Raises :class:`CheckpointError` naming the file on any problem."""
    ckpt = load_checkpoint(path, map_location="cpu")
    config = ckpt["config_obj"]
    model = build_model(config)
    ema = {k: (v.float() if v.is_floating_point() else v) for k, v in ckpt["ema"].items()}
    try:
        model.load_state_dict(ema)
    except RuntimeError as e:
        raise CheckpointError(f"weights do not fit the architecture in the checkpoint's config ({str(e)[:300]})",
                              path) from e
    model.to(map_location).eval().requires_grad_(False)
    schedule = D.make_schedule(config.schedule, config.timesteps)
    return model, schedule, config


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------
def _check_data(data, config: TrainConfig) -> torch.Tensor:
    """(N, C, H, W) [0, 1] -> float32 tensor in [-1, 1] (CPU)."""
    arr = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    if arr.ndim != 4:
        raise DataError(f"training data must be an array (N, C, H, W), got shape {arr.shape}", "data")
    n, c, h, w = arr.shape
    if n < 1:
        raise DataError("training data is empty", "data")
    if c != config.channels:
        raise ConfigError(f"data has {c} channel(s) but config.channels = {config.channels}", "channels")
    if h != config.image_size or w != config.image_size:
        raise ConfigError(f"data is {h}x{w} px but config.image_size = {config.image_size}", "image_size")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise DataError("training data contains NaN or inf", "data")
    if arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
        raise DataError(f"training data must lie in [0, 1], got [{arr.min():.3g}, {arr.max():.3g}]", "data")
    return torch.from_numpy(np.ascontiguousarray(arr)) * 2.0 - 1.0


def images_to_array(images: np.ndarray, masks: np.ndarray | None = None, joint: bool = False) -> np.ndarray:
    """Stack an :class:`~msknb.data.loading.UltrasoundSet`'s ``images`` (N, H, W) [0, 1] and, in
    joint mode, ``masks`` (N, H, W) {0, 1} into the training array (N, C, H, W) float32."""
    imgs = np.asarray(images, dtype=np.float32)[:, None]
    if not joint:
        return imgs
    if masks is None:
        raise DataError("joint image+mask training needs masks, but the data set has none", "masks")
    m = (np.asarray(masks) > 0).astype(np.float32)[:, None]
    return np.concatenate([imgs, m], axis=1)


# --------------------------------------------------------------------------------------
# EMA
# --------------------------------------------------------------------------------------
@torch.no_grad()
def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, step: int, config: TrainConfig, warmup: bool) -> None:
    """After optimiser step ``step`` (1-based): copy before ``ema_start``, then
    ``ema = d * ema + (1 - d) * model`` with d = ema_decay (warm-up min(d, (1+k)/(10+k)))."""
    src = model.module if hasattr(model, "module") else model
    if step <= config.ema_start:
        for e, p in zip(ema.state_dict().values(), src.state_dict().values()):
            e.copy_(p)
        return
    k = step - config.ema_start
    d = min(config.ema_decay, (1 + k) / (10 + k)) if warmup else config.ema_decay
    for e, p in zip(ema.parameters(), src.parameters()):
        e.lerp_(p.detach(), 1 - d)
    for e, p in zip(ema.buffers(), src.buffers()):
        e.copy_(p)


# --------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------
def _make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


class _IndexSet(torch.utils.data.Dataset):
    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def train_ddpm(data, config: TrainConfig | dict, out_dir: str | Path | None, resume: bool = True,
               progress: bool = True, callback: Callable[[dict[str, Any]], None] | None = None,
               init_from: str | Path | None = None) -> TrainResult:
    """Train (or resume training) a DDPM noise predictor.

    Parameters
    ----------
    data : float array/tensor (N, C, H, W) in [0, 1] (C = config.channels, H = W =
        config.image_size; joint mode: channel 1 = mask in {0, 1}).
    config : :class:`TrainConfig` (or its dict).
    out_dir : folder for ``checkpoint.pt`` (and ``samples_step*.png`` previews); None =
        write nothing (no resume either).
    resume : continue from ``out_dir/checkpoint.pt`` when it exists. A checkpoint from
        another architecture/config raises :class:`CheckpointError` naming the mismatch;
        a checkpoint already at the final step returns at once.
    callback : called after every step with ``{"step", "epoch", "loss", "total_steps", "checkpoint"}``.
    init_from : checkpoint (training or EMA-only, e.g. the shipped one) whose EMA weights
        initialise model and EMA when there is nothing to resume (fine-tuning; the EMA
        then averages from the start, without warm-up).

    The loss is the paper's simplified objective |eps - eps_theta(x_t, t)| (``config.loss``).
    A NaN/inf loss raises :class:`TrainingError` naming the step; the last checkpoint is
    left as it was. Returns :class:`TrainResult`.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(dict(config))
    cfg.validate()
    x_all = _check_data(data, cfg)
    n_images = int(x_all.shape[0])
    dist, device = _init_distributed(cfg)
    amp_dtype = _amp_dtype(cfg, device)
    out = ensure_dir(out_dir) if (out_dir is not None and dist.main) else (Path(out_dir) if out_dir else None)
    ckpt_path = out / CHECKPOINT_NAME if out is not None else None

    # --- build everything from the seed --------------------------------------------------
    _seed_everything(cfg.seed)
    model = build_model(cfg)
    ema = copy.deepcopy(model).requires_grad_(False)
    data_gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 17 + dist.rank)
    schedule = D.make_schedule(cfg.schedule, cfg.timesteps)
    step, losses, seconds_before, started_from, started_sha, warmup = 0, [], 0.0, None, None, True
    prev_ips = float("nan")

    resume_state = None
    if resume and ckpt_path is not None and ckpt_path.is_file():
        resume_state = load_checkpoint(ckpt_path)
        if resume_state["format"] != FORMAT_FULL:
            raise CheckpointError("holds EMA weights only; cannot resume training from it "
                                  "(pass it as init_from, or use another out_dir)", ckpt_path)
        diff = _mismatches(resume_state["config"], cfg.to_dict(),
                           [k for k in cfg.to_dict() if k not in RESUMABLE_CHANGES])
        if int(resume_state.get("n_images", n_images)) != n_images:
            diff.append(f"n_images: checkpoint {resume_state['n_images']} vs now {n_images}")
        init_diff = _init_mismatch(resume_state, init_from)
        if init_diff:
            diff.append(init_diff)
        if diff:
            raise CheckpointError("checkpoint is from a different configuration (" + "; ".join(diff)
                                  + "); use another out_dir or resume=False", ckpt_path)
        try:
            model.load_state_dict(resume_state["model"])
            ema.load_state_dict(resume_state["ema"])
        except RuntimeError as e:
            raise CheckpointError(f"weights do not fit the architecture ({str(e)[:300]})", ckpt_path) from e
        step = int(resume_state["step"])
        losses = [float(v) for v in resume_state["losses"].tolist()]
        seconds_before = float(resume_state.get("seconds", 0.0))
        started_from = resume_state.get("started_from")
        started_sha = resume_state.get("started_from_sha256")
        warmup = bool(resume_state.get("ema_warmup", True))
        prev_ips = float(resume_state.get("img_per_s", float("nan")))
    elif init_from is not None:
        ok, why = check_pretrained(init_from, cfg)
        if not ok:
            raise CheckpointError(f"cannot initialise from it: {why}", init_from)
        pre = load_checkpoint(init_from)
        weights = {k: (v.float() if v.is_floating_point() else v) for k, v in pre["ema"].items()}
        model.load_state_dict(weights)
        ema.load_state_dict(weights)
        started_from = str(init_from)
        started_sha = sha256_file(init_from)
        warmup = False

    model.to(device)
    ema.to(device)
    if device.type == "cuda" and cfg.amp != "off":
        model.to(memory_format=torch.channels_last)
        ema.to(memory_format=torch.channels_last)
    optimizer = _make_optimizer(model, cfg)
    scaler = torch.amp.GradScaler("cuda", enabled=(amp_dtype == torch.float16))
    if resume_state is not None:
        optimizer.load_state_dict(resume_state["optimizer"])
        if resume_state.get("scaler") and scaler.is_enabled():
            scaler.load_state_dict(resume_state["scaler"])
        _set_rng_state(resume_state["rng"], data_gen)
        if dist.world > 1:  # only rank 0's generator is stored: give each rank its own stream again
            data_gen.manual_seed(cfg.seed * 1_000_003 + 17 + dist.rank + 7919 * step)
    train_model = model
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    sampler = torch.utils.data.DistributedSampler(_IndexSet(n_images), num_replicas=dist.world, rank=dist.rank,
                                                  shuffle=True, seed=cfg.seed, drop_last=False)
    per_rank = len(sampler)
    steps_per_epoch = math.ceil(per_rank / cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    resumed_from = step

    def checkpoint_state() -> dict[str, Any]:
        return {"format": FORMAT_FULL, "version": 1, "config": cfg.to_dict(), "arch": model.arch(),
                "model": _state_dict(model), "ema": _state_dict(ema), "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict() if scaler.is_enabled() else {}, "rng": _rng_state(data_gen),
                "step": step, "epoch": step // steps_per_epoch, "losses": torch.tensor(losses, dtype=torch.float64),
                "n_images": n_images, "seconds": seconds_before + (time.perf_counter() - t_start),
                "started_from": started_from, "started_from_sha256": started_sha, "ema_warmup": warmup,
                "n_params": count_parameters(model), "device": str(device),
                "img_per_s": (images_seen / (time.perf_counter() - t_start)) if images_seen else prev_ips}

    bar = None
    if progress and dist.main and step < total_steps:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=step, desc="DDPM training", unit="step")
    t_start = time.perf_counter()
    images_seen = 0
    previews: list[Path] = []
    order: list[int] = []
    order_epoch = -1
    model.train()
    try:
        while step < total_steps:
            epoch, pos = divmod(step, steps_per_epoch)
            if epoch != order_epoch:
                sampler.set_epoch(epoch)
                order, order_epoch = list(sampler), epoch
            idx = torch.tensor(order[pos * cfg.batch_size:(pos + 1) * cfg.batch_size], dtype=torch.long)
            x0 = x_all[idx]
            if cfg.hflip:
                flip = torch.rand(x0.shape[0], generator=data_gen) < 0.5
                x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
            t = torch.randint(0, cfg.timesteps, (x0.shape[0],), generator=data_gen)
            noise = torch.randn(x0.shape, generator=data_gen)
            x0, t, noise = x0.to(device), t.to(device), noise.to(device)
            if device.type == "cuda" and amp_dtype is not None:
                x0, noise = x0.contiguous(memory_format=torch.channels_last), noise.contiguous(memory_format=torch.channels_last)

            def denoise(x_t: torch.Tensor, tb: torch.Tensor) -> torch.Tensor:
                with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                    return train_model(x_t, tb).float()

            loss = D.diffusion_loss(denoise, schedule, x0, t=t, noise=noise, loss=cfg.loss)
            value = float(loss.detach())
            # every rank must take the same decision, or DDP waits forever for the one that left
            bad_loss, out_of_time = _agree(dist, device, not math.isfinite(value),
                                           cfg.max_seconds is not None and time.perf_counter() - t_start >= cfg.max_seconds)
            if bad_loss:
                what = value if not math.isfinite(value) else "non-finite on another rank"
                raise TrainingError(f"loss became {what} at step {step + 1} (epoch {epoch + 1}); "
                                    f"lower lr or use grad_clip; the last checkpoint "
                                    f"({ckpt_path if ckpt_path and ckpt_path.is_file() else 'none'}) is left intact",
                                    ckpt_path)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            step += 1
            _ema_update(ema, model, step, cfg, warmup)
            losses.append(value)
            images_seen += int(x0.shape[0]) * dist.world
            wrote = None
            if ckpt_path is not None and dist.main and (step % cfg.checkpoint_every == 0 or step == total_steps
                                                        or out_of_time):
                wrote = _save_checkpoint(ckpt_path, checkpoint_state())
            if out is not None and dist.main and cfg.sample_every and step % cfg.sample_every == 0:
                previews.append(_write_preview(ema, schedule, cfg, out / f"samples_step{step:07d}.png", device))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{value:.4f}", epoch=epoch + 1)
            if callback is not None:
                callback({"step": step, "epoch": epoch + 1, "loss": value, "total_steps": total_steps,
                          "checkpoint": wrote})
            if out_of_time:
                break
    finally:
        if bar is not None:
            bar.close()
    if dist.world > 1:  # the other ranks wait until rank 0 has written the last checkpoint
        torch.distributed.barrier()
    seconds = time.perf_counter() - t_start
    img_per_s = images_seen / seconds if images_seen else prev_ips
    if not images_seen and resume_state is not None:  # already finished: report the run that was resumed
        seconds = seconds_before
    model.eval()
    ema.eval()
    return TrainResult(model=model, ema=ema, schedule=schedule, losses=losses,
                       checkpoint_path=ckpt_path if ckpt_path is not None and ckpt_path.is_file() else None,
                       steps=step, seconds=seconds, img_per_s=img_per_s,
                       config=cfg, epochs_done=step / steps_per_epoch, resumed_from_step=resumed_from,
                       started_from=started_from, device=str(device), preview_paths=previews)


@torch.no_grad()
def _write_preview(ema: torch.nn.Module, schedule: D.Schedule, cfg: TrainConfig, path: Path,
                   device: torch.device, n: int = 8, steps: int = 25) -> Path:
    """A PNG grid of ``n`` DDIM samples of the EMA model (its own generator: training
    RNG untouched). Image row on top, mask row below in joint mode."""
    from msknb.ddpm.sample import save_grid_png

    was_training = ema.training
    ema.eval()
    gen = torch.Generator().manual_seed(cfg.seed + 12345)
    x = D.ddim_sample_loop(lambda xt, tb: ema(xt, tb).float(), schedule.to(device),
                           (n, cfg.channels, cfg.image_size, cfg.image_size),
                           steps=min(steps, cfg.timesteps), generator=gen, progress=False, device=device)
    ema.train(was_training)
    return save_grid_png(((x.clamp(-1, 1) + 1) / 2).cpu().numpy(), path)


# --------------------------------------------------------------------------------------
# profiles, groups, widgets
# --------------------------------------------------------------------------------------
def config_from_settings(settings: dict[str, Any], seed: int = 0, **extra: Any) -> TrainConfig:
    """A :class:`TrainConfig` from ``msknb.profiles.settings("ddpm", ...)`` values
    (``joint_mask`` -> channels 2); ``extra`` sets any other TrainConfig field."""
    keys = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in settings.items() if k in keys}
    values["channels"] = 2 if settings.get("joint_mask") else 1
    values["seed"] = seed
    values.update(extra)
    return TrainConfig.from_dict(values)


def pretrained_path(name: str | Path | None) -> Path | None:
    """Path of a shipped checkpoint (a name in ``msknb/checkpoints``, or any path);
    None when ``name`` is None or the file does not exist."""
    if not name:
        return None
    from msknb.paths import CHECKPOINTS_DIR

    p = Path(name)
    for cand in (p, CHECKPOINTS_DIR / p):
        if cand.is_file():
            return cand
    return None


def _init_mismatch(state: dict[str, Any], init_from: str | Path | None) -> str:
    """'' when a run saved as ``state`` may be resumed by a call that names ``init_from``
    (none named, or the run was initialised from a file with the same SHA-256), else why
    not: e.g. the shipped checkpoint was updated since the run started from it."""
    if init_from is None:
        return ""
    now = sha256_file(init_from)
    saved = state.get("started_from_sha256")
    if saved == now:
        return ""
    was = Path(state["started_from"]).name if state.get("started_from") else "random weights"
    return (f"started_from: checkpoint initialised from {was} (sha256 {(saved or 'unknown')[:12]}) "
            f"vs now {Path(init_from).name} (sha256 {now[:12]})")


def _resume_mismatch(ckpt_path: Path, config: TrainConfig, init_from: str | Path | None = None) -> str:
    """'' when ``ckpt_path`` is absent or resumable with ``config`` (and ``init_from``, see
    :func:`_init_mismatch`), else the reason."""
    if not ckpt_path.is_file():
        return ""
    try:
        ck = load_checkpoint(ckpt_path)
    except CheckpointError as e:
        return str(e)
    if ck["format"] != FORMAT_FULL:
        return "holds EMA weights only"
    diff = _mismatches(ck["config"], config.to_dict(), [k for k in config.to_dict() if k not in RESUMABLE_CHANGES])
    init_diff = _init_mismatch(ck, init_from)
    return "; ".join(diff + ([init_diff] if init_diff else []))


def train_groups(ds, settings: dict[str, Any], out_dir: str | Path, seed: int = 0, progress: bool = True,
                 pretrained: str | Path | None = None, restart_on_mismatch: bool = False,
                 strict_pretrained: bool = False, **extra: Any) -> dict[str, TrainResult]:
    """One DDPM per group (muscle) of an :class:`~msknb.data.loading.UltrasoundSet`, as in the paper.

    A single group trains into ``out_dir/checkpoint.pt``; several into
    ``out_dir/<group>/checkpoint.pt``. An existing checkpoint there is resumed (a finished
    one returns at once); with ``restart_on_mismatch`` one from other settings is replaced
    (with a printed note) instead of raising :class:`CheckpointError`. ``pretrained``
    initialises every model from that checkpoint when its architecture fits (else from
    scratch, with a printed note). Returns ``{group: TrainResult}``.
    """
    groups = sorted(set(ds.groups)) if getattr(ds, "groups", None) else ["all"]
    config = config_from_settings(settings, seed=seed, **extra)
    if config.channels == 2 and ds.masks is None:
        raise DataError("joint image+mask training (joint_mask=True) needs masks; this data set has none", "masks")
    init = None
    if pretrained is not None:
        ok, why = check_pretrained(pretrained, config)
        if ok:
            init = pretrained
        elif strict_pretrained:  # the user named this checkpoint: a mismatch is an error
            raise CheckpointError(f"cannot initialise from it: {why}", pretrained)
        else:
            print(f"not starting from {pretrained}: {why}; training from scratch")
    results = {}
    for g in groups:
        idx = list(range(len(ds))) if len(groups) == 1 else [i for i, gi in enumerate(ds.groups) if gi == g]
        arr = images_to_array(ds.images[idx], None if ds.masks is None else ds.masks[idx],
                              joint=config.channels == 2)
        target = Path(out_dir) if len(groups) == 1 else Path(out_dir) / g
        resume = True
        why = _resume_mismatch(target / CHECKPOINT_NAME, config, init)
        if why and restart_on_mismatch:
            print(f"{target / CHECKPOINT_NAME}: from other settings ({why}); starting over")
            resume = False
        results[g] = train_ddpm(arr, config, target, resume=resume, progress=progress, init_from=init)
    return results


def plot_losses(losses: list[float], smooth: int = 20, title: str = "DDPM training loss"):
    """Matplotlib figure: loss per optimiser step (light) and its running mean over
    ``smooth`` steps. Returns the Figure."""
    import matplotlib.pyplot as plt

    y = np.asarray(losses, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6, 3))
    if y.size:
        ax.plot(np.arange(1, y.size + 1), y, lw=0.6, alpha=0.4, label="per step")
        k = max(1, min(smooth, y.size))
        run = np.convolve(y, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(k, y.size + 1), run, lw=1.5, label=f"mean of {k}")
        ax.legend()
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss |eps - eps_theta|")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def training_form(on_train: Callable[[dict[str, Any]], Any], defaults: dict[str, Any]):
    """An ipywidgets form (timesteps, schedule, loss, lr, batch size, image size, epochs)
    with a *Train* button calling ``on_train(values)``; its output appears below the form.
    Returns the ``VBox`` (display it). ``defaults`` = settings("ddpm", ...)."""
    import ipywidgets as W

    style = {"description_width": "110px"}
    w = {
        "timesteps": W.IntSlider(value=defaults["timesteps"], min=10, max=1000, step=10, description="timesteps T",
                                 style=style),
        "schedule": W.Dropdown(options=list(D.SCHEDULE_KINDS), value=defaults["schedule"], description="schedule",
                               style=style),
        "loss": W.Dropdown(options=list(LOSSES), value=defaults["loss"], description="loss", style=style),
        "lr": W.FloatLogSlider(value=defaults["lr"], base=10, min=-5, max=-2, description="learning rate",
                               style=style),
        "batch_size": W.IntSlider(value=defaults["batch_size"], min=1, max=64, description="batch size", style=style),
        "image_size": W.Dropdown(options=[32, 64, 128, 256], value=defaults["image_size"], description="image size",
                                 style=style),
        "epochs": W.IntSlider(value=defaults["epochs"], min=1, max=300, description="epochs", style=style),
    }
    button = W.Button(description="Train", button_style="primary", icon="play")
    output = W.Output()

    def clicked(_):
        with output:
            output.clear_output()
            on_train({k: v.value for k, v in w.items()})

    button.on_click(clicked)
    return W.VBox([*w.values(), button, output])


# --------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------
def _cli_train(args) -> int:
    from msknb.data import loading as msk_data
    from msknb.profiles import settings

    s = settings("ddpm", args.profile, epochs=args.epochs, image_size=args.image_size,
                 joint_mask=True if args.joint else None, max_steps=args.max_steps)
    ds = msk_data.load_folder(args.data, image_size=s["image_size"], max_images=s.get("max_images"), seed=args.seed)
    extra = {"checkpoint_every": args.checkpoint_every} if args.checkpoint_every else {}
    if args.max_seconds:
        extra["max_seconds"] = args.max_seconds
    if args.hflip:
        extra["hflip"] = True
    if args.sample_every:
        extra["sample_every"] = args.sample_every
    if args.lr:
        extra["lr"] = args.lr
    if args.batch_size:
        extra["batch_size"] = args.batch_size
    pretrained = args.init_from
    results = train_groups(ds, s, args.out, seed=args.seed, progress=not args.quiet, pretrained=pretrained,
                           strict_pretrained=pretrained is not None, **extra)
    if torch.distributed.is_initialized() and torch.distributed.get_rank() != 0:  # torchrun: rank 0 reports, exports
        return 0
    for g, r in results.items():
        print(f"{g}: {r.steps} steps, final loss {r.final_loss:.4f}, {r.img_per_s:.1f} img/s, "
              f"{r.seconds:.0f} s -> {r.checkpoint_path}")
    if args.export:
        for g, r in results.items():
            if r.checkpoint_path is not None:
                dst = Path(args.export) if len(results) == 1 else Path(args.export).with_name(
                    f"{Path(args.export).stem}_{g}.pt")
                export_ema(r.checkpoint_path, dst, half=True,
                           extra={"img_per_s_last_session": float(r.img_per_s)})
                print(f"EMA weights (fp16) -> {dst}")
    return 0


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a DDPM on a data folder (resumable)",
                              description="Train the paper's DDPM (eps-prediction, L1) on a data folder; "
                                          "re-running the same command resumes from <out>/checkpoint.pt.")
    p.add_argument("--data", required=True, help="data folder (DL_Track layout, TIFF layout, DICOMs, images)")
    p.add_argument("--profile", default="quick", help="smoke | quick | paper")
    p.add_argument("--out", required=True, help="output folder for checkpoint.pt")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--max-seconds", type=float, default=None, help="stop (with a checkpoint) after this wall time")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--joint", action="store_true", help="train on image + aponeurosis mask (2 channels)")
    p.add_argument("--hflip", action="store_true", help="random horizontal flips")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints")
    p.add_argument("--sample-every", type=int, default=None, help="steps between preview sample grids (PNG)")
    p.add_argument("--init-from", default=None, help="initialise from this checkpoint (fine-tuning)")
    p.add_argument("--export", default=None, help="also write the EMA weights (fp16) to this file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli_train)
