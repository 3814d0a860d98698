"""Progress inside a running notebook, in the runner's terminal: which cell of how many, for how long.

The runner (:mod:`msknb.runner.series`) prints one line per notebook; a notebook that runs for
minutes would otherwise be a silent wait. While a notebook runs, :class:`CellProgress`
shows, on a terminal, one line rewritten in place every :data:`REFRESH_S` and cleared at
the end::

        cell 12/21 · 34 s in this cell · 1 min 02 s in all

and, when the output is not a terminal (a pipe, a log file), the same line every
:data:`HEARTBEAT_S` (nothing for a notebook faster than that). The engine
(:mod:`msknb.runner.notebook_client`) calls :meth:`CellProgress.cell` as each code cell starts.
"""
from __future__ import annotations

import sys
import threading
from time import monotonic
from typing import Any, TextIO

#: seconds between two redraws of the line on a terminal
REFRESH_S = 1.0
#: seconds between two progress lines when the output is not a terminal
HEARTBEAT_S = 30.0


def duration(seconds: float) -> str:
    """``"34 s"``, ``"1 min 02 s"``, ``"2 h 05 min"``, ``"3.5 days"`` (from 48 h)."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 48 * 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s / 86400:.1f} days"


class CellProgress:
    """Shows which code cell of a running notebook is executing (module docstring).

    ``stream``: where to write (default ``sys.stdout`` at construction); ``interactive``:
    rewrite one line in place (default: ``stream`` is a terminal); ``heartbeat_s``: seconds
    between lines when not interactive (default :data:`HEARTBEAT_S`); ``enabled`` False: shows
    nothing (:meth:`say` still prints). Use as a context manager around the notebook's
    execution; ``cell(k, n)`` is the engine's ``cell_progress``."""

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None,
                 heartbeat_s: float | None = None, enabled: bool = True):
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stdout
        if interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            interactive = bool(isatty and isatty())
        self.interactive = interactive
        self.interval = REFRESH_S if interactive else (HEARTBEAT_S if heartbeat_s is None else heartbeat_s)
        self.k = self.n = 0
        self.start = self.cell_start = monotonic()
        self._drawn = False
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()   # the engine's thread and the redraw thread both write
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cell-progress", daemon=True)

    def say(self, text: str) -> None:
        """Print ``text`` as a line of its own (the progress line, if drawn, is cleared first)."""
        with self._write_lock:
            if self._drawn:
                self.stream.write("\r\x1b[K")
                self._drawn = False
            self.stream.write(text + "\n")
            self.stream.flush()

    def cell(self, k: int, n: int) -> None:
        """Code cell ``k`` of ``n`` (1-based) starts now."""
        with self._lock:
            self.k, self.n, self.cell_start = k, n, monotonic()
        if self.interactive and self.enabled:
            self._show()

    def line(self, now: float | None = None) -> str:
        """The progress text, e.g. ``"    cell 12/21 · 34 s in this cell · 1 min 02 s in all"``."""
        now = monotonic() if now is None else now
        with self._lock:
            k, n, cell_start = self.k, self.n, self.cell_start
        return f"    cell {k}/{n} · {duration(now - cell_start)} in this cell · {duration(now - self.start)} in all"

    def _show(self) -> None:
        if not self.k:
            return
        text = self.line()
        with self._write_lock:
            self._write(text)

    def _write(self, text: str) -> None:
        try:
            if self.interactive:
                self.stream.write("\r" + text + "\x1b[K")
                self._drawn = True
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken output: progress is not worth an error
            self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._show()

    def __enter__(self) -> "CellProgress":
        self.start = self.cell_start = monotonic()
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        with self._write_lock:
            if self._drawn:
                try:
                    self.stream.write("\r\x1b[K")
                    self.stream.flush()
                except (OSError, ValueError):
                    pass
