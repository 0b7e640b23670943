"""A fit's output in real JupyterLab and Chromium (#15 point 4): what the model printed, on
stdout and on stderr, under the live panel's "Output", collapsed until clicked, and in the
sidebar's detail view of its job; stderr marked apart in both."""

from __future__ import annotations

import requests
from playwright.sync_api import expect

from ..support.browser import open_sidebar, our_errors, run_all_cells, screenshot, write_notebook
from ..support.live_fit import wait_for_kernel

# A model that prints on the worker, the first time it runs (tests/support/talking_models.py;
# the kernel has the repository on its path, as the server it runs under has). lm: a fit of a
# fraction of a second, the output is the point.
CELLS = [
    """\
%load_ext jupyter_bumps_remote
from tests.support.talking_models import talking_problem
problem = talking_problem("speak")""",
    "talking = %bumps_remote problem --fitter lm --name talking",
]
# what `speak` prints: Python's print, a C-level write(1, ...), non-ASCII; one line on stderr
STDOUT = ["python line 1", "C-level line", "python line 2", "café ☃"]
STDERR = "to stderr"
TRANSPARENT = "rgba(0, 0, 0, 0)"


def test_what_a_fit_prints_is_in_the_live_panel_and_the_detail_view(lab, page):
    write_notebook(lab.home / "talking.ipynb", CELLS)
    # a workspace of its own: the default one, restored by the other tests, keeps their layout
    page.goto(lab.lab_url("lab/workspaces/talking/tree/talking.ipynb"))
    wait_for_kernel(lab, "talking.ipynb")
    run_all_cells(page)

    # the live panel: one line saying how much there is, the text hidden until clicked
    panel = page.locator(".jp-OutputArea-output").filter(has_text="talking")
    expect(panel).to_contain_text("succeeded", timeout=60_000)
    header = panel.locator(".jupyter-widget-Collapse-header")
    expect(header).to_have_text("Output (5 lines)")
    printed = panel.locator(".jupyter-widget-Collapse-contents pre")
    expect(printed).to_be_hidden()
    panel.scroll_into_view_if_needed()
    screenshot(panel, "output-panel-collapsed.png")
    header.click()
    expect(printed).to_be_visible()
    for line in STDOUT:
        expect(printed).to_contain_text(line)
    # stderr alone in its own colour (the two streams' order between them is not kept:
    # they come through two pipes)
    stderr = printed.locator("span")
    expect(stderr).to_have_text(STDERR)
    expect(stderr).not_to_have_css("color", printed.evaluate("e => getComputedStyle(e).color"))
    screenshot(panel, "output-panel-open.png")
    header.click()
    expect(printed).to_be_hidden()  # and it closes again

    # the sidebar's detail view of the job: the same text, stderr marked
    sidebar = open_sidebar(page)
    row = sidebar.get_by_role("listitem", name="talking", exact=True)
    row.get_by_role("button", name="talking").click()
    detail = sidebar.get_by_role("region", name="Job talking")
    output = detail.get_by_role("region", name="Output")
    text = output.locator("pre")
    for line in STDOUT:
        expect(text).to_contain_text(line)
    expect(output.locator('[data-stream="stderr"]')).to_have_text(STDERR + "\n")
    expect(output.locator('[data-stream="stderr"]')).not_to_have_css(
        "background-color", TRANSPARENT
    )
    expect(output.locator('[data-stream="stdout"]').first).to_have_css(
        "background-color", TRANSPARENT
    )
    output.scroll_into_view_if_needed()
    screenshot(sidebar, "output-detail.png")
    assert not our_errors(page), our_errors(page)

    for session in requests.get(lab.url + "api/sessions", headers=lab.headers, timeout=10).json():
        if session["path"].endswith("talking.ipynb"):  # its kernel is not needed any more
            requests.delete(
                lab.url + f"api/sessions/{session['id']}", headers=lab.headers, timeout=30
            )
