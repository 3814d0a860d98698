"""Each notebook writes its key results as JSON into ``<out_dir>/results/<name>.json``.

The report and the tests read them back; nothing is typed in by hand.
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

from msknb.io import write_json_atomic


def results_path(out_dir: str | Path, name: str) -> Path:
    """Path of the results JSON of notebook ``name`` (e.g. ``"03_train_ddpm"``)."""
    return Path(out_dir) / "results" / f"{name}.json"


def save_results(out_dir: str | Path, name: str, results: dict[str, Any], **context: Any) -> Path:
    """Write ``results`` (plus ``context`` such as profile, seed, data, image size)
    atomically to ``<out_dir>/results/<name>.json`` and return the path."""
    payload = {
        "notebook": name,
        "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "python": platform.python_version(),
        "context": context,
        "results": results,
    }
    return write_json_atomic(results_path(out_dir, name), payload)


def load_results(out_dir: str | Path, name: str | None = None) -> dict[str, Any]:
    """Read one notebook's results payload, or all of them as ``{name: payload}``."""
    folder = Path(out_dir) / "results"
    if name is not None:
        return json.loads(results_path(out_dir, name).read_text())
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
