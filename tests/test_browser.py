"""Issue 7: notebook 01 works in a real browser; issue 15: its exercises give feedback there.

A private JupyterLab (loopback, random token, tmp Jupyter dirs, a tmp copy of notebooks/)
is driven by headless Debian Chromium through Playwright: Run → Run All Cells, wait for the
kernel, move the IntSlider "t" with the keyboard, and check that the widget's image changes.

Screenshots, the server log and timings go to ``$MSKNB_BROWSER_ARTIFACTS`` or
``outputs/browser/``. Skips when playwright/Chromium are missing, unless CI is set (then it
fails). ``MSKNB_BROWSER_FULL=1`` adds the longer checks (several slider moves, the schedule
dropdown). ``MSKNB_BROWSER_NOTEBOOK=/path/to/x.ipynb`` drives another notebook instead.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from browser_helpers import (
    LabServer,
    artifacts_dir,
    cell_at,
    chromium_page,
    dropdown_select,
    int_slider,
    kernel_state,
    move_slider,
    notebook_cells,
    open_notebook,
    owning_cell,
    require_browser,
    run_all_cells,
    run_cell,
    slider_value,
    wait_all_executed,
    wait_images_change,
    wait_output_text,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO_ROOT / "notebooks" / "01_forward_diffusion.ipynb"
RUN_TIMEOUT_S = float(os.environ.get("MSKNB_BROWSER_RUN_TIMEOUT", "180"))

pytestmark = pytest.mark.browser


def _notebook() -> Path:
    override = os.environ.get("MSKNB_BROWSER_NOTEBOOK")
    path = Path(override) if override else NOTEBOOK
    if not path.is_file():
        pytest.fail(f"notebook to drive is missing: {path}")
    return path


def _full() -> bool:
    return os.environ.get("MSKNB_BROWSER_FULL", "").strip().lower() in ("1", "true", "yes")


@pytest.mark.timeout(int(os.environ.get("MSKNB_BROWSER_TIMEOUT", "300")))
def test_notebook01_slider_changes_image(tmp_path):
    require_browser()
    notebook = _notebook()
    root = tmp_path / "root"
    # A copy of the notebook's folder: JupyterLab may write checkpoints or save outputs.
    shutil.copytree(notebook.parent, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    art = artifacts_dir()
    stem = notebook.stem
    (art / f"{stem}_failure.png").unlink(missing_ok=True)  # stale from an earlier run
    timings: dict = {}
    t0 = time.monotonic()

    def mark(name: str) -> None:
        timings[name] = round(time.monotonic() - t0, 1)

    with LabServer(root, art / "jupyterlab.log") as server:
        mark("server_up")
        with chromium_page() as page:
            try:
                opened = open_notebook(page, server, notebook.name)
                mark("kernel_idle")
                timings["dialogs_dismissed"] = opened["dialogs"]
                run_all_cells(page)
                state = wait_all_executed(page, timeout=RUN_TIMEOUT_S)
                mark("run_all_done")
                assert state["kernelName"], state

                slider = int_slider(page, "t")
                slider.first.wait_for(state="visible", timeout=30_000)
                assert slider.count() == 1, f"expected one IntSlider 't', found {slider.count()}"
                slider = slider.first
                cell = owning_cell(slider)
                cell.scroll_into_view_if_needed()
                before = wait_images_change(page, cell, [], timeout=60)
                mark("widget_rendered")
                value_before = slider_value(slider)
                shot_before = cell.screenshot(path=str(art / f"{stem}_widget_before.png"))

                value_after = move_slider(page, slider, key="End")
                assert value_after != value_before, "slider 't' did not move"
                after = wait_images_change(page, cell, before, timeout=60)
                mark("image_changed")
                shot_after = cell.screenshot(path=str(art / f"{stem}_widget_after.png"))
                assert after != before
                assert shot_after != shot_before, "the widget output looks the same after moving t"

                if _full():
                    # Several keyboard steps back down, each redraws the image.
                    current = after
                    for key in ("Home", "PageUp", "ArrowRight"):
                        move_slider(page, slider, key=key)
                        current = wait_images_change(page, cell, current, timeout=60)
                    # The schedule dropdown also redraws the image.
                    select = dropdown_select(cell, "schedule")
                    assert select.count() == 1, "expected one Dropdown 'schedule'"
                    options = select.locator("option").all_inner_texts()
                    assert len(options) > 1, f"schedule dropdown offers {options}"
                    chosen = select.first.locator("option:checked").inner_text()
                    other = next(o for o in options if o.strip() != chosen.strip())
                    select.first.select_option(label=other)
                    wait_images_change(page, cell, current, timeout=60)
                    mark("full_checks")

                assert not any(
                    c["errors"] for c in kernel_state(page).get("cells", [])
                ), "a cell raised after the widget was moved"
                page.screenshot(path=str(art / f"{stem}_page.png"), full_page=True)
            except BaseException:
                try:
                    page.screenshot(path=str(art / f"{stem}_failure.png"), full_page=True)
                except Exception:  # pragma: no cover - browser already gone
                    pass
                raise
            finally:
                mark("total")
                (art / f"{stem}_timings.json").write_text(json.dumps(timings, indent=1))
    print(f"browser timings (s): {timings}; artifacts in {art}")


#: a typical wrong answer to notebook 01's first exercise (Eq. 1 without square roots)
WRONG_FORWARD_STEP = '''def forward_step(x_prev, t, sched, noise):
    beta = sched.betas[t]
    return (1 - beta) * x_prev + beta * noise


ex.check_forward_step(forward_step)'''


@pytest.mark.timeout(int(os.environ.get("MSKNB_BROWSER_TIMEOUT", "300")))
def test_exercise_shows_hint_then_correct_and_solution_starts_collapsed(tmp_path):
    """Issue 15: in notebook 01, the solution cells are collapsed on opening; a wrong answer in
    the exercise cell prints the hint; the solution (typed in, or its own cell) prints "correct"."""
    require_browser()
    root = tmp_path / "root"
    shutil.copytree(NOTEBOOK.parent, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    art = artifacts_dir()
    with LabServer(root, art / "jupyterlab_exercises.log") as server, chromium_page() as page:
        try:
            open_notebook(page, server, NOTEBOOK.name)
            cells = notebook_cells(page)
            solutions = [c for c in cells if "solution" in c["tags"]]
            assert solutions and all(c["inputHidden"] for c in solutions), "solutions must open collapsed"
            assert cell_at(page, solutions[0]["index"]).locator(".jp-InputPlaceholder").count() == 1
            exercise = next(c for c in cells if "exercise" in c["tags"] and "check_forward_step" in c["source"])
            assert not exercise["inputHidden"]
            solution = cells[exercise["index"] + 1]
            assert "solution" in solution["tags"]
            run_cell(page, next(c["index"] for c in cells if c["id"] == "ex-import"))

            run_cell(page, exercise["index"], WRONG_FORWARD_STEP)
            text = wait_output_text(page, exercise["index"], "Hint:")
            assert "missing square roots" in text and "correct!" not in text
            cell_at(page, exercise["index"]).screenshot(path=str(art / "exercise_wrong.png"))

            run_cell(page, exercise["index"], solution["source"])
            wait_output_text(page, exercise["index"], "forward_step: correct!")
            run_cell(page, solution["index"])
            wait_output_text(page, solution["index"], "forward_step: correct!")
            assert notebook_cells(page)[solution["index"]]["inputHidden"], "running it must not expand it"
            cell_at(page, solution["index"]).screenshot(path=str(art / "exercise_solution.png"))
            assert not any(c["errors"] for c in kernel_state(page).get("cells", []))
        except BaseException:
            page.screenshot(path=str(art / "exercise_failure.png"), full_page=True)
            raise
