"""Issue 17: the runner never hangs on a lost kernel reply; fitted cell timeouts; one retry.

The lost reply is planted: a cell replaces the kernel's ``session.send`` so that its own
``execute_reply`` is built but never sent (the kernel goes idle, papermill's nbclient waits
for the reply). Without :mod:`msknb.runner.notebook_client` that run waits for ever (no cell
timeout) - the ``timeout`` marks turn that into a failure.
"""
from __future__ import annotations

import asyncio
import datetime
import shutil
from queue import Empty
from types import SimpleNamespace

import nbformat
import pytest
from nb_helpers import write_notebook

from msknb.runner import kernel_timeouts, notebook_client
from msknb.runner.series import list_notebooks, run_notebook

DROP_REPLY = '''
from pathlib import Path
k = get_ipython().kernel
marker = Path(out_dir) / "dropped"
if {once} and marker.exists():
    pass
else:
    marker.touch()
    _send = k.session.send
    def _drop_reply(stream, msg_or_type, *args, **kwargs):
        if msg_or_type == "execute_reply":
            k.session.send = _send
            content = args[0] if args else kwargs.get("content")
            parent = args[1] if len(args) > 1 else kwargs.get("parent")
            return k.session.msg("execute_reply", content, parent=parent)
        return _send(stream, msg_or_type, *args, **kwargs)
    k.session.send = _drop_reply
'''


def _nb(path, *cells: str):
    return write_notebook(path, *cells)


@pytest.fixture
def fast_lost(monkeypatch):
    """Nudge after 1 s and give up after 2.5 s of an overdue reply (defaults: 30 s / 60 s)."""
    monkeypatch.setattr(notebook_client, "NUDGE_AFTER_S", 1.0)
    monkeypatch.setattr(notebook_client, "LOST_AFTER_S", 2.5)


@pytest.mark.timeout(120)
def test_lost_reply_is_retried_once_and_said(tmp_path, fast_lost, capsys):
    nb = _nb(tmp_path / "00_lost.ipynb", DROP_REPLY.format(once=True), "print('after')")
    run = run_notebook(nb, tmp_path, {"out_dir": str(tmp_path)}, cell_timeout_s=None, verbose=True)
    assert run.status == "ok" and run.retries == 1 and run.hangs == 1
    # cell 2 = its index in the executed copy (papermill inserts the parameters cell)
    assert "LostReplyError" in run.retry_reason and "cell 2" in run.retry_reason
    assert "retrying 00_lost once after LostReplyError" in capsys.readouterr().out


@pytest.mark.timeout(120)
def test_lost_reply_twice_fails_naming_the_cell(tmp_path, fast_lost):
    nb = _nb(tmp_path / "00_lost.ipynb", "x = 1", DROP_REPLY.format(once=False))
    run = run_notebook(nb, tmp_path, {"out_dir": str(tmp_path)}, cell_timeout_s=600)
    assert run.status == "failed" and run.retries == 1 and run.hangs == 2
    assert "lost reply in cell 3" in run.error and "reply never came" in run.error
    assert "from pathlib import Path" in run.error  # the cell's first line


@pytest.mark.timeout(120)
def test_cell_timeout_says_the_kernel_was_busy_and_its_last_output(tmp_path):
    nb = _nb(tmp_path / "00_slow.ipynb", "import time\nprint('epoch 3 of 10', flush=True)\ntime.sleep(60)")
    run = run_notebook(nb, tmp_path, {"out_dir": str(tmp_path)}, cell_timeout_s=3)
    assert run.status == "failed" and run.retries == 0 and run.hangs == 1  # slow work is not retried
    assert "timeout (3 s) in cell 2" in run.error and "busy with the cell" in run.error
    assert "epoch 3 of 10" in run.error


@pytest.mark.timeout(120)
def test_dead_kernel_is_retried_once(tmp_path):
    kill = ("import os, signal\nfrom pathlib import Path\nm = Path(out_dir) / 'killed'\n"
            "if not m.exists():\n    m.touch()\n    os.kill(os.getpid(), signal.SIGKILL)")
    nb = _nb(tmp_path / "00_dies.ipynb", kill, "print('alive')")
    run = run_notebook(nb, tmp_path, {"out_dir": str(tmp_path)}, cell_timeout_s=120)
    assert run.status == "ok" and run.retries == 1 and "DeadKernelError" in run.retry_reason


@pytest.mark.timeout(120)
def test_kernels_talk_over_ipc(tmp_path):
    nb = _nb(tmp_path / "00_ipc.ipynb", "from ipykernel.kernelapp import IPKernelApp\n"
                                        "assert IPKernelApp.instance().transport == 'ipc'")
    run = run_notebook(nb, tmp_path, {"out_dir": str(tmp_path)}, cell_timeout_s=120)
    assert run.status == "ok", run.error
    assert (tmp_path / "notebooks" / "00_ipc.kernel.log").exists()  # the kernel's own stdout/stderr
    assert not list(tmp_path.glob("kernel-ipc*")), "IPC sockets left in the notebook's folder"


def test_kernels_started_at_once_get_their_own_sockets(tmp_path):
    """Two series run at once (two terminals, same notebooks/ folder): jupyter_client's
    default IPC path (kernel-ipc-N in the working folder) was the same for both, and the
    second kernel read the first one's messages ("Invalid Signature", seen in the soak)."""
    import concurrent.futures

    nbs = [_nb(tmp_path / f"0{i}_twin.ipynb", "import time; time.sleep(1)", "print('ok')") for i in (1, 2)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda nb: run_notebook(nb, tmp_path / nb.stem, {"out_dir": str(tmp_path)},
                                                     cell_timeout_s=120, retry=False), nbs))
    assert all(r.status == "ok" for r in runs), [r.error for r in runs]
    a, b = notebook_client.IPCKernelManager(), notebook_client.IPCKernelManager()
    try:
        assert a.ip != b.ip and not a.ip.startswith(str(tmp_path))
    finally:
        for km in (a, b):
            shutil.rmtree(km._ipc_dir, ignore_errors=True)


def test_every_notebook_has_a_fitted_timeout():
    for path in list_notebooks():
        for profile in ("smoke", "quick"):
            seconds, source = kernel_timeouts.EXPECTED_SECONDS[profile][path.stem]
            assert seconds > 0 and source
            limit = kernel_timeouts.cell_timeout_s(path.stem, profile)
            assert limit == max(180, int(5 * seconds)) and limit < 3600
        assert kernel_timeouts.cell_timeout_s(path.stem, "paper") is None
    assert kernel_timeouts.cell_timeout_s("99_unknown", "quick") == kernel_timeouts.DEFAULT_CELL_TIMEOUT_S["quick"]
    assert "5 x 24 s expected for 00_data at quick" in kernel_timeouts.timeout_reason("00_data", "quick")


class _Channel:
    """A fake channel whose message becomes readable only when a bounded poll ends - what a
    missed ZMQ wake-up looks like to the asyncio poller; an unbounded poll never returns."""

    def __init__(self, msgs):
        self.msgs, self.timeouts = list(msgs), []

    async def get_msg(self, timeout=None):
        self.timeouts.append(timeout)
        if timeout is None:
            raise AssertionError("unbounded poll: with a missed wake-up it waits for ever")
        if len(self.timeouts) % 2:  # every other poll slice ends empty
            raise Empty
        if not self.msgs:
            await asyncio.sleep(0.01)
            raise Empty
        return self.msgs.pop(0)

    def send(self, msg):
        pass


def _msg(msg_type, content, parent="m1"):
    return {"msg_type": msg_type, "content": content, "parent_header": {"msg_id": parent},
            "header": {"msg_id": f"{msg_type}-{parent}", "date": datetime.datetime.now()}}


def test_replies_are_polled_in_bounded_slices():
    """jupyter/nbclient#312: nbclient polls for the reply with no bound when the cell has no
    timeout; a reply whose wake-up was missed is then never read. The guarded client's
    bounded slices read it at the end of the next slice."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.metadata["execution"] = {}
    nb.cells = [cell]
    client = notebook_client.GuardedNotebookClient(SimpleNamespace(nb=nb, autosave_cell=lambda: None))

    async def alive():
        return True

    client.kc = SimpleNamespace(
        shell_channel=_Channel([_msg("kernel_info_reply", {}, parent="other"),
                                _msg("execute_reply", {"status": "ok"})]),
        iopub_channel=_Channel([_msg("status", {"execution_state": "busy"}), _msg("status", {"execution_state": "idle"})]),
        is_alive=alive)

    async def execute():
        iopub = asyncio.ensure_future(client._async_poll_output_msg("m1", cell, 0))
        watchdog = asyncio.ensure_future(asyncio.sleep(60))
        return await client._async_poll_for_reply("m1", cell, None, iopub, watchdog)

    reply = asyncio.run(asyncio.wait_for(execute(), 20))
    assert reply["msg_type"] == "execute_reply"
    assert None not in client.kc.shell_channel.timeouts + client.kc.iopub_channel.timeouts


OUTPUT_WIDGET = '''
import ipywidgets as widgets
from IPython.display import display
out = widgets.Output()
display(out)
for i in range(150):
    with out:
        out.clear_output(wait=True)
        print("frame", i)
'''


@pytest.mark.timeout(300)
def test_output_widget_replies_are_not_late(tmp_path):
    """The hang of 00's old image browser: nbclient answers each Output-widget update with a
    comm_msg on the shell socket while it polls that socket for the reply, and the reply's
    wake-up can be lost (measured: 4 of 12 papermill runs of this cell got the reply only
    when the 30 s cell timeout ended the poll, the kernel idle after ~1 s; 0 of 12 with the
    guarded engine). Statistical: each cell has roughly a 1 in 3 chance to hit it unguarded."""
    nb = _nb(tmp_path / "00_widget.ipynb", OUTPUT_WIDGET, OUTPUT_WIDGET, OUTPUT_WIDGET, "print('done')")
    run = run_notebook(nb, tmp_path, {"out_dir": str(tmp_path)}, cell_timeout_s=60)
    assert run.status == "ok" and run.retries == 0, run.error
    for cell in nbformat.read(run.output, as_version=4).cells[2:5]:
        ex = cell.metadata["execution"]
        busy, idle = (datetime.datetime.fromisoformat(ex[k].rstrip("Z")) for k in ("iopub.status.busy",
                                                                                   "iopub.status.idle"))
        late = cell.metadata["papermill"]["duration"] - (idle - busy).total_seconds()
        assert late < 15, f"reply {late:.0f} s after the kernel went idle"
