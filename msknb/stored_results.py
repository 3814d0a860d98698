"""Benchmark results the notebooks show, stored as JSON under ``msknb/checkpoints/``.

Each file is written by one benchmark script (its default ``--out``), which records the
command line that wrote it under ``"command"``, and is read back by :func:`read_stored_result`
alone. A missing or garbled file raises :class:`~msknb.errors.StoredResultError` naming the
file and the benchmark that writes it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from msknb.errors import StoredResultError
from msknb.paths import CHECKPOINTS_DIR


@dataclass(frozen=True)
class StoredResult:
    """``file``: its name under ``msknb/checkpoints/``; ``benchmark``: the benchmark script that
    writes it (repository-relative) and any argument its reader needs; ``what``: what it holds,
    for messages ("objective screening")."""

    file: str
    benchmark: str
    what: str

    @property
    def path(self) -> Path:
        return CHECKPOINTS_DIR / self.file

    @property
    def write_command(self) -> str:
        """The command, run from the repository root, that (re)writes the file with the
        benchmark's defaults."""
        return f".venv/bin/python {self.benchmark}"


def read_stored_result(stored: StoredResult, check: Callable[[Any], Any] = lambda r: r,
                       path: str | Path | None = None) -> dict[str, Any]:
    """The JSON of ``stored`` (at ``path``, default ``stored.path``) once ``check(report)`` has
    passed on it (it indexes the keys its reader needs). Raises :class:`StoredResultError`
    naming the file and ``stored.write_command`` when it is absent, unreadable or garbled."""
    p = Path(path) if path is not None else stored.path
    if not p.is_file():
        raise StoredResultError(f"no {stored.what} stored yet; run `{stored.write_command}` from the repository "
                                "root to write it", p)
    try:
        report = json.loads(p.read_text())
        check(report)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        raise StoredResultError(f"unreadable {stored.what} ({type(e).__name__}: {e}); run `{stored.write_command}` to "
                                "write it again", p) from e
    return report
