"""The report's evaluation section (notebook 07 beside the paper's Tables 2-3, section 3.1
and Figure 7): similarity with baselines, set distances, intensity, memorisation, PCA."""
from __future__ import annotations

import html
from typing import Any

from msknb.evaluation.report.figures import histogram_fig, img, pca_fig
from msknb.evaluation.report.readings_section import overlap_html, verdict_html
from msknb.evaluation.report.markup import (NOT_RUN, fmt, fmt_fixed, get_in, not_run, ours_block, pair, paper_block,
                                            paper_rows, table)
from msknb.paper import PAPER

CAVEAT = ("<p class='note warn'>The paper does not state how PSNR/SSIM pair images of two unpaired sets; "
          "PSNR &gt; 60 dB between different 8-bit images is implausible. Ours states the pairing and shows a "
          "real-vs-real baseline at the same n beside each synthetic-vs-real value. FID on a few hundred images "
          "is biased by sample size: compare only with the real-vs-real value at the same n.</p>")


def _paper_intensity() -> str:
    inten = PAPER["intensity"]
    return table(("muscle", "skewness real", "skewness synthetic"),
                 [[m, fmt_fixed(v["real"], 2), fmt_fixed(v["synthetic"], 2)] for m, v in inten["skewness"].items()],
                 inten["caption"]) + (
        f"<p class='note'>entropy real {fmt_fixed(inten['entropy_range']['real'][0], 2)}–"
        f"{fmt_fixed(inten['entropy_range']['real'][1], 2)}, synthetic "
        f"{fmt_fixed(inten['entropy_range']['synthetic'][0], 2)}–{fmt_fixed(inten['entropy_range']['synthetic'][1], 2)} "
        "(base and binning not stated; &gt; 8 bits is impossible with 256 bins)</p>")


def _similarity_table(ev: dict[str, Any]) -> str:
    """Table 2/3: PSNR, SSIM, LPIPS per pairing, synthetic vs real beside real vs real."""
    rows = []
    for pairing, sim in (ev.get("similarity") or {}).items():
        for key, label in (("synthetic", "synthetic vs real"), ("inter_patient", "real vs real (inter-patient)")):
            e = sim.get(key) if isinstance(sim, dict) else None
            rows.append([f"{html.escape(pairing)}: {label}", fmt(get_in(sim, "n")), fmt(get_in(e, "psnr_db")),
                         fmt(get_in(e, "ssim")), fmt(get_in(e, "lpips")) if e else "—"])
    sim_tab = table(("pairing: sets", "n", "PSNR (dB)", "SSIM", "LPIPS"), rows) if rows else not_run("PSNR/SSIM")
    definition = next((s.get("definition") for s in (ev.get("similarity") or {}).values() if isinstance(s, dict)), None)
    lp = ev.get("lpips") or {}
    lp_note = (f"<p class='note'>LPIPS: {fmt(lp.get('note'))}"
               + (f" ({fmt(lp['reason'])})" if lp.get("reason") else "") + "</p>") if lp else ""
    return sim_tab + (f"<p class='note'>{html.escape(definition)}</p>" if definition else "") + lp_note


def _distance_table(ev: dict[str, Any]) -> str:
    """FID and the domain Fréchet/KID, synthetic vs real beside real vs real."""
    dist_rows = []
    for key, label in (("fid", "FID (Inception)"), ("domain", "Fréchet / KID on segmentation bottleneck")):
        d = ev.get(key) or {}
        if not d or d.get("status") == NOT_RUN:
            dist_rows.append([label, "—", NOT_RUN + (f" ({fmt(d.get('reason'))})" if d.get("reason") else ""), "", "", ""])
            continue
        for side, sl in (("synthetic_vs_real", "synthetic vs real"), ("real_vs_real", "real vs real")):
            dist_rows.append([f"{label}: {sl}", fmt(d.get("n")), fmt(get_in(d, side, "frechet")),
                              fmt(get_in(d, side, "kid_mean")), fmt(get_in(d, side, "kid_std")), fmt(d.get("note"))])
    return table(("distance", "n", "Fréchet", "KID mean", "KID std", "features"), dist_rows)


def _intensity_rows(ev: dict[str, Any]) -> list[list[str]]:
    rows = []
    for side in ("real", "synthetic"):
        for group, st in (get_in(ev, "intensity", side) or {}).items():
            rows.append([f"{side} / {html.escape(group)}", fmt(st.get("n_images")), fmt(st.get("skewness")),
                         fmt(st.get("entropy_bits")), fmt(st.get("entropy_bits_16bit"))])
    return rows


def _intensity_html(ev: dict[str, Any]) -> str:
    irows = _intensity_rows(ev)
    ours_int = (table(("set / group", "n", "skewness", "entropy (bits, 256 bins)", "entropy (bits, 65536 bins)"), irows)
                if irows else not_run("intensity"))
    if get_in(ev, "intensity", "real", "all"):
        ours_int += img(histogram_fig(ev), "intensity histograms")
    if get_in(ev, "intensity", "note"):
        ours_int += f"<p class='note'>{html.escape(ev['intensity']['note'])}</p>"
    return ours_int


def _memorisation_html(mem: dict[str, Any]) -> str:
    if not mem or mem.get("status") == NOT_RUN:
        return not_run("memorisation check") + (f"<p class='note'>{fmt(mem.get('reason'))}</p>" if mem.get("reason") else "")
    mrows = [[k, fmt(get_in(mem, "thresholds", k)), fmt(get_in(mem, "fraction_above", k)),
              fmt(get_in(mem, "expected_fraction", k))] for k in (mem.get("thresholds") or {})]
    mem_html = (f"<p class='note'>metric {fmt(mem.get('metric'))}; synthetic n={fmt(mem.get('n_synthetic'))}, "
                f"real baseline n={fmt(mem.get('n_baseline'))}; max synthetic similarity "
                f"{fmt(get_in(mem, 'synthetic', 'max'))}, max baseline {fmt(get_in(mem, 'baseline', 'max'))}</p>"
                + table(("baseline percentile", "threshold", "fraction of synthetic above", "expected if no copying"),
                        mrows))
    closest = mem.get("closest") or []
    if closest:
        mem_html += table(("synthetic", "nearest training image", "similarity"),
                          [[fmt(c.get("synthetic_id")), fmt(c.get("train_id")), fmt(c.get("similarity"))]
                           for c in closest[:10]])
    mem_html += f"<p class='note'>{fmt(mem.get('conclusion'))}</p>" if mem.get("conclusion") else ""
    return mem_html


def section_evaluation(payload: dict[str, Any] | None) -> str:
    """HTML of the evaluation section; the paper's tables beside ours (or "not run")."""
    head = "<h2>Synthetic-image evaluation (07) — paper Tables 2, 3, section 3.1, Figure 7</h2>"
    paper_t2 = table(("muscle", "PSNR (dB)", "SSIM", "LPIPS", "FID"), paper_rows(PAPER["table2"]), PAPER["table2"]["caption"])
    paper_t3 = table(("muscle", "inter-patient SSIM", "synthetic SSIM"), paper_rows(PAPER["table3"]),
                     PAPER["table3"]["caption"])
    if payload is None:
        return head + CAVEAT + pair(paper_block("Tables 2 and 3", paper_t2 + paper_t3 + _paper_intensity()),
                                    ours_block("07_evaluation", None, ""))
    ev = payload.get("results") or {}
    parts = []
    if ev.get("fallback"):
        parts.append(f"<p class='warn'>Fallback: {fmt(ev.get('fallback_reason') or 'no synthetic set')}</p>")
    parts.append(f"<p class='note'>evaluation resolution {fmt(ev.get('eval_image_size'))} px; real test images "
                 f"{fmt(ev.get('n_real_test'))}; synthetic images {fmt(ev.get('n_synthetic'))} "
                 f"(source: {fmt(ev.get('synthetic_source'))})</p>")
    ours = "".join(parts) + overlap_html(ev, "07_evaluation") + _similarity_table(ev) + _distance_table(ev) + verdict_html(ev)
    out = head + CAVEAT + pair(paper_block("Tables 2 and 3", paper_t2 + paper_t3),
                               ours_block("image similarity with baselines", payload, ours))
    out += pair(paper_block("intensity histograms", _paper_intensity()),
                ours_block("intensity histograms", payload, _intensity_html(ev)))
    out += pair(paper_block("memorisation", "<p>Not assessed in the paper (no nearest-neighbour check; "
                                            "no privacy analysis).</p>"),
                ours_block("memorisation check", payload, _memorisation_html(ev.get("memorisation") or {})))
    pca = ev.get("pca") or {}
    pca_html = img(pca_fig(pca), "PCA") if pca.get("real") else not_run("PCA")
    out += pair(paper_block("Figure 7 (PCA)", "<p>Figure 7: 2-D PCA of normalised Attention-UNet bottleneck "
                                              "features, real vs synthetic per muscle: not separable (image not "
                                              "reproduced here).</p>"),
                ours_block("PCA of bottleneck features", payload, pca_html))
    return out
