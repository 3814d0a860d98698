"""Each notebook writes its key results as JSON into ``<out_dir>/results/<name>.json``.

:func:`save_results` is the one writer and :func:`load_results` the one reader (the report,
notebooks 06 and 07, the tests); nothing is typed in by hand.
"""
from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

from msknb.errors import ResultsError
from msknb.io import read_json_object, write_json_atomic


def results_dir(out_dir: str | Path) -> Path:
    """``<out_dir>/results``: one JSON per notebook."""
    return Path(out_dir) / "results"


def results_path(out_dir: str | Path, name: str) -> Path:
    """Path of the results JSON of notebook ``name`` (e.g. ``"03_train_ddpm"``)."""
    return results_dir(out_dir) / f"{name}.json"


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


def _read(path: Path) -> dict[str, Any]:
    return read_json_object(path, ResultsError, "the results file")


def load_results(out_dir: str | Path, name: str | None = None) -> dict[str, Any] | None:
    """One notebook's payload ``{"notebook", "written", "python", "context", "results"}``
    (None when that notebook wrote none), or, without ``name``, ``{name: payload}`` of every
    ``<out_dir>/results/*.json``. An unreadable file raises :class:`ResultsError` naming it."""
    if name is not None:
        path = results_path(out_dir, name)
        return _read(path) if path.is_file() else None
    return {p.stem: _read(p) for p in sorted(results_dir(out_dir).glob("*.json"))}
