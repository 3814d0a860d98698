"""The report fits a 1400 px wide window: opened in headless Chromium (Playwright, as in
tests/test_browser.py), the page has no horizontal scroll, no element reaches past the right
edge, every table cell holds at most 300 characters, and at least six figures render. A
full-page screenshot goes to ``$MSKNB_BROWSER_ARTIFACTS`` or ``outputs/browser/``. Skips when
playwright/Chromium are missing, unless CI is set (then it fails)."""
from __future__ import annotations

import pytest

from browser_helpers import artifacts_dir, chromium_page, require_browser
from report_fixture import write_run

from msknb.evaluation.report import write_report
from msknb.evaluation.report.markup import MAX_CELL

pytestmark = pytest.mark.browser

WINDOW_PX = 1400

_MEASURE_JS = """
() => {
  const root = document.documentElement;
  const edge = root.clientWidth + 0.5;
  const past = Array.from(document.querySelectorAll('body *'))
      .filter(e => e.getBoundingClientRect().right > edge)
      .map(e => e.tagName + ': ' + (e.textContent || '').slice(0, 80));
  const cells = Array.from(document.querySelectorAll('td, th')).map(c => c.textContent.length);
  const images = Array.from(document.querySelectorAll('figure img'));
  return {scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, past: past.slice(0, 5),
          longestCell: Math.max(0, ...cells), figures: images.length,
          drawn: images.filter(i => i.complete && i.naturalWidth > 0).length};
}
"""


@pytest.mark.timeout(300)
def test_report_fits_a_1400_px_window(tmp_path):
    require_browser()
    out, ref = write_run(tmp_path)
    page_path = write_report(out, ref)
    with chromium_page(width=WINDOW_PX, height=1000) as page:
        page.goto(page_path.resolve().as_uri())
        page.wait_for_load_state("load")
        m = page.evaluate(_MEASURE_JS)
        page.screenshot(path=str(artifacts_dir() / "report_1400px.png"), full_page=True)
    assert m["clientWidth"] == WINDOW_PX
    assert m["scrollWidth"] <= m["clientWidth"], m
    assert not m["past"], m["past"]
    assert m["longestCell"] <= MAX_CELL
    assert m["figures"] >= 6 and m["drawn"] == m["figures"]
