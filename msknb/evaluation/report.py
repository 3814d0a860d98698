"""One self-contained HTML page comparing this kit's results with the paper's.

``write_report(out_dir)`` reads every ``<out_dir>/results/*.json`` (written by the
notebooks through :func:`msknb.results.save_results`) and writes
``<out_dir>/report.html`` atomically. Every number of ours comes from those files --
none is typed in here; the paper's numbers are the reference constants in
:data:`PAPER` (typed from the paper, with its citation). Results that are missing are
shown as "not run". Figures are static PNGs (matplotlib) embedded as base64, so the page
needs no network. Each of our tables is annotated with the run's data set, split,
resolution, epochs, seed and profile.

Command line: ``python -m msknb report OUT_DIR``.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

from msknb.errors import MsknbError
from msknb.io import write_text_atomic
from msknb.paper import CITATION, PAPER

#: the notebooks of the series, in reading order, with a title for the report
NOTEBOOKS = {
    "00_data": "Data", "01_forward_diffusion": "Forward diffusion", "02_reverse_diffusion": "Reverse diffusion",
    "03_train_ddpm": "DDPM training", "04_sampling": "Sampling", "05_segmentation": "Aponeurosis segmentation",
    "06_muscle_thickness": "Muscle thickness", "07_evaluation": "Synthetic-image evaluation",
}
ANNOTATION_KEYS = ("data", "split", "image_size", "epochs", "seed", "profile")
NOT_RUN = "not run"

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.4em 0 1em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
.pair{display:flex;gap:2em;flex-wrap:wrap;align-items:flex-start}.pair>div{flex:1;min-width:320px}
.ctx{font-size:.82em;color:#555;background:#f7f7f7;padding:.3em .6em;border-left:3px solid #999}
.notrun{color:#a00;font-style:italic}.note{font-size:.85em;color:#444}.warn{color:#a05a00}
img{max-width:100%}code{background:#f3f3f3;padding:0 .2em}
"""


# ------------------------------------------------------------------ formatting ---------
def fmt(value: Any, digits: int = 4) -> str:
    """A number as text with ``digits`` significant digits; None/NaN -> "—"; (mean, std) -> "m ± s"."""
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return f"{fmt(value[0], digits)} ± {fmt(value[1], digits)}"
    if isinstance(value, dict) and "mean" in value:
        return fmt((value["mean"], value["std"]), digits) if "std" in value else fmt(value["mean"], digits)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        return f"{value:.{digits}g}"
    return html.escape(str(value))


def _get(d: Any, *keys: str, default: Any = None) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], caption: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    cap = f"<caption class='note'>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<tr>{head}</tr>{body}</table>"


def _not_run(name: str) -> str:
    return f"<p class='notrun'>{html.escape(name)}: {NOT_RUN}</p>"


def annotation(payload: dict[str, Any] | None) -> str:
    """The context line of one of our results: data set, split, resolution, epochs, seed,
    profile (from the JSON's ``context``; "—" where a notebook did not record it)."""
    if payload is None:
        return ""
    ctx = dict(payload.get("context") or {})
    res = payload.get("results") or {}
    for key in ANNOTATION_KEYS:  # a notebook may keep e.g. its split under results
        if ctx.get(key) is None and isinstance(res.get(key), (str, int, float)):
            ctx[key] = res[key]
    size = ctx.get("image_size")
    parts = [f"data: {fmt(ctx.get('data'))}", f"split: {fmt(ctx.get('split'))}",
             f"resolution: {fmt(size)}{' px' if isinstance(size, (int, float)) else ''}",
             f"epochs: {fmt(ctx.get('epochs'))}", f"seed: {fmt(ctx.get('seed'))}",
             f"profile: {fmt(ctx.get('profile'))}"]
    extra = [f"{html.escape(str(k))}: {fmt(v)}" for k, v in ctx.items()
             if k not in ANNOTATION_KEYS and isinstance(v, (str, int, float, bool))]
    written = payload.get("written")
    tail = f" · written {html.escape(str(written))}" if written else ""
    return f"<p class='ctx'>ours — {' · '.join(parts + extra)}{tail}</p>"


def fig_to_data_uri(fig) -> str:
    """A matplotlib figure as ``data:image/png;base64,...`` (figure closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(fig, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='{fig_to_data_uri(fig)}'>"


def _paper_block(title: str, inner: str) -> str:
    return (f"<div><h3>Paper — {html.escape(title)}</h3>{inner}<p class='note'>Source: Katakis et al. 2023, "
            f"doi:10.3390/biomedinformatics3020027 (reference constants, full citation at the top)</p></div>")


def _ours_block(title: str, payload: dict[str, Any] | None, inner: str) -> str:
    if payload is None:
        return f"<div><h3>Ours — {html.escape(title)}</h3>{_not_run(title)}</div>"
    return f"<div><h3>Ours — {html.escape(title)}</h3>{annotation(payload)}{inner}</div>"


def _pair(paper: str, ours: str) -> str:
    return f"<div class='pair'>{paper}{ours}</div>"


def fmt_fixed(value: Any, decimals: int) -> str:
    """A paper constant as printed in the paper: fixed ``decimals``; (mean, std) -> "m ± s"."""
    if isinstance(value, (list, tuple)):
        return " ± ".join(fmt_fixed(v, decimals) for v in value)
    return "—" if value is None else f"{value:.{decimals}f}"


def _paper_rows(table: dict[str, Any]) -> list[list[str]]:
    d = table.get("decimals", 3)
    return [[html.escape(name)] + [fmt_fixed(row.get(c), d) for c in table["columns"]]
            for name, row in table["rows"].items()]


# ------------------------------------------------------------------ sections -----------
def _section_generic(name: str, payload: dict[str, Any] | None, keys: Sequence[str]) -> str:
    title = NOTEBOOKS.get(name, name)
    if payload is None:
        return f"<h2>{html.escape(title)} ({name})</h2>{_not_run(name)}"
    res = payload.get("results") or {}
    rows = [[html.escape(k), fmt(res.get(k))] for k in keys if k in res]
    inner = _table(("quantity", "value"), rows) if rows else "<p class='note'>see the appendix for all values</p>"
    return f"<h2>{html.escape(title)} ({name})</h2>{annotation(payload)}{inner}"


def _section_ddpm(results: dict[str, dict[str, Any]]) -> str:
    setup = PAPER["setup"]
    paper = _table(("setting", "paper"), [["image size (px)", fmt(setup["image_size"])],
                                          ["epochs", fmt(setup["ddpm_epochs"])],
                                          ["timesteps T", fmt(setup["timesteps"])],
                                          ["batch size", fmt(setup["batch_size"])]])
    train, sample = results.get("03_train_ddpm"), results.get("04_sampling")
    ours_train = _table(("quantity", "value"), [[k, fmt(_get(train, "results", k))] for k in
                        ("epochs", "steps", "final_loss", "n_params", "img_per_s")]) if train else ""
    pair_rows = [[f"masks with two aponeuroses spanning half the width ({side})",
                  fmt(_get(sample, "results", "aponeurosis_pairs", side, "spanning_rate"))]
                 for side in ("synthetic", "real") if _get(sample, "results", "aponeurosis_pairs", side)]
    ours_sample = _table(("quantity", "value"), [[k, fmt(_get(sample, "results", k))] for k in
                         ("n_samples", "ddpm_seconds", "ddim_seconds", "speedup")] + pair_rows) if sample else ""
    return ("<h2>DDPM training and sampling (03, 04)</h2>"
            + _pair(_paper_block("training setup", paper),
                    _ours_block("training (03_train_ddpm)", train, ours_train)
                    + _ours_block("sampling (04_sampling)", sample, ours_sample)))


def _intensity_rows(ev: dict[str, Any]) -> list[list[str]]:
    rows = []
    for side in ("real", "synthetic"):
        for group, st in (_get(ev, "intensity", side) or {}).items():
            rows.append([f"{side} / {html.escape(group)}", fmt(st.get("n_images")), fmt(st.get("skewness")),
                         fmt(st.get("entropy_bits")), fmt(st.get("entropy_bits_16bit"))])
    return rows


def _histogram_fig(ev: dict[str, Any]):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    drawn = False
    for side in ("real", "synthetic"):
        st = _get(ev, "intensity", side, "all")
        if st and st.get("histogram") is not None:
            ax.plot(range(len(st["histogram"])), st["histogram"], lw=1.2,
                    label=f"{side} (n={st.get('n_images')}, skew {fmt(st.get('skewness'), 3)})")
            drawn = True
    ax.set_xlabel("grey level (8-bit)")
    ax.set_ylabel("fraction of pixels")
    ax.set_title("Intensity histograms (ours, 256 bins)")
    if drawn:
        ax.legend(fontsize=8)
    return fig


def _pca_fig(pca: dict[str, Any]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for key, marker in (("real", "o"), ("synthetic", "x")):
        pts = pca.get(key) or []
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, alpha=0.7, label=f"{key} (n={len(pts)})")
    ratio = pca.get("explained_variance_ratio") or [float("nan")] * 2
    ax.set_xlabel(f"PC1 ({100 * ratio[0]:.1f} %)")
    ax.set_ylabel(f"PC2 ({100 * ratio[1]:.1f} %)")
    ax.set_title(f"PCA of {pca.get('features', 'features')} (ours)", fontsize=9)
    ax.legend(fontsize=8)
    return fig


def _section_evaluation(payload: dict[str, Any] | None) -> str:
    head = "<h2>Synthetic-image evaluation (07) — paper Tables 2, 3, section 3.1, Figure 7</h2>"
    paper_t2 = _table(("muscle", "PSNR (dB)", "SSIM", "LPIPS", "FID"), _paper_rows(PAPER["table2"]), PAPER["table2"]["caption"])
    paper_t3 = _table(("muscle", "inter-patient SSIM", "synthetic SSIM"), _paper_rows(PAPER["table3"]),
                      PAPER["table3"]["caption"])
    inten = PAPER["intensity"]
    paper_int = _table(("muscle", "skewness real", "skewness synthetic"),
                       [[m, fmt_fixed(v["real"], 2), fmt_fixed(v["synthetic"], 2)] for m, v in inten["skewness"].items()],
                       inten["caption"]) + (
        f"<p class='note'>entropy real {fmt_fixed(inten['entropy_range']['real'][0], 2)}–"
        f"{fmt_fixed(inten['entropy_range']['real'][1], 2)}, synthetic "
        f"{fmt_fixed(inten['entropy_range']['synthetic'][0], 2)}–{fmt_fixed(inten['entropy_range']['synthetic'][1], 2)} "
        "(base and binning not stated; &gt; 8 bits is impossible with 256 bins)</p>")
    caveat = ("<p class='note warn'>The paper does not state how PSNR/SSIM pair images of two unpaired sets; "
              "PSNR &gt; 60 dB between different 8-bit images is implausible. Ours states the pairing and shows a "
              "real-vs-real baseline at the same n beside each synthetic-vs-real value. FID on a few hundred images "
              "is biased by sample size: compare only with the real-vs-real value at the same n.</p>")
    if payload is None:
        return head + caveat + _pair(_paper_block("Tables 2 and 3", paper_t2 + paper_t3 + paper_int),
                                     _ours_block("07_evaluation", None, ""))
    ev = payload.get("results") or {}
    parts = []
    if ev.get("fallback"):
        parts.append(f"<p class='warn'>Fallback: {fmt(ev.get('fallback_reason') or 'no synthetic set')}</p>")
    parts.append(f"<p class='note'>evaluation resolution {fmt(ev.get('eval_image_size'))} px; real test images "
                 f"{fmt(ev.get('n_real_test'))}; synthetic images {fmt(ev.get('n_synthetic'))} "
                 f"(source: {fmt(ev.get('synthetic_source'))})</p>")
    # Table 2/3: similarity with baseline, per pairing
    rows = []
    for pairing, sim in (ev.get("similarity") or {}).items():
        for key, label in (("synthetic", "synthetic vs real"), ("inter_patient", "real vs real (inter-patient)")):
            e = sim.get(key) if isinstance(sim, dict) else None
            rows.append([f"{html.escape(pairing)}: {label}", fmt(_get(sim, "n")), fmt(_get(e, "psnr_db")),
                         fmt(_get(e, "ssim")), fmt(_get(e, "lpips")) if e else "—"])
    sim_tab = _table(("pairing: sets", "n", "PSNR (dB)", "SSIM", "LPIPS"), rows) if rows else _not_run("PSNR/SSIM")
    definition = next((s.get("definition") for s in (ev.get("similarity") or {}).values() if isinstance(s, dict)), None)
    lp = ev.get("lpips") or {}
    lp_note = f"<p class='note'>LPIPS: {fmt(lp.get('note'))}</p>" if lp else ""
    dist_rows = []
    for key, label in (("fid", "FID (Inception)"), ("domain", "Fréchet / KID on segmentation bottleneck")):
        d = ev.get(key) or {}
        if not d or d.get("status") == NOT_RUN:
            dist_rows.append([label, "—", NOT_RUN + (f" ({fmt(d.get('reason'))})" if d.get("reason") else ""), "", "", ""])
            continue
        for side, sl in (("synthetic_vs_real", "synthetic vs real"), ("real_vs_real", "real vs real")):
            dist_rows.append([f"{label}: {sl}", fmt(d.get("n")), fmt(_get(d, side, "frechet")),
                              fmt(_get(d, side, "kid_mean")), fmt(_get(d, side, "kid_std")), fmt(d.get("note"))])
    dist_tab = _table(("distance", "n", "Fréchet", "KID mean", "KID std", "features"), dist_rows)
    ours = ("".join(parts) + sim_tab
            + (f"<p class='note'>{html.escape(definition)}</p>" if definition else "") + lp_note + dist_tab)
    out = head + caveat + _pair(_paper_block("Tables 2 and 3", paper_t2 + paper_t3),
                                _ours_block("image similarity with baselines", payload, ours))
    # intensity
    irows = _intensity_rows(ev)
    ours_int = (_table(("set / group", "n", "skewness", "entropy (bits, 256 bins)", "entropy (bits, 65536 bins)"), irows)
                if irows else _not_run("intensity"))
    if _get(ev, "intensity", "real", "all"):
        ours_int += _img(_histogram_fig(ev), "intensity histograms")
    if _get(ev, "intensity", "note"):
        ours_int += f"<p class='note'>{html.escape(ev['intensity']['note'])}</p>"
    out += _pair(_paper_block("intensity histograms", paper_int), _ours_block("intensity histograms", payload, ours_int))
    # memorisation
    mem = ev.get("memorisation") or {}
    if mem and mem.get("status") != NOT_RUN:
        mrows = [[k, fmt(_get(mem, "thresholds", k)), fmt(_get(mem, "fraction_above", k)),
                  fmt(_get(mem, "expected_fraction", k))] for k in (mem.get("thresholds") or {})]
        mem_html = (f"<p class='note'>metric {fmt(mem.get('metric'))}; synthetic n={fmt(mem.get('n_synthetic'))}, "
                    f"real baseline n={fmt(mem.get('n_baseline'))}; max synthetic similarity "
                    f"{fmt(_get(mem, 'synthetic', 'max'))}, max baseline {fmt(_get(mem, 'baseline', 'max'))}</p>"
                    + _table(("baseline percentile", "threshold", "fraction of synthetic above", "expected if no copying"),
                             mrows))
        closest = mem.get("closest") or []
        if closest:
            mem_html += _table(("synthetic", "nearest training image", "similarity"),
                               [[fmt(c.get("synthetic_id")), fmt(c.get("train_id")), fmt(c.get("similarity"))]
                                for c in closest[:10]])
        mem_html += f"<p class='note'>{fmt(mem.get('conclusion'))}</p>" if mem.get("conclusion") else ""
    else:
        mem_html = _not_run("memorisation check") + (f"<p class='note'>{fmt(mem.get('reason'))}</p>" if mem.get("reason") else "")
    out += _pair(_paper_block("memorisation", "<p>Not assessed in the paper (no nearest-neighbour check; "
                                              "no privacy analysis).</p>"),
                 _ours_block("memorisation check", payload, mem_html))
    # PCA
    pca = ev.get("pca") or {}
    pca_html = _img(_pca_fig(pca), "PCA") if pca.get("real") else _not_run("PCA")
    out += _pair(_paper_block("Figure 7 (PCA)", "<p>Figure 7: 2-D PCA of normalised Attention-UNet bottleneck "
                                                "features, real vs synthetic per muscle: not separable (image not "
                                                "reproduced here).</p>"),
                 _ours_block("PCA of bottleneck features", payload, pca_html))
    return out


def _seg_rows(exps: dict[str, Any], names: Sequence[str], cols: Sequence[str]) -> list[list[str]]:
    rows = []
    for name in names:
        e = exps.get(name)
        if e is None:
            rows.append([html.escape(name)] + [NOT_RUN] + [""] * (len(cols) - 1) + ["", ""])
            continue
        rows.append([html.escape(name)] + [fmt(e.get(c)) for c in cols]
                    + [fmt(e.get("n_train_real")), fmt(e.get("n_train_gen"))])
    return rows


def _section_segmentation(payload: dict[str, Any] | None) -> str:
    head = "<h2>Aponeurosis segmentation (05) — paper Tables 4 and 6</h2>"
    t4, t6 = PAPER["table4"], PAPER["table6"]
    paper = (_table(("experiment", "precision", "recall", "DSC", "IoU"), _paper_rows(t4), t4["caption"])
             + _table(("experiment", "DSC", "IoU"), _paper_rows(t6), t6["caption"]))
    if payload is None:
        return head + _pair(_paper_block("Tables 4 and 6", paper), _ours_block("05_segmentation", None, ""))
    res = payload.get("results") or {}
    exps = res.get("experiments") or {}
    names = list(t4["rows"]) + list(t6["rows"])
    names += [n for n in exps if n not in names]
    ours = _table(("experiment", "precision", "recall", "DSC", "IoU", "n train real", "n train gen"),
                  _seg_rows(exps, names, ("precision", "recall", "dice", "iou")))
    n_test = next((e.get("n_test") for e in exps.values() if isinstance(e, dict) and e.get("n_test") is not None), None)
    ours += (f"<p class='note'>test images: {fmt(n_test)}; near-copies of test images in train: "
             f"{fmt(res.get('near_copies_test_in_train'))}; synthetic masks: {fmt(res.get('synthetic_mask_source'))}</p>")
    if exps:
        ours += _img(_dice_fig(exps), "Dice ours vs paper")
    return head + _pair(_paper_block("Tables 4 and 6", paper), _ours_block("segmentation", payload, ours))


def _dice_fig(exps: dict[str, Any]):
    import matplotlib.pyplot as plt

    paper = {**{k: v["dice"][0] for k, v in PAPER["table4"]["rows"].items()},
             **{k: v["dice"] for k, v in PAPER["table6"]["rows"].items()}}
    names = [n for n in list(paper) + [n for n in exps if n not in paper] if n in exps or n in paper]
    fig, ax = plt.subplots(figsize=(7, 3))
    x = list(range(len(names)))
    ours = [_get(exps, n, "dice", "mean", default=float("nan")) if isinstance(_get(exps, n, "dice"), dict)
            else (_get(exps, n, "dice") if _get(exps, n, "dice") is not None else float("nan")) for n in names]
    ax.bar([i - 0.2 for i in x], [paper.get(n, float("nan")) for n in names], width=0.4, label="paper")
    ax.bar([i + 0.2 for i in x], ours, width=0.4, label="ours")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=30, fontsize=8)
    ax.set_ylabel("Dice (DSC)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Dice per experiment: paper vs ours (different data, resolution, epochs)", fontsize=9)
    return fig


def _section_thickness(payload: dict[str, Any] | None) -> str:
    head = "<h2>Muscle thickness (06) — paper Table 5</h2>"
    t5 = PAPER["table5"]
    paper = _table(("experiment", "manual (mm)", "automatic (mm)", "RMSE (mm)"), _paper_rows(t5), t5["caption"])
    if payload is None:
        return head + _pair(_paper_block("Table 5", paper), _ours_block("06_muscle_thickness", None, ""))
    res = payload.get("results") or {}
    unit = res.get("unit", "?")
    agree = res.get("agreement") or {}
    names = list(t5["rows"]) + [n for n in agree if n not in t5["rows"]]
    rows = []
    for n in names:
        a = agree.get(n)
        if a is None:
            rows.append([html.escape(n), NOT_RUN] + [""] * 6)
        else:
            rows.append([html.escape(n)] + [fmt(a.get(k)) for k in ("n", "rmse", "bias", "loa_low", "loa_high", "icc", "ccc")])
    ours = _table(("experiment", "n", f"RMSE ({fmt(unit)})", "bias", "LoA low", "LoA high", "ICC", "CCC"), rows)
    if unit != "mm":
        ours += f"<p class='note warn'>unit {fmt(unit)}: not comparable with the paper's mm.</p>"
    return head + _pair(_paper_block("Table 5", paper), _ours_block("muscle thickness agreement", payload, ours))


def _flatten(obj: Any, prefix: str = "", out: list | None = None, max_list: int = 8) -> list[tuple[str, Any]]:
    out = [] if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out, max_list)
    elif isinstance(obj, list) and (len(obj) > max_list or any(isinstance(v, (list, dict)) for v in obj)):
        out.append((prefix, f"[{len(obj)} values]"))
    else:
        out.append((prefix, obj))
    return out


def _appendix(results: dict[str, dict[str, Any]]) -> str:
    parts = ["<h2>Appendix: all results (from results/*.json)</h2>"]
    for name in list(NOTEBOOKS) + [n for n in results if n not in NOTEBOOKS]:
        payload = results.get(name)
        parts.append(f"<h3>{html.escape(name)}</h3>")
        if payload is None:
            parts.append(_not_run(name))
            continue
        rows = [[html.escape(k), fmt(v) if not isinstance(v, list) else html.escape(json.dumps(v))]
                for k, v in _flatten(payload.get("results") or {})]
        parts.append(annotation(payload) + _table(("key", "value"), rows))
    return "".join(parts)


def _index_table(out: Path) -> str:
    path = out / "index.json"
    if not path.is_file():
        return ""
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError):
        return "<p class='warn'>index.json unreadable</p>"
    rows = [[html.escape(str(nb.get("name"))), html.escape(str(nb.get("status"))), fmt(nb.get("seconds")),
             fmt(nb.get("peak_rss_mib"))] for nb in index.get("notebooks", [])]
    return ("<h2>Run</h2>" + f"<p class='ctx'>profile {fmt(index.get('profile'))} · data {fmt(index.get('data_dir'))} · "
            f"seed {fmt(index.get('seed'))}</p>" + _table(("notebook", "status", "seconds", "peak MiB"), rows))


# ------------------------------------------------------------------ public API ---------
def load_all_results(out_dir: str | Path) -> dict[str, dict[str, Any]]:
    """``{name: payload}`` for every readable ``<out_dir>/results/*.json``; an unreadable
    file raises :class:`MsknbError` naming it."""
    folder = Path(out_dir) / "results"
    results = {}
    for p in sorted(folder.glob("*.json")):
        try:
            results[p.stem] = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            raise MsknbError(f"unreadable results file ({e})", p) from e
    return results


def render_report(out_dir: str | Path) -> str:
    """The report page as an HTML string (see :func:`write_report`)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    out = Path(out_dir)
    results = load_all_results(out)
    present = ", ".join(n for n in NOTEBOOKS if n in results) or "none"
    body = [f"<h1>msknb report — {html.escape(str(out.resolve()))}</h1>",
            f"<p class='note'>written {time.strftime('%Y-%m-%d %H:%M:%S')}; results found: {html.escape(present)}. "
            "Every number labelled <b>ours</b> is read from <code>results/*.json</code>; the paper's numbers are "
            f"reference constants from: {html.escape(CITATION)}. Our data (public DL_Track aponeurosis set, "
            "no mm calibration), resolution and training length differ from the paper's: compare trends, "
            "not digits.</p>",
            _index_table(out)]
    data = results.get("00_data")
    body.append(_section_generic("00_data", data, ("n_images", "n_clusters", "image_size", "n_subjects", "groups")))
    for name in ("01_forward_diffusion", "02_reverse_diffusion"):
        body.append(_section_generic(name, results.get(name), ()))
    body.append(_section_ddpm(results))
    body.append(_section_evaluation(results.get("07_evaluation")))
    body.append(_section_segmentation(results.get("05_segmentation")))
    body.append(_section_thickness(results.get("06_muscle_thickness")))
    body.append(_appendix(results))
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>msknb report</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")


def write_report(out_dir: str | Path) -> Path:
    """Write ``<out_dir>/report.html`` (atomically) and return its path.

    Raises :class:`MsknbError` naming ``out_dir`` when it has no ``results/*.json``.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise MsknbError("output folder does not exist", out)
    if not any((out / "results").glob("*.json")):
        raise MsknbError("no results/*.json in this folder; run the notebooks first (python -m msknb run)", out)
    return write_text_atomic(out / "report.html", render_report(out))


def _cli_report(args) -> int:
    page = write_report(args.out_dir)
    print(page)
    return 0


def register_cli(subparsers) -> None:
    """``python -m msknb report OUT_DIR``."""
    p = subparsers.add_parser("report", help="write OUT_DIR/report.html from OUT_DIR/results/*.json",
                              description=__doc__.splitlines()[0])
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder of a run (holds results/)")
    p.set_defaults(func=_cli_report)
