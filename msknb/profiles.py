"""Profiles, not forks: one notebook runs as ``smoke`` (CI, seconds), ``quick`` (default
main job, minutes on 2 CPU cores) or ``paper`` (GPU, the paper's settings).

A notebook's ``parameters`` cell holds ``profile`` plus overridable values that default
to ``None``; :func:`settings` merges the profile's values for one topic with those
overrides. Each topic below belongs to one module/notebook; keys are documented inline.
"""
from __future__ import annotations

import copy
from typing import Any

from msknb.errors import ConfigError

PROFILE_NAMES = ("smoke", "quick", "paper")

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    # ---- 00_data: loading and display -------------------------------------------
    "data": {
        "smoke": {"image_size": 64, "max_images": 24, "crop_fov": True},
        "quick": {"image_size": 128, "max_images": None, "crop_fov": True},
        "paper": {"image_size": 256, "max_images": None, "crop_fov": True},
    },
    # ---- 01/02 diffusion math -----------------------------------------------------
    # image_size px (square); max_images loaded; t_show = timestep of the static figures
    # (None -> T // 2); ddim_steps for the DDIM comparison; toy_* = the tiny denoiser of 02
    # (DiffusionUNet width / depth, Adam steps, batch, learning rate, L1 loss as in the paper;
    # prediction: what it predicts, "eps" (paper) | "x0" | "v"); it only shows the loss falling (seconds),
    # the imperfect network 02 samples with is the shipped checkpoint. toy2d_steps: Adam steps of
    # 02's 2-D toy denoiser (msknb.ddpm.lessons.toy2d; an MLP on points, seconds on one thread).
    "diffusion": {
        "smoke": {"image_size": 32, "timesteps": 300, "schedule": "linear", "max_images": 8, "t_show": None,
                  "ddim_steps": 20, "toy_train_steps": 20, "toy_dim": 8, "toy_dim_mults": (1, 2),
                  "toy_batch_size": 4, "toy_lr": 2e-3, "prediction": "eps", "toy2d_steps": 200},
        "quick": {"image_size": 64, "timesteps": 300, "schedule": "linear", "max_images": 64, "t_show": None,
                  "ddim_steps": 50, "toy_train_steps": 40, "toy_dim": 8, "toy_dim_mults": (1, 2, 4),
                  "toy_batch_size": 4, "toy_lr": 1e-3, "prediction": "eps", "toy2d_steps": 2000},
        "paper": {"image_size": 256, "timesteps": 300, "schedule": "linear", "max_images": None, "t_show": None,
                  "ddim_steps": 50, "toy_train_steps": 2000, "toy_dim": 32, "toy_dim_mults": (1, 2, 4, 8),
                  "toy_batch_size": 4, "toy_lr": 1e-4, "prediction": "eps", "toy2d_steps": 4000},
    },
    # ---- 03/04 DDPM training and sampling ---------------------------------------
    # image_size px (square); dim/dim_mults = DiffusionUNet size; epochs, max_steps (cap on
    # optimiser steps, None = all epochs), batch_size, timesteps T, schedule, loss, lr, hflip
    # (random horizontal flips); max_images loaded; joint_mask: 2-channel image + mask model;
    # pretrained: checkpoint in msknb/checkpoints that 03 continues from (None = from scratch);
    # n_samples written to out_dir/synthetic by 04 (DDIM with ddim_steps); n_timing = images
    # in the DDPM-T vs DDIM timing comparison of 04. smoke uses T = 100 to stay in seconds.
    # prediction "eps" (paper) | "x0" | "v"; zero_terminal_snr rescales the schedule (needs x0/v);
    # min_snr_gamma: Min-SNR-gamma loss weighting (None = off). paper keeps the paper's eps / no
    # rescaling / no weighting (it is a reproduction). smoke and quick use the highest-scoring setting
    # screened that fits their eps model (quick continues the shipped eps checkpoint):
    # Min-SNR-5, which at the same 800 steps gave alignment Dice 0.763 vs eps 0.736 on the kit's
    # val masks (msknb/checkpoints/objectives.json: one run per objective, one seed, no spread,
    # so not shown to be better; v + zero terminal SNR 0.762 needs a v-prediction model from scratch).
    # generator: what draws 04's synthetic set (the one 05 trains on): "conditional" = the shipped
    # mask-conditioned model (trained on the kit train ids only) drawing one image per training
    # mask of the experiment split (DDIM with synthetic_steps), "joint" = 03's own checkpoint
    # (trained on the experiment split's train part); n_lesson: joint samples for 04's lessons
    # when the set comes from the conditional model (issue 18: no generator that saw test images).
    # synthetic_guidance: classifier-free guidance scale of the conditional set (None = the one stored
    # in the checkpoint, w = 2 for the shipped file, chosen on val masks; 1 = off: one network call
    # per step instead of two, which keeps 04 quick under 90 s on 2 CPU cores).
    # guidance_lab_n / guidance_lab_steps: masks and DDIM steps of 04's classifier-free guidance lab
    # (msknb.ddpm.lessons.guidance: each mask drawn at w = 0, 1, 2, 4 from the same noise).
    # solver_lab_n / solver_lab_steps / solver_lab_reference: images, steps and the reference DDIM
    # steps of 04's first- vs second-order sampler lab (msknb.ddpm.lessons.solvers).
    # n_256: images 04 draws from the shipped folded 256 px generator (SHIPPED_SAMPLE_DDPM), one
    # per real mask, DDIM-25 with its stored guidance: about 2 s per image on 2 CPU cores.
    # sample_batch_size: images per batch when 03/04 sample; 4 on CPUs (a batch of 16 64-px images
    # overflows the cache: 1.5x the time per image on the 2-core dev machine, see
    # benchmarks/results/profile_ddpm_quick.json), 16 on a GPU (paper).
    "ddpm": {
        "smoke": {"image_size": 32, "dim": 8, "dim_mults": (1, 2), "epochs": 1, "max_steps": None,
                  "batch_size": 8, "timesteps": 100, "schedule": "linear", "loss": "l1", "lr": 1e-3,
                  "hflip": False, "max_images": 32, "n_samples": 8, "ddim_steps": 10, "n_timing": 2,
                  "joint_mask": True, "pretrained": None, "prediction": "eps", "zero_terminal_snr": False,
                  "min_snr_gamma": 5.0, "generator": "conditional", "synthetic_steps": 5, "synthetic_guidance": 1.0,
                  "n_lesson": 8, "sample_batch_size": 4,
                  "guidance_lab_n": 2, "guidance_lab_steps": 3, "n_256": 1,
                  "solver_lab_n": 2, "solver_lab_steps": (3, 6), "solver_lab_reference": 30},
        "quick": {"image_size": 64, "dim": 16, "dim_mults": (1, 2, 4, 8), "epochs": 1, "max_steps": 6,
                  "batch_size": 16, "timesteps": 300, "schedule": "linear", "loss": "l1", "lr": 1e-4,
                  "hflip": True, "max_images": None, "n_samples": 64, "ddim_steps": 25, "n_timing": 1,
                  "joint_mask": True, "pretrained": "ddpm_dltrack_64.pt", "prediction": "eps",
                  "zero_terminal_snr": False, "min_snr_gamma": 5.0, "generator": "conditional",
                  "synthetic_steps": 10, "synthetic_guidance": 1.0, "n_lesson": 16, "sample_batch_size": 4,
                  "guidance_lab_n": 4, "guidance_lab_steps": 10, "n_256": 3,
                  "solver_lab_n": 4, "solver_lab_steps": (5, 10, 20), "solver_lab_reference": 100},
        "paper": {"image_size": 256, "dim": 64, "dim_mults": (1, 2, 4, 8), "epochs": 300, "max_steps": None,
                  "batch_size": 4, "timesteps": 300, "schedule": "linear", "loss": "l1", "lr": 1e-4,
                  "hflip": False, "max_images": None, "n_samples": 200, "ddim_steps": 50, "n_timing": 4,
                  "joint_mask": False, "pretrained": None, "prediction": "eps", "zero_terminal_snr": False,
                  "min_snr_gamma": None, "generator": "joint", "synthetic_steps": 50, "synthetic_guidance": None,
                  "n_lesson": 64, "sample_batch_size": 16,
                  "guidance_lab_n": 16, "guidance_lab_steps": 50, "n_256": 8,
                  "solver_lab_n": 16, "solver_lab_steps": (5, 10, 20, 50), "solver_lab_reference": 300},
    },
    # ---- 05 segmentation ---------------------------------------------------------
    # image_size px (square); channels = Attention-UNet features per level (strides 2);
    # epochs, batch_size, lr (Adam), lr_step/lr_gamma (StepLR: x gamma every lr_step epochs,
    # None -> epochs/3); loss: "generalized_dice" (weighted Dice, paper) or
    # "generalized_dice_bce" (+ BCE, converges faster on short CPU budgets);
    # min_samples_per_epoch: None = one pass per epoch (paper), K = max(N, K) samples per
    # epoch so small fractions still get enough updates; samples_per_epoch: None, or exactly K
    # samples per epoch whatever the set's size (every experiment gets the same number of
    # updates); augment: rotation/scale/vflip/erasing (msknb.masks.augment); max_images
    # loaded; grid = experiments of notebook 05. quick (issue 16, measured 1 Dec 2026 on the kit
    # split, flagged pairs dropped, seed 0): 6 epochs x 256 samples at lr 5e-3 gave Real a test Dice
    # of 0.749 from 1536 samples, the former 10 epochs x max(N, 96) at lr 3e-3 0.767 from 3500 (2.3x
    # the time); the 50 % pair is left to the paper profile. gen_use: how "x+Gen" uses the synthetic
    # set: "mix" (paper: one training set) or "pretrain" (fine-tune the Gen model on the real part).
    # smoke/quick use pretrain, the better on the kit's val ids over 3 seeds, which is no better than
    # training the real model twice as long (msknb/checkpoints/synthetic_use.json; notebook 05).
    "segment": {
        "smoke": {"image_size": 64, "channels": (4, 8, 16), "epochs": 1, "batch_size": 8, "lr": 3e-3,
                  "lr_step": None, "lr_gamma": 0.5, "loss": "generalized_dice_bce",
                  "min_samples_per_epoch": None, "samples_per_epoch": None, "augment": True, "max_images": 40,
                  "grid": ("Real", "Gen", "Real+Gen"), "gen_use": "pretrain"},
        "quick": {"image_size": 64, "channels": (8, 16, 32, 64), "epochs": 6, "batch_size": 8, "lr": 5e-3,
                  "lr_step": None, "lr_gamma": 0.5, "loss": "generalized_dice_bce",
                  "min_samples_per_epoch": None, "samples_per_epoch": 256, "augment": True, "max_images": None,
                  "grid": ("Real", "Gen", "Real+Gen", "10%", "10%+Gen"), "gen_use": "pretrain"},
        "paper": {"image_size": 256, "channels": (32, 64, 128, 256, 512), "epochs": 300, "batch_size": 8,
                  "lr": 1e-3, "lr_step": 100, "lr_gamma": 0.1, "loss": "generalized_dice",
                  "min_samples_per_epoch": None, "samples_per_epoch": None, "augment": True, "max_images": None,
                  "grid": ("Real", "Gen", "Real+Gen", "50%", "50%+Gen", "30%", "30%+Gen", "10%", "10%+Gen"),
                  "gen_use": "mix"},
    },
    # ---- 06 muscle thickness -----------------------------------------------------
    # n_chords: chords per image (paper: 5); max_images: expert/test masks measured (None
    # = all); phantom_n / phantom_size: phantoms (px, square) of the measured-vs-true check;
    # methods: MT methods compared side by side (msknb.thickness.methods.METHODS; first = main)
    "thickness": {
        "smoke": {"n_chords": 5, "max_images": 40, "phantom_n": 8, "phantom_size": 128,
                  "methods": ("chords", "dltrack")},
        "quick": {"n_chords": 5, "max_images": None, "phantom_n": 20, "phantom_size": 256,
                  "methods": ("chords", "dltrack")},
        "paper": {"n_chords": 5, "max_images": None, "phantom_n": 40, "phantom_size": 256,
                  "methods": ("chords", "dltrack")},
    },
    # ---- 07 evaluation -----------------------------------------------------------
    # n_images: synthetic images evaluated (paper: 100 per muscle); feature_size: px of the
    # evaluation when there is no synthetic set (else the synthetic images' size);
    # use_inception: the standard FID (torchmetrics on the FID Inception; weights fetched on
    # first use, "not run" naming the file when offline); use_lpips_pretrained: LPIPS on the
    # ImageNet AlexNet (fetched likewise; random backbone, labelled, when offline);
    # memorisation_metric: "ncc" | "ssim"; kid_subsets: KID subset draws.
    "evaluation": {
        "smoke": {"n_images": 16, "feature_size": 64, "use_inception": False, "use_lpips_pretrained": False,
                  "memorisation_metric": "ncc", "kid_subsets": 20},
        "quick": {"n_images": 100, "feature_size": 128, "use_inception": True, "use_lpips_pretrained": True,
                  "memorisation_metric": "ssim", "kid_subsets": 50},
        "paper": {"n_images": 200, "feature_size": 256, "use_inception": True, "use_lpips_pretrained": True,
                  "memorisation_metric": "ssim", "kid_subsets": 100},
    },
}


def check_profile(profile: str) -> str:
    """Return ``profile`` or raise :class:`ConfigError` listing the known ones."""
    if profile not in PROFILE_NAMES:
        raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILE_NAMES)}", "profile")
    return profile


def settings(topic: str, profile: str, **overrides: Any) -> dict[str, Any]:
    """Settings of ``topic`` for ``profile``, with non-``None`` ``overrides`` applied.

    An override for a key the topic does not know raises :class:`ConfigError`
    (a typo must not be silently ignored).
    """
    check_profile(profile)
    if topic not in PROFILES:
        raise ConfigError(f"unknown settings topic {topic!r}; known: {', '.join(PROFILES)}", "topic")
    values = copy.deepcopy(PROFILES[topic][profile])
    for key, value in overrides.items():
        if key not in values:
            raise ConfigError(f"unknown parameter {key!r} for {topic}; known: {', '.join(values)}", key)
        if value is not None:
            values[key] = value
    values["profile"] = profile
    return values
