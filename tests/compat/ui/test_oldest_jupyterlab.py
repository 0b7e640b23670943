"""The oldest JupyterLab the package claims (package.json, e.g. 4.1): a fit submitted with
%bumps_remote shows its live panel under the cell, and the "Bumps fits" sidebar lists it,
both while it runs and when it has finished. tests/ui covers the newest JupyterLab in
depth."""

from __future__ import annotations

from playwright.sync_api import expect

from ...support.browser import open_sidebar, screenshot, write_notebook
from ...support.live_fit import PROBLEM, fit_cell, run_and_watch, wait_for_kernel


def test_live_panel_and_sidebar_in_the_oldest_jupyterlab(oldest_jupyterlab, frontends, page):
    write_notebook(frontends.home / "lab.ipynb", [PROBLEM, fit_cell("peak in jupyterlab")])
    page.goto(frontends.lab_url("lab/tree/lab.ipynb"))
    sidebar = open_sidebar(page)
    expect(sidebar.get_by_role("status").first).to_have_text("connected")
    wait_for_kernel(frontends, "lab.ipynb")

    run_and_watch(page, sidebar, "peak in jupyterlab")
    screenshot(page, "jupyterlab-oldest.png")
