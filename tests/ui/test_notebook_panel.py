"""The live panel (JobPanel) in a notebook, in real JupyterLab and Chromium: a DREAM fit's
progress, χ² and convergence plot while it runs, then its parameter table and bumps' plots.
The screenshots it takes illustrate docs/user-guide.md (see `tests/support/browser.screenshot`)."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from ..support.browser import run_all_cells, screenshot, write_notebook
from ..support.live_fit import PROBLEM  # a peak whose slow model keeps a fit running

DREAM = 'mcmc = %bumps_remote problem --fitter dream --steps 300 --burn 100 --name "peak (dream)"'
RUNNING = """() => {
  const bar = [...document.querySelectorAll('.jp-OutputArea .widget-progress progress, '
    + '.jp-OutputArea .widget-progress .progress-bar')][0];
  const plot = document.querySelector('.jp-OutputArea svg[aria-label="convergence"] polyline');
  const text = document.querySelector('.jp-OutputArea .widget-vbox')?.textContent || '';
  return !!plot && /step \\d+ \\/ \\d+/.test(text) && /χ² = /.test(text)
    && /remaining/.test(text);
}"""


def test_live_panel_shows_progress_then_the_result(lab, page):
    write_notebook(lab.home / "panel.ipynb", [PROBLEM, DREAM])

    page.set_viewport_size({"width": 1000, "height": 2400})  # the finished panel fits
    # a workspace of its own: the default one, restored by the other tests, keeps their layout
    page.goto(lab.lab_url("lab/workspaces/panel/tree/panel.ipynb"))
    expect(page.get_by_role("button", name="Python 3 (ipykernel) | Idle")).to_be_visible()
    run_all_cells(page)

    output = page.locator(".jp-OutputArea-output").filter(has_text="peak (dream)")
    expect(output).to_contain_text("running")
    page.wait_for_function(RUNNING)  # progress, χ², time left and the convergence plot
    expect(output.get_by_role("button", name="Cancel")).to_be_enabled()
    output.scroll_into_view_if_needed()
    screenshot(output, "panel-running.png")

    expect(output).to_contain_text("succeeded", timeout=90_000)
    table = output.locator("table")
    expect(table).to_contain_text("±")
    for name in ("height", "center", "width"):
        expect(table.get_by_role("row", name=re.compile(rf"^{name} "))).to_be_visible()
    expect(output.get_by_role("img")).to_have_count(3 + 1)  # fit, distributions, correlations
    expect(output.get_by_role("button", name="Cancel")).to_be_hidden()  # an ended job has none
    # the panel down to its first figure (bumps' plot of the fit), the toasts left out
    fit_plot = output.locator("img").first.bounding_box()
    top = output.bounding_box()
    clip = {
        "x": top["x"],
        "y": top["y"],
        "width": 620,
        "height": fit_plot["y"] + fit_plot["height"] - top["y"],
    }
    screenshot(page, "panel-done.png", clip=clip)
    for session in requests.get(lab.url + "api/sessions", headers=lab.headers, timeout=10).json():
        if session["path"].endswith("panel.ipynb"):  # its kernel is not needed any more
            requests.delete(
                lab.url + f"api/sessions/{session['id']}", headers=lab.headers, timeout=30
            )
