"""What defines a DDPM training run: :class:`TrainConfig`, the network it builds, its schedule.

A config holds plain values only (units: px, steps, seconds), so it round-trips through a
checkpoint (``to_dict`` / ``from_dict``) and JSON. ``config_from_settings`` turns a
profile's ``settings("ddpm", ...)`` into one; ``build_model`` and ``schedule_of`` give the
network and the noise schedule it defines.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from msknb.ddpm import diffusion as D
from msknb.ddpm.fold import FoldedUNet
from msknb.ddpm.lr_schedule import LR_DECAYS
from msknb.ddpm.unet import DiffusionUNet
from msknb.errors import ConfigError

LOSSES = ("l1", "l2", "huber")
OPTIMIZERS = ("adam", "adamw")
AMP_MODES = ("auto", "off", "bf16", "fp16")
#: what a conditional network is given besides x_t: None (nothing), "mask" (the aponeurosis mask), or
#: "mask+lowres" (the mask and a low-resolution version of the image: the super-resolution stage of a
#: cascade, msknb.ddpm.cascade)
CONDITIONS = (None, "mask", "mask+lowres")
#: config fields that may change when a run is resumed (everything else must match)
RESUMABLE_CHANGES = ("epochs", "max_steps", "max_seconds", "checkpoint_every", "sample_every", "amp", "device",
                     "ema_decay", "lr_decay", "lr_decay_start", "lr_min", "snapshot_every")
#: distance (px) from the mask within which ``mask_loss_weight`` applies
MASK_LOSS_RADIUS = 8
#: config fields that define the network (must match a checkpoint to load its weights)
ARCH_FIELDS = ("image_size", "channels", "dim", "dim_mults", "resnet_groups", "init_dim", "condition", "fold",
               "mask_injection")
#: config fields that define what the weights mean (must match to fine-tune from a checkpoint)
MEANING_FIELDS = ("timesteps", "schedule", "zero_terminal_snr", "prediction")


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class TrainConfig:
    """Everything that defines a training run (units: px, steps, seconds).

    image_size: H = W of the training images (px); channels: 1 = image, 2 = image + mask;
    dim / dim_mults / resnet_groups / init_dim: U-Net size (see DiffusionUNet);
    timesteps T and schedule ('linear', 'cosine', 'quadratic', 'sigmoid');
    zero_terminal_snr: rescale the betas so x_T is pure noise (Lin et al. 2024; needs
    prediction 'v' or 'x0'); prediction: what the network outputs, 'eps' (the paper) | 'x0' |
    'v' (msknb.ddpm.diffusion.PREDICTIONS); min_snr_gamma: Min-SNR-gamma loss weighting
    (Hang et al. 2023, e.g. 5.0; None = off, the paper's unweighted loss);
    loss 'l1' | 'l2' | 'huber'; optimizer 'adam' | 'adamw'; lr; weight_decay (adamw);
    batch_size (per process); epochs; max_steps (cap on optimiser steps, None = no cap);
    max_seconds (stop, with a checkpoint, after this much wall time in one call);
    lr_decay: None (constant lr) | 'cosine' (from lr at step lr_decay_start down to lr_min
    at the run's last step, :mod:`msknb.ddpm.lr_schedule`); these three and ema_decay may
    change when a run is resumed (a long run gets its decaying tail);
    ema_decay; ema_start (steps before the EMA starts averaging; it copies the model
    until then, then warms up as min(decay, (1+k)/(10+k)));
    grad_clip (max grad norm, None = off); hflip (random horizontal flips);
    seed; checkpoint_every (steps); sample_every (steps, None = no preview grids);
    snapshot_every (steps, None = off): also write the EMA weights (fp16) then to
    ``snapshots/ema_step<step>.pt`` beside the checkpoint, candidates to screen;
    amp 'auto' (bf16 autocast + channels_last on CUDA, off on CPU) | 'off' | 'bf16' | 'fp16';
    device 'auto' (CUDA when present) | 'cpu' | 'cuda' | 'cuda:N';
    condition: None (unconditional, or joint image+mask with channels 2) | 'mask' (the
    network also takes the aponeurosis mask in [-1, 1] as an input channel and predicts the
    image channel only; the training data then holds image + mask, (N, 2, H, W));
    cond_dropout: probability that a training sample's mask is replaced by the null mask
    (0 everywhere), which makes classifier-free guidance possible at sampling (0 = off);
    mask_loss_weight: loss weight of the pixels within MASK_LOSS_RADIUS px of the mask, the
    others 1, normalised to mean 1 per image (1 = every pixel the same);
    mask_injection: the mask's bands also enter at every U-Net resolution (zero-initialised convs
    without bias, ``DiffusionUNet(condition_channels=...)``), not only with the input; a checkpoint
    without them can initialise such a network (they start at zero, so it draws as before);
    freeze_base: train only those injection layers, every other weight kept as ``init_from`` gave it;
    fold: p = 1 (the network sees the image) or p >= 2 (it sees each p x p block of pixels
    as p² channels of an (H/p, W/p) grid, :mod:`msknb.ddpm.fold`; 4 makes 256 px cost like 64 px).
    """

    image_size: int = 64
    channels: int = 1
    dim: int = 64
    dim_mults: tuple = (1, 2, 4, 8)
    resnet_groups: int = 8
    init_dim: int | None = None
    timesteps: int = 300
    schedule: str = "linear"
    zero_terminal_snr: bool = False
    prediction: str = "eps"
    min_snr_gamma: float | None = None
    loss: str = "l1"
    optimizer: str = "adam"
    lr: float = 1e-4
    weight_decay: float = 0.0
    batch_size: int = 4
    epochs: int = 1
    max_steps: int | None = None
    max_seconds: float | None = None
    lr_decay: str | None = None
    lr_decay_start: int = 0
    lr_min: float = 0.0
    ema_decay: float = 0.995
    ema_start: int = 0
    grad_clip: float | None = 1.0
    hflip: bool = False
    seed: int = 0
    checkpoint_every: int = 500
    sample_every: int | None = None
    snapshot_every: int | None = None
    amp: str = "auto"
    device: str = "auto"
    condition: str | None = None
    cond_dropout: float = 0.0
    mask_loss_weight: float = 1.0
    mask_injection: bool = False
    freeze_base: bool = False
    fold: int = 1
    lowres_size: int = 64
    lowres_noise: float = 0.2

    def __post_init__(self) -> None:
        self.dim_mults = tuple(int(m) for m in self.dim_mults)
        self.validate()

    def _need(self, ok: bool, name: str, what: str) -> None:
        if not ok:
            raise ConfigError(f"{name} = {getattr(self, name)!r}: {what}", name)

    def _validate_network(self) -> None:
        need = self._need
        need(_is_int(self.image_size) and self.image_size >= 4, "image_size", "must be an integer >= 4 (px)")
        need(self.channels in (1, 2), "channels", "must be 1 (image) or 2 (image + mask)")
        need(_is_int(self.dim) and self.dim >= 4 and self.dim % 2 == 0, "dim", "must be an even integer >= 4")
        need(len(self.dim_mults) >= 1 and all(m >= 1 for m in self.dim_mults), "dim_mults",
             "must be a non-empty sequence of positive integers")
        need(_is_int(self.resnet_groups) and self.resnet_groups >= 1, "resnet_groups", "must be a positive integer")
        widths = [self.init_dim or self.dim] + [self.dim * m for m in self.dim_mults]
        need(all(w % self.resnet_groups == 0 for w in widths), "resnet_groups",
             f"must divide every feature width {widths}")
        need(self.init_dim is None or (_is_int(self.init_dim) and self.init_dim >= 1), "init_dim",
             "must be None or a positive integer")
        need(_is_int(self.fold) and self.fold >= 1, "fold", "must be a positive integer (1 = no folding)")
        f = 2 ** (len(self.dim_mults) - 1) * self.fold
        need(self.condition in CONDITIONS, "condition", "must be None, 'mask' or 'mask+lowres'")
        need(self.condition is None or self.channels == 1, "channels",
             "must be 1 with a condition (the network draws the image; the mask is given)")
        need(self.condition != "mask+lowres" or (_is_int(self.lowres_size) and 4 <= self.lowres_size < self.image_size),
             "lowres_size", "must be an integer from 4 to below image_size (px of the cascade's low-res stage)")
        need(_is_num(self.lowres_noise) and 0 <= self.lowres_noise <= 1, "lowres_noise",
             "must be in [0, 1] (the largest noise SD added to the low-res condition while training)")
        need(_is_num(self.cond_dropout) and 0 <= self.cond_dropout < 1, "cond_dropout", "must be in [0, 1)")
        need(_is_num(self.mask_loss_weight) and self.mask_loss_weight >= 1, "mask_loss_weight",
             "must be >= 1 (1 = every pixel weighs the same)")
        need(self.mask_loss_weight == 1 or self.condition is not None, "mask_loss_weight",
             "needs a mask-conditioned model (condition 'mask')")
        injection_ok = not self.mask_injection or self.condition == "mask"
        need(isinstance(self.mask_injection, (bool, np.bool_)) and injection_ok,
             "mask_injection", "must be True or False, and True needs a conditional model (condition 'mask')")
        need(isinstance(self.freeze_base, (bool, np.bool_)) and (not self.freeze_base or self.mask_injection),
             "freeze_base", "must be True or False, and True needs mask_injection (the layers left to train)")
        need(self.image_size % f == 0, "image_size", f"must be divisible by {f} = fold x 2 ** (len(dim_mults) - 1)")

    def _validate_diffusion(self) -> None:
        need = self._need
        need(_is_int(self.timesteps) and self.timesteps >= 2, "timesteps", "must be an integer >= 2")
        need(self.schedule in D.SCHEDULE_KINDS, "schedule", f"choose one of {', '.join(D.SCHEDULE_KINDS)}")
        need(isinstance(self.zero_terminal_snr, (bool, np.bool_)), "zero_terminal_snr", "must be True or False")
        need(self.prediction in D.PREDICTIONS, "prediction", f"choose one of {', '.join(D.PREDICTIONS)}")
        need(not (self.zero_terminal_snr and self.prediction == "eps"), "prediction",
             "eps-prediction is ill-posed with zero_terminal_snr (x_T holds no image to recover x0 "
             "from); use 'v' or 'x0'")
        need(self.min_snr_gamma is None or (_is_num(self.min_snr_gamma) and self.min_snr_gamma > 0),
             "min_snr_gamma", "must be None (off) or > 0 (Hang et al. use 5)")
        need(self.loss in LOSSES, "loss", f"choose one of {', '.join(LOSSES)}")

    def _validate_run(self) -> None:
        need = self._need
        need(self.optimizer in OPTIMIZERS, "optimizer", f"choose one of {', '.join(OPTIMIZERS)}")
        need(_is_num(self.lr) and 0 < self.lr < 1, "lr", "must be a number in (0, 1)")
        need(_is_num(self.weight_decay) and self.weight_decay >= 0, "weight_decay", "must be >= 0")
        need(_is_int(self.batch_size) and self.batch_size >= 1, "batch_size", "must be a positive integer")
        need(_is_int(self.epochs) and self.epochs >= 1, "epochs", "must be a positive integer")
        need(self.max_steps is None or (_is_int(self.max_steps) and self.max_steps >= 1), "max_steps",
             "must be None or a positive integer")
        need(self.max_seconds is None or (_is_num(self.max_seconds) and self.max_seconds > 0), "max_seconds",
             "must be None or > 0")
        need(self.lr_decay in LR_DECAYS, "lr_decay", "must be None (constant) or 'cosine'")
        need(_is_int(self.lr_decay_start) and self.lr_decay_start >= 0, "lr_decay_start", "must be an integer >= 0")
        need(_is_num(self.lr_min) and 0 <= self.lr_min <= self.lr, "lr_min", f"must be in [0, lr = {self.lr}]")
        need(_is_num(self.ema_decay) and 0 <= self.ema_decay < 1, "ema_decay", "must be in [0, 1)")
        need(_is_int(self.ema_start) and self.ema_start >= 0, "ema_start", "must be an integer >= 0")
        need(self.grad_clip is None or (_is_num(self.grad_clip) and self.grad_clip > 0), "grad_clip",
             "must be None or > 0")
        need(isinstance(self.hflip, (bool, np.bool_)), "hflip", "must be True or False")
        need(_is_int(self.seed) and self.seed >= 0, "seed", "must be an integer >= 0")
        need(_is_int(self.checkpoint_every) and self.checkpoint_every >= 1, "checkpoint_every",
             "must be a positive integer (steps)")
        need(self.sample_every is None or (_is_int(self.sample_every) and self.sample_every >= 1), "sample_every",
             "must be None or a positive integer (steps)")
        need(self.snapshot_every is None or (_is_int(self.snapshot_every) and self.snapshot_every >= 1),
             "snapshot_every", "must be None or a positive integer (steps)")
        need(self.amp in AMP_MODES, "amp", f"choose one of {', '.join(AMP_MODES)}")
        need(isinstance(self.device, str) and (self.device in ("auto", "cpu") or self.device.startswith("cuda")),
             "device", "must be 'auto', 'cpu', 'cuda' or 'cuda:N'")

    def validate(self) -> "TrainConfig":
        """Raise :class:`ConfigError` naming the first bad parameter."""
        self._validate_network()
        self._validate_diffusion()
        self._validate_run()
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (tuples become lists): JSON- and weights_only-safe."""
        d = dataclasses.asdict(self)
        d["dim_mults"] = list(self.dim_mults)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; an unknown key raises ConfigError naming it. Keys that
        older checkpoints lack (``prediction``, ``zero_terminal_snr``, ``min_snr_gamma``,
        ``condition``) take their defaults: such a checkpoint is an unconditional eps-predictor,
        as the paper's."""
        known = {f.name for f in dataclasses.fields(cls)}
        for key in d:
            if key not in known:
                raise ConfigError(f"unknown training parameter {key!r}; known: {', '.join(sorted(known))}", key)
        return cls(**d)

    def arch(self) -> dict[str, Any]:
        """The network-defining subset of the config."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.to_dict().items() if k in ARCH_FIELDS}

    @property
    def condition_channels(self) -> int:
        """Input channels the condition adds: 1 for 'mask', 2 for 'mask+lowres', else 0."""
        return {"mask": 1, "mask+lowres": 2}.get(self.condition, 0)

    @property
    def data_channels(self) -> int:
        """Channels of the training array: ``channels``, plus the mask for a conditional model
        (the low-res image of 'mask+lowres' is computed from the image while training)."""
        return self.channels + (1 if self.condition else 0)

    @property
    def input_channels(self) -> int:
        """Channels the network takes: ``channels`` + ``condition_channels``."""
        return self.channels + self.condition_channels


def build_model(config: TrainConfig) -> DiffusionUNet | FoldedUNet:
    """The U-Net for ``config`` (random init from the current torch RNG); its attributes
    ``image_size`` (px), ``prediction`` and ``condition`` tell samplers the training size,
    objective and what to append to x_t (a conditional network takes ``channels + 1`` input
    channels and outputs ``channels``). With ``config.fold`` > 1 it is a :class:`FoldedUNet`."""
    p2 = config.fold ** 2
    model = DiffusionUNet(dim=config.dim, dim_mults=config.dim_mults, channels=config.input_channels * p2,
                          out_channels=config.channels * p2, resnet_groups=config.resnet_groups,
                          init_dim=config.init_dim,
                          condition_channels=config.condition_channels * p2 if config.mask_injection else 0)
    if config.fold > 1:
        model = FoldedUNet(model, config.fold)
    model.image_size = config.image_size
    model.prediction = config.prediction
    model.condition = config.condition
    return model


def schedule_of(config: TrainConfig) -> D.Schedule:
    """The noise schedule a run with ``config`` trains (and samples) with."""
    return D.make_schedule(config.schedule, config.timesteps, zero_terminal_snr=config.zero_terminal_snr)


def config_from_settings(settings: dict[str, Any], seed: int = 0, **extra: Any) -> TrainConfig:
    """A :class:`TrainConfig` from ``msknb.profiles.settings("ddpm", ...)`` values
    (``joint_mask`` -> channels 2); ``extra`` sets any other TrainConfig field."""
    keys = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in settings.items() if k in keys}
    values["channels"] = 2 if settings.get("joint_mask") else 1
    values["seed"] = seed
    values.update(extra)
    return TrainConfig.from_dict(values)
