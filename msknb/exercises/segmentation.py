r"""Exercise of notebook ``05_segmentation``: the overlap metrics of a predicted mask.

===============  ======================================================================  ==========================
exercise         the student writes                                                       reference
===============  ======================================================================  ==========================
overlap_metrics  precision TP/(TP+FP), recall TP/(TP+FN), Dice 2TP/(2TP+FP+FN),           ``segmentation_metrics``
                 IoU TP/(TP+FP+FN) of a probability map thresholded at 0.5
choose_metric    "pixel accuracy" or "dice": which tells whether the aponeuroses were    choose and justify
                 found (the verdict shows both for an empty and a shifted prediction)
===============  ======================================================================  ==========================

Fixed inputs: :func:`fixed_masks`, a 32 x 32 expert mask with two thin bands (3 px thick, like
the aponeuroses) and a predicted probability map: the bands shifted down by 1 px, a short
gap, a false blob, probabilities between 0 and 1. Once the answer is right the check prints
what a one-pixel shift does to the Dice of a thin band and of a thick one.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from msknb.exercises.check import CheckResult, Mistake, Part, _verdict, ask_choice, run_check, show
from msknb.segmentation.metrics import segmentation_metrics


def fixed_masks() -> tuple[np.ndarray, np.ndarray]:
    """``(probabilities, expert)``: (32, 32) float64 in [0, 1] and (32, 32) uint8 {0, 1}
    (the same numbers on every run)."""
    expert = np.zeros((32, 32), dtype=np.uint8)
    expert[6:9, 2:30] = 1                     # superficial aponeurosis, 3 px thick
    expert[22:25, 2:30] = 1                   # deep aponeurosis
    rng = np.random.default_rng(5)
    prob = 0.6 + 0.35 * rng.random((32, 32))  # confident where the model sees a band
    inside = np.roll(expert, 1, axis=0).astype(bool)
    inside[22:26, 12:16] = False               # a gap in the deep band
    inside[14:16, 20:24] = True                # a false blob between the bands
    prob = np.where(inside, prob, 0.45 * rng.random((32, 32)))
    return prob.round(3), expert


def reference(prob: np.ndarray, expert: np.ndarray) -> tuple[float, float, float, float]:
    """(precision, recall, Dice, IoU) of ``prob > 0.5`` against ``expert``."""
    m = segmentation_metrics((prob > 0.5).astype(np.uint8), expert)[0]
    return m["precision"], m["recall"], m["dice"], m["iou"]


def shift_lesson() -> str:
    """What a one-pixel vertical shift does to the Dice of a 3 px band and of a 30 px region."""
    out = []
    for thick in (3, 30):
        mask = np.zeros((64, 64), dtype=np.uint8)
        mask[10:10 + thick, 4:60] = 1
        out.append((thick, segmentation_metrics(np.roll(mask, 1, axis=0), mask)[0]["dice"]))
    return (f"A one-pixel shift leaves a {out[0][0]} px-thick band a Dice of {out[0][1]:.2f} and a {out[1][0]} "
            f"px-thick region {out[1][1]:.2f}: on thin aponeuroses Dice is harsh, and a mask only one pixel off "
            f"scores {out[0][1]:.2f}.")


def check_overlap_metrics(student_fn: Callable) -> CheckResult:
    """``overlap_metrics(prob, expert) -> (precision, recall, dice, iou)``: threshold ``prob``
    at 0.5 and count true positives, false positives and false negatives against ``expert``."""
    prob, expert = fixed_masks()
    p, t = prob > 0.5, expert > 0
    tp, fp, fn = float((p & t).sum()), float((p & ~t).sum()), float((~p & t).sum())
    precision, recall, dice, iou = reference(prob, expert)
    soft_tp = float((prob * expert).sum())
    soft_dice = 2 * soft_tp / (prob.sum() + expert.sum())
    soft_iou = soft_tp / (prob.sum() + expert.sum() - soft_tp)
    mistakes = [
        Mistake((recall, precision, dice, iou), "precision and recall are swapped: precision = TP/(TP+FP) asks "
                "how much of what was PREDICTED is right; recall = TP/(TP+FN) how much of the EXPERT mask was found."),
        Mistake((precision, recall, iou, dice), "Dice and IoU are swapped: Dice = 2TP/(2TP+FP+FN) is never below "
                "IoU = TP/(TP+FP+FN)."),
        Mistake((soft_tp / prob.sum(), soft_tp / expert.sum(), soft_dice, soft_iou), "you used the "
                "probabilities themselves (a 'soft' Dice, a training loss); the reported metrics threshold "
                "first: pred = prob > 0.5."),
        Mistake((precision, recall, tp / (2 * tp + fp + fn), iou), "Dice is half the right value: the factor 2 "
                "in 2TP/(2TP+FP+FN) is missing."),
        Mistake((precision, recall, dice, tp / (2 * tp + fp + fn)), "IoU's denominator is the UNION, TP+FP+FN "
                "(= |A| + |B| − |A∩B|), not |A| + |B|."),
        Mistake((precision, recall, float((p == t).mean()), iou), "that Dice is the pixel accuracy: with ~90 % "
                "background it is high for almost any mask. Dice counts only the aponeurosis pixels."),
    ]
    result = run_check("overlap_metrics", student_fn, (prob.copy(), expert.copy()), (precision, recall, dice, iou),
                       mistakes, hint="pred = prob > 0.5; t = expert > 0; TP = (pred & t).sum(), FP = (pred & ~t).sum(), "
                                      "FN = (~pred & t).sum(); then the four ratios.",
                       parts=[Part("precision"), Part("recall"), Part("dice"), Part("iou")])
    show(result)
    if result.ok:
        print(shift_lesson())
    return result


#: the answers ``choose_metric`` may return
METRIC_CHOICES = ("pixel accuracy", "dice")


def empty_and_shifted(expert: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """Pixel accuracy and Dice of two predictions for ``expert`` (H, W) {0, 1} (when None: a
    128 x 128 mask with two 3 px-thick bands, about 4 % of the pixels, like the aponeuroses): an
    empty mask (no aponeurosis found) and the expert mask shifted down by one pixel.
    ``{"empty": {"accuracy", "dice"}, "shifted": {...}, "foreground": {"share"}}``."""
    if expert is None:
        expert = np.zeros((128, 128), dtype=np.uint8)
        expert[30:33, 4:124] = 1
        expert[90:93, 4:124] = 1
    expert = np.asarray(expert)
    t = expert > 0
    out = {}
    for name, pred in (("empty", np.zeros_like(t)), ("shifted", np.roll(t, 1, axis=0))):
        out[name] = {"accuracy": float((pred == t).mean()),
                     "dice": segmentation_metrics(pred.astype(np.uint8), expert)[0]["dice"]}
    out["foreground"] = {"share": float(t.mean())}
    return out


def check_choose_metric(student_fn: Callable) -> CheckResult:
    """``choose_metric() -> "pixel accuracy" | "dice"``: which number tells whether a segmenter
    found the thin aponeuroses? The verdict gives both numbers for an empty prediction and a
    one-pixel shift (:func:`empty_and_shifted`) as the justification."""
    got, shown = ask_choice("choose_metric", student_fn, "return the string 'dice' or 'pixel accuracy'.")
    if shown is not None:
        return shown
    r = empty_and_shifted()
    numbers = (f"on a mask of two thin bands ({100 * r['foreground']['share']:.0f} % of the pixels are aponeurosis) a "
               f"prediction with NO aponeurosis scores pixel accuracy {r['empty']['accuracy']:.2f} and Dice "
               f"{r['empty']['dice']:.2f}; the expert mask shifted by one pixel scores {r['shifted']['accuracy']:.2f} "
               f"and {r['shifted']['dice']:.2f}.")
    answer = " ".join(str(got).strip().lower().replace("_", " ").split())
    if answer in ("dice", "dice score", "dsc"):
        return show(_verdict("choose_metric", True, f"correct! {numbers} Pixel accuracy is dominated by the "
                             "background: it praises a model that finds nothing. Dice counts only the aponeurosis "
                             "pixels, which is why the paper (and this notebook) report it."))
    if answer in ("pixel accuracy", "accuracy"):
        return show(_verdict("choose_metric", False, f"pixel accuracy cannot tell a good segmenter from one that "
                             f"finds nothing: {numbers} Hint: which number drops to 0 when no aponeurosis is found?"))
    return show(_verdict("choose_metric", False, f"answer one of {METRIC_CHOICES}, got {got!r}. "
                         "Hint: return exactly one of those strings."))
