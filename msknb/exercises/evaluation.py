r"""Exercises of notebook ``07_evaluation``: the Fréchet distance and why n matters.

================  ===================================================================  ======================
exercise          the student writes                                                    kind
================  ===================================================================  ======================
frechet_gaussian  ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½) between two Gaussians           formula (``frechet_from_stats``)
fid_and_n         predict, then run: two samples of ONE distribution, n = 20 or 2000:   predict, then run
                  which gives the larger Fréchet distance?
================  ===================================================================  ======================
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy import linalg

from msknb.evaluation.features import frechet_distance, frechet_from_stats, kid
from msknb.exercises.check import CheckResult, Mistake, _verdict, ask_choice, run_check, show

#: the answers ``fid_and_n`` may return
FID_N_CHOICES = ("n = 20", "n = 2000", "equal")


def fixed_gaussians() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mu1, cov1, mu2, cov2): two 3-d Gaussians with correlated, positive covariances."""
    mu1, mu2 = np.array([0.0, 1.0, -0.5]), np.array([0.5, 0.2, 0.0])
    a = np.array([[1.0, 0.3, 0.1], [0.2, 0.8, 0.4], [0.1, 0.1, 0.6]])
    b = np.array([[0.5, 0.2, 0.3], [0.1, 1.2, 0.2], [0.3, 0.1, 0.9]])
    return mu1, a @ a.T, mu2, b @ b.T


def check_frechet_gaussian(student_fn: Callable) -> CheckResult:
    """``frechet_gaussian(mu1, cov1, mu2, cov2) -> float`` (numpy arrays; scipy.linalg.sqrtm allowed)."""
    mu1, s1, mu2, s2 = fixed_gaussians()
    d2 = float(np.sum((mu1 - mu2) ** 2))
    root = np.real(linalg.sqrtm(s1 @ s2))
    tr = float(np.trace(s1) + np.trace(s2))
    mistakes = [
        Mistake(d2 + tr - np.trace(root), "the cross term is −2 tr((Σ₁Σ₂)^½): the factor 2 is missing."),
        Mistake(d2 + tr - 2 * np.trace(s1 @ s2), "the cross term needs the MATRIX square root: "
                "−2 tr((Σ₁Σ₂)^½), e.g. scipy.linalg.sqrtm(cov1 @ cov2)."),
        Mistake(d2 + tr - 2 * np.trace(np.sqrt(s1 @ s2)), "np.sqrt takes the square root of each "
                "entry; the formula needs the matrix square root, scipy.linalg.sqrtm(cov1 @ cov2)."),
        Mistake(np.sqrt(d2) + tr - 2 * np.trace(root), "the mean term is the SQUARED distance "
                "‖μ₁ − μ₂‖², not the distance."),
        Mistake(tr - 2 * np.trace(root), "the mean term ‖μ₁ − μ₂‖² is missing: two Gaussians with the "
                "same covariance but different means must be far apart."),
        Mistake(d2 + tr + 2 * np.trace(root), "wrong sign of the cross term: −2 tr((Σ₁Σ₂)^½)."),
    ]
    return show(run_check("frechet_gaussian", student_fn, (mu1.copy(), s1.copy(), mu2.copy(), s2.copy()),
                          frechet_from_stats(mu1, s1, mu2, s2), mistakes, rtol=1e-6,
                          hint="d = mu1 − mu2; d @ d + np.trace(cov1) + np.trace(cov2) − 2 * "
                               "np.trace(scipy.linalg.sqrtm(cov1 @ cov2)).real."))


def fid_by_n(ns=(20, 200, 2000), dim: int = 16, repeats: int = 20, seed: int = 0) -> dict[int, dict[str, float]]:
    """Fréchet distance and KID between two independent samples of ONE Gaussian N(0, I_dim),
    n images each, over ``repeats`` draws (KID on one subset of min(n, 200)):
    {n: {"frechet", "frechet_sd", "kid", "kid_sd"}} (mean and SD over the draws). The true distance is 0."""
    rng = np.random.default_rng(seed)
    out = {}
    for n in ns:
        fd, kd = [], []
        for _ in range(repeats):
            a, b = rng.standard_normal((n, dim)), rng.standard_normal((n, dim))
            fd.append(frechet_distance(a, b))
            kd.append(kid(a, b, subsets=1, subset_size=min(n, 200), seed=seed)["mean"])
        out[int(n)] = {"frechet": float(np.mean(fd)), "frechet_sd": float(np.std(fd, ddof=1)),
                       "kid": float(np.mean(kd)), "kid_sd": float(np.std(kd, ddof=1))}
    return out


def _normalise(answer: Any) -> str:
    text = str(answer).strip().lower().replace(" ", "")
    return {"n=20": "n = 20", "20": "n = 20", "n=2000": "n = 2000", "2000": "n = 2000"}.get(text, text)


def check_fid_and_n(student_fn: Callable) -> CheckResult:
    """``fid_and_n() -> "n = 20" | "n = 2000" | "equal"``: predicted first; the verdict then runs the
    experiment (:func:`fid_by_n`) and prints its numbers."""
    got, shown = ask_choice("fid_and_n", student_fn, "return 'n = 20', 'n = 2000' or 'equal'.")
    if shown is not None:
        return shown
    answer = _normalise(got)
    if answer not in FID_N_CHOICES:
        return show(_verdict("fid_and_n", False, f"answer one of {FID_N_CHOICES}, got {got!r}. "
                         "Hint: return exactly one of those strings."))
    r = fid_by_n()
    numbers = "; ".join(f"n = {n}: Fréchet {v['frechet']:.3f} ± {v['frechet_sd']:.3f}, KID {v['kid']:+.4f} "
                        f"± {v['kid_sd']:.4f}" for n, v in r.items())
    measured = (f"Measured (16-d features, both samples from N(0, I), true distance 0; mean ± SD over 20 "
                f"draws): {numbers}.")
    why = ("The Fréchet distance fits a mean and a covariance to each sample; with few images those "
           "estimates are noisy, and the noise only ADDS distance (it is biased upwards, roughly ∝ dim/n). "
           "So compare FIDs only at the same n (this notebook draws real-vs-real at the synthetic set's n), "
           "and read KID at small n with its spread: it is unbiased (its expected value is 0 at every n), but "
           "one estimate from few images scatters widely, and a ratio to a near-zero KID means nothing.")
    if answer == "n = 20":
        return show(_verdict("fid_and_n", True, f"correct! {measured} {why}"))
    if answer == "equal":
        return show(_verdict("fid_and_n", False, f"both samples come from one distribution, so the TRUE "
                             f"distance is 0 at every n, but the estimate is not. {measured} Hint: {why}"))
    return show(_verdict("fid_and_n", False, f"more images make the estimate better, not worse. {measured} "
                         f"Hint: {why}"))
