r"""Exercises of notebook ``06_muscle_thickness``: how well two measurements agree.

===================  =================================================================  ==========================
exercise             the student writes                                                  reference
===================  =================================================================  ==========================
limits_of_agreement  Bland–Altman bias = mean(p − e) and limits bias ∓ 1.96 SD(p − e)     ``agreement`` (loa_low/high)
ccc                  Lin's CCC = 2 s_ep / (s_e² + s_p² + (ē − p̄)²), 1/n moments              ``lin_ccc``
typical_error        predict, then run: does the lower RMSE have the smaller typical error?  ``rmse_example``
===================  =================================================================  ==========================

Fixed inputs: :func:`fixed_pairs`, 12 expert thicknesses (mm) and predictions with a bias of
about +1 mm and a spread of about 1.5 mm.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from msknb.exercises.check import CheckResult, Mistake, Part, _verdict, ask_choice, run_check, show
from msknb.thickness.agreement import agreement, lin_ccc


def fixed_pairs() -> tuple[np.ndarray, np.ndarray]:
    """(expert, predicted) muscle thickness in mm, 12 images (the same numbers on every run)."""
    rng = np.random.default_rng(6)
    expert = rng.uniform(15, 30, 12).round(2)
    predicted = (0.9 * expert + 3.0 + rng.normal(0, 1.5, 12)).round(2)
    return expert, predicted


def check_limits_of_agreement(student_fn: Callable) -> CheckResult:
    """``limits_of_agreement(expert, predicted) -> (bias, low, high)`` with bias the mean of
    predicted − expert and the 95 % limits bias ∓ 1.96 × the sample SD (ddof = 1) of the differences."""
    e, p = fixed_pairs()
    a = agreement(e, p)
    bias, sd = a["bias"], a["sd_diff"]
    d = p - e

    def loa(b, s, k=1.96):
        return (b, b - k * s, b + k * s)

    mistakes = [
        Mistake(loa(-bias, sd), "wrong sign: the differences are predicted − expert (the method "
                "minus the reference), so a method that measures too thick has a positive bias."),
        Mistake((-bias, bias + 1.96 * sd, bias - 1.96 * sd), "wrong sign of the bias: use predicted − "
                "expert."),
        Mistake(loa(bias, d.std(ddof=0)), "the SD with ddof = 0 (np.std's default) divides by n; the "
                "limits use the sample SD, np.std(d, ddof=1), which divides by n − 1."),
        Mistake(loa(bias, np.std(p, ddof=1)), "you used the SD of the predicted values; the limits "
                "use the SD of the DIFFERENCES predicted − expert."),
        Mistake(loa(bias, np.std(e, ddof=1)), "you used the SD of the expert values; the limits use "
                "the SD of the DIFFERENCES predicted − expert."),
        Mistake(loa(bias, sd / np.sqrt(len(d))), "you used the standard error SD/√n: that is the "
                "uncertainty of the bias (its confidence interval). The limits of agreement say where "
                "95 % of single DIFFERENCES fall: bias ∓ 1.96 SD."),
        Mistake(loa(bias, sd, 1.0), "the limits are ∓ 1.96 SD (95 % of a normal distribution), not ∓ 1 SD."),
        Mistake(loa(bias, sd, 2.0), "close: Bland and Altman's 95 % limits use 1.96, not 2."),
        Mistake(loa(bias, np.sqrt(np.mean(d ** 2))), "you used the RMSE, √mean(d²), as the SD; the SD "
                "is taken around the bias: √(Σ(d − d̄)²/(n − 1))."),
    ]
    return show(run_check("limits_of_agreement", student_fn, (e.copy(), p.copy()),
                          (bias, a["loa_low"], a["loa_high"]), mistakes,
                          hint="d = predicted − expert; bias = d.mean(); sd = d.std(ddof=1); the limits "
                               "are bias − 1.96·sd and bias + 1.96·sd.",
                          parts=[Part("bias"), Part("low"), Part("high")]))


def check_ccc(student_fn: Callable) -> CheckResult:
    """``ccc(expert, predicted) -> float``: Lin's concordance correlation coefficient (1/n moments)."""
    e, p = fixed_pairs()
    me, mp = e.mean(), p.mean()
    sep = np.mean((e - me) * (p - mp))
    mistakes = [
        Mistake(float(np.corrcoef(e, p)[0, 1]), "that is Pearson's r: it measures how well the points "
                "follow ANY straight line. CCC also punishes a shift and a slope ≠ 1: 2 s_ep / (s_e² + "
                "s_p² + (ē − p̄)²)."),
        Mistake(float(2 * sep / (e.var() + p.var())), "the (ē − p̄)² term is missing from the "
                "denominator: without it a constant offset between the methods is not punished."),
        Mistake(float(2 * np.cov(e, p)[0, 1] / (e.var() + p.var() + (me - mp) ** 2)), "you mixed "
                "moments: the covariance with n − 1 (np.cov) and the variances with n (np.var). Use 1/n "
                "for all three (np.mean of the products)."),
        Mistake(float(2 * np.cov(e, p)[0, 1] / (e.var(ddof=1) + p.var(ddof=1) + (me - mp) ** 2)),
                "you used n − 1 moments; Lin (1989) uses 1/n: np.mean((e − ē)(p − p̄)) and np.var (ddof = 0)."),
        Mistake(float(sep / (e.var() + p.var() + (me - mp) ** 2)), "the factor 2 in the numerator is "
                "missing: CCC = 2 s_ep / (…), so that two identical methods give 1."),
    ]
    return show(run_check("ccc", student_fn, (e.copy(), p.copy()), lin_ccc(e, p), mistakes,
                          hint="s_ep = np.mean((e − ē)(p − p̄)); s_e² = e.var(); s_p² = p.var(); "
                               "CCC = 2 s_ep / (s_e² + s_p² + (ē − p̄)²)."))


#: the answers ``typical_error`` may return
TYPICAL_CHOICES = ("A", "B", "cannot tell")


def rmse_example() -> dict[str, dict[str, float]]:
    """Two made-up models' MT errors (px) on the same 20 images: A off by about 5 px on every
    image, B off by about 1 px except one gross failure (a band missed, 45 px). Per model:
    ``rmse``, ``bias``, ``sd`` (1/n, so RMSE² = bias² + SD²), ``median_abs``, ``mean_abs``,
    ``largest_share`` (of the summed squared error, the largest error's)."""
    signs = np.where(np.arange(20) % 2 == 0, 1.0, -1.0)
    errors = {"A": signs * np.linspace(4.0, 6.0, 20), "B": signs * np.linspace(0.5, 1.5, 20)}
    errors["B"][-1] = -45.0
    return {k: {"rmse": float(np.sqrt(np.mean(d ** 2))), "bias": float(d.mean()), "sd": float(d.std()),
                "median_abs": float(np.median(np.abs(d))), "mean_abs": float(np.abs(d).mean()),
                "largest_share": float(np.max(d ** 2) / np.sum(d ** 2))}
            for k, d in errors.items()}


def check_typical_error(student_fn: Callable) -> CheckResult:
    """``typical_error() -> "A" | "B" | "cannot tell"``: model A's MT RMSE is lower than model
    B's on the same images; which has the smaller typical (median) error? Predicted first; the
    verdict then shows :func:`rmse_example`, where the lower RMSE has the larger typical error."""
    got, shown = ask_choice("typical_error", student_fn, "return 'A', 'B' or 'cannot tell'.")
    if shown is not None:
        return shown
    answer = " ".join(str(got).strip().lower().replace("'", "").split())
    r = rmse_example()
    a, b = r["A"], r["B"]
    numbers = (f"In this example A has RMSE {a['rmse']:.1f} px and B {b['rmse']:.1f} px, yet B's median |error| is "
               f"{b['median_abs']:.1f} px against A's {a['median_abs']:.1f}: RMSE² = bias² + SD², A {a['rmse']:.1f}² = "
               f"{a['bias']:+.1f}² + {a['sd']:.1f}², B {b['rmse']:.1f}² = {b['bias']:+.1f}² + {b['sd']:.1f}², and "
               f"{100 * b['largest_share']:.0f} % of B's squared error is its one gross failure. Squaring lets a few "
               f"large errors dominate the RMSE.")
    if answer in ("cannot tell", "cant tell", "can not tell"):
        return show(_verdict("typical_error", True, f"correct! {numbers} Read RMSE beside the median (or mean) "
                             "|error| and the Bland–Altman plot before you call one model better."))
    if answer in ("a", "b"):
        wrong = ("a lower RMSE does not promise a smaller typical error." if answer == "a" else
                 "nothing here says B is better either: the RMSE alone does not tell.")
        return show(_verdict("typical_error", False, f"{wrong} {numbers} Hint: what else could make B's RMSE larger "
                             "than A's, besides larger errors on most images?"))
    return show(_verdict("typical_error", False, f"answer one of {TYPICAL_CHOICES}, got {got!r}. "
                         "Hint: return exactly one of those strings."))
