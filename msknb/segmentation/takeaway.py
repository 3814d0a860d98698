"""Notebook 05's "What to take away", written from this run's numbers: first what the live
run can and cannot answer (:func:`question_sentence`: one seed, one fixed training budget),
then the split's leak count, the generator's overlap with the test split, the readings of the comparisons
(:func:`msknb.segmentation.grid_readings.grid_readings`) with and without the test pairs
label QA flagged, and the caveats that hold whatever the numbers. Nothing in it is fixed
prose about the outcome: every claim about synthetic images is counted from the readings.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from msknb.segmentation.experiments import JOINT, PSEUDO

#: the readings' directions, in the order the take-away lists them
DIRECTIONS = ("better", "worse", "no effect", "too few")


def _fmt_names(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "none"


def question_sentence(results: Mapping[str, Any], readings: Sequence[Mapping[str, Any]] = ()) -> str:
    """Why this live run cannot answer the paper's question (do synthetic images help, most
    when real images are few?), from its config: one training seed, and one fixed budget
    (``epochs`` x ``samples_per_epoch`` samples, or epochs over each training set) instead of
    training each model until its val Dice stops improving; points to the precomputed
    reference results of the same notebook."""
    cfg = results.get("config") or {}
    epochs, spe, size = cfg.get("epochs"), cfg.get("samples_per_epoch"), cfg.get("image_size")
    short = "short " if epochs is not None and int(epochs) < 100 else ""
    if spe:
        budget = (f"every training run gets the same {short}budget ({epochs} epochs of {spe} samples at {size} px), "
                  f"so no model is trained until its val Dice stops improving, and a small training set simply "
                  f"sees its images more often")
    else:
        budget = (f"every training run gets a fixed {short}budget of {epochs} epoch(s) at {size} px rather than "
                  f"training until its val Dice stops improving")
    beyond = sum(r.get("direction") in ("better", "worse") for r in readings)
    ex = (f"; the {beyond} difference(s) beyond their CI below are each one example of one training run"
          if beyond else "")
    return (f"**This live run cannot answer the paper's question** (do synthetic images help, and most when real "
            f"images are few?): {budget}; and it is one training seed, while its CIs cover only which test images "
            f"were drawn, not another training run{ex}. The section **Reference results (precomputed)** of this "
            f"notebook answers it: models trained until their val Dice stopped improving, with several seeds and "
            f"subset draws.")


def split_sentence(results: Mapping[str, Any]) -> str:
    """The split's source and how many test images have a near copy in training (0 = no leak)."""
    n = int(results.get("near_copies_test_in_train", 0))
    source = results.get("split", {}).get("source") or "the experiment split"
    if n == 0:
        return f"No test image has a near copy in the training split: the scores are not inflated by near copies. Split: {source}."
    return f"**{n} test image(s) have a near copy in the training split: the test scores may be inflated.** Split: {source}."


def generator_sentence(check: Mapping[str, Any] | None) -> str:
    """What :func:`msknb.segmentation.generator_check.generator_check` found, as one sentence."""
    if check is None or check.get("generator_provenance") == "no synthetic set":
        return "There was no synthetic set, so no Gen experiment ran."
    n = check.get("generator_test_overlap")
    if check.get("refused"):
        return f"The Gen experiments were skipped: {check['refused']}."
    if n == 0:
        return "The generator was trained on none of the test images (overlap 0): the Gen experiments are leak-free."
    what = "an unknown set of images" if n is None else f"{n} test image(s)"
    return f"**The generator was trained on {what} and the Gen experiments ran anyway: their scores may be inflated.**"


def synthetic_sentence(readings: Sequence[Mapping[str, Any]]) -> str:
    """How adding the synthetic set went, counted from the readings of ``x`` vs ``x+Gen``
    (better / worse beyond the paired-bootstrap 95 % CI, or no measurable effect), and how
    often the paper's difference lies inside our CI."""
    plus = [r for r in readings if str(r["b"]).endswith("+Gen")]
    if not plus:
        return "No comparison with and without the synthetic set ran, so this run says nothing about it."
    by = {d: [r["b"] for r in plus if r["direction"] == d] for d in DIRECTIONS}
    one = " (one seed: one example each)" if any(r.get("training_seeds") == 1 for r in plus) else ""
    parts = [f"{d} beyond the uncertainty in {len(by[d])} ({_fmt_names(by[d])}){one if by[d] else ''}"
             for d in ("better", "worse")]
    parts.append(f"no measurable effect in {len(by['no effect'])} ({_fmt_names(by['no effect'])})")
    if by["too few"]:
        parts.append(f"too few test images to read in {len(by['too few'])}")
    with_paper = [r for r in plus if r.get("paper_diff") is not None and r.get("ci_low") is not None]
    inside = sum(r["ci_low"] <= r["paper_diff"] <= r["ci_high"] for r in with_paper)
    paper = (f" The paper's difference lies inside our 95 % CI in {inside} of {len(with_paper)}."
             if with_paper else "")
    return f"Adding the synthetic set, of {len(plus)} comparison(s): " + "; ".join(parts) + "." + paper


def gen_only_sentence(readings: Sequence[Mapping[str, Any]]) -> str | None:
    """Gen (synthetic images only) against Real, as a share of Real's Dice; None without that reading."""
    r = next((r for r in readings if (r["a"], r["b"]) == ("Real", "Gen")), None)
    if r is None or r.get("ratio") is None:
        return None
    one = " in this one training run (one seed: one example)" if r.get("training_seeds") == 1 else ""
    how = {"better": f"higher than Real's beyond the uncertainty{one}",
           "worse": f"lower than Real's beyond the uncertainty{one}",
           "no effect": "within the uncertainty of Real's: no measurable effect"}.get(
        r["direction"], "not readable (too few images)")
    return (f"Trained on synthetic images only, the segmenter reached {100 * r['ratio']:.0f} % of Real's Dice "
            f"(paper: {100 * r['paper_ratio']:.0f} %): Dice {r['diff']:+.3f}, {how}.")


def flagged_sentence(flags: Mapping[str, Any] | None, readings: Sequence[Mapping[str, Any]],
                     clean: Sequence[Mapping[str, Any]]) -> str | None:
    """How much the test pairs label QA flagged move Real's Dice, and which readings change
    direction without them; None when ``flags`` is None."""
    if flags is None:
        return None
    ids = flags.get("flagged_test_ids", [])
    if not ids:
        return "Label QA flagged no test pair: all test masks sit on the aponeuroses."
    real = flags.get("experiments", {}).get("Real") or next(iter(flags.get("experiments", {}).values()), None)
    move = ""
    if real and real["all"]["mean"] is not None and real["without_flagged"]["mean"] is not None:
        name = "Real" if "Real" in flags["experiments"] else next(iter(flags["experiments"]))
        move = (f" {name}'s test Dice is {real['all']['mean']:.3f} with them and "
                f"{real['without_flagged']['mean']:.3f} without.")
    before = {(r["a"], r["b"]): r["direction"] for r in readings}
    changed = [f"{r['b']} vs {r['a']} ({before[(r['a'], r['b'])]} -> {r['direction']})" for r in clean
               if (r["a"], r["b"]) in before and before[(r["a"], r["b"])] != r["direction"]]
    how = ("Without them the reading changes for " + "; ".join(changed) + "." if changed
           else "Without them no reading changes.")
    return f"Label QA flagged {len(ids)} test pair(s).{move} {how}"


def caveats(results: Mapping[str, Any]) -> list[str]:
    """Statements that hold whatever the numbers: the masks' source and the profile's scale."""
    out = []
    if results.get("synthetic_mask_source") == PSEUDO:
        out.append("The synthetic masks are pseudo-labels from the Real model: they can only teach what "
                   "that model already knows.")
    elif results.get("synthetic_mask_source") == JOINT:
        out.append("The synthetic masks come with their images (generated jointly or drawn from the mask "
                   "the generator was conditioned on): pixel-aligned, but only as good as the generator.")
    plus = [r for r in results.get("experiments", {}).values() if r.get("gen_use") == "pretrain"]
    if plus:
        out.append(f"The {len(plus)} x+Gen model(s) started from the Gen model and were fine-tuned on their real "
                   f"images (gen_use = pretrain): the Gen model's updates on top of those of the real-only model "
                   f"they are compared with, so part of a gain may be the longer training (see the budget-matched "
                   f"control under 'Mix, pretrain, or just train longer?').")
    size = results.get("config", {}).get("image_size")
    out.append(f"This run segments at {size} px with a short training budget; the paper used 256 px and 300 "
               f"epochs on private data of four muscles: compare the pattern, not the absolute Dice.")
    return out


def takeaway_markdown(results: Mapping[str, Any], readings: Sequence[Mapping[str, Any]],
                      generator: Mapping[str, Any] | None = None, flags: Mapping[str, Any] | None = None,
                      readings_clean: Sequence[Mapping[str, Any]] = ()) -> str:
    """A Markdown bullet list: :func:`question_sentence`, :func:`split_sentence`, :func:`generator_sentence`,
    :func:`synthetic_sentence`, :func:`gen_only_sentence`, :func:`flagged_sentence` and the
    :func:`caveats`, from the grid ``results``, its ``readings`` (all test pairs),
    ``readings_clean`` (without the flagged ones), the ``generator`` check and ``flags``
    (:func:`~msknb.segmentation.grid_readings.dice_with_and_without`)."""
    lines = [question_sentence(results, readings), split_sentence(results), generator_sentence(generator),
             synthetic_sentence(readings),
             gen_only_sentence(readings), flagged_sentence(flags, readings, readings_clean), *caveats(results)]
    return "\n".join(f"* {s}" for s in lines if s)
