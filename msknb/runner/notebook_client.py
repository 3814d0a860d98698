"""A papermill engine ("msknb") whose kernel client never waits forever for a reply.

papermill's nbclient waits for a cell's ``execute_reply`` on the shell channel with
``get_msg(timeout=None)`` (no timeout: the ``paper`` profile) and for its IOPub messages
likewise. A reply that never comes - lost on the way (jupyter/nbclient#312), or a request
left unread on the kernel's shell socket (ipython/ipykernel#1529, #1554: a raw send on the
ROUTER drops the stream's wake-up; a later message on the socket wakes it) - then blocks the
series for the whole cell timeout, or for ever. :class:`GuardedNotebookClient`:

- polls both channels in :data:`POLL_SLICE_S` slices: each slice ends in a real
  ``zmq_poll``, so a missed edge-triggered wake-up of the asyncio poller costs seconds;
- watches the kernel's IOPub status for the cell: ``busy`` = working (only the cell
  timeout applies); idle with no reply, or no ``busy`` at all, for :data:`NUDGE_AFTER_S`
  = overdue: it sends a ``kernel_info_request`` on the shell channel (wakes a stuck
  shell socket) and, :data:`LOST_AFTER_S` overdue, raises :class:`LostReplyError`;
- on the cell timeout raises :class:`CellHangError` saying what the kernel was doing
  (busy since when, its last output; or idle); both subclass nbclient's
  ``CellTimeoutError``.

Kernels talk over IPC (Unix sockets next to the connection file) instead of TCP on
localhost where the platform has them: no port races between kernels started in a row.
The kernel process writes its own stdout/stderr (warnings, C-level prints) to
``<executed notebook>.kernel.log``, never to the terminal or pipe the runner was started
from: how the job is started (tty, pipe, closed stdout, background) cannot stall a kernel.
The runner (:mod:`msknb.runner.series`) uses this engine, retries a notebook once after a
:class:`LostReplyError` or a dead kernel, and says so.

Two more engine arguments serve the runner: ``cell_progress(k, n)`` is called as code cell k
of n starts (:mod:`msknb.runner.cell_progress` shows it in the terminal), and ``kernel_stats`` (a
dict) receives ``peak_rss_kib``, the kernel process's own peak resident memory
(:data:`PEAK_RSS_EXPRESSION`, asked for after the last cell; absent when the kernel cannot say).
"""
from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from queue import Empty
from time import monotonic
from typing import Any, Callable

from jupyter_client.localinterfaces import localhost
from jupyter_client.manager import AsyncKernelManager
from nbclient.client import timestamp
from nbclient.exceptions import CellExecutionComplete, CellTimeoutError
from nbclient.util import ensure_async, run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger
from papermill.utils import merge_kwargs, remove_args
from traitlets import Float, Instance, default

#: seconds of one poll of the shell / IOPub channel
POLL_SLICE_S = 2.0
#: seconds a reply may be overdue (kernel idle, or the request never started) before the nudge
NUDGE_AFTER_S = 30.0
#: seconds overdue before :class:`LostReplyError`
LOST_AFTER_S = 60.0
#: name the engine is registered under with papermill
ENGINE_NAME = "msknb"
#: what the kernel evaluates (a user expression, no output) for its peak resident memory in KiB:
#: VmHWM of /proc/self/status (Linux; getrusage's ru_maxrss would include the runner's memory at
#: the fork that started the kernel, kept across exec), else ru_maxrss (bytes on macOS)
PEAK_RSS_EXPRESSION = (
    "next((int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM:')), None) "
    "if __import__('os').path.exists('/proc/self/status') else "
    "__import__('resource').getrusage(__import__('resource').RUSAGE_SELF).ru_maxrss "
    "// (1024 if __import__('sys').platform == 'darwin' else 1)")
#: seconds to wait for the answer before leaving the peak out
STATS_TIMEOUT_S = 20.0


class CellHangError(CellTimeoutError):
    """A cell ran past its timeout; the message says what the kernel was doing."""


class LostReplyError(CellHangError):
    """The kernel is idle but the cell's reply never came (or its request never started)."""


class IPCKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels use IPC (Unix domain sockets) instead of TCP.

    Each kernel's sockets live in a private temporary folder (``/tmp/msknb-kernel-*/ipc-N``):
    jupyter_client's default IPC path, ``kernel-ipc-N`` in the kernel's working folder, is the
    same for every kernel started there, so two series run at once (two terminals) would
    bind the same sockets and read each other's messages ("Invalid Signature"); it would also
    leave socket files in ``notebooks/``."""

    @default("transport")
    def _default_transport(self) -> str:
        return "tcp" if os.name == "nt" else "ipc"

    @default("ip")
    def _default_ip(self) -> str:
        if self.transport != "ipc":
            return localhost()
        self._ipc_dir = tempfile.mkdtemp(prefix="msknb-kernel-")
        return os.path.join(self._ipc_dir, "ipc")

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        folder = getattr(self, "_ipc_dir", None)
        if folder and not restart:
            shutil.rmtree(folder, ignore_errors=True)


def _first_line(source: str, width: int = 80) -> str:
    line = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


class _CellWatch:
    """What the kernel did for the cell being executed: times (monotonic s) of the request,
    the first ``busy``, the ``idle``, and the last output text."""

    def __init__(self) -> None:
        self.sent = monotonic()
        self.busy: float | None = None
        self.idle: float | None = None
        self.last_output = ""
        self.last_output_at: float | None = None
        self.nudged = False

    def overdue(self, now: float) -> float:
        """Seconds the reply is overdue: since ``idle`` (finished, no reply) or since the
        request (never started); 0 while the kernel works on it."""
        if self.idle is not None:
            return now - self.idle
        return now - self.sent if self.busy is None else 0.0

    def describe(self, now: float) -> str:
        if self.busy is None:
            return f"the kernel never started the cell ({now - self.sent:.0f} s since the request; idle)"
        if self.idle is not None:
            return f"the kernel finished the cell {now - self.idle:.0f} s ago and is idle, but its reply never came"
        text = f"the kernel was busy with the cell for {now - self.busy:.0f} s"
        if self.last_output:
            text += f"; last output {now - self.last_output_at:.0f} s ago: {self.last_output!r}"
        return text


class GuardedNotebookClient(PapermillNotebookClient):
    """papermill's client with sliced polling, a nudge and a lost-reply error (module doc)."""

    nudge_after_s = Float(help="overdue seconds before the kernel_info nudge").tag(config=True)
    lost_after_s = Float(help="overdue seconds before LostReplyError").tag(config=True)
    kernel_stats = Instance(dict, allow_none=True, help="receives peak_rss_kib after the last cell")

    @default("nudge_after_s")
    def _default_nudge(self) -> float:
        return NUDGE_AFTER_S

    @default("lost_after_s")
    def _default_lost(self) -> float:
        return LOST_AFTER_S

    @default("shutdown_kernel")
    def _default_shutdown(self) -> str:
        """Kill the kernel once the last cell has replied: its work is done and written, and a
        graceful shutdown waited for the kernel (torch threads) to exit, ~1-3 s per notebook."""
        return "immediate"

    def papermill_execute_cells(self) -> None:
        super().papermill_execute_cells()
        if self.kernel_stats is None:
            return
        try:
            peak = run_sync(self._async_peak_rss_kib)()
        except Exception as exc:  # a measurement, never the notebook's failure
            self.log.warning("no peak memory from the kernel: %s", exc)
            return
        if peak is not None:
            self.kernel_stats["peak_rss_kib"] = peak

    async def _async_peak_rss_kib(self) -> int | None:
        """The kernel's peak resident memory (KiB) as it reports it; None when it cannot."""
        msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"peak": PEAK_RSS_EXPRESSION})
        deadline = monotonic() + STATS_TIMEOUT_S
        while monotonic() < deadline:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=POLL_SLICE_S))
            except Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            answer = msg["content"].get("user_expressions", {}).get("peak", {})
            if answer.get("status") != "ok":
                return None
            value = answer["data"]["text/plain"]
            return int(value) if value.isdigit() else None
        return None

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        watch, now = getattr(self, "_watch", None), monotonic()
        if watch is not None:
            content = msg.get("content", {})
            if msg["msg_type"] == "status":
                state = content.get("execution_state")
                if state == "busy" and watch.busy is None:
                    watch.busy = now
                elif state == "idle":
                    watch.idle = now
            elif msg["msg_type"] == "stream" and content.get("text", "").strip():
                watch.last_output = content["text"].strip().splitlines()[-1][-120:]
                watch.last_output_at = now
        return super().process_message(msg, cell, cell_index)

    async def _async_poll_output_msg(self, parent_msg_id: str, cell: Any, cell_index: int) -> None:
        while True:
            try:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=POLL_SLICE_S))
            except Empty:
                continue
            if msg["parent_header"].get("msg_id") == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    return

    def _hang(self, cls: type, cell: Any, now: float, what: str) -> CellHangError:
        index = self.nb.cells.index(cell) if cell in self.nb.cells else "?"
        return cls(f"{what} in cell {index} ({_first_line(cell.source)!r}): {self._watch.describe(now)}")

    async def _on_silence(self, cell: Any, deadline: float | None) -> None:
        """A poll slice passed without the reply: check the kernel, nudge, or give up."""
        await self._async_check_alive()  # DeadKernelError
        now, watch = monotonic(), self._watch
        if deadline is not None and now >= deadline:
            raise self._hang(CellHangError, cell, now, f"timeout ({self.timeout} s)")
        overdue = watch.overdue(now)
        if overdue >= self.nudge_after_s and not watch.nudged:
            self.log.warning("no reply %.0f s after the kernel went idle: nudging its shell channel", overdue)
            await ensure_async(self.kc.kernel_info())
            watch.nudged = True
        elif overdue >= self.lost_after_s:
            raise self._hang(LostReplyError, cell, now, "lost reply")

    async def _async_poll_for_reply(self, msg_id: str, cell: Any, timeout: int | None,
                                    task_poll_output_msg: asyncio.Future, task_poll_kernel_alive: asyncio.Future
                                    ) -> dict[str, Any]:
        self._watch = _CellWatch()
        deadline = None if timeout is None else self._watch.sent + timeout
        while True:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=POLL_SLICE_S))
            except Empty:
                try:
                    await self._on_silence(cell, deadline)
                except BaseException:
                    task_poll_kernel_alive.cancel()
                    raise
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue  # e.g. the nudge's kernel_info_reply
            if self.record_timing:
                cell["metadata"]["execution"]["shell.execute_reply"] = timestamp(msg)
            try:
                await asyncio.wait_for(task_poll_output_msg, self.iopub_timeout)
            except (asyncio.TimeoutError, Empty):
                task_poll_kernel_alive.cancel()
                raise CellTimeoutError.error_from_timeout_and_cell(
                    "Timeout waiting for IOPub output", self.iopub_timeout, cell) from None
            task_poll_kernel_alive.cancel()
            return msg


def kernel_log_path(output_path: str | None) -> str | None:
    """Where the kernel process's own stdout/stderr go: ``<executed notebook>.kernel.log``
    (None: no local output path)."""
    if not output_path or "://" in str(output_path):
        return None
    return os.path.splitext(str(output_path))[0] + ".kernel.log"


def cell_start_hook(nb: Any, report: Callable[[int, int], Any]) -> Callable[..., None]:
    """An nbclient ``on_cell_start`` hook calling ``report(k, n)`` when the k-th of the ``n``
    code cells of ``nb`` (those with source: the ones nbclient runs) starts."""
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    position = {index: k for k, index in enumerate(code, start=1)}

    def hook(cell: Any, cell_index: int) -> None:
        if cell_index in position:
            report(position[cell_index], len(code))

    return hook


class GuardedEngine(NBClientEngine):
    """papermill's nbclient engine running :class:`GuardedNotebookClient` on IPC kernels."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                 stderr_file=None, start_timeout=60, execution_timeout=None, warm=None,
                                 cell_progress=None, kernel_stats=None, **kwargs):
        """``warm``: a :class:`msknb.runner.warm_kernel.WarmKernel` whose started kernel runs the
        notebook (a fresh kernel when it failed); either way the kernel is shut down at the end.
        ``cell_progress(k, n)``: called as code cell k of n starts; ``kernel_stats``: a dict
        that receives ``peak_rss_kib`` (module docstring)."""
        kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
        final = merge_kwargs(kwargs, timeout=execution_timeout, startup_timeout=start_timeout,
                             kernel_name=kernel_name, log=logger, log_output=log_output,
                             stdout_file=stdout_file, stderr_file=stderr_file, kernel_stats=kernel_stats)
        final.setdefault("kernel_manager_class", IPCKernelManager)
        final.setdefault("iopub_timeout", 30)
        if cell_progress is not None:
            final["on_cell_start"] = cell_start_hook(nb_man.nb, cell_progress)
        km = warm.take() if warm is not None else None
        if km is not None:
            return GuardedNotebookClient(nb_man, km=km, **final).execute(cleanup_kc=True)
        log_path = kernel_log_path(nb_man.output_path)
        with open(log_path or os.devnull, "ab") as log:  # the kernel's own stdout/stderr
            return GuardedNotebookClient(nb_man, **final).execute(stdout=log, stderr=log)


papermill_engines.register(ENGINE_NAME, GuardedEngine)
