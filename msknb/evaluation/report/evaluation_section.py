"""The report's evaluation section (notebook 07 beside the paper's Tables 2-3, section 3.1
and Figure 7): real and synthetic images side by side, similarity with baselines, the
metrics of :data:`msknb.evaluation.metric_table.METRICS` and their distance ratios,
intensity, memorisation, PCA; each figure with its one-sentence reading."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from msknb.evaluation.pca import pca_offsets, read_pca
from msknb.evaluation.report.captions import histogram_reading, ratios_reading
from msknb.evaluation.report.figures import histogram_fig, img, pca_fig, ratios_fig, samples_fig
from msknb.evaluation.report.readings_section import overlap_html, verdict_html
from msknb.evaluation.report.markup import (NOT_RUN, figure, fmt, fmt_fixed, get_in, missing, not_run, ours_block,
                                            pair, paper_block, paper_rows, table)
from msknb.evaluation.report.samples import Samples, load_samples
from msknb.evaluation.summary import COLUMNS, metrics_rows, one_line
from msknb.paper import PAPER

RUN_07 = "python -m msknb run --only 07"

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
               + (f" ({fmt(one_line(lp['reason']))})" if lp.get("reason") else "") + "</p>") if lp else ""
    return sim_tab + (f"<p class='note'>{html.escape(definition)}</p>" if definition else "") + lp_note


def _metrics_table(ev: dict[str, Any]) -> str:
    """Every metric of the table, synthetic vs real beside real vs real at the same n."""
    rows = metrics_rows(ev)
    if not rows:
        return missing("Set-level metrics", "07_evaluation stored none", RUN_07)
    return table(COLUMNS, [[html.escape(r[c]) for c in COLUMNS] for r in rows])


def _ratios_html(ev: dict[str, Any]) -> str:
    rows = [r for r in (get_in(ev, "verdict", "rows") or []) if isinstance(r, dict)]
    if not any(isinstance(r.get("ratio"), (int, float)) for r in rows):
        if ev.get("fallback"):
            return missing("Distance ratios", "07_evaluation had no synthetic set", "python -m msknb run --only 04 07")
        return missing("Distance ratios", "07_evaluation stored no verdict with ratios", RUN_07)
    return figure(img(ratios_fig(rows), "distance ratios"), ratios_reading(rows))


def samples_html(out_dir: Path, payload: dict[str, Any]) -> str:
    """The real-vs-synthetic sample grid with its reading, or one line saying what to run."""
    got = load_samples(out_dir, payload.get("results") or {}, payload.get("context") or {})
    if not isinstance(got, Samples):
        return missing("Real and synthetic images", got.why, got.command)
    return figure(img(samples_fig(got.real, got.synthetic, got.real_ids, got.synthetic_ids), "real and synthetic images"),
                  got.reading)


def _pca_html(pca: dict[str, Any]) -> str:
    if not pca.get("real"):
        return missing("PCA", "07_evaluation stored no projections", RUN_07)
    reading = pca.get("reading") or read_pca(pca_offsets(pca.get("real") or [], pca.get("synthetic") or []),
                                             pca.get("explained_variance_ratio"))
    return figure(img(pca_fig(pca), "PCA"), str(reading))


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
                if irows else missing("Intensity", "07_evaluation stored no histograms", RUN_07))
    if get_in(ev, "intensity", "real", "all"):
        ours_int += figure(img(histogram_fig(ev), "intensity histograms"), histogram_reading(ev))
    if get_in(ev, "intensity", "note"):
        ours_int += f"<p class='note'>{html.escape(ev['intensity']['note'])}</p>"
    return ours_int


def _memorisation_html(mem: dict[str, Any]) -> str:
    if not mem or mem.get("status") == NOT_RUN:
        return missing("Memorisation check", one_line(mem.get("reason") or "not run", 200), "python -m msknb run --only 04 07")
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


def section_evaluation(payload: dict[str, Any] | None, out_dir: str | Path = ".") -> str:
    """HTML of the evaluation section; the paper's tables beside ours (or what to run)."""
    head = "<h2>Synthetic-image evaluation (07) — paper Tables 2, 3, section 3.1, Figure 7</h2>"
    paper_t2 = table(("muscle", "PSNR (dB)", "SSIM", "LPIPS", "FID"), paper_rows(PAPER["table2"]), PAPER["table2"]["caption"])
    paper_t3 = table(("muscle", "inter-patient SSIM", "synthetic SSIM"), paper_rows(PAPER["table3"]),
                     PAPER["table3"]["caption"])
    if payload is None:
        return head + CAVEAT + pair(paper_block("Tables 2 and 3", paper_t2 + paper_t3 + _paper_intensity()),
                                    ours_block("07_evaluation", None, missing("07_evaluation", "not run", RUN_07)))
    ev = payload.get("results") or {}
    parts = []
    if ev.get("fallback"):
        parts.append(f"<p class='warn'>Fallback: {fmt(one_line(ev.get('fallback_reason') or 'no synthetic set'))}</p>")
    parts.append(f"<p class='note'>evaluation resolution {fmt(ev.get('eval_image_size'))} px; real test images "
                 f"{fmt(ev.get('n_real_test'))}; synthetic images {fmt(ev.get('n_synthetic'))} "
                 f"(source: {fmt(ev.get('synthetic_source'))})</p>")
    ours = "".join(parts) + overlap_html(ev, "07_evaluation") + _similarity_table(ev)
    out = (head + CAVEAT + "<h3>Real and synthetic images</h3>" + samples_html(Path(out_dir), payload)
           + pair(paper_block("Tables 2 and 3", paper_t2 + paper_t3),
                  ours_block("image similarity with baselines", payload, ours))
           + "<h3>Ours — set-level metrics, each beside real vs real at the same n</h3>" + _metrics_table(ev)
           + verdict_html(ev) + "<h3>Distance ratios</h3>" + _ratios_html(ev))
    out += pair(paper_block("intensity histograms", _paper_intensity()),
                ours_block("intensity histograms", payload, _intensity_html(ev)))
    out += pair(paper_block("memorisation", "<p>Not assessed in the paper (no nearest-neighbour check; "
                                            "no privacy analysis).</p>"),
                ours_block("memorisation check", payload, _memorisation_html(ev.get("memorisation") or {})))
    out += pair(paper_block("Figure 7 (PCA)", "<p>Figure 7: 2-D PCA of normalised Attention-UNet bottleneck "
                                              "features, real vs synthetic per muscle: not separable (image not "
                                              "reproduced here).</p>"),
                ours_block("PCA of bottleneck features", payload, _pca_html(ev.get("pca") or {})))
    return out
