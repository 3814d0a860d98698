"""Did the generator of the synthetic set see the segmentation test images?

A generator trained on a test image can hand a near copy of it (with its mask) to the
Gen / Real+Gen segmenters: their test Dice is then inflated. Notebook 04 records the real
ids its generator was trained on (``synthetic/generator.json``, read with
:func:`msknb.artifacts.read_generator_record`); :func:`generator_check` compares them with
the test ids and decides whether the Gen experiments may run.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from msknb.ddpm.provenance import test_overlap


def _provenance(record: Mapping[str, Any] | None, has_synthetic: bool) -> str:
    """One line on where the synthetic set came from and what its generator saw."""
    if not has_synthetic:
        return "no synthetic set"
    if record is None:
        return "no generator record (synthetic/generator.json): the generator's training images are unknown"
    ids = record.get("training_ids")
    seen = "unknown training images" if ids is None else f"trained on {len(ids)} real images"
    return (f"{record.get('n', '?')} images drawn by {record.get('checkpoint', '?')} "
            f"({record.get('mode', '?')} mode, {record.get('sampler', '?')}), {seen}")


def mask_source(record: Mapping[str, Any] | None, has_synthetic: bool) -> str:
    """Where the synthetic set's masks come from, from the generator record's ``mode``."""
    if not has_synthetic:
        return "no synthetic set"
    mode = None if record is None else record.get("mode")
    if mode == "mask":
        return ("real training masks: the conditional generator drew one image for each (the masks add no new "
                "shapes; the images are new)")
    if mode == "joint":
        return "generated together with their images (joint mode): new shapes, as good as the generator"
    return "unknown (no generator record): treat them as unverified"


def generator_check(record: Mapping[str, Any] | None, test_ids: Iterable[str], has_synthetic: bool = True,
                    allow_overlap: bool = False) -> dict[str, Any]:
    """Compare the generator record ``record`` (dict of
    :func:`~msknb.artifacts.read_generator_record`, or None when 04 wrote none) with the
    segmentation ``test_ids``.

    Returns ``generator_test_overlap`` (int: test images the generator was trained on, must
    be 0; None when unknown or without a synthetic set), ``overlap_ids`` (list or None),
    ``generator_provenance`` (text), ``mask_source`` (text, :func:`mask_source`), ``use_generator`` (bool: run the Gen experiments),
    ``warning`` (markdown text or None) and ``refused`` (reason to skip the Gen
    experiments, or None). An overlap > 0 or an unknown one refuses the generator unless
    ``allow_overlap``; then it is used and the warning says so."""
    test_ids = [str(i) for i in test_ids]
    ids = None if record is None else record.get("training_ids")
    overlap = test_overlap(ids, test_ids) if has_synthetic else None
    out: dict[str, Any] = {"generator_test_overlap": None if overlap is None else len(overlap),
                           "overlap_ids": overlap, "generator_provenance": _provenance(record, has_synthetic),
                           "mask_source": mask_source(record, has_synthetic),
                           "use_generator": has_synthetic, "warning": None, "refused": None}
    if not has_synthetic or overlap == []:
        return out
    what = ("was trained on an unknown set of images, which may include the test images" if overlap is None
            else f"was trained on {len(overlap)} of the {len(test_ids)} test images")
    if allow_overlap:
        out["warning"] = (f"**Warning: the generator {what}; the Gen experiments run anyway "
                          f"(allow_generator_test_overlap = True): their test scores may be inflated.**")
    else:
        out["use_generator"] = False
        out["refused"] = f"the generator {what} (set allow_generator_test_overlap = True to run them anyway)"
        out["warning"] = (f"**Warning: the generator {what}: the Gen experiments are skipped. Train the "
                          f"generator on the train split only (notebook 03), or set "
                          f"allow_generator_test_overlap = True to run them with this warning.**")
    return out
