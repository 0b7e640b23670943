"""Notebook 7 (its notebook page, not JupyterLab): a fit submitted with %bumps_remote shows
its live panel under the cell, and the "Bumps fits" sidebar, opened from View › Left
Sidebar, lists it, both while it runs and when it has finished; the finish toast opens
the side panel on it."""

from __future__ import annotations

from playwright.sync_api import expect

from ...support.browser import our_errors, screenshot, write_notebook
from ...support.live_fit import PROBLEM, fit_cell, run_and_watch, wait_for_kernel


def test_live_panel_and_sidebar_in_notebook7(notebook7, frontends, page):
    write_notebook(frontends.home / "nb7.ipynb", [PROBLEM, fit_cell("peak in notebook 7")])
    page.goto(frontends.lab_url("notebooks/nb7.ipynb"))

    page.get_by_role("menuitem", name="View", exact=True).click()
    # a submenu, which this Lumino names a list item
    page.get_by_role("listitem").filter(has_text="Left Sidebar").click()
    page.get_by_role("menuitem", name="Show Bumps fits", exact=True).click()
    sidebar = page.get_by_role("region", name="Bumps fits")
    expect(sidebar.get_by_role("status").first).to_have_text("connected")
    wait_for_kernel(frontends, "nb7.ipynb")

    run_and_watch(page, sidebar, "peak in notebook 7")
    screenshot(page, "notebook7.png")

    # the finish toast's Show opens the closed side panel on the job (the shell's own
    # activateById, which differs from JupyterLab's)
    page.get_by_role("button", name="Collapse left side panel").click()
    expect(sidebar).to_be_hidden()
    page.get_by_role("button", name="Show", exact=True).click()
    expect(sidebar.get_by_role("region", name="Job peak in notebook 7")).to_be_visible()
    assert not our_errors(page), our_errors(page)
