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
    "diffusion": {
        "smoke": {"image_size": 64, "timesteps": 300, "schedule": "linear", "toy_train_steps": 20},
        "quick": {"image_size": 64, "timesteps": 300, "schedule": "linear", "toy_train_steps": 300},
        "paper": {"image_size": 256, "timesteps": 300, "schedule": "linear", "toy_train_steps": 2000},
    },
    # ---- 03/04 DDPM training and sampling ---------------------------------------
    "ddpm": {
        "smoke": {"image_size": 32, "dim": 8, "dim_mults": (1, 2), "epochs": 1, "batch_size": 8,
                  "timesteps": 300, "schedule": "linear", "loss": "l1", "lr": 1e-3,
                  "max_images": 32, "n_samples": 8, "ddim_steps": 10, "joint_mask": True,
                  "pretrained": None},
        "quick": {"image_size": 64, "dim": 32, "dim_mults": (1, 2, 4), "epochs": 2, "batch_size": 16,
                  "timesteps": 300, "schedule": "linear", "loss": "l1", "lr": 2e-4,
                  "max_images": None, "n_samples": 64, "ddim_steps": 50, "joint_mask": True,
                  "pretrained": "ddpm_dltrack_64.pt"},
        "paper": {"image_size": 256, "dim": 64, "dim_mults": (1, 2, 4, 8), "epochs": 300, "batch_size": 4,
                  "timesteps": 300, "schedule": "linear", "loss": "l1", "lr": 1e-4,
                  "max_images": None, "n_samples": 200, "ddim_steps": 50, "joint_mask": False,
                  "pretrained": None},
    },
    # ---- 05 segmentation ---------------------------------------------------------
    "segment": {
        "smoke": {"image_size": 64, "channels": (4, 8, 16), "epochs": 1, "batch_size": 8, "lr": 1e-3,
                  "max_images": 40, "grid": ("Real", "Gen", "Real+Gen")},
        "quick": {"image_size": 128, "channels": (16, 32, 64, 128), "epochs": 8, "batch_size": 8,
                  "lr": 1e-3, "max_images": None,
                  "grid": ("Real", "Gen", "Real+Gen", "50%", "50%+Gen", "30%", "30%+Gen", "10%", "10%+Gen")},
        "paper": {"image_size": 256, "channels": (32, 64, 128, 256, 512), "epochs": 300, "batch_size": 8,
                  "lr": 1e-3, "max_images": None,
                  "grid": ("Real", "Gen", "Real+Gen", "50%", "50%+Gen", "30%", "30%+Gen", "10%", "10%+Gen")},
    },
    # ---- 06 muscle thickness -----------------------------------------------------
    "thickness": {
        "smoke": {"n_chords": 5, "max_images": 40},
        "quick": {"n_chords": 5, "max_images": None},
        "paper": {"n_chords": 5, "max_images": None},
    },
    # ---- 07 evaluation -----------------------------------------------------------
    "evaluation": {
        "smoke": {"n_images": 16, "feature_size": 64, "use_inception": False, "use_lpips_pretrained": False},
        "quick": {"n_images": 100, "feature_size": 128, "use_inception": True, "use_lpips_pretrained": True},
        "paper": {"n_images": 200, "feature_size": 256, "use_inception": True, "use_lpips_pretrained": True},
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
