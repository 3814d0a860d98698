"""Readings of the forward process (notebooks 01 and 04), each a sentence computed from numbers:

* :func:`contrast_survival` -- Eq. 2 scales every pixel alike; what stays *visible* is what has
  contrast: the timestep where the noise std reaches the aponeuroses' contrast and the speckle's;
* :func:`schedule_reading` -- where the linear and cosine schedules part (01's SNR figure);
* :func:`start_mean_reading` -- the mean of x_{T-1} the network saw in training, per image,
  against the mean 0 of the N(0, I) that sampling starts from (01, 04).

All images are (N, H, W) or (H, W) in [0, 1]; the model sees x_0 = 2 image - 1.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from msknb.data.label_qa import band_contrast
from msknb.ddpm import diffusion as D


def _buried_at(schedule: D.Schedule, contrast: float) -> int | None:
    """First t where the noise std sqrt(1 - abar_t) reaches sqrt(abar_t) * contrast (per-pixel
    contrast-to-noise 1), or None if it never does."""
    abar = schedule.alphas_cumprod.double().numpy()
    hit = np.nonzero(np.sqrt(abar) * contrast <= np.sqrt(1 - abar))[0]
    return int(hit[0]) if len(hit) else None


def contrast_survival(image: np.ndarray, mask: np.ndarray | None, schedule: D.Schedule) -> dict[str, Any]:
    """``{"aponeurosis": Δ, "speckle": s, "t_aponeurosis", "t_speckle"}``, contrasts in x_0
    units: Δ = mean on the mask minus mean in the strips just above and below it
    (:func:`msknb.data.label_qa.band_contrast`, converted from image-std units; None without a
    mask), s = rms difference of horizontally neighbouring pixels / sqrt(2) (the speckle's
    pixel-to-pixel spread). ``t_*``: the first t where Eq. 2's noise std equals the scaled
    contrast (per pixel; None: never)."""
    img = np.asarray(image, dtype=np.float64)
    speckle = float(np.sqrt(np.mean(np.diff(2 * img, axis=1) ** 2) / 2))
    apo = None
    if mask is not None and np.asarray(mask).any():
        c = band_contrast(img, mask)
        apo = None if not math.isfinite(c) else float(c * (img.std() + 1e-6) * 2)
    return {"aponeurosis": apo, "speckle": speckle,
            "t_aponeurosis": None if apo is None or apo <= 0 else _buried_at(schedule, apo),
            "t_speckle": _buried_at(schedule, speckle)}


def contrast_reading(c: dict[str, Any], timesteps: int) -> str:
    """A sentence from :func:`contrast_survival`."""
    never = f"never, within T = {timesteps}"
    ts = lambda t: never if t is None else f"t = {t}"
    text = (f"On this image the speckle varies by {c['speckle']:.2f} from pixel to pixel (x_0 units); Eq. 2's noise "
            f"is as large as that at {ts(c['t_speckle'])}")
    if c["aponeurosis"] is None:
        return text + "; there is no mask to measure the aponeuroses' contrast."
    return (text + f". The aponeuroses are {c['aponeurosis']:.2f} brighter than the tissue just beside them; the noise "
            f"reaches that at {ts(c['t_aponeurosis'])} (per pixel; the eye averages along a band, so it stays visible "
            f"longer). Every pixel is scaled alike: the structure with the larger contrast simply takes more noise "
            f"to hide.")


def schedule_reading(schedules: dict[str, D.Schedule], a: str = "linear", b: str = "cosine",
                     db: float = 3.0) -> str:
    """Where schedules ``a`` and ``b`` part: the last t (before T-1) at which their SNRs are within
    ``db`` dB of each other, and each one's abar and SNR at the last step."""
    T = schedules[a].timesteps
    gap = np.abs(D.snr_db(schedules[a], range(T - 1)).numpy() - D.snr_db(schedules[b], range(T - 1)).numpy())
    first = int(np.argmax(gap > db)) if (gap > db).any() else None
    upto = T - 2 if first is None else first - 1
    last = {k: (float(schedules[k].alphas_cumprod[-1]), float(D.snr_db(schedules[k], T - 1))) for k in (a, b)}
    return (f"{a.capitalize()} and {b} stay within {db:g} dB of each other up to t = {upto} of 0..{T - 1}; at the last "
            f"step {a} keeps ᾱ = {last[a][0]:.3g} (SNR {last[a][1]:.0f} dB) and {b} ᾱ = {last[b][0]:.2g} "
            f"(SNR {last[b][1]:.0f} dB): the two part at the end of the chain.")


def start_mean_reading(images: np.ndarray, schedule: D.Schedule, size: int | None = None) -> dict[str, Any]:
    """The mean of x_{T-1} = sqrt(abar) x_0 + sqrt(1 - abar) eps per training image: ``means``
    (N,) = sqrt(abar_{T-1}) * mean(x_0); ``noise_sd`` = sqrt(1 - abar) / sqrt(H W), the spread the
    noise adds to an image's mean (H W pixels of the model; ``size`` px square overrides);
    ``share_at_or_above_0``: the share of training draws (over images and noise) whose mean is
    >= 0, the mean of the N(0, I) start; plus ``brightest``, ``median``, ``n``."""
    imgs = np.asarray(images, dtype=np.float64)
    imgs = imgs[None] if imgs.ndim == 2 else imgs
    ab = float(schedule.alphas_cumprod[-1])
    means = math.sqrt(ab) * (2 * imgs.reshape(len(imgs), -1).mean(1) - 1)
    pixels = size * size if size else imgs.shape[1] * imgs.shape[2]
    sd = math.sqrt(1 - ab) / math.sqrt(pixels)
    above = np.array([0.5 * math.erfc(-m / (sd * math.sqrt(2))) for m in means]) if sd > 0 else (means >= 0) * 1.0
    return {"n": int(len(means)), "means": means, "noise_sd": sd, "brightest": float(means.max()),
            "median": float(np.median(means)), "share_at_or_above_0": float(above.mean())}


def start_reading(r: dict[str, Any]) -> str:
    """A sentence from :func:`start_mean_reading`: how the mean 0 of the N(0, I) start compares
    with the means of x_(T-1) the network saw in training."""
    share = r["share_at_or_above_0"]
    verdict = ("the start lies within the range the network learned from" if share >= 0.5 else
               f"the start is brighter than {100 * (1 - share):.1f} % of the starting points the network learned "
               f"from (not brighter than all of them: the brightest images' x_(T-1) reach 0 now and then)"
               if share >= 0.0005 else
               "the start is brighter than practically every starting point the network learned from")
    return (f"In training, the mean of x_(T-1) over an image was √ᾱ_(T-1) × the image's mean: median "
            f"{r['median']:+.3f} over these {r['n']} images, {r['brightest']:+.3f} for the brightest, and the noise "
            f"moves it by only ±{r['noise_sd']:.3f} (one sd). Sampling starts from N(0, I), mean 0: "
            f"{100 * share:.1f} % of the training x_(T-1) had a mean that high, so {verdict}.")
