"""Helpers for the real-browser test (``tests/test_browser.py``, issue 7).

They start a private JupyterLab on loopback (its own runtime/config/data/settings dirs, a
random token, a free port), drive Debian's ``/usr/bin/chromium`` headless through
Playwright for Python (no Playwright browser download), and poke ipywidgets in the page.

Nothing here touches the user's Jupyter state: every Jupyter directory lives in a tmp dir.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("MSKNB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
#: JupyterLab user settings written into the private settings dir: no news/update toasts,
#: every cell attached to the DOM (so widgets below the fold exist), no autosave into the copy.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing_requirements() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    problems = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("playwright is not installed (pip install -e '.[browser]')")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        problems.append(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    return "; ".join(problems) or None


def require_browser() -> None:
    """Skip (or fail when CI is set) if playwright or Chromium is missing."""
    why = missing_requirements()
    if why is None:
        return
    if in_ci():
        pytest.fail(f"browser test must run in CI but cannot: {why}")
    pytest.skip(f"browser test skipped: {why}")


def artifacts_dir() -> Path:
    """``$MSKNB_BROWSER_ARTIFACTS`` or ``outputs/browser`` (git-ignored), created."""
    path = Path(os.environ.get("MSKNB_BROWSER_ARTIFACTS") or REPO_ROOT / "outputs" / "browser")
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http(url: str, method: str = "GET", timeout: float = 5.0) -> int:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with _NO_PROXY.open(req, timeout=timeout) as resp:
        return resp.status


class LabServer:
    """A private JupyterLab server; use as a context manager.

    ``root_dir`` is served; ``log_path`` receives the server's stdout/stderr.
    """

    def __init__(self, root_dir: Path, log_path: Path, startup_timeout: float = 90.0):
        self.root_dir = Path(root_dir)
        self.log_path = Path(log_path)
        self.startup_timeout = startup_timeout
        self.token = secrets.token_hex(24)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="msknb-lab-")
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def _env(self) -> dict:
        tmp = Path(self._tmp.name)
        env = dict(os.environ)
        # The kernel must draw inline figures: the test process's MPLBACKEND=Agg must not leak.
        env.pop("MPLBACKEND", None)
        for key in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "JUPYTER_PREFER_ENV_PATH"):
            env.pop(key, None)
        dirs = {
            "JUPYTER_CONFIG_DIR": "config",
            "JUPYTER_DATA_DIR": "data",
            "JUPYTER_RUNTIME_DIR": "runtime",
            "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
            "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
            "IPYTHONDIR": "ipython",
        }
        for key, sub in dirs.items():
            (tmp / sub).mkdir(parents=True, exist_ok=True)
            env[key] = str(tmp / sub)
        for rel, value in LAB_SETTINGS.items():
            path = tmp / "lab-settings" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        # The venv's python3 kernelspec runs "python": make that the venv's interpreter.
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        # Results the notebook writes go to the tmp dir, not the repository's outputs/.
        (tmp / "msknb-out").mkdir(exist_ok=True)
        env["MSKNB_OUT"] = str(tmp / "msknb-out")
        return env

    def start(self) -> "LabServer":
        self.port = free_port()
        cmd = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI and containers run as root
            cmd.append("--allow-root")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd, cwd=self.root_dir, env=self._env(), stdout=self._log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with {self.proc.returncode}; log:\n{self.log_tail()}"
                )
            try:
                if _http(self.url("api/status"), timeout=2) == 200:
                    return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise RuntimeError(
            f"JupyterLab did not answer within {self.startup_timeout:.0f} s; log:\n{self.log_tail()}"
        )

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(Exception):
                _http(self.url("api/shutdown"), method="POST", timeout=5)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        if proc is not None:
            # Kernels run in the server's session (process group): end any left behind.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None
        self._tmp.cleanup()

    def __enter__(self) -> "LabServer":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def chromium_page(width: int = 1400, height: int = 1000) -> Iterator:
    """A Playwright page in headless Debian Chromium with a fresh profile; closes everything."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="msknb-chromium-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": width, "height": height},
            )
            try:
                page = context.pages[0] if context.pages else context.new_page()
                yield page
            finally:
                with contextlib.suppress(Exception):
                    context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


# --------------------------------------------------------------------------- JupyterLab UI

#: Dialogs whose accept button is the right answer (kernel selection → the default kernel,
#: trust prompts → trust). Any other dialog (e.g. "Build Recommended") is cancelled.
_ACCEPT_TITLES = re.compile(r"select kernel|kernel|trust", re.I)
#: Dialogs that mean the run is broken.
_FATAL_TITLES = re.compile(r"kernel (died|restarting)|dead kernel|error", re.I)


def dismiss_dialogs(page) -> list[str]:
    """Answer every open JupyterLab dialog; returns their titles.

    Kernel selection and trust dialogs are accepted, others cancelled; raises
    AssertionError on a dialog that reports a dead/restarting kernel or an error.
    """
    titles = []
    for _ in range(5):
        dialog = page.locator(".jp-Dialog")
        if dialog.count() == 0:
            break
        dialog = dialog.first
        title = dialog.locator(".jp-Dialog-header").inner_text().strip()
        titles.append(title)
        if _FATAL_TITLES.search(title):
            body = dialog.locator(".jp-Dialog-body").inner_text().strip()
            raise AssertionError(f"JupyterLab dialog {title!r}: {body[:500]}")
        accept = dialog.locator(".jp-Dialog-button.jp-mod-accept")
        reject = dialog.locator(".jp-Dialog-button.jp-mod-reject")
        if _ACCEPT_TITLES.search(title) and accept.count():
            accept.first.click()
        elif reject.count():
            reject.first.click()
        elif accept.count():
            accept.first.click()
        else:
            page.keyboard.press("Escape")
        page.wait_for_timeout(300)
    return titles


_KERNEL_STATE_JS = """
() => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  if (!w || !w.sessionContext) return {ready: false};
  const ctx = w.sessionContext;
  const kernel = ctx.session && ctx.session.kernel;
  const cells = [];
  const model = w.content && w.content.model;
  if (model) {
    for (let i = 0; i < model.cells.length; i++) {
      const c = model.cells.get(i);
      if (c.type !== 'code') continue;
      const outs = c.outputs ? c.outputs.toJSON() : [];
      cells.push({
        count: c.executionCount,
        empty: c.sharedModel.getSource().trim() === '',
        errors: outs.filter(o => o.output_type === 'error')
                    .map(o => o.ename + ': ' + o.evalue),
      });
    }
  }
  const prompts = Array.from(document.querySelectorAll(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt'))
      .map(p => p.textContent.trim());
  return {
    ready: ctx.isReady, kernelName: kernel ? kernel.name : null,
    status: kernel ? kernel.status : (ctx.kernelDisplayStatus || null),
    cells: cells, prompts: prompts,
  };
}
"""


def kernel_state(page) -> dict:
    return page.evaluate(_KERNEL_STATE_JS)


def open_notebook(page, server: LabServer, name: str, timeout: float = 120.0) -> dict:
    """Open ``name`` (relative to the server root) and wait for an idle kernel."""
    page.goto(server.url(f"lab/tree/{name}"), wait_until="domcontentloaded",
              timeout=timeout * 1000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=timeout * 1000)
    page.wait_for_function("() => !!window.jupyterapp", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    state: dict = {}
    dialogs: list[str] = []
    while time.monotonic() < deadline:
        dialogs += dismiss_dialogs(page)
        state = kernel_state(page)
        state["dialogs"] = dialogs
        if state.get("ready") and state.get("status") == "idle":
            return state
        page.wait_for_timeout(500)
    raise AssertionError(f"kernel not idle after {timeout:.0f} s: {state}")


def run_all_cells(page) -> None:
    """Run → Run All Cells through the menu bar (what a student would click)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
    item = page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel",
                        has_text=re.compile(r"^Run All Cells$"))
    item.first.click()
    dismiss_dialogs(page)


def wait_all_executed(page, timeout: float) -> dict:
    """Wait until every non-empty code cell has an execution count and the kernel is idle.

    Raises AssertionError naming the first error output, or on timeout.
    """
    deadline = time.monotonic() + timeout
    state: dict = {}
    stable = 0
    while time.monotonic() < deadline:
        dismiss_dialogs(page)
        state = kernel_state(page)
        cells = [c for c in state.get("cells", []) if not c["empty"]]
        errors = [e for c in cells for e in c["errors"]]
        if errors:
            raise AssertionError(f"notebook raised: {errors[0]}")
        done = (
            state.get("status") == "idle"
            and cells
            and all(c["count"] for c in cells)
            and not any("*" in p for p in state.get("prompts", []))
        )
        stable = stable + 1 if done else 0
        if stable >= 2:
            return state
        page.wait_for_timeout(500)
    raise AssertionError(f"notebook did not finish within {timeout:.0f} s: {state}")


def int_slider(page, description: str):
    """The ipywidgets IntSlider whose description label is exactly ``description``."""
    label = page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(description)}\s*$"))
    return page.locator(".widget-slider.widget-hslider, .widget-slider.widget-vslider").filter(
        has=label
    )


def dropdown_select(scope, description: str):
    """The <select> of the ipywidgets Dropdown labelled ``description`` inside ``scope``."""
    page = getattr(scope, "page", scope)  # `has=` locators are relative: build it from the page
    label = page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(description)}\s*$"))
    return scope.locator(".widget-dropdown").filter(has=label).locator("select")


def slider_value(slider) -> str:
    return slider.locator(".widget-readout").first.inner_text().strip()


def owning_cell(locator):
    """The notebook code cell containing ``locator``."""
    return locator.locator(
        "xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '),"
        " ' jp-CodeCell ')][1]"
    )


def output_image_sources(cell) -> list[str]:
    """``src`` of every <img> in the cell's output area (matplotlib PNGs, widgets.Image)."""
    return cell.locator(".jp-Cell-outputArea img").evaluate_all(
        "imgs => imgs.map(i => i.getAttribute('src') || '')"
    )


def move_slider(page, slider, key: str = "End", presses: int = 1) -> str:
    """Focus the slider's handle and press ``key``; fall back to typing into the readout.

    Returns the new readout text.
    """
    before = slider_value(slider)
    handle = slider.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(presses):
        handle.press(key)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and slider_value(slider) == before:
        page.wait_for_timeout(100)
    after = slider_value(slider)
    if after == before and before.lstrip("-").isdigit():
        # keyboard not honoured: type a value into the editable readout
        readout = slider.locator(".widget-readout").first
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type(str(int(before) + 1))
        page.keyboard.press("Enter")
        page.wait_for_timeout(300)
        after = slider_value(slider)
    return after


def wait_images_change(page, cell, before: list[str], timeout: float = 60.0) -> list[str]:
    """Wait until the cell's output images differ from ``before`` (and exist)."""
    deadline = time.monotonic() + timeout
    now = before
    while time.monotonic() < deadline:
        now = output_image_sources(cell)
        if now and now != before:
            # let a redraw that is still in flight settle
            page.wait_for_timeout(300)
            settled = output_image_sources(cell)
            if settled == now:
                return now
            continue
        page.wait_for_timeout(250)
    raise AssertionError(
        f"widget image did not change within {timeout:.0f} s "
        f"({len(before)} image(s) before, {len(now)} after)"
    )


# --------------------------------------------------------------------------- exercises (issue 15)

_CELLS_JS = """
() => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  return nb.widgets.map((cell, i) => {
    cell.node.setAttribute('data-msknb-cell', String(i));
    return {index: i, id: cell.model.id, type: cell.model.type,
            source: cell.model.sharedModel.getSource(),
            tags: cell.model.sharedModel.getMetadata().tags || [],
            inputHidden: cell.inputHidden};
  });
}
"""

_RUN_CELL_JS = """
async ([index, source]) => {
  const app = window.jupyterapp;
  const nb = app.shell.currentWidget.content;
  if (source !== null) nb.widgets[index].model.sharedModel.setSource(source);
  nb.activeCellIndex = index;
  nb.deselectAll();
  await app.commands.execute('notebook:run-cell');
}
"""


def notebook_cells(page) -> list[dict]:
    """Every cell of the open notebook: index, id, type, source, tags, inputHidden (collapsed).
    Also marks each cell's DOM node with ``data-msknb-cell="<index>"`` for :func:`cell_at`."""
    return page.evaluate(_CELLS_JS)


def cell_at(page, index: int):
    """The DOM node of cell ``index`` (call :func:`notebook_cells` first)."""
    return page.locator(f'.jp-NotebookPanel:not(.lm-mod-hidden) [data-msknb-cell="{index}"]')


def run_cell(page, index: int, source: str | None = None) -> None:
    """Run cell ``index`` (as Shift+Enter without moving on), after replacing its source if given
    (what a student does after typing an answer)."""
    page.evaluate(_RUN_CELL_JS, [index, source])


def wait_output_text(page, index: int, contains: str, timeout: float = 60.0) -> str:
    """Wait until the output area of cell ``index`` shows ``contains``; returns its text."""
    area = cell_at(page, index).locator(".jp-Cell-outputArea")
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        dismiss_dialogs(page)
        text = area.inner_text() if area.count() else ""
        if contains in text:
            return text
        page.wait_for_timeout(250)
    raise AssertionError(f"cell {index} did not show {contains!r} within {timeout:.0f} s; it shows {text!r}")
