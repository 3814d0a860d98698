"""The next notebook's kernel, started while the current notebook runs.

Starting a kernel and importing torch, matplotlib and msknb takes 3-5 s of every notebook
(measured: 2.4-7.5 s in the import cells of the smoke series on 2 cores), most of it one
core busy while the other waits. The runner (:mod:`msknb.runner.series`) therefore starts notebook
k+1's kernel as soon as notebook k starts, and has it import the modules that k+1's cells
import (:func:`notebook_imports`) - silently, into a private namespace, so the notebook's
own namespace, execution counts and outputs are exactly those of a fresh kernel. Only the
module cache is warm. When anything goes wrong here, the notebook gets a fresh kernel.
"""
from __future__ import annotations

import ast
import asyncio
import json
import os
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from msknb.runner.notebook_client import IPCKernelManager

#: seconds to wait for the kernel to start and finish its imports before giving up on it
WARM_TIMEOUT_S = 120.0
#: modules imported inside functions of a package (not seen by :func:`notebook_imports`) that
#: a notebook importing the package will need: MONAI (~5-7 s) when it builds a segmenter
LAZY_IMPORTS = {"msknb.segmentation": ("monai.networks.nets", "monai.losses")}


def notebook_imports(path: str | Path) -> list[str]:
    """Modules imported at the top level of ``path``'s code cells, in order, without repeats
    (``import a.b`` and ``from a.b import c`` give ``"a.b"``), then the :data:`LAZY_IMPORTS`
    of the packages among them; cells that do not parse as Python (magics) are skipped."""
    cells = json.loads(Path(path).read_text()).get("cells", [])
    names: list[str] = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse("".join(cell.get("source", "")))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
    names += [lazy for pkg, mods in LAZY_IMPORTS.items() if any(n.startswith(pkg) for n in names) for lazy in mods]
    return list(dict.fromkeys(names))


def warm_up_code(modules: list[str]) -> str:
    """Code that imports ``modules`` (failures ignored: the notebook will report them itself)
    inside ``exec`` with a private namespace, so no name reaches the notebook's namespace."""
    body = ("import importlib\n"
            f"for _name in {modules!r}:\n"
            "    try:\n        importlib.import_module(_name)\n"
            "    except Exception:\n        pass\n")
    return f"exec({body!r}, {{}})"


class WarmKernel:
    """A kernel for ``notebook`` started in a background thread: ``take()`` hands its kernel
    manager to the engine (None if it failed), ``discard()`` shuts it down if unused."""

    def __init__(self, notebook: str | Path, kernel_name: str = "python3", log_path: str | None = None):
        self.notebook = Path(notebook)
        self.kernel_name, self.log_path = kernel_name, log_path
        self.env = dict(os.environ)  # the thread settings the runner chose for this series
        self._km: Future = Future()
        self._taken = False
        threading.Thread(target=self._run, name=f"warm-{self.notebook.stem}", daemon=True).start()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            self._km.set_result(loop.run_until_complete(self._start()))
        except BaseException as exc:  # the notebook falls back to a fresh kernel
            self._km.set_exception(exc)
        finally:
            loop.close()

    async def _start(self) -> Any:
        km = IPCKernelManager(kernel_name=self.kernel_name)
        with open(self.log_path or os.devnull, "ab") as log:
            await km.start_kernel(cwd=str(self.notebook.parent), env=self.env, stdout=log, stderr=log,
                                  extra_arguments=["--HistoryManager.hist_file=:memory:"])
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=WARM_TIMEOUT_S)
            msg_id = kc.execute(warm_up_code(notebook_imports(self.notebook)), silent=True, store_history=False)
            while (await kc.get_shell_msg(timeout=WARM_TIMEOUT_S))["parent_header"].get("msg_id") != msg_id:
                pass
        except BaseException:
            await km.shutdown_kernel(now=True)
            raise
        finally:
            kc.stop_channels()
        return km

    def take(self, timeout: float = WARM_TIMEOUT_S) -> Any:
        """The started kernel's manager (the caller now owns the kernel), or None."""
        self._taken = True
        try:
            return self._km.result(timeout=timeout)
        except TimeoutError:  # still starting: shut it down once it has started
            self._km.add_done_callback(_shutdown)
            return None
        except Exception:
            return None

    def discard(self) -> None:
        """Shut the kernel down (now, or when it has started) unless it was taken."""
        if not self._taken:
            self._taken = True
            self._km.add_done_callback(_shutdown)


def _shutdown(future: Future) -> None:
    if future.exception() is None:
        asyncio.run(future.result().shutdown_kernel(now=True))
