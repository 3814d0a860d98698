"""One table of the set-level metrics, each beside its real-vs-real baseline: the
published ones (FID on the FID Inception, LPIPS on the ImageNet AlexNet) when their
weights were available, else the reason (naming the missing file), and the domain
(segmentation-bottleneck) Fréchet distance and KID always."""
from __future__ import annotations

from typing import Any


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:.4g}"


def _get(d: dict | None, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def metrics_rows(fid: dict[str, Any], domain: dict[str, Any], similarity: dict[str, Any] | None,
                 lpips: dict[str, Any]) -> list[dict[str, str]]:
    """Rows {"metric", "synthetic vs real", "real vs real", "n", "features"} from notebook
    07's result dicts: ``fid`` (:func:`msknb.evaluation.fid.fid_with_baseline` or
    {"status": "not run", "reason"}), ``domain`` (:func:`~msknb.evaluation.features.
    distances_with_baseline` + "note"), ``similarity`` ({pairing: similarity_with_baseline
    result}, its "nearest" pairing is used for LPIPS), ``lpips`` ({"pretrained", "note",
    ["reason"]})."""
    rows = []
    if fid.get("status") == "not run":
        rows.append({"metric": "FID (standard Inception)", "synthetic vs real": "not run", "real vs real": "—",
                     "n": "—", "features": str(fid.get("reason", ""))})
    else:
        label = "FID (standard Inception)" if fid.get("standard") else "Fréchet (stand-in network, not FID)"
        rows.append({"metric": label, "synthetic vs real": _num(_get(fid, "synthetic_vs_real", "frechet")),
                     "real vs real": _num(_get(fid, "real_vs_real", "frechet")), "n": str(fid.get("n")),
                     "features": str(fid.get("note", ""))})
    near = (similarity or {}).get("nearest") or {}
    lp_label = "LPIPS (ImageNet AlexNet)" if lpips.get("pretrained") else "LPIPS (random backbone, not LPIPS)"
    rows.append({"metric": f"{lp_label}, nearest pairing, mean",
                 "synthetic vs real": _num(_get(near, "synthetic", "lpips", "mean")),
                 "real vs real": _num(_get(near, "inter_patient", "lpips", "mean")), "n": str(near.get("n", "—")),
                 "features": str(lpips.get("note", "")) + (f" — {lpips['reason']}" if lpips.get("reason") else "")})
    for key, label in (("frechet", "Fréchet"), ("kid_mean", "KID")):
        rows.append({"metric": f"domain {label} (segmentation bottleneck)",
                     "synthetic vs real": _num(_get(domain, "synthetic_vs_real", key)),
                     "real vs real": _num(_get(domain, "real_vs_real", key)), "n": str(domain.get("n", "—")),
                     "features": str(domain.get("note", ""))})
    return rows


def metrics_markdown(rows: list[dict[str, str]]) -> str:
    """The rows of :func:`metrics_rows` as a Markdown table (``|`` in text escaped)."""
    cols = ["metric", "synthetic vs real", "real vs real", "n", "features"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r[c]).replace("|", "\\|").replace("\n", " ") for c in cols) + " |")
    return "\n".join(lines)
