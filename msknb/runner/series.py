"""Run the notebook series headless with papermill: ``python -m msknb run``.

Executes ``notebooks/NN_*.ipynb`` in order, injecting ``profile``, ``data_dir``,
``out_dir`` and ``seed`` into each notebook's ``parameters`` cell. Executed copies go to
``<out>/notebooks/``; each notebook writes its key results to ``<out>/results/``; the
runner writes ``<out>/index.json`` with each notebook's status, wall time (s) and peak
memory (MiB, resident set of the kernel process, as the kernel reports it after the last
cell). While a notebook runs, the terminal shows which cell of how many is running
(:mod:`msknb.runner.cell_progress`). It stops at the first failing notebook
and prints the failing cell and its error; at the end it prints one line with each
notebook's time and the total (:func:`times_summary`). :func:`write_times` records the
times with the machine (:mod:`msknb.runner.machine`) for ``benchmarks/results``. A ``paper`` run on
a machine without a GPU first says so, with a rough time and the memory it needs
(:mod:`msknb.runner.cpu_estimate`).
Kernels run on the guarded papermill engine (:mod:`msknb.runner.notebook_client`: no endless
wait for a lost reply); each cell gets the timeout fitted to its notebook
(:mod:`msknb.runner.kernel_timeouts`); a lost reply or a dead kernel earns one retry, said so.
Command line: :mod:`msknb.cli.run`.
"""
from __future__ import annotations

import ast
import contextlib
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import papermill as pm
import psutil
import torch
from nbclient.exceptions import DeadKernelError

from msknb.runner.cell_progress import CellProgress
from msknb.runner.cpu_estimate import paper_cpu_notice
from msknb.artifacts import write_index
from msknb.errors import ConfigError, DataError
from msknb.evaluation.report import write_report
from msknb.io import ensure_dir, write_json_atomic
from msknb.runner.kernel_timeouts import cell_timeout_s, timeout_reason
from msknb.runner.machine import machine_info
from msknb.runner.notebook_client import ENGINE_NAME, CellHangError, LostReplyError, kernel_log_path
from msknb.paths import NOTEBOOKS_DIR, default_data_dir, default_output_dir
from msknb.profiles import check_profile
from msknb.runner.warm_kernel import WarmKernel


@dataclass
class NotebookRun:
    """Outcome of one notebook: ``status`` is "ok", "failed" or "not run"; ``retries`` (0/1)
    after a lost reply or dead kernel, ``hangs``: attempts ended by a cell timeout or lost reply.
    ``peak_rss_mib``: the kernel's peak resident memory as it reports it after the last cell
    (:data:`msknb.runner.notebook_client.PEAK_RSS_EXPRESSION`); when it cannot (a hang, a dead kernel),
    the runner's own poll of its child processes, which may include the next notebook's kernel
    (:mod:`msknb.runner.warm_kernel`)."""

    name: str
    status: str = "not run"
    seconds: float | None = None
    peak_rss_mib: float | None = None
    output: str | None = None
    error: str | None = None
    cell_timeout_s: float | None = None
    retries: int = 0
    retry_reason: str | None = None
    hangs: int = 0


@dataclass
class SeriesRun:
    profile: str
    data_dir: str
    out_dir: str
    seed: int
    notebooks: list[NotebookRun] = field(default_factory=list)
    #: seconds from the runner's start to its end (report included); the next notebook's
    #: kernel starts during the current one, so this is less than the sum plus overheads
    wall_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return all(nb.status == "ok" for nb in self.notebooks)


def list_notebooks(folder: str | Path = NOTEBOOKS_DIR, only: Sequence[str] | None = None) -> list[Path]:
    """The series' notebooks ``NN_name.ipynb`` in reading order.

    ``only``: names or number prefixes (``"03"``, ``"03_train_ddpm"``) to keep; an
    unknown one raises :class:`ConfigError`.
    """
    paths = sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise DataError("no notebooks NN_name.ipynb found", folder)
    if only:
        keep = []
        for key in only:
            hits = [p for p in paths if p.stem == key or p.stem.split("_", 1)[0] == key]
            if not hits:
                raise ConfigError(f"unknown notebook {key!r}; known: {', '.join(p.stem for p in paths)}", "--only")
            keep.extend(h for h in hits if h not in keep)
        paths = sorted(keep)
    return paths


class _PeakMemory:
    """Polls the resident memory of this process's children (the kernel) in a thread."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> "_PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def parse_param(text: str) -> tuple[str, Any]:
    """``"epochs=3"`` -> ``("epochs", 3)``; the value is a Python literal when it parses as
    one (numbers, lists, True/None), else a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise ConfigError(f"expected NAME=VALUE, got {text!r}", "--param")
    try:
        return name.strip(), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name.strip(), value


def notebook_parameters(path: Path) -> set[str]:
    """Names declared in a notebook's ``parameters`` cell (papermill's inspection)."""
    return set(pm.inspect_notebook(str(path)))


def route_params(paths: Sequence[Path], extra: dict[str, Any]) -> dict[Path, dict[str, Any]]:
    """Give each notebook the extra parameters its ``parameters`` cell declares; a name no
    notebook declares raises :class:`ConfigError` (a typo must not be silently ignored)."""
    declared = {p: notebook_parameters(p) for p in paths}
    for name in extra:
        if not any(name in names for names in declared.values()):
            known = sorted(set().union(*declared.values()))
            raise ConfigError(f"unknown parameter {name!r}; the notebooks declare: {', '.join(known)}", name)
    return {p: {k: v for k, v in extra.items() if k in declared[p]} for p in paths}


def _failing_cell(exc: Exception) -> str:
    """A readable description of a papermill execution error."""
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    count = getattr(exc, "exec_count", None)
    source = getattr(exc, "source", None) or ""
    text = f"{ename} in cell [{count}]: {evalue}" if count is not None else f"{ename}: {evalue}"
    if source:
        text += "\n--- cell source ---\n" + source.strip()
    return text


def kernel_threads(cpus: int | None = None, load: float | None = None) -> int:
    """Torch/OpenMP threads for a notebook kernel: the CPUs this process may use minus the
    ones busy with other work (1-minute load average, rounded), at least 1.

    Measured (benchmarks/results/profile_ddpm_quick.json, 2 shared cores, load 4-8): with
    2 threads the 64-px U-Net ran 4-25x slower than with 1 (each OpenMP barrier waits for a
    thread the OS has descheduled); on idle cores every core is used."""
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cpus, cpus - round(load)))


#: glibc's malloc: allocations from 4 MiB up are mapped and handed back to the system when
#: freed (its default raises that threshold up to 32 MiB as tensors are freed, and freed tensors
#: below it stay in the heap). For the paper profile on a CPU only, where 256-px tensors live in
#: host memory: paper 03 on 8 images peaked at 4170 MiB without, 3672 MiB with (a 256-px training
#: step or sampling call 10-25 % slower). The quick profile's small tensors ran 2x slower with
#: it (1 MiB threshold): not for quick.
CPU_PAPER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(4 * 2**20)}


def paper_on_cpu(profile: str | None) -> bool:
    """True for the ``paper`` profile on a machine without CUDA."""
    return profile == "paper" and not torch.cuda.is_available()


@contextlib.contextmanager
def _kernel_environment(profile: str | None = None):
    """Thread settings the kernel inherits (``OMP_NUM_THREADS`` from :func:`kernel_threads`,
    ``OMP_WAIT_POLICY=PASSIVE`` so waiting threads sleep instead of spinning), and for
    ``paper`` on a CPU :data:`CPU_PAPER_MALLOC`, unless the user set them; the runner's own
    environment is restored afterwards."""
    wanted = {"OMP_NUM_THREADS": str(kernel_threads()), "OMP_WAIT_POLICY": "PASSIVE",
              **(CPU_PAPER_MALLOC if paper_on_cpu(profile) else {})}
    added = [k for k in wanted if k not in os.environ]
    os.environ.update({k: wanted[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


#: failures after which the runner runs the notebook once more (a kernel fault, not the notebook's)
RETRY_ON = (LostReplyError, DeadKernelError)


def _execute_once(path: Path, target: Path, parameters: dict[str, Any], kernel_name: str, progress: bool,
                  cell_timeout_s: float | None, warm: WarmKernel | None = None, cells: CellProgress | None = None,
                  stats: dict[str, Any] | None = None) -> Exception | None:
    """One papermill run of ``path`` on the guarded engine (:mod:`msknb.runner.notebook_client`),
    on ``warm``'s kernel when given, showing its cells on ``cells`` and the kernel's peak
    memory in ``stats``; the exception that ended it, or None."""
    try:
        pm.execute_notebook(str(path), str(target), parameters=parameters, kernel_name=kernel_name,
                            cwd=str(path.parent), progress_bar=progress, log_output=False,
                            execution_timeout=None if cell_timeout_s is None else int(cell_timeout_s),
                            engine_name=ENGINE_NAME, warm=warm, kernel_stats=stats,
                            cell_progress=cells.cell if cells is not None and cells.enabled else None)
        return None
    except Exception as exc:  # papermill wraps the kernel's error; reported by the caller
        return exc


def run_notebook(path: Path, out_dir: Path, parameters: dict[str, Any], kernel_name: str = "python3",
                 progress: bool = False, cell_timeout_s: float | None = None, retry: bool = True,
                 verbose: bool = False, warm: WarmKernel | None = None, show_cells: bool = False) -> NotebookRun:
    """Execute one notebook with papermill into ``<out_dir>/notebooks/``.

    ``cell_timeout_s`` bounds each cell (:func:`msknb.runner.kernel_timeouts.cell_timeout_s`); a
    reply the kernel never sends fails the cell after about a minute of idle kernel
    (:class:`~msknb.runner.notebook_client.LostReplyError`). After a lost reply or a dead kernel
    the notebook runs once more (``retry``), counted in ``retries`` and said in ``retry_reason``.
    ``warm``: the notebook's kernel, already started (:mod:`msknb.runner.warm_kernel`); a retry gets a fresh one.
    ``show_cells``: show the running cell on stdout (:class:`~msknb.runner.cell_progress.CellProgress`)."""
    run = NotebookRun(name=path.stem, cell_timeout_s=cell_timeout_s)
    target = ensure_dir(out_dir / "notebooks") / path.name
    run.output = str(target)
    start, stats = time.perf_counter(), {}
    with (_PeakMemory() as mem, _kernel_environment(parameters.get("profile")),
          CellProgress(enabled=show_cells) as cells):
        exc = _execute_once(path, target, parameters, kernel_name, progress, cell_timeout_s, warm, cells, stats)
        run.hangs += isinstance(exc, CellHangError)
        if retry and isinstance(exc, RETRY_ON):
            run.retries, run.retry_reason = 1, f"{type(exc).__name__}: {exc}"
            if verbose:
                cells.say(f"    retrying {path.stem} once after {run.retry_reason}")
            stats.clear()
            exc = _execute_once(path, target, parameters, kernel_name, progress, cell_timeout_s, None, cells, stats)
            run.hangs += isinstance(exc, CellHangError)
    run.status = "ok" if exc is None else "failed"
    run.error = None if exc is None else _failing_cell(exc)
    run.seconds = round(time.perf_counter() - start, 2)
    peak_kib = stats.get("peak_rss_kib")
    run.peak_rss_mib = round(peak_kib / 1024 if peak_kib else mem.peak / 2**20, 1)
    return run


def _cell_timeout(name: str, profile: str, override: float | None) -> float | None:
    """``override`` (s; 0 = no timeout) or the fitted :func:`cell_timeout_s`."""
    if override is None:
        return cell_timeout_s(name, profile)
    return None if override <= 0 else override


def _warm(path: Path, out: Path) -> WarmKernel:
    """Start ``path``'s kernel now (its log where the engine would put it)."""
    return WarmKernel(path, log_path=kernel_log_path(str(ensure_dir(out / "notebooks") / path.name)))


def _run_all(series: SeriesRun, paths: list[Path], out: Path, extra: dict[Path, dict[str, Any]],
             verbose: bool, cell_timeout: float | None = None) -> bool:
    """Run ``paths`` in order into ``series`` (index.json rewritten after each); False at the first failure."""
    params = {"profile": series.profile, "data_dir": series.data_dir, "out_dir": series.out_dir, "seed": series.seed}
    warm = None
    for i, path in enumerate(paths):
        if verbose:
            print(f"[{i + 1}/{len(paths)}] {path.stem} ({series.profile}) ...", flush=True)
        limit = _cell_timeout(path.stem, series.profile, cell_timeout)
        with _kernel_environment(series.profile):  # the next notebook's kernel starts while this one runs
            current, warm = warm, (_warm(paths[i + 1], out) if i + 1 < len(paths) else None)
        series.notebooks[i] = result = run_notebook(path, out, {**params, **extra[path]}, cell_timeout_s=limit,
                                                    verbose=verbose, warm=current, show_cells=verbose)
        write_index(out, asdict(series))
        if verbose:
            print(f"    {result.status} in {result.seconds:.1f} s, peak {result.peak_rss_mib:.0f} MiB"
                  + (f", after {result.retries} retry" if result.retries else ""), flush=True)
        if result.status != "ok":
            if warm is not None:
                warm.discard()
            if verbose:
                why = timeout_reason(path.stem, series.profile) if cell_timeout is None else f"{limit} s (given)"
                print(f"\nnotebook {path.name} failed (executed copy: {result.output}; cell timeout {why}):"
                      f"\n{result.error}", flush=True)
            return False
    return True


def run_series(profile: str = "quick", data_dir: str | Path | None = None, out_dir: str | Path | None = None,
               seed: int = 0, only: Sequence[str] | None = None, report: bool = True,
               notebooks_dir: str | Path = NOTEBOOKS_DIR, verbose: bool = True,
               params: dict[str, Any] | None = None, cell_timeout: float | None = None) -> SeriesRun:
    """Run the notebooks in order; stop at the first failure. Writes ``<out>/index.json``
    (and ``<out>/report.html`` when ``report`` and the series succeeded) and, when
    ``verbose``, ends with the one-line :func:`times_summary`.

    ``params``: extra papermill parameters (e.g. ``{"epochs": 3}``), each given to the
    notebooks whose ``parameters`` cell declares it. ``cell_timeout``: seconds per cell for
    every notebook (0 = none); default: fitted per notebook (:mod:`msknb.runner.kernel_timeouts`)."""
    check_profile(profile)
    data = Path(data_dir) if data_dir is not None else default_data_dir()
    if not data.exists():
        raise DataError("data folder does not exist", data)
    out = ensure_dir(Path(out_dir) if out_dir is not None else default_output_dir(profile)).resolve()
    paths = list_notebooks(notebooks_dir, only)
    extra = route_params(paths, params or {})
    if verbose and paper_on_cpu(profile):
        print(paper_cpu_notice(data, params or {}, [p.stem for p in paths], kernel_threads()), flush=True)
    series = SeriesRun(profile=profile, data_dir=str(data.resolve()), out_dir=str(out), seed=seed,
                       notebooks=[NotebookRun(name=p.stem) for p in paths])
    start = time.perf_counter()
    if _run_all(series, paths, out, extra, verbose, cell_timeout) and report:
        page = write_report(out)
        if verbose:
            print(f"report: {page}")
    series.wall_seconds = round(time.perf_counter() - start, 2)
    write_index(out, asdict(series))
    if verbose:
        print(times_summary(series), flush=True)
    return series


def times_summary(series: SeriesRun) -> str:
    """One line: each notebook's wall time and the total, e.g.
    ``times (smoke): 00_data 7.1 s · 07_evaluation 12.0 s · total 19.1 s``; a notebook that
    failed or did not run is marked so."""
    parts = []
    for nb in series.notebooks:
        if nb.seconds is None:
            parts.append(f"{nb.name} {nb.status}")
        else:
            parts.append(f"{nb.name} {nb.seconds:.1f} s" + ("" if nb.status == "ok" else f" ({nb.status})"))
    total = sum(nb.seconds or 0.0 for nb in series.notebooks)
    wall = [] if series.wall_seconds is None else [f"runner start to end {series.wall_seconds:.1f} s"]
    return f"times ({series.profile}): " + " · ".join(parts + [f"total {total:.1f} s"] + wall)


def write_times(series: SeriesRun, path: str | Path) -> Path:
    """Write the notebooks' times of ``series`` with :func:`machine_info` as JSON to ``path``
    (e.g. ``benchmarks/results/notebook_times_quick.json``, which the README's table quotes)."""
    return write_json_atomic(path, {
        "profile": series.profile, "seed": series.seed, "data_dir": series.data_dir,
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine_info(), "ok": series.ok,
        "notebooks": [{"name": nb.name, "status": nb.status, "seconds": nb.seconds, "peak_rss_mib": nb.peak_rss_mib}
                      for nb in series.notebooks],
        "total_seconds": round(sum(nb.seconds or 0.0 for nb in series.notebooks), 2),
        "wall_seconds": series.wall_seconds, "summary": times_summary(series)})
