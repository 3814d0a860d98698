"""Training a DDPM (Ho et al. 2020) on ultrasound images, as in Katakis et al. 2023.

One optimiser step is what notebook 03 writes out by hand: draw t and noise, ``q_sample``,
run the network, compare with ``prediction_target`` (the noise for the paper's
eps-prediction; ``|target - output|``, L1, the paper's choice; L2 and Huber are options;
optionally Min-SNR-gamma weighted), backward, optimiser step, EMA update. :func:`train_ddpm`
adds what a real run needs:

* Input data: float array (N, C, H, W) in [0, 1]; C = 1 (B-mode) or 2 (image + binary
  aponeurosis mask, "joint" mode, so each sample comes with its own label).
* Reproducible: model init, data order (a seeded ``DistributedSampler`` order per epoch),
  flips, timesteps and noise (one seeded ``torch.Generator``) are all seeded; two CPU runs
  with the same config give bit-identical weights.
* Resumable: ``<out_dir>/checkpoint.pt`` (``msknb.ddpm.checkpoints``) is written atomically
  every ``checkpoint_every`` steps and at the end; a run killed at any moment and resumed
  ends with the same weights as an uninterrupted one.
* Provenance: given the ``ids`` of the images, the checkpoint records ``training_ids``
  (sorted) and ``training_ids_sha256`` (``msknb.ddpm.provenance``); a run started from other
  weights records the union with the parent's ids (parent without a record -> unknown, None).
* Multi-GPU: under ``torchrun`` it uses DDP and a ``DistributedSampler``
  (``msknb.ddpm.runtime``); only rank 0 writes files. AMP (bf16) on CUDA.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from msknb.ddpm.cascade import lowres_condition
from msknb.ddpm import diffusion as D
from msknb.ddpm import runtime
from msknb.ddpm.checkpoints import (CHECKPOINT_NAME, FORMAT_FULL, check_pretrained, ema_only_state, float_weights,
                                    load_checkpoint, resume_mismatches, save_checkpoint, state_dict_of)
from msknb.ddpm.config import MASK_LOSS_RADIUS, TrainConfig, build_model, schedule_of
from msknb.ddpm.ema import ema_update
from msknb.ddpm.guidance import near_mask
from msknb.ddpm.export import save_grid_png
from msknb.ddpm.lr_schedule import cosine_lr
from msknb.ddpm.provenance import IDS_KEY, record, training_ids, union_ids
from msknb.ddpm.training_data import check_training_data
from msknb.ddpm.unet import DiffusionUNet, count_parameters
from msknb.errors import CheckpointError, TrainingError
from msknb.io import ensure_dir, from_model, sha256_file


@dataclass
class TrainResult:
    """What :func:`train_ddpm` returns. ``model``/``ema`` are on the training device in eval
    mode; ``losses`` one float per optimiser step since step 0 (resumed runs included);
    ``steps`` total steps done; ``seconds`` wall time of this call (of the earlier run when
    the checkpoint was already finished); ``img_per_s`` training throughput of this call
    (images per second, all processes; the stored one when nothing was left to do); ``started_from`` the
    checkpoint the weights were initialised from (None = random init); ``training_ids``
    the sorted ids of every image the weights saw (None = unknown, see ``msknb.ddpm.provenance``)."""

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
    training_ids: list[str] | None = None

    @property
    def final_loss(self) -> float:
        """Mean loss over the last (up to) 20 steps (nan when no step was taken)."""
        return float(np.mean(self.losses[-20:])) if self.losses else float("nan")


@dataclass
class _Run:
    """The state one :func:`train_ddpm` call carries from step to step."""

    cfg: TrainConfig
    x_all: torch.Tensor
    dist: runtime.Dist
    device: torch.device
    amp: torch.dtype | None
    out: Path | None
    ckpt_path: Path | None
    model: DiffusionUNet
    ema: DiffusionUNet
    data_gen: torch.Generator
    schedule: D.Schedule
    step: int = 0
    losses: list = field(default_factory=list)
    seconds_before: float = 0.0
    started_from: str | None = None
    started_sha: str | None = None
    warmup: bool = True
    prev_ips: float = float("nan")
    resume_state: dict | None = None
    optimizer: Any = None
    scaler: Any = None
    train_model: Any = None
    sampler: Any = None
    steps_per_epoch: int = 1
    total_steps: int = 0
    resumed_from: int = 0
    t_start: float = 0.0
    images_seen: int = 0
    previews: list = field(default_factory=list)
    own_ids: list | None = None
    trained_ids: list | None = None


class _IndexSet(torch.utils.data.Dataset):
    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def _make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


# ------------------------------------------------------------------ setting up ----------
def _new_run(cfg: TrainConfig, data, out_dir) -> _Run:
    """Everything built from the seed: data, devices, model, EMA, data generator, schedule."""
    x_all = check_training_data(data, cfg)
    dist, device = runtime.init_distributed(cfg.device)
    out = ensure_dir(out_dir) if (out_dir is not None and dist.main) else (Path(out_dir) if out_dir else None)
    runtime.seed_everything(cfg.seed)
    model = build_model(cfg)
    if cfg.freeze_base:   # only the mask-injection layers learn
        for name, p in model.named_parameters():
            p.requires_grad_("mask_inject." in name)
    ema = copy.deepcopy(model).requires_grad_(False)
    data_gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 17 + dist.rank)
    return _Run(cfg=cfg, x_all=x_all, dist=dist, device=device, amp=runtime.amp_dtype(cfg.amp, device), out=out,
                ckpt_path=out / CHECKPOINT_NAME if out is not None else None, model=model, ema=ema,
                data_gen=data_gen, schedule=schedule_of(cfg))


def _resume(run: _Run, init_from) -> None:
    """Load model, EMA, losses and bookkeeping from ``run.ckpt_path`` after checking it fits."""
    state = load_checkpoint(run.ckpt_path)
    if state["format"] != FORMAT_FULL:
        raise CheckpointError("holds EMA weights only; cannot resume training from it "
                              "(pass it as init_from, or use another out_dir)", run.ckpt_path)
    diff = resume_mismatches(state, run.cfg, init_from, n_images=int(run.x_all.shape[0]))
    if diff:
        raise CheckpointError("checkpoint is from a different configuration (" + "; ".join(diff)
                              + "); use another out_dir or resume=False", run.ckpt_path)
    try:
        run.model.load_state_dict(state["model"])
        run.ema.load_state_dict(state["ema"])
    except RuntimeError as e:
        raise CheckpointError(f"weights do not fit the architecture ({str(e)[:300]})", run.ckpt_path) from e
    run.resume_state, run.step = state, int(state["step"])
    run.losses = [float(v) for v in state["losses"].tolist()]
    run.seconds_before = float(state.get("seconds", 0.0))
    run.started_from, run.started_sha = state.get("started_from"), state.get("started_from_sha256")
    run.warmup = bool(state.get("ema_warmup", True))
    run.prev_ips = float(state.get("img_per_s", float("nan")))
    _resume_ids(run, state, init_from)


def _resume_ids(run: _Run, state: dict[str, Any], init_from) -> None:
    """The ids record of a resumed run: the stored one, which must agree with the ids given
    now (a checkpoint from before records existed takes the ids given now, with the parent's)."""
    parent = training_ids(init_from) if init_from is not None else None
    now = union_ids(run.own_ids, parent, init_from is not None)
    if IDS_KEY not in state:
        run.trained_ids = now
        return
    run.trained_ids = training_ids(state)
    if run.own_ids is not None and run.trained_ids is not None and now != run.trained_ids:
        raise CheckpointError(f"checkpoint was trained on other images ({len(run.trained_ids)} ids recorded, "
                              f"{len(now or [])} given now); use another out_dir or resume=False", run.ckpt_path)


def _start_from(run: _Run, init_from) -> None:
    """Initialise model and EMA from the EMA weights of ``init_from`` (fine-tuning, no EMA warm-up)."""
    ok, why = check_pretrained(init_from, run.cfg)
    if not ok:
        raise CheckpointError(f"cannot initialise from it: {why}", init_from)
    weights = float_weights(load_checkpoint(init_from)["ema"])
    for m in (run.model, run.ema):   # mask-injection layers the file lacks keep their zero init
        missing, _ = m.load_state_dict(weights, strict=not run.cfg.mask_injection)
        if any("mask_inject." not in k for k in missing):
            raise CheckpointError(f"lacks weights the network needs: {', '.join(missing[:5])}", init_from)
    run.started_from, run.started_sha, run.warmup = str(init_from), sha256_file(init_from), False
    run.trained_ids = union_ids(run.own_ids, training_ids(init_from), True)


def _prepare(run: _Run) -> None:
    """Devices, optimiser, AMP scaler, restored optimiser/RNG state, DDP, sampler, step counts."""
    cfg, device = run.cfg, run.device
    for m in (run.model, run.ema):
        m.to(device)
        if device.type == "cuda" and cfg.amp != "off":
            m.to(memory_format=torch.channels_last)
    run.optimizer = _make_optimizer(run.model, cfg)
    run.scaler = torch.amp.GradScaler("cuda", enabled=(run.amp == torch.float16))
    if run.resume_state is not None:
        run.optimizer.load_state_dict(run.resume_state["optimizer"])
        if run.resume_state.get("scaler") and run.scaler.is_enabled():
            run.scaler.load_state_dict(run.resume_state["scaler"])
        runtime.set_rng_state(run.resume_state["rng"], run.data_gen)
        if run.dist.world > 1:  # only rank 0's generator is stored: give each rank its own stream again
            run.data_gen.manual_seed(cfg.seed * 1_000_003 + 17 + run.dist.rank + 7919 * run.step)
    run.train_model = run.model
    if run.dist.world > 1:
        run.train_model = DistributedDataParallel(run.model, device_ids=[device.index] if device.type == "cuda"
                                                  else None)
    run.sampler = torch.utils.data.DistributedSampler(_IndexSet(int(run.x_all.shape[0])),
                                                      num_replicas=run.dist.world, rank=run.dist.rank,
                                                      shuffle=True, seed=cfg.seed, drop_last=False)
    run.steps_per_epoch = math.ceil(len(run.sampler) / cfg.batch_size)
    run.total_steps = cfg.epochs * run.steps_per_epoch
    if cfg.max_steps is not None:
        run.total_steps = min(run.total_steps, cfg.max_steps)
    run.resumed_from = run.step


# ------------------------------------------------------------------ one step ----------
def _batch(run: _Run, order: list[int], pos: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x0, t, noise)`` of the batch at ``pos`` of this epoch's ``order``, flipped, on the device."""
    cfg = run.cfg
    idx = torch.tensor(order[pos * cfg.batch_size:(pos + 1) * cfg.batch_size], dtype=torch.long)
    x0 = run.x_all[idx]
    if cfg.hflip:
        flip = torch.rand(x0.shape[0], generator=run.data_gen) < 0.5
        x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
    t = torch.randint(0, cfg.timesteps, (x0.shape[0],), generator=run.data_gen)
    noise = torch.randn(x0.shape, generator=run.data_gen)
    x0, t, noise = x0.to(run.device), t.to(run.device), noise.to(run.device)
    if run.device.type == "cuda" and run.amp is not None:
        x0 = x0.contiguous(memory_format=torch.channels_last)
        noise = noise.contiguous(memory_format=torch.channels_last)
    return x0, t, noise


def _optimise(run: _Run, loss: torch.Tensor) -> None:
    """Backward, (clipped) optimiser step, step count, EMA update."""
    cfg = run.cfg
    if cfg.lr_decay == "cosine":
        for group in run.optimizer.param_groups:
            group["lr"] = cosine_lr(run.step, cfg.lr, cfg.lr_decay_start, run.total_steps, cfg.lr_min)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    if cfg.grad_clip is not None:
        run.scaler.unscale_(run.optimizer)
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.step += 1
    ema_update(run.ema, run.model, run.step, cfg.ema_decay, cfg.ema_start, run.warmup)


def split_condition(x: torch.Tensor, config: TrainConfig, dropout_draw: torch.Tensor | None = None,
                    lowres_aug: tuple[torch.Tensor, torch.Tensor] | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(x0, condition)`` from a training batch (B, data_channels, H, W) in [-1, 1]: the
    first ``config.channels`` channels are diffused, the rest (the mask) is the condition,
    None when unconditional. For 'mask+lowres' the condition gets the low-res image too
    (:func:`msknb.ddpm.cascade.lowres_condition`, noise ``lowres_aug`` = (sigma (B,), noise
    (B, 1, H, W)); none when omitted). ``dropout_draw`` (B,) uniform [0, 1): samples with a
    draw below ``config.cond_dropout`` get the null condition (0 everywhere)."""
    if config.condition is None:
        return x, None
    x0, cond = x[:, :config.channels], x[:, config.channels:]
    if config.condition == "mask+lowres":
        sigma, noise = lowres_aug if lowres_aug is not None else (torch.zeros(len(x0)), torch.zeros_like(x0))
        cond = lowres_condition(x0, cond, config.lowres_size, sigma, noise)
    if dropout_draw is not None and config.cond_dropout > 0:
        keep = (dropout_draw >= config.cond_dropout).to(device=cond.device, dtype=cond.dtype)
        cond = cond * keep.reshape(-1, 1, 1, 1)
    return x0, cond


def mask_loss_weights(mask: torch.Tensor, weight: float) -> torch.Tensor:
    """(B, 1, H, W) loss weights: ``weight`` within MASK_LOSS_RADIUS px of the mask (B, 1, H, W)
    in [-1, 1], 1 elsewhere, divided by their mean per image (the loss keeps its scale)."""
    w = 1.0 + (float(weight) - 1.0) * near_mask(mask, MASK_LOSS_RADIUS).float()
    return w / w.mean(dim=(1, 2, 3), keepdim=True)


def _lowres_aug(run, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Noise conditioning augmentation of a cascade stage: SD uniform in [0, lowres_noise]."""
    if run.cfg.condition != "mask+lowres":
        return None
    sigma = torch.rand(x0.shape[0], generator=run.data_gen) * run.cfg.lowres_noise
    return sigma, torch.randn((x0.shape[0], 1, *x0.shape[-2:]), generator=run.data_gen)


def _train_step(run: _Run, x0, t, noise, epoch: int) -> tuple[float, bool]:
    """One optimiser step; returns ``(loss value, out of time)``. A non-finite loss on any rank
    raises TrainingError before the weights change. A conditional run appends the (possibly
    dropped) mask to x_t with ``D.with_condition``, as the sampler's denoiser does."""
    cfg = run.cfg
    forward = runtime.autocast_forward(run.train_model, run.device, run.amp)
    weights = None
    if cfg.condition is not None:
        if cfg.mask_loss_weight != 1:
            weights = mask_loss_weights(x0[:, cfg.channels:cfg.channels + 1], cfg.mask_loss_weight)
        draw = torch.rand(x0.shape[0], generator=run.data_gen) if cfg.cond_dropout > 0 else None
        x0, cond = split_condition(x0, cfg, draw, _lowres_aug(run, x0))
        noise = noise[:, :cfg.channels]
        net = forward
        forward = lambda x_t, t_: net(D.with_condition(x_t, cond), t_)  # noqa: E731
    loss = D.diffusion_loss(forward, run.schedule, x0, t=t, noise=noise, loss=cfg.loss, prediction=cfg.prediction,
                            min_snr_gamma=cfg.min_snr_gamma, pixel_weights=weights)
    value = float(loss.detach())
    # every rank must take the same decision, or DDP waits forever for the one that left
    bad_loss, out_of_time = runtime.agree(run.dist, run.device, not math.isfinite(value),
                                          cfg.max_seconds is not None
                                          and time.perf_counter() - run.t_start >= cfg.max_seconds)
    if bad_loss:
        what = value if not math.isfinite(value) else "non-finite on another rank"
        last = run.ckpt_path if run.ckpt_path and run.ckpt_path.is_file() else "none"
        raise TrainingError(f"loss became {what} at step {run.step + 1} (epoch {epoch + 1}); lower lr or use "
                            f"grad_clip; the last checkpoint ({last}) is left intact", run.ckpt_path)
    _optimise(run, loss)
    run.losses.append(value)
    run.images_seen += int(x0.shape[0]) * run.dist.world
    return value, out_of_time


def _checkpoint_state(run: _Run) -> dict[str, Any]:
    """The full training state (format ``msknb-ddpm``), weights_only-safe."""
    elapsed = time.perf_counter() - run.t_start
    return {"format": FORMAT_FULL, "version": 1, "config": run.cfg.to_dict(), "arch": run.model.arch(),
            "model": state_dict_of(run.model), "ema": state_dict_of(run.ema),
            "optimizer": run.optimizer.state_dict(),
            "scaler": run.scaler.state_dict() if run.scaler.is_enabled() else {},
            "rng": runtime.rng_state(run.data_gen), "step": run.step, "epoch": run.step // run.steps_per_epoch,
            "losses": torch.tensor(run.losses, dtype=torch.float64), "n_images": int(run.x_all.shape[0]),
            "seconds": run.seconds_before + elapsed, "started_from": run.started_from,
            "started_from_sha256": run.started_sha, "ema_warmup": run.warmup,
            "n_params": count_parameters(run.model), "device": str(run.device),
            "img_per_s": (run.images_seen / elapsed) if run.images_seen else run.prev_ips,
            **record(run.trained_ids)}


def _after_step(run: _Run, value: float, epoch: int, out_of_time: bool, bar, callback) -> None:
    """Checkpoint, preview grid, progress bar and callback after a step (files on rank 0 only)."""
    cfg, step = run.cfg, run.step
    wrote = None
    if run.ckpt_path is not None and run.dist.main and (step % cfg.checkpoint_every == 0
                                                        or step == run.total_steps or out_of_time):
        wrote = save_checkpoint(run.ckpt_path, _checkpoint_state(run))
    if run.out is not None and run.dist.main and cfg.snapshot_every and step % cfg.snapshot_every == 0:
        save_checkpoint(ensure_dir(run.out / "snapshots") / f"ema_step{step:07d}.pt",
                        ema_only_state(_checkpoint_state(run)))
    if run.out is not None and run.dist.main and cfg.sample_every and step % cfg.sample_every == 0:
        run.previews.append(_write_preview(run.ema, run.schedule, cfg, run.out / f"samples_step{step:07d}.png",
                                           run.device, run.x_all))
    if bar is not None:
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4f}", epoch=epoch + 1)
    if callback is not None:
        callback({"step": step, "epoch": epoch + 1, "loss": value, "total_steps": run.total_steps,
                  "checkpoint": wrote})


def _loop(run: _Run, progress: bool, callback) -> None:
    """Steps until ``total_steps`` (or ``max_seconds``), one epoch order at a time."""
    bar = None
    if progress and run.dist.main and run.step < run.total_steps:
        bar = tqdm(total=run.total_steps, initial=run.step, desc="DDPM training", unit="step")
    run.t_start = time.perf_counter()
    order, order_epoch = [], -1
    run.model.train()
    try:
        while run.step < run.total_steps:
            epoch, pos = divmod(run.step, run.steps_per_epoch)
            if epoch != order_epoch:
                run.sampler.set_epoch(epoch)
                order, order_epoch = list(run.sampler), epoch
            value, out_of_time = _train_step(run, *_batch(run, order, pos), epoch)
            _after_step(run, value, epoch, out_of_time, bar, callback)
            if out_of_time:
                break
    finally:
        if bar is not None:
            bar.close()
    if run.dist.world > 1:  # the other ranks wait until rank 0 has written the last checkpoint
        torch.distributed.barrier()


def _result(run: _Run) -> TrainResult:
    seconds = time.perf_counter() - run.t_start
    img_per_s = run.images_seen / seconds if run.images_seen else run.prev_ips
    if not run.images_seen and run.resume_state is not None:  # already finished: report the run that was resumed
        seconds = run.seconds_before
    run.model.eval()
    run.ema.eval()
    ckpt = run.ckpt_path if run.ckpt_path is not None and run.ckpt_path.is_file() else None
    return TrainResult(model=run.model, ema=run.ema, schedule=run.schedule, losses=run.losses, checkpoint_path=ckpt,
                       steps=run.step, seconds=seconds, img_per_s=img_per_s, config=run.cfg,
                       epochs_done=run.step / run.steps_per_epoch, resumed_from_step=run.resumed_from,
                       started_from=run.started_from, device=str(run.device), preview_paths=run.previews,
                       training_ids=run.trained_ids)


def train_ddpm(data, config: TrainConfig | dict, out_dir: str | Path | None, resume: bool = True,
               progress: bool = True, callback: Callable[[dict[str, Any]], None] | None = None,
               init_from: str | Path | None = None, ids: Sequence[str] | None = None) -> TrainResult:
    """Train (or resume training) a DDPM.

    ``data``: float array/tensor (N, C, H, W) in [0, 1] (C = config.channels, H = W =
    config.image_size; joint mode: channel 1 = mask in {0, 1}). ``config``: :class:`TrainConfig`
    (or its dict). ``out_dir``: folder for ``checkpoint.pt`` (and ``samples_step*.png``
    previews); None = write nothing (no resume either). ``resume``: continue from
    ``out_dir/checkpoint.pt`` when it exists (another architecture/config raises
    :class:`CheckpointError` naming the mismatch; a finished checkpoint returns at once).
    ``callback``: called after every step with ``{"step", "epoch", "loss", "total_steps",
    "checkpoint"}``. ``init_from``: checkpoint whose EMA weights initialise model and EMA when
    there is nothing to resume (fine-tuning; the EMA then averages without warm-up).
    ``ids``: the N image ids of ``data`` (str), recorded in the checkpoint as ``training_ids``
    (with ``init_from``'s recorded ids added; None = unknown, recorded as None).

    The loss is ``config.loss`` between the network output and ``D.prediction_target``
    (``config.prediction``; the paper: |eps - eps_theta(x_t, t)|). A NaN/inf loss raises
    :class:`TrainingError` naming the step; the last checkpoint is left as it was.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(dict(config))
    cfg.validate()
    run = _new_run(cfg, data, out_dir)
    if ids is not None and len(ids) != int(run.x_all.shape[0]):
        raise TrainingError(f"{len(ids)} ids for {int(run.x_all.shape[0])} training images", "ids")
    run.own_ids = None if ids is None else sorted(str(i) for i in ids)
    run.trained_ids = run.own_ids
    if resume and run.ckpt_path is not None and run.ckpt_path.is_file():
        _resume(run, init_from)
    elif init_from is not None:
        _start_from(run, init_from)
    _prepare(run)
    _loop(run, progress, callback)
    return _result(run)


@torch.no_grad()
def _write_preview(ema: torch.nn.Module, schedule: D.Schedule, cfg: TrainConfig, path: Path,
                   device: torch.device, x_all: torch.Tensor, n: int = 8, steps: int = 25) -> Path:
    """A PNG grid of ``n`` DDIM samples of the EMA model (its own generator: training
    RNG untouched). Image row on top, mask row below in joint mode."""
    was_training = ema.training
    ema.eval()
    gen = torch.Generator().manual_seed(cfg.seed + 12345)
    cond = None
    if cfg.condition is not None:  # the first n training masks
        n = min(n, int(x_all.shape[0]))
        cond = split_condition(x_all[:n], cfg)[1].to(device)
    x = D.ddim_sample_loop(D.make_denoiser(ema, cfg.prediction, schedule.to(device), condition=cond),
                           schedule.to(device),
                           (n, cfg.channels, cfg.image_size, cfg.image_size),
                           steps=min(steps, cfg.timesteps), generator=gen, progress=False, device=device)
    ema.train(was_training)
    return save_grid_png(from_model(x.clamp(-1, 1)), path)
