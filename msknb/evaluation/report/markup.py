"""The report's HTML pieces: number formatting, tables, the context line of a result
and the paper-beside-ours blocks."""
from __future__ import annotations

import html
import math
import re
from typing import Any, Iterable, Sequence

ANNOTATION_KEYS = ("data", "split", "image_size", "epochs", "seed", "profile")
NOT_RUN = "not run"

#: longest text a table cell shows (characters); longer text is cut with "…"
MAX_CELL = 300

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.4;overflow-wrap:anywhere}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.4em 0 1em 0;font-size:.9em;max-width:100%}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right;overflow-wrap:break-word}
td.wrap{overflow-wrap:anywhere;min-width:12em}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
.pair{display:flex;gap:2em;flex-wrap:wrap;align-items:flex-start}.pair>div{flex:1 1 320px;min-width:0;max-width:100%}
figure{margin:.6em 0 1.2em 0;max-width:100%}figcaption{font-size:.88em;color:#333;max-width:60em}
.ctx{font-size:.82em;color:#555;background:#f7f7f7;padding:.3em .6em;border-left:3px solid #999}
.notrun{color:#a00;font-style:italic}.note{font-size:.85em;color:#444}.warn{color:#a05a00}
img{max-width:100%}code{background:#f3f3f3;padding:0 .2em}
"""


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


def fmt_fixed(value: Any, decimals: int) -> str:
    """A paper constant as printed in the paper: fixed ``decimals``; (mean, std) -> "m ± s"."""
    if isinstance(value, (list, tuple)):
        return " ± ".join(fmt_fixed(v, decimals) for v in value)
    return "—" if value is None else f"{value:.{decimals}f}"


def get_in(d: Any, *keys: str, default: Any = None) -> Any:
    """``d[k1][k2]...`` or ``default`` where a key is missing."""
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def clip_cell(cell: Any, limit: int = MAX_CELL) -> str:
    """A table cell's HTML with its text cut to ``limit`` characters ("…" where cut); a cell
    holding markup (a tag) is kept as it is."""
    text = str(cell)
    if "<" in text:
        return text
    plain = " ".join(html.unescape(text).split())
    if len(plain) > limit:
        return html.escape(plain[:limit - 1].rstrip() + "…")
    return html.escape(plain) if "\n" in text else text


#: a cell with a word longer than this (a path, a URL) may break inside words
LONG_WORD = 24


def _td(cell: Any) -> str:
    text = clip_cell(cell)
    long_word = "<" not in text and any(len(w) > LONG_WORD for w in html.unescape(text).split())
    return f"<td class='wrap'>{text}</td>" if long_word else f"<td>{text}</td>"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], caption: str | None = None) -> str:
    """An HTML table; ``rows`` hold HTML-escaped cells (each cut by :func:`clip_cell`)."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in rows)
    cap = f"<caption class='note'>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<tr>{head}</tr>{body}</table>"


def not_run(name: str) -> str:
    """One line: ``name`` did not run, and the command that runs its notebook (when ``name``
    names one, e.g. "06_muscle_thickness")."""
    number = re.search(r"\b(\d\d)_", name)
    run = f" Run <code>python -m msknb run --only {number.group(1)}</code>." if number else ""
    return f"<p class='notrun'>{html.escape(name)}: {NOT_RUN}.{run}</p>"


def missing(what: str, why: str, command: str | None = None) -> str:
    """One line for a part of the page that cannot be drawn: what, why, and what to run."""
    run = f" Run <code>{html.escape(command)}</code>." if command else ""
    end = "" if why.endswith((".", "…", "!", "?")) else "."
    return f"<p class='notrun'>{html.escape(what)}: {html.escape(why)}{end}{run}</p>"


def figure(img_html: str, reading: str) -> str:
    """A figure with its one-sentence reading as caption (``reading``: plain text)."""
    return f"<figure>{img_html}<figcaption>{html.escape(reading)}</figcaption></figure>"


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


def paper_block(title: str, inner: str) -> str:
    return (f"<div><h3>Paper — {html.escape(title)}</h3>{inner}<p class='note'>Source: Katakis et al. 2023, "
            f"doi:10.3390/biomedinformatics3020027 (reference constants, full citation at the top)</p></div>")


def ours_block(title: str, payload: dict[str, Any] | None, inner: str) -> str:
    if payload is None:
        return f"<div><h3>Ours — {html.escape(title)}</h3>{not_run(title)}</div>"
    return f"<div><h3>Ours — {html.escape(title)}</h3>{annotation(payload)}{inner}</div>"


def pair(paper: str, ours: str) -> str:
    return f"<div class='pair'>{paper}{ours}</div>"


def paper_rows(table: dict[str, Any]) -> list[list[str]]:
    d = table.get("decimals", 3)
    return [[html.escape(name)] + [fmt_fixed(row.get(c), d) for c in table["columns"]]
            for name, row in table["rows"].items()]
