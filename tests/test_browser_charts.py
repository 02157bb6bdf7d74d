"""Every Vega-Lite chart a student sees is readable: a plot area of at least 120 x 120 px, at least one mark
drawn, and never wider than the column it sits in.

One server, one browser. Each page (and each section of the Detection page) is opened, its main action (a
"▶" button) is pressed with the page's defaults (training pages get their smallest run through a lesson
link), then every tab is opened in turn and its charts are measured through Vega's own view (the `View`
object behind each `.vega-embed`, reached through React's fiber of that element), not a screenshot.
"""
from __future__ import annotations

import pytest

from tests.helpers import IDLE_SELECTOR, act_and_wait_for_rerun, assert_no_exception, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

MIN_PLOT_PX = 120

# URL path of a page (with a lesson link for its smallest run where the main action trains).
PAGES = [
    "",
    "From_ANNs_to_CNNs",
    "Architecture",
    "Basic_Layers",
    "Layer_Visualization",
    "Weight_Initialization?init_epochs=1&init_per_class=50",
    "Regularization?reg_epochs=5&reg_per_class=20",
    "Optimizers?cnn_epochs=1",
    "Train?tr_epochs=1",
    "Hyperparameter_Tuning",
    "Detection?det_section=Three+heads",
    "Detection?det_section=Scenes",
    "Detection?det_section=Sliding+vs+FCN",
    "Detection?det_section=Scores+to+boxes",
    "Detection?det_section=Faces+%28MTCNN%29",
    "Segmentation?seg_epochs=1",
    "Gallery",
]


# For each visible `.vega-embed`: its Vega View (found on the hooks of the React components above it), the
# smallest plot-area width / height among its views (the width/height signals of a single or layered view,
# `child_*` of a facet, `concat_N_*` of a concatenation), how many data-mark items its scenegraph holds,
# and its drawn width against the width of the column (or block) that holds it.
MEASURE_CHARTS = r"""() => {
  function viewOf(el) {
    const key = Object.keys(el).find(k => k.startsWith('__reactFiber'));
    for (let f = key && el[key], up = 0; f && up < 40; f = f.return, up++) {
      for (let s = f.memoizedState, i = 0; s && i < 80; s = s.next, i++) {
        for (const c of [s.memoizedState, s.memoizedState && s.memoizedState.current]) {
          if (c && typeof c === 'object' && typeof c.scenegraph === 'function') return c;
        }
      }
    }
    return null;
  }
  function countMarks(item) {  // data marks only: not axes, legends, titles or the background
    let n = 0;
    const skip = /^(axis|legend|title|frame|background)/;
    for (const mark of (item.items || [])) {
      if (mark.marktype === 'group') {
        if (!skip.test(mark.role || '')) for (const g of mark.items || []) n += countMarks(g);
      } else if (!skip.test(mark.role || '')) {
        n += (mark.items || []).filter(d => !d.datum || !d.datum.__nodata).length;
      }
    }
    return n;
  }
  const out = [];
  for (const el of document.querySelectorAll('.vega-embed')) {
    if (!el.offsetParent) continue;  // in a tab that is not open
    const view = viewOf(el);
    const drawn = el.querySelector('svg.marks, canvas.marks, svg, canvas');
    const box = (drawn || el).getBoundingClientRect();
    const holder = el.closest('[data-testid="stColumn"]') || el.closest('[data-testid="stVerticalBlock"]');
    const rec = {title: '', drawnWidth: Math.round(box.width), drawnHeight: Math.round(box.height),
                 columnWidth: holder ? Math.round(holder.getBoundingClientRect().width) : null,
                 found: !!view, plotWidth: null, plotHeight: null, marks: null};
    if (view) {
      const signals = view.getState({signals: () => true, data: () => false, recurse: true}).signals || {};
      // a facet's cells are child_*, a concatenation's views concat_N_*; only a single view uses width/height
      const numeric = Object.entries(signals).filter(([, v]) => typeof v === 'number');
      const pick = (dim) => {
        for (const re of [new RegExp(`(^|_)child_${dim}$`), new RegExp(`^concat_\\d+_${dim}$`),
                          new RegExp(`^${dim}$`)]) {
          const found = numeric.filter(([n]) => re.test(n)).map(([, v]) => v);
          if (found.length) return found;
        }
        return [];
      };
      const widths = pick('width'), heights = pick('height');
      rec.plotWidth = widths.length ? Math.round(Math.min(...widths)) : null;
      rec.plotHeight = heights.length ? Math.round(Math.min(...heights)) : null;
      rec.marks = countMarks(view.scenegraph().root);
      const title = el.querySelector('g.role-title text');  // the SVG renderer's title group
      rec.title = title ? title.textContent : '(untitled)';
    }
    out.push(rec);
  }
  return out;
}"""


def problems_of(charts: list[dict], where: str) -> list[str]:
    """What is wrong with each measured chart, as readable lines."""
    found = []
    for c in charts:
        name = f"{where}: chart {c['title']!r}"
        if not c["found"]:
            found.append(f"{name}: no Vega view behind the element")
            continue
        if c["plotWidth"] is None or c["plotHeight"] is None:
            found.append(f"{name}: no width/height signal ({c})")
        elif c["plotWidth"] < MIN_PLOT_PX or c["plotHeight"] < MIN_PLOT_PX:
            found.append(f"{name}: plot area {c['plotWidth']} x {c['plotHeight']} px (< {MIN_PLOT_PX} px)")
        if not c["marks"]:
            found.append(f"{name}: draws no mark")
        if c["columnWidth"] is not None and c["drawnWidth"] > c["columnWidth"] + 2:
            found.append(f"{name}: {c['drawnWidth']} px wide in a {c['columnWidth']} px column")
    return found


def wait_until_settled(page, timeout_ms: int = 300_000) -> None:
    """Idle, with no Stop button left (a live run reruns the page until it ends)."""
    page.wait_for_function(
        """(sel) => document.querySelector(sel) !== null &&
             ![...document.querySelectorAll('button')].some(b => b.offsetParent && /Stop/.test(b.innerText))""",
        arg=IDLE_SELECTOR, timeout=timeout_ms, polling=500)
    page.wait_for_timeout(1500)  # let the charts lay out


def wait_for_charts_to_settle(page, timeout_ms: int = 300_000) -> None:
    """Idle, and the number of charts unchanged for 3 s (a live run draws its result charts at the end)."""
    waited, last = 0, -1
    while waited < timeout_ms:
        wait_until_settled(page)
        count = page.locator(".vega-embed").count()
        if count == last:
            return
        last = count
        page.wait_for_timeout(3000)
        waited += 3000


def press_main_action(page) -> bool:
    """Click the visible "▶" primary button (the page's main action), if there is one; wait for its run."""
    buttons = page.locator('button[data-testid="stBaseButton-primary"]:visible', has_text="▶")
    if buttons.count() == 0 or not buttons.first.is_enabled():
        return False
    act_and_wait_for_rerun(page, buttons.first.click, timeout_ms=300_000)
    wait_for_charts_to_settle(page)
    return True


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p or "Home")
def test_every_chart_has_a_readable_plot_area(browser, streamlit_server, path):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        page.goto(f"{streamlit_server}/{path}")
        wait_for_app_idle(page, 180_000)
        wait_until_settled(page)
        problems: list[str] = []
        tab_lists = page.locator('[role="tablist"]:visible')
        tabs = tab_lists.first.locator('[role="tab"]')
        n_tabs = tabs.count() if tab_lists.count() else 0  # the page's first row of tabs (nested ones stay open)
        for i in range(max(n_tabs, 1)):
            where = path or "Home"
            if n_tabs:
                tab = tabs.nth(i)
                where += f" / tab {tab.inner_text().strip()!r}"
                tab.click()
                page.wait_for_timeout(800)
            press_main_action(page)
            assert_no_exception(page, where)
            page.wait_for_timeout(500)
            charts = page.evaluate(MEASURE_CHARTS)
            print(f"{where}: {len(charts)} charts measured")
            problems += problems_of(charts, where)
        assert not problems, "\n".join(problems)
    finally:
        context.close()
