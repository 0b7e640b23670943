"""One fit seen from a front end (JupyterLab, Notebook 7), as a user sees it: the live panel
under the cell that submitted it, and its row in the "Bumps fits" sidebar, both while it
runs and when it has finished (with the sidebar's notification)."""

from __future__ import annotations

import re

import requests

from .browser import our_errors, run_all_cells
from .waiting import wait_until

# A peak on noisy data with a model slow enough (1 ms a call) that a short DE fit runs for
# seconds: long enough to see it running in both places, short enough to keep the suite lean.
PROBLEM = """\
%load_ext jupyter_bumps_remote
import time
import numpy as np
from bumps.names import Curve, FitProblem

def peak(x, height, center, width):
    time.sleep(0.001)
    return height * np.exp(-0.5 * ((x - center) / width) ** 2)

x = np.linspace(-5, 5, 60)
y = peak(x, 1.0, 0.4, 1.3) + np.random.default_rng(7).normal(0, 0.05, x.size)
model = Curve(peak, x, y, np.full_like(x, 0.05), height=0.5, center=0.0, width=1.0)
model.height.range(0, 3)
model.center.range(-3, 3)
model.width.range(0.1, 5)
problem = FitProblem(model)"""


def fit_cell(name: str) -> str:
    return f'fit = %bumps_remote problem --fitter de --steps 200 --name "{name}"'


# the live panel, running: progress, χ², time left and the convergence plot
PANEL_RUNNING = """() => {
  const plot = document.querySelector('.jp-OutputArea svg[aria-label="convergence"] polyline');
  const text = document.querySelector('.jp-OutputArea .widget-vbox')?.textContent || '';
  return !!plot && /step \\d+ \\/ \\d+/.test(text) && /χ² = /.test(text)
    && /remaining/.test(text);
}"""
# the sidebar's row, running: its progress bar between 0 and 1
ROW_RUNNING = """(name) => {
  const bar = document.querySelector(`li[aria-label="${name}"] progress`);
  return !!bar && bar.value > 0 && bar.value < 1;
}"""


def wait_for_kernel(server, notebook: str, timeout: float = 90) -> None:
    """Until the server has a session for `notebook` whose kernel is idle: the front end has
    started it, so Run All Cells runs in it (no kernel dialog, no second kernel)."""

    def idle():
        sessions = requests.get(server.url + "api/sessions", headers=server.headers, timeout=10)
        return any(
            s["path"].endswith(notebook) and s["kernel"]["execution_state"] == "idle"
            for s in sessions.json()
        )

    wait_until(idle, timeout, f"an idle kernel for {notebook}")


def run_and_watch(page, sidebar, name: str) -> None:
    """Run the notebook's cells; check the fit `name` shows running then succeeded, in the
    live panel and in the sidebar, and that neither logged an error."""
    from playwright.sync_api import expect

    run_all_cells(page)
    output = page.locator(".jp-OutputArea-output").filter(has_text=name)
    traceback = page.locator(".jp-OutputArea-output").filter(has_text="Traceback (most recent")
    expect(output.or_(traceback).first).to_be_visible()
    if traceback.count():  # a cell failed: say so now, with what it printed
        raise AssertionError(f"a cell failed:\n{traceback.first.inner_text()[-3000:]}")
    row = sidebar.get_by_role("listitem", name=name, exact=True)
    expect(output).to_contain_text("running")
    page.wait_for_function(PANEL_RUNNING)
    expect(output.get_by_role("button", name="Cancel")).to_be_enabled()
    expect(row).to_be_visible()
    page.wait_for_function(ROW_RUNNING, arg=name)

    expect(output).to_contain_text("succeeded", timeout=120_000)
    table = output.locator("table")
    expect(table).to_contain_text("±")
    for parameter in ("height", "center", "width"):
        expect(table.get_by_role("row", name=re.compile(rf"^{parameter} "))).to_be_visible()
    expect(row).to_contain_text("succeeded")
    expect(row.get_by_role("progressbar")).to_have_js_property("value", 1)
    expect(page.get_by_text(f'Fit "{name}" succeeded')).to_be_visible()  # the sidebar's toast
    assert not our_errors(page), our_errors(page)
