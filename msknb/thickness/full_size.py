"""MT of the shipped segmenter beside the experts, at each image's own resolution
(notebook 06): one forward pass per image (probabilities upsampled to the stored image,
as ``msknb measure`` does), the expert mask measured at the same size by the same method.

Reads a DL_Track-layout folder (``images/<id>.*``, ``masks/<id>.*``, optional
``manifest.csv`` with spacing); mm wherever the manifest gives a spacing, else px only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from msknb.data import ALL_EXTS, load_image, load_mask
from msknb.data.kit_split import load_kit_split
from msknb.errors import MsknbError
from msknb.segmentation.model import load_segmenter
from msknb.segmentation.predict import model_threshold, predict_full_size
from msknb.segmentation.shipped import DEFAULT_SEGMENTER
from msknb.thickness.agreement import agreement
from msknb.thickness.methods import measure_thickness
from msknb.thickness.scans import manifest_spacing_of


def _file(folder: Path, stem: str) -> Path | None:
    hits = sorted(p for p in folder.glob(stem + ".*") if p.suffix.lower() in ALL_EXTS)
    return hits[0] if hits else None


def _reading(values: np.ndarray, method: str, threshold: float, spacing) -> tuple[float, float, str]:
    """(MT px, MT mm or NaN, flag); (NaN, NaN, "error: ...") when MT cannot be measured."""
    try:
        r = measure_thickness(values, spacing_mm=spacing, threshold=threshold, method=method)
    except MsknbError as e:
        return float("nan"), float("nan"), f"error: {e.problem}"
    return r.mt_px, float("nan") if r.mt_mm is None else r.mt_mm, r.flag


def _empty(n: int) -> dict[str, Any]:
    return {"expert_px": np.full(n, np.nan), "pred_px": np.full(n, np.nan), "expert_mm": np.full(n, np.nan),
            "pred_mm": np.full(n, np.nan), "flags": [""] * n}


def shipped_vs_experts(data_dir: str | Path, ids: Sequence[str], methods: Sequence[str] = ("chords",),
                       model_path: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """MT of the expert masks and of the segmenter's full-size probabilities for ``ids``.

    Returns ``{"ids": measured ids, "missing": ids without image or mask, "seen_in_training":
    (N,) bool (id in the kit split's train ids, which trained the shipped segmenter),
    "spacing_mm": (N, 2) (NaN when unknown), "unit": "mm" when every image has a spacing else
    "px", "model": path, "methods": {method: {"expert_px", "pred_px", "expert_mm", "pred_mm"
    (N,) float, NaN = not measured; "flags": N x "ok" | "doubtful: ..." | "error: ..."}}}``."""
    root = Path(data_dir)
    model_path = Path(model_path or DEFAULT_SEGMENTER)
    model = load_segmenter(model_path)
    thr = model_threshold(model)
    pairs = [(i, _file(root / "images", i), _file(root / "masks", i)) for i in ids]
    found = [(i, im, mk) for i, im, mk in pairs if im is not None and mk is not None]
    out = {m: _empty(len(found)) for m in methods}
    spacing = np.full((len(found), 2), np.nan)
    for k, (i, im, mk) in enumerate(tqdm(found, desc="shipped segmenter", disable=not progress, leave=False)):
        sp = manifest_spacing_of(im)
        if sp is not None:
            spacing[k] = sp
        prob = predict_full_size(model, load_image(im))
        expert = (load_mask(mk) > 0).astype(np.float32)
        for m in methods:
            e_px, e_mm, _ = _reading(expert, m, 0.5, sp)
            p_px, p_mm, flag = _reading(prob, m, thr, sp)
            for key, v in (("expert_px", e_px), ("expert_mm", e_mm), ("pred_px", p_px), ("pred_mm", p_mm)):
                out[m][key][k] = v
            out[m]["flags"][k] = flag
    kit = load_kit_split() or {"train": []}
    train = set(kit["train"])
    return {"ids": [i for i, _, _ in found], "missing": [i for i, im, mk in pairs if im is None or mk is None],
            "seen_in_training": np.array([i in train for i, _, _ in found], dtype=bool), "spacing_mm": spacing,
            "unit": "mm" if len(found) and np.isfinite(spacing).all() else "px", "model": str(model_path),
            "methods": out}


def _subset_row(method: str, subset: str, e: np.ndarray, p: np.ndarray, unit: str) -> dict[str, Any]:
    keep = np.isfinite(e) & np.isfinite(p)
    rel = (p[keep] - e[keep]) / e[keep]
    a = agreement(e, p)
    return {"method": method, "subset": subset, "n": a["n"], "unit": unit, "rmse": a["rmse"], "bias": a["bias"],
            "loa_low": a["loa_low"], "loa_high": a["loa_high"], "icc_2_1": a["icc_2_1"],
            "relative_rmse_pct": float(100 * np.sqrt(np.mean(rel ** 2))) if rel.size else float("nan"),
            "within_5pct_pct": float(100 * np.mean(np.abs(rel) <= 0.05)) if rel.size else float("nan"),
            "relative_loa_halfwidth_pct": float(100 * 1.96 * rel.std(ddof=1)) if rel.size > 1 else float("nan")}


def shipped_summary(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Agreement rows of :func:`shipped_vs_experts` per method, for all readings, the images
    the segmenter did not train on, and the readings flagged ok: ``n``, ``rmse``, ``bias``,
    ``loa_low``/``loa_high`` (in ``unit``), ``icc_2_1``, ``relative_rmse_pct``,
    ``within_5pct_pct``, ``relative_loa_halfwidth_pct`` (1.96 SD of the relative difference)."""
    rows = []
    unseen = ~res["seen_in_training"]
    for method, v in res["methods"].items():
        e, p = (v["expert_mm"], v["pred_mm"]) if res["unit"] == "mm" else (v["expert_px"], v["pred_px"])
        ok = np.array([f == "ok" for f in v["flags"]], dtype=bool)
        for subset, sel in (("all", np.ones(len(e), dtype=bool)), ("not in its training", unseen),
                            ("flagged ok", ok)):
            rows.append(_subset_row(method, subset, np.where(sel, e, np.nan), np.where(sel, p, np.nan), res["unit"]))
    return rows


def shipped_reading(rows: list[dict[str, Any]], human_rel_pct: float, method: str = "chords") -> str | None:
    """One sentence read from :func:`shipped_summary` rows: the 95 % limits of agreement of
    the segmenter's MT on images it did not train on (as % of MT) against a human reference
    (``human_rel_pct``: two raters' smallest detectable difference as % of MT), and what
    flagging doubtful readings leaves. None when there are fewer than 3 such readings."""
    by = {r["subset"]: r for r in rows if r["method"] == method}
    unseen, ok = by.get("not in its training"), by.get("flagged ok")
    if unseen is None or unseen["n"] < 3 or not np.isfinite(unseen["relative_loa_halfwidth_pct"]):
        return None
    half = unseen["relative_loa_halfwidth_pct"]
    verdict = ("inside" if half <= human_rel_pct else "wider than")
    text = (f"On {unseen['n']} images it did not train on, the 95 % limits of agreement of the segmenter's MT "
            f"({method}) with the expert's lie ±{half:.1f} % of MT around a bias of {unseen['bias']:+.2f} "
            f"{unseen['unit']}: {verdict} the {human_rel_pct:.1f} % two human raters may differ by.")
    if ok is not None and ok["n"] >= 3 and np.isfinite(ok["relative_loa_halfwidth_pct"]):
        ok_half = ok["relative_loa_halfwidth_pct"]
        text += (f" Its {ok['n']} readings flagged ok have limits of ±{ok_half:.1f} % "
                 f"(relative RMSE {ok['relative_rmse_pct']:.1f} %, {ok['within_5pct_pct']:.0f} % within 5 %), "
                 f"{'inside' if ok_half <= human_rel_pct else 'also wider than'} the human {human_rel_pct:.1f} %")
        all_row = by.get("all")
        doubtful = None if all_row is None else all_row["n"] - ok["n"]
        if half > human_rel_pct >= ok_half and doubtful:
            text += f": the wide limits come from the {doubtful} reading(s) flagged doubtful"
        text += "."
    return text
